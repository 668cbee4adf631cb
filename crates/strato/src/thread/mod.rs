//! Threads whose bodies run in worker processes, shaped like `std::thread`.
//!
//! [`spawn`] takes what `std::thread::spawn` takes, with one change for closures that
//! capture variables: they are wrapped in [`closure!`](crate::closure), which serializes
//! their captures. Plain `fn` items and closures without captures go as they are. A
//! [`JoinHandle`] gives the result, or the panic, at [`join`](JoinHandle::join).
//!
//! ```
//! // was: use std::thread; use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
//! use strato::sync::{atomic::{AtomicU64, Ordering}, Arc};
//! use strato::{closure, thread};
//!
//! let hits = Arc::new(AtomicU64::new(0));
//! let handles: Vec<_> = (0..3)
//!     .map(|i| {
//!         let hits = hits.clone();
//!         thread::spawn(closure!(move || {
//!             hits.fetch_add(1, Ordering::SeqCst);
//!             i * 10
//!         }))
//!     })
//!     .collect();
//! let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(results, vec![0, 10, 20]);
//! assert_eq!(hits.load(Ordering::SeqCst), 3);
//! ```
//!
//! A body written once can be compiled against both std and strato: `closure!` has a std
//! twin, [`strato::local::closure!`](crate::local::closure), that expands to the bare
//! closure, so only the `use` lines differ.
//!
//! ## Where threads run
//!
//! Each running thread has a worker process of its own (threads may block on each other,
//! so one must never wait in line behind another). The first spawn starts the state server
//! if the program has none; a worker whose thread ended is kept warm for the next spawn
//! (up to 16 idle ones), and idle workers stop when the program exits. A thread body may
//! spawn threads too: they get worker processes of their own.
//!
//! ## Differences from `std::thread`
//!
//! | std | strato | why |
//! |---|---|---|
//! | `spawn` takes any `FnOnce() -> T + Send + 'static` | a `fn` item, a closure without captures, or a capturing closure wrapped in `closure!(move \|\| …)` | the body runs in another process |
//! | captures and results of any `Send` type | captures and `T` are `Serialize + DeserializeOwned` (a `&'static str` result becomes a `String`) | they cross processes |
//! | threads share memory: a captured `Arc<std::sync::Mutex<_>>` is the same mutex | captures are copies; share state through [`crate::sync`] handles, which travel as references to one object | processes share no memory |
//! | `static`s and `thread_local!`s | one copy per worker process; a warm worker may have run other threads before | |
//! | a thread is an OS thread, started in microseconds | a thread is a worker process while it runs; a cold start takes milliseconds, a warm one a round trip | |
//! | a panic's payload is whatever was given to `panic!` (`&str`, `String`, `panic_any`) | always a `String` of the message (the worker's location is cut) | the payload crosses processes as text |
//! | a panicking thread prints its message | the message travels to `join`; nothing is printed | |
//! | a crashed thread takes the process with it | only its worker dies; `join` gives `Err` with a [`TaskError::WorkerLost`](crate::executor::TaskError) payload; the body is not run again | |
//! | threads cannot be stopped | [`Builder::timeout`] ends a thread that runs too long (`TaskError::Timeout` payload) | |
//! | `Builder::stack_size` | accepted and ignored | |
//! | `park`, `park_timeout`, `Thread::unpark` | absent: use [`crate::sync`]'s `Event`, `Semaphore` or `Condvar` | |
//! | [`scope`]'d threads may borrow from the caller's stack | `scope` joins its threads, but bodies cannot borrow: captures travel by value | |
//! | `ThreadId::as_u64` is unstable | [`ThreadId::as_u64`] exists | |
//! | `available_parallelism`, `sleep`, `yield_now`, `panicking` | std's, re-exported (`available_parallelism` counts this machine's cores) | |
//! | returning from `main` ends every thread | the same: idle workers stop at exit, running ones when the program's state server goes away | |

mod builder;
mod handle;
mod runtime;
mod scope;
mod spawn;

use serde::{de::DeserializeOwned, Serialize};

pub use builder::Builder;
#[doc(hidden)]
pub use handle::Header;
pub use handle::{current, JoinHandle, Thread, ThreadId};
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use spawn::{Closure, Spawn};
pub use std::thread::{available_parallelism, panicking, sleep, yield_now, Result};

/// Starts a thread running `body` in a worker process and returns its [`JoinHandle`].
///
/// `body` is a `fn` item, a closure without captures, or a capturing closure wrapped in
/// [`closure!`](crate::closure). Panics if no worker can be started, as std's `spawn` does
/// when the system cannot make a thread; [`Builder::spawn`] returns the error instead.
///
/// ```
/// use strato::thread;
///
/// fn hello() -> String {
///     format!("hello from process {}", std::process::id())
/// }
///
/// let handle = thread::spawn(hello);
/// let greeting = handle.join().unwrap();
/// assert_ne!(greeting, hello(), "the body ran in another process");
/// ```
pub fn spawn<F, T>(body: F) -> JoinHandle<T>
where
    F: Spawn<T>,
    T: Serialize + DeserializeOwned + 'static,
{
    Builder::new()
        .spawn(body)
        .unwrap_or_else(|e| panic!("strato::thread::spawn: cannot start a thread: {e}"))
}
