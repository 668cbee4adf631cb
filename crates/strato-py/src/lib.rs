//! `strato._native`: the engine's objects and executors for the Python package
//! (`python/strato`).
//!
//! [`Object`] is a named object on the state (the embedded server of the first
//! process, `STRATO_STATE`, or Redis), opened by this process; its methods are the
//! protocol's operations, one round trip each. The pure-Python modules
//! (`strato.multiprocessing`) give them the standard library's shapes.
//! [`Channel`] is one end of a channel in the role of sender or receiver, which
//! `multiprocessing.Pipe`'s connections are made of: a process that drops its end (or
//! dies) disconnects the other.
//!
//! [`Executor`] runs Python tasks on worker processes that the engine's local compute starts
//! as `python -m strato._worker`: the task is the Rust function `run_python` of this
//! library, whose reference resolves in every process that loaded the same library file
//! (its identity is the board's binary, see `become_driver`), and which hands the pickled
//! payload to `strato._worker.run`.
//!
//! Every call that can block releases the GIL. A call that waits without a limit waits in
//! slices of 100 ms and checks for signals between them, so Ctrl-C interrupts a blocked
//! `get` or `acquire` within a fraction of a second; barrier waits, where a timeout would
//! break the barrier, wait in one piece on a helper thread (see `helper`).

use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use strato::Client;
use strato_proto::{Answer, Wait};

mod channel;
mod executor;
mod helper;
mod object;
mod reference;
mod storage;

pub use channel::Channel;
pub use executor::{Executor, Future, TaskFailed};
pub use object::Object;
pub use storage::Partition;

create_exception!(
    _native,
    StratoError,
    PyException,
    "An error the engine reported."
);

/// How long one slice of an unlimited wait lasts before signals are checked.
const SLICE: Duration = Duration::from_millis(100);

/// The process's connection to the state (started on first use).
fn client() -> PyResult<Client> {
    strato::client().map_err(engine_error)
}

fn engine_error(e: strato::Error) -> PyErr {
    StratoError::new_err(e.to_string())
}

fn unexpected(answer: Answer) -> PyErr {
    StratoError::new_err(format!("unexpected answer from the engine: {answer:?}"))
}

/// An answer, or `None` for one that says the call would have had to wait longer.
fn waited(answer: Answer) -> Option<Answer> {
    match answer {
        Answer::TimedOut | Answer::WouldBlock => None,
        answer => Some(answer),
    }
}

/// Runs a call that may wait: at once (`block` false), within `timeout` seconds, or
/// without limit, in slices of [`SLICE`] with a signal check between them, so Ctrl-C
/// interrupts it. `attempt` makes one call waiting at most the given time and says what
/// came (`None`: nothing yet). `None` if nothing came in time.
fn wait_in_slices<T>(
    py: Python<'_>,
    block: bool,
    timeout: Option<f64>,
    mut attempt: impl FnMut(Wait) -> PyResult<Option<T>>,
) -> PyResult<Option<T>> {
    if !block {
        return attempt(Wait::Never);
    }
    let deadline = match timeout {
        Some(t) if t.is_nan() || t < 0.0 => {
            return Err(PyValueError::new_err("timeout must be non-negative"))
        }
        Some(t) => Some(Instant::now() + Duration::from_secs_f64(t)),
        None => None,
    };
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        if let Some(done) = attempt(Wait::Micros(slice.as_micros() as u64))? {
            return Ok(Some(done));
        }
        if left.is_some_and(|left| left <= slice) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}

/// Runs `work` (a call that may wait long, in one piece) on this Python thread's helper
/// thread and waits for it without the GIL in slices, checking signals between them, so
/// Ctrl-C interrupts the wait: the error is raised here while `work` goes on, unheard, until
/// it ends.
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let done = helper::run(name, work)?;
    // Held while waiting without the GIL, which needs it shareable.
    let done = std::sync::Mutex::new(done);
    let came = wait_in_slices(py, true, None, |wait| {
        let slice = match wait {
            Wait::Micros(us) => Duration::from_micros(us),
            _ => Duration::ZERO,
        };
        let received = py.detach(|| {
            let done = done.lock().unwrap_or_else(|e| e.into_inner());
            done.recv_timeout(slice)
        });
        match received {
            Ok(value) => Ok(Some(value)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(StratoError::new_err(
                format!("the thread `{name}` ended without a word"),
            )),
        }
    })?;
    Ok(came.expect("no deadline: the wait ends with a value or an error"))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    strato_proto::heap::keep_large_buffers();
    m.add_class::<Object>()?;
    m.add_class::<Channel>()?;
    m.add_class::<Partition>()?;
    m.add_class::<Executor>()?;
    m.add_class::<Future>()?;
    m.add_function(wrap_pyfunction!(executor::worker_main, m)?)?;
    m.add_function(wrap_pyfunction!(executor::become_driver, m)?)?;
    m.add_function(wrap_pyfunction!(executor::retire_after_task, m)?)?;
    m.add_function(wrap_pyfunction!(executor::identity, m)?)?;
    m.add_function(wrap_pyfunction!(executor::watch_driver, m)?)?;
    m.add_function(wrap_pyfunction!(executor::set_host_program, m)?)?;
    m.add("StratoError", m.py().get_type::<StratoError>())?;
    m.add("TaskFailed", m.py().get_type::<TaskFailed>())?;
    // Whether this is a debug build (`maturin develop` without `--release`): the
    // benchmarks say so beside figures that are then not comparable.
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    Ok(())
}
