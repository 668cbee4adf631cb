//! Jobs: the id of each `map`, `call_async` and `map_reduce` call, and the records of jobs
//! and their tasks that the driver keeps on the state server for `strato jobs`, `logs` and
//! `plot` (see the `strato-jobs` crate for the schema).
//!
//! The collector counts finished tasks and builds their records; a thread of its own writes
//! them, so that neither submitting nor collecting waits for the state server on their
//! account. That thread gathers what arrives within [`GATHER`] of a first write and sends
//! it in one write, a job's new record replacing its older ones: a short job costs the
//! server three operations (create its task list, append, insert its record), and many
//! short jobs in a row share one write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use strato_client::Client;
use strato_jobs::{JobKind, JobRecord, JobUpdate, Recorder, TaskRecord};

/// The most task records kept per job: beyond them only failed tasks are recorded (the job's
/// counts stay exact), so a job of a million tasks does not fill the state server.
pub(crate) const MAX_TASK_RECORDS: u64 = 10_000;

/// How long the writer gathers changes before writing them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// A write for the recording thread.
enum Write {
    Begin(JobRecord),
    Update(JobRecord, Vec<TaskRecord>),
}

/// The jobs of one executor.
pub(crate) struct Jobs {
    executor: String,
    counter: AtomicU64,
    open: Mutex<HashMap<Arc<str>, Open>>,
    writes: Mutex<Option<mpsc::Sender<Write>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// A job some of whose tasks have not finished.
struct Open {
    record: JobRecord,
    finished: Vec<TaskRecord>,
    changed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Jobs {
    /// Jobs of a new executor; records the `keep` most recent jobs on the server (none if 0).
    pub fn new(client: &Client, keep: usize) -> Jobs {
        let recorder = (keep > 0)
            .then(|| Recorder::new(client.clone(), keep))
            .and_then(|made| {
                made.inspect_err(|e| tracing::warn!("not recording jobs: {e}"))
                    .ok()
            });
        let (writes, writer) = match recorder.map(start_writer) {
            Some(Ok((tx, thread))) => (Some(tx), Some(thread)),
            _ => (None, None),
        };
        Jobs {
            executor: executor_id(),
            counter: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            writes: Mutex::new(writes),
            writer: Mutex::new(writer),
        }
    }

    /// Whether job records are written.
    pub fn recording(&self) -> bool {
        lock(&self.writes).is_some()
    }

    fn send(&self, write: Write) {
        if let Some(writes) = &*lock(&self.writes) {
            let _ = writes.send(write);
        }
    }

    /// Starts a job of `tasks` tasks running `function`; its id.
    pub fn begin(&self, kind: JobKind, function: &str, tasks: u64) -> Arc<str> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id: Arc<str> = format!("{}-{}{n:03}", self.executor, kind.letter()).into();
        tracing::debug!(job = %id, ?kind, function = %function, tasks, "job submitted");
        if !self.recording() {
            return id;
        }
        let record = JobRecord::new(id.to_string(), kind, function.to_string(), tasks);
        self.send(Write::Begin(record.clone()));
        let open = Open {
            record,
            finished: Vec::new(),
            changed: false,
        };
        lock(&self.open).insert(id.clone(), open);
        id
    }

    /// Counts a finished task of `job` and keeps its record.
    pub fn note(&self, job: &str, task: TaskRecord) {
        let mut open = lock(&self.open);
        let Some(entry) = open.get_mut(job) else {
            return;
        };
        let record = &mut entry.record;
        record.done += 1;
        record.failed += u64::from(task.error.is_some());
        if record.done >= record.tasks {
            record.finished_us = Some(strato_jobs::now_us());
            tracing::debug!(job = %job, done = record.done, failed = record.failed, "job finished");
        }
        if record.done <= MAX_TASK_RECORDS || task.error.is_some() {
            entry.finished.push(task);
        }
        entry.changed = true;
    }

    /// Hands what changed since the last flush to the writer; forgets finished jobs.
    pub fn flush(&self) {
        let updates: Vec<Write> = {
            let mut open = lock(&self.open);
            let updates = open
                .values_mut()
                .filter(|entry| entry.changed)
                .map(|entry| {
                    entry.changed = false;
                    let tasks = std::mem::take(&mut entry.finished);
                    Write::Update(entry.record.clone(), tasks)
                })
                .collect();
            open.retain(|_, entry| !entry.record.is_finished());
            updates
        };
        updates.into_iter().for_each(|update| self.send(update));
    }

    /// Writes what is left and stops the writer.
    pub fn close(&self) {
        self.flush();
        drop(lock(&self.writes).take());
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
    }
}

fn start_writer(recorder: Recorder) -> std::io::Result<(mpsc::Sender<Write>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Write>();
    let thread = std::thread::Builder::new()
        .name("strato-jobs".into())
        .spawn(move || {
            lower_priority();
            while let Ok(first) = rx.recv() {
                std::thread::sleep(GATHER);
                let updates = gather(std::iter::once(first).chain(rx.try_iter()));
                if let Err(e) = recorder.write(&updates) {
                    tracing::debug!("cannot record jobs: {e}");
                }
            }
        })?;
    Ok((tx, thread))
}

/// Makes the calling thread yield the CPU to the executor's other threads (Linux: nice 10),
/// so that recording never delays tasks on a busy machine.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers; they touch no memory.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 10);
    }
}

/// One update per job: its latest record, whether it is new, and all its finished tasks.
fn gather(writes: impl Iterator<Item = Write>) -> Vec<JobUpdate> {
    let mut updates: Vec<JobUpdate> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for write in writes {
        let (job, begun, tasks) = match write {
            Write::Begin(job) => (job, true, Vec::new()),
            Write::Update(job, tasks) => (job, false, tasks),
        };
        match index.get(&job.id) {
            Some(&at) => {
                let update = &mut updates[at];
                update.job = job;
                update.tasks.extend(tasks);
            }
            None => {
                index.insert(job.id.clone(), updates.len());
                updates.push(JobUpdate { job, begun, tasks });
            }
        }
    }
    updates
}

/// Six hex digits that tell this executor's jobs from others' on the same server.
fn executor_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(strato_jobs::now_us() as u128);
    format!("{:06x}", hasher.finish() & 0xff_ffff)
}
