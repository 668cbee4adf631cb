//! Scoped threads: [`scope`] joins every thread spawned in it before it returns.
//!
//! The bodies still run in other processes, so they cannot borrow from the caller's stack
//! as std's scoped threads do: their captures travel by value, as with [`spawn`](super::spawn).

use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{de::DeserializeOwned, Serialize};

use super::handle::{JoinHandle, Thread};
use super::spawn::Spawn;
use super::Builder;
use crate::executor::{Progress, Slot, TaskStatus};

/// Runs `f` with a [`Scope`], then waits for every thread spawned in it. Panics if `f`
/// panicked or if a thread that was not joined by hand failed, as `std::thread::scope`.
///
/// ```
/// use strato::thread;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let four = 4;
/// let sum = thread::scope(|s| {
///     let a = s.spawn(|| square(3));
///     let b = s.spawn(strato::closure!(move || square(four)));
///     a.join().unwrap() + b.join().unwrap()
/// });
/// assert_eq!(sum, 25);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        threads: Mutex::new(Vec::new()),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    let a_thread_failed = scope.join_all();
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if a_thread_failed => panic!("a scoped thread panicked"),
        Ok(value) => value,
    }
}

/// Where scoped threads are spawned; see [`scope`].
///
/// ```
/// strato::thread::scope(|s| {
///     s.spawn(|| ());
/// });
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    threads: Mutex<Vec<Tracked>>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let threads = self.threads.lock().map_or(0, |t| t.len());
        f.debug_struct("Scope").field("threads", &threads).finish()
    }
}

/// A thread the scope waits for.
struct Tracked {
    slot: Arc<Slot>,
    progress: Arc<Progress>,
    joined: Arc<AtomicBool>,
}

impl<'scope> Scope<'scope, '_> {
    /// Starts a thread that the scope joins before it ends. Panics if it cannot start, as
    /// std's `Scope::spawn`.
    ///
    /// ```
    /// let n = strato::thread::scope(|s| s.spawn(|| 7).join().unwrap());
    /// assert_eq!(n, 7);
    /// ```
    pub fn spawn<F, T>(&'scope self, body: F) -> ScopedJoinHandle<'scope, T>
    where
        F: Spawn<T>,
        T: Serialize + DeserializeOwned + 'static,
    {
        Builder::new()
            .spawn_scoped(self, body)
            .unwrap_or_else(|e| panic!("strato::thread::Scope::spawn: cannot start a thread: {e}"))
    }

    pub(crate) fn track<T>(&'scope self, handle: JoinHandle<T>) -> ScopedJoinHandle<'scope, T> {
        let joined = Arc::new(AtomicBool::new(false));
        let tracked = Tracked {
            slot: handle.future().slot.clone(),
            progress: handle.future().progress().clone(),
            joined: joined.clone(),
        };
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tracked);
        ScopedJoinHandle {
            handle,
            joined,
            scope: PhantomData,
        }
    }

    /// Waits for every thread; whether one that was not joined by hand failed.
    fn join_all(&self) -> bool {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let mut failed = false;
        for thread in threads {
            let finished = || thread.slot.status() != TaskStatus::Pending;
            thread.progress.wait_until(None, finished);
            let unjoined = !thread.joined.load(Ordering::SeqCst);
            failed |= unjoined && thread.slot.status() == TaskStatus::Failed;
        }
        failed
    }
}

/// An owned permission to join a scoped thread, as std's `ScopedJoinHandle`.
///
/// ```
/// strato::thread::scope(|s| {
///     let handle = s.spawn(|| "hi".to_string());
///     assert_eq!(handle.join().unwrap(), "hi");
/// });
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<T>,
    joined: Arc<AtomicBool>,
    scope: PhantomData<&'scope ()>,
}

impl<T> std::fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("thread", self.handle.thread())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> ScopedJoinHandle<'_, T> {
    /// The thread this handle joins.
    ///
    /// ```
    /// strato::thread::scope(|s| {
    ///     let handle = s.spawn(|| ());
    ///     assert_eq!(handle.thread().name(), None);
    /// });
    /// ```
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Waits for the thread; its result or its panic's payload (see [`JoinHandle::join`]).
    ///
    /// ```
    /// strato::thread::scope(|s| assert_eq!(s.spawn(|| 9).join().unwrap(), 9));
    /// ```
    pub fn join(self) -> std::thread::Result<T> {
        self.joined.store(true, Ordering::SeqCst);
        self.handle.join()
    }

    /// Whether the thread has finished.
    ///
    /// ```
    /// strato::thread::scope(|s| {
    ///     let handle = s.spawn(|| 1);
    ///     while !handle.is_finished() {
    ///         std::thread::yield_now();
    ///     }
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}
