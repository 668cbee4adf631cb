//! [`Object`]: a named object on the state, its operations as methods.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato_proto::{Answer, Blob, Call, ErrorKind, FetchOp, Init, Op, Role, Scalar, Wait};

use crate::reference::Reference;
use crate::{client, unexpected, StratoError};

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
        "array" => packed_array(arg, value)?,
        "list" => Init::List,
        "map" => Init::Map,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown object kind {other:?}"
            )))
        }
    })
}

/// An array of `packed` items of `size` bytes each (kept in the state server's
/// shared-memory arena when there is room: local processes then read and write it directly).
fn packed_array(size: Option<i64>, packed: Option<&[u8]>) -> PyResult<Init> {
    let packed = Blob::from(packed.unwrap_or_default().to_vec());
    // A negative or huge size is refused as 0 is.
    let item_bytes = u32::try_from(size.unwrap_or(0)).unwrap_or(0);
    let init = Init::PackedArray { item_bytes, packed };
    match init.check() {
        Ok(()) => Ok(init),
        Err(_) => Err(PyValueError::new_err(
            "an array is made from packed bytes and a positive item size that divides them",
        )),
    }
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
pub struct Object(Reference);

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
    /// None. `arg` is the queue's bound, the permits, the parties, the initial integer or
    /// an array's item size; `value` the initial bytes of a value or an array's packed items.
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
        Reference::open(py, name, init, Role::Handle).map(Object)
    }

    /// Takes the reference another process lent (see [`Object::lend`]).
    #[staticmethod]
    fn adopt(py: Python<'_>, name: String) -> PyResult<Object> {
        Reference::adopt(py, name, Role::Handle).map(Object)
    }

    /// Counts a reference in flight (a pickled handle), so the object lives until the
    /// receiver adopts it (or the TTL collects it). Returns the name.
    fn lend(&self, py: Python<'_>) -> PyResult<String> {
        self.0.lend(py)
    }

    /// Whether an object named `name` exists on the state.
    #[staticmethod]
    fn exists(py: Python<'_>, name: String) -> PyResult<bool> {
        let client = client()?;
        match py
            .detach(|| client.call(Call::Exists { name }))
            .map_err(crate::engine_error)?
        {
            Answer::Bool(exists) => Ok(exists),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes the object `name` whoever holds it, waking its waiters (they are told it
    /// was deleted); whether it existed.
    #[staticmethod]
    fn delete(py: Python<'_>, name: String) -> PyResult<bool> {
        let client = client()?;
        match py.detach(|| client.call(Call::Delete { name })) {
            Ok(Answer::Done) => Ok(true),
            Ok(Answer::Error {
                kind: ErrorKind::NotFound,
                ..
            })
            | Err(strato::Error::Server {
                kind: ErrorKind::NotFound,
                ..
            }) => Ok(false),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(crate::engine_error(e)),
        }
    }

    /// The object's name on the state.
    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    /// The state's address, for child processes (`STRATO_STATE`).
    #[staticmethod]
    fn state_address() -> PyResult<String> {
        client()?;
        strato::state_address().ok_or_else(|| StratoError::new_err("no state server"))
    }

    // ---- queues

    /// Puts `item` into an unbounded queue without waiting for the engine's answer, as the
    /// standard library's queue hands items to a feeder thread: this process's later calls
    /// (a `get`, a `qsize`, a `set` another process waits on) are served after it.
    fn put_async(&self, py: Python<'_>, item: &[u8]) -> PyResult<()> {
        let item = Blob::from(item.to_vec());
        self.0.cast(py, Op::Put(item, Wait::Never))
    }

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
        let answer = self
            .0
            .blocking(py, block, timeout, |wait| Op::Put(item.clone(), wait))?;
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
        match self.0.blocking(py, block, timeout, Op::Get)? {
            None => Ok(None),
            Some(Answer::Blob(item)) => Ok(Some(PyBytes::new(py, &item).unbind())),
            Some(other) => Err(unexpected(other)),
        }
    }

    /// Items waiting.
    fn qsize(&self, py: Python<'_>) -> PyResult<u64> {
        match self.0.op(py, Op::Len)? {
            Answer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// One item taken earlier was processed.
    fn task_done(&self, py: Python<'_>) -> PyResult<()> {
        self.0.op(py, Op::TaskDone).map(drop)
    }

    /// Waits until every item put was processed.
    fn join(&self, py: Python<'_>) -> PyResult<()> {
        self.0.blocking(py, true, None, Op::Join).map(drop)
    }

    // ---- locks and semaphores

    /// Takes a permit; false if none came.
    #[pyo3(signature = (block=true, timeout=None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self
            .0
            .blocking(py, block, timeout, |wait| Op::Acquire(1, wait))?
            .is_some())
    }

    /// Gives a permit back (an error past a bounded semaphore's bound).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.0.op(py, Op::Release(1)).map(drop)
    }

    /// Permits available now.
    fn available(&self, py: Python<'_>) -> PyResult<u64> {
        match self.0.op(py, Op::Available)? {
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
        let answer = self
            .0
            .blocking(py, block, timeout, |wait| Op::ReentrantLock { owner, wait })?;
        Ok(answer.is_some())
    }

    /// Releases one level of the re-entrant lock held by `owner`; unless `answered`, without
    /// waiting (for an owner that knows it holds it).
    #[pyo3(signature = (owner, answered=true))]
    fn rlock_release(&self, py: Python<'_>, owner: u64, answered: bool) -> PyResult<()> {
        let op = Op::ReentrantUnlock { owner, value: None };
        self.0.apply(py, op, answered)
    }

    // ---- events

    /// Sets the flag, waking every waiter.
    fn set(&self, py: Python<'_>) -> PyResult<()> {
        self.0.op(py, Op::EventSet).map(drop)
    }

    /// Clears the flag.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.0.op(py, Op::EventClear).map(drop)
    }

    /// Whether the flag is set.
    fn is_set(&self, py: Python<'_>) -> PyResult<bool> {
        match self.0.op(py, Op::EventIsSet)? {
            Answer::Bool(set) => Ok(set),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for the flag; whether it was set.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        Ok(self.0.blocking(py, true, timeout, Op::EventWait)?.is_some())
    }

    // ---- barriers

    /// Waits for the other parties: `Some(leader)` once they came, `None` if the barrier
    /// is broken (a party timed out or died). It waits in one piece (a timeout breaks it),
    /// which Ctrl-C interrupts.
    #[pyo3(signature = (timeout=None))]
    fn barrier_wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<bool>> {
        let wait = match timeout {
            None => Wait::Forever,
            Some(t) if t.is_nan() || t < 0.0 => {
                return Err(PyValueError::new_err("timeout must be non-negative"))
            }
            Some(t) => Wait::Micros((t * 1e6) as u64),
        };
        match self.0.op_interruptible(py, Op::BarrierWait(wait))? {
            Answer::Passed { leader } => Ok(Some(leader)),
            Answer::Broken | Answer::TimedOut => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    // ---- numbers (int: i64, float: f64)

    /// The number.
    fn load(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.0.op(py, Op::Load)? {
            Answer::Scalar(s) => scalar_to_py(py, s),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the integer; unless `answered`, without waiting for the engine's answer
    /// (this process's later calls still see it).
    #[pyo3(signature = (value, answered=true))]
    fn store_int(&self, py: Python<'_>, value: i64, answered: bool) -> PyResult<()> {
        self.0.apply(py, Op::Store(Scalar::I64(value)), answered)
    }

    /// Replaces the float; `answered` as for [`Object::store_int`].
    #[pyo3(signature = (value, answered=true))]
    fn store_float(&self, py: Python<'_>, value: f64, answered: bool) -> PyResult<()> {
        self.0.apply(py, Op::Store(Scalar::F64(value)), answered)
    }

    /// Adds to the integer, returning the previous value.
    fn add_int(&self, py: Python<'_>, delta: i64) -> PyResult<i64> {
        match self.0.op(py, Op::Fetch(FetchOp::Add, Scalar::I64(delta)))? {
            Answer::Scalar(Scalar::I64(previous)) => Ok(previous),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the integer with `new` if it is `current`: `(whether it was, the value it
    /// had)`.
    fn cas_int(&self, py: Python<'_>, current: i64, new: i64) -> PyResult<(bool, i64)> {
        let op = Op::CompareExchange {
            current: Scalar::I64(current),
            new: Scalar::I64(new),
        };
        match self.0.op(py, op)? {
            Answer::Exchanged(Ok(Scalar::I64(had))) => Ok((true, had)),
            Answer::Exchanged(Err(Scalar::I64(had))) => Ok((false, had)),
            other => Err(unexpected(other)),
        }
    }

    /// Adds to the float, returning the previous value.
    fn add_float(&self, py: Python<'_>, delta: f64) -> PyResult<f64> {
        match self.0.op(py, Op::Fetch(FetchOp::Add, Scalar::F64(delta)))? {
            Answer::Scalar(Scalar::F64(previous)) => Ok(previous),
            other => Err(unexpected(other)),
        }
    }

    // ---- values (bytes)

    /// The value's bytes.
    fn value_get(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        match self.0.op(py, Op::ValueGet)? {
            Answer::Versioned { value, .. } => Ok(PyBytes::new(py, &value).unbind()),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the value's bytes; `answered` as for [`Object::store_int`].
    #[pyo3(signature = (value, answered=true))]
    fn value_set(&self, py: Python<'_>, value: &[u8], answered: bool) -> PyResult<()> {
        let op = Op::ValueSet(Blob::from(value.to_vec()));
        self.0.apply(py, op, answered)
    }

    // ---- arrays (a fixed number of items of bytes)

    /// How many items the array has.
    fn array_len(&self, py: Python<'_>) -> PyResult<u64> {
        match self.0.op(py, Op::ArrayLen)? {
            Answer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// The item at `index`.
    fn array_get(&self, py: Python<'_>, index: u64) -> PyResult<Py<PyBytes>> {
        match self.0.op(py, Op::ArrayGet(index))? {
            Answer::Blob(item) => Ok(PyBytes::new(py, &item).unbind()),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the item at `index`.
    fn array_set(&self, py: Python<'_>, index: u64, item: &[u8]) -> PyResult<()> {
        let op = Op::ArraySet(index, Blob::from(item.to_vec()));
        self.0.op(py, op).map(drop)
    }

    /// The items from `start` up to (not including) `end`, read at one instant, packed
    /// into one bytes object.
    fn array_get_range(&self, py: Python<'_>, start: u64, end: u64) -> PyResult<Py<PyBytes>> {
        match self.0.op(py, Op::ArrayGetRange(start, end))? {
            Answer::Blobs(items) => {
                let size = items.iter().map(|item| item.len()).sum();
                let packed = PyBytes::new_with(py, size, |out| {
                    let mut at = 0;
                    for item in &items {
                        out[at..at + item.len()].copy_from_slice(item);
                        at += item.len();
                    }
                    Ok(())
                })?;
                Ok(packed.unbind())
            }
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the items from `start` on with the `item_bytes`-byte items `packed`, at one
    /// instant.
    fn array_set_range(
        &self,
        py: Python<'_>,
        start: u64,
        packed: &[u8],
        item_bytes: usize,
    ) -> PyResult<()> {
        if item_bytes == 0 || !packed.len().is_multiple_of(item_bytes) {
            return Err(PyValueError::new_err(
                "packed items must be whole items of a positive size",
            ));
        }
        let items = packed
            .chunks(item_bytes)
            .map(|item| Blob::from(item.to_vec()))
            .collect();
        self.0.op(py, Op::ArraySetRange(start, items)).map(drop)
    }
}
