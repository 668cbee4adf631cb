//! One direction of a `Pipe`: a socket pair the server keeps, whose ends local clients
//! use directly and on which the server sends and receives for remote ones
//! (`strato_proto::pipe`; docs/two-tier.md, "Pipes on one host").

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags, Shutdown};
use strato_proto::pipe::{cut_short, header, message_len, unsent, HEADER_LEN};
use strato_proto::{Answer, Blob, ErrorKind, Role, Wait};
use tokio::io::unix::AsyncFd;

use super::{error, RoleCounts};

/// A pipe direction's object on the server.
#[derive(Debug)]
pub(crate) struct Pipe {
    sockets: Arc<PipeSockets>,
    /// Whether a sender, and a receiver, ever held it: the stream is shut down only when
    /// the last of a role that existed is gone, not while the pipe is being opened.
    had: [bool; 2],
}

/// The two ends of the stream, and what the server needs to use them itself.
#[derive(Debug)]
pub(crate) struct PipeSockets {
    /// `[sending end, receiving end]`.
    ends: [OwnedFd; 2],
    /// The server's own registrations of the ends with its reactor, made on first use.
    reactor: Mutex<Option<Arc<[AsyncFd<OwnedFd>; 2]>>>,
    /// Held while the server writes one message (for remote senders), so that two of them
    /// do not interleave.
    writing: tokio::sync::Mutex<()>,
    /// Held while the server reads one message (for remote receivers).
    reading: tokio::sync::Mutex<()>,
    /// The largest message the server accepts from the stream.
    max_len: usize,
}

fn end(role: Role) -> usize {
    match role {
        Role::Receiver => 1,
        Role::Sender | Role::Handle => 0,
    }
}

impl Pipe {
    /// A new direction with an empty stream; messages longer than `max_len` are refused.
    pub fn new(max_len: usize) -> io::Result<Pipe> {
        let (tx, rx) = strato_proto::pipe::socket_pair()?;
        // Room for a 1 MiB message in flight, as far as the system allows.
        for socket in [&tx, &rx] {
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, 1 << 20);
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(socket, 1 << 20);
        }
        Ok(Pipe {
            sockets: Arc::new(PipeSockets {
                ends: [tx, rx],
                reactor: Mutex::new(None),
                writing: tokio::sync::Mutex::new(()),
                reading: tokio::sync::Mutex::new(()),
                max_len,
            }),
            had: [false; 2],
        })
    }

    /// The sockets, for the server's own sends and receives.
    pub fn sockets(&self) -> &Arc<PipeSockets> {
        &self.sockets
    }

    /// A copy of the end a client in `role` uses.
    pub fn descriptor(&self, role: Role) -> io::Result<OwnedFd> {
        self.sockets.ends[end(role)].try_clone()
    }

    /// Follows the references: once every sender that existed is gone, the stream ends
    /// for the receivers after its last message; once every receiver is gone, sends fail.
    pub fn follow(&mut self, refs: RoleCounts) {
        for (index, count) in [refs.senders, refs.receivers].into_iter().enumerate() {
            if count > 0 {
                self.had[index] = true;
            } else if self.had[index] {
                self.sockets.shut(index);
            }
        }
    }

    /// The object is deleted: both ways end.
    pub fn close(&self) {
        self.sockets.shut(0);
        self.sockets.shut(1);
    }
}

impl PipeSockets {
    fn shut(&self, index: usize) {
        let how = if index == 0 {
            Shutdown::Write
        } else {
            Shutdown::Read
        };
        let _ = rustix::net::shutdown(&self.ends[index], how);
    }

    fn reactor(&self) -> io::Result<Arc<[AsyncFd<OwnedFd>; 2]>> {
        let mut slot = self.reactor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reactor) = slot.as_ref() {
            return Ok(reactor.clone());
        }
        let register = |i: usize| -> io::Result<AsyncFd<OwnedFd>> {
            let fd = self.ends[i].try_clone()?;
            // SAFETY: the `AsyncFd` owns `fd`, an open descriptor that stays open, and is
            // the same descriptor, until the `AsyncFd` is dropped.
            unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
        };
        let reactor = Arc::new([register(0)?, register(1)?]);
        *slot = Some(reactor.clone());
        Ok(reactor)
    }

    /// Sends `message` for a remote sender: `Done`, or `Disconnected` if no receiver is
    /// left.
    pub async fn send(self: Arc<Self>, message: Blob) -> Answer {
        let _writing = self.writing.lock().await;
        match self.write_all(&message).await {
            Ok(()) => Answer::Done,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Answer::Disconnected,
            Err(e) => error(ErrorKind::Invalid, format!("cannot send on the pipe: {e}")),
        }
    }

    async fn write_all(&self, message: &[u8]) -> io::Result<()> {
        let reactor = self.reactor()?;
        let header = header(message.len())?;
        let total = HEADER_LEN + message.len();
        let mut sent = 0;
        while sent < total {
            let mut ready = reactor[0].writable().await?;
            let slices = unsent(&header, message, sent);
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match ready.try_io(|fd| {
                rustix::net::sendmsg(fd, &slices, &mut Default::default(), flags)
                    .map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => sent += n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    /// Receives the next message for a remote receiver, waiting as `wait` says: `Blob`,
    /// `Disconnected` at the end of the stream, `WouldBlock` or `TimedOut`. `None` if
    /// `gone` resolves (the caller's connection closed) before a message began.
    pub async fn recv(
        self: Arc<Self>,
        wait: Wait,
        gone: impl std::future::Future<Output = ()>,
    ) -> Option<Answer> {
        let reading = match wait {
            Wait::Never => match self.ready_now() {
                Ok(Some(reading)) => reading,
                Ok(None) => return Some(Answer::WouldBlock),
                Err(e) => return Some(failed(e)),
            },
            Wait::Forever | Wait::Micros(_) => {
                let limit = match wait {
                    Wait::Micros(us) => Some(Duration::from_micros(us)),
                    _ => None,
                };
                let begun = async {
                    let reading = self.reading.lock().await;
                    self.first_byte().await.map(|()| reading)
                };
                tokio::select! {
                    // A closed connection wins over a message that came at the same time.
                    biased;
                    _ = gone => return None,
                    begun = within(limit, begun) => match begun {
                        None => return Some(Answer::TimedOut),
                        Some(Err(e)) => return Some(failed(e)),
                        Some(Ok(reading)) => reading,
                    },
                }
            }
        };
        let answer = match self.read_message().await {
            Ok(Some(message)) => Answer::Blob(Blob::from(message)),
            Ok(None) => Answer::Disconnected,
            Err(e) => failed(e),
        };
        drop(reading);
        Some(answer)
    }

    /// The reading turn, if no other remote receiver has it and a byte (or the end of the
    /// stream) is there to read now.
    fn ready_now(&self) -> io::Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        let Ok(reading) = self.reading.try_lock() else {
            return Ok(None);
        };
        let mut byte = [0u8; 1];
        let flags = RecvFlags::DONTWAIT | RecvFlags::PEEK;
        match rustix::net::recv(&self.ends[1], &mut byte[..], flags) {
            Ok(_) => Ok(Some(reading)),
            Err(rustix::io::Errno::AGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until a byte (or the end of the stream) is there to read.
    async fn first_byte(&self) -> io::Result<()> {
        let reactor = self.reactor()?;
        loop {
            let mut ready = reactor[1].readable().await?;
            let mut byte = [0u8; 1];
            let flags = RecvFlags::DONTWAIT | RecvFlags::PEEK;
            match ready
                .try_io(|fd| rustix::net::recv(fd, &mut byte[..], flags).map_err(io::Error::from))
            {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Reads one whole message; `None` at the end of the stream.
    async fn read_message(&self) -> io::Result<Option<Vec<u8>>> {
        let mut header = [0u8; HEADER_LEN];
        let got = self.read_into(&mut header).await?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            return Err(cut_short());
        }
        let len = message_len(&header, self.max_len)?;
        let mut message = vec![0u8; len];
        if self.read_into(&mut message).await? < len {
            return Err(cut_short());
        }
        Ok(Some(message))
    }

    /// Fills `buf` unless the stream ends first; the bytes read.
    async fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        let reactor = self.reactor()?;
        let mut got = 0;
        while got < buf.len() {
            let mut ready = reactor[1].readable().await?;
            let rest = &mut buf[got..];
            match ready.try_io(|fd| {
                rustix::net::recv(fd, &mut *rest, RecvFlags::DONTWAIT).map_err(io::Error::from)
            }) {
                Ok(Ok((0, _))) => break,
                Ok(Ok((n, _))) => got += n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(got)
    }
}

/// `future`'s output, unless `limit` runs out first (`None`).
async fn within<T>(
    limit: Option<Duration>,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    match limit {
        None => Some(future.await),
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
    }
}

fn failed(e: io::Error) -> Answer {
    error(
        ErrorKind::Invalid,
        format!("cannot receive on the pipe: {e}"),
    )
}
