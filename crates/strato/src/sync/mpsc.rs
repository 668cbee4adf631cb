//! `mpsc`: std's multi-producer single-consumer channels, with the messages held by the
//! state server, so a `Sender` may live in another process.
//!
//! As in std, a receive on an empty channel fails with `Disconnected` once every sender is
//! gone, and a send fails (returning the message) once the receiver is gone. Senders are
//! counted per process; one that is serialized and sent elsewhere counts until received.
//!
//! ```
//! use strato::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! for i in 0..3 {
//!     let tx = tx.clone();
//!     std::thread::spawn(move || tx.send(i).unwrap());
//! }
//! drop(tx);
//! let mut got: Vec<i32> = rx.iter().collect();
//! got.sort();
//! assert_eq!(got, vec![0, 1, 2]);
//! ```

use std::marker::PhantomData;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// Why [`SyncSender::send_timeout`] failed; the message comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendTimeoutError<T> {
    /// The channel stayed full for the whole timeout.
    #[error("timed out waiting on send operation")]
    Timeout(T),
    /// The receiver is gone.
    #[error("sending on a closed channel")]
    Disconnected(T),
}

/// The sending half of [`channel`]; clone it for more producers.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Sender<T> {
    handle: Handle,
    #[serde(skip)]
    _message: PhantomData<fn(T)>,
}

/// The sending half of [`sync_channel`]: `send` blocks while the channel is full.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SyncSender<T> {
    handle: Handle,
    #[serde(skip)]
    _message: PhantomData<fn(T)>,
}

/// The receiving half of a channel.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Receiver<T> {
    handle: Handle,
    #[serde(skip)]
    _message: PhantomData<fn() -> T>,
}

macro_rules! clone_and_debug {
    ($($name:ident),*) => {$(
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { handle: self.handle.clone(), _message: PhantomData }
            }
        }
        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("channel", &self.handle.name()).finish()
            }
        }
    )*};
}
clone_and_debug!(Sender, SyncSender);

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("channel", &self.handle.name())
            .finish()
    }
}

/// An unbounded channel on the default state server.
pub fn channel<T: Serialize + DeserializeOwned>() -> (Sender<T>, Receiver<T>) {
    let client = default_client("mpsc::channel");
    expect(channel_in(&client), "mpsc::channel")
}

/// A channel holding at most `bound` messages (0: each send waits for a receiver).
pub fn sync_channel<T: Serialize + DeserializeOwned>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let client = default_client("mpsc::sync_channel");
    expect(sync_channel_in(&client, bound), "mpsc::sync_channel")
}

/// An unbounded channel on `client`.
pub fn channel_in<T>(client: &Client) -> Result<(Sender<T>, Receiver<T>), Error> {
    let (tx, rx) = open_pair(client, None)?;
    Ok((
        Sender {
            handle: tx,
            _message: PhantomData,
        },
        receiver(rx),
    ))
}

/// A bounded channel on `client`.
pub fn sync_channel_in<T>(
    client: &Client,
    bound: usize,
) -> Result<(SyncSender<T>, Receiver<T>), Error> {
    let (tx, rx) = open_pair(client, Some(bound as u64))?;
    Ok((
        SyncSender {
            handle: tx,
            _message: PhantomData,
        },
        receiver(rx),
    ))
}

fn receiver<T>(handle: Handle) -> Receiver<T> {
    Receiver {
        handle,
        _message: PhantomData,
    }
}

fn open_pair(client: &Client, bound: Option<u64>) -> Result<(Handle, Handle), Error> {
    let init = Init::Channel { bound };
    let rx = Handle::open(
        client,
        ObjectName::anonymous(),
        init.clone(),
        Role::Receiver,
    )?;
    let tx = rx.open_role(init, Role::Sender)?;
    Ok((tx, rx))
}

/// Sends `message` with `wait`: `Ok(None)` when sent, `Ok(Some(answer))` when not.
fn send_with<T: Serialize>(
    handle: &Handle,
    message: &T,
    wait: Wait,
) -> Result<Option<Answer>, Error> {
    match handle.op(Op::Send(encode(message)?, wait))? {
        Answer::Done => Ok(None),
        refused @ (Answer::Disconnected | Answer::WouldBlock | Answer::TimedOut) => {
            Ok(Some(refused))
        }
        other => Err(unexpected(other)),
    }
}

impl<T: Serialize> Sender<T> {
    /// Sends a message; `Err` returns it if the receiver is gone. Never blocks.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        match expect(
            send_with(&self.handle, &message, Wait::Forever),
            "Sender::send",
        ) {
            None => Ok(()),
            Some(_) => Err(SendError(message)),
        }
    }
}

impl<T: Serialize> SyncSender<T> {
    /// Sends, waiting while the channel is full.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        match expect(
            send_with(&self.handle, &message, Wait::Forever),
            "SyncSender::send",
        ) {
            None => Ok(()),
            Some(_) => Err(SendError(message)),
        }
    }

    /// Sends only if there is room now.
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        match expect(
            send_with(&self.handle, &message, Wait::Never),
            "SyncSender::try_send",
        ) {
            None => Ok(()),
            Some(Answer::Disconnected) => Err(TrySendError::Disconnected(message)),
            Some(_) => Err(TrySendError::Full(message)),
        }
    }

    /// Sends, waiting at most `timeout` for room.
    pub fn send_timeout(&self, message: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let sent = send_with(&self.handle, &message, within(timeout));
        match expect(sent, "SyncSender::send_timeout") {
            None => Ok(()),
            Some(Answer::Disconnected) => Err(SendTimeoutError::Disconnected(message)),
            Some(_) => Err(SendTimeoutError::Timeout(message)),
        }
    }
}

enum Received<T> {
    Message(T),
    Empty,
    Disconnected,
}

impl<T: DeserializeOwned> Receiver<T> {
    fn recv_with(&self, wait: Wait, what: &str) -> Received<T> {
        let answer = self
            .handle
            .op(Op::Recv(wait))
            .and_then(|answer| match answer {
                Answer::Blob(blob) => decode(&blob).map(Received::Message),
                Answer::Disconnected => Ok(Received::Disconnected),
                Answer::WouldBlock | Answer::TimedOut => Ok(Received::Empty),
                other => Err(unexpected(other)),
            });
        expect(answer, what)
    }

    /// Waits for a message; `Err` once the channel is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        match self.recv_with(Wait::Forever, "Receiver::recv") {
            Received::Message(m) => Ok(m),
            _ => Err(RecvError),
        }
    }

    /// A message if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.recv_with(Wait::Never, "Receiver::try_recv") {
            Received::Message(m) => Ok(m),
            Received::Empty => Err(TryRecvError::Empty),
            Received::Disconnected => Err(TryRecvError::Disconnected),
        }
    }

    /// Waits at most `timeout` for a message.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match self.recv_with(within(timeout), "Receiver::recv_timeout") {
            Received::Message(m) => Ok(m),
            Received::Empty => Err(RecvTimeoutError::Timeout),
            Received::Disconnected => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// Messages until the channel disconnects.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// The messages waiting now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

/// Blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Non-blocking iterator over the messages waiting in a [`Receiver`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// Owning blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T: DeserializeOwned> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T: DeserializeOwned> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T: DeserializeOwned> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T: DeserializeOwned> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: DeserializeOwned> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
