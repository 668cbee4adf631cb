//! `pipe`: a duplex pair of ends (Python's `multiprocessing.Pipe()`), each direction one
//! pipe object on the state server.
//!
//! Where both ends' processes are on the state server's machine (the local default, or
//! processes using `strato serve`'s Unix socket), messages go over a socket the server
//! made for the pipe, one hop as in `multiprocessing`; an end elsewhere goes through the
//! server, which sends and receives on the same socket (docs/two-tier.md).

use std::marker::PhantomData;
use std::sync::OnceLock;
use std::time::Duration;

use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error, LocalPipe};
use strato_proto::{Answer, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// One end of a [`pipe`]: sends to the other end and receives from it.
///
/// As with std's channels, a send fails (giving the message back) once the other end is
/// gone, and a receive fails once the other end is gone and every message it sent was
/// received. An end is moved to another process by serializing it (into a task's
/// arguments, say); like a `multiprocessing` `Connection`, one end should be used by one
/// process at a time.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct PipeEnd<T> {
    outgoing: Way,
    incoming: Way,
    #[serde(skip)]
    _message: PhantomData<fn(T) -> T>,
}

impl<T> std::fmt::Debug for PipeEnd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeEnd")
            .field("outgoing", &self.outgoing.handle)
            .field("incoming", &self.incoming.handle)
            .finish()
    }
}

/// One direction as one end sees it: the object, and this process's socket on it once
/// attached (if it can be).
#[derive(Serialize, Deserialize)]
struct Way {
    handle: Handle,
    #[serde(skip)]
    local: OnceLock<Option<LocalPipe>>,
}

impl Way {
    fn open(client: &Client, name: ObjectName, role: Role) -> Result<Way, Error> {
        Handle::open(client, name, Init::Pipe, role).map(Way::of)
    }

    fn of(handle: Handle) -> Way {
        Way {
            handle,
            local: OnceLock::new(),
        }
    }

    /// Runs a send or receive on this process's socket if it has one, else on the server.
    fn op(&self, op: Op) -> Result<Answer, Error> {
        let local = self.local.get_or_init(|| {
            let handle = &self.handle;
            handle
                .client()
                .attach(handle.name(), handle.role())
                .ok()
                .flatten()
        });
        match (local, op) {
            (Some(pipe), Op::Send(message, _)) => pipe.send(&message),
            (Some(pipe), Op::Recv(wait)) => pipe.recv(wait),
            (_, op) => self.handle.op(op),
        }
    }
}

/// A duplex pipe (Python's `multiprocessing.Pipe()`): what one end sends, the other
/// receives, in order.
///
/// ```
/// let (left, right) = strato::sync::pipe();
/// left.send(1).unwrap();
/// right.send(2).unwrap();
/// assert_eq!(right.recv(), Ok(1));
/// assert_eq!(left.recv(), Ok(2));
/// drop(left);
/// assert!(right.recv().is_err());
/// ```
pub fn pipe<T: Serialize + DeserializeOwned>() -> (PipeEnd<T>, PipeEnd<T>) {
    let client = default_client("pipe");
    expect(pipe_in(&client), "pipe")
}

/// A duplex pipe on `client`.
pub fn pipe_in<T: Serialize + DeserializeOwned>(
    client: &Client,
) -> Result<(PipeEnd<T>, PipeEnd<T>), Error> {
    let (a_tx, a_rx) = direction(client)?;
    let (b_tx, b_rx) = direction(client)?;
    let end = |outgoing, incoming| PipeEnd {
        outgoing,
        incoming,
        _message: PhantomData,
    };
    Ok((end(a_tx, b_rx), end(b_tx, a_rx)))
}

/// A new direction: its sending and receiving ends.
fn direction(client: &Client) -> Result<(Way, Way), Error> {
    let sender = Way::open(client, ObjectName::anonymous(), Role::Sender)?;
    let receiver = sender.handle.open_role(Init::Pipe, Role::Receiver)?;
    Ok((sender, Way::of(receiver)))
}

/// What a receive got.
enum Received<T> {
    Message(T),
    Empty,
    Ended,
}

impl<T: Serialize + DeserializeOwned> PipeEnd<T> {
    /// Sends to the other end; `Err` gives the message back if the other end is gone.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let sent = encode(&item).and_then(|message| {
            match self.outgoing.op(Op::Send(message, Wait::Forever))? {
                Answer::Done => Ok(true),
                Answer::Disconnected => Ok(false),
                other => Err(unexpected(other)),
            }
        });
        match expect(sent, "PipeEnd::send") {
            true => Ok(()),
            false => Err(SendError(item)),
        }
    }

    fn recv_with(&self, wait: Wait, what: &str) -> Received<T> {
        let received = self
            .incoming
            .op(Op::Recv(wait))
            .and_then(|answer| match answer {
                Answer::Blob(message) => decode(&message).map(Received::Message),
                Answer::Disconnected => Ok(Received::Ended),
                Answer::WouldBlock | Answer::TimedOut => Ok(Received::Empty),
                other => Err(unexpected(other)),
            });
        expect(received, what)
    }

    /// Receives from the other end, waiting; `Err` once the other end is gone and
    /// everything it sent was received.
    pub fn recv(&self) -> Result<T, RecvError> {
        loop {
            match self.recv_with(Wait::Forever, "PipeEnd::recv") {
                Received::Message(item) => return Ok(item),
                Received::Ended => return Err(RecvError),
                // A signal cut the wait short.
                Received::Empty => {}
            }
        }
    }

    /// Receives if something is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.recv_with(Wait::Never, "PipeEnd::try_recv") {
            Received::Message(item) => Ok(item),
            Received::Empty => Err(TryRecvError::Empty),
            Received::Ended => Err(TryRecvError::Disconnected),
        }
    }

    /// Receives, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match self.recv_with(within(timeout), "PipeEnd::recv_timeout") {
            Received::Message(item) => Ok(item),
            Received::Empty => Err(RecvTimeoutError::Timeout),
            Received::Ended => Err(RecvTimeoutError::Disconnected),
        }
    }
}
