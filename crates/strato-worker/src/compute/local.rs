//! The local backend: worker processes that are children of the driver, re-executed from
//! the driver's own binary, restarted when they die and stopped when the executor stops.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Compute, ComputeError, WorkerSpec};
use crate::func::current_exe_path;
use crate::worker::{
    BOARD_ENV, DRIVER_ENV, READY_ENV, ROLE_ENV, SESSION_ENV, STATE_ENV, WORKER_ID_ENV,
};

/// A worker that dies this soon after starting counts as a failed start.
const QUICK_DEATH: Duration = Duration::from_secs(1);
/// After this many failed starts in a row, a worker slot gives up.
const MAX_FAILED_STARTS: u32 = 5;

/// The `local` compute backend: worker processes that are children of the driver.
///
/// ```
/// use std::time::Duration;
/// use strato_worker::{Compute, LocalCompute, WorkerSpec};
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let state = server.address().to_string();
/// let spec = WorkerSpec { state, board: "b".into(), ready: String::new(), session: String::new() };
/// let local = LocalCompute::new(spec);
/// assert!(local.pids().is_empty());
/// local.stop(Duration::ZERO);
/// ```
pub struct LocalCompute {
    env: WorkerSpec,
    stopping: Arc<AtomicBool>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
    monitors: Mutex<Vec<JoinHandle<()>>>,
    exited_tx: mpsc::Sender<usize>,
    exited: Mutex<mpsc::Receiver<usize>>,
}

impl LocalCompute {
    /// A backend with no workers yet, for the workers `spec` describes.
    pub fn new(spec: WorkerSpec) -> LocalCompute {
        let (exited_tx, exited) = mpsc::channel();
        LocalCompute {
            env: spec,
            stopping: Arc::new(AtomicBool::new(false)),
            pids: Arc::new(Mutex::new(Vec::new())),
            monitors: Mutex::new(Vec::new()),
            exited_tx,
            exited: Mutex::new(exited),
        }
    }
}

impl Compute for LocalCompute {
    fn kind(&self) -> &'static str {
        "local"
    }

    /// Worker slots, alive or being restarted.
    fn slots(&self) -> usize {
        lock(&self.pids).len()
    }

    fn grow_to(&self, count: usize, ready: &str) -> Result<usize, ComputeError> {
        let env = WorkerSpec {
            ready: ready.to_string(),
            ..self.env.clone()
        };
        let mut monitors = lock(&self.monitors);
        let mut added = 0;
        while lock(&self.pids).len() < count {
            let index = {
                let mut pids = lock(&self.pids);
                pids.push(None);
                pids.len() - 1
            };
            let child = spawn_worker(&env, index)?;
            set_pid(&self.pids, index, Some(child.id()));
            let slot = Monitor {
                index,
                env: env.clone(),
                stopping: self.stopping.clone(),
                pids: self.pids.clone(),
                exited: self.exited_tx.clone(),
            };
            monitors.push(std::thread::spawn(move || slot.run(child)));
            added += 1;
        }
        Ok(added)
    }

    fn pids(&self) -> Vec<u32> {
        lock(&self.pids).iter().flatten().copied().collect()
    }

    fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits for the workers, kills those still alive, and joins their monitors.
    fn stop(&self, grace: Duration) {
        self.begin_stop();
        let deadline = Instant::now() + grace;
        let monitors = std::mem::take(&mut *lock(&self.monitors));
        let mut left = monitors.len();
        let exited = lock(&self.exited);
        while left > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            match exited.recv_timeout(wait) {
                Ok(_) => left -= 1,
                Err(_) => break,
            }
        }
        drop(exited);
        self.pids().into_iter().for_each(kill);
        monitors.into_iter().for_each(|m| drop(m.join()));
    }
}

/// Watches one worker slot: restarts its process when it dies, until the executor stops.
struct Monitor {
    index: usize,
    env: WorkerSpec,
    stopping: Arc<AtomicBool>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
    exited: mpsc::Sender<usize>,
}

impl Monitor {
    fn run(self, mut child: Child) {
        let mut failed_starts = 0;
        loop {
            let started = Instant::now();
            let status = child.wait();
            set_pid(&self.pids, self.index, None);
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let retired = status
                .as_ref()
                .is_ok_and(|s| s.code() == Some(crate::worker::EXIT_RETIRED));
            failed_starts = match !retired && started.elapsed() < QUICK_DEATH {
                true => failed_starts + 1,
                false => 0,
            };
            match retired {
                true => tracing::debug!(worker = self.index, "a worker retired; starting another"),
                false => tracing::warn!(
                    worker = self.index,
                    ?status,
                    "a worker exited; restarting it"
                ),
            }
            if failed_starts >= MAX_FAILED_STARTS {
                tracing::error!(
                    worker = self.index,
                    "a worker keeps dying at start; giving up"
                );
                break;
            }
            match self.restart() {
                Some(next) => child = next,
                None => break,
            }
        }
        let _ = self.exited.send(self.index);
    }

    fn restart(&self) -> Option<Child> {
        let child = spawn_worker(&self.env, self.index)
            .inspect_err(|e| tracing::error!(worker = self.index, "cannot restart a worker: {e}"))
            .ok()?;
        set_pid(&self.pids, self.index, Some(child.id()));
        if self.stopping.load(Ordering::SeqCst) {
            kill(child.id());
        }
        Some(child)
    }
}

fn spawn_worker(env: &WorkerSpec, index: usize) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut command = match super::worker_command() {
        // An interpreter finds its installation from its own path: argv[0] stays as is.
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
        None => {
            let title =
                crate::worker::process_title(&crate::worker::program_name(), &index.to_string());
            let mut command = Command::new(current_exe_path());
            command.arg0(title);
            command
        }
    };
    command
        .env(ROLE_ENV, "worker")
        .env(STATE_ENV, &env.state)
        .env(BOARD_ENV, &env.board)
        .env(READY_ENV, &env.ready)
        .env(SESSION_ENV, &env.session)
        .env(WORKER_ID_ENV, index.to_string())
        .env(DRIVER_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .spawn()
}

fn set_pid(pids: &Mutex<Vec<Option<u32>>>, index: usize, pid: Option<u32>) {
    lock(pids)[index] = pid;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends SIGKILL to a process.
pub(crate) fn kill(pid: u32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process; a stale
    // pid at worst signals nothing (ESRCH).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}
