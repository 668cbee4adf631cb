//! The driver's side of the task board: submitting chunks of items, and the collector thread
//! that receives every task's report from the reply queue and fills the futures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use strato_client::Client;
use strato_proto::{Answer, ByteBuf, Op, TaskOutcome, TaskReport, TaskSpec, Wait};

use strato_jobs::TaskRecord;

use super::func::{Entry, FnRef};
use super::future::{ItemOutcome, Progress, Slot, TaskError, TaskLogs, TaskStats};
use super::job::Jobs;
use super::wire::{now_us, Failure, Payload, RunStats, TaskBody, WorkerResult};
use crate::handle::Handle;
use strato_worker::blob::StoredBlob;

/// Settings every task of an executor shares.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Arguments and results larger than this travel as blobs on the state.
    pub inline_limit: u64,
}

/// A submitted task whose report has not arrived.
struct InFlight {
    slots: Vec<Arc<Slot>>,
    /// The argument's blob, if it was too large to travel inline: held until the report.
    _input_blob: Option<StoredBlob>,
    submitted_us: u64,
    job: Arc<str>,
    /// Its position in the job.
    index: u64,
}

/// One executor's connection to its board and reply queue, and its tasks in flight.
pub(crate) struct Core {
    pub client: Client,
    pub board: Handle,
    pub replies: Handle,
    pub limits: Limits,
    pub progress: Arc<Progress>,
    pub jobs: Jobs,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    /// The compute backend to tell of new work (one whose workers end when idle).
    pub waker: std::sync::OnceLock<std::sync::Weak<dyn strato_worker::Compute>>,
}

/// A chunk of items ready to submit: the encoded `Vec<A>` and how many items it holds.
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub items: usize,
}

/// Per-submission settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Submit {
    pub timeout_ms: Option<u64>,
    pub max_retries: u32,
}

/// Where submitted tasks belong: their job, and the position in it of the first one.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub job: Arc<str>,
    pub first: u64,
}

/// The largest batch of task specs sent in one frame, in body bytes.
const SUBMIT_BATCH_BYTES: usize = 4 << 20;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    pub fn new(client: Client, board: Handle, replies: Handle, limits: Limits, jobs: Jobs) -> Core {
        Core {
            client,
            board,
            replies,
            limits,
            progress: Arc::new(Progress::default()),
            jobs,
            in_flight: Mutex::new(HashMap::new()),
            waker: std::sync::OnceLock::new(),
        }
    }

    /// Submits one task per chunk; returns each chunk's item slots, in order.
    pub fn submit(
        &self,
        entry: Entry,
        chunks: Vec<Chunk>,
        how: Submit,
        place: &Place,
    ) -> Result<Vec<Vec<Arc<Slot>>>, TaskError> {
        let _span = tracing::debug_span!("submit", job = %place.job).entered();
        if let Some(workers) = self.waker.get().and_then(std::sync::Weak::upgrade) {
            workers.on_submit();
        }
        let mut all_slots = Vec::with_capacity(chunks.len());
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for (index, chunk) in (place.first..).zip(chunks) {
            let (spec, slots) = self.prepare(entry, chunk, how, &place.job, index)?;
            batch_bytes += spec.body.len();
            batch.push(spec);
            all_slots.push(slots);
            if batch_bytes >= SUBMIT_BATCH_BYTES {
                self.send(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.send(batch)?;
        }
        Ok(all_slots)
    }

    fn prepare(
        &self,
        entry: Entry,
        chunk: Chunk,
        how: Submit,
        job: &Arc<str>,
        index: u64,
    ) -> Result<(TaskSpec, Vec<Arc<Slot>>), TaskError> {
        let id = strato_worker::compute::next_task_id(self.client.connection_id());
        tracing::debug!(task = id, index, items = chunk.items, "task submitted");
        let name = format!("strato.blob.{id}.a");
        let (input, input_blob) =
            Payload::store(&self.client, chunk.bytes, self.limits.inline_limit, &name)
                .map_err(|e| TaskError::Data(format!("cannot store a task's argument: {e}")))?;
        let slots: Vec<Arc<Slot>> = (0..chunk.items)
            .map(|_| Arc::new(Slot::new(job.clone(), id)))
            .collect();
        let flight = InFlight {
            slots: slots.clone(),
            _input_blob: input_blob,
            submitted_us: now_us(),
            job: job.clone(),
            index,
        };
        let body = TaskBody {
            job: job.clone(),
            func: FnRef::of(entry),
            input,
            timeout_ms: how.timeout_ms,
            inline_limit: self.limits.inline_limit,
        };
        let body = postcard::to_stdvec(&body).map_err(|e| TaskError::Data(e.to_string()))?;
        lock(&self.in_flight).insert(id, flight);
        let spec = TaskSpec {
            id,
            reply_to: self.replies.name().to_string(),
            max_retries: how.max_retries,
            body: ByteBuf::from(body),
        };
        Ok((spec, slots))
    }

    fn send(&self, specs: Vec<TaskSpec>) -> Result<(), TaskError> {
        let ids: Vec<u64> = specs.iter().map(|s| s.id).collect();
        match self.board.op(Op::TaskSubmit(specs)) {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut in_flight = lock(&self.in_flight);
                ids.iter().for_each(|id| drop(in_flight.remove(id)));
                Err(TaskError::Executor(format!("cannot submit tasks: {e}")))
            }
        }
    }

    /// Receives reports until the reply queue is deleted or the connection is lost.
    pub fn collect(&self) {
        loop {
            let answer = self.replies.op(Op::GetMany {
                max: 4096,
                wait: Wait::Forever,
            });
            match answer {
                Ok(Answer::Blobs(reports)) => {
                    reports.iter().for_each(|r| self.receive(r));
                    self.progress.bump();
                    self.jobs.flush();
                }
                Ok(other) => tracing::warn!("unexpected answer on the reply queue: {other:?}"),
                Err(e) => {
                    self.fail_all(TaskError::Executor(format!("stopped tracking tasks: {e}")));
                    return;
                }
            }
        }
    }

    /// Fails every task still in flight.
    pub fn fail_all(&self, error: TaskError) {
        let flights: Vec<(u64, InFlight)> = lock(&self.in_flight).drain().collect();
        for (id, flight) in flights {
            flight
                .slots
                .iter()
                .for_each(|s| s.fill(Err(error.clone()), None));
            self.note(&flight, id, 0, None, Some(&error), None);
        }
        self.progress.bump();
        self.jobs.flush();
    }

    /// Counts a task that was never submitted (a reduction whose inputs failed) as failed.
    pub fn note_unsubmitted(&self, place: &Place, error: &TaskError) {
        let flight = InFlight {
            slots: Vec::new(),
            _input_blob: None,
            submitted_us: now_us(),
            job: place.job.clone(),
            index: place.first,
        };
        self.note(&flight, 0, 0, None, Some(error), None);
        self.jobs.flush();
    }

    /// Counts a finished task for its job, with its record if records are kept.
    fn note(
        &self,
        flight: &InFlight,
        id: u64,
        retries: u32,
        run: Option<&RunStats>,
        error: Option<&TaskError>,
        logs: Option<&TaskLogs>,
    ) {
        tracing::debug!(job = %flight.job, task = id, retries, failed = error.is_some(), "task received");
        if !self.jobs.recording() {
            return;
        }
        let run = run.cloned().unwrap_or_default();
        let (stdout, stderr) =
            logs.map_or_else(Default::default, |l| (l.stdout.clone(), l.stderr.clone()));
        let record = TaskRecord {
            task: id,
            index: flight.index,
            items: flight.slots.len() as u64,
            worker: run.worker,
            submitted_us: flight.submitted_us,
            started_us: run.started_us,
            finished_us: run.finished_us,
            received_us: now_us(),
            bytes_in: run.bytes_in,
            bytes_out: run.bytes_out,
            retries,
            error: error.map(ToString::to_string),
            stdout,
            stderr,
        };
        self.jobs.note(&flight.job, record);
    }

    fn receive(&self, bytes: &[u8]) {
        let Ok(report) = postcard::from_bytes::<TaskReport>(bytes) else {
            tracing::warn!("dropped a malformed task report");
            return;
        };
        let Some(flight) = lock(&self.in_flight).remove(&report.id) else {
            return;
        };
        match report.outcome {
            TaskOutcome::Lost => {
                let error = TaskError::WorkerLost {
                    attempts: report.attempt + 1,
                };
                flight
                    .slots
                    .iter()
                    .for_each(|s| s.fill(Err(error.clone()), None));
                self.note(&flight, report.id, report.attempt, None, Some(&error), None);
            }
            TaskOutcome::Finished(result) => {
                self.fill_finished(&flight, report.id, &result, report.attempt)
            }
        }
    }

    fn fill_finished(&self, flight: &InFlight, id: u64, result: &[u8], attempt: u32) {
        let result = match postcard::from_bytes::<WorkerResult>(result) {
            Ok(result) => result,
            Err(e) => {
                let error = TaskError::Data(format!("malformed result from a worker: {e}"));
                flight
                    .slots
                    .iter()
                    .for_each(|s| s.fill(Err(error.clone()), None));
                return self.note(flight, id, attempt, None, Some(&error), None);
            }
        };
        let stats = TaskStats::new(flight.submitted_us, &result.stats, attempt);
        // Most tasks print nothing: their futures make empty logs when asked.
        let printed = !result.stdout.is_empty() || !result.stderr.is_empty();
        let logs = printed.then(|| {
            Arc::new(TaskLogs {
                job: flight.job.to_string(),
                task: id,
                stdout: result.stdout,
                stderr: result.stderr,
            })
        });
        let outcomes = split_outcome(&self.client, result.outcome, flight.slots.len());
        let error = outcomes.first().and_then(|o| o.as_ref().err().cloned());
        for (slot, outcome) in flight.slots.iter().zip(outcomes) {
            slot.fill_with_logs(outcome, Some(stats.clone()), logs.clone());
        }
        self.note(
            flight,
            id,
            attempt,
            Some(&result.stats),
            error.as_ref(),
            logs.as_deref(),
        );
    }
}

/// One outcome per item of the chunk.
fn split_outcome(
    client: &Client,
    outcome: Result<Payload, Failure>,
    items: usize,
) -> Vec<ItemOutcome> {
    let encoded = outcome
        .map_err(TaskError::from_failure)
        .and_then(|payload| load_items(client, &payload, items));
    match encoded {
        Ok(values) => values.into_iter().map(Ok).collect(),
        Err(error) => vec![Err(error); items],
    }
}

fn load_items(client: &Client, payload: &Payload, items: usize) -> Result<Vec<Vec<u8>>, TaskError> {
    let bytes = payload
        .adopt(client)
        .map_err(|e| TaskError::Data(format!("cannot load a task's result: {e}")))?;
    let values: Vec<ByteBuf> = postcard::from_bytes(&bytes)
        .map_err(|e| TaskError::Data(format!("malformed task result: {e}")))?;
    if values.len() != items {
        let message = format!("expected {items} results, the worker sent {}", values.len());
        return Err(TaskError::Data(message));
    }
    Ok(values.into_iter().map(ByteBuf::into_vec).collect())
}
