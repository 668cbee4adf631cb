//! The threads that run a Python thread's long waits (a barrier's, in one piece) while it
//! waits for them in slices, checking for Ctrl-C: one per Python thread, kept from wait to
//! wait. Starting a thread for every wait cost about 40 µs, most of a barrier crossing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use pyo3::PyResult;

use crate::StratoError;

type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs jobs one after another, and whether it is running one.
struct Helper {
    jobs: mpsc::Sender<Job>,
    busy: Arc<AtomicBool>,
}

thread_local! {
    /// This thread's helper, once it needed one.
    static HELPER: RefCell<Option<Helper>> = const { RefCell::new(None) };
}

impl Helper {
    fn start(name: &str) -> PyResult<Helper> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || queue.into_iter().for_each(|job| job()))
            .map_err(|e| StratoError::new_err(format!("cannot start a thread: {e}")))?;
        Ok(Helper {
            jobs,
            busy: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// Runs `work` on this thread's helper, starting one when there is none, or when the one
/// there is still busy with a wait that Ctrl-C made its caller leave (that helper ends once
/// its work does); `work`'s outcome comes through the receiver. The helper counts as idle
/// again before the outcome is sent, so a caller that received it finds the helper free.
pub(crate) fn run<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<mpsc::Receiver<T>> {
    HELPER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let helper = match slot.take() {
            Some(idle) if !idle.busy.load(Ordering::Acquire) => slot.insert(idle),
            _ => slot.insert(Helper::start(name)?),
        };
        helper.busy.store(true, Ordering::Release);
        let busy = helper.busy.clone();
        let (outcome, received) = mpsc::channel();
        let job: Job = Box::new(move || {
            let value = work();
            busy.store(false, Ordering::Release);
            let _ = outcome.send(value);
        });
        helper
            .jobs
            .send(job)
            .map_err(|_| StratoError::new_err("a helper thread ended"))?;
        Ok(received)
    })
}
