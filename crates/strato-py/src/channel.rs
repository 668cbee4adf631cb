//! [`Channel`]: one end of a channel on the state, as a sender or a receiver.

use pyo3::exceptions::{PyEOFError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato_proto::{Answer, Blob, Init, Op, Role};

use crate::reference::Reference;
use crate::unexpected;

/// One end of an unbounded channel: a reference as its sender or its receiver.
///
/// The channel counts its senders and receivers: once every sender is gone (closed, or its
/// process died), `recv` raises `EOFError` when nothing is left; once every receiver is
/// gone, `send` says so. A `multiprocessing.Pipe` is two channels.
///
/// ```python
/// from strato import _native
/// tx = _native.Channel.open("sender", None)
/// rx = _native.Channel.open("receiver", tx.name)
/// assert tx.send(b"hi")
/// assert rx.recv(True, None) == b"hi"
/// del tx
/// try:
///     rx.recv(True, None)
/// except EOFError:
///     pass
/// ```
#[pyclass(module = "strato._native", frozen)]
pub struct Channel(Reference);

fn role(name: &str) -> PyResult<Role> {
    match name {
        "sender" => Ok(Role::Sender),
        "receiver" => Ok(Role::Receiver),
        other => Err(PyValueError::new_err(format!(
            "a channel's end is \"sender\" or \"receiver\", not {other:?}"
        ))),
    }
}

#[pymethods]
impl Channel {
    /// Opens the channel `name` (a fresh one if None, created if absent) as `role`:
    /// `"sender"` or `"receiver"`.
    #[staticmethod]
    #[pyo3(signature = (role_name, name=None))]
    fn open(py: Python<'_>, role_name: &str, name: Option<String>) -> PyResult<Channel> {
        let init = Init::Channel { bound: None };
        Reference::open(py, name, init, role(role_name)?).map(Channel)
    }

    /// Takes the end, in `role`, that another process lent (see [`Channel::lend`]).
    #[staticmethod]
    fn adopt(py: Python<'_>, name: String, role_name: &str) -> PyResult<Channel> {
        Reference::adopt(py, name, role(role_name)?).map(Channel)
    }

    /// Counts this end in flight (pickled), so the channel stays connected until the
    /// receiver of the pickle adopts it. Returns the channel's name.
    fn lend(&self, py: Python<'_>) -> PyResult<String> {
        self.0.lend(py)
    }

    /// The channel's name on the state.
    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    /// Sends `item`; false if no receiver is left.
    fn send(&self, py: Python<'_>, item: &[u8]) -> PyResult<bool> {
        let item = Blob::from(item.to_vec());
        match self
            .0
            .blocking(py, true, None, |wait| Op::Send(item.clone(), wait))?
        {
            Some(Answer::Done) => Ok(true),
            Some(Answer::Disconnected) => Ok(false),
            Some(other) => Err(unexpected(other)),
            None => unreachable!("an unlimited wait ends with an answer"),
        }
    }

    /// The oldest item, waiting (at most `timeout` seconds) if `block`; None if none came;
    /// `EOFError` if none is left and no sender is either.
    #[pyo3(signature = (block=true, timeout=None))]
    fn recv(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<Py<PyBytes>>> {
        match self.0.blocking(py, block, timeout, Op::Recv)? {
            None => Ok(None),
            Some(Answer::Blob(item)) => Ok(Some(PyBytes::new(py, &item).unbind())),
            Some(Answer::Disconnected) => Err(PyEOFError::new_err("the other end is closed")),
            Some(other) => Err(unexpected(other)),
        }
    }
}
