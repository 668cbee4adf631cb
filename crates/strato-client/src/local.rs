//! The local tier (docs/two-tier.md): a client on the state server's machine maps the
//! server's shared-memory arena and runs atomics' operations on their words itself, with
//! the same instructions the server runs for remote clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strato_proto::arena::{Arena, Slot};
use strato_proto::{Answer, Op};

use crate::Error;

/// A connection's mapping of its server's arena.
#[derive(Debug)]
pub struct LocalArena {
    map: Arena,
    open: AtomicBool,
}

impl LocalArena {
    pub(crate) fn new(map: Arena) -> LocalArena {
        LocalArena {
            map,
            open: AtomicBool::new(true),
        }
    }

    /// The connection ended: the server may give its located slots to other objects, so
    /// the words are not touched again (calls go to the server, which reports the loss).
    pub(crate) fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }
}

/// One object's word in the arena, located through this process's connection.
///
/// ```
/// # let server = strato_server::start(strato_server::Config {
/// #     listen: vec![strato_proto::Address::Abstract(format!("strato-doc-local-{}", std::process::id()))],
/// #     ..Default::default()
/// # }).unwrap();
/// use strato_client::Client;
/// use strato_proto::{Answer, Call, FetchOp, Init, Op, Role, Scalar};
///
/// let client = Client::connect(&server.address().to_string()).unwrap();
/// let open = Call::Open { name: "hits".into(), init: Init::Atomic(Scalar::U64(0)), persistent: false, role: Role::Handle };
/// client.call(open).unwrap();
/// let word = client.locate("hits").unwrap().expect("a Unix socket client maps the arena");
/// let add = Op::Fetch(FetchOp::Add, Scalar::U64(1));
/// assert_eq!(word.apply(&add).unwrap().unwrap(), Answer::Scalar(Scalar::U64(0)));
/// // The server sees the same word.
/// let load = Call::Op { name: "hits".into(), op: Op::Load };
/// assert_eq!(client.call(load).unwrap(), Answer::Scalar(Scalar::U64(1)));
/// ```
#[derive(Debug, Clone)]
pub struct LocalWord {
    arena: Arc<LocalArena>,
    slot: Slot,
}

impl LocalWord {
    pub(crate) fn new(arena: Arc<LocalArena>, slot: Slot) -> LocalWord {
        LocalWord { arena, slot }
    }

    /// Adds `delta` to the word if it holds a 64-bit integer of flavour `tag` (wrapping),
    /// answering the previous bits; `None` when the server must answer instead.
    #[inline]
    pub fn fetch_add(&self, tag: u8, delta: u64) -> Option<u64> {
        if self.slot.tag != tag || !self.arena.open.load(Ordering::SeqCst) {
            return None;
        }
        self.arena.map.fetch_add(self.slot, delta)
    }

    /// Runs an atomic's operation on the word, answering as the server would (an error
    /// answer is [`Error::Server`]); `None` when the server must answer instead: the object
    /// was deleted, the connection ended, or `op` is not an atomic's.
    pub fn apply(&self, op: &Op) -> Option<Result<Answer, Error>> {
        if !self.arena.open.load(Ordering::SeqCst) {
            return None;
        }
        self.arena
            .map
            .apply(self.slot, op)
            .map(crate::error::server_error)
    }
}

/// One end of a pipe's direction, attached in this process: its messages go over the
/// socket the server made for it, with no hop through the server (docs/two-tier.md,
/// "Pipes on one host"). Answers as the server would for the same operation.
///
/// Two threads of a process take turns on it; two processes using one end at once get
/// what `multiprocessing` gives them (an undefined interleaving, detected here as a
/// corrupt stream).
///
/// ```
/// # let server = strato_server::start(strato_server::Config {
/// #     listen: vec![strato_proto::Address::Abstract(format!("strato-doc-pipe-{}", std::process::id()))],
/// #     ..Default::default()
/// # }).unwrap();
/// use strato_client::Client;
/// use strato_proto::{Answer, Call, Init, Role, Wait};
///
/// let client = Client::connect(&server.address().to_string()).unwrap();
/// for role in [Role::Sender, Role::Receiver] {
///     let open = Call::Open { name: "way".into(), init: Init::Pipe, persistent: false, role };
///     client.call(open).unwrap();
/// }
/// let tx = client.attach("way", Role::Sender).unwrap().expect("a Unix socket client");
/// let rx = client.attach("way", Role::Receiver).unwrap().unwrap();
/// assert_eq!(tx.send(b"hi").unwrap(), Answer::Done);
/// assert_eq!(rx.recv(Wait::Forever).unwrap(), Answer::Blob(b"hi".to_vec().into()));
/// assert_eq!(rx.recv(Wait::Never).unwrap(), Answer::WouldBlock);
/// ```
#[derive(Debug)]
pub struct LocalPipe {
    socket: std::sync::Mutex<std::os::fd::OwnedFd>,
    max_len: usize,
}

impl LocalPipe {
    pub(crate) fn new(socket: std::os::fd::OwnedFd, max_len: usize) -> LocalPipe {
        LocalPipe {
            socket: std::sync::Mutex::new(socket),
            max_len,
        }
    }

    /// The socket's descriptor number, to wait for it to be readable (`poll`, `select`)
    /// beside other descriptors. Reading or writing it directly would break the framing:
    /// use [`LocalPipe::recv`] and [`LocalPipe::send`] for that.
    pub fn raw_descriptor(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.socket().as_raw_fd()
    }

    fn socket(&self) -> std::sync::MutexGuard<'_, std::os::fd::OwnedFd> {
        self.socket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one message: [`Answer::Done`], or [`Answer::Disconnected`] once no receiver
    /// is left. Waits while the socket's buffer is full.
    pub fn send(&self, message: &[u8]) -> Result<Answer, Error> {
        if message.len() > self.max_len {
            return Err(Error::TooLarge {
                size: message.len(),
                max: self.max_len,
            });
        }
        match strato_proto::pipe::send_message(&*self.socket(), message) {
            Ok(()) => Ok(Answer::Done),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Answer::Disconnected),
            Err(e) => Err(pipe_error(e)),
        }
    }

    /// Receives one message as `wait` says: [`Answer::Blob`]; [`Answer::Disconnected`]
    /// once every sender is gone and every message was read; [`Answer::WouldBlock`] or
    /// [`Answer::TimedOut`] if none came (a signal also ends a wait early, as a timeout).
    pub fn recv(&self, wait: strato_proto::Wait) -> Result<Answer, Error> {
        use strato_proto::Wait;
        let socket = self.socket();
        let limit = match wait {
            Wait::Never => Some(std::time::Duration::ZERO),
            Wait::Forever => None,
            Wait::Micros(us) => Some(std::time::Duration::from_micros(us)),
        };
        let empty = match wait {
            Wait::Never => Answer::WouldBlock,
            _ => Answer::TimedOut,
        };
        // A message that comes within a short spin is taken without sleeping (the sender is
        // often a process on the other core, answering right away).
        let spin = limit.map_or(strato_proto::pipe::SPIN, |l| {
            l.min(strato_proto::pipe::SPIN)
        });
        let arrived = strato_proto::pipe::spin_until_readable(&*socket, spin);
        // A receive without limit blocks in the read itself; others first wait (poll).
        if !arrived && limit.is_some() {
            match strato_proto::pipe::readable(&*socket, limit) {
                Ok(true) => {}
                Ok(false) => return Ok(empty),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(empty),
                Err(e) => return Err(pipe_error(e)),
            }
        }
        match strato_proto::pipe::recv_message(&*socket, self.max_len) {
            Ok(Some(message)) => Ok(Answer::Blob(message.into())),
            Ok(None) => Ok(Answer::Disconnected),
            Err(e) => Err(pipe_error(e)),
        }
    }
}

fn pipe_error(e: std::io::Error) -> Error {
    Error::ConnectionLost(format!("a pipe's socket failed: {e}"))
}
