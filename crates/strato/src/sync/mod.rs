//! Synchronization and shared data whose state lives on the state server.
//!
//! The types mirror `std::sync` — same names, same methods, same error types where std's
//! can be built — so code written for threads keeps working when its threads become
//! processes on several machines. Each type also offers what Python's `multiprocessing`
//! users expect (`Queue`, `Event`, `Semaphore`, a `pipe`, `Value`, `Array`, shared `Map`
//! and `List`).
//!
//! Every blocking call waits **on the server**: the call is parked there and answered the
//! moment it can proceed, never polled. Each comes in three forms, `op` (wait),
//! `try_op` (do not wait) and `op_timeout` (wait at most so long).
//!
//! Each type has `new(..)`, which creates an anonymous object on the process's default
//! state server (see [`crate::client`]), and `open(&client, name, ..)`, which opens (or
//! creates) a named one on a given connection. Handles are cheap to clone and implement
//! `Serialize`/`Deserialize`: pass one to another process and it refers to the same object.
//!
//! ```
//! use std::sync::Arc;
//! use strato::sync::{atomic::{AtomicU64, Ordering}, Barrier, Mutex};
//!
//! let barrier = Arc::new(Barrier::new(2));
//! let log = Arc::new(Mutex::new(Vec::<String>::new()));
//! let hits = Arc::new(AtomicU64::new(0));
//! let worker = {
//!     let (barrier, log, hits) = (barrier.clone(), log.clone(), hits.clone());
//!     std::thread::spawn(move || {
//!         log.lock().unwrap().push("worker".to_string());
//!         hits.fetch_add(1, Ordering::SeqCst);
//!         barrier.wait();
//!     })
//! };
//! barrier.wait();
//! worker.join().unwrap();
//! assert_eq!(*log.lock().unwrap(), vec!["worker"]);
//! assert_eq!(hits.load(Ordering::SeqCst), 1);
//! ```

pub mod atomic;
mod barrier;
mod condvar;
mod data;
pub mod mpsc;
mod mutex;
mod pipe;
mod queue;
mod rwlock;
mod signals;

pub use barrier::{Barrier, BarrierError, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use data::{Array, List, Map, Merge, MergeValue, Value};
pub use mutex::{Mutex, MutexGuard};
pub use pipe::{pipe, pipe_in, PipeEnd};
pub use queue::Queue;
pub use rwlock::{ReentrantLock, ReentrantLockGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use signals::{CountDownLatch, Event, Promise, Semaphore};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult};
/// std's own, re-exported so that `use` lines port unchanged: like a `static`, each is
/// local to its process (they cannot be captured by a remote thread: they do not
/// serialize).
pub use std::sync::{LazyLock, Once, OnceLock, OnceState, Weak};
