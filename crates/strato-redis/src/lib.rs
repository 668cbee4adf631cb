//! The strato state server's objects over Redis or Redis Cluster.
//!
//! [`RedisState`] answers the same [`Call`](strato_proto::Call)s as a strato state server,
//! so every handle of `strato::sync`, the executor, threads and pools run unchanged with
//! `STRATO_STATE=redis://host:port`. The client picks this backend from the URL.
//!
//! # How the objects map onto Redis
//!
//! Every object is at most four keys sharing the hash tag `{name}` (so a Redis Cluster keeps
//! them in one slot): a hash of its scalar state and reference counts, a list (queue items,
//! list and array elements, pending tasks), a hash (map entries, leases) and a list of parked
//! calls. Each operation is one `FCALL` of a Redis Functions library (Lua, atomic on the
//! server; Redis 7 or newer); nothing polls:
//!
//! * a call that cannot proceed is queued in the object's waiters list by the same script
//!   that found it blocked, and its caller waits in `BLPOP` on a list of its own;
//! * the script that makes progress possible (an unlock, a put, a set) completes the
//!   queued calls in arrival order and pushes each its answer, so waiters are served FIFO;
//! * a wait that runs out cancels its ticket in one script, or takes the answer that
//!   arrived meanwhile.
//!
//! On a standalone Redis the two hottest paths take no script: an unbounded queue's puts
//! and gets, and a mutex's lock and unlock (the mutex is a token its holder `BLMOVE`s into a
//! list of its own), each one write of native commands.
//!
//! # Where Redis differs from the state server
//!
//! User-defined shared objects are refused (Redis cannot run their methods); a dead
//! process is noticed when its presence or lease lapses rather than when its connection
//! closes; some atomics and map merges are a compare-and-set loop. `docs/redis.md` has the
//! whole table.
//!
//! ```no_run
//! use strato_proto::{Answer, Call, Init, Role};
//! let state = strato_redis::RedisState::connect("redis://127.0.0.1:6379").unwrap();
//! let open = Call::Open { name: "jobs".into(), init: Init::Map, persistent: false, role: Role::Handle };
//! assert_eq!(state.call(open).unwrap(), Answer::Done);
//! ```

mod conn;
mod items;
mod keys;
pub mod local;
mod mutex;
mod ops;
mod queue;
mod reply;
mod state;
mod tasks;

pub use keys::prefix as key_prefix;
pub use state::RedisState;

/// Why a call could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Redis could not be reached.
    #[error("cannot connect to Redis at {url}: {reason}")]
    Connect {
        /// The URL tried.
        url: String,
        /// The cause.
        reason: String,
    },
    /// A command failed on an established connection.
    #[error("lost the connection to Redis: {0}")]
    Lost(String),
    /// A script answered something this client cannot read (another version's script?).
    #[error("unexpected reply from Redis: {0}")]
    Protocol(String),
}
