//! Where workers come from: the [`Compute`] seam and its backends.
//!
//! An executor (and through it every `Pool` and `strato::thread`) asks its [`Compute`] for
//! workers and knows nothing else about them. Every worker, wherever it runs, is the
//! driver's executable started in the worker role with a [`WorkerSpec`]: it joins the task
//! board named there, counts down the ready latch, and takes tasks until the driver stops
//! the board or goes away.
//!
//! | kind | backend | workers are |
//! |---|---|---|
//! | `local` | [`LocalCompute`] | child processes of the driver, restarted when they die |
//! | `hosts` | [`HostCompute`] | processes started by `strato worker --connect` daemons on any machine, from the driver's executable fetched by hash |
//!
//! ```
//! use strato_worker::compute::ComputeKind;
//! assert_eq!("local".parse::<ComputeKind>().unwrap(), ComputeKind::Local);
//! assert!("cloud".parse::<ComputeKind>().unwrap_err().to_string().contains("local"));
//! ```

mod hosts;
mod local;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strato_client::Client;

pub use hosts::HostCompute;
pub(crate) use local::kill;
pub use local::LocalCompute;

/// What every worker of one executor is told, wherever it runs.
///
/// ```
/// let spec = strato_worker::WorkerSpec {
///     state: "unix:@strato-example".into(),
///     board: "strato.board.1".into(),
///     ready: "strato.board.1.ready".into(),
///     session: "strato.board.1.driver".into(),
/// };
/// assert_eq!(spec.board, "strato.board.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The state's address, as a worker connects to it.
    pub state: String,
    /// The task board the worker serves.
    pub board: String,
    /// The latch a new worker counts down once it joined its board.
    pub ready: String,
    /// The driver's session: a worker exits once it can lock it (see [`crate::session`]);
    /// "" for none.
    pub session: String,
}

/// A source of workers for one executor: the seam between executors and the machines, pods
/// or functions their tasks run on.
///
/// The executor asks for a number of worker *slots*; a backend keeps that many workers
/// serving the board (restarting or replacing those that die, if it can) until
/// [`stop`](Compute::stop). Each new worker counts down the latch the executor names, which
/// is how the executor learns that it joined.
///
/// ```
/// use std::time::Duration;
/// use strato_worker::{Compute, LocalCompute, WorkerSpec};
///
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let state = server.address().to_string();
/// let spec = WorkerSpec {
///     state,
///     board: "strato.board.doc".into(),
///     ready: String::new(),
///     session: String::new(),
/// };
/// let compute = LocalCompute::new(spec);
/// assert_eq!((compute.kind(), compute.slots()), ("local", 0));
/// compute.stop(Duration::from_secs(1));
/// ```
pub trait Compute: Send + Sync {
    /// The kind's name, as in configuration (`local`).
    fn kind(&self) -> &'static str;

    /// How many worker slots were asked for so far.
    fn slots(&self) -> usize;

    /// Starts workers until there are `count` slots, each counting down the latch `ready`
    /// once it joined; returns how many it added.
    fn grow_to(&self, count: usize, ready: &str) -> Result<usize, ComputeError>;

    /// The process ids of the workers running on this machine (none for remote kinds).
    fn pids(&self) -> Vec<u32>;

    /// Whether starting workers failed for a reason the executor should report (a host
    /// refused, say), checked once the workers joined or the wait for them gave up.
    fn check(&self) -> Result<(), ComputeError> {
        Ok(())
    }

    /// Tasks were just queued: a backend whose workers end when idle (cloud functions)
    /// starts them again. Called on every submission, so it must be cheap.
    fn on_submit(&self) {}

    /// What to tell a user whose workers did not all join in time.
    fn not_ready_hint(&self) -> String {
        "see their stderr".into()
    }

    /// Stops replacing workers that end: the executor is about to ask them to exit.
    fn begin_stop(&self);

    /// Waits up to `grace` for the workers to exit (they were asked to), then ends the rest.
    fn stop(&self, grace: Duration);
}

pub use strato_config::ComputeKind;

/// Starts the backend of `kind` for the workers described by `spec` (with no slots yet),
/// reaching the state through `client`.
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let state = server.address().to_string();
/// # let client = strato_client::Client::connect(&state).unwrap();
/// use strato_worker::{compute, WorkerSpec};
/// let spec = WorkerSpec { state, board: "b".into(), ready: String::new(), session: String::new() };
/// let workers = compute::start(compute::ComputeKind::Local, spec, &client).unwrap();
/// assert_eq!(workers.kind(), "local");
/// ```
pub fn start(
    kind: ComputeKind,
    spec: WorkerSpec,
    client: &Client,
) -> Result<Box<dyn Compute>, ComputeError> {
    refuse_worker_command(kind)?;
    match kind {
        ComputeKind::Local => Ok(Box::new(LocalCompute::new(spec))),
        ComputeKind::Hosts => Ok(Box::new(HostCompute::new(client, spec)?)),
        other => Err(ComputeError::Unavailable(other.to_string())),
    }
}

/// The command local workers are started with, if not this executable (see
/// [`set_worker_command`]).
static WORKER_COMMAND: std::sync::OnceLock<(std::ffi::OsString, Vec<std::ffi::OsString>)> =
    std::sync::OnceLock::new();

/// Starts this process's local workers with `program args…` instead of this executable: an
/// interpreter that loads this library and enters the worker loop (Python's
/// `python -m strato._worker`). The workers are given the usual environment. Set once, before
/// the first executor; false if it was set already.
///
/// ```
/// assert!(strato_worker::compute::worker_command().is_none());
/// ```
pub fn set_worker_command(program: std::ffi::OsString, args: Vec<std::ffi::OsString>) -> bool {
    WORKER_COMMAND.set((program, args)).is_ok()
}

/// The command set by [`set_worker_command`], if any.
pub fn worker_command() -> Option<(&'static std::ffi::OsString, &'static [std::ffi::OsString])> {
    WORKER_COMMAND
        .get()
        .map(|(program, args)| (program, args.as_slice()))
}

/// What a driver whose workers are an interpreter asks worker hosts to run (see
/// [`set_host_program`]); updated by the driver before each executor.
static HOST_PROGRAM: std::sync::Mutex<Option<crate::hosts::PythonProgram>> =
    std::sync::Mutex::new(None);

/// Makes this driver's `hosts` workers `program` (the host's Python running strato's worker
/// module) instead of this executable, which is then an interpreter that would not know the
/// program. Executors made afterwards ask the hosts for it.
///
/// ```
/// use strato_worker::hosts::PythonProgram;
/// let program = PythonProgram { identity: "python3.11:ab".into(), files: vec![], env: vec![] };
/// strato_worker::compute::set_host_program(program.clone());
/// assert_eq!(strato_worker::compute::host_program(), Some(program));
/// ```
pub fn set_host_program(program: crate::hosts::PythonProgram) {
    *HOST_PROGRAM.lock().unwrap_or_else(|e| e.into_inner()) = Some(program);
}

/// The program set by [`set_host_program`], if any.
pub fn host_program() -> Option<crate::hosts::PythonProgram> {
    HOST_PROGRAM
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Refuses compute of `kind` for a driver whose workers are started by a command (an
/// interpreter) when that kind cannot run them: `local` runs the command, `hosts` runs the
/// program set by [`set_host_program`], Lambda runs only executables.
pub fn refuse_worker_command(kind: ComputeKind) -> Result<(), ComputeError> {
    let Some((program, _)) = worker_command() else {
        return Ok(());
    };
    let runs = match kind {
        ComputeKind::Local => true,
        ComputeKind::Hosts => host_program().is_some(),
        _ => false,
    };
    if runs {
        return Ok(());
    }
    Err(ComputeError::Backend {
        kind: kind.name(),
        reason: format!(
            "workers started by a command ({}) run with compute kinds `local` and `hosts` only",
            program.to_string_lossy()
        ),
    })
}

/// A task id unique on a board: the connection's id (unique on the server) and a counter.
///
/// ```
/// let (a, b) = (strato_worker::compute::next_task_id(7), strato_worker::compute::next_task_id(7));
/// assert_ne!(a, b);
/// assert_eq!(a >> 40, 7);
/// ```
pub fn next_task_id(connection: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    (connection << 40) | (COUNTER.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1))
}

/// Why a compute backend could not give workers.
///
/// ```
/// let error = strato_worker::ComputeError::Unavailable("hosts".into());
/// assert!(error.to_string().contains("`hosts`"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComputeError {
    /// This build has no backend of this kind.
    #[error("compute kind `{0}` is not available in this build")]
    Unavailable(String),
    /// A worker process could not be started, or the executable read.
    #[error("cannot start a worker process: {0}")]
    Spawn(#[from] std::io::Error),
    /// No worker host is connected to the state server.
    #[error("no worker hosts are connected to the state server at {state}: start `strato worker --connect {state}` on each host")]
    NoHosts {
        /// The state server's address.
        state: String,
    },
    /// A host refused to start workers for this driver.
    #[error("worker hosts cannot run this program: {0}")]
    Refused(String),
    /// The state could not be reached.
    #[error("state: {0}")]
    State(#[from] strato_client::Error),
    /// A backend cannot start (its settings), or its workers failed to start.
    #[error("compute kind `{kind}`: {reason}")]
    Backend {
        /// The kind's name.
        kind: &'static str,
        /// What went wrong.
        reason: String,
    },
}
