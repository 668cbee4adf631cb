//! Locks: `Mutex`, `RwLock`, re-entrant lock and `Semaphore`.
//!
//! A hold is identified by the connection and the id of the request that took it (its
//! *lease*), so threads of one process sharing a connection still exclude each other, and a
//! dead connection's holds can be found and released.

use std::collections::HashSet;

use strato_proto::{Answer, Blob, ErrorKind, Kind, Op, Wait};

use super::{done_if, error, wrong_op, Ctx, Step};
use crate::table::{ConnId, WaiterId};

fn not_holder(what: &str) -> Step {
    Step::Done(error(
        ErrorKind::Invalid,
        format!("{what}: the caller does not hold this lock (lease unknown)"),
    ))
}

/// The poison flag as it was, cleared if asked.
fn poison_flag(poisoned: &mut bool, clear: bool) -> bool {
    let was = *poisoned;
    if clear {
        *poisoned = false;
    }
    was
}

/// A mutex protecting a value; poisoned when a holder panics or dies.
#[derive(Debug)]
pub(crate) struct Mutex {
    value: Blob,
    holder: Option<WaiterId>,
    poisoned: bool,
}

/// A granted mutex hold.
pub(crate) struct Grant {
    pub lease: u64,
    pub value: Blob,
    pub poisoned: bool,
}

impl Mutex {
    pub fn new(value: Blob) -> Self {
        Mutex {
            value,
            holder: None,
            poisoned: false,
        }
    }

    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        match op {
            Op::Lock(_) => match self.try_acquire(ctx.caller) {
                Some(g) => Step::Done(Answer::Locked {
                    lease: g.lease,
                    value: g.value,
                    poisoned: g.poisoned,
                }),
                None => Step::Blocked,
            },
            Op::Unlock {
                lease,
                value,
                poison,
            } => match self.release(ctx.caller.conn, *lease, value.clone(), *poison) {
                true => Step::Done(Answer::Done),
                false => not_holder("unlock"),
            },
            Op::Poison { clear } => {
                Step::Done(Answer::Bool(poison_flag(&mut self.poisoned, *clear)))
            }
            other => wrong_op(Kind::Mutex, other),
        }
    }

    /// Takes the mutex for `caller` if it is free.
    pub fn try_acquire(&mut self, caller: WaiterId) -> Option<Grant> {
        if self.holder.is_some() {
            return None;
        }
        self.holder = Some(caller);
        Some(Grant {
            lease: caller.req,
            value: self.value.clone(),
            poisoned: self.poisoned,
        })
    }

    /// Whether `conn` holds it with `lease`.
    pub fn is_held_by(&self, conn: ConnId, lease: u64) -> bool {
        self.holder == Some(WaiterId { conn, req: lease })
    }

    /// Releases the hold `lease` of `conn`, storing `value`; false if it is not the holder.
    pub fn release(&mut self, conn: ConnId, lease: u64, value: Option<Blob>, poison: bool) -> bool {
        if !self.is_held_by(conn, lease) {
            return false;
        }
        self.holder = None;
        self.poisoned |= poison;
        if let Some(value) = value {
            self.value = value;
        }
        true
    }

    /// Releases and poisons a hold of a dead connection; true if there was one.
    pub fn release_dead(&mut self, conn: ConnId) -> bool {
        if self.holder.is_some_and(|h| h.conn == conn) {
            self.holder = None;
            self.poisoned = true;
            return true;
        }
        false
    }
}

/// A readers-writer lock protecting a value.
#[derive(Debug)]
pub(crate) struct RwLock {
    value: Blob,
    writer: Option<WaiterId>,
    readers: HashSet<WaiterId>,
    poisoned: bool,
}

impl RwLock {
    pub fn new(value: Blob) -> Self {
        RwLock {
            value,
            writer: None,
            readers: HashSet::new(),
            poisoned: false,
        }
    }

    fn granted(&self, caller: WaiterId) -> Answer {
        Answer::Locked {
            lease: caller.req,
            value: self.value.clone(),
            poisoned: self.poisoned,
        }
    }

    /// A writer parked ahead of the caller: readers queue behind it so writers do not starve.
    fn writer_waiting_ahead(ctx: &Ctx<'_>) -> bool {
        ctx.parked
            .iter()
            .take_while(|w| w.id != ctx.caller)
            .any(|w| w.is_retry_of(|op| matches!(op, Op::WriteLock(_))))
    }

    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        let caller = ctx.caller;
        match op {
            Op::ReadLock(_) => {
                let free = self.writer.is_none() && !Self::writer_waiting_ahead(ctx);
                if free {
                    self.readers.insert(caller);
                }
                done_if(free, || self.granted(caller))
            }
            Op::WriteLock(_) => {
                let free = self.writer.is_none() && self.readers.is_empty();
                if free {
                    self.writer = Some(caller);
                }
                done_if(free, || self.granted(caller))
            }
            Op::ReadUnlock { lease } => {
                let id = WaiterId {
                    conn: caller.conn,
                    req: *lease,
                };
                match self.readers.remove(&id) {
                    true => Step::Done(Answer::Done),
                    false => not_holder("read unlock"),
                }
            }
            Op::WriteUnlock {
                lease,
                value,
                poison,
            } => self.write_unlock(caller.conn, *lease, value, *poison),
            Op::Poison { clear } => {
                Step::Done(Answer::Bool(poison_flag(&mut self.poisoned, *clear)))
            }
            Op::Downgrade { lease, value } => self.downgrade(caller.conn, *lease, value),
            other => wrong_op(Kind::RwLock, other),
        }
    }

    fn write_unlock(
        &mut self,
        conn: ConnId,
        lease: u64,
        value: &Option<Blob>,
        poison: bool,
    ) -> Step {
        if self.writer != Some(WaiterId { conn, req: lease }) {
            return not_holder("write unlock");
        }
        self.writer = None;
        self.poisoned |= poison;
        if let Some(value) = value {
            self.value = value.clone();
        }
        Step::Done(Answer::Done)
    }

    /// The writer `lease` becomes a reader with the same lease; parked readers may follow.
    fn downgrade(&mut self, conn: ConnId, lease: u64, value: &Option<Blob>) -> Step {
        let id = WaiterId { conn, req: lease };
        if self.writer != Some(id) {
            return not_holder("downgrade");
        }
        self.writer = None;
        self.readers.insert(id);
        if let Some(value) = value {
            self.value = value.clone();
        }
        Step::Done(Answer::Done)
    }

    /// Releases a dead connection's holds; a dead writer poisons the lock.
    pub fn release_dead(&mut self, conn: ConnId) -> bool {
        let before = self.readers.len();
        self.readers.retain(|r| r.conn != conn);
        let mut changed = before != self.readers.len();
        if self.writer.is_some_and(|w| w.conn == conn) {
            self.writer = None;
            self.poisoned = true;
            changed = true;
        }
        changed
    }
}

/// A lock the same thread may take again; released when taken as often as released.
#[derive(Debug)]
pub(crate) struct ReentrantLock {
    value: Blob,
    owner: Option<(ConnId, u64)>,
    depth: u64,
}

impl ReentrantLock {
    pub fn new(value: Blob) -> Self {
        ReentrantLock {
            value,
            owner: None,
            depth: 0,
        }
    }

    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        let conn = ctx.caller.conn;
        match op {
            Op::ReentrantLock { owner, .. } => {
                let me = (conn, *owner);
                let free = self.owner.is_none() || self.owner == Some(me);
                if free {
                    self.owner = Some(me);
                    self.depth += 1;
                }
                done_if(free, || Answer::Locked {
                    lease: *owner,
                    value: self.value.clone(),
                    poisoned: false,
                })
            }
            Op::ReentrantUnlock { owner, value } if self.owner == Some((conn, *owner)) => {
                if let Some(value) = value {
                    self.value = value.clone();
                }
                self.depth -= 1;
                if self.depth == 0 {
                    self.owner = None;
                }
                Step::Done(Answer::Done)
            }
            Op::ReentrantUnlock { .. } => not_holder("re-entrant unlock"),
            other => wrong_op(Kind::ReentrantLock, other),
        }
    }

    /// Releases every level held by a dead connection.
    pub fn release_dead(&mut self, conn: ConnId) -> bool {
        if self.owner.is_some_and(|(c, _)| c == conn) {
            self.owner = None;
            self.depth = 0;
            return true;
        }
        false
    }
}

/// A counting semaphore, optionally bounded.
#[derive(Debug)]
pub(crate) struct Semaphore {
    permits: u64,
    bound: Option<u64>,
}

impl Semaphore {
    pub fn new(permits: u64, bound: Option<u64>) -> Self {
        Semaphore { permits, bound }
    }

    pub fn apply(&mut self, op: &Op) -> Step {
        match op {
            Op::Acquire(n, _) => {
                let enough = self.permits >= *n;
                if enough {
                    self.permits -= n;
                }
                done_if(enough, || Answer::Done)
            }
            Op::Release(n) => self.release(*n),
            Op::Available => Step::Done(Answer::Count(self.permits)),
            other => wrong_op(Kind::Semaphore, other),
        }
    }

    fn release(&mut self, n: u64) -> Step {
        let after = self.permits.saturating_add(n);
        if self.bound.is_some_and(|bound| after > bound) {
            return Step::Done(error(
                ErrorKind::Overflow,
                format!(
                    "bounded semaphore released too many times ({after} permits > bound {})",
                    self.bound.unwrap_or_default()
                ),
            ));
        }
        self.permits = after;
        Step::Done(Answer::Done)
    }
}

/// The wait mode inside a blocking op, if it has one.
pub(crate) fn wait_of(op: &Op) -> Option<Wait> {
    Some(match op {
        Op::Lock(w)
        | Op::ReadLock(w)
        | Op::WriteLock(w)
        | Op::ReentrantLock { wait: w, .. }
        | Op::Acquire(_, w)
        | Op::CondWait { wait: w, .. }
        | Op::EventWait(w)
        | Op::BarrierWait(w)
        | Op::FutureGet(w)
        | Op::LatchWait(w)
        | Op::Send(_, w)
        | Op::Recv(w)
        | Op::Put(_, w)
        | Op::Get(w)
        | Op::Join(w)
        | Op::GetMany { wait: w, .. }
        | Op::TaskTake { wait: w, .. }
        | Op::Invoke { wait: w, .. } => *w,
        _ => return None,
    })
}
