//! The result handler: one thread per pool that runs callbacks in the driver when the
//! results (or errors) they wait for arrive, as Python's pool result-handler thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{JoinHandle, ThreadId};

use crate::executor::Progress;

/// Something waiting for results: whether they are all in, and what to do then.
pub(crate) trait Job: Send + Sync {
    /// Whether the outcome is known.
    fn ready(&self) -> bool;
    /// Runs the callbacks (on the handler thread).
    fn deliver(&self);
}

#[derive(Default)]
struct State {
    jobs: Vec<Arc<dyn Job>>,
    running: usize,
    stopped: bool,
}

/// The result handler of one pool.
pub(crate) struct Handler {
    progress: Arc<Progress>,
    state: Mutex<State>,
    idle: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: OnceLock<ThreadId>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handler {
    /// Starts the handler thread; `progress` is bumped whenever a result arrives.
    pub fn start(progress: Arc<Progress>) -> std::io::Result<Arc<Handler>> {
        let handler = Arc::new(Handler {
            progress,
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            thread: Mutex::new(None),
            thread_id: OnceLock::new(),
        });
        let runner = handler.clone();
        let thread = std::thread::Builder::new()
            .name("strato-pool-results".into())
            .spawn(move || runner.run())?;
        let _ = handler.thread_id.set(thread.thread().id());
        *lock(&handler.thread) = Some(thread);
        Ok(handler)
    }

    /// Hands `job` to the thread; `false` if the handler has stopped (the caller delivers).
    pub fn register(&self, job: Arc<dyn Job>) -> bool {
        let mut state = lock(&self.state);
        if state.stopped {
            return false;
        }
        state.jobs.push(job);
        drop(state);
        self.progress.bump();
        true
    }

    /// Waits until every registered job was delivered (at once on the handler thread).
    pub fn wait_idle(&self) {
        if self.on_handler_thread() {
            return;
        }
        let mut state = lock(&self.state);
        while !state.jobs.is_empty() || state.running > 0 {
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Lets the thread deliver what is left and end; waits for it (unless called on it).
    pub fn stop(&self) {
        lock(&self.state).stopped = true;
        self.progress.bump();
        if self.on_handler_thread() {
            return;
        }
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }

    fn on_handler_thread(&self) -> bool {
        self.thread_id.get() == Some(&std::thread::current().id())
    }

    fn run(&self) {
        while let Some(jobs) = self.next_ready() {
            for job in &jobs {
                if catch_unwind(AssertUnwindSafe(|| job.deliver())).is_err() {
                    tracing::error!("a pool callback panicked");
                }
            }
            let mut state = lock(&self.state);
            state.running -= jobs.len();
            drop(state);
            self.idle.notify_all();
        }
    }

    /// Waits for jobs whose outcome is known; `None` once stopped with nothing left.
    fn next_ready(&self) -> Option<Vec<Arc<dyn Job>>> {
        let mut taken = None;
        self.progress.wait_until(None, || {
            let mut state = lock(&self.state);
            let (ready, waiting) = std::mem::take(&mut state.jobs)
                .into_iter()
                .partition::<Vec<_>, _>(|job| job.ready());
            state.jobs = waiting;
            if !ready.is_empty() {
                state.running += ready.len();
                taken = Some(ready);
                return true;
            }
            state.stopped && state.jobs.is_empty()
        });
        taken
    }
}
