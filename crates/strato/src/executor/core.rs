//! The driver's side of the task board: submitting chunks of items, and the collector thread
//! that receives every task's report from the reply queue and fills the futures.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use smallvec::SmallVec;
use strato_client::Client;
use strato_proto::{Answer, Blob, Op, TaskOutcome, TaskReport, TaskSpec, Wait};

use strato_jobs::TaskRecord;

use super::func::{Entry, FnRef};
use super::future::{ItemOutcome, Progress, Slot, StatsRecord, TaskError, TaskLogs};
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
    slots: ChunkSlots,
    /// The argument's blob, if it was too large to travel inline: held until the report.
    _input_blob: Option<Box<StoredBlob>>,
    submitted_us: u64,
    job: Arc<str>,
    /// Its position in the job.
    index: u64,
}

impl InFlight {
    /// A task's bookkeeping as of now, before its argument is stored.
    fn new(slots: ChunkSlots, job: &Arc<str>, index: u64) -> InFlight {
        InFlight {
            slots,
            _input_blob: None,
            submitted_us: now_us(),
            job: job.clone(),
            index,
        }
    }
}

/// A job's chunks that wait for room on the board, with their items' slots.
struct Waiting {
    entry: Entry,
    how: Submit,
    job: Arc<str>,
    /// The position in the job of the first waiting chunk.
    next_index: u64,
    /// The chunks, in the buffer the caller made them in (not copied into a second one).
    chunks: VecDeque<Chunk>,
    /// Their items' slots, one entry per chunk.
    slots: VecDeque<ChunkSlots>,
}

impl Waiting {
    /// The next chunk to send, with its slots. The room of the chunks sent is given back as
    /// they go: a million-item map's backlog is not kept at its largest until the last one.
    fn pop(&mut self) -> Option<(Chunk, ChunkSlots)> {
        let next = self.chunks.pop_front().zip(self.slots.pop_front());
        let len = self.chunks.len();
        if self.chunks.capacity() > 4 * len.max(1024) {
            self.chunks.shrink_to(2 * len);
            self.slots.shrink_to(2 * len);
        }
        next
    }
}

/// How many tasks of one executor are on its board (submitted, not yet reported) at most.
/// The driver keeps the rest, compactly, until reports make room: a map of a million items
/// does not hold a million tasks on the server nor a million tasks' bookkeeping here.
pub(crate) const WINDOW: usize = 32_768;

/// The slots of a chunk's items, one per item: one for most tasks, kept inline.
type ChunkSlots = SmallVec<[Arc<Slot>; 1]>;

/// One executor's connection to its board and reply queue, and its tasks in flight.
pub(crate) struct Core {
    pub client: Client,
    pub board: Handle,
    pub replies: Handle,
    pub limits: Limits,
    pub progress: Arc<Progress>,
    pub jobs: Jobs,
    /// By task id. A B-tree: compact, and it grows without rehashing.
    in_flight: Mutex<BTreeMap<u64, InFlight>>,
    /// Chunks not yet on the board, by job in submission order.
    backlog: Mutex<VecDeque<Waiting>>,
    /// The compute backend to tell of new work (one whose workers end when idle).
    pub waker: std::sync::OnceLock<std::sync::Weak<dyn strato_worker::Compute>>,
}

/// A chunk of items ready to submit: the encoded `Vec<A>` and how many items it holds.
/// Up to 16 bytes (a chunk of a few numbers) stay inline: a million-item map waits without a
/// million small allocations.
pub(crate) struct Chunk {
    bytes: SmallVec<[u8; 16]>,
    pub items: usize,
}

impl Chunk {
    /// The chunk of `items` items encoded as `bytes`.
    pub fn new(bytes: Vec<u8>, items: usize) -> Chunk {
        let bytes = match bytes.len() <= 16 {
            true => SmallVec::from_slice(&bytes),
            false => SmallVec::from_vec(bytes),
        };
        Chunk { bytes, items }
    }
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
            in_flight: Mutex::new(BTreeMap::new()),
            backlog: Mutex::new(VecDeque::new()),
            waker: std::sync::OnceLock::new(),
        }
    }

    /// Submits one task per chunk; returns the item slots of every chunk, in order. At most
    /// [`WINDOW`] tasks of this executor are on the board at once: the others wait here, in
    /// order, and go as reports come back (see [`Core::top_up`]).
    pub fn submit(
        &self,
        entry: Entry,
        chunks: Vec<Chunk>,
        how: Submit,
        place: &Place,
    ) -> Result<Vec<Arc<Slot>>, TaskError> {
        let _span = tracing::debug_span!("submit", job = %place.job).entered();
        if let Some(workers) = self.waker.get().and_then(std::sync::Weak::upgrade) {
            workers.on_submit();
        }
        let mut all_slots = Vec::with_capacity(chunks.len());
        let mut slots = VecDeque::with_capacity(chunks.len());
        for chunk in &chunks {
            let chunk_slots: ChunkSlots =
                (0..chunk.items).map(|_| Arc::new(Slot::new(0))).collect();
            all_slots.extend(chunk_slots.iter().cloned());
            slots.push_back(chunk_slots);
        }
        let waiting = Waiting {
            entry,
            how,
            job: place.job.clone(),
            next_index: place.first,
            chunks: VecDeque::from(chunks),
            slots,
        };
        let mut backlog = lock(&self.backlog);
        backlog.push_back(waiting);
        if let Err(e) = self.send_from(&mut backlog, Some(&place.job)) {
            // The job fails as a whole: none of its tasks that wait are sent.
            backlog.retain(|waiting| !Arc::ptr_eq(&waiting.job, &place.job));
            return Err(e);
        }
        Ok(all_slots)
    }

    /// Sends waiting tasks while the window has room (after reports freed some).
    pub fn top_up(&self) {
        let mut backlog = lock(&self.backlog);
        if let Err(e) = self.send_from(&mut backlog, None) {
            tracing::warn!("cannot submit waiting tasks: {e}");
        }
    }

    /// Sends tasks from the front of `backlog` while fewer than [`WINDOW`] are in flight.
    /// A task that cannot be made fails its futures; if it is of job `ours` (the `map`
    /// being submitted), that is returned, so that the map fails as a whole. A board that
    /// refuses the tasks is returned too.
    fn send_from(
        &self,
        backlog: &mut VecDeque<Waiting>,
        ours: Option<&Arc<str>>,
    ) -> Result<(), TaskError> {
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut room = WINDOW.saturating_sub(lock(&self.in_flight).len());
        while room > 0 {
            let Some(waiting) = backlog.front_mut() else {
                break;
            };
            let Some((chunk, slots)) = waiting.pop() else {
                backlog.pop_front();
                continue;
            };
            let index = waiting.next_index;
            waiting.next_index += 1;
            room -= 1;
            let (entry, how, job) = (waiting.entry, waiting.how, waiting.job.clone());
            match self.prepare(entry, chunk, how, &job, index, slots) {
                Ok(spec) => {
                    batch_bytes += spec.body.len();
                    batch.push(spec);
                }
                Err(e) if ours.is_some_and(|ours| Arc::ptr_eq(ours, &job)) => {
                    // What was made is sent, so that no task is left in flight unsent.
                    if !batch.is_empty() {
                        self.send(batch)?;
                    }
                    return Err(e);
                }
                Err(e) => tracing::warn!("a task could not be submitted: {e}"),
            }
            if batch_bytes >= SUBMIT_BATCH_BYTES {
                self.send(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.send(batch)?;
        }
        Ok(())
    }

    /// Makes a chunk's task; a failure fails its items' futures.
    fn prepare(
        &self,
        entry: Entry,
        chunk: Chunk,
        how: Submit,
        job: &Arc<str>,
        index: u64,
        slots: ChunkSlots,
    ) -> Result<TaskSpec, TaskError> {
        let id = strato_worker::compute::next_task_id(self.client.connection_id());
        tracing::debug!(task = id, index, items = chunk.items, "task submitted");
        slots.iter().for_each(|slot| slot.set_task(id));
        let mut flight = InFlight::new(slots, job, index);
        let name = format!("strato.blob.{id}.a");
        let stored = Payload::store(
            &self.client,
            chunk.bytes.into_vec(),
            self.limits.inline_limit,
            &name,
        )
        .map_err(|e| TaskError::Data(format!("cannot store a task's argument: {e}")));
        let body = stored.and_then(|(input, input_blob)| {
            flight._input_blob = input_blob.map(Box::new);
            let body = TaskBody {
                job: job.clone(),
                func: FnRef::of(entry),
                input,
                timeout_ms: how.timeout_ms,
                inline_limit: self.limits.inline_limit,
            };
            postcard::to_stdvec(&body).map_err(|e| TaskError::Data(e.to_string()))
        });
        let body = match body {
            Ok(body) => body,
            Err(error) => {
                self.fail_flight(&flight, id, &error);
                return Err(error);
            }
        };
        lock(&self.in_flight).insert(id, flight);
        Ok(TaskSpec {
            id,
            reply_to: self.replies.name().to_string(),
            max_retries: how.max_retries,
            body: Blob::from(body),
        })
    }

    /// Sends tasks to the board; if that fails, so do their futures.
    fn send(&self, specs: Vec<TaskSpec>) -> Result<(), TaskError> {
        let ids: Vec<u64> = specs.iter().map(|s| s.id).collect();
        match self.board.op(Op::TaskSubmit(specs)) {
            Ok(_) => Ok(()),
            Err(e) => {
                let error = TaskError::Executor(format!("cannot submit tasks: {e}"));
                let lost: Vec<(u64, InFlight)> = {
                    let mut in_flight = lock(&self.in_flight);
                    ids.iter()
                        .filter_map(|id| in_flight.remove(id).map(|f| (*id, f)))
                        .collect()
                };
                lost.iter()
                    .for_each(|(id, flight)| self.fail_flight(flight, *id, &error));
                Err(error)
            }
        }
    }

    /// The one shared copy of a worker's name.
    /// Fails a task's futures with `error` and counts it for its job.
    fn fail_flight(&self, flight: &InFlight, id: u64, error: &TaskError) {
        flight
            .slots
            .iter()
            .for_each(|s| s.fill(Err(error.clone()), None));
        self.note(flight, id, 0, None, Some(error), None);
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
                    self.top_up();
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
        let waiting = std::mem::take(&mut *lock(&self.backlog));
        let flights = std::mem::take(&mut *lock(&self.in_flight));
        for (id, flight) in flights {
            self.fail_flight(&flight, id, &error);
        }
        for mut job in waiting {
            for slots in job.slots.drain(..) {
                let flight = InFlight::new(slots, &job.job, job.next_index);
                job.next_index += 1;
                self.fail_flight(&flight, 0, &error);
            }
        }
        self.progress.bump();
        self.jobs.flush();
    }

    /// Counts a task that was never submitted (a reduction whose inputs failed) as failed.
    pub fn note_unsubmitted(&self, place: &Place, error: &TaskError) {
        let flight = InFlight::new(SmallVec::new(), &place.job, place.first);
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
        let stats = Arc::new(StatsRecord::new(
            flight.submitted_us,
            &result.stats,
            attempt,
        ));
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
    let values: Vec<Blob> = postcard::from_bytes(&bytes)
        .map_err(|e| TaskError::Data(format!("malformed task result: {e}")))?;
    if values.len() != items {
        let message = format!("expected {items} results, the worker sent {}", values.len());
        return Err(TaskError::Data(message));
    }
    Ok(values.into_iter().map(Blob::into_vec).collect())
}
