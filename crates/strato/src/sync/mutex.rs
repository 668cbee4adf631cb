//! `Mutex<T>`: std's guard-based mutex, with the protected value kept on the server.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// A mutual-exclusion lock protecting a `T` that lives on the state server.
///
/// `lock` fetches the value with the lock; the guard writes it back (if it was borrowed
/// mutably) as it releases the lock. A holder that panics, or whose process dies, poisons
/// the mutex, as in std.
///
/// ```
/// use std::sync::Arc;
/// use strato::sync::Mutex;
///
/// let total = Arc::new(Mutex::new(0u64));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let total = Arc::clone(&total);
///         std::thread::spawn(move || *total.lock().unwrap() += 1)
///     })
///     .collect();
/// threads.into_iter().for_each(|t| t.join().unwrap());
/// assert_eq!(*total.lock().unwrap(), 4);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Mutex<T> {
    pub(crate) handle: Handle,
    #[serde(skip)]
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Mutex<T> {
    fn clone(&self) -> Self {
        Mutex {
            handle: self.handle.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field("name", &self.handle.name())
            .finish()
    }
}

/// The lock held: derefs to the value, writes it back and unlocks on drop.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: Serialize> {
    pub(crate) mutex: &'a Mutex<T>,
    pub(crate) lease: u64,
    pub(crate) value: T,
    pub(crate) dirty: bool,
    pub(crate) released: bool,
    /// Whether the thread was already panicking when it took the lock: std poisons only
    /// when a panic began while the lock was held (not for a lock taken in a `Drop` that
    /// runs during unwinding).
    pub(crate) panicking: bool,
}

impl<T: Serialize + DeserializeOwned> Mutex<T> {
    /// A new anonymous mutex on the default state server.
    pub fn new(value: T) -> Self {
        let client = default_client("Mutex::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), value),
            "Mutex::new",
        )
    }

    /// Opens the mutex `name` on `client`, creating it with `value` if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, value: T) -> Result<Self, Error> {
        let init = Init::Mutex(encode(&value)?);
        let handle = Handle::open(client, name.into(), init, Role::Handle)?;
        Ok(Mutex {
            handle,
            _value: PhantomData,
        })
    }

    /// Blocks until the lock is acquired. `Err` carries the guard if the mutex is poisoned.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let answer = expect(self.acquire(Wait::Forever), "Mutex::lock");
        match answer {
            Some(guard) => guard,
            None => unreachable!("a blocking lock does not time out"),
        }
    }

    /// Acquires the lock if it is free now.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        into_try(expect(self.acquire(Wait::Never), "Mutex::try_lock"))
    }

    /// Waits at most `timeout` for the lock; `TryLockError::WouldBlock` when it runs out.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<MutexGuard<'_, T>> {
        into_try(expect(self.acquire(within(timeout)), "Mutex::lock_timeout"))
    }

    /// Consumes the handle and returns the value (the object stays for other handles).
    pub fn into_inner(self) -> LockResult<T> {
        let (lease, value, poisoned) = expect(self.lock_raw(), "Mutex::into_inner");
        let _ = self.handle.op(Op::Unlock {
            lease,
            value: None,
            poison: false,
        });
        let value = expect(decode(&value), "Mutex::into_inner");
        if poisoned {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }

    fn lock_raw(&self) -> Result<(u64, strato_proto::Blob, bool), Error> {
        match self.handle.op(Op::Lock(Wait::Forever))? {
            Answer::Locked {
                lease,
                value,
                poisoned,
            } => Ok((lease, value, poisoned)),
            other => Err(unexpected(other)),
        }
    }

    /// Whether a holder panicked or died holding the mutex. Another process may poison it
    /// right after: a hint, as in std.
    ///
    /// ```
    /// let m = strato::sync::Mutex::new(0);
    /// assert!(!m.is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        expect(
            crate::sync::rwlock::poison_op(&self.handle, false),
            "Mutex::is_poisoned",
        )
    }

    /// Clears the poison flag (for one who restored the value to a sound state).
    pub fn clear_poison(&self) {
        expect(
            crate::sync::rwlock::poison_op(&self.handle, true),
            "Mutex::clear_poison",
        );
    }

    /// The object's name on the server.
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    fn acquire(&self, wait: Wait) -> Result<Option<LockResult<MutexGuard<'_, T>>>, Error> {
        match self.handle.op(Op::Lock(wait))? {
            Answer::Locked {
                lease,
                value,
                poisoned,
            } => Ok(Some(self.guard(lease, &value, poisoned)?)),
            Answer::WouldBlock | Answer::TimedOut => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn guard(
        &self,
        lease: u64,
        value: &Blob,
        poisoned: bool,
    ) -> Result<LockResult<MutexGuard<'_, T>>, Error> {
        let guard = MutexGuard {
            mutex: self,
            lease,
            value: decode(value)?,
            dirty: false,
            released: false,
            panicking: std::thread::panicking(),
        };
        Ok(if poisoned {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        })
    }
}

impl<T> Mutex<T> {
    /// Releases the hold `lease` without storing a value, poisoned: what is left when the
    /// new value cannot be sent (it outgrew the server's frame limit), so that the lock is
    /// not held for ever and the next holder learns the update was lost.
    pub(crate) fn release_poisoned(&self, lease: u64) {
        let _ = self.handle.op(Op::Unlock {
            lease,
            value: None,
            poison: true,
        });
    }
}

fn into_try<G>(acquired: Option<LockResult<G>>) -> TryLockResult<G> {
    match acquired {
        Some(Ok(guard)) => Ok(guard),
        Some(Err(poisoned)) => Err(TryLockError::Poisoned(poisoned)),
        None => Err(TryLockError::WouldBlock),
    }
}

impl<T: Serialize> MutexGuard<'_, T> {
    /// The value to store on release, if it may have changed.
    pub(crate) fn write_back(&self) -> Option<strato_proto::Blob> {
        self.dirty.then(|| encode(&self.value).ok()).flatten()
    }
}

impl<T: Serialize> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.dirty = true;
        &mut self.value
    }
}

impl<T: Serialize> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let unlock = Op::Unlock {
            lease: self.lease,
            value: self.write_back(),
            poison: !self.panicking && std::thread::panicking(),
        };
        if self.mutex.handle.op(unlock).is_err() {
            self.mutex.release_poisoned(self.lease);
        }
    }
}

impl<T: Serialize + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.value, f)
    }
}
