//! Coordination objects beyond std: `Semaphore`, `Event`, `Promise`, `CountDownLatch`.

use std::marker::PhantomData;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, ErrorKind, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// Whether a blocking call passed (`Done`) or not (`WouldBlock`/`TimedOut`).
fn passed(answer: Answer) -> Result<bool, Error> {
    match answer {
        Answer::Done => Ok(true),
        Answer::WouldBlock | Answer::TimedOut => Ok(false),
        other => Err(unexpected(other)),
    }
}

fn flag(answer: Answer) -> Result<bool, Error> {
    match answer {
        Answer::Bool(b) => Ok(b),
        other => Err(unexpected(other)),
    }
}

fn count(answer: Answer) -> Result<u64, Error> {
    match answer {
        Answer::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

/// A counting semaphore (Python's `Semaphore`, or `BoundedSemaphore` from
/// [`Semaphore::bounded`]).
///
/// ```
/// use strato::sync::Semaphore;
/// let slots = Semaphore::new(2);
/// slots.acquire();
/// assert!(slots.try_acquire());
/// assert!(!slots.try_acquire());
/// slots.release().unwrap();
/// assert_eq!(slots.available_permits(), 1);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Semaphore {
    handle: Handle,
}

impl Semaphore {
    /// A new anonymous, unbounded semaphore with `permits` permits.
    pub fn new(permits: u64) -> Self {
        Self::anonymous(permits, None, "Semaphore::new")
    }

    /// A new anonymous semaphore that refuses to be released above `permits`.
    pub fn bounded(permits: u64) -> Self {
        Self::anonymous(permits, Some(permits), "Semaphore::bounded")
    }

    fn anonymous(permits: u64, bound: Option<u64>, what: &str) -> Self {
        let client = default_client(what);
        expect(
            Self::open(&client, ObjectName::anonymous(), permits, bound),
            what,
        )
    }

    /// Opens the semaphore `name` on `client`, creating it if absent.
    pub fn open(
        client: &Client,
        name: impl Into<ObjectName>,
        permits: u64,
        bound: Option<u64>,
    ) -> Result<Self, Error> {
        let init = Init::Semaphore { permits, bound };
        let handle = Handle::open(client, name.into(), init, Role::Handle)?;
        Ok(Semaphore { handle })
    }

    fn acquire_with(&self, wait: Wait, what: &str) -> bool {
        expect(self.handle.op(Op::Acquire(1, wait)).and_then(passed), what)
    }

    /// Takes a permit, waiting for one.
    pub fn acquire(&self) {
        self.acquire_with(Wait::Forever, "Semaphore::acquire");
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> bool {
        self.acquire_with(Wait::Never, "Semaphore::try_acquire")
    }

    /// Takes a permit within `timeout`; false if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_with(within(timeout), "Semaphore::acquire_timeout")
    }

    /// Gives a permit back; an error ([`ErrorKind::Overflow`]) if that exceeds the bound.
    pub fn release(&self) -> Result<(), Error> {
        self.handle.op(Op::Release(1)).map(drop)
    }

    /// Permits free now.
    pub fn available_permits(&self) -> u64 {
        expect(
            self.handle.op(Op::Available).and_then(count),
            "Semaphore::available_permits",
        )
    }
}

/// A flag that threads wait to see set (Python's `threading.Event`).
///
/// ```
/// use strato::sync::Event;
/// let started = Event::new();
/// assert!(!started.wait_timeout(std::time::Duration::from_millis(1)));
/// started.set();
/// started.wait();
/// assert!(started.is_set());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    handle: Handle,
}

impl Event {
    /// A new anonymous, clear event.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let client = default_client("Event::new");
        expect(Self::open(&client, ObjectName::anonymous()), "Event::new")
    }

    /// Opens the event `name` on `client`, creating it clear if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Event, Role::Handle)?;
        Ok(Event { handle })
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        expect(self.handle.op(Op::EventSet), "Event::set");
    }

    /// Clears the flag.
    pub fn clear(&self) {
        expect(self.handle.op(Op::EventClear), "Event::clear");
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        expect(
            self.handle.op(Op::EventIsSet).and_then(flag),
            "Event::is_set",
        )
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        expect(self.handle.op(Op::EventWait(Wait::Forever)), "Event::wait");
    }

    /// Whether the flag is set, without waiting.
    pub fn try_wait(&self) -> bool {
        expect(
            self.handle.op(Op::EventWait(Wait::Never)).and_then(passed),
            "Event::try_wait",
        )
    }

    /// Waits at most `timeout`; whether the flag was set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let answer = self.handle.op(Op::EventWait(within(timeout)));
        expect(answer.and_then(passed), "Event::wait_timeout")
    }
}

/// A value set once and awaited by anyone (a future/promise across processes).
///
/// ```
/// use strato::sync::Promise;
/// let answer = Promise::new();
/// assert_eq!(answer.try_get(), None);
/// answer.set(42).unwrap();
/// assert_eq!(answer.set(43), Err(43));
/// assert_eq!(answer.get(), 42);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Promise<T> {
    handle: Handle,
    #[serde(skip)]
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise {
            handle: self.handle.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Promise")
            .field("name", &self.handle.name())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Promise<T> {
    /// A new anonymous, unset promise.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let client = default_client("Promise::new");
        expect(Self::open(&client, ObjectName::anonymous()), "Promise::new")
    }

    /// Opens the promise `name` on `client`, creating it unset if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Future, Role::Handle)?;
        Ok(Promise {
            handle,
            _value: PhantomData,
        })
    }

    /// Sets the value; `Err(value)` if it was already set.
    pub fn set(&self, value: T) -> Result<(), T> {
        let blob = expect(encode(&value), "Promise::set");
        match self.handle.op(Op::FutureSet(blob)) {
            Ok(_) => Ok(()),
            Err(e) if e.server_kind() == Some(ErrorKind::AlreadySet) => Err(value),
            Err(e) => panic!("strato: Promise::set failed: {e}"),
        }
    }

    fn get_with(&self, wait: Wait, what: &str) -> Option<T> {
        let value = self
            .handle
            .op(Op::FutureGet(wait))
            .and_then(|answer| match answer {
                Answer::Blob(blob) => decode(&blob).map(Some),
                Answer::WouldBlock | Answer::TimedOut => Ok(None),
                other => Err(unexpected(other)),
            });
        expect(value, what)
    }

    /// Waits for the value.
    pub fn get(&self) -> T {
        self.get_with(Wait::Forever, "Promise::get")
            .expect("strato: a blocking get returned no value")
    }

    /// The value if set.
    pub fn try_get(&self) -> Option<T> {
        self.get_with(Wait::Never, "Promise::try_get")
    }

    /// The value if it is set within `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.get_with(within(timeout), "Promise::get_timeout")
    }

    /// Whether the value is set.
    pub fn is_set(&self) -> bool {
        expect(
            self.handle.op(Op::FutureIsSet).and_then(flag),
            "Promise::is_set",
        )
    }
}

/// Waiters wait for a count to reach zero (Java's `CountDownLatch`).
///
/// ```
/// use strato::sync::CountDownLatch;
/// let done = CountDownLatch::new(2);
/// done.count_down();
/// assert!(!done.try_wait());
/// done.count_down();
/// done.wait();
/// assert_eq!(done.count(), 0);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountDownLatch {
    handle: Handle,
}

impl CountDownLatch {
    /// A new anonymous latch at `count`.
    pub fn new(count: u64) -> Self {
        let client = default_client("CountDownLatch::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), count),
            "CountDownLatch::new",
        )
    }

    /// Opens the latch `name` on `client`, creating it at `count` if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, count: u64) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Latch(count), Role::Handle)?;
        Ok(CountDownLatch { handle })
    }

    /// Decrements the count (not below zero), waking waiters at zero.
    pub fn count_down(&self) {
        expect(self.handle.op(Op::CountDown), "CountDownLatch::count_down");
    }

    /// The current count.
    pub fn count(&self) -> u64 {
        expect(
            self.handle.op(Op::LatchCount).and_then(count),
            "CountDownLatch::count",
        )
    }

    /// Waits for zero.
    pub fn wait(&self) {
        expect(
            self.handle.op(Op::LatchWait(Wait::Forever)),
            "CountDownLatch::wait",
        );
    }

    /// Whether the count is zero, without waiting.
    pub fn try_wait(&self) -> bool {
        let answer = self.handle.op(Op::LatchWait(Wait::Never));
        expect(answer.and_then(passed), "CountDownLatch::try_wait")
    }

    /// [`CountDownLatch::wait_timeout`], with a lost state server as an error.
    pub(crate) fn try_wait_for(&self, timeout: Duration) -> Result<bool, crate::Error> {
        self.handle
            .op(Op::LatchWait(within(timeout)))
            .and_then(passed)
    }

    /// Waits at most `timeout`; whether zero was reached.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let answer = self.handle.op(Op::LatchWait(within(timeout)));
        expect(answer.and_then(passed), "CountDownLatch::wait_timeout")
    }
}
