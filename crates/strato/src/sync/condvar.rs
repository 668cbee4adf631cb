//! `Condvar`: std's condition variable, with waiters parked on the server.

use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, Role, Wait};

use super::{Mutex, MutexGuard};
use crate::handle::{default_client, expect, unexpected, within, Handle};
use crate::ObjectName;

/// A condition variable for a [`Mutex`]: `wait` releases the mutex and parks on the server
/// in one step, so no notification is lost between them; a notified waiter re-acquires the
/// mutex before it returns. As with std, a waiter may wake without a notification only
/// when its timeout runs out; loop on the condition (or use `wait_while`).
///
/// ```
/// use std::sync::Arc;
/// use strato::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     let (ready, cvar) = &*pair2;
///     *ready.lock().unwrap() = true;
///     cvar.notify_one();
/// });
/// let (ready, cvar) = &*pair;
/// let guard = cvar.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*guard);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Condvar {
    handle: Handle,
}

/// Whether a timed wait returned because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

type Woken<'a, T> = (LockResult<MutexGuard<'a, T>>, bool);

impl Condvar {
    /// A new anonymous condvar on the default state server.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let client = default_client("Condvar::new");
        expect(Self::open(&client, ObjectName::anonymous()), "Condvar::new")
    }

    /// Opens the condvar `name` on `client`, creating it if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Condvar, Role::Handle)?;
        Ok(Condvar { handle })
    }

    /// Releases the guard's mutex, waits for a notification, re-acquires the mutex.
    pub fn wait<'a, T: Serialize + DeserializeOwned>(
        &self,
        guard: MutexGuard<'a, T>,
    ) -> LockResult<MutexGuard<'a, T>> {
        expect(self.park(guard, Wait::Forever), "Condvar::wait").0
    }

    /// Waits until `condition` is false, re-checking after every wake-up.
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// As [`Condvar::wait`], giving up after `timeout`.
    pub fn wait_timeout<'a, T: Serialize + DeserializeOwned>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (result, timed_out) =
            expect(self.park(guard, within(timeout)), "Condvar::wait_timeout");
        with_timeout(result, timed_out)
    }

    /// Waits until `condition` is false or `timeout` has passed.
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now() + timeout;
        while condition(&mut *guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_timeout(guard, left)?.0;
        }
        Ok((guard, WaitTimeoutResult(false)))
    }

    /// Wakes one waiter, the one that has waited longest.
    pub fn notify_one(&self) {
        expect(self.handle.op(Op::NotifyOne), "Condvar::notify_one");
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        expect(self.handle.op(Op::NotifyAll), "Condvar::notify_all");
    }

    fn park<'a, T: Serialize + DeserializeOwned>(
        &self,
        mut guard: MutexGuard<'a, T>,
        wait: Wait,
    ) -> Result<Woken<'a, T>, Error> {
        guard.released = true;
        let mutex: &'a Mutex<T> = guard.mutex;
        let lease = guard.lease;
        let op = Op::CondWait {
            mutex: mutex.name().to_string(),
            lease,
            value: guard.write_back(),
            wait,
        };
        drop(guard);
        // A wait that fails (say, its value outgrew the frame limit) may leave the mutex held:
        // release it, poisoned, as std's guard is on the panic that follows.
        let answer = self
            .handle
            .op(op)
            .inspect_err(|_| mutex.release_poisoned(lease))?;
        match answer {
            Answer::Woken {
                lease,
                value,
                poisoned,
                timed_out,
            } => Ok((mutex.guard(lease, &value, poisoned)?, timed_out)),
            other => Err(unexpected(other)),
        }
    }
}

fn with_timeout<G>(result: LockResult<G>, timed_out: bool) -> LockResult<(G, WaitTimeoutResult)> {
    let flag = WaitTimeoutResult(timed_out);
    match result {
        Ok(guard) => Ok((guard, flag)),
        Err(poisoned) => Err(PoisonError::new((poisoned.into_inner(), flag))),
    }
}
