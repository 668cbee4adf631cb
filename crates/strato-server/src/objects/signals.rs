//! Signalling objects: `Event`, `Future`, `CountDownLatch`, `Condvar`, `Barrier`.
//!
//! `Condvar` and `Barrier` park their waiters until another call releases them explicitly
//! (a notification, the last party), so the table drives them; the others are retried.

use strato_proto::{Answer, Blob, ErrorKind, Kind, Op};

use super::{done_if, error, wrong_op, Step};

/// A flag that waiters wait to see set.
#[derive(Debug, Default)]
pub(crate) struct Event {
    set: bool,
}

impl Event {
    pub fn apply(&mut self, op: &Op) -> Step {
        match op {
            Op::EventSet => {
                self.set = true;
                Step::Done(Answer::Done)
            }
            Op::EventClear => {
                self.set = false;
                Step::Done(Answer::Done)
            }
            Op::EventIsSet => Step::Done(Answer::Bool(self.set)),
            Op::EventWait(_) => done_if(self.set, || Answer::Done),
            other => wrong_op(Kind::Event, other),
        }
    }
}

/// A value set once and read by any number of waiters.
#[derive(Debug, Default)]
pub(crate) struct Future {
    value: Option<Blob>,
}

impl Future {
    pub fn apply(&mut self, op: &Op) -> Step {
        match op {
            Op::FutureSet(_) if self.value.is_some() => Step::Done(error(
                ErrorKind::AlreadySet,
                "the future already holds a value",
            )),
            Op::FutureSet(value) => {
                self.value = Some(value.clone());
                Step::Done(Answer::Done)
            }
            Op::FutureIsSet => Step::Done(Answer::Bool(self.value.is_some())),
            Op::FutureGet(_) => match &self.value {
                Some(v) => Step::Done(Answer::Blob(v.clone())),
                None => Step::Blocked,
            },
            other => wrong_op(Kind::Future, other),
        }
    }
}

/// A count that waiters wait to see reach zero.
#[derive(Debug)]
pub(crate) struct Latch {
    count: u64,
}

impl Latch {
    pub fn new(count: u64) -> Self {
        Latch { count }
    }

    pub fn apply(&mut self, op: &Op) -> Step {
        match op {
            Op::CountDown => {
                self.count = self.count.saturating_sub(1);
                Step::Done(Answer::Done)
            }
            Op::LatchCount => Step::Done(Answer::Count(self.count)),
            Op::LatchWait(_) => done_if(self.count == 0, || Answer::Done),
            other => wrong_op(Kind::Latch, other),
        }
    }
}

/// A condition variable; it remembers the mutex it is used with, as std's does.
#[derive(Debug, Default)]
pub(crate) struct Condvar {
    pub mutex: Option<String>,
}

impl Condvar {
    /// Binds the condvar to `mutex` on first use; an error if used with another one.
    pub fn bind(&mut self, mutex: &str) -> Result<(), Answer> {
        match &self.mutex {
            Some(bound) if bound != mutex => Err(error(
                ErrorKind::Invalid,
                format!("condvar is used with mutex `{bound}`, not `{mutex}`"),
            )),
            Some(_) => Ok(()),
            None => {
                self.mutex = Some(mutex.to_string());
                Ok(())
            }
        }
    }
}

/// A cyclic barrier.
#[derive(Debug)]
pub(crate) struct Barrier {
    pub parties: u64,
    pub arrived: u64,
    pub generation: u64,
    pub broken: bool,
}

impl Barrier {
    pub fn new(parties: u64) -> Self {
        Barrier {
            parties: parties.max(1),
            arrived: 0,
            generation: 0,
            broken: false,
        }
    }

    /// Counts an arrival; true if it completes the generation (the caller leads).
    pub fn arrive(&mut self) -> bool {
        self.arrived += 1;
        if self.arrived < self.parties {
            return false;
        }
        self.arrived = 0;
        self.generation += 1;
        true
    }
}
