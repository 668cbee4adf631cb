//! [`Executor`]: Python tasks on worker processes started through the compute seam.

use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato::executor::{ResponseFuture, ReturnWhen};
use strato_proto::{Blob, Wait};

use crate::{interruptible, wait_in_slices, StratoError};

/// The task every Python task is: a worker process runs `strato._worker.run(payload)`
/// (cloudpickled function and arguments in, pickled outcome out).
fn run_python(payload: Blob) -> Blob {
    let ran = Python::attach(|py| -> PyResult<Vec<u8>> {
        let worker = py.import("strato._worker")?;
        let output = worker.call_method1("run", (PyBytes::new(py, &payload),))?;
        output.extract::<Vec<u8>>()
    });
    match ran {
        Ok(output) => Blob::from(output),
        Err(e) => panic!("strato._worker.run failed: {e}"),
    }
}

/// Fixes this process's identity, which a board's workers must share with its driver: the
/// native module's file (`path`), where task references are measured, and the Python
/// version, under which the pickles were made.
fn identify(path: &std::path::Path, version: &str) -> bool {
    strato_worker::func::identify_by_file(&format!("python{version}:"), path)
}

/// Becomes a worker (never returns): what `python -m strato._worker` calls, in a process
/// the executor started. `path` and `version` as for [`become_driver`].
#[pyfunction]
pub(crate) fn worker_main(py: Python<'_>, path: std::path::PathBuf, version: &str) {
    identify(&path, version);
    py.detach(|| {
        strato_worker::worker::enter_if_worker(|client| {
            strato::set_client(client);
        })
    });
}

/// Sets up this process as a Python driver: its identity is the native module's file
/// (`path`) and the Python version, and its local workers are `python -m strato._worker`.
#[pyfunction]
pub(crate) fn become_driver(
    path: std::path::PathBuf,
    python: std::ffi::OsString,
    version: &str,
) -> bool {
    let identified = identify(&path, version);
    let args = vec!["-m".into(), "strato._worker".into()];
    strato_worker::compute::set_worker_command(python, args);
    identified
}

/// This process's identity as a board sees it (`python3.11:<build id of _native>`): what a
/// worker host's Python must say too (`strato worker --python` checks it).
#[pyfunction]
pub(crate) fn identity(py: Python<'_>) -> PyResult<String> {
    let path: std::path::PathBuf = py
        .import("strato._native")?
        .getattr("__file__")?
        .extract()?;
    let version = py.version_info();
    let prefix = format!("python{}.{}:", version.major, version.minor);
    strato_worker::func::file_identity(&prefix, &path)
        .ok_or_else(|| StratoError::new_err(format!("cannot read {}", path.display())))
}

/// Makes the workers that worker hosts start for this driver (`STRATO_COMPUTE=hosts`) the
/// host's Python running `strato._worker` in a directory holding `files` (the main script:
/// name and bytes), with `env` set.
#[pyfunction]
pub(crate) fn set_host_program(files: Vec<(String, Vec<u8>)>, env: Vec<(String, String)>) {
    // The identity `become_driver` fixed (the same file and version `identity` reads),
    // without reading the module file again for every pool.
    let program = strato_worker::hosts::PythonProgram {
        identity: strato_worker::func::binary_id().to_string(),
        files,
        env,
    };
    strato_worker::compute::set_host_program(program);
}

/// In a worker started by a local driver: exit as soon as that driver ends, even before the
/// worker loop starts (`strato._worker` calls it before it loads the driver's main script).
#[pyfunction]
pub(crate) fn watch_driver() {
    strato_worker::worker::watch_driver();
}

/// In a worker: exit once the running task's result is sent, for a fresh process to take
/// this one's place (`Pool(maxtasksperchild=N)`).
#[pyfunction]
pub(crate) fn retire_after_task() {
    strato_worker::worker::retire_after_this_task();
}

/// An executor of Python tasks on worker processes.
#[pyclass(module = "strato._native", frozen)]
pub struct Executor(strato::executor::Executor);

/// One task's result to come.
#[pyclass(module = "strato._native", frozen)]
pub struct Future(ResponseFuture<Blob>);

#[pymethods]
impl Executor {
    /// Starts `workers` worker processes (the default: one per core).
    #[new]
    #[pyo3(signature = (workers=None))]
    fn new(py: Python<'_>, workers: Option<usize>) -> PyResult<Executor> {
        let mut builder = strato::executor::Executor::builder();
        if let Some(workers) = workers {
            builder = builder.workers(workers);
        }
        // Starting waits until the workers joined (up to a minute when hosts are busy): Ctrl-C
        // interrupts the wait (the executor, if it comes after all, is dropped and its
        // workers stopped).
        interruptible(py, "strato-executor-start", move || builder.build())?
            .map(Executor)
            .map_err(|e| StratoError::new_err(e.to_string()))
    }

    /// Runs one payload as one task, run again up to `retries` times if its worker dies
    /// (the executor's default if None).
    #[pyo3(signature = (payload, retries=None))]
    fn submit(&self, py: Python<'_>, payload: Vec<u8>, retries: Option<u32>) -> PyResult<Future> {
        let mut options = strato::executor::TaskOptions::default();
        if let Some(retries) = retries {
            options = options.max_retries(retries);
        }
        let payload = Blob::from(payload);
        py.detach(|| self.0.call_async_with(run_python, payload, options))
            .map(Future)
            .map_err(task_error)
    }

    /// Runs each payload as one task.
    fn map(&self, py: Python<'_>, payloads: Vec<Vec<u8>>) -> PyResult<Vec<Future>> {
        let items: Vec<Blob> = payloads.into_iter().map(Blob::from).collect();
        let futures = py
            .detach(|| self.0.map(run_python, items))
            .map_err(task_error)?;
        Ok(futures.into_iter().map(Future).collect())
    }

    /// Waits until `when` holds for `futures`: `"any"` is done, `"all"` are done, or
    /// `"always"` (at once); at most `timeout` seconds. Which are done, in order.
    #[pyo3(signature = (futures, when="all", timeout=None))]
    fn wait(
        &self,
        py: Python<'_>,
        futures: Vec<PyRef<'_, Future>>,
        when: &str,
        timeout: Option<f64>,
    ) -> PyResult<Vec<bool>> {
        let when = match when {
            "any" => ReturnWhen::AnyCompleted,
            "all" => ReturnWhen::AllCompleted,
            "always" => ReturnWhen::Always,
            other => {
                return Err(PyValueError::new_err(format!(
                    "wait until \"any\", \"all\" or \"always\", not {other:?}"
                )))
            }
        };
        let futures: Vec<ResponseFuture<Blob>> = futures.iter().map(|f| f.0.clone()).collect();
        let done = || futures.iter().map(ResponseFuture::done).collect::<Vec<_>>();
        let satisfied = |flags: &[bool]| match when {
            ReturnWhen::AnyCompleted => flags.is_empty() || flags.iter().any(|d| *d),
            ReturnWhen::AllCompleted => flags.iter().all(|d| *d),
            ReturnWhen::Always => true,
        };
        let waited = wait_in_slices(py, true, timeout.map(|t| t.max(0.0)), |wait| {
            let slice = match wait {
                Wait::Micros(us) => Duration::from_micros(us),
                _ => Duration::ZERO,
            };
            py.detach(|| self.0.wait(&futures, when, Some(slice)));
            let flags = done();
            Ok(satisfied(&flags).then_some(flags))
        })?;
        Ok(waited.unwrap_or_else(done))
    }

    /// Draws what the futures' tasks did (a timeline and a histogram of tasks at once, as
    /// PNG and SVG) into `dir`; the files' paths.
    fn plot(
        &self,
        py: Python<'_>,
        futures: Vec<PyRef<'_, Future>>,
        dir: std::path::PathBuf,
    ) -> PyResult<Vec<std::path::PathBuf>> {
        let futures: Vec<ResponseFuture<Blob>> = futures.iter().map(|f| f.0.clone()).collect();
        py.detach(|| self.0.plot(&futures, &dir))
            .map_err(|e| StratoError::new_err(e.to_string()))
    }

    /// How many worker processes it has.
    fn worker_count(&self) -> usize {
        self.0.worker_count()
    }

    /// Their process ids.
    fn worker_pids(&self) -> Vec<u32> {
        self.0.worker_pids()
    }
}

create_exception!(
    _native,
    TaskFailed,
    PyException,
    "A task ended without a result (its worker died, it timed out, or its data could not be read)."
);

fn task_error(e: strato::executor::TaskError) -> PyErr {
    TaskFailed::new_err(e.to_string())
}

#[pymethods]
impl Future {
    /// Whether the task finished.
    fn done(&self) -> bool {
        self.0.done()
    }

    /// What the task wrote to standard output and standard error, once it finished on a
    /// worker: `(stdout, stderr)`, or None.
    fn logs(&self) -> Option<(String, String)> {
        self.0.logs().map(|logs| (logs.stdout, logs.stderr))
    }

    /// The task's pickled outcome, waiting at most `timeout` seconds (None if it is not
    /// done by then); Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout=None))]
    fn result(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyBytes>>> {
        let timeout = timeout.map(|t| t.max(0.0));
        let outcome = wait_in_slices(py, true, timeout, |wait| {
            let slice = match wait {
                Wait::Micros(us) => Duration::from_micros(us),
                _ => Duration::ZERO,
            };
            Ok(py.detach(|| self.0.result_timeout(slice)))
        })?;
        match outcome {
            Some(outcome) => {
                let bytes = outcome.map_err(task_error)?;
                Ok(Some(PyBytes::new(py, &bytes).unbind()))
            }
            None => Ok(None),
        }
    }
}
