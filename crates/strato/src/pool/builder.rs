//! [`PoolBuilder`]: a pool's settings (processes, initializer).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::handler::Handler;
use super::shared::{Shared, State};
use super::task::init_entry;
use super::Pool;
use crate::executor::func::{Entry, FnRef};
use crate::executor::{Executor, ExecutorError};

/// Settings of a new [`Pool`].
///
/// ```
/// fn setup() {
///     // open connections, fill caches, ... once per worker process
/// }
///
/// let pool = strato::Pool::builder().processes(2).initializer(setup).build().unwrap();
/// assert_eq!(pool.processes(), 2);
/// ```
#[derive(Debug, Default)]
#[must_use = "a PoolBuilder does nothing until `build` is called"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Entry>,
}

impl PoolBuilder {
    /// Worker processes to start (default: the available cores).
    ///
    /// ```
    /// let pool = strato::Pool::builder().processes(1).build().unwrap();
    /// assert_eq!(pool.processes(), 1);
    /// ```
    pub fn processes(mut self, processes: usize) -> Self {
        self.processes = Some(processes.max(1));
        self
    }

    /// A function each worker process runs once, before its first task of this pool (a `fn`
    /// item or a closure without captures). A panicking initializer fails the task that
    /// triggered it, and runs again before the next one.
    ///
    /// ```
    /// fn hello() {
    ///     eprintln!("worker {} ready", std::process::id());
    /// }
    ///
    /// let pool = strato::Pool::builder().processes(1).initializer(hello).build().unwrap();
    /// assert_eq!(pool.apply(|x: u8| x, 1).unwrap(), 1);
    /// ```
    pub fn initializer<I>(mut self, initializer: I) -> Self
    where
        I: Fn() + Copy + 'static,
    {
        self.initializer = Some(init_entry(initializer));
        self
    }

    /// Starts the workers.
    ///
    /// ```
    /// let pool = strato::Pool::builder().build().unwrap();
    /// assert!(pool.processes() >= 1);
    /// ```
    pub fn build(self) -> Result<Pool, ExecutorError> {
        let processes = self.processes.unwrap_or_else(default_processes);
        let executor = Executor::builder()
            .workers(processes)
            .own_workers()
            .build()?;
        let progress = executor.progress();
        let handler = Handler::start(progress.clone())?;
        let shared = Shared {
            id: pool_id(executor.board()),
            init: self.initializer.map(FnRef::of),
            processes,
            executor: Mutex::new(Some(executor)),
            state: Mutex::new(State::Running),
            terminated: Arc::new(AtomicBool::new(false)),
            progress,
            submitted: Mutex::new(Vec::new()),
            handler,
        };
        Ok(Pool {
            shared: Arc::new(shared),
        })
    }
}

fn default_processes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn pool_id(board: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    board.hash(&mut hasher);
    hasher.finish()
}
