//! Task scheduling messages: what a driver submits to a task board, what a worker takes,
//! and the report the server delivers to the driver's reply queue.
//!
//! The server treats a task's body and a worker's result as opaque bytes; it knows only
//! enough to hand tasks out, hold each under a lease tied to the worker's connection, and
//! requeue (or give up on) the tasks of a worker whose connection dies.

use serde::{Deserialize, Serialize};

use crate::Blob;

/// A task as the driver submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Chosen by the driver, unique on its board.
    pub id: u64,
    /// The queue that receives the task's [`TaskReport`].
    pub reply_to: String,
    /// How many times the task is run again after its worker died.
    pub max_retries: u32,
    /// What to run, encoded by the driver for the workers.
    pub body: Blob,
}

/// A task handed to a worker, held under a lease until it reports or its connection dies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskGrant {
    /// The task's id.
    pub id: u64,
    /// 0 on the first run, then one more per retry.
    pub attempt: u32,
    /// What to run.
    pub body: Blob,
}

/// What reaches the driver's reply queue for one task (postcard-encoded).
///
/// ```
/// use strato_proto::{TaskOutcome, TaskReport};
/// let report = TaskReport { id: 3, attempt: 0, outcome: TaskOutcome::Lost };
/// let bytes = postcard::to_stdvec(&report).unwrap();
/// assert_eq!(postcard::from_bytes::<TaskReport>(&bytes).unwrap(), report);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The task's id.
    pub id: u64,
    /// The attempt that produced this report.
    pub attempt: u32,
    /// How it ended.
    pub outcome: TaskOutcome,
}

/// How a task ended, as far as the server knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutcome {
    /// A worker reported this result (success or failure, encoded by the worker).
    Finished(Blob),
    /// Its worker died on every attempt; no retries are left.
    Lost,
}
