//! The messages: handshake, requests (calls on objects) and replies.

pub use crate::blob::Blob;
use serde::{Deserialize, Serialize};

/// The first frame from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`crate::MAGIC`].
    pub magic: [u8; 4],
    /// The client's [`crate::PROTOCOL_VERSION`].
    pub version: u32,
    /// The shared secret, when the server demands one.
    pub token: Option<String>,
    /// A free-form description of the client, for logs.
    pub client: String,
    /// The client asks for the server's shared-memory arena (two-tier state): a client on a
    /// Unix socket that can map it. The server then sends the arena's descriptor with the
    /// [`Welcome`] (`SCM_RIGHTS`) and says so in [`Welcome::arena`].
    pub arena: bool,
}

/// The server's answer to a [`Hello`]: welcome or refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HelloReply {
    /// The connection is accepted.
    Welcome(Welcome),
    /// The connection is refused; the server closes it after this frame.
    Refusal(Refusal),
}

/// Sent by the server when it accepts a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's protocol version.
    pub version: u32,
    /// This connection's id on the server.
    pub connection: u64,
    /// The largest frame the server accepts.
    pub max_frame: u64,
    /// The size in bytes of the shared-memory arena whose descriptor came with this message,
    /// if the client asked for it and the server has one (see [`crate::arena`]).
    pub arena: Option<u64>,
}

/// Sent by the server when it refuses a connection or a frame, before closing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Why, in words meant for the user.
    pub reason: String,
}

/// A call from a client. `id` 0 asks for no reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, unique among its in-flight calls; echoed in the [`Reply`].
    pub id: u64,
    /// What to do.
    pub call: Call,
}

/// The server's answer to the [`Request`] with the same `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id.
    pub id: u64,
    /// The outcome.
    pub answer: Answer,
}

/// The role a reference plays; channels count senders and receivers apart from plain handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A plain handle.
    Handle,
    /// The sending half of a channel.
    Sender,
    /// The receiving half of a channel.
    Receiver,
}

/// Everything a client can ask of the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Call {
    /// Answered with [`Answer::Pong`].
    Ping,
    /// Creates the object if absent (from `init`), checks its kind, and registers a reference
    /// of this connection in `role`.
    Open {
        /// The object's name.
        name: String,
        /// How to create it, which also fixes its kind.
        init: Init,
        /// Whether it outlives its references (no reference counting, no TTL).
        persistent: bool,
        /// The role of the reference taken.
        role: Role,
    },
    /// Drops this connection's reference in `role`.
    Release {
        /// The object's name.
        name: String,
        /// The role released.
        role: Role,
    },
    /// Counts a reference in flight (a serialized handle not yet received).
    Lend {
        /// The object's name.
        name: String,
        /// The role lent.
        role: Role,
    },
    /// Receives a reference lent earlier: this connection takes a reference and one
    /// in-flight reference is retired.
    Adopt {
        /// The object's name.
        name: String,
        /// The role adopted.
        role: Role,
    },
    /// Deletes the object now; parked callers get [`ErrorKind::Deleted`].
    Delete {
        /// The object's name.
        name: String,
    },
    /// Whether an object of that name exists: answered with [`Answer::Bool`].
    Exists {
        /// The object's name.
        name: String,
    },
    /// Server counters: answered with [`Answer::Stats`].
    Stats,
    /// An operation on an existing object.
    Op {
        /// The object's name.
        name: String,
        /// The operation.
        op: Op,
    },
}

/// How a blocking operation waits when it cannot proceed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// Do not wait: answer [`Answer::WouldBlock`].
    Never,
    /// Park until it can proceed.
    Forever,
    /// Park at most this many microseconds, then answer [`Answer::TimedOut`].
    Micros(u64),
}

/// A number held by an atomic object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// `AtomicI64`.
    I64(i64),
    /// `AtomicU64`.
    U64(u64),
    /// `AtomicBool`.
    Bool(bool),
    /// `AtomicF64`.
    F64(f64),
    /// `AtomicU32`.
    U32(u32),
    /// `AtomicI32`.
    I32(i32),
    /// `AtomicU16`.
    U16(u16),
    /// `AtomicI16`.
    I16(i16),
    /// `AtomicU8`.
    U8(u8),
    /// `AtomicI8`.
    I8(i8),
}

/// Read-modify-write operations of atomics (std's `fetch_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Bitwise (or logical) and.
    And,
    /// Bitwise (or logical) or.
    Or,
    /// Bitwise (or logical) xor.
    Xor,
    /// Not-and.
    Nand,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

/// An associative operation a [`Op::MapMerge`] applies to a new and an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MergeOp {
    /// Integer (i64) addition; values are postcard-encoded `i64`.
    AddI64,
    /// Integer (u64) addition, wrapping; values are postcard-encoded `u64`.
    AddU64,
    /// Float (f64) addition; values are postcard-encoded `f64`.
    AddF64,
    /// Keep the larger i64.
    MaxI64,
    /// Keep the smaller i64.
    MinI64,
    /// Keep the new value.
    Replace,
    /// Keep the existing value.
    KeepFirst,
}

impl MergeOp {
    /// Folds `new` into `old`, both postcard-encoded; an error names values this op cannot
    /// read.
    ///
    /// ```
    /// use strato_proto::{Blob, MergeOp};
    /// let enc = |v: i64| Blob::from(postcard::to_stdvec(&v).unwrap());
    /// assert_eq!(MergeOp::AddI64.apply(&enc(2), &enc(3)), Ok(enc(5)));
    /// assert!(MergeOp::AddI64.apply(&enc(2), &Blob::from(vec![])).is_err());
    /// ```
    pub fn apply(self, old: &Blob, new: &Blob) -> Result<Blob, String> {
        match self {
            MergeOp::AddI64 => numeric(old, new, |a: i64, b| a.wrapping_add(b)),
            MergeOp::AddU64 => numeric(old, new, |a: u64, b| a.wrapping_add(b)),
            MergeOp::AddF64 => numeric(old, new, |a: f64, b| a + b),
            MergeOp::MaxI64 => numeric(old, new, |a: i64, b| a.max(b)),
            MergeOp::MinI64 => numeric(old, new, |a: i64, b| a.min(b)),
            MergeOp::Replace => Ok(new.clone()),
            MergeOp::KeepFirst => Ok(old.clone()),
        }
    }
}

fn numeric<T>(old: &Blob, new: &Blob, f: impl Fn(T, T) -> T) -> Result<Blob, String>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    let read = |b: &Blob| match postcard::take_from_bytes::<T>(b) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!(
            "merge expects {} values, found {} bytes more",
            std::any::type_name::<T>(),
            rest.len()
        )),
        Err(e) => Err(format!(
            "merge expects {} values: {e}",
            std::any::type_name::<T>()
        )),
    };
    let value = f(read(old)?, read(new)?);
    postcard::to_stdvec(&value)
        .map(Blob::from)
        .map_err(|e| e.to_string())
}

/// How to create an object; also fixes its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// An atomic holding this value.
    Atomic(Scalar),
    /// A serde value.
    Value(Blob),
    /// A fixed-length array of serde values.
    Array(Vec<Blob>),
    /// A map from serde keys to serde values.
    Map,
    /// A growable list of serde values.
    List,
    /// A mutex protecting this value.
    Mutex(Blob),
    /// A readers-writer lock protecting this value.
    RwLock(Blob),
    /// A re-entrant lock protecting this value.
    ReentrantLock(Blob),
    /// A counting semaphore; `bound` caps releases (a bounded semaphore).
    Semaphore {
        /// Initial permits.
        permits: u64,
        /// The most permits it may hold, if bounded.
        bound: Option<u64>,
    },
    /// A condition variable.
    Condvar,
    /// An event flag.
    Event,
    /// A cyclic barrier of this many parties.
    Barrier(u64),
    /// A write-once future.
    Future,
    /// A count-down latch starting at this count.
    Latch(u64),
    /// An mpsc channel; `bound` is the capacity of a sync channel.
    Channel {
        /// Capacity, if bounded (0 is a rendezvous channel).
        bound: Option<u64>,
    },
    /// One direction of a `Pipe`: an unbounded channel whose ends, in processes on the
    /// state server's machine, exchange messages over a socket the server made, with no
    /// hop through the server ([`Op::Attach`]; docs/two-tier.md, "Pipes on one host").
    /// Backends without such sockets keep it as a [`Init::Channel`].
    Pipe,
    /// A multi-producer multi-consumer queue.
    Queue {
        /// Capacity, if bounded.
        bound: Option<u64>,
    },
    /// A user-defined object whose methods run on the server (only a server running the
    /// user's own binary can host one).
    Custom {
        /// The type's name, to tell types apart in errors and on re-open.
        type_name: String,
        /// The identity of the binary that defines the type.
        binary: String,
        /// The type's constructor, as a reference into that binary.
        factory: i64,
        /// The initial value, serialized.
        state: Blob,
    },
    /// A task board: tasks submitted by drivers, taken by workers of one binary.
    TaskBoard {
        /// The identity (content hash) of the binary whose workers may take its tasks.
        binary: String,
    },
    /// A fixed-length array (the [`Kind::Array`] kind) of items of `item_bytes` bytes
    /// each, given packed: `packed.len()` is a multiple of `item_bytes`, and every item
    /// written later must have that size (Python's `multiprocessing.Array`). A state
    /// server keeps one in its shared-memory arena when there is room, where clients on
    /// its machine read and write it themselves ([`crate::arena`]).
    PackedArray {
        /// The size of each item, at least 1.
        item_bytes: u32,
        /// The items, one after the other.
        packed: Blob,
    },
}

/// The kind of an object, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// See [`Init::Atomic`]; the flavour matters as well.
    Atomic,
    /// See [`Init::Value`].
    Value,
    /// See [`Init::Array`].
    Array,
    /// See [`Init::Map`].
    Map,
    /// See [`Init::List`].
    List,
    /// See [`Init::Mutex`].
    Mutex,
    /// See [`Init::RwLock`].
    RwLock,
    /// See [`Init::ReentrantLock`].
    ReentrantLock,
    /// See [`Init::Semaphore`].
    Semaphore,
    /// See [`Init::Condvar`].
    Condvar,
    /// See [`Init::Event`].
    Event,
    /// See [`Init::Barrier`].
    Barrier,
    /// See [`Init::Future`].
    Future,
    /// See [`Init::Latch`].
    Latch,
    /// See [`Init::Channel`].
    Channel,
    /// See [`Init::Queue`].
    Queue,
    /// See [`Init::TaskBoard`].
    TaskBoard,
    /// See [`Init::Custom`].
    Custom,
}

impl Init {
    /// Why this cannot make an object (an array's items that are not whole), if so: every
    /// backend refuses such an `Open` with [`ErrorKind::BadValue`], whether or not the object
    /// exists.
    ///
    /// ```
    /// use strato_proto::Init;
    /// let ok = Init::PackedArray { item_bytes: 4, packed: vec![0; 8].into() };
    /// assert!(ok.check().is_ok());
    /// let torn = Init::PackedArray { item_bytes: 4, packed: vec![0; 6].into() };
    /// assert!(torn.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), String> {
        match self {
            Init::PackedArray { item_bytes, packed } => {
                crate::array::item_count(*item_bytes, packed.len()).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The kind of object this creates.
    pub fn kind(&self) -> Kind {
        match self {
            Init::Atomic(_) => Kind::Atomic,
            Init::Value(_) => Kind::Value,
            Init::Array(_) | Init::PackedArray { .. } => Kind::Array,
            Init::Map => Kind::Map,
            Init::List => Kind::List,
            Init::Mutex(_) => Kind::Mutex,
            Init::RwLock(_) => Kind::RwLock,
            Init::ReentrantLock(_) => Kind::ReentrantLock,
            Init::Semaphore { .. } => Kind::Semaphore,
            Init::Condvar => Kind::Condvar,
            Init::Event => Kind::Event,
            Init::Barrier(_) => Kind::Barrier,
            Init::Future => Kind::Future,
            Init::Latch(_) => Kind::Latch,
            Init::Channel { .. } | Init::Pipe => Kind::Channel,
            Init::Queue { .. } => Kind::Queue,
            Init::TaskBoard { .. } => Kind::TaskBoard,
            Init::Custom { .. } => Kind::Custom,
        }
    }
}

/// An operation on one object. Each names the kind it applies to in its prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Atomic: the value.
    Load,
    /// Atomic: replace the value.
    Store(Scalar),
    /// Atomic: replace, answering the previous value.
    Swap(Scalar),
    /// Atomic: read-modify-write, answering the previous value.
    Fetch(FetchOp, Scalar),
    /// Atomic: replace if equal to `current`; answers [`Answer::Exchanged`].
    CompareExchange {
        /// The expected value.
        current: Scalar,
        /// The value stored on success.
        new: Scalar,
    },
    /// Value: answers [`Answer::Versioned`].
    ValueGet,
    /// Value: replace.
    ValueSet(Blob),
    /// Value: replace if the version is still `version`; answers [`Answer::Exchanged`]-like
    /// [`Answer::Versioned`] with the current state on conflict, [`Answer::Done`] on success.
    ValueCompareSet {
        /// The version read.
        version: u64,
        /// The new value.
        value: Blob,
    },
    /// Array: its length.
    ArrayLen,
    /// Array: one element.
    ArrayGet(u64),
    /// Array: replace one element.
    ArraySet(u64, Blob),
    /// Array: elements `start..end`.
    ArrayGetRange(u64, u64),
    /// Array: replace elements from `start`.
    ArraySetRange(u64, Vec<Blob>),
    /// Map: the value of a key.
    MapGet(Blob),
    /// Map: insert, answering the previous value.
    MapInsert(Blob, Blob),
    /// Map: remove, answering the previous value.
    MapRemove(Blob),
    /// Map: whether a key is present.
    MapContains(Blob),
    /// Map: number of entries.
    MapLen,
    /// Map: all keys, in key-byte order.
    MapKeys,
    /// Map: all entries, in key-byte order.
    MapEntries,
    /// Map: fold entries into existing ones with an associative op.
    MapMerge(Vec<(Blob, Blob)>, MergeOp),
    /// Map: remove everything.
    MapClear,
    /// List: append.
    ListPush(Blob),
    /// List: append many.
    ListExtend(Vec<Blob>),
    /// List: remove the last element.
    ListPop,
    /// List: one element.
    ListGet(u64),
    /// List: replace one element.
    ListSet(u64, Blob),
    /// List: its length.
    ListLen,
    /// List: elements `start..end` (clamped).
    ListRange(u64, u64),
    /// Mutex: acquire; answers [`Answer::Locked`].
    Lock(Wait),
    /// Mutex: release the lease, storing `value` if given, poisoning if asked.
    Unlock {
        /// The lease from [`Answer::Locked`].
        lease: u64,
        /// The new protected value, if it changed.
        value: Option<Blob>,
        /// Whether the holder panicked.
        poison: bool,
    },
    /// RwLock: acquire shared; answers [`Answer::Locked`].
    ReadLock(Wait),
    /// RwLock: release a shared lease.
    ReadUnlock {
        /// The lease.
        lease: u64,
    },
    /// RwLock: acquire exclusive; answers [`Answer::Locked`].
    WriteLock(Wait),
    /// RwLock: release the exclusive lease.
    WriteUnlock {
        /// The lease.
        lease: u64,
        /// The new protected value, if it changed.
        value: Option<Blob>,
        /// Whether the holder panicked.
        poison: bool,
    },
    /// Re-entrant lock: acquire for `owner` (a thread of this connection).
    ReentrantLock {
        /// The owning thread, as the client numbers them.
        owner: u64,
        /// How to wait.
        wait: Wait,
    },
    /// Re-entrant lock: release one level for `owner`.
    ReentrantUnlock {
        /// The owning thread.
        owner: u64,
        /// The protected value to store, if the owner changed it (through interior
        /// mutability: std's way to mutate under a re-entrant lock).
        value: Option<Blob>,
    },
    /// Semaphore: take `n` permits.
    Acquire(u64, Wait),
    /// Semaphore: give back `n` permits.
    Release(u64),
    /// Semaphore: permits available now.
    Available,
    /// Condvar: release the mutex lease and wait for a notification, then re-acquire;
    /// answers [`Answer::Woken`].
    CondWait {
        /// The mutex's name.
        mutex: String,
        /// The caller's lease on it.
        lease: u64,
        /// The protected value to store on release.
        value: Option<Blob>,
        /// How long to wait for a notification.
        wait: Wait,
    },
    /// Condvar: wake one waiter.
    NotifyOne,
    /// Condvar: wake all waiters.
    NotifyAll,
    /// Event: set the flag, waking every waiter.
    EventSet,
    /// Event: clear the flag.
    EventClear,
    /// Event: whether the flag is set.
    EventIsSet,
    /// Event: wait for the flag.
    EventWait(Wait),
    /// Barrier: wait for all parties; answers [`Answer::Passed`].
    BarrierWait(Wait),
    /// Future: set the value once.
    FutureSet(Blob),
    /// Future: the value, waiting for it.
    FutureGet(Wait),
    /// Future: whether the value is set.
    FutureIsSet,
    /// Latch: count down by one.
    CountDown,
    /// Latch: the current count.
    LatchCount,
    /// Latch: wait for zero.
    LatchWait(Wait),
    /// Channel: send; answers [`Answer::Disconnected`] if no receiver is left.
    Send(Blob, Wait),
    /// Channel: receive; answers [`Answer::Disconnected`] once empty with no sender left.
    Recv(Wait),
    /// Queue: put.
    Put(Blob, Wait),
    /// Queue: get.
    Get(Wait),
    /// Channel or queue: messages waiting.
    Len,
    /// Queue: one put item was processed.
    TaskDone,
    /// Queue: wait until every put item was processed.
    Join(Wait),
    /// Queue: take up to `max` items at once (at least one, waiting per `wait`); answers
    /// [`Answer::Blobs`].
    GetMany {
        /// The most items taken.
        max: u32,
        /// How to wait while the queue is empty.
        wait: Wait,
    },
    /// Custom object: run method `method` with the encoded `args` on the server; answers
    /// [`Answer::Blob`] with the encoded result. A method that cannot proceed yet waits per
    /// `wait` and is tried again whenever the object changes.
    Invoke {
        /// The method's name.
        method: String,
        /// Its arguments, encoded.
        args: Blob,
        /// How to wait while it cannot proceed.
        wait: Wait,
    },
    /// Custom object: its whole value, serialized; answers [`Answer::Blob`].
    Snapshot,
    /// Task board: a worker of `binary` joins; refused with [`ErrorKind::WrongBinary`] if
    /// the board belongs to another binary.
    TaskJoin {
        /// The worker's binary identity.
        binary: String,
    },
    /// Task board: queue tasks.
    TaskSubmit(Vec<crate::TaskSpec>),
    /// Task board: take up to `max` tasks (a fair share of those pending), leased to this
    /// connection; answers [`Answer::Tasks`].
    TaskTake {
        /// The most tasks taken.
        max: u32,
        /// How to wait while no task is pending.
        wait: Wait,
    },
    /// Task board: a leased task finished; `result` goes to its reply queue.
    TaskFinish {
        /// The task.
        id: u64,
        /// The attempt that ran.
        attempt: u32,
        /// The worker's encoded result.
        result: Blob,
    },
    /// Task board: counts of pending and leased tasks and joined workers; answers
    /// [`Answer::TaskCounts`].
    TaskCounts,
    /// Map: fold entries in as [`Op::MapMerge`] does, once per `once` token: answers
    /// `Bool(true)` when applied, `Bool(false)` when a merge with that token was applied
    /// before (a retried task's write, counted once).
    MapMergeOnce {
        /// The effect's identity (a task's, say): the same token is applied at most once.
        once: Blob,
        /// The entries.
        pairs: Vec<(Blob, Blob)>,
        /// How they fold into existing values.
        merge: MergeOp,
    },
    /// Mutex, RwLock: whether a holder panicked or died (std's `is_poisoned`); with `clear`,
    /// the flag is cleared (std's `clear_poison`). Answers `Bool` with the flag as it was;
    /// it never waits for the lock.
    Poison {
        /// Clear the flag.
        clear: bool,
    },
    /// RwLock: turn the write lease into a read lease of the same number, storing `value` if
    /// given, with no writer able to come in between (std's `RwLockWriteGuard::downgrade`).
    Downgrade {
        /// The write lease from [`Answer::Locked`].
        lease: u64,
        /// The new protected value, if it changed.
        value: Option<Blob>,
    },
    /// Task board: the caller starts running task `id`, one of its leases (sent without
    /// waiting for the answer, before each task). When a worker dies, only the task it was
    /// running is charged a retry; the others it held (finished but not yet reported, or
    /// not started) are queued again as they were.
    TaskStart {
        /// The task.
        id: u64,
    },
    /// Atomic: where its value lives in the server's shared-memory arena; answers
    /// [`Answer::Located`]. Only a connection that received the arena asks; the slot stays
    /// this object's (or unused) while that connection lives.
    Locate,
    /// Pipe: a descriptor of the socket of this end (`Sender` or `Receiver`), so that the
    /// caller sends or receives on it directly; answers [`Answer::Attached`]. Only a
    /// client on the server's machine (a Unix socket) can receive one.
    Attach(Role),
}

/// Kinds of error the server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// No object of that name.
    NotFound,
    /// The object was deleted while the call was parked.
    Deleted,
    /// The object is of another kind than the call expects.
    WrongType,
    /// An index past the end.
    OutOfBounds,
    /// The request is not valid for the object's state (e.g. unlock without the lease).
    Invalid,
    /// A future was set twice.
    AlreadySet,
    /// A bounded semaphore was released above its bound.
    Overflow,
    /// The value cannot be interpreted by a server-side operation.
    BadValue,
    /// A worker of another binary tried to join a task board.
    WrongBinary,
    /// This server cannot do that (e.g. host a user-defined type of another binary).
    Unsupported,
    /// A user-defined method failed (it panicked or could not decode its arguments).
    MethodFailed,
}

/// The server's answer to one [`Call`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    /// Success with nothing to say.
    Done,
    /// Answer to [`Call::Ping`].
    Pong,
    /// An atomic's (previous) value.
    Scalar(Scalar),
    /// Result of a compare-exchange: `Ok(previous)` on success, `Err(actual)` on failure.
    Exchanged(Result<Scalar, Scalar>),
    /// A yes/no answer.
    Bool(bool),
    /// A count.
    Count(u64),
    /// A value.
    Blob(Blob),
    /// A value that may be absent.
    MaybeBlob(Option<Blob>),
    /// Several values.
    Blobs(Vec<Blob>),
    /// Key-value pairs.
    Pairs(Vec<(Blob, Blob)>),
    /// A value with its version.
    Versioned {
        /// Incremented on every write.
        version: u64,
        /// The value.
        value: Blob,
    },
    /// A lock was acquired.
    Locked {
        /// Identifies this hold in the matching unlock.
        lease: u64,
        /// The protected value.
        value: Blob,
        /// Whether a previous holder panicked or died.
        poisoned: bool,
    },
    /// A condvar waiter holds the mutex again.
    Woken {
        /// The new lease on the mutex.
        lease: u64,
        /// The protected value.
        value: Blob,
        /// Whether the mutex is poisoned.
        poisoned: bool,
        /// Whether it returned because the wait timed out.
        timed_out: bool,
    },
    /// A barrier generation completed.
    Passed {
        /// Exactly one party per generation is the leader.
        leader: bool,
    },
    /// Counters of the server.
    Stats(ServerStats),
    /// Tasks granted to a worker.
    Tasks(Vec<crate::TaskGrant>),
    /// The state of a task board.
    TaskCounts {
        /// Tasks waiting for a worker.
        pending: u64,
        /// Tasks leased to workers.
        leased: u64,
        /// Workers that joined and are connected.
        workers: u64,
    },
    /// The call could not proceed without waiting ([`Wait::Never`]).
    WouldBlock,
    /// The wait ran out.
    TimedOut,
    /// The other side of the channel is gone.
    Disconnected,
    /// The barrier is broken (a party timed out or died).
    Broken,
    /// An error.
    Error {
        /// What kind.
        kind: ErrorKind,
        /// Details for the user.
        message: String,
    },
    /// Answer to [`Op::Locate`]: the object's slot in the shared-memory arena.
    Located(crate::arena::Slot),
    /// Answer to [`Op::Attach`]: whether the end's descriptor came with this reply (it
    /// cannot over TCP, nor when the server could not attach it); without one, the end's
    /// messages go through the server.
    Attached {
        /// The descriptor is attached to the reply's bytes.
        descriptor: bool,
    },
}

/// What the server sends after the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// The answer to one request.
    Reply(Reply),
    /// The server closes the connection for this reason (a malformed or oversized frame).
    Fatal(Refusal),
}

/// Counters the server reports for [`Call::Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Objects alive.
    pub objects: u64,
    /// Connections open.
    pub connections: u64,
    /// Calls parked.
    pub parked: u64,
}
