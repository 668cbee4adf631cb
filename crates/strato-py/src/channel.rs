//! [`Channel`]: one end of a channel on the state, as a sender or a receiver.

use std::sync::OnceLock;

use pyo3::exceptions::{PyEOFError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato::LocalPipe;
use strato_proto::{Answer, Blob, Init, Op, Role, Wait};

use crate::reference::Reference;
use crate::{engine_error, unexpected, wait_in_slices, waited};

/// One end of one direction of a pipe: a reference as its sender or its receiver.
///
/// The pipe counts its senders and receivers: once every sender is gone (closed, or its
/// process died), `recv` raises `EOFError` when nothing is left; once every receiver is
/// gone, `send` says so. A `multiprocessing.Pipe` is two of them. In a process on the
/// state server's machine, messages go over the socket the server made for the pipe, not
/// through the server (two-tier state).
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
pub struct Channel(Reference, OnceLock<Option<LocalPipe>>);

impl Channel {
    fn of(reference: Reference) -> Channel {
        Channel(reference, OnceLock::new())
    }

    /// This process's own socket of the pipe, attached at first use where it can be.
    fn local(&self, py: Python<'_>) -> Option<&LocalPipe> {
        let reference = &self.0;
        let local = self.1.get_or_init(|| {
            let client = reference.client();
            let attach = || client.attach(reference.name(), reference.role());
            py.detach(attach).ok().flatten()
        });
        local.as_ref()
    }

    /// A send or receive: on this process's own socket of the pipe if it has one, else
    /// through the engine.
    fn op(&self, py: Python<'_>, op: Op) -> PyResult<Answer> {
        let Some(pipe) = self.local(py) else {
            return self.0.op(py, op);
        };
        py.detach(|| match &op {
            Op::Send(message, _) => pipe.send(message),
            Op::Recv(wait) => pipe.recv(*wait),
            other => Err(strato::Error::Protocol(format!("not a pipe's: {other:?}"))),
        })
        .map_err(engine_error)
    }
}

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
        Reference::open(py, name, Init::Pipe, role(role_name)?).map(Channel::of)
    }

    /// Takes the end, in `role`, that another process lent (see [`Channel::lend`]).
    #[staticmethod]
    fn adopt(py: Python<'_>, name: String, role_name: &str) -> PyResult<Channel> {
        Reference::adopt(py, name, role(role_name)?).map(Channel::of)
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
        let answer = match self.local(py) {
            // Straight from the caller's bytes, without a copy first.
            Some(pipe) => py.detach(|| pipe.send(item)).map_err(engine_error)?,
            None => self
                .0
                .op(py, Op::Send(Blob::from(item.to_vec()), Wait::Forever))?,
        };
        match answer {
            Answer::Done => Ok(true),
            Answer::Disconnected => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// The descriptor to wait on (with `select`) until a message or the end of the pipe
    /// can be read, when this process has the pipe's socket; None when its messages go
    /// through the engine. Only for waiting: messages are read with `recv`.
    fn wait_descriptor(&self, py: Python<'_>) -> Option<i32> {
        self.local(py).map(LocalPipe::raw_descriptor)
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
        let received = wait_in_slices(py, block, timeout, |wait| {
            self.op(py, Op::Recv(wait)).map(waited)
        })?;
        match received {
            None => Ok(None),
            Some(Answer::Blob(item)) => Ok(Some(PyBytes::new(py, &item).unbind())),
            Some(Answer::Disconnected) => Err(PyEOFError::new_err("the other end is closed")),
            Some(other) => Err(unexpected(other)),
        }
    }
}
