//! Run ordinary Rust functions on many processes: a Lithops-style executor.
//!
//! An [`Executor`] submits tasks to a task board on the state server; warm worker processes
//! of the **same binary** take them, run them, and push each result back, which the server
//! forwards to the driver (no polling anywhere). With no configuration, the first executor
//! starts an embedded state server and one worker process per core, and stops them all when
//! it is dropped.
//!
//! ```
//! use strato::executor::{Executor, ReturnWhen};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn sum(values: Vec<u64>) -> u64 {
//!     values.iter().sum()
//! }
//!
//! let executor = Executor::new().unwrap();
//! let futures = executor.map(square, 1..=10).unwrap();
//! assert_eq!(executor.get_result(&futures).unwrap()[2], 9);
//!
//! let total = executor.map_reduce(square, 1..=10, sum).unwrap();
//! assert_eq!(total.result(), Ok(385));
//!
//! let (done, not_done) = executor.wait(&futures, ReturnWhen::AllCompleted, None);
//! assert_eq!((done.len(), not_done.len()), (10, 0));
//! ```
//!
//! Functions are plain `fn` items or closures that capture nothing: what crosses to the
//! worker is a reference to the function in the identical binary, plus the serialized
//! argument. Workers check at start that they run the driver's executable and refuse
//! otherwise. Tasks are at-least-once: a task whose worker dies runs again (up to
//! `max_retries`), so side effects should be idempotent.
//!
//! A program's workers are the program itself started again: on Linux they never reach
//! `main` (a constructor takes over first); on other systems call [`crate::init`] at the top
//! of `main`.

mod builder;
mod core;
mod future;
pub(crate) mod hook;
mod job;
mod plot;

pub(crate) use strato_worker::{func, wire};
use strato_worker::{worker, Compute};

use std::io::IsTerminal;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Serialize};

pub use builder::{ExecutorBuilder, ExecutorError};
pub use func::binary_id;
pub(crate) use future::{JobOf, Progress, Slot};
pub use future::{ResponseFuture, TaskError, TaskLogs, TaskStats, TaskStatus};
pub use strato_config::ComputeKind;
pub use strato_plot::PlotError;

use self::core::{Chunk, Core, Place, Submit};
use strato_jobs::JobKind;

pub(crate) use hook::enter_if_worker;

/// When [`Executor::wait`] returns, as Lithops' `ALWAYS`, `ANY_COMPLETED`, `ALL_COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// At once, with whatever is done.
    Always,
    /// As soon as one future is done.
    AnyCompleted,
    /// When every future is done.
    AllCompleted,
}

/// Settings of one `map` or `call_async`.
///
/// ```
/// use std::time::Duration;
/// use strato::executor::TaskOptions;
/// let options = TaskOptions::default().chunksize(100).timeout(Duration::from_secs(5));
/// assert_eq!(options.chunksize, 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOptions {
    /// Items per task: each task runs the function on this many items in a row.
    pub chunksize: usize,
    /// How long one task may run; its worker is restarted past it. `None`: the executor's.
    pub timeout: Option<Duration>,
    /// Runs after a worker death before giving up. `None`: the executor's.
    pub max_retries: Option<u32>,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            chunksize: 1,
            timeout: None,
            max_retries: None,
        }
    }
}

impl TaskOptions {
    /// Sets the items per task (at least 1).
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = chunksize.max(1);
        self
    }

    /// Sets the timeout of each task.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retries after worker deaths.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }
}

/// Runs functions as tasks on worker processes. Cheap to clone; the workers stop when the
/// last clone is dropped.
///
/// ```
/// fn shout(word: String) -> String {
///     word.to_uppercase()
/// }
///
/// let executor = strato::executor::Executor::new().unwrap();
/// let future = executor.call_async(shout, "hi".to_string()).unwrap();
/// assert_eq!(future.result().unwrap(), "HI");
/// ```
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<Core>,
    defaults: Submit,
    driving: Option<builder::Driving>,
    growing: std::sync::Mutex<()>,
    ready_timeout: Duration,
    owns_board: bool,
    collector: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("board", &self.board())
            .field("workers", &self.worker_count())
            .finish()
    }
}

impl Executor {
    /// An executor with the default settings: the default state server, one local worker
    /// process per core. Inside a task, an executor that shares its worker's board.
    pub fn new() -> Result<Executor, ExecutorError> {
        ExecutorBuilder::default().build()
    }

    /// Settings for a new executor.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// The name of its task board on the state server.
    pub fn board(&self) -> &str {
        self.inner.core.board.name()
    }

    /// How many local worker processes it runs (0 inside a task).
    pub fn worker_count(&self) -> usize {
        self.workers().map_or(0, |w| w.slots())
    }

    /// Where its workers run (`None` inside a task, where it starts none).
    pub fn compute_kind(&self) -> Option<ComputeKind> {
        let name = self.workers()?.kind();
        ComputeKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn workers(&self) -> Option<&dyn Compute> {
        self.inner.driving.as_ref().map(|d| &*d.workers)
    }

    /// Fails if its compute backend could not start workers (a host refused, say).
    /// What the compute backend suggests when workers are late.
    pub(crate) fn not_ready_hint(&self) -> String {
        self.workers()
            .map_or_else(|| "see their stderr".into(), |w| w.not_ready_hint())
    }

    fn check_workers(&self) -> Result<(), ExecutorError> {
        match self.workers() {
            Some(workers) => Ok(workers.check()?),
            None => Ok(()),
        }
    }

    /// What wakes whoever waits for any of its tasks.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.inner.core.progress.clone()
    }

    /// The process ids of its local workers alive now.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers().map_or_else(Vec::new, |w| w.pids())
    }

    /// Makes sure at least `count` local worker processes exist, starting more if needed
    /// (and waiting until they joined); returns how many it started. Tasks that block on
    /// each other (threads meeting at a barrier, say) each need a worker of their own. An
    /// executor inside a task starts none.
    ///
    /// ```
    /// let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// assert_eq!(executor.ensure_workers(2).unwrap(), 1);
    /// assert_eq!(executor.worker_count(), 2);
    /// ```
    pub fn ensure_workers(&self, count: usize) -> Result<usize, ExecutorError> {
        let Some(workers) = self.workers() else {
            return Ok(0);
        };
        let _growing = self.inner.growing.lock().unwrap_or_else(|e| e.into_inner());
        let before = workers.slots();
        if count <= before {
            return Ok(0);
        }
        let core = &self.inner.core;
        let latch = format!("{}.{before}", worker::ready_latch(core.board.name()));
        let ready = crate::sync::CountDownLatch::open(
            &core.client,
            latch.as_str(),
            (count - before) as u64,
        )?;
        let added = workers.grow_to(count, &latch)?;
        let joined = ready.try_wait_for(self.inner.ready_timeout)?;
        self.check_workers()?;
        if !joined {
            return Err(ExecutorError::WorkersNotReady {
                joined: count - ready.count() as usize,
                wanted: count,
                waited: self.inner.ready_timeout,
                hint: self.not_ready_hint(),
            });
        }
        Ok(added)
    }

    /// Runs `f(arg)` as one task.
    pub fn call_async<F, A, R>(&self, f: F, arg: A) -> Result<ResponseFuture<R>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.call_async_with(f, arg, TaskOptions::default())
    }

    /// [`Executor::call_async`] with options.
    pub fn call_async_with<F, A, R>(
        &self,
        f: F,
        arg: A,
        options: TaskOptions,
    ) -> Result<ResponseFuture<R>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let (_, mut futures) =
            self.submit_job(JobKind::Call, f, std::iter::once(arg), options, 0)?;
        Ok(futures.remove(0))
    }

    /// Runs `f` on every item, one task per item; futures in input order.
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<ResponseFuture<R>>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, items, TaskOptions::default())
    }

    /// [`Executor::map`] with options (`chunksize`: items per task).
    pub fn map_with<F, A, R, I>(
        &self,
        f: F,
        items: I,
        options: TaskOptions,
    ) -> Result<Vec<ResponseFuture<R>>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        Ok(self.submit_job(JobKind::Map, f, items, options, 0)?.1)
    }

    /// Submits a job of one task per chunk of items, plus `later` tasks submitted later;
    /// returns the job's id and the futures.
    fn submit_job<F, A, R, I>(
        &self,
        kind: JobKind,
        f: F,
        items: I,
        options: TaskOptions,
        later: u64,
    ) -> Result<(Arc<str>, Vec<ResponseFuture<R>>), TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        hook::keep_hook();
        let items: Vec<A> = items.into_iter().collect();
        let chunksize = options.chunksize.max(1);
        // Sized once (collecting `Result`s would grow it by doubling, up to twice the room).
        let mut chunks = Vec::with_capacity(items.len().div_ceil(chunksize));
        for chunk in items.chunks(chunksize) {
            chunks.push(encode_chunk(chunk)?);
        }
        drop(items);
        let submit = self.submit_settings(&options);
        let core = &self.inner.core;
        let tasks = chunks.len() as u64 + later;
        let job = core.jobs.begin(kind, std::any::type_name::<F>(), tasks);
        let place = Place { job, first: 0 };
        let slots = core.submit(func::entry_of(f), chunks, submit, &place)?;
        let job = self.job_of(&place.job);
        let futures = slots.into_iter().map(|s| self.future(s, &job));
        Ok((place.job, futures.collect()))
    }

    /// Maps `map_fn` over the items, then runs `reduce_fn` as one more task on all the
    /// results, in input order. A failed map task fails the reduction with its error.
    pub fn map_reduce<F, A, R, G, S, I>(
        &self,
        map_fn: F,
        items: I,
        reduce_fn: G,
    ) -> Result<ResponseFuture<S>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        G: Fn(Vec<R>) -> S + Copy + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        S: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        let options = TaskOptions::default();
        let (job, maps) = self.submit_job(JobKind::MapReduce, map_fn, items, options, 1)?;
        let reduced = Arc::new(Slot::new(0));
        let reduced_job = self.job_of(&job);
        let reducer = Reducer {
            core: self.inner.core.clone(),
            submit: self.submit_settings(&TaskOptions::default()),
            entry: func::entry_of(reduce_fn),
            place: Place {
                job,
                first: maps.len() as u64,
            },
            maps: maps.into_iter().map(|f| f.slot).collect(),
            target: reduced.clone(),
        };
        std::thread::Builder::new()
            .name("strato-reduce".into())
            .spawn(move || reducer.run())
            .map_err(|e| TaskError::Executor(format!("cannot start the reducer: {e}")))?;
        Ok(self.future(reduced, &reduced_job))
    }

    /// Waits until `when` holds for `futures` or `timeout` passes; returns them split into
    /// `(done, not_done)`, each in input order.
    pub fn wait<'a, R>(
        &self,
        futures: &'a [ResponseFuture<R>],
        when: ReturnWhen,
        timeout: Option<Duration>,
    ) -> (Vec<&'a ResponseFuture<R>>, Vec<&'a ResponseFuture<R>>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let finished = |f: &&ResponseFuture<R>| f.slot.status() != TaskStatus::Pending;
        let mut done_prefix = 0;
        self.inner
            .core
            .progress
            .wait_until(deadline, || match when {
                ReturnWhen::Always => true,
                ReturnWhen::AnyCompleted => {
                    futures.is_empty() || futures.iter().any(|f| finished(&f))
                }
                ReturnWhen::AllCompleted => {
                    done_prefix += futures[done_prefix..].iter().take_while(finished).count();
                    done_prefix == futures.len()
                }
            });
        futures.iter().partition(finished)
    }

    /// Waits for every future and returns the results in input order, or the first error
    /// (in input order). Shows a progress bar when stderr is a terminal.
    pub fn get_result<R: DeserializeOwned>(
        &self,
        futures: &[ResponseFuture<R>],
    ) -> Result<Vec<R>, TaskError> {
        let job = futures.first().map_or("", |f| f.job_id());
        let _span =
            tracing::debug_span!("get_result", job = %job, futures = futures.len()).entered();
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| indicatif::ProgressBar::new(futures.len() as u64));
        let mut finished = 0;
        self.inner.core.progress.wait_until(None, || {
            finished += futures[finished..].iter().take_while(|f| f.done()).count();
            if let Some(bar) = &bar {
                bar.set_position(finished as u64);
            }
            finished == futures.len()
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        futures.iter().map(ResponseFuture::take).collect()
    }

    /// Draws what the futures' tasks did, like Lithops' `plot()`: writes `timeline.png` and
    /// `timeline.svg` (one row per task: when it was submitted, when it ran and on which
    /// worker) and `histogram.png` and `histogram.svg` (how many tasks ran at once) into
    /// `dir`, created if absent; returns their paths. Tasks still running are left out.
    ///
    /// ```
    /// fn square(x: u64) -> u64 { x * x }
    ///
    /// let executor = strato::executor::Executor::new().unwrap();
    /// let futures = executor.map(square, 0..20).unwrap();
    /// executor.get_result(&futures).unwrap();
    /// let dir = std::env::temp_dir().join(format!("strato-plot-{}", std::process::id()));
    /// let files = executor.plot(&futures, &dir).unwrap();
    /// assert!(files.iter().all(|f| f.exists()));
    /// # std::fs::remove_dir_all(dir).unwrap();
    /// ```
    pub fn plot<R>(
        &self,
        futures: &[ResponseFuture<R>],
        dir: impl AsRef<std::path::Path>,
    ) -> Result<Vec<std::path::PathBuf>, PlotError> {
        let spans = plot::spans(futures);
        strato_plot::write_all(&spans, dir.as_ref(), &plot::title(futures))
    }

    /// What the futures' tasks wrote to standard output and standard error: one entry per
    /// task that finished on a worker, in input order (the logs of a whole job when given all
    /// its futures).
    ///
    /// ```
    /// fn shout(word: String) {
    ///     println!("{}", word.to_uppercase());
    /// }
    ///
    /// let executor = strato::executor::Executor::new().unwrap();
    /// let futures = executor.map(shout, ["a".to_string(), "b".to_string()]).unwrap();
    /// executor.get_result(&futures).unwrap();
    /// let printed: Vec<String> = executor.logs(&futures).into_iter().map(|l| l.stdout).collect();
    /// assert_eq!(printed, ["A\n", "B\n"]);
    /// ```
    pub fn logs<R>(&self, futures: &[ResponseFuture<R>]) -> Vec<TaskLogs> {
        plot::logs(futures)
    }

    fn submit_settings(&self, options: &TaskOptions) -> Submit {
        let defaults = self.inner.defaults;
        Submit {
            timeout_ms: options
                .timeout
                .map(|t| t.as_millis() as u64)
                .or(defaults.timeout_ms),
            max_retries: options.max_retries.unwrap_or(defaults.max_retries),
        }
    }

    /// What the futures of job `id` share.
    fn job_of(&self, id: &Arc<str>) -> Arc<JobOf> {
        Arc::new(JobOf {
            id: id.clone(),
            progress: self.inner.core.progress.clone(),
        })
    }

    fn future<R>(&self, slot: Arc<Slot>, job: &Arc<JobOf>) -> ResponseFuture<R> {
        ResponseFuture {
            slot,
            job: job.clone(),
            _result: PhantomData,
        }
    }
}

fn encode_chunk<A: Serialize>(items: &[A]) -> Result<Chunk, TaskError> {
    let bytes = postcard::to_stdvec(items)
        .map_err(|e| TaskError::Data(format!("cannot encode a task's argument: {e}")))?;
    Ok(Chunk::new(bytes, items.len()))
}

/// Waits for the map tasks of a `map_reduce`, then runs the reduction as a task.
/// It holds the executor's core, not the executor: the last `Executor` the user drops stops
/// the workers at once, even while a reducer thread is still winding down.
struct Reducer {
    core: Arc<Core>,
    submit: Submit,
    entry: func::Entry,
    place: Place,
    maps: Vec<Arc<Slot>>,
    target: Arc<Slot>,
}

impl Reducer {
    fn run(self) {
        let core = self.core.clone();
        let progress = core.progress.clone();
        progress.wait_until(None, || {
            self.maps.iter().all(|s| s.status() != TaskStatus::Pending)
        });
        match self.reduce() {
            Ok(slot) => {
                progress.wait_until(None, || slot.status() != TaskStatus::Pending);
                let outcome = slot.outcome().unwrap_or_else(|| Err(unfinished()));
                self.target.fill_from(&slot, outcome);
            }
            Err(error) => {
                core.note_unsubmitted(&self.place, &error);
                self.target.fill(Err(error), None);
            }
        }
        progress.bump();
    }

    /// Submits the reduction: its argument is the `Vec<R>` of the map results, assembled
    /// from their encodings (a postcard sequence is its length, then its items).
    fn reduce(&self) -> Result<Arc<Slot>, TaskError> {
        let mut input = postcard::to_stdvec(&1usize).map_err(|e| TaskError::Data(e.to_string()))?;
        input.extend(
            postcard::to_stdvec(&self.maps.len()).map_err(|e| TaskError::Data(e.to_string()))?,
        );
        for slot in &self.maps {
            input.extend(slot.outcome().unwrap_or_else(|| Err(unfinished()))?);
        }
        let chunk = Chunk::new(input, 1);
        let mut slots = self
            .core
            .submit(self.entry, vec![chunk], self.submit, &self.place)?;
        Ok(slots.remove(0))
    }
}

fn unfinished() -> TaskError {
    TaskError::Executor("a task has not finished".into())
}

impl Drop for Inner {
    fn drop(&mut self) {
        let core = &self.core;
        // Workers that exit from here on are not restarted; the event stays alive (and set)
        // until they are gone, for any worker still starting.
        if let Some(driving) = &self.driving {
            driving.workers.begin_stop();
        }
        let shutdown = match self.owns_board {
            true => {
                crate::sync::Event::open(&core.client, worker::shutdown_event(core.board.name()))
                    .ok()
            }
            false => None,
        };
        if let Some(event) = &shutdown {
            event.set();
        }
        if let Some(driving) = &self.driving {
            driving.workers.stop(Duration::from_secs(5));
        }
        drop(shutdown);
        let _ = core.replies.delete();
        if let Some(collector) = self.collector.take() {
            let _ = collector.join();
        }
        core.fail_all(TaskError::Executor("the executor was shut down".into()));
        core.jobs.close();
        if self.owns_board {
            let _ = core.board.delete();
        }
    }
}
