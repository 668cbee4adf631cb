//! One shard of the object table: the objects whose names hash to it, with their references
//! and parked calls, and every connection (each shard knows them all, to answer them).
//!
//! A shard sits behind its own lock ([`crate::shards::Table`]); each call on one object runs
//! to completion under its shard's lock, which makes every object linearizable. Calls that
//! cannot proceed are parked as [`Waiter`]s on their object and answered by whichever later
//! call lets them proceed (never by polling). What a call does to *another* object (a
//! report delivered to a reply queue, a notified condvar waiter parked on its mutex) is
//! left as a [`FollowUp`] for the table to run under that object's shard's lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strato_proto::arena::Arena;
use strato_proto::{
    Answer, Blob, Call, ErrorKind, Init, Op, Reply, Request, Role, ServerMessage, ServerStats,
    TaskOutcome, TaskReport, Wait,
};
use thin_vec::ThinVec;
use tokio::sync::mpsc::UnboundedSender;

use crate::catalog::{Catalog, Id};
use crate::objects::{
    error, Applied, Array, AtomicCell, Ctx, CustomFactory, Delivery, Object, PipeSockets,
    RoleCounts, Step,
};
use crate::refs::Refs;
use crate::slots::Slots;

/// A connection's id.
pub(crate) type ConnId = u32;

/// A call: the connection and the request id (unique per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WaiterId {
    pub conn: ConnId,
    pub req: u64,
}

/// Why a call is parked.
#[derive(Debug)]
pub(crate) enum Pending {
    /// Retry this operation when the object changes.
    Retry(Op),
    /// On a condvar, until notified (or timed out); then it re-acquires `mutex`.
    Notified { mutex: String },
    /// On a mutex, re-acquiring it after a condvar wait.
    Reacquire { timed_out: bool },
    /// On a barrier, until the generation completes.
    Barrier,
}

/// A parked call.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub id: WaiterId,
    pub pending: Pending,
}

impl Waiter {
    /// Whether it waits to retry an operation matching `pred`.
    pub fn is_retry_of(&self, pred: impl Fn(&Op) -> bool) -> bool {
        matches!(&self.pending, Pending::Retry(op) if pred(op))
    }
}

/// What a call on one shard leaves for the shard of another object to do, after the first
/// shard's lock is released (no two shard locks are ever held at once).
#[derive(Debug)]
pub(crate) enum FollowUp {
    /// Put a task's report into its reply queue and wake the drivers parked there.
    Deliver(Delivery),
    /// A condvar waiter, notified or timed out, parks on its mutex to take it again.
    Reacquire {
        id: WaiterId,
        mutex: String,
        timed_out: bool,
    },
}

/// A message for a connection's writer, with a descriptor to attach to its bytes (a
/// pipe's end, for [`Op::Attach`]) if it has one.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub message: ServerMessage,
    pub descriptor: Option<std::os::fd::OwnedFd>,
}

impl From<ServerMessage> for Outgoing {
    fn from(message: ServerMessage) -> Self {
        Outgoing {
            message,
            descriptor: None,
        }
    }
}

/// A pipe's send or receive for a remote client, which the server does on the pipe's
/// sockets outside the table (it may wait on the socket): see `net::relay`.
#[derive(Debug)]
pub(crate) struct Relay {
    /// Who asked.
    pub caller: WaiterId,
    /// Where the answer goes.
    pub out: UnboundedSender<Outgoing>,
    /// The pipe's sockets.
    pub sockets: Arc<PipeSockets>,
    /// `Op::Send` or `Op::Recv`.
    pub op: Op,
}

/// One object with its bookkeeping: 48 bytes, as a server may hold millions (the
/// `server_bytes_per_object` benchmark).
#[derive(Debug)]
struct Entry {
    object: Object,
    persistent: bool,
    last_used: Stamp,
    refs: Refs,
    /// Parked calls: most objects have none, so an empty list is one pointer.
    waiters: ThinVec<Waiter>,
}

/// When an object was last used: milliseconds since the server's process began timing, in
/// 4 bytes instead of an `Instant`'s 16. It wraps after 49 days; an object idle that long
/// may then look younger than it is for a while, and is collected a sweep or a few later.
#[derive(Debug, Clone, Copy)]
struct Stamp(u32);

impl Stamp {
    fn now() -> Stamp {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(Instant::now);
        Stamp(epoch.elapsed().as_millis() as u32)
    }

    /// How long before `now` this was.
    fn age(self, now: Stamp) -> Duration {
        Duration::from_millis(u64::from(now.0.wrapping_sub(self.0)))
    }
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    /// What goes to it; encoded by its writer, outside this table's lock.
    out: UnboundedSender<Outgoing>,
    /// Objects it referenced, held or parked on: what to clean up when it dies.
    touched: Touched,
}

/// The slots of the objects a connection touched, in 4 bytes each. Ids are added without
/// a lookup and de-duplicated now and then; an id whose object was removed stays until
/// then, and may meanwhile name another object, which the connection's cleanup then visits
/// for nothing: it holds no reference, hold or lease there.
#[derive(Debug, Default)]
struct Touched {
    ids: Vec<Id>,
    /// The length after the last de-duplication.
    distinct: usize,
}

impl Touched {
    fn add(&mut self, id: Id) {
        if self.ids.last() == Some(&id) {
            return;
        }
        self.ids.push(id);
        if self.ids.len() > 64.max(2 * self.distinct) {
            self.ids.sort_unstable();
            self.ids.dedup();
            self.distinct = self.ids.len();
        }
    }

    /// Every id once.
    fn into_distinct(mut self) -> Vec<Id> {
        self.ids.sort_unstable();
        self.ids.dedup();
        self.ids
    }
}

/// One shard of a server's state.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// By name.
    objects: Catalog<Entry>,
    conns: HashMap<ConnId, Conn>,
    parked: HashMap<WaiterId, String>,
    timers: Vec<(WaiterId, Duration)>,
    follow_ups: Vec<FollowUp>,
    factory: Factory,
    /// The shared-memory arena's slots, when the server has one.
    slots: Option<Slots>,
}

/// The maker of user-defined objects, if this server has one.
#[derive(Default, Clone)]
pub(crate) struct Factory(pub Option<Arc<dyn CustomFactory>>);

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Factory(Some)"
        } else {
            "Factory(None)"
        })
    }
}

fn not_found(name: &str) -> Answer {
    error(ErrorKind::NotFound, format!("no object named `{name}`"))
}

impl State {
    /// An empty state whose user-defined objects are made by `factory`.
    pub fn with_factory(factory: Factory) -> State {
        State {
            factory,
            ..State::default()
        }
    }

    /// Keeps atomics in `slots` of the arena, shared with local clients, while they last.
    pub fn with_slots(mut self, slots: Slots) -> State {
        self.slots = Some(slots);
        self
    }

    /// Registers connection `conn`, whose replies go to `out`.
    pub fn register(&mut self, conn: ConnId, out: UnboundedSender<Outgoing>) {
        let conn_record = Conn {
            out,
            touched: Touched::default(),
        };
        self.conns.insert(conn, conn_record);
    }

    /// Timers the last calls asked for: expire each waiter after its duration.
    pub fn take_timers(&mut self) -> Vec<(WaiterId, Duration)> {
        std::mem::take(&mut self.timers)
    }

    /// What the last calls left for other objects' shards.
    pub fn take_follow_ups(&mut self) -> Vec<FollowUp> {
        std::mem::take(&mut self.follow_ups)
    }

    /// Handles one request of `conn`; replies (to it and to woken waiters) are sent here,
    /// except for a pipe's send or receive, which is returned for the caller to run.
    pub fn handle(&mut self, conn: ConnId, request: Request) -> Option<Relay> {
        let caller = WaiterId {
            conn,
            req: request.id,
        };
        let _span = tracing::debug_span!("call", conn, req = request.id).entered();
        tracing::trace!(call = %brief(&request.call), "call");
        let answer = match request.call {
            Call::Ping => Some(Answer::Pong),
            Call::Stats => Some(Answer::Stats(self.stats())),
            Call::Exists { name } => Some(Answer::Bool(self.objects.contains(&name))),
            Call::Open {
                name,
                init,
                persistent,
                role,
            } => Some(self.open(conn, name, init, persistent, role)),
            Call::Release { name, role } => Some(self.release(conn, &name, role)),
            Call::Lend { name, role } => Some(self.lend(&name, role)),
            Call::Adopt { name, role } => Some(self.adopt(conn, name, role)),
            Call::Delete { name } => Some(match self.delete(&name) {
                true => Answer::Done,
                false => not_found(&name),
            }),
            Call::Op { name, op } => match self.pipe_op(caller, &name, op) {
                Ok(relay) => return relay,
                Err(op) => self.op(caller, name, op),
            },
        };
        if let Some(answer) = answer {
            self.reply(caller, answer);
        }
        None
    }

    /// A pipe's operations: `Attach` answered with a descriptor, a send or receive handed
    /// back as a [`Relay`]; `Err(op)` if `name` is not a pipe.
    fn pipe_op(&mut self, caller: WaiterId, name: &str, op: Op) -> Result<Option<Relay>, Op> {
        let Some(entry) = self.objects.get_mut(name) else {
            return Err(op);
        };
        let Object::Pipe(pipe) = &entry.object else {
            return Err(op);
        };
        entry.last_used = Stamp::now();
        let answer = match op {
            Op::Attach(role) => {
                self.attach(caller, name, role);
                return Ok(None);
            }
            Op::Send(..) if entry.refs.count(Role::Receiver) == 0 => Answer::Disconnected,
            op @ (Op::Send(..) | Op::Recv(_)) => {
                let sockets = pipe.sockets().clone();
                return Ok(self.conns.get(&caller.conn).map(|conn| Relay {
                    caller,
                    out: conn.out.clone(),
                    sockets,
                    op,
                }));
            }
            op => error(
                ErrorKind::Unsupported,
                format!(
                    "{} is not an operation of a pipe",
                    crate::objects::op_name(&op)
                ),
            ),
        };
        self.reply(caller, answer);
        Ok(None)
    }

    /// Answers an `Attach` with a copy of the pipe's end for `role` attached.
    fn attach(&mut self, caller: WaiterId, name: &str, role: Role) {
        let Some(Object::Pipe(pipe)) = self.objects.get(name).map(|e| &e.object) else {
            return;
        };
        let descriptor = match pipe.descriptor(role) {
            Ok(fd) => fd,
            Err(e) => {
                let why = format!("cannot copy the pipe's descriptor: {e}");
                return self.reply(caller, error(ErrorKind::Unsupported, why));
            }
        };
        self.touch(caller.conn, name);
        let Some(conn) = self.conns.get(&caller.conn) else {
            return;
        };
        let answer = Answer::Attached { descriptor: true };
        let _ = conn.out.send(Outgoing {
            message: ServerMessage::Reply(Reply {
                id: caller.req,
                answer,
            }),
            descriptor: Some(descriptor),
        });
    }

    /// This shard's counts (every shard counts every connection).
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            objects: self.objects.len() as u64,
            connections: self.conns.len() as u64,
            parked: self.parked.len() as u64,
        }
    }

    /// Sends `answer` to the call `to`.
    pub fn reply(&mut self, to: WaiterId, answer: Answer) {
        if to.req == 0 {
            return;
        }
        let Some(conn) = self.conns.get(&to.conn) else {
            return;
        };
        let _ = conn
            .out
            .send(ServerMessage::Reply(Reply { id: to.req, answer }).into());
    }

    fn touch(&mut self, conn: ConnId, name: &str) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(id) = self.objects.find(name) {
            c.touched.add(id);
        }
    }

    fn open(
        &mut self,
        conn: ConnId,
        name: String,
        init: Init,
        persistent: bool,
        role: Role,
    ) -> Answer {
        if let Err(why) = init.check() {
            return error(ErrorKind::BadValue, why);
        }
        if !self.objects.contains(&name) {
            let object = match Object::create(init.clone(), self.factory.0.as_deref()) {
                Ok(object) => self.place_in_arena(object),
                Err(refusal) => return refusal,
            };
            let entry = Entry {
                object,
                persistent,
                last_used: Stamp::now(),
                refs: Refs::default(),
                waiters: ThinVec::new(),
            };
            self.objects.insert(&name, entry);
        }
        let Some(entry) = self.objects.get_mut(&name) else {
            return not_found(&name);
        };
        if !entry.object.matches(&init) {
            return error(
                ErrorKind::WrongType,
                format!(
                    "object `{name}` is a {:?}, not a {:?}",
                    entry.object.kind(),
                    init.kind()
                ),
            );
        }
        entry.refs.take(conn, role);
        entry.last_used = Stamp::now();
        self.touch(conn, &name);
        self.wake(&name);
        Answer::Done
    }

    /// Moves a new atomic's value, or a new array of fixed-size items, into the arena, if
    /// there is one with room.
    fn place_in_arena(&mut self, object: Object) -> Object {
        match (object, self.slots.as_mut()) {
            (Object::Atomic(AtomicCell::Heap(value)), Some(slots)) => match slots.allocate(value) {
                Some(shared) => Object::Atomic(AtomicCell::Shared(shared)),
                None => Object::Atomic(AtomicCell::Heap(value)),
            },
            (Object::Array(array), Some(slots)) => {
                let shared = array
                    .packed_items()
                    .and_then(|(size, packed)| slots.allocate_array(size, &packed));
                match shared {
                    Some(shared) => Object::Array(Box::new(Array::Shared(shared))),
                    None => Object::Array(array),
                }
            }
            (object, _) => object,
        }
    }

    /// Answers where an atomic's value or an array's items are in the arena, and keeps
    /// that slot out of reuse while `conn` lives.
    fn locate(&mut self, conn: ConnId, name: &str) -> Answer {
        let slot = match self.objects.get(name).map(|e| e.object.arena_slot()) {
            Some(Some(slot)) => slot,
            Some(None) => {
                let why = format!("object `{name}` has no place in the shared-memory arena");
                return error(ErrorKind::Unsupported, why);
            }
            None => return not_found(name),
        };
        match self.slots.as_mut() {
            Some(slots) => slots.locate(conn, slot),
            None => return error(ErrorKind::Unsupported, "this server has no arena"),
        }
        Answer::Located(slot)
    }

    fn release(&mut self, conn: ConnId, name: &str, role: Role) -> Answer {
        if let Some(entry) = self.objects.get_mut(name) {
            entry.refs.drop_one(conn, role);
            self.wake(name);
            self.collect_if_unreferenced(name);
        }
        Answer::Done
    }

    fn lend(&mut self, name: &str, role: Role) -> Answer {
        match self.objects.get_mut(name) {
            Some(entry) => {
                entry.refs.lend(role);
                Answer::Done
            }
            None => not_found(name),
        }
    }

    fn adopt(&mut self, conn: ConnId, name: String, role: Role) -> Answer {
        let Some(entry) = self.objects.get_mut(&name) else {
            return not_found(&name);
        };
        entry.refs.adopt(conn, role);
        self.touch(conn, &name);
        Answer::Done
    }

    /// Deletes an object; its parked calls get [`ErrorKind::Deleted`].
    fn delete(&mut self, name: &str) -> bool {
        let Some(entry) = self.objects.remove(name) else {
            return false;
        };
        if let (Some(slot), Some(slots)) = (entry.object.arena_slot(), self.slots.as_mut()) {
            slots.retire(slot);
        }
        if let Object::Pipe(pipe) = &entry.object {
            pipe.close();
        }
        for waiter in entry.waiters {
            self.parked.remove(&waiter.id);
            let message = format!("object `{name}` was deleted while the call waited");
            self.reply(waiter.id, error(ErrorKind::Deleted, message));
        }
        true
    }

    fn collect_if_unreferenced(&mut self, name: &str) {
        let unreferenced = self
            .objects
            .get(name)
            .is_some_and(|e| !e.persistent && e.refs.is_empty());
        if unreferenced {
            self.delete(name);
        }
    }

    fn op(&mut self, caller: WaiterId, name: String, op: Op) -> Option<Answer> {
        let Some(entry) = self.objects.get_mut(&name) else {
            return Some(not_found(&name));
        };
        entry.last_used = Stamp::now();
        if matches!(op, Op::TaskJoin { .. }) {
            // The board counts the worker until its connection's cleanup visits it.
            self.touch(caller.conn, &name);
        }
        match op {
            Op::CondWait { .. } => Some(error(
                ErrorKind::Invalid,
                "a condvar wait spans two objects: the table runs it, not one shard",
            )),
            Op::NotifyOne => Some(self.notify(&name, false)),
            Op::Locate => Some(self.locate(caller.conn, &name)),
            Op::NotifyAll => Some(self.notify(&name, true)),
            Op::BarrierWait(wait) => self.barrier_wait(caller, name, wait),
            Op::TaskFinish {
                id,
                attempt,
                result,
            } => Some(self.task_finish(caller.conn, &name, id, attempt, result)),
            op => self.apply(caller, name, op),
        }
    }

    /// Runs a retriable operation: answers it, or parks it according to its wait mode.
    fn apply(&mut self, caller: WaiterId, name: String, op: Op) -> Option<Answer> {
        let arena = self.slots.as_ref().map(Slots::arena);
        let entry = self.objects.get_mut(&name)?;
        let ctx = Ctx {
            caller,
            refs: role_counts(&entry.refs),
            parked: &entry.waiters,
            arena,
        };
        match entry.object.apply_owned(op, &ctx) {
            Applied::Done(answer) => {
                if !entry.waiters.is_empty() {
                    self.wake(&name);
                }
                self.note_grant(caller.conn, &name, &answer);
                Some(answer)
            }
            Applied::Blocked(op) => match crate::objects::wait_of(&op).unwrap_or(Wait::Never) {
                Wait::Never => Some(Answer::WouldBlock),
                wait => {
                    // A parked receiver is what lets a rendezvous sender proceed.
                    let may_unblock_others = matches!(op, Op::Recv(_));
                    self.park(caller, &name, Pending::Retry(op), wait);
                    if may_unblock_others {
                        self.wake(&name);
                    }
                    None
                }
            },
        }
    }

    fn note_grant(&mut self, conn: ConnId, name: &str, answer: &Answer) {
        if matches!(
            answer,
            Answer::Locked { .. } | Answer::Woken { .. } | Answer::Tasks(_)
        ) {
            self.touch(conn, name);
        }
    }

    fn park(&mut self, id: WaiterId, name: &str, pending: Pending, wait: Wait) {
        let Some(entry) = self.objects.get_mut(name) else {
            return;
        };
        entry.waiters.push(Waiter { id, pending });
        self.parked.insert(id, name.to_string());
        self.touch(id.conn, name);
        if let Wait::Micros(us) = wait {
            self.timers.push((id, Duration::from_micros(us)));
        }
    }

    /// Answers the parked calls of `name` that can proceed, in arrival order: one pass over
    /// the object's own calls (no other object's), each tried once; another pass only for
    /// objects where an answer can let an earlier call proceed (a channel or a queue), and
    /// only after a pass that answered one.
    fn wake(&mut self, name: &str) {
        let again = match self.objects.get_mut(name) {
            Some(entry) => {
                if let Object::Pipe(pipe) = &mut entry.object {
                    pipe.follow(role_counts(&entry.refs));
                }
                entry.object.answers_free_earlier_calls()
            }
            None => return,
        };
        while self.serve_pass(name) && again {}
    }

    /// One pass of [`Self::wake`]: whether it answered a call.
    fn serve_pass(&mut self, name: &str) -> bool {
        let mut from = 0;
        let mut answered = false;
        loop {
            let Some(entry) = self.objects.get_mut(name) else {
                return answered;
            };
            let arena = self.slots.as_ref().map(Slots::arena);
            let Some((index, answer)) = first_ready(entry, from, arena) else {
                return answered;
            };
            let waiter = entry.waiters.remove(index);
            self.parked.remove(&waiter.id);
            self.note_grant(waiter.id.conn, name, &answer);
            self.reply(waiter.id, answer);
            // The calls before `index` were tried in this pass; the next one moved there.
            (from, answered) = (index, true);
        }
    }

    /// A condvar wait's first step, on the mutex's shard: the caller holds `mutex` with
    /// `lease`, and it is a mutex.
    pub fn check_hold(&self, caller: WaiterId, mutex: &str, lease: u64) -> Result<(), Answer> {
        match self.objects.get(mutex).map(|e| &e.object) {
            Some(Object::Mutex(m)) if m.is_held_by(caller.conn, lease) => Ok(()),
            Some(Object::Mutex(_)) => Err(error(
                ErrorKind::Invalid,
                format!("condvar wait: the caller does not hold mutex `{mutex}`"),
            )),
            _ => Err(error(
                ErrorKind::WrongType,
                format!("`{mutex}` is not a mutex"),
            )),
        }
    }

    /// A condvar wait's second step, on the condvar's shard: binds it to `mutex` and, unless
    /// the wait is `Never`, parks the caller until notified (or timed out). A notification
    /// from now on is not lost: it parks the caller on the mutex, which it still holds
    /// until the third step.
    pub fn enlist(
        &mut self,
        caller: WaiterId,
        condvar: &str,
        mutex: &str,
        wait: Wait,
    ) -> Result<(), Answer> {
        let Some(entry) = self.objects.get_mut(condvar) else {
            return Err(not_found(condvar));
        };
        entry.last_used = Stamp::now();
        match &mut entry.object {
            Object::Condvar(cv) => cv.bind(mutex)?,
            _ => {
                return Err(error(
                    ErrorKind::WrongType,
                    format!("`{condvar}` is not a condvar"),
                ))
            }
        }
        if wait != Wait::Never {
            let pending = Pending::Notified {
                mutex: mutex.to_string(),
            };
            self.park(caller, condvar, pending, wait);
        }
        Ok(())
    }

    /// A condvar wait's last step, on the mutex's shard: releases the caller's hold (a wait
    /// that may not wait parks at once to take the mutex again, timed out) and serves the
    /// mutex's waiters. `Err` if the hold is gone (the mutex was deleted meanwhile).
    pub fn release_for_wait(
        &mut self,
        caller: WaiterId,
        mutex: &str,
        lease: u64,
        value: Option<Blob>,
        wait: Wait,
    ) -> Result<(), Answer> {
        let released = match self.objects.get_mut(mutex).map(|e| &mut e.object) {
            Some(Object::Mutex(m)) => m.release(caller.conn, lease, value, false),
            _ => false,
        };
        if !released {
            let message = format!("mutex `{mutex}` was deleted while a condvar waited");
            return Err(error(ErrorKind::Deleted, message));
        }
        if wait == Wait::Never {
            self.park(
                caller,
                mutex,
                Pending::Reacquire { timed_out: true },
                Wait::Forever,
            );
        }
        self.wake(mutex);
        Ok(())
    }

    /// Takes a parked call back from this shard (a condvar wait whose last step failed);
    /// whether it was here.
    pub fn withdraw(&mut self, id: WaiterId) -> bool {
        self.unpark(id).is_some()
    }

    fn notify(&mut self, condvar: &str, all: bool) -> Answer {
        let Some(entry) = self.objects.get_mut(condvar) else {
            return not_found(condvar);
        };
        if !matches!(entry.object, Object::Condvar(_)) {
            return error(
                ErrorKind::WrongType,
                format!("`{condvar}` is not a condvar"),
            );
        }
        let count = if all { entry.waiters.len() } else { 1 };
        let woken: Vec<Waiter> = entry
            .waiters
            .drain(..count.min(entry.waiters.len()))
            .collect();
        for waiter in woken {
            self.parked.remove(&waiter.id);
            if let Pending::Notified { mutex } = waiter.pending {
                let (id, timed_out) = (waiter.id, false);
                let follow_up = FollowUp::Reacquire {
                    id,
                    mutex,
                    timed_out,
                };
                self.follow_ups.push(follow_up);
            }
        }
        Answer::Done
    }

    /// Parks a notified (or timed-out) condvar waiter on its mutex, in this shard, to take
    /// it again; nothing if the waiter's connection closed meanwhile.
    pub fn reacquire(&mut self, id: WaiterId, mutex: &str, timed_out: bool) {
        if !self.conns.contains_key(&id.conn) {
            return;
        }
        if self.objects.contains(mutex) {
            self.park(id, mutex, Pending::Reacquire { timed_out }, Wait::Forever);
            self.wake(mutex);
        } else {
            let message = format!("mutex `{mutex}` was deleted while a condvar waited");
            self.reply(id, error(ErrorKind::Deleted, message));
        }
    }

    fn barrier_wait(&mut self, caller: WaiterId, name: String, wait: Wait) -> Option<Answer> {
        let entry = self.objects.get_mut(&name)?;
        let Object::Barrier(barrier) = &mut entry.object else {
            return Some(error(
                ErrorKind::WrongType,
                format!("`{name}` is not a barrier"),
            ));
        };
        if barrier.broken {
            return Some(Answer::Broken);
        }
        if barrier.arrive() {
            let others: Vec<Waiter> = entry.waiters.drain(..).collect();
            for waiter in others {
                self.parked.remove(&waiter.id);
                self.reply(waiter.id, Answer::Passed { leader: false });
            }
            return Some(Answer::Passed { leader: true });
        }
        if wait == Wait::Never {
            barrier.arrived -= 1;
            return Some(Answer::WouldBlock);
        }
        self.park(caller, &name, Pending::Barrier, wait);
        None
    }

    fn break_barrier(&mut self, name: &str) {
        let Some(entry) = self.objects.get_mut(name) else {
            return;
        };
        if let Object::Barrier(barrier) = &mut entry.object {
            barrier.broken = true;
        }
        let waiters: Vec<Waiter> = entry.waiters.drain(..).collect();
        for waiter in waiters {
            self.parked.remove(&waiter.id);
            self.reply(waiter.id, Answer::Broken);
        }
    }

    /// Removes a parked call from wherever it waits.
    fn unpark(&mut self, id: WaiterId) -> Option<(String, Waiter)> {
        let name = self.parked.remove(&id)?;
        let entry = self.objects.get_mut(&name)?;
        let index = entry.waiters.iter().position(|w| w.id == id)?;
        Some((name, entry.waiters.remove(index)))
    }

    /// A parked call's timeout ran out.
    pub fn expire(&mut self, id: WaiterId) {
        let still_reacquiring = self.parked.get(&id).is_some_and(|name| {
            self.objects.get(name).is_some_and(|e| {
                e.waiters
                    .iter()
                    .any(|w| w.id == id && matches!(w.pending, Pending::Reacquire { .. }))
            })
        });
        if still_reacquiring {
            return;
        }
        let Some((name, waiter)) = self.unpark(id) else {
            return;
        };
        match waiter.pending {
            Pending::Retry(_) => {
                self.reply(id, Answer::TimedOut);
                // A call that gave up may have held others back (a writer queued ahead of
                // readers).
                self.wake(&name);
            }
            Pending::Notified { mutex } => {
                let timed_out = true;
                let follow_up = FollowUp::Reacquire {
                    id,
                    mutex,
                    timed_out,
                };
                self.follow_ups.push(follow_up);
            }
            Pending::Reacquire { .. } => {}
            Pending::Barrier => {
                self.reply(id, Answer::TimedOut);
                self.break_barrier(&name);
            }
        }
    }

    /// A connection closed: its parked calls go, its holds are released (mutexes and write
    /// locks poisoned), barriers it waited on break, and its references are dropped.
    pub fn disconnect(&mut self, conn: ConnId) {
        let Some(record) = self.conns.remove(&conn) else {
            return;
        };
        let mine: Vec<WaiterId> = self
            .parked
            .keys()
            .filter(|id| id.conn == conn)
            .copied()
            .collect();
        for id in mine {
            if let Some((name, waiter)) = self.unpark(id) {
                if matches!(waiter.pending, Pending::Barrier) {
                    self.break_barrier(&name);
                }
            }
        }
        for id in record.touched.into_distinct() {
            if let Some(name) = self.objects.name_of(id).map(str::to_owned) {
                self.forget_conn(conn, &name);
            }
        }
        if let Some(slots) = self.slots.as_mut() {
            slots.forget(conn);
        }
    }

    fn forget_conn(&mut self, conn: ConnId, name: &str) {
        let Some(entry) = self.objects.get_mut(name) else {
            return;
        };
        entry.refs.drop_conn(conn);
        match &mut entry.object {
            Object::Mutex(m) => drop(m.release_dead(conn)),
            Object::RwLock(l) => drop(l.release_dead(conn)),
            Object::ReentrantLock(l) => drop(l.release_dead(conn)),
            Object::TaskBoard(board) => {
                let lost = board.release_dead(conn);
                self.follow_ups
                    .extend(lost.into_iter().map(FollowUp::Deliver));
            }
            _ => {}
        }
        self.wake(name);
        self.collect_if_unreferenced(name);
    }

    /// Ends the lease of a finished task and delivers its result to the driver.
    fn task_finish(
        &mut self,
        conn: ConnId,
        board: &str,
        id: u64,
        attempt: u32,
        result: Blob,
    ) -> Answer {
        let Some(Object::TaskBoard(tasks)) = self.objects.get_mut(board).map(|e| &mut e.object)
        else {
            return error(
                ErrorKind::WrongType,
                format!("`{board}` is not a task board"),
            );
        };
        let Some(reply_to) = tasks.finish(conn, id, attempt) else {
            let message = format!("task {id} (attempt {attempt}) is not leased to this worker");
            tracing::debug!(board = %board, task = id, attempt, "refused a report: {message}");
            return error(ErrorKind::Invalid, message);
        };
        tracing::debug!(board = %board, task = id, attempt, queue = %reply_to, "task finished; report delivered");
        let report = TaskReport {
            id,
            attempt,
            outcome: TaskOutcome::Finished(result),
        };
        self.follow_ups.push(FollowUp::Deliver((reply_to, report)));
        Answer::Done
    }

    /// Puts a task's report into its reply queue, in this shard, and wakes the drivers
    /// parked there.
    pub fn deliver(&mut self, (queue, report): Delivery) {
        let Ok(bytes) = postcard::to_stdvec(&report) else {
            return;
        };
        match self.objects.get_mut(&queue).map(|e| &mut e.object) {
            Some(Object::Queue(q)) => q.push(bytes.into()),
            _ => {
                tracing::debug!(task = report.id, %queue, "dropped a report: no reply queue");
                return;
            }
        }
        self.wake(&queue);
    }

    /// Deletes objects unused for `ttl` that no live connection references.
    pub fn sweep(&mut self, ttl: Duration) {
        let now = Stamp::now();
        let stale: Vec<String> = self
            .objects
            .iter()
            .filter(|(_, e)| !e.persistent && !e.refs.held() && e.last_used.age(now) >= ttl)
            .map(|(name, _)| name.to_owned())
            .collect();
        for name in stale {
            tracing::debug!(object = %name, "collected by TTL");
            self.delete(&name);
        }
    }
}

/// The start of a call's debug form: enough to tell calls apart, never a whole payload.
fn brief(call: &Call) -> String {
    let mut text = format!("{call:?}");
    if text.len() > 120 {
        let mut end = 120;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn role_counts(refs: &Refs) -> RoleCounts {
    RoleCounts {
        senders: refs.count(Role::Sender),
        receivers: refs.count(Role::Receiver),
    }
}

/// The first parked call of `entry` from index `from` on that can proceed now, with its
/// answer.
fn first_ready(entry: &mut Entry, from: usize, arena: Option<&Arena>) -> Option<(usize, Answer)> {
    let refs = role_counts(&entry.refs);
    for (index, waiter) in entry.waiters.iter().enumerate().skip(from) {
        let answer = match &waiter.pending {
            Pending::Retry(op) => {
                let ctx = Ctx {
                    caller: waiter.id,
                    refs,
                    parked: &entry.waiters,
                    arena,
                };
                match entry.object.apply(op, &ctx) {
                    Step::Done(answer) => Some(answer),
                    Step::Blocked => None,
                }
            }
            Pending::Reacquire { timed_out } => reacquire(&mut entry.object, waiter.id, *timed_out),
            Pending::Notified { .. } | Pending::Barrier => None,
        };
        if let Some(answer) = answer {
            return Some((index, answer));
        }
    }
    None
}

fn reacquire(object: &mut Object, id: WaiterId, timed_out: bool) -> Option<Answer> {
    let Object::Mutex(mutex) = object else {
        return None;
    };
    let grant = mutex.try_acquire(id)?;
    Some(Answer::Woken {
        lease: grant.lease,
        value: grant.value,
        poisoned: grant.poisoned,
        timed_out,
    })
}

#[cfg(test)]
mod entry_size {
    /// A server holds one entry per object: keep it small (see [`super::Entry`]).
    #[test]
    fn an_entry_fits_in_48_bytes() {
        let (entry, object, refs) = (
            std::mem::size_of::<super::Entry>(),
            std::mem::size_of::<crate::objects::Object>(),
            std::mem::size_of::<crate::refs::Refs>(),
        );
        assert!(entry <= 48, "entry {entry} (object {object}, refs {refs})");
        assert_eq!(
            object, 16,
            "an atomic's value, or a pointer, and the tag in its niche"
        );
    }
}
