//! The task board: tasks submitted by drivers, handed to the workers of one binary, each held
//! under a lease tied to its worker's connection until the worker reports it done.
//!
//! A worker that dies (its connection closes) gives its leased tasks back, first in line. The
//! task it was running ([`Op::TaskStart`]) is charged a retry, and reported lost once it has
//! used up its retries; the others it held go back as they were.

use std::collections::{HashMap, HashSet, VecDeque};

use strato_proto::{Answer, ErrorKind, Kind, Op, TaskGrant, TaskOutcome, TaskReport, TaskSpec};

use super::{error, wrong_op, Ctx, Step};
use crate::table::ConnId;

/// A task waiting for a worker, with the attempt it will be.
#[derive(Debug)]
struct Queued {
    spec: TaskSpec,
    /// Which run this is: every time the task is queued again, a new one (results and
    /// leases are named by it).
    attempt: u32,
    /// The retries it used: how many times a worker died running it.
    charged: u32,
}

/// A task a worker holds.
#[derive(Debug)]
struct Lease {
    conn: ConnId,
    task: Queued,
}

/// One board of tasks.
#[derive(Debug)]
pub(crate) struct TaskBoard {
    binary: String,
    pending: VecDeque<Queued>,
    leases: HashMap<u64, Lease>,
    workers: HashSet<ConnId>,
    /// The task each worker said it started last.
    running: HashMap<ConnId, u64>,
}

/// A report for the driver and the queue it goes to.
pub(crate) type Delivery = (String, TaskReport);

impl TaskBoard {
    pub fn new(binary: String) -> Self {
        TaskBoard {
            binary,
            pending: VecDeque::new(),
            leases: HashMap::new(),
            workers: HashSet::new(),
            running: HashMap::new(),
        }
    }

    pub fn apply(&mut self, op: &Op, ctx: &Ctx<'_>) -> Step {
        let conn = ctx.caller.conn;
        match op {
            Op::TaskJoin { binary } => Step::Done(self.join(conn, binary)),
            Op::TaskSubmit(specs) => Step::Done(self.submit(specs)),
            Op::TaskTake { max, .. } => self.take(conn, *max),
            Op::TaskStart { id } => {
                if self.leases.get(id).is_some_and(|lease| lease.conn == conn) {
                    self.running.insert(conn, *id);
                }
                Step::Done(Answer::Done)
            }
            Op::TaskCounts => Step::Done(Answer::TaskCounts {
                pending: self.pending.len() as u64,
                leased: self.leases.len() as u64,
                workers: self.workers.len() as u64,
            }),
            other => wrong_op(Kind::TaskBoard, other),
        }
    }

    fn join(&mut self, conn: ConnId, binary: &str) -> Answer {
        if binary != self.binary {
            return error(
                ErrorKind::WrongBinary,
                format!(
                    "this worker runs binary {binary}, but the tasks need binary {}: workers \
                     must run the identical executable as their driver (rebuilt or another \
                     program?)",
                    self.binary
                ),
            );
        }
        self.workers.insert(conn);
        Answer::Done
    }

    fn submit(&mut self, specs: &[TaskSpec]) -> Answer {
        tracing::debug!(tasks = ?ids(specs.iter().map(|s| s.id)), "tasks queued");
        let queued = specs.iter().map(|spec| Queued {
            spec: spec.clone(),
            attempt: 0,
            charged: 0,
        });
        self.pending.extend(queued);
        Answer::Done
    }

    fn take(&mut self, conn: ConnId, max: u32) -> Step {
        if !self.workers.contains(&conn) {
            let message = "a worker must join the task board (TaskJoin) before taking tasks";
            return Step::Done(error(ErrorKind::Invalid, message));
        }
        if self.pending.is_empty() {
            return Step::Blocked;
        }
        let count = self.fair_share().min(max.max(1) as usize);
        let taken: Vec<Queued> = self
            .pending
            .drain(..count.min(self.pending.len()))
            .collect();
        let grants: Vec<TaskGrant> = taken
            .into_iter()
            .map(|task| self.lease(conn, task))
            .collect();
        tracing::debug!(worker = conn, tasks = ?ids(grants.iter().map(|g| g.id)), "tasks leased");
        Step::Done(Answer::Tasks(grants))
    }

    /// A quarter of each worker's share of the pending tasks (at least one), so that
    /// batches stay small enough for the others to get work too.
    fn fair_share(&self) -> usize {
        let workers = self.workers.len().max(1);
        self.pending.len().div_ceil(workers * 4).max(1)
    }

    fn lease(&mut self, conn: ConnId, task: Queued) -> TaskGrant {
        let grant = TaskGrant {
            id: task.spec.id,
            attempt: task.attempt,
            body: task.spec.body.clone(),
        };
        self.leases.insert(task.spec.id, Lease { conn, task });
        grant
    }

    /// Ends the lease of a reported task; the queue its report goes to, if the lease was
    /// this connection's.
    pub fn finish(&mut self, conn: ConnId, id: u64, attempt: u32) -> Option<String> {
        let lease = self.leases.get(&id)?;
        if lease.conn != conn || lease.task.attempt != attempt {
            return None;
        }
        self.leases
            .remove(&id)
            .map(|lease| lease.task.spec.reply_to)
    }

    /// A worker's connection closed: its tasks are queued again (first in line), the one it
    /// was running charged a retry or, with no retries left, reported lost.
    pub fn release_dead(&mut self, conn: ConnId) -> Vec<Delivery> {
        self.workers.remove(&conn);
        let running = self.running.remove(&conn);
        let mut mine: Vec<u64> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.conn == conn)
            .map(|(id, _)| *id)
            .collect();
        // Back in the order they were submitted (ids grow), ahead of the rest.
        mine.sort_unstable_by(|a, b| b.cmp(a));
        // A worker that died before it said it started anything was starting its first
        // task (or, holding a watch task, holding that one).
        let running = running.or_else(|| mine.last().copied());
        let mut lost = Vec::new();
        for id in mine {
            let Some(Lease { task, .. }) = self.leases.remove(&id) else {
                continue;
            };
            let was_running = running == Some(id);
            let retry = !was_running || task.charged < task.spec.max_retries;
            tracing::debug!(
                worker = conn,
                task = id,
                attempt = task.attempt,
                was_running,
                retry,
                "worker lost"
            );
            match retry {
                true => self.pending.push_front(Queued {
                    attempt: task.attempt + 1,
                    charged: task.charged + u32::from(was_running),
                    spec: task.spec,
                }),
                false => lost.push(lost_report(task)),
            }
        }
        lost
    }
}

/// Task ids for a log line.
fn ids(ids: impl Iterator<Item = u64>) -> Vec<u64> {
    ids.collect()
}

/// A task that used up its retries: its report says how many runs died (`attempt` + 1).
fn lost_report(task: Queued) -> Delivery {
    let report = TaskReport {
        id: task.spec.id,
        attempt: task.charged,
        outcome: TaskOutcome::Lost,
    };
    (task.spec.reply_to, report)
}
