//! The client: one connection to the state per process, whatever backend holds it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strato_proto::{Address, Answer, Call};

use crate::{Error, StateBackend};

/// How to connect.
///
/// ```
/// let options = strato_client::ConnectOptions::default().token("secret");
/// assert_eq!(options.token.as_deref(), Some("secret"));
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The server's shared secret, if it has one.
    pub token: Option<String>,
    /// How long the connection and handshake may take.
    pub timeout: Duration,
    /// A description of this client for the server's logs.
    pub name: String,
    /// The CA file (PEM) that `tls://` servers' certificates are checked against; `None`: the
    /// system's CA store (default: `STRATO_TLS_CA`).
    pub ca: Option<PathBuf>,
    /// Send the token over plain `tcp://` to a server beyond loopback, where anyone on the
    /// path can read it (default: `STRATO_PLAINTEXT=1`). Off, such a connection is refused.
    pub allow_plaintext: bool,
    /// Map the server's shared-memory arena when connected over a Unix socket, so that
    /// atomics' operations run in this process on the one shared copy (two-tier state;
    /// default: on, unless `STRATO_TWO_TIER=0`).
    pub two_tier: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            token: std::env::var("STRATO_TOKEN").ok(),
            timeout: Duration::from_secs(10),
            name: format!("pid {}", std::process::id()),
            ca: std::env::var_os("STRATO_TLS_CA").map(PathBuf::from),
            allow_plaintext: std::env::var("STRATO_PLAINTEXT").is_ok_and(|v| v == "1"),
            two_tier: std::env::var("STRATO_TWO_TIER").map_or(true, |v| v != "0"),
        }
    }
}

impl ConnectOptions {
    /// Sets the token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// A connection to the state (a strato state server, or Redis); cheap to clone, shared by
/// all threads. Calls go through the [`StateBackend`] the address selects.
#[derive(Clone)]
pub struct Client {
    backend: Arc<dyn StateBackend>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", self.address())
            .field("connection", &self.connection_id())
            .finish()
    }
}

impl Client {
    /// Connects to `address` (`tcp://host:port`, `host:port`, `unix:/path`, `unix:@name`),
    /// or to Redis (`redis://host:port`, `redis+unix:///path`; a cluster node is detected)
    /// which then holds the state in place of a strato server.
    pub fn connect(address: &str) -> Result<Client, Error> {
        Client::connect_with(address, ConnectOptions::default())
    }

    /// Connects with explicit options.
    pub fn connect_with(address: &str, options: ConnectOptions) -> Result<Client, Error> {
        let parsed: Address =
            address
                .parse()
                .map_err(|e: strato_proto::AddressError| Error::Connect {
                    address: address.into(),
                    reason: e.to_string(),
                })?;
        Ok(Client::from_backend(connect_backend(parsed, &options)?))
    }

    /// A client over a backend of the caller's making.
    ///
    /// ```
    /// # let server = strato_server::start(Default::default()).unwrap();
    /// # let address = server.address().to_string();
    /// use std::sync::Arc;
    /// let client = strato_client::Client::connect(&address).unwrap();
    /// let again = strato_client::Client::from_backend(client.backend().clone());
    /// assert_eq!(again.connection_id(), client.connection_id());
    /// ```
    pub fn from_backend(backend: Arc<dyn StateBackend>) -> Client {
        Client { backend }
    }

    /// The backend the calls go to.
    pub fn backend(&self) -> &Arc<dyn StateBackend> {
        &self.backend
    }

    /// The state's address.
    pub fn address(&self) -> &Address {
        self.backend.address()
    }

    /// This connection's id on the server (with Redis, this process's session).
    pub fn connection_id(&self) -> u64 {
        self.backend.session()
    }

    /// The largest frame the server accepts.
    pub fn max_frame(&self) -> usize {
        self.backend.max_frame()
    }

    /// Sends `call` and blocks until its answer. A server-side error answer becomes
    /// [`Error::Server`].
    pub fn call(&self, call: Call) -> Result<Answer, Error> {
        crate::error::server_error(self.backend.call(call)?)
    }

    /// Sends `call` without waiting for (or receiving) an answer. (With Redis, the call
    /// runs before this returns; its answer is dropped.)
    pub fn cast(&self, call: Call) -> Result<(), Error> {
        self.backend.cast(call)
    }

    /// Sends several calls without waiting for answers, in order and in one write: cheaper
    /// than a [`Client::cast`] each. Nothing is sent if one of them is too large.
    pub fn cast_all(&self, calls: impl IntoIterator<Item = Call>) -> Result<(), Error> {
        self.backend.cast_all(calls.into_iter().collect())
    }
}

#[cfg(feature = "server")]
impl Client {
    /// Where the atomic `name`'s value is in the server's shared-memory arena, when this
    /// process mapped it: operations on the [`crate::LocalWord`] then run here, on the one
    /// copy the server and every other local client use. `Ok(None)` when the object or
    /// this connection has no place in an arena (a remote client, Redis, a full arena).
    pub fn locate(&self, name: &str) -> Result<Option<crate::LocalWord>, Error> {
        let Some(arena) = self.backend.arena() else {
            return Ok(None);
        };
        let locate = Call::Op {
            name: name.into(),
            op: strato_proto::Op::Locate,
        };
        match self.call(locate) {
            Ok(Answer::Located(slot)) => Ok(Some(crate::LocalWord::new(arena.clone(), slot))),
            Ok(_) | Err(Error::Server { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// This process's own end of the pipe direction `name`, in `role` (`Sender` or
    /// `Receiver`), when it is on the server's machine: messages then go over the socket
    /// the server made for the pipe, not through the server (see [`crate::LocalPipe`]).
    /// `Ok(None)` where that cannot be (a remote client, Redis, `STRATO_TWO_TIER=0`): the
    /// pipe's operations then go to the server as calls.
    pub fn attach(
        &self,
        name: &str,
        role: strato_proto::Role,
    ) -> Result<Option<crate::LocalPipe>, Error> {
        if self.backend.arena().is_none() {
            return Ok(None);
        }
        let attach = Call::Op {
            name: name.into(),
            op: strato_proto::Op::Attach(role),
        };
        match self.backend.call_attached(attach) {
            Ok((Answer::Attached { descriptor: true }, Some(fd))) => {
                Ok(Some(crate::LocalPipe::new(fd, self.backend.max_frame())))
            }
            Ok(_) | Err(Error::Server { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The backend for an address, if this build has it.
fn connect_backend(
    address: Address,
    options: &ConnectOptions,
) -> Result<Arc<dyn StateBackend>, Error> {
    match &address {
        Address::Redis(url) => connect_redis(address.clone(), url),
        Address::Tcp(_) if exposes_token(&address, options) => Err(Error::Connect {
            address: address.to_string(),
            reason: "refusing to send the token in clear text to a server beyond this machine: \
                     connect to tls://… (a server started with --tls-cert and --tls-key), or set \
                     STRATO_PLAINTEXT=1 to accept that anyone on the network path can read it"
                .into(),
        }),
        _ => connect_server(address, options),
    }
}

/// Whether connecting would put a token on the network unencrypted without the user's leave.
fn exposes_token(address: &Address, options: &ConnectOptions) -> bool {
    options.token.is_some() && !address.is_local() && !options.allow_plaintext
}

#[cfg(feature = "redis")]
fn connect_redis(address: Address, url: &str) -> Result<Arc<dyn StateBackend>, Error> {
    Ok(Arc::new(crate::redis::RedisConnection::connect(
        address, url,
    )?))
}

#[cfg(not(feature = "redis"))]
fn connect_redis(_address: Address, url: &str) -> Result<Arc<dyn StateBackend>, Error> {
    Err(missing_feature(url, "redis"))
}

#[cfg(feature = "server")]
fn connect_server(
    address: Address,
    options: &ConnectOptions,
) -> Result<Arc<dyn StateBackend>, Error> {
    Ok(Arc::new(crate::server::ServerConnection::connect(
        address, options,
    )?))
}

#[cfg(not(feature = "server"))]
fn connect_server(
    address: Address,
    _options: &ConnectOptions,
) -> Result<Arc<dyn StateBackend>, Error> {
    Err(missing_feature(&address.to_string(), "server"))
}

#[cfg(any(not(feature = "redis"), not(feature = "server")))]
fn missing_feature(address: &str, feature: &str) -> Error {
    Error::Connect {
        address: address.into(),
        reason: format!("this build has no `{feature}` state backend (enable the `{feature}` feature of strato-client)"),
    }
}
