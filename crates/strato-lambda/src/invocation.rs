//! The runner function's payload and answer (JSON, as Lambda carries them).

use serde::{Deserialize, Serialize};
use strato_worker::exe::ExeRef;

/// What the driver asks one invocation of the runner to do: be one worker of a job.
///
/// Everything a task needs comes through the state server or storage, so the payload stays
/// far below Lambda's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// The state's address as the function reaches it.
    pub state: String,
    /// The state's token.
    pub token: Option<String>,
    /// The CA certificate (PEM text) the state's TLS certificate is checked against.
    pub ca_pem: Option<String>,
    /// Whether a token may cross plain TCP (`STRATO_PLAINTEXT=1`).
    pub plaintext: bool,
    /// The job's task board.
    pub board: String,
    /// The executor's ready latch (counted down once the worker joined).
    pub ready: String,
    /// The driver's session (the worker exits once the driver is gone).
    pub session: String,
    /// The worker's name in logs and stats.
    pub worker: String,
    /// The driver's executable.
    pub exe: ExeRef,
    /// Where executables are stored: the object named by the hash under this URL.
    pub exe_url: String,
    /// The function's timeout: the invocation ends before it.
    pub timeout_ms: u64,
    /// How long the worker waits for a task before the invocation ends.
    pub idle_ms: u64,
}

/// Why an invocation's worker stopped.
///
/// ```
/// let ran = strato_lambda::Ran { stopped: strato_lambda::Stopped::Idle, seconds: 1.5, fetched: false };
/// assert!(serde_json::to_string(&ran).unwrap().contains("Idle"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Stopped {
    /// No task came for the idle limit: the job has no work for it now.
    Idle,
    /// Its deadline was near: it stopped taking tasks (work may remain).
    Deadline,
    /// The driver stopped the executor or went away.
    Shutdown,
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ran {
    /// Why it stopped.
    pub stopped: Stopped,
    /// How long it ran.
    pub seconds: f64,
    /// Whether it fetched the executable (a cold start of this build).
    pub fetched: bool,
}
