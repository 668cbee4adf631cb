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
//!
//! ```
//! use strato_worker::compute::ComputeKind;
//! assert_eq!("local".parse::<ComputeKind>().unwrap(), ComputeKind::Local);
//! assert!("cloud".parse::<ComputeKind>().unwrap_err().to_string().contains("local"));
//! ```

mod local;

use std::time::Duration;

pub use local::LocalCompute;

/// What every worker of one executor is told, wherever it runs.
///
/// ```
/// let spec = strato_worker::WorkerSpec {
///     state: "unix:@strato-example".into(),
///     board: "strato.board.1".into(),
///     data_dir: String::new(),
///     ready: "strato.board.1.ready".into(),
/// };
/// assert_eq!(spec.board, "strato.board.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The state's address, as a worker connects to it.
    pub state: String,
    /// The task board the worker serves.
    pub board: String,
    /// The driver's data directory for large arguments and results ("" for none).
    pub data_dir: String,
    /// The latch a new worker counts down once it joined its board.
    pub ready: String,
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
///     data_dir: String::new(),
///     ready: String::new(),
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

    /// Stops replacing workers that end: the executor is about to ask them to exit.
    fn begin_stop(&self);

    /// Waits up to `grace` for the workers to exit (they were asked to), then ends the rest.
    fn stop(&self, grace: Duration);
}

pub use strato_config::ComputeKind;

/// Starts the backend of `kind` for the workers described by `spec` (with no slots yet).
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let state = server.address().to_string();
/// use strato_worker::{compute, WorkerSpec};
/// let spec = WorkerSpec { state, board: "b".into(), data_dir: String::new(), ready: String::new() };
/// let workers = compute::start(compute::ComputeKind::Local, spec).unwrap();
/// assert_eq!(workers.kind(), "local");
/// ```
pub fn start(kind: ComputeKind, spec: WorkerSpec) -> Result<Box<dyn Compute>, ComputeError> {
    match kind {
        ComputeKind::Local => Ok(Box::new(LocalCompute::new(spec))),
        other => Err(ComputeError::Unavailable(other.to_string())),
    }
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
    /// A worker process could not be started.
    #[error("cannot start a worker process: {0}")]
    Spawn(#[from] std::io::Error),
}
