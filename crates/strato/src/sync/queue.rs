//! `Queue<T>`: a multi-producer multi-consumer FIFO (Python's `multiprocessing.Queue` and
//! `JoinableQueue`).

use std::marker::PhantomData;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, Role, Wait};

use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

/// A FIFO queue any number of processes put to and get from.
///
/// `task_done` and `join` work as in Python's `JoinableQueue`: `join` waits until every
/// item ever put has been matched by a `task_done`.
///
/// ```
/// use strato::sync::Queue;
/// let jobs = Queue::bounded(2);
/// jobs.put('a');
/// assert_eq!(jobs.try_put('b'), Ok(()));
/// assert_eq!(jobs.try_put('c'), Err('c'));
/// assert_eq!(jobs.get(), 'a');
/// jobs.task_done();
/// assert_eq!(jobs.len(), 1);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Queue<T> {
    handle: Handle,
    #[serde(skip)]
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            handle: self.handle.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.handle.name())
            .finish()
    }
}

fn passed(answer: Answer) -> Result<bool, Error> {
    match answer {
        Answer::Done => Ok(true),
        Answer::WouldBlock | Answer::TimedOut => Ok(false),
        other => Err(unexpected(other)),
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new anonymous, unbounded queue.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::anonymous(None, "Queue::new")
    }

    /// A new anonymous queue holding at most `capacity` items.
    pub fn bounded(capacity: usize) -> Self {
        Self::anonymous(Some(capacity as u64), "Queue::bounded")
    }

    fn anonymous(bound: Option<u64>, what: &str) -> Self {
        let client = default_client(what);
        expect(Self::open(&client, ObjectName::anonymous(), bound), what)
    }

    /// Opens the queue `name` on `client`, creating it (with capacity `bound`) if absent.
    pub fn open(
        client: &Client,
        name: impl Into<ObjectName>,
        bound: Option<u64>,
    ) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Queue { bound }, Role::Handle)?;
        Ok(Queue {
            handle,
            _item: PhantomData,
        })
    }

    /// Puts with `wait`; `Ok(Err(item))` if it was not put.
    pub fn put_with(&self, item: T, wait: Wait) -> Result<Result<(), T>, Error> {
        let op = Op::Put(encode(&item)?, wait);
        Ok(match passed(self.handle.op(op)?)? {
            true => Ok(()),
            false => Err(item),
        })
    }

    /// Puts an item, waiting while the queue is full.
    pub fn put(&self, item: T) {
        let _ = expect(self.put_with(item, Wait::Forever), "Queue::put");
    }

    /// Puts only if there is room now; `Err(item)` if full.
    pub fn try_put(&self, item: T) -> Result<(), T> {
        expect(self.put_with(item, Wait::Never), "Queue::try_put")
    }

    /// Puts, waiting at most `timeout` for room; `Err(item)` if none came.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), T> {
        expect(self.put_with(item, within(timeout)), "Queue::put_timeout")
    }

    /// Gets with `wait`; `None` if nothing came.
    pub fn get_with(&self, wait: Wait) -> Result<Option<T>, Error> {
        match self.handle.op(Op::Get(wait))? {
            Answer::Blob(blob) => decode(&blob).map(Some),
            Answer::WouldBlock | Answer::TimedOut => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the oldest item, waiting for one.
    pub fn get(&self) -> T {
        let item = expect(self.get_with(Wait::Forever), "Queue::get");
        item.expect("strato: a blocking get returned no item")
    }

    /// The oldest item, if any.
    pub fn try_get(&self) -> Option<T> {
        expect(self.get_with(Wait::Never), "Queue::try_get")
    }

    /// The oldest item, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        expect(self.get_with(within(timeout)), "Queue::get_timeout")
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        match expect(self.handle.op(Op::Len), "Queue::len") {
            Answer::Count(n) => n as usize,
            other => panic!("strato: Queue::len: {}", unexpected(other)),
        }
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks one item taken earlier as processed.
    ///
    /// # Panics
    /// If called more times than items were put (Python raises `ValueError`).
    pub fn task_done(&self) {
        expect(self.handle.op(Op::TaskDone), "Queue::task_done");
    }

    /// Waits until every item put has been marked done.
    pub fn join(&self) {
        expect(self.handle.op(Op::Join(Wait::Forever)), "Queue::join");
    }

    /// Whether every item put has been marked done, without waiting.
    pub fn try_join(&self) -> bool {
        let answer = self.handle.op(Op::Join(Wait::Never));
        expect(answer.and_then(passed), "Queue::try_join")
    }

    /// Waits at most `timeout` for every item to be marked done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let answer = self.handle.op(Op::Join(within(timeout)));
        expect(answer.and_then(passed), "Queue::join_timeout")
    }

    /// The object's name on the server.
    pub fn name(&self) -> &str {
        self.handle.name()
    }
}
