//! Handles of threads: [`JoinHandle`], [`Thread`], [`ThreadId`] and [`current`].

use std::any::Any;
use std::cell::RefCell;
use std::num::NonZeroU64;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::runtime::{self, Lease};
use crate::executor::{ResponseFuture, TaskError};

/// What a task of a thread knows about its thread (its id and name), sent with the body.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    id: u64,
    name: Option<String>,
}

impl Header {
    pub(crate) fn new(name: Option<String>) -> Header {
        Header {
            id: new_id().get(),
            name,
        }
    }

    pub(crate) fn thread(&self) -> Thread {
        Thread {
            id: ThreadId(NonZeroU64::new(self.id).unwrap_or(NonZeroU64::MIN)),
            name: self.name.as_deref().map(Arc::from),
        }
    }
}

/// A thread's identifier, unique among the threads of a program and its workers.
///
/// ```
/// let here = strato::thread::current().id();
/// assert_eq!(here, strato::thread::current().id());
/// let there = strato::thread::spawn(|| strato::thread::current().id());
/// let id = there.thread().id();
/// assert_ne!(id, here);
/// assert_eq!(there.join().unwrap(), id, "the body sees its own thread");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    /// The identifier as a number (std's `ThreadId::as_u64` is unstable; this one is not).
    ///
    /// ```
    /// assert_ne!(strato::thread::current().id().as_u64().get(), 0);
    /// ```
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

/// A handle to a thread: its id and name, as `std::thread::Thread`.
///
/// ```
/// let handle = strato::thread::Builder::new()
///     .name("worker-1".into())
///     .spawn(|| strato::thread::current().name().map(str::to_string))
///     .unwrap();
/// assert_eq!(handle.thread().name(), Some("worker-1"));
/// assert_eq!(handle.join().unwrap().as_deref(), Some("worker-1"));
/// ```
#[derive(Debug, Clone)]
pub struct Thread {
    id: ThreadId,
    name: Option<Arc<str>>,
}

impl Thread {
    /// The thread's identifier.
    ///
    /// ```
    /// let me = strato::thread::current();
    /// assert_eq!(me.id(), strato::thread::current().id());
    /// ```
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name, if it was given one.
    ///
    /// ```
    /// let unnamed = strato::thread::spawn(|| ());
    /// assert_eq!(unnamed.thread().name(), None);
    /// unnamed.join().unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

thread_local! {
    /// The strato thread whose body runs on this OS thread, or this OS thread itself.
    static CURRENT: RefCell<Option<Thread>> = const { RefCell::new(None) };
}

/// The thread that calls it: inside a spawned thread's body (on its worker), that thread;
/// elsewhere, the calling OS thread (named as std names it).
///
/// ```
/// let name = strato::thread::Builder::new()
///     .name("counter".into())
///     .spawn(|| strato::thread::current().name().unwrap_or("?").to_string())
///     .unwrap();
/// assert_eq!(name.join().unwrap(), "counter");
/// ```
pub fn current() -> Thread {
    CURRENT.with(|current| {
        current
            .borrow_mut()
            .get_or_insert_with(|| {
                let name = std::thread::current().name().map(str::to_string);
                Header::new(name).thread()
            })
            .clone()
    })
}

/// Makes `header`'s thread the current one until the guard is dropped.
pub(crate) fn enter(header: Header) -> CurrentGuard {
    let previous = CURRENT.with(|current| current.replace(Some(header.thread())));
    CurrentGuard { previous }
}

/// Restores the previous current thread.
pub(crate) struct CurrentGuard {
    previous: Option<Thread>,
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// A fresh identifier: a hash of this process, this moment and a counter.
fn new_id() -> NonZeroU64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write(crate::context::unique_suffix().as_bytes());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    NonZeroU64::new(hasher.finish()).unwrap_or(NonZeroU64::MIN)
}

/// An owned permission to join a thread, as `std::thread::JoinHandle`. Dropping it
/// detaches the thread: it runs on to its end.
///
/// Like std's, it is not `#[must_use]`: `thread::spawn(..);` starts a detached thread, and
/// code shared with std must compile without warnings under both.
///
/// ```
/// let handle = strato::thread::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    future: ResponseFuture<T>,
    thread: Thread,
    lease: Option<Lease>,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(future: ResponseFuture<T>, thread: Thread, lease: Lease) -> Self {
        JoinHandle {
            future,
            thread,
            lease: Some(lease),
        }
    }

    /// The thread this handle joins.
    ///
    /// ```
    /// let handle = strato::thread::spawn(|| ());
    /// let id = handle.thread().id();
    /// assert_ne!(id, strato::thread::current().id());
    /// handle.join().unwrap();
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    pub(crate) fn future(&self) -> &ResponseFuture<T> {
        &self.future
    }
}

impl<T: DeserializeOwned> JoinHandle<T> {
    /// Waits for the thread to finish; its result, or the payload of its panic.
    ///
    /// A panic's payload is the panic message as a `String`. A thread that ended without a
    /// result for another reason (its worker process died, it outlived its
    /// [`Builder::timeout`](super::Builder::timeout)) gives the [`TaskError`] as payload.
    ///
    /// ```
    /// fn fails() -> u32 {
    ///     panic!("no luck")
    /// }
    ///
    /// let error = strato::thread::spawn(fails).join().unwrap_err();
    /// assert_eq!(error.downcast_ref::<String>().map(String::as_str), Some("no luck"));
    /// ```
    pub fn join(mut self) -> std::thread::Result<T> {
        let outcome = self.future.result();
        if let Some(lease) = self.lease.take() {
            runtime::release(lease);
        }
        outcome.map_err(payload)
    }

    /// Whether the thread has finished (so that [`join`](Self::join) will not wait).
    ///
    /// ```
    /// let handle = strato::thread::spawn(|| 1);
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.future.done()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            runtime::detach(lease, self.future.slot.clone());
        }
    }
}

/// The payload `join` returns for a task that produced no result.
fn payload(error: TaskError) -> Box<dyn Any + Send + 'static> {
    match error {
        TaskError::Panicked { message, .. } => Box::new(without_location(message)),
        other => Box::new(other),
    }
}

/// The panic message without the ` (at file:line)` the worker appends to it.
fn without_location(message: String) -> String {
    let Some((text, location)) = message.rsplit_once(" (at ") else {
        return message;
    };
    let is_location = location
        .strip_suffix(')')
        .and_then(|l| l.rsplit_once(':'))
        .is_some_and(|(_, line)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()));
    match is_location {
        true => text.to_string(),
        false => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_location_is_cut_from_panic_messages() {
        let cut = without_location("boom (at src/lib.rs:12)".into());
        assert_eq!(cut, "boom");
        let kept = without_location("a (at noon) meeting".into());
        assert_eq!(kept, "a (at noon) meeting");
    }

    #[test]
    fn ids_differ_and_headers_keep_names() {
        assert_ne!(new_id(), new_id());
        let header = Header::new(Some("x".into()));
        assert_eq!(header.thread().name(), Some("x"));
        assert_eq!(header.thread().id(), header.thread().id());
    }
}
