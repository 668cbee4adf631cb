//! Building an executor: settings, the embedded defaults, and starting local workers.

use std::sync::Arc;
use std::time::Duration;

use strato_client::Client;
use strato_proto::{Init, Role};

use super::core::{Core, Limits, Submit};
use strato_config::{ConfigError, Settings};
use strato_worker::compute::{self, ComputeKind};
use strato_worker::session::{session_name, DriverSession};
use strato_worker::worker::{ready_latch, WorkerContext};
use strato_worker::{Compute, ComputeError, WorkerSpec};

use super::func::binary_id;
use super::job::Jobs;
use super::{hook, Executor, Inner};
use crate::handle::Handle;
use crate::sync::CountDownLatch;
use crate::ObjectName;

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// The state server could not be reached or refused a call.
    #[error("executor: state server: {0}")]
    State(#[from] strato_client::Error),
    /// A thread of the executor could not be started.
    #[error("executor: cannot start workers: {0}")]
    Start(#[from] std::io::Error),
    /// `strato.toml` or the `STRATO_*` environment has an error.
    #[error("executor: {0}")]
    Config(#[from] ConfigError),
    /// The compute backend could not give workers.
    #[error("executor: {0}")]
    Compute(#[from] ComputeError),
    /// The workers did not all join within the time allowed.
    #[error("executor: only {joined} of {wanted} workers started within {waited:?}: {hint}")]
    WorkersNotReady {
        /// Workers that joined.
        joined: usize,
        /// Workers started.
        wanted: usize,
        /// How long the executor waited.
        waited: Duration,
        /// What the compute backend suggests.
        hint: String,
    },
}

/// Settings of an [`Executor`].
///
/// ```
/// use std::time::Duration;
/// let executor = strato::executor::Executor::builder()
///     .workers(4)
///     .max_retries(1)
///     .timeout(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(executor.worker_count(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct ExecutorBuilder {
    workers: Option<usize>,
    compute: Option<ComputeKind>,
    max_retries: u32,
    timeout: Option<Duration>,
    inline_limit: u64,
    ready_timeout: Duration,
    client: Option<Client>,
    own_workers: bool,
    keep_jobs: usize,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            workers: None,
            compute: None,
            max_retries: 2,
            timeout: None,
            inline_limit: 1 << 20,
            ready_timeout: Duration::from_secs(60),
            client: None,
            own_workers: false,
            keep_jobs: strato_jobs::DEFAULT_KEEP,
        }
    }
}

impl ExecutorBuilder {
    /// Worker slots to start (default: `compute.workers` in `strato.toml` or
    /// `STRATO_WORKERS`, else the available cores).
    pub fn workers(mut self, count: usize) -> Self {
        self.workers = Some(count.max(1));
        self
    }

    /// Where the workers run (default: `compute.kind` in `strato.toml` or
    /// `STRATO_COMPUTE`, else [`ComputeKind::Local`], child processes of this one).
    ///
    /// ```
    /// use strato::executor::{ComputeKind, Executor};
    /// let executor = Executor::builder().compute(ComputeKind::Local).workers(1).build().unwrap();
    /// assert_eq!(executor.compute_kind(), Some(ComputeKind::Local));
    /// ```
    pub fn compute(mut self, kind: ComputeKind) -> Self {
        self.compute = Some(kind);
        self
    }

    /// Runs of a task after its worker died, before it fails with `WorkerLost` (default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How long a task may run before its worker is restarted (default: no limit).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Arguments and results larger than this travel as chunked blobs on the state (which
    /// every worker can reach, wherever it runs) instead of inline in the task (default
    /// 1 MiB).
    pub fn inline_limit(mut self, bytes: u64) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// How long to wait for the workers to start (default 60 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// The state server connection to use (default: [`crate::client`]).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// How many jobs' records the state server keeps for `strato jobs`, `logs` and `plot`
    /// (default 100; older jobs' records are deleted as new ones finish). 0 records none
    /// (futures still carry their stats and logs).
    ///
    /// ```
    /// let executor = strato::executor::Executor::builder().workers(1).keep_jobs(0).build();
    /// assert!(executor.is_ok());
    /// ```
    pub fn keep_jobs(mut self, jobs: usize) -> Self {
        self.keep_jobs = jobs;
        self
    }

    /// Starts local workers even inside a task, instead of sharing the worker's board (for
    /// threads and pools, whose work must not queue behind the task that started them).
    pub(crate) fn own_workers(mut self) -> Self {
        self.own_workers = true;
        self
    }

    /// Starts the executor (and, outside a worker, its local workers).
    pub fn build(self) -> Result<Executor, ExecutorError> {
        hook::keep_hook();
        let client = match self.client.clone() {
            Some(client) => client,
            None => crate::client()?,
        };
        match strato_worker::worker::context() {
            Some(context) if !self.own_workers => self.attach(client, context),
            _ => self.start(client),
        }
    }

    fn defaults(&self) -> Submit {
        Submit {
            timeout_ms: self.timeout.map(|t| t.as_millis() as u64),
            max_retries: self.max_retries,
        }
    }

    /// Inside a task: submit to the worker's own board; start no processes.
    fn attach(self, client: Client, context: &WorkerContext) -> Result<Executor, ExecutorError> {
        let board = open_board(&client, &context.board)?;
        let limits = Limits {
            inline_limit: self.inline_limit,
        };
        self.finish(client, board, limits, None, false)
    }

    /// In a driver: a new board, the driver's session, and workers from its compute kind.
    fn start(self, client: Client) -> Result<Executor, ExecutorError> {
        let suffix = crate::context::unique_suffix();
        let name = format!("strato.board.{}.{suffix}", std::process::id());
        let board = open_board(&client, &name)?;
        let settings = Settings::load()?;
        let count = self
            .workers
            .or(settings.compute.workers)
            .unwrap_or_else(default_workers);
        let kind = self.compute.or(settings.compute.kind).unwrap_or_default();
        let ready = CountDownLatch::open(&client, ready_latch(&name), count as u64)?;
        let session = DriverSession::begin(&client, &name)?;
        let spec = WorkerSpec {
            state: client.address().to_string(),
            board: name.clone(),
            ready: ready_latch(&name),
            session: session_name(&name),
        };
        let workers = start_compute(kind, spec, &client, &settings)?;
        workers.grow_to(count, &ready_latch(&name))?;
        let limits = Limits {
            inline_limit: self.inline_limit,
        };
        let waited = self.ready_timeout;
        let driving = Driving {
            workers,
            _session: session,
        };
        let executor = self.finish(client, board, limits, Some(driving), true)?;
        let joined = ready.try_wait_for(waited)?;
        executor.check_workers()?;
        match joined {
            true => Ok(executor),
            false => Err(ExecutorError::WorkersNotReady {
                joined: count.saturating_sub(ready.count() as usize),
                wanted: count,
                waited,
                hint: executor.not_ready_hint(),
            }),
        }
    }

    fn finish(
        self,
        client: Client,
        board: Handle,
        limits: Limits,
        driving: Option<Driving>,
        owns_board: bool,
    ) -> Result<Executor, ExecutorError> {
        let replies_name = format!("strato.replies.{}", crate::context::unique_suffix());
        let replies = Handle::open(
            &client,
            ObjectName::new(replies_name),
            Init::Queue { bound: None },
            Role::Handle,
        )?;
        let jobs = Jobs::new(&client, self.keep_jobs);
        let core = Arc::new(Core::new(client, board, replies, limits, jobs));
        if let Some(driving) = &driving {
            let _ = core.waker.set(Arc::downgrade(&driving.workers));
        }
        let collector = {
            let core = core.clone();
            std::thread::Builder::new()
                .name("strato-collector".into())
                .spawn(move || core.collect())?
        };
        Ok(Executor {
            inner: Arc::new(Inner {
                core,
                defaults: self.defaults(),
                driving,
                growing: std::sync::Mutex::new(()),
                ready_timeout: self.ready_timeout,
                owns_board,
                collector: Some(collector),
            }),
        })
    }
}

/// The compute backend of `kind`: the worker crate's, or Lambda's (its own crate).
fn start_compute(
    kind: ComputeKind,
    spec: WorkerSpec,
    client: &Client,
    settings: &strato_config::Settings,
) -> Result<Arc<dyn Compute>, ComputeError> {
    #[cfg(feature = "lambda")]
    if kind == ComputeKind::Lambda {
        compute::refuse_worker_command(kind)?;
        return Ok(Arc::new(strato_lambda::LambdaCompute::new(
            client, spec, settings,
        )?));
    }
    let _ = settings;
    Ok(compute::start(kind, spec, client)?.into())
}

/// What a driver's executor holds: its workers and its session (whose end stops them).
pub(super) struct Driving {
    pub workers: Arc<dyn Compute>,
    /// Held, never read: dropping it ends the session.
    pub _session: DriverSession,
}

fn open_board(client: &Client, name: &str) -> Result<Handle, ExecutorError> {
    let init = Init::TaskBoard {
        binary: binary_id().to_string(),
    };
    Ok(Handle::open(
        client,
        ObjectName::new(name),
        init,
        Role::Handle,
    )?)
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
