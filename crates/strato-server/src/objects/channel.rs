//! Message passing: mpsc `Channel` (counts senders and receivers) and the MPMC `Queue`
//! (with `task_done`/`join` as in Python's `JoinableQueue`).

use std::collections::VecDeque;

use strato_proto::{Answer, Blob, ErrorKind, Kind, Op};

use super::{done_if, error, wrong_op, Ctx, Step};

/// An mpsc channel, bounded (sync) or not.
#[derive(Debug)]
pub(crate) struct Channel {
    items: VecDeque<Blob>,
    bound: Option<u64>,
}

impl Channel {
    pub fn new(bound: Option<u64>) -> Self {
        Channel {
            items: VecDeque::new(),
            bound,
        }
    }

    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        match op {
            // The item is copied only once the send can proceed (a parked one is retried).
            Op::Send(value, _) => match self.may_send(ctx) {
                Err(answer) => Step::Done(answer),
                Ok(room) => done_if(room, || {
                    self.items.push_back(value.clone());
                    Answer::Done
                }),
            },
            Op::Recv(_) => match self.items.pop_front() {
                Some(value) => Step::Done(Answer::Blob(value)),
                None if ctx.refs.senders == 0 => Step::Done(Answer::Disconnected),
                None => Step::Blocked,
            },
            Op::Len => Step::Done(Answer::Count(self.items.len() as u64)),
            other => wrong_op(Kind::Channel, other),
        }
    }

    /// Sends `item`: `Ok` with the answer (done, or disconnected when no receiver is
    /// left), `Err` with the item when there is no room now.
    pub fn send(&mut self, item: Blob, ctx: &Ctx<'_>) -> Result<Answer, Blob> {
        match self.may_send(ctx) {
            Err(answer) => Ok(answer),
            Ok(false) => Err(item),
            Ok(true) => {
                self.items.push_back(item);
                Ok(Answer::Done)
            }
        }
    }

    /// Whether a send can take its item now; `Err` with its answer when no receiver is left.
    fn may_send(&self, ctx: &Ctx<'_>) -> Result<bool, Answer> {
        match ctx.refs.receivers {
            0 => Err(Answer::Disconnected),
            _ => Ok(self.has_room(ctx)),
        }
    }

    /// Bounded channels hold at most `bound` messages; a rendezvous channel (bound 0) takes a
    /// message only for a receiver already waiting.
    fn has_room(&self, ctx: &Ctx<'_>) -> bool {
        let waiting_receivers = ctx
            .parked
            .iter()
            .filter(|w| w.is_retry_of(|op| matches!(op, Op::Recv(_))))
            .count() as u64;
        match self.bound {
            None => true,
            Some(bound) => (self.items.len() as u64) < bound + waiting_receivers,
        }
    }
}

/// A multi-producer multi-consumer FIFO queue, bounded or not.
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<Blob>,
    bound: Option<u64>,
    unfinished: u64,
}

impl Queue {
    pub fn new(bound: Option<u64>) -> Self {
        Queue {
            items: VecDeque::new(),
            bound,
            unfinished: 0,
        }
    }

    pub fn apply(&mut self, op: &Op) -> Step {
        match op {
            // The item is copied only once the put can proceed (a parked one is retried).
            Op::Put(value, _) => done_if(!self.is_full(), || {
                self.push(value.clone());
                Answer::Done
            }),
            Op::Get(_) => match self.items.pop_front() {
                Some(value) => Step::Done(Answer::Blob(value)),
                None => Step::Blocked,
            },
            Op::GetMany { max, .. } => self.get_many(*max),
            Op::Len => Step::Done(Answer::Count(self.items.len() as u64)),
            Op::TaskDone if self.unfinished == 0 => Step::Done(error(
                ErrorKind::Invalid,
                "task_done() called more times than there were items put",
            )),
            Op::TaskDone => {
                self.unfinished -= 1;
                Step::Done(Answer::Done)
            }
            Op::Join(_) => done_if(self.unfinished == 0, || Answer::Done),
            other => wrong_op(Kind::Queue, other),
        }
    }

    /// Puts `item` if there is room; `Err` with it if the queue is full.
    pub fn put(&mut self, item: Blob) -> Result<(), Blob> {
        if self.is_full() {
            return Err(item);
        }
        self.push(item);
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.bound.is_some_and(|b| (self.items.len() as u64) >= b)
    }

    fn get_many(&mut self, max: u32) -> Step {
        if self.items.is_empty() {
            return Step::Blocked;
        }
        let count = self.items.len().min(max.max(1) as usize);
        Step::Done(Answer::Blobs(self.items.drain(..count).collect()))
    }

    /// Appends an item regardless of the bound (the server's own deliveries).
    pub fn push(&mut self, item: Blob) {
        self.items.push_back(item);
        self.unfinished += 1;
    }
}
