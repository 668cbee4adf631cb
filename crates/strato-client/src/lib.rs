//! A connection to the state, shared by every thread of a process.
//!
//! [`Client::call`] sends one request and blocks the calling thread until its reply; many
//! threads may call at once over the one connection (each request carries an id). One
//! waiting caller at a time reads the socket and hands each reply to its caller, so a lone
//! caller reads its own reply with no other thread woken. Calls that wait on the server (a
//! lock, a queue) park only their own thread.
//!
//! The state lives behind one [`StateBackend`], chosen by the address: a strato state server
//! (cargo feature `server`, on by default) or Redis (feature `redis`).
//!
//! ```
//! use strato_client::Client;
//! use strato_proto::{Answer, Call};
//!
//! let server = strato_server::start(Default::default()).unwrap();
//! let client = Client::connect(&server.address().to_string()).unwrap();
//! assert_eq!(client.call(Call::Ping).unwrap(), Answer::Pong);
//! ```

mod backend;
mod client;
mod error;
#[cfg(feature = "server")]
mod local;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod stream;
#[cfg(feature = "server")]
mod tls;

pub use backend::StateBackend;
pub use client::{Client, ConnectOptions};
pub use error::{Error, ErrorKind};
#[cfg(feature = "server")]
pub use local::{LocalArena, LocalPipe, LocalWord};
