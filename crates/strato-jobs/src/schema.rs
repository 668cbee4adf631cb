//! The records: what one job and one task of it looked like.

use serde::{Deserialize, Serialize};

/// Which executor call made a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// `call_async`: one task.
    Call,
    /// `map`: one task per chunk of items.
    Map,
    /// `map_reduce`: the map tasks and one reduce task.
    MapReduce,
}

impl JobKind {
    /// The letter of job ids of this kind (Lithops' `A`, `M`, `R`).
    ///
    /// ```
    /// assert_eq!(strato_jobs::JobKind::Map.letter(), 'M');
    /// ```
    pub fn letter(self) -> char {
        match self {
            JobKind::Call => 'A',
            JobKind::Map => 'M',
            JobKind::MapReduce => 'R',
        }
    }
}

/// One job: what ran, how many tasks, how many are done or failed, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job's id, unique on the server (`3fa9c2-M001`).
    pub id: String,
    /// The call that made it.
    pub kind: JobKind,
    /// The function its tasks run (its Rust path).
    pub function: String,
    /// The program that submitted it: executable name and process id.
    pub driver: String,
    /// Its tasks (a `map` with `chunksize` c over n items has ⌈n / c⌉).
    pub tasks: u64,
    /// Tasks finished, with or without a result.
    pub done: u64,
    /// Tasks finished without a result (panic, lost worker, timeout, bad data).
    pub failed: u64,
    /// When it was submitted (µs since the Unix epoch).
    pub submitted_us: u64,
    /// When its last task finished, once all did.
    pub finished_us: Option<u64>,
}

impl JobRecord {
    /// A job submitted now by this process, with no task finished.
    ///
    /// ```
    /// use strato_jobs::{JobKind, JobRecord};
    /// let job = JobRecord::new("x-A000".into(), JobKind::Call, "f".into(), 1);
    /// assert!(!job.is_finished());
    /// assert!(job.driver.contains(&std::process::id().to_string()));
    /// ```
    pub fn new(id: String, kind: JobKind, function: String, tasks: u64) -> JobRecord {
        JobRecord {
            id,
            kind,
            function,
            driver: driver_name(),
            tasks,
            done: 0,
            failed: 0,
            submitted_us: crate::now_us(),
            finished_us: None,
        }
    }

    /// Whether every task finished.
    pub fn is_finished(&self) -> bool {
        self.finished_us.is_some()
    }

    /// How long it ran (until now if it still runs), in seconds.
    ///
    /// ```
    /// use strato_jobs::{JobKind, JobRecord};
    /// let mut job = JobRecord::new("x-A000".into(), JobKind::Call, "f".into(), 1);
    /// job.finished_us = Some(job.submitted_us + 1_500_000);
    /// assert_eq!(job.seconds(), 1.5);
    /// ```
    pub fn seconds(&self) -> f64 {
        let end = self.finished_us.unwrap_or_else(crate::now_us);
        end.saturating_sub(self.submitted_us) as f64 / 1e6
    }
}

/// This program's name and pid, worked out once.
fn driver_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_deref()
            .and_then(|p| p.file_name())
            .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned());
        format!("{name} (pid {})", std::process::id())
    })
    .clone()
}

/// One finished task of a job: where and when it ran, its data, its error and its output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id on its board.
    pub task: u64,
    /// Its position in the job (0 for the first chunk).
    pub index: u64,
    /// Items it ran the function on.
    pub items: u64,
    /// The worker that ran its last attempt (empty if none reported).
    pub worker: String,
    /// When the driver submitted it (µs since the Unix epoch).
    pub submitted_us: u64,
    /// When its last attempt started (0 if it never reported).
    pub started_us: u64,
    /// When that attempt ended.
    pub finished_us: u64,
    /// When the driver received its outcome.
    pub received_us: u64,
    /// Bytes of arguments.
    pub bytes_in: u64,
    /// Bytes of results.
    pub bytes_out: u64,
    /// Runs after a worker died.
    pub retries: u32,
    /// Why it has no result, if it failed.
    pub error: Option<String>,
    /// What it wrote to standard output (truncated, see the executor's docs).
    pub stdout: String,
    /// What it wrote to standard error (truncated likewise).
    pub stderr: String,
}
