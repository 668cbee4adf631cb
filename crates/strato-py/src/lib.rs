//! `strato._native`: the engine's objects and executors for the Python package
//! (`python/strato`).
//!
//! One class, [`Object`], is a named object on the state (the embedded server of the first
//! process, `STRATO_STATE`, or Redis), opened by this process; its methods are the
//! protocol's operations, one round trip each. The pure-Python modules
//! (`strato.multiprocessing`) give them the standard library's shapes.
//!
//! [`Executor`] runs Python tasks on worker processes that the engine's local compute starts
//! as `python -m strato._worker`: the task is the Rust function `run_python` of this
//! library, whose reference resolves in every process that loaded the same library file
//! (its identity is the board's binary, see [`become_driver`]), and which hands the pickled
//! payload to `strato._worker.run`.
//!
//! Every call that can block releases the GIL. A call that waits without a limit waits in
//! slices of [`SLICE`] and checks for signals between them, so Ctrl-C interrupts a blocked
//! `get` or `acquire` within a fraction of a second; barrier waits, where a timeout would
//! break the barrier, wait in one piece.

use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato::executor::ResponseFuture;
use strato::{Client, ObjectName};
use strato_proto::{Answer, Blob, ByteBuf, Call, FetchOp, Init, Op, Role, Scalar, Wait};

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
    strato::client().map_err(|e| StratoError::new_err(e.to_string()))
}

fn engine_error(e: strato::Error) -> PyErr {
    StratoError::new_err(e.to_string())
}

/// What an object is made as when it does not exist yet.
fn init(kind: &str, arg: Option<i64>, value: Option<&[u8]>) -> PyResult<Init> {
    let n = |default: i64| u64::try_from(arg.unwrap_or(default)).unwrap_or(0);
    Ok(match kind {
        "queue" => Init::Queue {
            bound: arg.filter(|b| *b > 0).map(|b| b as u64),
        },
        "lock" => Init::Semaphore {
            permits: 1,
            bound: Some(1),
        },
        "semaphore" => Init::Semaphore {
            permits: n(1),
            bound: None,
        },
        "bounded_semaphore" => Init::Semaphore {
            permits: n(1),
            bound: Some(n(1)),
        },
        "rlock" => Init::ReentrantLock(Blob::from(Vec::new())),
        "event" => Init::Event,
        "barrier" => Init::Barrier(n(1)),
        "int" => Init::Atomic(Scalar::I64(arg.unwrap_or(0))),
        "float" => Init::Atomic(Scalar::F64(0.0)),
        "value" => Init::Value(Blob::from(value.unwrap_or_default().to_vec())),
        "list" => Init::List,
        "map" => Init::Map,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown object kind {other:?}"
            )))
        }
    })
}

/// A named object on the state, with a reference held by this process.
///
/// ```python
/// from strato import _native
/// q = _native.Object.open("queue", None, 0, None)
/// q.put(b"hi", True, None)
/// assert q.get(True, None) == b"hi"
/// ```
#[pyclass(module = "strato._native", frozen)]
pub struct Object {
    client: Client,
    name: String,
}

impl Object {
    fn op(&self, py: Python<'_>, op: Op) -> PyResult<Answer> {
        let call = Call::Op {
            name: self.name.clone(),
            op,
        };
        let answer = py.detach(|| self.client.call(call)).map_err(engine_error)?;
        match answer {
            Answer::Error { kind, message } => Err(StratoError::new_err(format!(
                "{}: {kind:?}: {message}",
                self.name
            ))),
            answer => Ok(answer),
        }
    }

    /// Runs a blocking operation: at once (`block` false), within `timeout` seconds, or
    /// without limit, in slices with a signal check between them. `None` if it timed out.
    fn blocking(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
        make: impl Fn(Wait) -> Op,
    ) -> PyResult<Option<Answer>> {
        if !block {
            return self.op(py, make(Wait::Never)).map(waited);
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
            let wait = Wait::Micros(slice.as_micros() as u64);
            if let Some(answer) = waited(self.op(py, make(wait))?) {
                return Ok(Some(answer));
            }
            if left.is_some_and(|left| left <= slice) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }
}

/// An answer, or `None` for one that says the call would have had to wait longer.
fn waited(answer: Answer) -> Option<Answer> {
    match answer {
        Answer::TimedOut | Answer::WouldBlock => None,
        answer => Some(answer),
    }
}

fn unexpected(answer: Answer) -> PyErr {
    StratoError::new_err(format!("unexpected answer from the engine: {answer:?}"))
}

fn scalar_to_py(py: Python<'_>, scalar: Scalar) -> PyResult<Py<PyAny>> {
    Ok(match scalar {
        Scalar::F64(v) => v.into_pyobject(py)?.into_any().unbind(),
        Scalar::I64(v) => v.into_pyobject(py)?.into_any().unbind(),
        other => return Err(unexpected(Answer::Scalar(other))),
    })
}

#[pymethods]
impl Object {
    /// Opens (creating if absent) the object `name` of `kind`; a fresh name if `name` is
    /// None. `arg` is the queue's bound, the permits, the parties or the initial integer;
    /// `value` the initial bytes of a value.
    #[staticmethod]
    #[pyo3(signature = (kind, name, arg=None, value=None))]
    fn open(
        py: Python<'_>,
        kind: &str,
        name: Option<String>,
        arg: Option<i64>,
        value: Option<&[u8]>,
    ) -> PyResult<Object> {
        let init = init(kind, arg, value)?;
        let client = client()?;
        let name = name.unwrap_or_else(|| format!("py-{}", ObjectName::anonymous().as_str()));
        let open = Call::Open {
            name: name.clone(),
            init,
            persistent: false,
            role: Role::Handle,
        };
        py.detach(|| client.call(open)).map_err(engine_error)?;
        Ok(Object { client, name })
    }

    /// Takes the reference another process lent (see [`Object::lend`]).
    #[staticmethod]
    fn adopt(py: Python<'_>, name: String) -> PyResult<Object> {
        let client = client()?;
        let adopt = Call::Adopt {
            name: name.clone(),
            role: Role::Handle,
        };
        py.detach(|| client.call(adopt)).map_err(engine_error)?;
        Ok(Object { client, name })
    }

    /// Counts a reference in flight (a pickled handle), so the object lives until the
    /// receiver adopts it (or the TTL collects it). Returns the name.
    fn lend(&self, py: Python<'_>) -> PyResult<String> {
        let lend = Call::Lend {
            name: self.name.clone(),
            role: Role::Handle,
        };
        py.detach(|| self.client.call(lend)).map_err(engine_error)?;
        Ok(self.name.clone())
    }

    /// The object's name on the state.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The state's address, for child processes (`STRATO_STATE`).
    #[staticmethod]
    fn state_address() -> PyResult<String> {
        client()?;
        strato::state_address().ok_or_else(|| StratoError::new_err("no state server"))
    }

    // ---- queues

    /// Puts `item`; false if the queue stayed full.
    #[pyo3(signature = (item, block=true, timeout=None))]
    fn put(
        &self,
        py: Python<'_>,
        item: &[u8],
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let item = Blob::from(item.to_vec());
        let answer = self.blocking(py, block, timeout, |wait| Op::Put(item.clone(), wait))?;
        Ok(answer.is_some())
    }

    /// Takes the oldest item; None if the queue stayed empty.
    #[pyo3(signature = (block=true, timeout=None))]
    fn get(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<Py<PyBytes>>> {
        match self.blocking(py, block, timeout, Op::Get)? {
            None => Ok(None),
            Some(Answer::Blob(item)) => Ok(Some(PyBytes::new(py, &item).unbind())),
            Some(other) => Err(unexpected(other)),
        }
    }

    /// Items waiting.
    fn qsize(&self, py: Python<'_>) -> PyResult<u64> {
        match self.op(py, Op::Len)? {
            Answer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// One item taken earlier was processed.
    fn task_done(&self, py: Python<'_>) -> PyResult<()> {
        self.op(py, Op::TaskDone).map(drop)
    }

    /// Waits until every item put was processed.
    fn join(&self, py: Python<'_>) -> PyResult<()> {
        self.blocking(py, true, None, Op::Join).map(drop)
    }

    // ---- locks and semaphores

    /// Takes a permit; false if none came.
    #[pyo3(signature = (block=true, timeout=None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .blocking(py, block, timeout, |wait| Op::Acquire(1, wait))?
            .is_some())
    }

    /// Gives a permit back (an error past a bounded semaphore's bound).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.op(py, Op::Release(1)).map(drop)
    }

    /// Permits available now.
    fn available(&self, py: Python<'_>) -> PyResult<u64> {
        match self.op(py, Op::Available)? {
            Answer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the re-entrant lock for `owner` (a thread of this process); false if it did not
    /// come.
    #[pyo3(signature = (owner, block=true, timeout=None))]
    fn rlock_acquire(
        &self,
        py: Python<'_>,
        owner: u64,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let answer = self.blocking(py, block, timeout, |wait| Op::ReentrantLock { owner, wait })?;
        Ok(answer.is_some())
    }

    /// Releases one level of the re-entrant lock held by `owner`.
    fn rlock_release(&self, py: Python<'_>, owner: u64) -> PyResult<()> {
        let op = Op::ReentrantUnlock { owner, value: None };
        self.op(py, op).map(drop)
    }

    // ---- events

    /// Sets the flag, waking every waiter.
    fn set(&self, py: Python<'_>) -> PyResult<()> {
        self.op(py, Op::EventSet).map(drop)
    }

    /// Clears the flag.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.op(py, Op::EventClear).map(drop)
    }

    /// Whether the flag is set.
    fn is_set(&self, py: Python<'_>) -> PyResult<bool> {
        match self.op(py, Op::EventIsSet)? {
            Answer::Bool(set) => Ok(set),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for the flag; whether it was set.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self.blocking(py, true, timeout, Op::EventWait)?.is_some())
    }

    // ---- barriers

    /// Waits for the other parties: `Some(leader)` once they came, `None` if the barrier
    /// is broken (a party timed out or died). It waits in one piece: a timeout breaks it.
    #[pyo3(signature = (timeout=None))]
    fn barrier_wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<bool>> {
        let wait = match timeout {
            None => Wait::Forever,
            Some(t) if t.is_nan() || t < 0.0 => {
                return Err(PyValueError::new_err("timeout must be non-negative"))
            }
            Some(t) => Wait::Micros((t * 1e6) as u64),
        };
        match self.op(py, Op::BarrierWait(wait))? {
            Answer::Passed { leader } => Ok(Some(leader)),
            Answer::Broken | Answer::TimedOut => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    // ---- numbers (int: i64, float: f64)

    /// The number.
    fn load(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.op(py, Op::Load)? {
            Answer::Scalar(s) => scalar_to_py(py, s),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the integer.
    fn store_int(&self, py: Python<'_>, value: i64) -> PyResult<()> {
        self.op(py, Op::Store(Scalar::I64(value))).map(drop)
    }

    /// Replaces the float.
    fn store_float(&self, py: Python<'_>, value: f64) -> PyResult<()> {
        self.op(py, Op::Store(Scalar::F64(value))).map(drop)
    }

    /// Adds to the integer, returning the previous value.
    fn add_int(&self, py: Python<'_>, delta: i64) -> PyResult<i64> {
        match self.op(py, Op::Fetch(FetchOp::Add, Scalar::I64(delta)))? {
            Answer::Scalar(Scalar::I64(previous)) => Ok(previous),
            other => Err(unexpected(other)),
        }
    }

    /// Adds to the float, returning the previous value.
    fn add_float(&self, py: Python<'_>, delta: f64) -> PyResult<f64> {
        match self.op(py, Op::Fetch(FetchOp::Add, Scalar::F64(delta)))? {
            Answer::Scalar(Scalar::F64(previous)) => Ok(previous),
            other => Err(unexpected(other)),
        }
    }

    // ---- values (bytes)

    /// The value's bytes.
    fn value_get(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        match self.op(py, Op::ValueGet)? {
            Answer::Versioned { value, .. } => Ok(PyBytes::new(py, &value).unbind()),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the value's bytes.
    fn value_set(&self, py: Python<'_>, value: &[u8]) -> PyResult<()> {
        self.op(py, Op::ValueSet(Blob::from(value.to_vec())))
            .map(drop)
    }
}

// ---- executors: tasks run by Python worker processes

/// The task every Python task is: a worker process runs `strato._worker.run(payload)`
/// (cloudpickled function and arguments in, pickled outcome out).
fn run_python(payload: ByteBuf) -> ByteBuf {
    let ran = Python::attach(|py| -> PyResult<Vec<u8>> {
        let worker = py.import("strato._worker")?;
        let output = worker.call_method1("run", (PyBytes::new(py, &payload),))?;
        output.extract::<Vec<u8>>()
    });
    match ran {
        Ok(output) => ByteBuf::from(output),
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
fn worker_main(py: Python<'_>, path: std::path::PathBuf, version: &str) {
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
fn become_driver(path: std::path::PathBuf, python: std::ffi::OsString, version: &str) -> bool {
    let identified = identify(&path, version);
    let args = vec!["-m".into(), "strato._worker".into()];
    strato_worker::compute::set_worker_command(python, args);
    identified
}

/// An executor of Python tasks on worker processes.
#[pyclass(module = "strato._native", frozen)]
pub struct Executor(strato::executor::Executor);

/// One task's result to come.
#[pyclass(module = "strato._native", frozen)]
pub struct Future(ResponseFuture<ByteBuf>);

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
        py.detach(|| builder.build())
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
        let payload = ByteBuf::from(payload);
        py.detach(|| self.0.call_async_with(run_python, payload, options))
            .map(Future)
            .map_err(task_error)
    }

    /// Runs each payload as one task.
    fn map(&self, py: Python<'_>, payloads: Vec<Vec<u8>>) -> PyResult<Vec<Future>> {
        let items: Vec<ByteBuf> = payloads.into_iter().map(ByteBuf::from).collect();
        let futures = py
            .detach(|| self.0.map(run_python, items))
            .map_err(task_error)?;
        Ok(futures.into_iter().map(Future).collect())
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
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let slice = left.map_or(SLICE, |left| left.min(SLICE));
            if let Some(outcome) = py.detach(|| self.0.result_timeout(slice)) {
                let bytes = outcome.map_err(task_error)?;
                return Ok(Some(PyBytes::new(py, &bytes).unbind()));
            }
            if left.is_some_and(|left| left <= slice) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        let release = Call::Release {
            name: std::mem::take(&mut self.name),
            role: Role::Handle,
        };
        let _ = self.client.call(release);
    }
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Object>()?;
    m.add_class::<Executor>()?;
    m.add_class::<Future>()?;
    m.add_function(wrap_pyfunction!(worker_main, m)?)?;
    m.add_function(wrap_pyfunction!(become_driver, m)?)?;
    m.add("StratoError", m.py().get_type::<StratoError>())?;
    m.add("TaskFailed", m.py().get_type::<TaskFailed>())?;
    Ok(())
}
