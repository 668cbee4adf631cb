//! The seam between the client and the place its state lives.

use std::panic::{RefUnwindSafe, UnwindSafe};

use strato_proto::{Address, Answer, Call};

use crate::Error;

/// A place where strato's objects live: a strato state server, Redis, or anything else that
/// answers the protocol's [`Call`]s with the same semantics. A [`Client`](crate::Client)
/// holds one and knows nothing else about it; each backend is behind a cargo feature
/// (`server`, `redis`).
///
/// Implementations answer every call as the state server would, including server-side
/// errors as [`Answer::Error`] (the client turns them into [`Error::Server`]); an `Err` means
/// the backend itself is unreachable. A backend is unwind-safe, as std's locks are, so that
/// handles keep working after a caught panic.
///
/// ```
/// use strato_client::{Client, Error, StateBackend};
/// use strato_proto::{Address, Answer, Call};
///
/// /// A backend that only answers pings.
/// struct Echo(Address);
///
/// impl StateBackend for Echo {
///     fn address(&self) -> &Address { &self.0 }
///     fn session(&self) -> u64 { 1 }
///     fn max_frame(&self) -> usize { 1 << 20 }
///     fn call(&self, call: Call) -> Result<Answer, Error> {
///         match call {
///             Call::Ping => Ok(Answer::Pong),
///             _ => Err(Error::Protocol("only pings".into())),
///         }
///     }
///     fn cast(&self, _call: Call) -> Result<(), Error> { Ok(()) }
///     fn cast_all(&self, _calls: Vec<Call>) -> Result<(), Error> { Ok(()) }
/// }
///
/// let address = "tcp://127.0.0.1:1".parse().unwrap();
/// let client = Client::from_backend(std::sync::Arc::new(Echo(address)));
/// assert_eq!(client.call(Call::Ping).unwrap(), Answer::Pong);
/// ```
pub trait StateBackend: Send + Sync + RefUnwindSafe + UnwindSafe + 'static {
    /// Where the state lives, as a client would be given it.
    fn address(&self) -> &Address;

    /// This process's session with the backend, unique among its current sessions (the
    /// server's connection id; with Redis, a session number taken at connect).
    fn session(&self) -> u64;

    /// The largest request the backend accepts, in bytes.
    fn max_frame(&self) -> usize;

    /// Sends `call` and blocks until its answer.
    fn call(&self, call: Call) -> Result<Answer, Error>;

    /// Sends `call` without waiting for its answer.
    fn cast(&self, call: Call) -> Result<(), Error>;

    /// Sends several calls without waiting for answers, in order (in one write where the
    /// transport allows). Nothing is sent if one of them is too large.
    fn cast_all(&self, calls: Vec<Call>) -> Result<(), Error>;

    /// Sends `call` and blocks until its answer, with the descriptor that came with it (a
    /// pipe's end, for [`strato_proto::Op::Attach`]); by default none comes.
    fn call_attached(&self, call: Call) -> Result<(Answer, Option<std::os::fd::OwnedFd>), Error> {
        self.call(call).map(|answer| (answer, None))
    }

    /// The server's shared-memory arena, when this process is on the server's machine and
    /// mapped it (two-tier state); `None` by default: every call goes to the backend.
    #[cfg(feature = "server")]
    fn arena(&self) -> Option<&std::sync::Arc<crate::LocalArena>> {
        None
    }
}
