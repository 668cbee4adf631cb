//! A pool of worker processes with Python's `multiprocessing.Pool` semantics.
//!
//! A [`Pool`] owns its worker processes (the program's own binary, started again). They
//! live as long as the pool and pull tasks from its task board — the job-queue pattern: one
//! round trip submits many tasks, and a worker that finishes early takes more. Items are
//! grouped in chunks, one task per chunk.
//!
//! ```
//! use strato::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn power(base: u64, exponent: u32) -> u64 {
//!     base.pow(exponent)
//! }
//!
//! let pool = Pool::new(2).unwrap();
//! assert_eq!(pool.map(square, 1..=4).unwrap(), vec![1, 4, 9, 16]);
//! assert_eq!(pool.apply(square, 9).unwrap(), 81);
//! assert_eq!(pool.starmap(power, [(2, 10), (3, 2)]).unwrap(), vec![1024, 9]);
//! let firsts: Vec<u64> = pool.imap(square, 1.., 2).unwrap().take(3).map(Result::unwrap).collect();
//! assert_eq!(firsts, vec![1, 4, 9]);
//! let pending = pool.map_async(square, 0..100).unwrap();
//! assert_eq!(pending.get().unwrap()[99], 9801);
//! pool.close();
//! pool.join().unwrap();
//! ```
//!
//! ## Differences from Python's `multiprocessing.Pool`
//!
//! | Python | strato | why |
//! |---|---|---|
//! | any picklable callable | a `fn` item or a closure without captures; data travels as the argument | the function travels as a reference into the identical binary |
//! | arguments and results are pickled | they are `Serialize + DeserializeOwned` | |
//! | `apply(func, args, kwds)` | `apply(f, arg)`: one argument (a tuple for several) | |
//! | `starmap` of any arity | functions of 1 to 4 arguments ([`StarFn`]) | |
//! | `chunksize=` on `map`, `map_async`, `starmap`, `starmap_async` | Python's default chunksize; another through [`Pool::chunksize`]`(n).map(..)` | Rust has no optional arguments |
//! | `imap` reads its whole input at once (a feeder thread) | `imap`, `imap_unordered` are lazy: at most 2 × processes chunks in flight | endless inputs work |
//! | `callback=`, `error_callback=` arguments | [`AsyncResult::callback`], [`AsyncResult::error_callback`] after the call; both run in the driver, on the pool's result thread | |
//! | `get(timeout)`, `wait(timeout)` | `get()`/`get_timeout(t)`, `wait()`/`wait_timeout(t)` | one naming scheme for blocking calls |
//! | `successful()` raises when not ready | returns `None` | |
//! | exceptions | `Result<_, PoolError>`; a panic's message in [`PoolError::Task`] | |
//! | `initializer`, `initargs` | [`PoolBuilder::initializer`] (a `fn()`), run in each worker before its first task of the pool, not at process start; no `initargs` (open named objects inside it) | |
//! | `maxtasksperchild` | absent | |
//! | a worker killed mid-task hangs `map` | the task runs again (twice), then fails with `WorkerLost` | tasks are at-least-once |
//! | `join` waits for the workers to exit | `join` waits for every submitted task and callback, then stops the workers | |
//! | `with Pool() as p:` terminates on exit | dropping a `Pool` terminates it | |
//! | `imap` after `join` still yields its results | an `imap` still running when the pool is joined or terminated yields that error and ends | its input is read lazily |

mod builder;
mod chunked;
mod handler;
mod imap;
mod result;
mod shared;
mod task;

use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};

pub use builder::PoolBuilder;
pub use chunked::Chunked;
pub use imap::{Imap, ImapUnordered};
pub use result::{AsyncResult, PoolError};
pub use task::StarFn;

use self::result::{AllItems, OneItem};
pub(crate) use self::shared::Shared;
use self::shared::{default_chunksize, groups, lock, State};
use self::task::{assert_zero_sized, run_chunk, run_star_chunk};
use crate::executor::{Executor, ExecutorError, TaskError};

/// Python's `multiprocessing.Pool`: worker processes of this program that run functions
/// on many items. See the [module docs](self) for the differences from Python.
///
/// Dropping a pool [terminates](Pool::terminate) it; [`close`](Pool::close) then
/// [`join`](Pool::join) to let submitted work finish first.
///
/// ```
/// fn shout(word: String) -> String {
///     word.to_uppercase()
/// }
///
/// let pool = strato::Pool::new(2).unwrap();
/// let words = ["a", "b"].map(String::from);
/// assert_eq!(pool.map(shout, words).unwrap(), ["A", "B"]);
/// ```
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool of `processes` worker processes.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// assert_eq!(pool.processes(), 2);
    /// ```
    pub fn new(processes: usize) -> Result<Pool, ExecutorError> {
        PoolBuilder::default().processes(processes).build()
    }

    /// Settings for a new pool (processes, initializer).
    ///
    /// ```
    /// let pool = strato::Pool::builder().processes(1).build().unwrap();
    /// assert_eq!(pool.processes(), 1);
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// How many worker processes the pool runs.
    ///
    /// ```
    /// assert_eq!(strato::Pool::new(3).unwrap().processes(), 3);
    /// ```
    pub fn processes(&self) -> usize {
        self.shared.processes
    }

    /// The process ids of its workers alive now (none once joined or terminated).
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// assert_eq!(pool.worker_pids().len(), 2);
    /// pool.terminate();
    /// assert!(pool.worker_pids().is_empty());
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.shared.executor)
            .as_ref()
            .map_or_else(Vec::new, Executor::worker_pids)
    }

    /// Runs `f(arg)` on a worker and waits for the result.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// assert_eq!(pool.apply(|(a, b): (u32, u32)| a * b, (6, 7)).unwrap(), 42);
    /// ```
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> Result<R, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Runs `f(arg)` on a worker; the result arrives in the returned [`AsyncResult`], which
    /// can also take a [`callback`](AsyncResult::callback) and an
    /// [`error_callback`](AsyncResult::error_callback).
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.apply_async(|x: i32| -x, 5).unwrap();
    /// assert_eq!(result.get(), Ok(-5));
    /// ```
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let _ = f;
        const { assert_zero_sized::<F>() };
        let mut chunks = self
            .shared
            .submit(run_chunk::<F, A, R>, vec![vec![arg]], true)?;
        let chunk = chunks
            .pop()
            .ok_or_else(|| PoolError::Task(TaskError::Executor("no task was submitted".into())))?;
        Ok(self.shared.async_result(Box::new(OneItem { chunk })))
    }

    /// Runs `f` on every item and waits; the results in input order, or the first error.
    /// Items go in chunks of Python's default size (about four per process); see
    /// [`chunksize`](Pool::chunksize) for another.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let lengths = pool.map(|s: String| s.len(), ["a", "bb", "ccc"].map(String::from));
    /// assert_eq!(lengths.unwrap(), vec![1, 2, 3]);
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)?.get()
    }

    /// [`map`](Pool::map) without waiting: the results arrive in an [`AsyncResult`].
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let result = pool.map_async(|x: u8| x as u32 * 100, 0..3).unwrap();
    /// assert_eq!(result.get(), Ok(vec![0, 100, 200]));
    /// ```
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_sized(f, items.into_iter().collect(), None)
    }

    /// Runs `f` on the fields of every tuple (Python's `f(*args)`) and waits; the results in
    /// input order.
    ///
    /// ```
    /// fn add(a: i64, b: i64) -> i64 {
    ///     a + b
    /// }
    ///
    /// let pool = strato::Pool::new(2).unwrap();
    /// assert_eq!(pool.starmap(add, [(1, 2), (3, 4)]).unwrap(), vec![3, 7]);
    /// ```
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, Output = R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.starmap_async(f, items)?.get()
    }

    /// [`starmap`](Pool::starmap) without waiting.
    ///
    /// ```
    /// fn repeat(text: String, times: usize) -> String {
    ///     text.repeat(times)
    /// }
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.starmap_async(repeat, [("ab".to_string(), 2)]).unwrap();
    /// assert_eq!(result.get(), Ok(vec!["abab".to_string()]));
    /// ```
    pub fn starmap_async<F, Args, R, I>(
        &self,
        f: F,
        items: I,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: StarFn<Args, Output = R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.starmap_async_sized(f, items.into_iter().collect(), None)
    }

    /// Runs `f` on the items lazily, `chunksize` items per task, yielding results in input
    /// order as they are consumed; see [`Imap`].
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let mut results = pool.imap(|x: u32| x + 1, 0.., 1).unwrap();
    /// assert_eq!(results.next(), Some(Ok(1)));
    /// assert_eq!(results.next(), Some(Ok(2)));
    /// ```
    pub fn imap<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<Imap<I::IntoIter, R>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        const { assert_zero_sized::<F>() };
        self.shared.executor(true)?;
        let submit = Shared::submit_map::<F, A, R>;
        Imap::start(self.shared.clone(), submit, items.into_iter(), chunksize)
    }

    /// As [`imap`](Pool::imap), yielding results in the order their chunks finish; see
    /// [`ImapUnordered`].
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let total: u32 = pool.imap_unordered(|x: u32| x * 3, 1..=4, 2).unwrap().map(Result::unwrap).sum();
    /// assert_eq!(total, 30);
    /// ```
    pub fn imap_unordered<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<ImapUnordered<I::IntoIter, R>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let _ = f;
        const { assert_zero_sized::<F>() };
        self.shared.executor(true)?;
        let submit = Shared::submit_map::<F, A, R>;
        ImapUnordered::start(self.shared.clone(), submit, items.into_iter(), chunksize)
    }

    /// The `map`-like calls with `chunksize` items per task instead of Python's default.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let squares = pool.chunksize(100).map(|x: u64| x * x, 0..1000).unwrap();
    /// assert_eq!(squares[999], 998_001);
    /// ```
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize: chunksize.max(1),
        }
    }

    /// Takes no more work: later calls fail with [`PoolError::Closed`]. Submitted work goes
    /// on; [`join`](Pool::join) waits for it.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// pool.close();
    /// assert!(pool.apply(|x: u8| x, 1).is_err());
    /// ```
    pub fn close(&self) {
        let mut state = lock(&self.shared.state);
        if *state == State::Running {
            *state = State::Closed;
        }
    }

    /// Stops the workers now: running tasks are killed, and results not yet in fail with
    /// [`PoolError::Terminated`] (their error callbacks run).
    ///
    /// ```
    /// fn slow(ms: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let pending = pool.apply_async(slow, 60_000).unwrap();
    /// pool.terminate();
    /// assert_eq!(pending.get(), Err(strato::pool::PoolError::Terminated));
    /// ```
    pub fn terminate(&self) {
        self.shared.shut_down(true);
    }

    /// After [`close`](Pool::close) (or [`terminate`](Pool::terminate)): waits for every
    /// submitted task and its callbacks, then stops the workers. Fails with
    /// [`PoolError::StillRunning`] on a pool still open, as Python does.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let pending = pool.map_async(|x: u32| x * 2, 0..10).unwrap();
    /// assert_eq!(pool.join(), Err(strato::pool::PoolError::StillRunning));
    /// pool.close();
    /// pool.join().unwrap();
    /// assert!(pending.ready());
    /// assert!(pool.worker_pids().is_empty());
    /// ```
    pub fn join(&self) -> Result<(), PoolError> {
        if *lock(&self.shared.state) == State::Running {
            return Err(PoolError::StillRunning);
        }
        self.shared.wait_submitted();
        self.shared.handler.wait_idle();
        self.shared.shut_down(false);
        Ok(())
    }

    fn map_async_sized<F, A, R>(
        &self,
        f: F,
        items: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let _ = f;
        const { assert_zero_sized::<F>() };
        let size = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let chunks = self
            .shared
            .submit(run_chunk::<F, A, R>, groups(items, size), true)?;
        Ok(self.shared.async_result(Box::new(AllItems { chunks })))
    }

    fn starmap_async_sized<F, Args, R>(
        &self,
        f: F,
        items: Vec<Args>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: StarFn<Args, Output = R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let _ = f;
        const { assert_zero_sized::<F>() };
        let size = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes()));
        let task = run_star_chunk::<F, Args, R>;
        let chunks = self.shared.submit(task, groups(items, size), true)?;
        Ok(self.shared.async_result(Box::new(AllItems { chunks })))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shut_down(true);
    }
}
