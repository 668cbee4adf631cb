//! The strato state server: shared objects that many processes use at once.
//!
//! It holds named, linearizable objects (atomics, values, arrays, maps, lists, locks,
//! condition variables, barriers, futures, latches, channels and queues). A call that cannot
//! proceed (a lock held, a queue empty) is parked on the server and answered the moment it
//! can proceed, or when its timeout runs out. Objects are reference-counted by the handles
//! of live connections, with a TTL backstop for references lost in flight. The table of
//! objects is in shards, each behind its own lock: calls on objects of different shards run
//! on different cores at once.
//!
//! Start one inside a process with [`start`] (the embedded mode), or run the `strato serve`
//! command, which calls [`run`].
//!
//! ```
//! let server = strato_server::start(strato_server::Config::default()).unwrap();
//! println!("state server at {}", server.address());
//! server.shutdown();
//! ```

mod catalog;
mod net;
mod objects;
mod refs;
mod shards;
mod slots;
mod table;
mod tls;

pub use net::{
    embedded_threads, run, start, Config, ServerError, ServerHandle, DEFAULT_ARENA_BYTES,
};
pub use objects::{CustomFactory, CustomObject, Invoked};
pub use tls::{ServerTls, TlsError};
