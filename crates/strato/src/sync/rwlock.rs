//! `RwLock<T>` (std's readers-writer lock) and `ReentrantLock<T>`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// A readers-writer lock protecting a `T` on the server: many readers or one writer.
/// Readers arriving after a waiting writer queue behind it, so writers do not starve.
///
/// ```
/// use strato::sync::RwLock;
/// let config = RwLock::new(vec![1, 2]);
/// {
///     let r1 = config.read().unwrap();
///     let r2 = config.read().unwrap();
///     assert_eq!(r1.len() + r2.len(), 4);
/// }
/// config.write().unwrap().push(3);
/// assert_eq!(*config.read().unwrap(), vec![1, 2, 3]);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RwLock<T> {
    handle: Handle,
    #[serde(skip)]
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLock")
            .field("name", &self.handle.name())
            .finish()
    }
}

/// Shared access; released on drop.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    lease: u64,
    value: T,
}

/// Exclusive access; writes the value back and releases on drop.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: Serialize> {
    lock: &'a RwLock<T>,
    lease: u64,
    /// `None` only once downgraded.
    value: Option<T>,
    dirty: bool,
    /// Whether the thread was already panicking when it took the lock: std poisons only
    /// when a panic began while the lock was held.
    panicking: bool,
    /// Released (downgraded): nothing left to do on drop.
    released: bool,
}

impl<T: Serialize + DeserializeOwned> RwLock<T> {
    /// A new anonymous lock on the default state server.
    pub fn new(value: T) -> Self {
        let client = default_client("RwLock::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), value),
            "RwLock::new",
        )
    }

    /// Opens the lock `name` on `client`, creating it with `value` if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, value: T) -> Result<Self, Error> {
        let handle = Handle::open(
            client,
            name.into(),
            Init::RwLock(encode(&value)?),
            Role::Handle,
        )?;
        Ok(RwLock {
            handle,
            _value: PhantomData,
        })
    }

    /// Blocks until shared access is granted.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        unwrap_blocking(expect(self.read_with(Wait::Forever), "RwLock::read"))
    }

    /// Shared access if available now.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        into_try(expect(self.read_with(Wait::Never), "RwLock::try_read"))
    }

    /// Shared access within `timeout` (`WouldBlock` when it runs out).
    pub fn read_timeout(&self, timeout: Duration) -> TryLockResult<RwLockReadGuard<'_, T>> {
        into_try(expect(
            self.read_with(within(timeout)),
            "RwLock::read_timeout",
        ))
    }

    /// Blocks until exclusive access is granted.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        unwrap_blocking(expect(self.write_with(Wait::Forever), "RwLock::write"))
    }

    /// Exclusive access if available now.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        into_try(expect(self.write_with(Wait::Never), "RwLock::try_write"))
    }

    /// Exclusive access within `timeout` (`WouldBlock` when it runs out).
    pub fn write_timeout(&self, timeout: Duration) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        into_try(expect(
            self.write_with(within(timeout)),
            "RwLock::write_timeout",
        ))
    }

    /// Whether a writer panicked or died holding the lock. Another process may poison it
    /// right after: a hint, as in std.
    pub fn is_poisoned(&self) -> bool {
        expect(poison_op(&self.handle, false), "RwLock::is_poisoned")
    }

    /// Clears the poison flag (for one who restored the value to a sound state).
    pub fn clear_poison(&self) {
        expect(poison_op(&self.handle, true), "RwLock::clear_poison");
    }

    /// Consumes the handle and returns the value (the object stays for other handles);
    /// `Err` carries it if the lock is poisoned.
    ///
    /// ```
    /// let lock = strato::sync::RwLock::new(String::from("a"));
    /// lock.write().unwrap().push('b');
    /// assert_eq!(lock.into_inner().unwrap(), "ab");
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let granted = self.handle.op(Op::ReadLock(Wait::Forever)).and_then(grant);
        let (lease, value, poisoned) = expect(granted, "RwLock::into_inner")
            .expect("strato: a blocking read lock returned without the lock");
        let _ = self.handle.op(Op::ReadUnlock { lease });
        poison_if(expect(decode(&value), "RwLock::into_inner"), poisoned)
    }

    fn read_with(&self, wait: Wait) -> Result<Option<LockResult<RwLockReadGuard<'_, T>>>, Error> {
        let Some((lease, value, poisoned)) = grant(self.handle.op(Op::ReadLock(wait))?)? else {
            return Ok(None);
        };
        let guard = RwLockReadGuard {
            lock: self,
            lease,
            value: decode(&value)?,
        };
        Ok(Some(poison_if(guard, poisoned)))
    }

    fn write_with(&self, wait: Wait) -> Result<Option<LockResult<RwLockWriteGuard<'_, T>>>, Error> {
        let Some((lease, value, poisoned)) = grant(self.handle.op(Op::WriteLock(wait))?)? else {
            return Ok(None);
        };
        let guard = RwLockWriteGuard {
            lock: self,
            lease,
            value: Some(decode(&value)?),
            dirty: false,
            panicking: std::thread::panicking(),
            released: false,
        };
        Ok(Some(poison_if(guard, poisoned)))
    }
}

/// The lease, value and poison flag of a granted lock; `None` if it would block.
pub(crate) fn grant(answer: Answer) -> Result<Option<(u64, strato_proto::Blob, bool)>, Error> {
    match answer {
        Answer::Locked {
            lease,
            value,
            poisoned,
        } => Ok(Some((lease, value, poisoned))),
        Answer::WouldBlock | Answer::TimedOut => Ok(None),
        other => Err(unexpected(other)),
    }
}

/// `Op::Poison` on a lock: the flag as it was.
pub(crate) fn poison_op(handle: &Handle, clear: bool) -> Result<bool, Error> {
    match handle.op(Op::Poison { clear })? {
        Answer::Bool(poisoned) => Ok(poisoned),
        other => Err(unexpected(other)),
    }
}

fn poison_if<G>(guard: G, poisoned: bool) -> LockResult<G> {
    if poisoned {
        Err(PoisonError::new(guard))
    } else {
        Ok(guard)
    }
}

fn unwrap_blocking<G>(acquired: Option<LockResult<G>>) -> LockResult<G> {
    acquired.expect("strato: a blocking lock returned without the lock")
}

fn into_try<G>(acquired: Option<LockResult<G>>) -> TryLockResult<G> {
    match acquired {
        Some(Ok(guard)) => Ok(guard),
        Some(Err(poisoned)) => Err(TryLockError::Poisoned(poisoned)),
        None => Err(TryLockError::WouldBlock),
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.lock.handle.op(Op::ReadUnlock { lease: self.lease });
    }
}

impl<T: Serialize> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value()
    }
}

impl<T: Serialize> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.dirty = true;
        self.value
            .as_mut()
            .expect("a write guard holds its value until downgraded")
    }
}

impl<'a, T: Serialize> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without releasing the lock: no writer can
    /// come in between, and other readers may join (std's `RwLockWriteGuard::downgrade`).
    ///
    /// ```
    /// use strato::sync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let mut write = lock.write().unwrap();
    /// *write = 2;
    /// let read = RwLockWriteGuard::downgrade(write);
    /// assert_eq!(*read, 2);
    /// assert_eq!(*lock.try_read().unwrap(), 2); // readers share it now
    /// assert!(lock.try_write().is_err());       // a writer still waits
    /// ```
    pub fn downgrade(mut s: Self) -> RwLockReadGuard<'a, T> {
        let value = s
            .value
            .take()
            .expect("a write guard holds its value until downgraded");
        let op = Op::Downgrade {
            lease: s.lease,
            value: s.dirty.then(|| encode(&value).ok()).flatten(),
        };
        s.released = true;
        expect(
            s.lock.handle.op(op).and_then(|answer| match answer {
                Answer::Done => Ok(()),
                other => Err(unexpected(other)),
            }),
            "RwLockWriteGuard::downgrade",
        );
        RwLockReadGuard {
            lock: s.lock,
            lease: s.lease,
            value,
        }
    }

    fn value(&self) -> &T {
        self.value
            .as_ref()
            .expect("a write guard holds its value until downgraded")
    }
}

impl<T: Serialize> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let unlock = Op::WriteUnlock {
            lease: self.lease,
            value: self.dirty.then(|| encode(self.value()).ok()).flatten(),
            poison: !self.panicking && std::thread::panicking(),
        };
        if self.lock.handle.op(unlock).is_err() {
            // The new value cannot be sent (over the frame limit): release, poisoned.
            let unlock = Op::WriteUnlock {
                lease: self.lease,
                value: None,
                poison: true,
            };
            let _ = self.lock.handle.op(unlock);
        }
    }
}

/// A lock that the thread holding it may take again (Python's `RLock`). As with std's
/// `ReentrantLock`, the guard gives shared access (`&T`): mutate through interior
/// mutability, a `RefCell` or `Cell` inside. The guards a thread holds at once share one
/// value, and when the outermost is released a changed value is stored on the server.
///
/// ```
/// use std::cell::RefCell;
/// use strato::sync::ReentrantLock;
///
/// let lock = ReentrantLock::new(RefCell::new(vec![1]));
/// {
///     let outer = lock.lock();
///     outer.borrow_mut().push(2);
///     let inner = lock.lock(); // same thread: does not deadlock, sees the push
///     inner.borrow_mut().push(3);
/// }
/// assert_eq!(*lock.lock().borrow(), vec![1, 2, 3]);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ReentrantLock<T> {
    handle: Handle,
    #[serde(skip)]
    _value: PhantomData<fn() -> T>,
}

/// One level of a held [`ReentrantLock`]; releases that level on drop. Not `Send`: it
/// belongs to the thread that holds the lock, as std's does.
#[must_use = "if unused the ReentrantLock will immediately unlock"]
pub struct ReentrantLockGuard<'a, T: Serialize + 'static> {
    lock: &'a ReentrantLock<T>,
    value: Rc<T>,
}

/// This thread's owner id for re-entrant locks (unique within the process).
fn thread_owner() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static OWNER: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    OWNER.with(|id| *id)
}

/// The value of a re-entrant lock this thread holds: shared by its guards, with the bytes it
/// had when taken (to tell whether it changed).
struct Held {
    depth: usize,
    value: Rc<dyn Any>,
    taken: strato_proto::Blob,
}

thread_local! {
    /// The re-entrant locks this thread holds, by connection and name (the server's owner is
    /// the thread on one connection).
    static HELD: RefCell<HashMap<(u64, String), Held>> = RefCell::new(HashMap::new());
}

impl<T: Serialize + DeserializeOwned + 'static> ReentrantLock<T> {
    /// A new anonymous lock on the default state server.
    pub fn new(value: T) -> Self {
        let client = default_client("ReentrantLock::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), value),
            "ReentrantLock::new",
        )
    }

    /// Opens the lock `name` on `client`, creating it with `value` if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, value: T) -> Result<Self, Error> {
        let init = Init::ReentrantLock(encode(&value)?);
        let handle = Handle::open(client, name.into(), init, Role::Handle)?;
        Ok(ReentrantLock {
            handle,
            _value: PhantomData,
        })
    }

    /// Blocks until this thread holds the lock (at once if it already does).
    pub fn lock(&self) -> ReentrantLockGuard<'_, T> {
        let guard = expect(self.lock_with(Wait::Forever), "ReentrantLock::lock");
        guard.expect("strato: a blocking lock returned without the lock")
    }

    /// The lock if this thread can hold it now.
    pub fn try_lock(&self) -> Option<ReentrantLockGuard<'_, T>> {
        expect(self.lock_with(Wait::Never), "ReentrantLock::try_lock")
    }

    /// The lock within `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<ReentrantLockGuard<'_, T>> {
        expect(
            self.lock_with(within(timeout)),
            "ReentrantLock::lock_timeout",
        )
    }

    fn lock_with(&self, wait: Wait) -> Result<Option<ReentrantLockGuard<'_, T>>, Error> {
        let op = Op::ReentrantLock {
            owner: thread_owner(),
            wait,
        };
        let Some((_, taken, _)) = grant(self.handle.op(op)?)? else {
            return Ok(None);
        };
        let value = HELD.with(|held| -> Result<Rc<T>, Error> {
            let mut held = held.borrow_mut();
            let entry = match held.entry(self.key()) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(Held {
                    depth: 0,
                    value: Rc::new(decode::<T>(&taken)?),
                    taken,
                }),
            };
            entry.depth += 1;
            Ok(Rc::clone(&entry.value)
                .downcast::<T>()
                .expect("a held re-entrant lock keeps its type"))
        })?;
        Ok(Some(ReentrantLockGuard { lock: self, value }))
    }
}

impl<T> ReentrantLock<T> {
    fn key(&self) -> (u64, String) {
        (
            self.handle.client().connection_id(),
            self.handle.name().to_string(),
        )
    }
}

impl<T: Serialize> Deref for ReentrantLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> Drop for ReentrantLockGuard<'_, T> {
    fn drop(&mut self) {
        // The outermost guard stores the value if it changed.
        let released = HELD.with(|held| {
            let mut held = held.borrow_mut();
            let key = self.lock.key();
            let entry = held.get_mut(&key)?;
            entry.depth -= 1;
            if entry.depth > 0 {
                return None;
            }
            held.remove(&key).map(|entry| entry.taken)
        });
        let value = released.and_then(|taken| {
            let now = encode(&*self.value).ok()?;
            (now != taken).then_some(now)
        });
        let unlock = Op::ReentrantUnlock {
            owner: thread_owner(),
            value,
        };
        let _ = self.lock.handle.op(unlock);
    }
}
