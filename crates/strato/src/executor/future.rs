//! Futures of tasks: where a result lands, how to wait for it, and why a task failed.

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::de::DeserializeOwned;

use super::wire::{Failure, RunStats};

/// Why a task produced no result.
///
/// ```
/// use strato::executor::TaskError;
/// let e = TaskError::WorkerLost { attempts: 3 };
/// assert!(e.to_string().contains("3 attempts"));
/// assert!(!e.is_panic());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The function panicked on the worker.
    #[error("the task panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
        /// The worker's backtrace, when it captured one (`RUST_BACKTRACE=1`).
        backtrace: Option<String>,
    },
    /// The worker running it died on every attempt.
    #[error("the worker running the task died ({attempts} attempts)")]
    WorkerLost {
        /// How many times the task was started.
        attempts: u32,
    },
    /// The task outlived its timeout; its worker was restarted.
    #[error("the task did not finish within its timeout of {after:?}")]
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// An argument or result could not be encoded, decoded, stored or loaded.
    #[error("the task's data could not be moved: {0}")]
    Data(String),
    /// The executor could not submit or track the task (state server lost, shut down).
    #[error("the executor failed: {0}")]
    Executor(String),
}

impl TaskError {
    /// Whether the task panicked (as `tokio::task::JoinError::is_panic`).
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked { .. })
    }

    pub(crate) fn from_failure(failure: Failure) -> TaskError {
        match failure {
            Failure::Panicked { message, backtrace } => TaskError::Panicked { message, backtrace },
            Failure::TimedOut { after_ms } => TaskError::Timeout {
                after: Duration::from_millis(after_ms),
            },
            Failure::Data(message) => TaskError::Data(message),
        }
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Submitted; no result yet.
    Pending,
    /// Finished with a result.
    Success,
    /// Finished without one.
    Failed,
}

/// Measurements of one task, like Lithops' per-call stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStats {
    /// When the driver submitted it.
    pub submitted: SystemTime,
    /// When its last attempt started on a worker.
    pub started: SystemTime,
    /// When that attempt ended on the worker.
    pub finished: SystemTime,
    /// When the driver received the outcome.
    pub received: SystemTime,
    /// The worker that ran the last attempt.
    pub worker: String,
    /// Bytes of arguments the worker received (for the whole chunk).
    pub bytes_in: u64,
    /// Bytes of results it sent back (for the whole chunk).
    pub bytes_out: u64,
    /// How many times it was run again after a worker died.
    pub retries: u32,
}

impl TaskStats {
    /// How long the function ran on the worker.
    pub fn run_time(&self) -> Duration {
        self.finished
            .duration_since(self.started)
            .unwrap_or_default()
    }
}

/// A task's stats as its futures keep them: one record per task, shared by its chunk's
/// items, naming its worker by its number in [`WorkerNames`] (a million tasks keep a
/// million records of 56 bytes, which `malloc` serves from its 80-byte class with the
/// `Arc`'s counts, not a million copies of a name); the [`TaskStats`] a future answers is
/// made from it when asked.
#[derive(Debug)]
pub(crate) struct StatsRecord {
    submitted_us: u64,
    started_us: u64,
    finished_us: u64,
    received_us: u64,
    bytes_in: u64,
    bytes_out: u64,
    worker: u32,
    retries: u32,
}

impl StatsRecord {
    pub(crate) fn new(submitted_us: u64, run: &RunStats, retries: u32) -> Self {
        StatsRecord {
            submitted_us,
            started_us: run.started_us,
            finished_us: run.finished_us,
            received_us: super::wire::now_us(),
            bytes_in: run.bytes_in,
            bytes_out: run.bytes_out,
            worker: WorkerNames::number(&run.worker),
            retries,
        }
    }

    fn stats(&self) -> TaskStats {
        TaskStats {
            submitted: at(self.submitted_us),
            started: at(self.started_us),
            finished: at(self.finished_us),
            received: at(self.received_us),
            worker: WorkerNames::name(self.worker),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            retries: self.retries,
        }
    }
}

/// The names of the workers this process heard from, each stored once and numbered in the
/// order first heard (a few per machine; never forgotten).
struct WorkerNames {
    numbers: std::collections::HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl WorkerNames {
    fn table() -> MutexGuard<'static, WorkerNames> {
        static TABLE: std::sync::OnceLock<Mutex<WorkerNames>> = std::sync::OnceLock::new();
        lock(TABLE.get_or_init(|| {
            Mutex::new(WorkerNames {
                numbers: Default::default(),
                names: Vec::new(),
            })
        }))
    }

    /// The number of worker `name`, given it if it has none yet.
    fn number(name: &str) -> u32 {
        let mut table = Self::table();
        if let Some(&number) = table.numbers.get(name) {
            return number;
        }
        let number = u32::try_from(table.names.len()).unwrap_or(u32::MAX);
        let shared: Arc<str> = Arc::from(name);
        table.names.push(shared.clone());
        table.numbers.insert(shared, number);
        number
    }

    /// The name of worker `number` ("?" for a number never given).
    fn name(number: u32) -> String {
        let table = Self::table();
        table
            .names
            .get(number as usize)
            .map_or_else(|| "?".to_string(), |name| name.to_string())
    }
}

fn at(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}

/// What one task wrote to standard output and standard error on its worker.
///
/// Each stream keeps its first 16 KiB per task (a note says how much more there was); all of
/// it is also forwarded to the worker's own output, as if nothing captured it.
///
/// ```
/// use strato::executor::Executor;
///
/// fn greet(name: String) -> usize {
///     println!("hello, {name}");
///     eprintln!("(a note on stderr)");
///     name.len()
/// }
///
/// let executor = Executor::new().unwrap();
/// let future = executor.call_async(greet, "ada".to_string()).unwrap();
/// assert_eq!(future.result(), Ok(3));
/// let logs = future.logs().unwrap();
/// assert_eq!(logs.stdout, "hello, ada\n");
/// assert_eq!(logs.stderr, "(a note on stderr)\n");
/// assert_eq!(logs.job, future.job_id());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLogs {
    /// The job the task belongs to.
    pub job: String,
    /// The task's id.
    pub task: u64,
    /// What it wrote to standard output.
    pub stdout: String,
    /// What it wrote to standard error.
    pub stderr: String,
}

/// The outcome of one item: its encoded result or the error.
pub(crate) type ItemOutcome = Result<Vec<u8>, TaskError>;

/// An outcome as a slot keeps it, in 24 bytes: a small encoded result inline (most results
/// of a large `map` are a few bytes: no allocation each), a larger one or an error boxed.
#[derive(Debug)]
enum Kept {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
    Failed(Box<TaskError>),
}

/// The most bytes of a result a slot keeps inline.
const INLINE: usize = 22;

impl Kept {
    fn of(outcome: ItemOutcome) -> Kept {
        match outcome {
            Ok(bytes) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(&bytes);
                Kept::Inline {
                    len: bytes.len() as u8,
                    bytes: inline,
                }
            }
            Ok(bytes) => Kept::Boxed(bytes.into_boxed_slice()),
            Err(error) => Kept::Failed(Box::new(error)),
        }
    }

    fn outcome(&self) -> ItemOutcome {
        match self {
            Kept::Inline { len, bytes } => Ok(bytes[..usize::from(*len)].to_vec()),
            Kept::Boxed(bytes) => Ok(bytes.to_vec()),
            Kept::Failed(error) => Err(TaskError::clone(error)),
        }
    }
}

#[derive(Debug, Default)]
struct SlotState {
    outcome: Option<Kept>,
    /// Shared by the items of one chunk (one task, one set of stats).
    stats: Option<Arc<StatsRecord>>,
    logs: Option<Arc<TaskLogs>>,
    task: u64,
}

/// Where one item's outcome lands. A million-item `map` has a million of these: the job's
/// name is kept once, in the futures' [`JobOf`], not in each slot.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
}

/// What a job's futures share: its id and the executor's progress signal.
#[derive(Debug)]
pub(crate) struct JobOf {
    pub id: Arc<str>,
    pub progress: Arc<Progress>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Slot {
    /// A slot for an item of task `task`.
    pub fn new(task: u64) -> Slot {
        Slot {
            state: Mutex::new(SlotState {
                task,
                ..SlotState::default()
            }),
        }
    }

    /// Records the outcome (the first one wins).
    pub fn fill(&self, outcome: ItemOutcome, stats: Option<Arc<StatsRecord>>) {
        self.fill_with_logs(outcome, stats, None);
    }

    /// Records the outcome with what the task wrote (the first outcome wins).
    pub fn fill_with_logs(
        &self,
        outcome: ItemOutcome,
        stats: Option<Arc<StatsRecord>>,
        logs: Option<Arc<TaskLogs>>,
    ) {
        let mut state = lock(&self.state);
        if state.outcome.is_none() {
            state.outcome = Some(Kept::of(outcome));
            state.stats = stats;
            if let Some(logs) = &logs {
                state.task = logs.task;
            }
            state.logs = logs;
        }
    }

    /// Takes the outcome, stats and logs of another slot (a reduction's task).
    pub fn fill_from(&self, other: &Slot, outcome: ItemOutcome) {
        let (stats, logs, task) = {
            let other = lock(&other.state);
            (other.stats.clone(), other.logs.clone(), other.task)
        };
        lock(&self.state).task = task;
        self.fill_with_logs(outcome, stats, logs);
    }

    pub fn task(&self) -> u64 {
        lock(&self.state).task
    }

    /// Records the task that carries this item (0 until it is submitted).
    pub fn set_task(&self, task: u64) {
        lock(&self.state).task = task;
    }

    /// The task's logs once it finished on a worker (empty ones, of job `job`, if it printed
    /// nothing).
    pub fn logs(&self, job: &str) -> Option<Arc<TaskLogs>> {
        let state = lock(&self.state);
        match (&state.logs, &state.stats) {
            (Some(logs), _) => Some(logs.clone()),
            (None, Some(_)) => Some(Arc::new(TaskLogs {
                job: job.to_string(),
                task: state.task,
                ..TaskLogs::default()
            })),
            (None, None) => None,
        }
    }

    pub fn status(&self) -> TaskStatus {
        match &lock(&self.state).outcome {
            None => TaskStatus::Pending,
            Some(Kept::Inline { .. } | Kept::Boxed(_)) => TaskStatus::Success,
            Some(Kept::Failed(_)) => TaskStatus::Failed,
        }
    }

    pub fn outcome(&self) -> Option<ItemOutcome> {
        lock(&self.state).outcome.as_ref().map(Kept::outcome)
    }

    pub fn stats(&self) -> Option<TaskStats> {
        lock(&self.state).stats.as_deref().map(StatsRecord::stats)
    }
}

/// Wakes whoever waits for any slot of one executor: bumped after every batch of outcomes.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    pub fn bump(&self) {
        *lock(&self.generation) += 1;
        self.changed.notify_all();
    }

    /// Waits until `ready()` holds or `deadline` passes; whether it holds.
    pub fn wait_until(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        let mut generation = lock(&self.generation);
        loop {
            if ready() {
                return true;
            }
            let timeout = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return false,
                },
            };
            generation = self
                .changed
                .wait_timeout(generation, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The future result of one task (one item of a `map`).
///
/// ```
/// use strato::executor::{Executor, TaskStatus};
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let executor = Executor::new().unwrap();
/// let future = executor.call_async(square, 7).unwrap();
/// assert_eq!(future.result(), Ok(49));
/// assert_eq!(future.status(), TaskStatus::Success);
/// ```
#[must_use = "a future does nothing unless its result is read or waited for"]
pub struct ResponseFuture<R> {
    pub(crate) slot: Arc<Slot>,
    pub(crate) job: Arc<JobOf>,
    pub(crate) _result: PhantomData<fn() -> R>,
}

impl<R> Clone for ResponseFuture<R> {
    fn clone(&self) -> Self {
        ResponseFuture {
            slot: self.slot.clone(),
            job: self.job.clone(),
            _result: PhantomData,
        }
    }
}

impl<R> ResponseFuture<R> {
    /// The signal that tells the future's waiters that some task finished.
    pub(crate) fn progress(&self) -> &Arc<Progress> {
        &self.job.progress
    }
}

impl<R> std::fmt::Debug for ResponseFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("status", &self.slot.status())
            .finish()
    }
}

impl<R: DeserializeOwned> ResponseFuture<R> {
    /// Where the task is now.
    pub fn status(&self) -> TaskStatus {
        self.slot.status()
    }

    /// Whether it finished (with or without a result).
    pub fn done(&self) -> bool {
        self.status() != TaskStatus::Pending
    }

    /// Waits for the task and returns its result or why it has none.
    pub fn result(&self) -> Result<R, TaskError> {
        self.progress().wait_until(None, || self.done());
        self.take()
    }

    /// Waits at most `timeout`; `None` if the task is still running then.
    pub fn result_timeout(&self, timeout: Duration) -> Option<Result<R, TaskError>> {
        let deadline = Instant::now() + timeout;
        let done = self.progress().wait_until(Some(deadline), || self.done());
        done.then(|| self.take())
    }

    /// The task's measurements, once it finished on a worker.
    pub fn stats(&self) -> Option<TaskStats> {
        self.slot.stats()
    }

    /// What the task wrote to standard output and standard error, once it finished on a
    /// worker (items of one chunk share their task's logs).
    pub fn logs(&self) -> Option<TaskLogs> {
        self.slot.logs(&self.job.id).map(|logs| (*logs).clone())
    }

    /// The id of the job (the `map`, `call_async` or `map_reduce` call) it belongs to, as
    /// `strato jobs` shows it.
    ///
    /// ```
    /// fn double(x: u32) -> u32 { 2 * x }
    /// let executor = strato::executor::Executor::new().unwrap();
    /// let futures = executor.map(double, [1, 2]).unwrap();
    /// assert_eq!(futures[0].job_id(), futures[1].job_id());
    /// assert!(futures[0].job_id().ends_with("-M000"));
    /// ```
    pub fn job_id(&self) -> &str {
        &self.job.id
    }

    /// The id of the task that runs it (items of one chunk share a task; a `map_reduce`
    /// future knows its reduce task's id once that task was submitted, 0 before).
    pub fn task_id(&self) -> u64 {
        self.slot.task()
    }

    pub(crate) fn take(&self) -> Result<R, TaskError> {
        match self.slot.outcome() {
            Some(Ok(bytes)) => postcard::from_bytes(&bytes)
                .map_err(|e| TaskError::Data(format!("cannot decode the task's result: {e}"))),
            Some(Err(e)) => Err(e),
            None => Err(TaskError::Executor("the task has not finished".into())),
        }
    }
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[test]
    fn a_stats_record_fits_the_80_byte_malloc_class_with_its_arc() {
        // Arc's two counts (16 B) + the record must stay at or under 72 B requested.
        assert!(std::mem::size_of::<StatsRecord>() <= 56);
    }

    #[test]
    fn worker_names_are_numbered_once_and_read_back() {
        let a = WorkerNames::number("stats-test-a");
        let b = WorkerNames::number("stats-test-b");
        assert_ne!(a, b);
        assert_eq!(WorkerNames::number("stats-test-a"), a);
        assert_eq!(WorkerNames::name(a), "stats-test-a");
        assert_eq!(WorkerNames::name(u32::MAX), "?");
    }
}

#[cfg(test)]
mod slot_size {
    use super::*;

    /// A million-item `map` keeps a million slots: one with its `Arc` counts must fit
    /// `malloc`'s 80-byte class (72 bytes and the chunk's header).
    #[test]
    fn a_slot_fits_malloc_s_80_byte_class() {
        assert!(
            std::mem::size_of::<Slot>() <= 56,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn outcomes_come_back_as_they_were_kept() {
        for outcome in [
            Ok(vec![]),
            Ok(vec![7; INLINE]),
            Ok(vec![8; INLINE + 1]),
            Err(TaskError::Data("no".into())),
        ] {
            assert_eq!(Kept::of(outcome.clone()).outcome(), outcome);
        }
    }
}
