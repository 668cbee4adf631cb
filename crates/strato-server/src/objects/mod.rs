//! The built-in object kinds and the operations each accepts.
//!
//! An operation either completes ([`Step::Done`]) or cannot proceed yet ([`Step::Blocked`]);
//! a blocked call is parked and retried, in arrival order, whenever its object changes.

mod atomic;
mod channel;
mod custom;
mod data;
mod locks;
mod pipe;
mod signals;
mod tasks;

pub(crate) use atomic::AtomicCell;
pub(crate) use channel::{Channel, Queue};
pub use custom::{CustomFactory, CustomObject, Invoked};
pub(crate) use data::{Array, List, Map, ValueCell};
pub(crate) use locks::{wait_of, Mutex, ReentrantLock, RwLock, Semaphore};
pub(crate) use pipe::{Pipe, PipeSockets};
pub(crate) use signals::{Barrier, Condvar, Event, Future, Latch};
pub(crate) use tasks::{Delivery, TaskBoard};

use strato_proto::{Answer, ErrorKind, Init, Kind, Op};

use crate::table::WaiterId;

/// The outcome of one attempt at an operation.
#[derive(Debug)]
pub(crate) enum Step {
    /// Finished with this answer.
    Done(Answer),
    /// Cannot proceed now; park and retry on change.
    Blocked,
}

/// What an operation may know of its surroundings.
pub(crate) struct Ctx<'a> {
    /// Who asks: also the lease id of a lock it takes.
    pub caller: WaiterId,
    /// References alive per role: handles, senders, receivers.
    pub refs: RoleCounts,
    /// The calls parked on this object, oldest first.
    pub parked: &'a [crate::table::Waiter],
    /// The server's shared-memory arena, if it has one.
    pub arena: Option<&'a strato_proto::arena::Arena>,
}

/// References alive in each role.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RoleCounts {
    pub senders: u64,
    pub receivers: u64,
}

/// One object's state, in 16 bytes: an atomic's value inline (the tag sits in its niche),
/// every other kind in at most 8 bytes, boxed if larger, so that the million atomics a
/// server may hold do not each take the room of the largest kind.
#[derive(Debug)]
pub(crate) enum Object {
    Atomic(AtomicCell),
    Value(Box<ValueCell>),
    Array(Box<Array>),
    Map(Box<Map>),
    List(Box<List>),
    Mutex(Box<Mutex>),
    RwLock(Box<RwLock>),
    ReentrantLock(Box<ReentrantLock>),
    Semaphore(Box<Semaphore>),
    Condvar(Box<Condvar>),
    Event(Event),
    Barrier(Box<Barrier>),
    Future(Box<Future>),
    Latch(Latch),
    Channel(Box<Channel>),
    Pipe(Box<Pipe>),
    Queue(Box<Queue>),
    TaskBoard(Box<TaskBoard>),
    /// Boxed twice: a `Box<dyn …>` is two words, which would make every object 24 bytes.
    Custom(Box<Box<dyn CustomObject>>),
}

impl Object {
    /// A new object built from `init`; user-defined types need a `factory`.
    pub fn create(init: Init, factory: Option<&dyn CustomFactory>) -> Result<Object, Answer> {
        if let Init::Pipe = init {
            return Ok(match Pipe::new(strato_proto::DEFAULT_MAX_FRAME) {
                Ok(pipe) => Object::Pipe(Box::new(pipe)),
                // Out of descriptors, say: the same pipe, kept by the server as a channel
                // (no end attaches; every message goes through the server).
                Err(e) => {
                    tracing::warn!(
                        "a pipe without its own socket ({e}): it goes through the server"
                    );
                    Object::Channel(Box::new(Channel::new(None)))
                }
            });
        }
        if let Init::PackedArray { item_bytes, packed } = &init {
            return Ok(Object::Array(Box::new(Array::packed(*item_bytes, packed)?)));
        }
        let Init::Custom {
            type_name,
            binary,
            factory: constructor,
            state,
        } = init
        else {
            return Ok(Object::new(init));
        };
        let Some(factory) = factory else {
            let message = format!(
                "this state server cannot host the user-defined type `{type_name}`: it does not \
                 run the program that defines it (use the program's embedded state server, or a \
                 `strato serve` without --no-user-objects)"
            );
            return Err(error(ErrorKind::Unsupported, message));
        };
        match factory.create(&type_name, &binary, constructor, &state) {
            Ok(object) => Ok(Object::Custom(Box::new(object))),
            Err(message) => Err(error(ErrorKind::Unsupported, message)),
        }
    }

    fn new(init: Init) -> Object {
        match init {
            Init::Atomic(v) => Object::Atomic(AtomicCell::Heap(v)),
            Init::Value(v) => Object::Value(Box::new(ValueCell::new(v))),
            Init::Array(items) => Object::Array(Box::new(Array::new(items))),
            Init::Map => Object::Map(Box::default()),
            Init::List => Object::List(Box::default()),
            Init::Mutex(v) => Object::Mutex(Box::new(Mutex::new(v))),
            Init::RwLock(v) => Object::RwLock(Box::new(RwLock::new(v))),
            Init::ReentrantLock(v) => Object::ReentrantLock(Box::new(ReentrantLock::new(v))),
            Init::Semaphore { permits, bound } => {
                Object::Semaphore(Box::new(Semaphore::new(permits, bound)))
            }
            Init::Condvar => Object::Condvar(Box::default()),
            Init::Event => Object::Event(Event::default()),
            Init::Barrier(parties) => Object::Barrier(Box::new(Barrier::new(parties))),
            Init::Future => Object::Future(Box::default()),
            Init::Latch(count) => Object::Latch(Latch::new(count)),
            Init::Channel { bound } => Object::Channel(Box::new(Channel::new(bound))),
            Init::Queue { bound } => Object::Queue(Box::new(Queue::new(bound))),
            Init::TaskBoard { binary } => Object::TaskBoard(Box::new(TaskBoard::new(binary))),
            Init::Custom { .. } | Init::Pipe | Init::PackedArray { .. } => {
                unreachable!("made by `create`")
            }
        }
    }

    /// The object's kind.
    /// Whether answering one parked call can let an *earlier* parked call proceed: a
    /// channel's receive lets a rendezvous send through, a queue's get makes room for a
    /// bounded put, a user-defined method may do anything. Elsewhere an answer only takes
    /// (a lock, permits, a task) or changes nothing (an event's wait), so one pass over the
    /// parked calls in arrival order serves every call that can proceed.
    pub fn answers_free_earlier_calls(&self) -> bool {
        matches!(
            self,
            Object::Channel(_) | Object::Queue(_) | Object::Custom(_)
        )
    }

    pub fn kind(&self) -> Kind {
        match self {
            Object::Atomic(_) => Kind::Atomic,
            Object::Value(_) => Kind::Value,
            Object::Array(_) => Kind::Array,
            Object::Map(_) => Kind::Map,
            Object::List(_) => Kind::List,
            Object::Mutex(_) => Kind::Mutex,
            Object::RwLock(_) => Kind::RwLock,
            Object::ReentrantLock(_) => Kind::ReentrantLock,
            Object::Semaphore(_) => Kind::Semaphore,
            Object::Condvar(_) => Kind::Condvar,
            Object::Event(_) => Kind::Event,
            Object::Barrier(_) => Kind::Barrier,
            Object::Future(_) => Kind::Future,
            Object::Latch(_) => Kind::Latch,
            Object::Channel(_) | Object::Pipe(_) => Kind::Channel,
            Object::Queue(_) => Kind::Queue,
            Object::TaskBoard(_) => Kind::TaskBoard,
            Object::Custom(_) => Kind::Custom,
        }
    }

    /// Its place in the shared-memory arena, if it has one.
    pub fn arena_slot(&self) -> Option<strato_proto::arena::Slot> {
        match self {
            Object::Atomic(AtomicCell::Shared(shared)) => Some(shared.slot()),
            Object::Array(array) => array.shared().map(|shared| shared.slot()),
            _ => None,
        }
    }

    /// Whether an `Open` with `init` may attach to this object.
    pub fn matches(&self, init: &Init) -> bool {
        match (self, init) {
            (Object::Atomic(have), Init::Atomic(want)) => have.tag() == want.tag(),
            (Object::Custom(have), Init::Custom { type_name, .. }) => have.type_name() == type_name,
            _ => self.kind() == init.kind(),
        }
    }

    /// Applies a retriable operation it owns: an item put or sent is moved into the
    /// object, not copied (a 1 MiB item would be, once per hop); a blocked operation comes
    /// back to be parked.
    pub fn apply_owned(&mut self, op: Op, ctx: &Ctx<'_>) -> Applied {
        match (self, op) {
            (Object::Queue(queue), Op::Put(item, wait)) => match queue.put(item) {
                Ok(()) => Applied::Done(Answer::Done),
                Err(item) => Applied::Blocked(Op::Put(item, wait)),
            },
            (Object::Channel(channel), Op::Send(item, wait)) => match channel.send(item, ctx) {
                Ok(answer) => Applied::Done(answer),
                Err(item) => Applied::Blocked(Op::Send(item, wait)),
            },
            (object, op) => match object.apply(&op, ctx) {
                Step::Done(answer) => Applied::Done(answer),
                Step::Blocked => Applied::Blocked(op),
            },
        }
    }

    /// Applies a retriable operation.
    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        match self {
            Object::Atomic(v) => v.apply(op, ctx.arena),
            Object::Value(v) => v.apply(op),
            Object::Array(v) => v.apply(op, ctx.arena),
            Object::Map(v) => v.apply(op),
            Object::List(v) => v.apply(op),
            Object::Mutex(v) => v.apply(op, ctx),
            Object::RwLock(v) => v.apply(op, ctx),
            Object::ReentrantLock(v) => v.apply(op, ctx),
            Object::Semaphore(v) => v.apply(op),
            Object::Event(v) => v.apply(op),
            Object::Future(v) => v.apply(op),
            Object::Latch(v) => v.apply(op),
            Object::Channel(v) => v.apply(op, ctx),
            Object::Queue(v) => v.apply(op),
            Object::TaskBoard(v) => v.apply(op, ctx),
            Object::Custom(v) => custom::apply(v.as_mut().as_mut(), op),
            // The table sends and receives on a pipe's sockets; nothing else applies.
            Object::Pipe(_) => Step::Done(error(
                ErrorKind::Unsupported,
                format!("{} is not an operation of a pipe", op_name(op)),
            )),
            Object::Condvar(_) | Object::Barrier(_) => wrong_op(self.kind(), op),
        }
    }
}

/// The answer to an operation the object's kind does not support.
pub(crate) fn wrong_op(kind: Kind, op: &Op) -> Step {
    Step::Done(error(
        ErrorKind::WrongType,
        format!("{} is not an operation of a {kind:?}", op_name(op)),
    ))
}

/// An error answer.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Answer {
    Answer::Error {
        kind,
        message: message.into(),
    }
}

/// The operation's name, for messages.
pub(crate) fn op_name(op: &Op) -> String {
    let text = format!("{op:?}");
    let end = text.find(['(', ' ', '{']).unwrap_or(text.len());
    text[..end].to_string()
}

/// What became of an operation applied by value.
#[derive(Debug)]
pub(crate) enum Applied {
    /// It is done: its answer.
    Done(Answer),
    /// It cannot proceed now: the operation, whole, to park.
    Blocked(Op),
}

/// `Done(answer)` if `ready`, else `Blocked`.
pub(crate) fn done_if(ready: bool, answer: impl FnOnce() -> Answer) -> Step {
    if ready {
        Step::Done(answer())
    } else {
        Step::Blocked
    }
}
