//! A connection to a strato state server, shared by every thread of a process.
//!
//! [`Client::call`] sends one request and blocks the calling thread until its reply; many
//! threads may call at once over the one connection (each request carries an id, and a
//! reader thread hands each reply to its caller). Calls that wait on the server (a lock, a
//! queue) park only their own thread.
//!
//! ```
//! use strato_client::Client;
//! use strato_proto::{Answer, Call};
//!
//! let server = strato_server::start(Default::default()).unwrap();
//! let client = Client::connect(&server.address().to_string()).unwrap();
//! assert_eq!(client.call(Call::Ping).unwrap(), Answer::Pong);
//! ```

mod connection;
mod error;
mod stream;

pub use connection::{Client, ConnectOptions};
pub use error::{Error, ErrorKind};
