//! The host daemon: serves requests for workers from the hosts board, one per free slot.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use strato_client::{Client, ConnectOptions, Error, ErrorKind};
use strato_proto::{Answer, Blob, Call, Init, Op, TaskGrant, TaskSpec, Wait};

use super::python::PythonHost;
use super::{HostReport, HostRequest, Program, HOSTS_BOARD, HOSTS_PROTOCOL};
use crate::board::ObjectRef;
use crate::exe::{die_with_parent, ExeCache, ExeRef, Obtained};
use crate::worker::{BOARD_ENV, READY_ENV, ROLE_ENV, SESSION_ENV, STATE_ENV, WORKER_ID_ENV};

/// Runs of a request whose host died while holding it, before the driver is told.
const REQUEST_RETRIES: u32 = 3;
/// The longest pause between attempts to reach a state server that went away.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a daemon runs.
///
/// ```
/// let options = strato_worker::hosts::DaemonOptions::new("tcp://127.0.0.1:7070");
/// assert!(options.slots >= 1);
/// ```
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The state server's address, as this host reaches it (workers are given it too).
    pub connect: String,
    /// The state server's token.
    pub token: Option<String>,
    /// The CA file the server's TLS certificate is checked against (`None`: the system's).
    pub ca: Option<PathBuf>,
    /// How many workers it runs at once.
    pub slots: usize,
    /// Where fetched executables are kept.
    pub cache: PathBuf,
    /// Its name in reports and logs.
    pub name: String,
    /// The Python that runs Python drivers' workers (it must have the drivers' strato
    /// wheel installed).
    pub python: PathBuf,
}

impl DaemonOptions {
    /// Defaults: one slot per core, the default cache, the host name and pid as name.
    pub fn new(connect: impl Into<String>) -> DaemonOptions {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        DaemonOptions {
            connect: connect.into(),
            token: None,
            ca: std::env::var_os("STRATO_TLS_CA").map(PathBuf::from),
            slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cache: ExeCache::default_dir(),
            name: format!("{host}/{}", std::process::id()),
            python: PathBuf::from("python3"),
        }
    }
}

/// Why a daemon stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state server refused it (a wrong token, another version).
    #[error("the state server refused this host: {0}")]
    Refused(String),
    /// The state server could not be reached at start.
    #[error("cannot reach the state server: {0}")]
    Unreachable(String),
}

/// A running host daemon.
pub struct Daemon {
    options: DaemonOptions,
    cache: ExeCache,
    python: PythonHost,
    running: Arc<Running>,
}

/// The daemon's workers alive now.
#[derive(Default)]
struct Running {
    pids: Mutex<HashSet<u32>>,
    changed: Condvar,
}

impl Running {
    fn lock(&self) -> MutexGuard<'_, HashSet<u32>> {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_below(&self, slots: usize) {
        let mut pids = self.lock();
        while pids.len() >= slots {
            pids = self.changed.wait(pids).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn kill_all(&self) {
        self.lock()
            .iter()
            .for_each(|&pid| crate::compute::kill(pid));
    }
}

impl Daemon {
    /// A daemon with these options (not yet connected).
    pub fn new(options: DaemonOptions) -> Daemon {
        let cache = ExeCache::new(options.cache.clone());
        Daemon {
            python: PythonHost::new(options.python.clone()),
            options,
            cache,
            running: Arc::default(),
        }
    }

    /// Serves requests until refused by the server; `ready` is called each time the daemon
    /// joined the hosts board (at start and after every reconnection). When the server goes
    /// away, the daemon stops its workers and tries again until the server is back.
    pub fn run(&self, mut ready: impl FnMut(&DaemonOptions)) -> Result<(), DaemonError> {
        let mut connected_once = false;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.serve(&mut ready, &mut connected_once) {
                Err(Error::Refused { reason, .. }) => return Err(DaemonError::Refused(reason)),
                Err(e) if !connected_once => return Err(DaemonError::Unreachable(e.to_string())),
                Err(e) => {
                    tracing::warn!("lost the state server ({e}); stopping workers, retrying");
                    self.running.kill_all();
                }
                Ok(()) => return Ok(()),
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life: join the board, then take and serve requests.
    fn serve(
        &self,
        ready: &mut impl FnMut(&DaemonOptions),
        connected_once: &mut bool,
    ) -> Result<(), Error> {
        let options = ConnectOptions {
            token: self.options.token.clone(),
            ca: self.options.ca.clone(),
            name: format!("host {}", self.options.name),
            ..ConnectOptions::default()
        };
        let client = Client::connect_with(&self.options.connect, options)?;
        let board = join(&client)?;
        *connected_once = true;
        ready(&self.options);
        loop {
            self.running.wait_below(self.options.slots);
            let take = Op::TaskTake {
                max: 1,
                wait: Wait::Forever,
            };
            match board.op(take)? {
                Answer::Tasks(grants) => grants
                    .into_iter()
                    .try_for_each(|grant| self.answer(&client, &board, grant))?,
                other => return Err(Error::Protocol(format!("{other:?}"))),
            }
        }
    }

    /// Serves one request and reports to its driver.
    fn answer(&self, client: &Client, board: &ObjectRef, grant: TaskGrant) -> Result<(), Error> {
        // If this host dies serving it, the request is charged a retry.
        board.cast_all(vec![Op::TaskStart { id: grant.id }])?;
        let request = match postcard::from_bytes::<HostRequest>(&grant.body) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(task = grant.id, "refused a malformed host request: {e}");
                let report = HostReport::Refused {
                    host: self.options.name.clone(),
                    reason: format!(
                        "the request is not in this host's format ({HOSTS_PROTOCOL}): the \
                         driver runs another version of strato"
                    ),
                };
                return finish(board, &grant, &report);
            }
        };
        let report = match self.start_ready_worker(client, board, &request) {
            Ok(()) => HostReport::Started {
                host: self.options.name.clone(),
                index: request.first_index,
            },
            Err(reason) => {
                tracing::warn!(board = request.board, "refused a request: {reason}");
                HostReport::Refused {
                    host: self.options.name.clone(),
                    reason,
                }
            }
        };
        finish(board, &grant, &report)
    }

    /// Starts the request's worker and waits until it holds its watch task, from when on
    /// its death is reported to the driver by the state. A worker that exits before that is
    /// started again, up to [`READY_ATTEMPTS`] times. The rest of the request goes back on
    /// the board as soon as the first worker is started, for any host to serve.
    fn start_ready_worker(
        &self,
        client: &Client,
        board: &ObjectRef,
        request: &HostRequest,
    ) -> Result<(), String> {
        let mut rest = request.next();
        for attempt in 1..=READY_ATTEMPTS {
            let launched = self.start_worker(client, request, attempt)?;
            if let Some(rest) = rest.take() {
                submit(client, board, &rest).map_err(|e| e.to_string())?;
            }
            match launched.wait_ready(client) {
                Ok(()) => return Ok(()),
                Err(status) if status.success() => {
                    return Err("its worker exited at once: its job has ended".into());
                }
                Err(status) => tracing::warn!(
                    board = request.board,
                    attempt,
                    "a worker exited before it was ready ({status}); starting another"
                ),
            }
        }
        Err(format!(
            "its worker exited before it was ready, {READY_ATTEMPTS} times"
        ))
    }

    fn start_worker(
        &self,
        client: &Client,
        request: &HostRequest,
        attempt: u32,
    ) -> Result<Launched, String> {
        let worker = format!("{}/{}", self.options.name, request.first_index);
        let mut command = match &request.program {
            Program::Exe(exe) => self.exe_command(client, exe, &worker)?,
            Program::Python(python) => self.python.command(python, &self.options.cache)?,
        };
        let ready = format!("{}.ready.{worker}.{attempt}", request.board);
        // Made (at one) before the worker starts, whose count-down it waits for.
        let waiter = ObjectRef::open(client, &ready, Init::Latch(1)).map_err(|e| e.to_string())?;
        command
            .env(ROLE_ENV, "worker")
            .env(STATE_ENV, &self.options.connect)
            .env(BOARD_ENV, &request.board)
            // Counted down once the worker holds its watch task.
            .env(READY_ENV, &ready)
            .env(SESSION_ENV, &request.session)
            .env(WORKER_ID_ENV, &worker)
            .stdin(Stdio::null());
        if let Some(token) = &self.options.token {
            command.env("STRATO_TOKEN", token);
        }
        if let Some(ca) = &self.options.ca {
            command.env("STRATO_TLS_CA", ca);
        }
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the worker: {e}"))?;
        self.running.lock().insert(child.id());
        let (events, heard) = mpsc::channel();
        let running = self.running.clone();
        let exited = events.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            running.lock().remove(&child.id());
            running.changed.notify_all();
            if let Ok(status) = status {
                let _ = exited.send(Readiness::Exited(status));
            }
        });
        std::thread::spawn(move || {
            if waiter.op(Op::LatchWait(Wait::Forever)).is_ok() {
                let _ = events.send(Readiness::Ready);
            }
        });
        Ok(Launched {
            heard,
            latch: ready,
        })
    }

    /// The command of a worker that is the driver's executable, fetched into the cache.
    fn exe_command(&self, client: &Client, exe: &ExeRef, worker: &str) -> Result<Command, String> {
        if let Some(reason) = exe.unrunnable_here() {
            return Err(reason);
        }
        let (path, obtained) = self.cache.obtain(client, exe).map_err(|e| e.to_string())?;
        if obtained == Obtained::Replaced {
            tracing::warn!(
                exe = exe.hash,
                "the cached executable was damaged; fetched it again"
            );
        }
        let mut command = Command::new(&path);
        std::os::unix::process::CommandExt::arg0(
            &mut command,
            crate::worker::process_title(program(exe), worker),
        );
        Ok(command)
    }
}

/// How many times a host starts a request's worker that exits before it is ready.
const READY_ATTEMPTS: u32 = 3;

/// What is heard first of a worker just started.
enum Readiness {
    /// It holds its watch task (it counted down its ready latch).
    Ready,
    /// It exited before.
    Exited(std::process::ExitStatus),
}

/// A worker just started, and how to hear whether it became ready.
struct Launched {
    heard: mpsc::Receiver<Readiness>,
    /// The name of its ready latch.
    latch: String,
}

impl Launched {
    /// Waits until the worker is ready (`Ok`) or exited first (its status).
    fn wait_ready(self, client: &Client) -> Result<(), std::process::ExitStatus> {
        let heard = self.heard.recv();
        // Wakes the latch's waiter if the worker exited first; frees the latch.
        let _ = client.call(Call::Delete { name: self.latch });
        match heard {
            Ok(Readiness::Exited(status)) => Err(status),
            // Ready, or (both threads gone without a word) nothing more to learn.
            _ => Ok(()),
        }
    }
}

fn join(client: &Client) -> Result<ObjectRef, Error> {
    let init = Init::TaskBoard {
        binary: HOSTS_PROTOCOL.into(),
    };
    let board = ObjectRef::open(client, HOSTS_BOARD, init)?;
    match board.op(Op::TaskJoin {
        binary: HOSTS_PROTOCOL.into(),
    }) {
        Err(Error::Server {
            kind: ErrorKind::WrongBinary,
            message,
        }) => Err(Error::Refused {
            address: client.address().to_string(),
            reason: format!("the hosts board speaks another version: {message}"),
        }),
        other => other.map(|_| board),
    }
}

/// Puts a request (back) on the hosts board.
pub(crate) fn submit(
    client: &Client,
    board: &ObjectRef,
    request: &HostRequest,
) -> Result<(), Error> {
    let body = postcard::to_stdvec(request).map_err(|e| Error::Codec(e.to_string()))?;
    let spec = TaskSpec {
        id: crate::compute::next_task_id(client.connection_id()),
        reply_to: request.reply_to.clone(),
        max_retries: REQUEST_RETRIES,
        body: Blob::from(body),
    };
    board.op(Op::TaskSubmit(vec![spec])).map(drop)
}

fn finish(board: &ObjectRef, grant: &TaskGrant, report: &HostReport) -> Result<(), Error> {
    let result = postcard::to_stdvec(report).unwrap_or_default();
    let finish = Op::TaskFinish {
        id: grant.id,
        attempt: grant.attempt,
        result: Blob::from(result),
    };
    board.op(finish).map(drop)
}

/// The program's name for its workers' titles (an older driver sends none).
fn program(exe: &ExeRef) -> &str {
    if exe.name.is_empty() {
        "strato-program"
    } else {
        &exe.name
    }
}
