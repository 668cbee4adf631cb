//! The std twin of a shared object: the value behind a `std::sync::Mutex`, with a `Condvar`
//! for methods that wait. [`shared!`](macro@crate::shared)'s local form builds on it, so that one
//! program body runs with threads (`use strato::local::shared`) or on the cloud
//! (`use strato::shared`).

use std::sync::{Condvar, Mutex, MutexGuard};

/// A value whose methods run one at a time under a lock, waking waiters after each call.
///
/// ```
/// let counter = strato::shared::LocalShared::new(0u32);
/// assert_eq!(counter.with(|n| { *n += 1; *n }), 1);
/// assert_eq!(counter.wait_for(|n| (*n > 0).then_some(*n)), 1);
/// ```
#[derive(Debug, Default)]
pub struct LocalShared<T> {
    value: Mutex<T>,
    changed: Condvar,
}

impl<T> LocalShared<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        LocalShared {
            value: Mutex::new(value),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the value; waiters see the change.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.notify_all();
        result
    }

    /// Runs `f` until it returns `Some`, waiting for another call to change the value between
    /// tries.
    pub fn wait_for<R>(&self, mut f: impl FnMut(&mut T) -> Option<R>) -> R {
        let mut value = self.lock();
        loop {
            if let Some(result) = f(&mut value) {
                self.changed.notify_all();
                return result;
            }
            value = self.changed.wait(value).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A copy of the value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.lock().clone()
    }
}
