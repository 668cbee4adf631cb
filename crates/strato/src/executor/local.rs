//! The local backend: worker processes that are children of the driver, re-executed from
//! the driver's own binary, restarted when they die and stopped when the executor stops.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::func::current_exe_path;
use super::worker::{BOARD_ENV, DATA_ENV, DRIVER_ENV, READY_ENV, ROLE_ENV, WORKER_ID_ENV};

/// What every worker of one executor is told.
#[derive(Debug, Clone)]
pub(crate) struct WorkerEnv {
    pub state: String,
    pub board: String,
    pub data_dir: String,
    /// The latch a new worker counts down once it joined.
    pub ready: String,
}

/// A worker that dies this soon after starting counts as a failed start.
const QUICK_DEATH: Duration = Duration::from_secs(1);
/// After this many failed starts in a row, a worker slot gives up.
const MAX_FAILED_STARTS: u32 = 5;

/// The worker processes of one executor.
pub(crate) struct LocalWorkers {
    env: WorkerEnv,
    stopping: Arc<AtomicBool>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
    monitors: Mutex<Vec<JoinHandle<()>>>,
    exited_tx: mpsc::Sender<usize>,
    exited: Mutex<mpsc::Receiver<usize>>,
}

impl LocalWorkers {
    /// Starts `count` workers; fails if one cannot be spawned.
    pub fn start(count: usize, env: WorkerEnv) -> std::io::Result<LocalWorkers> {
        let (exited_tx, exited) = mpsc::channel();
        let workers = LocalWorkers {
            env,
            stopping: Arc::new(AtomicBool::new(false)),
            pids: Arc::new(Mutex::new(Vec::new())),
            monitors: Mutex::new(Vec::new()),
            exited_tx,
            exited: Mutex::new(exited),
        };
        let ready = workers.env.ready.clone();
        workers.grow_to(count, &ready)?;
        Ok(workers)
    }

    /// How many worker slots there are (alive or being restarted).
    pub fn slots(&self) -> usize {
        lock(&self.pids).len()
    }

    /// Starts more workers until there are `count` slots, each counting down the latch
    /// `ready` once it joined; returns how many were added.
    pub fn grow_to(&self, count: usize, ready: &str) -> std::io::Result<usize> {
        let env = WorkerEnv {
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

    /// The process ids of the workers alive now.
    pub fn pids(&self) -> Vec<u32> {
        lock(&self.pids).iter().flatten().copied().collect()
    }

    /// Stops restarting workers that exit (call before asking them to exit).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits up to `grace` for the workers to exit (they were asked to), then kills the rest.
    pub fn stop(self, grace: Duration) {
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
    env: WorkerEnv,
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
            failed_starts = match started.elapsed() < QUICK_DEATH {
                true => failed_starts + 1,
                false => 0,
            };
            tracing::warn!(
                worker = self.index,
                ?status,
                "a worker exited; restarting it"
            );
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

fn spawn_worker(env: &WorkerEnv, index: usize) -> std::io::Result<Child> {
    Command::new(current_exe_path())
        .env(ROLE_ENV, "worker")
        .env(crate::STATE_ENV, &env.state)
        .env(BOARD_ENV, &env.board)
        .env(DATA_ENV, &env.data_dir)
        .env(READY_ENV, &env.ready)
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
