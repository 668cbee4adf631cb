//! The task board over Redis: tasks as records in a list, leases in a hash, each worker's
//! liveness a deadline it pushes back every [`BEAT`](crate::state::BEAT).
//!
//! A state server sees a worker die when its connection closes; Redis cannot, so a worker
//! counts as dead once its deadline ([`LEASE`](crate::state::LEASE)) passes. Whoever takes
//! tasks next reaps the dead first, and a worker waiting for tasks wakes at least once per
//! lease period to do so.

use std::collections::HashMap;

use strato_proto::{
    Answer, Blob, ErrorKind, Op, TaskGrant, TaskOutcome, TaskReport, TaskSpec, Wait,
};

use crate::reply::{netstrings, Reply};
use crate::state::{now_ms, Shared, LEASE};
use crate::Failure;

/// How often a worker looks for dead workers on a board it takes tasks from.
const REAP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A new task's record: id, attempt, max_retries, reply_to, body, retries charged.
fn record(spec: &TaskSpec) -> Vec<u8> {
    netstrings([
        spec.id.to_string().as_bytes(),
        b"0",
        spec.max_retries.to_string().as_bytes(),
        spec.reply_to.as_bytes(),
        &spec.body[..],
        b"0",
    ])
}

/// A granted record as a [`TaskGrant`].
fn grant(record: &[u8]) -> Result<TaskGrant, Failure> {
    let mut bytes = b"S".to_vec();
    bytes.extend_from_slice(record);
    let r = Reply::decode(&bytes).map_err(Failure::Protocol)?;
    Ok(TaskGrant {
        id: r.number(0).map_err(Failure::Protocol)?,
        attempt: r.number(1).map_err(Failure::Protocol)?,
        body: r.blob(4).map_err(Failure::Protocol)?,
    })
}

impl Shared {
    pub(crate) fn task_join(&self, board: &str, binary: String) -> Result<Answer, Failure> {
        let deadline = (now_ms() + LEASE.as_millis() as u64).to_string();
        let args = vec![binary.clone().into_bytes(), deadline.into_bytes()];
        let answer = self.answer(board, "task_join", Wait::Never, args)?;
        if answer == Answer::Done {
            self.boards().insert(board.to_string(), binary);
        }
        Ok(answer)
    }

    pub(crate) fn task_submit(&self, board: &str, specs: &[TaskSpec]) -> Result<Answer, Failure> {
        self.answer(
            board,
            "task_submit",
            Wait::Never,
            specs.iter().map(record).collect(),
        )
    }

    /// Reaps dead workers, then takes tasks; a long wait is cut into lease periods so that
    /// the reaping happens while every live worker waits.
    pub(crate) fn task_take(&self, board: &str, max: u32, wait: Wait) -> Result<Answer, Failure> {
        let deadline = match wait {
            Wait::Micros(us) => {
                Some(std::time::Instant::now() + std::time::Duration::from_micros(us))
            }
            _ => None,
        };
        loop {
            if self.reap_due(board) {
                self.reap(board)?;
            }
            let slice = match (wait, deadline) {
                (Wait::Never, _) => Wait::Never,
                (_, Some(end)) => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    Wait::Micros(left.min(LEASE).as_micros() as u64)
                }
                (_, None) => Wait::Micros(LEASE.as_micros() as u64),
            };
            let reply = self.run(
                board,
                "task_take",
                slice,
                vec![max.to_string().into_bytes()],
            )?;
            if reply.tag == b'E' && self.rejoin(board)? {
                continue; // reaped while alive (a heartbeat came late): join again
            }
            let expired = deadline.is_some_and(|end| std::time::Instant::now() >= end);
            match reply.tag {
                b'S' => {
                    let grants = reply
                        .fields
                        .iter()
                        .map(|r| grant(r))
                        .collect::<Result<_, _>>()?;
                    return Ok(Answer::Tasks(grants));
                }
                b'T' if !expired => continue,
                _ => return reply.answer().map_err(Failure::Protocol),
            }
        }
    }

    /// Finishes one task: as [`Self::task_finish_many`], but a lease this worker does not
    /// hold is an error.
    pub(crate) fn task_finish(
        &self,
        board: &str,
        id: u64,
        attempt: u32,
        result: Blob,
    ) -> Result<Answer, Failure> {
        let reply_to = match self.held(board, &[(id, attempt)])?.pop().flatten() {
            Some(queue) => queue,
            None => {
                let message = format!("task {id} (attempt {attempt}) is not leased to this worker");
                return Ok(Answer::Error {
                    kind: ErrorKind::Invalid,
                    message,
                });
            }
        };
        let report = TaskReport {
            id,
            attempt,
            outcome: TaskOutcome::Finished(result),
        };
        self.deliver(&reply_to, &report)?;
        self.end_leases(board, &[(id, attempt)])?;
        Ok(Answer::Done)
    }

    /// Finishes several tasks of `board`: puts their reports on their reply queues (one call
    /// per queue), then ends their leases (one call). Finishing is two steps on Redis, so
    /// they are ordered: a worker that dies between them leaves tasks that are leased *and*
    /// reported, which run again and whose second report the driver drops, never tasks that
    /// are neither. Tasks whose lease this worker lost are skipped, as a state server would.
    pub(crate) fn task_finish_many(
        &self,
        board: &str,
        finished: Vec<(u64, u32, Blob)>,
    ) -> Result<(), Failure> {
        let keys: Vec<(u64, u32)> = finished
            .iter()
            .map(|(id, attempt, _)| (*id, *attempt))
            .collect();
        let queues = self.held(board, &keys)?;
        let mut reports: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        let mut held = Vec::new();
        for ((id, attempt, result), queue) in finished.into_iter().zip(queues) {
            let Some(queue) = queue else { continue };
            held.push((id, attempt));
            let report = TaskReport {
                id,
                attempt,
                outcome: TaskOutcome::Finished(result),
            };
            let encoded =
                postcard::to_stdvec(&report).map_err(|e| Failure::Protocol(e.to_string()))?;
            reports.entry(queue).or_default().push(encoded);
        }
        for (queue, items) in reports {
            self.answer(&queue, "put_many", Wait::Never, items)?;
        }
        if !held.is_empty() {
            self.end_leases(board, &held)?;
        }
        Ok(())
    }

    /// The reply queue of each task whose lease this worker holds.
    fn held(&self, board: &str, tasks: &[(u64, u32)]) -> Result<Vec<Option<String>>, Failure> {
        let queues = match self.answer(board, "task_held", Wait::Never, lease_args(tasks))? {
            Answer::Blobs(queues) => queues,
            other => return Err(Failure::Protocol(format!("task_held answered {other:?}"))),
        };
        Ok(queues
            .into_iter()
            .map(|q| (!q.is_empty()).then(|| String::from_utf8_lossy(&q).into_owned()))
            .collect())
    }

    /// Ends the leases of reported tasks.
    fn end_leases(&self, board: &str, tasks: &[(u64, u32)]) -> Result<(), Failure> {
        self.answer(board, "task_finish_many", Wait::Never, lease_args(tasks))?;
        Ok(())
    }

    /// Joins `board` again after this worker was taken for dead; false if it never joined.
    fn rejoin(&self, board: &str) -> Result<bool, Failure> {
        let Some(binary) = self.boards().get(board).cloned() else {
            return Ok(false);
        };
        tracing::warn!(board, "this worker was taken for dead; joining again");
        Ok(self.task_join(board, binary)? == Answer::Done)
    }

    /// Whether this process should look for dead workers on `board` now: once a second
    /// at most (a lease lasts three), not on every take.
    fn reap_due(&self, board: &str) -> bool {
        let mut reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match reaped.get(board) {
            Some(last) if now.duration_since(*last) < REAP_EVERY => false,
            _ => {
                reaped.insert(board.to_string(), now);
                true
            }
        }
    }

    /// Requeues the tasks of workers past their deadline and reports those out of retries.
    fn reap(&self, board: &str) -> Result<(), Failure> {
        let lost = self.run(
            board,
            "task_reap",
            Wait::Never,
            vec![now_ms().to_string().into_bytes()],
        )?;
        self.report_lost(lost)
    }

    /// This process leaves `board`: its leased tasks go back at once.
    pub(crate) fn leave_board(&self, board: &str) -> Result<(), Failure> {
        let lost = self.run(board, "task_leave", Wait::Never, vec![])?;
        self.report_lost(lost)
    }

    fn report_lost(&self, lost: Reply) -> Result<(), Failure> {
        if lost.tag != b'S' {
            return Ok(());
        }
        for entry in &lost.fields {
            let mut bytes = b"S".to_vec();
            bytes.extend_from_slice(entry);
            let r = Reply::decode(&bytes).map_err(Failure::Protocol)?;
            let report = TaskReport {
                id: r.number(0).map_err(Failure::Protocol)?,
                attempt: r.number(1).map_err(Failure::Protocol)?,
                outcome: TaskOutcome::Lost,
            };
            self.deliver(r.text(2).map_err(Failure::Protocol)?, &report)?;
        }
        Ok(())
    }

    /// Puts a report on the driver's reply queue.
    fn deliver(&self, queue: &str, report: &TaskReport) -> Result<Answer, Failure> {
        let encoded = postcard::to_stdvec(report).map_err(|e| Failure::Protocol(e.to_string()))?;
        match self.op(queue.to_string(), Op::Put(Blob::from(encoded), Wait::Never))? {
            Answer::Error {
                kind: ErrorKind::NotFound,
                ..
            } => Ok(Answer::Done), // the driver is gone: nobody waits for the report
            other => Ok(other),
        }
    }
}

/// `id, attempt, id, attempt, …` as script arguments.
fn lease_args(tasks: &[(u64, u32)]) -> Vec<Vec<u8>> {
    tasks
        .iter()
        .flat_map(|(id, attempt)| {
            [
                id.to_string().into_bytes(),
                attempt.to_string().into_bytes(),
            ]
        })
        .collect()
}
