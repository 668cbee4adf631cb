//! The driver's side of the task board: submitting chunks of items, and the collector thread
//! that receives every task's report from the reply queue and fills the futures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use strato_client::Client;
use strato_proto::{Answer, ByteBuf, Op, TaskOutcome, TaskReport, TaskSpec, Wait};

use super::func::{Entry, FnRef};
use super::future::{ItemOutcome, Progress, Slot, TaskError, TaskStats};
use super::wire::{now_us, Payload, TaskBody, WorkerResult};
use crate::handle::Handle;

/// Settings every task of an executor shares.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub inline_limit: u64,
    pub data_dir: PathBuf,
}

/// A submitted task whose report has not arrived.
struct InFlight {
    slots: Vec<Arc<Slot>>,
    input_file: Option<PathBuf>,
    submitted_us: u64,
}

/// One executor's connection to its board and reply queue, and its tasks in flight.
pub(crate) struct Core {
    pub client: Client,
    pub board: Handle,
    pub replies: Handle,
    pub limits: Limits,
    pub progress: Arc<Progress>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
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

/// The largest batch of task specs sent in one frame, in body bytes.
const SUBMIT_BATCH_BYTES: usize = 4 << 20;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    pub fn new(client: Client, board: Handle, replies: Handle, limits: Limits) -> Core {
        Core {
            client,
            board,
            replies,
            limits,
            progress: Arc::new(Progress::default()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Submits one task per chunk; returns each chunk's item slots, in order.
    pub fn submit(
        &self,
        entry: Entry,
        chunks: Vec<Chunk>,
        how: Submit,
    ) -> Result<Vec<Vec<Arc<Slot>>>, TaskError> {
        let mut all_slots = Vec::with_capacity(chunks.len());
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for chunk in chunks {
            let (spec, slots) = self.prepare(entry, chunk, how)?;
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
    ) -> Result<(TaskSpec, Vec<Arc<Slot>>), TaskError> {
        let id = next_task_id(self.client.connection_id());
        let dir = &self.limits.data_dir;
        let input = Payload::store(
            chunk.bytes,
            self.limits.inline_limit,
            dir,
            &format!("a-{id}"),
        )
        .map_err(|e| TaskError::Data(format!("cannot store a task's argument: {e}")))?;
        let slots: Vec<Arc<Slot>> = (0..chunk.items).map(|_| Arc::default()).collect();
        let flight = InFlight {
            slots: slots.clone(),
            input_file: input.file(),
            submitted_us: now_us(),
        };
        let body = TaskBody {
            func: FnRef::of(entry),
            input,
            timeout_ms: how.timeout_ms,
            inline_limit: self.limits.inline_limit,
            data_dir: dir.to_string_lossy().into_owned(),
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
        let flights: Vec<InFlight> = lock(&self.in_flight).drain().map(|(_, f)| f).collect();
        for flight in flights {
            remove_file(flight.input_file);
            flight
                .slots
                .iter()
                .for_each(|s| s.fill(Err(error.clone()), None));
        }
        self.progress.bump();
    }

    fn receive(&self, bytes: &[u8]) {
        let Ok(report) = postcard::from_bytes::<TaskReport>(bytes) else {
            tracing::warn!("dropped a malformed task report");
            return;
        };
        let Some(flight) = lock(&self.in_flight).remove(&report.id) else {
            return;
        };
        remove_file(flight.input_file.clone());
        match report.outcome {
            TaskOutcome::Lost => {
                let error = TaskError::WorkerLost {
                    attempts: report.attempt + 1,
                };
                flight
                    .slots
                    .iter()
                    .for_each(|s| s.fill(Err(error.clone()), None));
            }
            TaskOutcome::Finished(result) => fill_finished(&flight, &result, report.attempt),
        }
    }
}

fn fill_finished(flight: &InFlight, result: &[u8], attempt: u32) {
    let (outcomes, stats) = match postcard::from_bytes::<WorkerResult>(result) {
        Ok(result) => {
            let stats = TaskStats::new(flight.submitted_us, &result.stats, attempt);
            (split_outcome(result, flight.slots.len()), Some(stats))
        }
        Err(e) => {
            let error = TaskError::Data(format!("malformed result from a worker: {e}"));
            (vec![Err(error); flight.slots.len()], None)
        }
    };
    for (slot, outcome) in flight.slots.iter().zip(outcomes) {
        slot.fill(outcome, stats.clone());
    }
}

/// One outcome per item of the chunk.
fn split_outcome(result: WorkerResult, items: usize) -> Vec<ItemOutcome> {
    let encoded = result
        .outcome
        .map_err(TaskError::from_failure)
        .and_then(|payload| load_items(&payload, items));
    match encoded {
        Ok(values) => values.into_iter().map(Ok).collect(),
        Err(error) => vec![Err(error); items],
    }
}

fn load_items(payload: &Payload, items: usize) -> Result<Vec<Vec<u8>>, TaskError> {
    let bytes = payload
        .load()
        .map_err(|e| TaskError::Data(format!("cannot load a task's result: {e}")))?;
    remove_file(payload.file());
    let values: Vec<ByteBuf> = postcard::from_bytes(&bytes)
        .map_err(|e| TaskError::Data(format!("malformed task result: {e}")))?;
    if values.len() != items {
        let message = format!("expected {items} results, the worker sent {}", values.len());
        return Err(TaskError::Data(message));
    }
    Ok(values.into_iter().map(ByteBuf::into_vec).collect())
}

fn remove_file(file: Option<PathBuf>) {
    if let Some(file) = file {
        let _ = std::fs::remove_file(file);
    }
}

/// A task id unique on a board: the connection's id (unique on the server) and a counter.
fn next_task_id(connection: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    (connection << 40) | (COUNTER.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1))
}
