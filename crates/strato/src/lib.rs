//! # strato: the cloud as one multicore machine
//!
//! Parallel Rust written with `std::sync` — mutexes, condition variables, barriers,
//! channels, atomics — runs unchanged across many processes and machines: change the
//! `use` lines, keep the program. The shared state lives in a **state server** whose
//! objects are linearizable and whose blocking calls wait on the server.
//!
//! ```
//! // was: use std::sync::{Arc, Mutex, atomic::{AtomicU64, Ordering}};
//! use strato::sync::{Arc, Mutex, atomic::{AtomicU64, Ordering}};
//!
//! let counter = Arc::new(AtomicU64::new(0));
//! let names = Arc::new(Mutex::new(Vec::<String>::new()));
//! let handles: Vec<_> = (0..4)
//!     .map(|i| {
//!         let (counter, names) = (counter.clone(), names.clone());
//!         std::thread::spawn(move || {
//!             counter.fetch_add(1, Ordering::SeqCst);
//!             names.lock().unwrap().push(format!("t{i}"));
//!         })
//!     })
//!     .collect();
//! handles.into_iter().for_each(|h| h.join().unwrap());
//! assert_eq!(counter.load(Ordering::SeqCst), 4);
//! assert_eq!(names.lock().unwrap().len(), 4);
//! ```
//!
//! ## Where the state lives
//!
//! With no configuration, the first object a process creates starts an **embedded** state
//! server on a thread of that process; child processes reach it through
//! [`state_address`]. Set `STRATO_STATE=tcp://host:port` (a `strato serve` elsewhere) to
//! share objects between machines; [`Client::connect`] and each type's `open` take an
//! explicit connection.
//!
//! ## Where the work runs
//!
//! Executors, `Pool` and `thread` get their workers from one compute backend: `local` (child
//! processes of this program, the default) or `hosts` (workers started by `strato worker
//! --connect` daemons on any number of machines, which fetch this program's executable from
//! the state server by its hash). `STRATO_COMPUTE`, `compute.kind` in `strato.toml`, or
//! [`executor::ExecutorBuilder::compute`] chooses; the same settings file and variables choose
//! the state (`STRATO_STATE`, `STRATO_TOKEN`) and the object storage (`STRATO_STORAGE`).
//!
//! **A round trip per operation.** Every operation on a shared object goes to the state
//! server: tens of microseconds on one machine, where std pays nanoseconds. A loop doing one
//! `fetch_add` per item runs about 100 × slower than with std; the one-line fix is to add up
//! in a local variable and `fetch_add` the sum once per thread.
//!
//! ## Contents
//!
//! | module | what |
//! |---|---|
//! | [`sync`] | `Mutex`, `RwLock`, `ReentrantLock`, `Condvar`, `Barrier`, `Semaphore`, `Event`, `Promise`, `CountDownLatch`, `Queue`, `pipe`, `Value`, `Array`, `Map`, `List` |
//! | [`sync::atomic`] | every std atomic integer (`AtomicUsize`, `AtomicIsize`, `AtomicU64`…`AtomicI8`), `AtomicBool`, and `AtomicF64` |
//! | [`sync::mpsc`] | `channel`, `sync_channel`, `Sender`, `SyncSender`, `Receiver` |
//! | [`storage`] | `Storage` (local, memory, S3, HTTP), `Dataset` partitioning, `map_reduce` over datasets, storage actions (`MergeAction`, `SortSink`) |
//! | [`thread`] | `spawn`, `Builder`, `JoinHandle`, `scope`, `current`; [`closure!`] for closures that capture |
//! | [`pool`] | [`Pool`] (Python's `multiprocessing.Pool`): `map`, `imap`, `starmap`, `apply_async`, `AsyncResult` |
//!
//! ## Differences from `std`
//!
//! | std | strato | why |
//! |---|---|---|
//! | values of any type | values must be `Serialize + DeserializeOwned` | they live on the server |
//! | `MutexGuard` gives a reference into the mutex | the guard holds a copy, written back on release if it was borrowed mutably | the value is remote |
//! | `Mutex::get_mut`, `RwLock::get_mut` | absent | exclusive access cannot be proven across processes |
//! | poisoning | as std: a panic that *began* while a `Mutex` or `RwLock` write guard was held poisons it (a lock taken in a `Drop` during unwinding does not); `is_poisoned` and `clear_poison` are server calls | |
//! | `Ordering` arguments | accepted, all behave as `SeqCst` | every operation is linearizable |
//! | `ReentrantLock<RefCell<T>>` mutates the one `T` | the same: a thread's nested guards share one value, stored on the server when the outermost is released if it changed (guards of one connection) | the value is remote |
//! | atomics' `get_mut`, `as_ptr`, `from_ptr`, `compare_and_swap` (deprecated) | absent | the value is not in this process's memory |
//! | `Condvar::wait_timeout_ms` (deprecated) | absent: `wait_timeout` | |
//! | `Once`, `OnceLock`, `LazyLock`, `Weak` | std's own, re-exported: one per process, like a `static` | they hold references into this process's memory |
//! | `Barrier::wait` cannot fail | a party that times out or dies **breaks** the barrier; `wait` then panics, `wait_timeout` returns `BarrierError::Broken` | a remote party can vanish |
//! | infallible operations | a lost connection to the state server panics with the cause | as fatal as a lost memory bus |
//! | a `Mutex` held by a thread that exits without unlocking stays locked | the holder's death (its connection closing) releases and poisons it | a crashed process must not wedge the others |
//! | objects live while referenced | the same, counted per process; a serialized handle counts until received; unused objects with no live reference are collected after a TTL (1 h) | handles cross process boundaries |
//! | `Map` iteration order by `K: Ord` | by the keys' serialized bytes | the server sees bytes |

mod context;
pub mod executor;
mod handle;
pub mod pool;
pub mod shared;
pub mod storage;
pub mod sync;
pub mod thread;
mod trace;

/// The std twins of strato's declarations, for a program body compiled both ways: only the
/// `use` lines change (`use strato::local::shared;` beside `use strato::shared;`).
pub mod local {
    /// The std twin of [`closure!`](crate::closure): the bare closure.
    pub use crate::__closure_local as closure;
    pub use crate::__shared_local as shared;
}

#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use strato_macros::closure_impl;
}

/// Turns this process into a worker if it was started as one (and then never returns).
///
/// On Linux this happens before `main` on its own; elsewhere call it first thing in `main`.
/// In any other process it does nothing else than what the hook also does first in every
/// process: let `malloc` keep large freed buffers for reuse
/// ([`strato_proto::heap::keep_large_buffers`]; `STRATO_MALLOC_TUNING=0` leaves it alone).
///
/// ```
/// strato::init();
/// ```
pub fn init() {
    strato_proto::heap::keep_large_buffers();
    executor::enter_if_worker();
}

pub use context::{client, set_client, state_address, STATE_ENV};
pub use handle::ObjectName;
pub use pool::Pool;

pub use strato_client::{Client, ConnectOptions, Error, ErrorKind, LocalPipe, LocalWord};
/// A byte buffer that serializes in one piece (`serde_bytes::Blob`): send binary payloads
/// as `Queue<Bytes>` or `Pipe<Bytes>` rather than `Vec<u8>`, which serde encodes byte by byte.
///
/// ```
/// let payload = strato::Bytes::from(vec![1u8, 2, 3]);
/// assert_eq!(payload.len(), 3);
/// let back: Vec<u8> = payload.into_vec();
/// assert_eq!(back, [1, 2, 3]);
/// ```
pub use strato_proto::Blob as Bytes;
pub use trace::init_tracing;
