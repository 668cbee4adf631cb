//! The worker: a process of the user's own binary, started with `STRATO_ROLE=worker`, that
//! joins a task board and runs tasks until told to stop or until its state server is gone.
//!
//! The `strato` facade enters [`enter_if_worker`] before `main` (on Linux through a
//! constructor in `.init_array`, so test harnesses, benchmarks and examples become workers
//! with no code of their own; elsewhere through `strato::init()` first thing in `main`).

use std::any::Any;
use std::cell::RefCell;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use strato_client::{Client, ConnectOptions, Error, ErrorKind};
use strato_proto::{Answer, Blob, Call, Init, Op, TaskGrant, Wait};

use crate::board::ObjectRef;
use crate::capture;
use crate::func::{binary_id, Entry};
use crate::wire::{now_us, Failure, Payload, RunStats, TaskBody, WorkerResult};

/// The state a worker connects to (as `strato::STATE_ENV`).
pub const STATE_ENV: &str = "STRATO_STATE";
/// `worker` makes a process a worker.
pub(crate) const ROLE_ENV: &str = "STRATO_ROLE";
/// The task board a worker serves.
pub(crate) const BOARD_ENV: &str = "STRATO_BOARD";
/// The worker's index among its executor's workers.
pub(crate) const WORKER_ID_ENV: &str = "STRATO_WORKER_ID";
/// The latch a new worker counts down once it joined its board.
pub(crate) const READY_ENV: &str = "STRATO_READY";
/// The driver's session mutex (see [`crate::session`]).
pub(crate) const SESSION_ENV: &str = "STRATO_SESSION";
/// The pid of the driver that started the worker.
pub(crate) const DRIVER_ENV: &str = "STRATO_DRIVER_PID";
/// When the worker must have exited, in milliseconds since the Unix epoch (a cloud
/// function's deadline): it stops taking tasks early enough to finish the one it holds.
pub const DEADLINE_ENV: &str = "STRATO_DEADLINE_MS";
/// After how many milliseconds without a task the worker exits (a cloud function's worker
/// ends when its job has no work for it).
pub const IDLE_EXIT_ENV: &str = "STRATO_IDLE_EXIT_MS";
/// The exit code of a worker that ended because no task came for the idle limit.
pub const EXIT_IDLE: i32 = 10;
/// The exit code of a worker that stopped taking tasks because its deadline was near.
pub const EXIT_DEADLINE: i32 = 11;
/// The exit code of a worker that retired after a task asked it to (see
/// [`retire_after_this_task`]); local compute starts its successor.
pub const EXIT_RETIRED: i32 = 12;

/// Whether the running task asked its worker to retire once it finishes.
static RETIRING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks this worker process to exit once the running task's result is sent, for a fresh
/// process to take its place (Python's `maxtasksperchild`). The tasks it took and did not
/// start go back to the board; local compute starts a successor in the same slot. Outside
/// a worker it does nothing.
///
/// ```
/// strato_worker::worker::retire_after_this_task();
/// ```
pub fn retire_after_this_task() {
    RETIRING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// What a worker process knows about its place, for executors created inside tasks.
///
/// ```
/// // Outside a worker there is none.
/// assert!(strato_worker::worker::context().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// The task board it serves.
    pub board: String,
}

static CONTEXT: OnceLock<WorkerContext> = OnceLock::new();

/// The task a worker runs now, as its effects are fenced: every attempt of a task has the
/// same key, so an effect keyed by it (a `MergeAction` batch, say) is applied once however
/// often the task runs.
///
/// ```
/// // Outside a task there is none.
/// assert!(strato_worker::worker::effect_slot().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskKey {
    /// The board the task came from.
    pub board: String,
    /// The task's id on it.
    pub task: u64,
}

/// The running task and how many effect slots it took so far.
static CURRENT: std::sync::Mutex<Option<(TaskKey, u32)>> = std::sync::Mutex::new(None);

fn current() -> std::sync::MutexGuard<'static, Option<(TaskKey, u32)>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// In a task, its key and the next slot number (0, 1, … in the order the task asks, the
/// same in every attempt of a deterministic task); `None` outside tasks.
pub fn effect_slot() -> Option<(TaskKey, u32)> {
    let mut current = current();
    let (key, next) = current.as_mut()?;
    let slot = *next;
    *next += 1;
    Some((key.clone(), slot))
}

/// The worker's context, if this process is a worker (see [`WorkerContext`]).
pub fn context() -> Option<&'static WorkerContext> {
    CONTEXT.get()
}

/// Becomes a worker (and never returns) if this process was started as one; `on_connect`
/// receives the worker's connection to the state first, to make it the process's default.
/// In any other process it does nothing.
///
/// ```
/// strato_worker::worker::enter_if_worker(|_client| {});
/// ```
pub fn enter_if_worker(on_connect: fn(Client)) {
    let is_worker = std::env::var_os(ROLE_ENV).is_some_and(|role| role == "worker");
    if is_worker && CONTEXT.get().is_none() {
        std::process::exit(run(on_connect));
    }
}

/// A reason to stop, with the process's exit code.
struct Exit {
    code: i32,
    message: String,
}

fn exit(code: i32, message: impl Into<String>) -> Exit {
    Exit {
        code,
        message: message.into(),
    }
}

fn run(on_connect: fn(Client)) -> i32 {
    take_program_name();
    if let Err(e) = capture::install() {
        eprintln!("strato worker: not capturing task output: {e}");
    }
    crate::trace::init_with(
        || capture::OriginalStderr,
        capture::OriginalStderr.is_terminal(),
    );
    let code = match serve(on_connect) {
        Ok(()) => 0,
        // The driver ended before this worker joined: nothing to do, nothing to say.
        Err(Exit { code, message }) if message.is_empty() => code,
        Err(Exit { code, message }) => {
            let pid = std::process::id();
            let _ = writeln!(
                capture::OriginalStderr,
                "strato worker (pid {pid}): {message}"
            );
            code
        }
    };
    capture::flush();
    code
}

/// The worker's settings, read from (and removed from) its environment.
struct Settings {
    state: String,
    board: String,
    id: String,
    ready: String,
    session: String,
    limits: Limits,
}

/// When a worker stops on its own (a cloud function's worker): both optional.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    /// When it must have exited.
    deadline: Option<std::time::SystemTime>,
    /// How long it waits for a task before it exits.
    idle: Option<Duration>,
}

impl Limits {
    fn from_env() -> Limits {
        let millis = |name: &str| std::env::var(name).ok()?.parse::<u64>().ok();
        Limits {
            deadline: millis(DEADLINE_ENV)
                .map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms)),
            idle: millis(IDLE_EXIT_ENV).map(Duration::from_millis),
        }
    }

    /// The time left before the deadline, keeping back `reserve` to finish a task.
    fn left(&self, reserve: Duration) -> Option<Duration> {
        let deadline = self.deadline?;
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        Some(left.saturating_sub(reserve))
    }
}

/// The least time a worker with a deadline keeps back for the task it takes.
const DEADLINE_RESERVE: Duration = Duration::from_secs(1);

fn settings() -> Result<Settings, Exit> {
    let var = |name: &str| std::env::var(name).map_err(|_| exit(2, format!("{name} is not set")));
    let settings = Settings {
        state: var(STATE_ENV)?,
        board: var(BOARD_ENV)?,
        id: std::env::var(WORKER_ID_ENV).unwrap_or_else(|_| "?".into()),
        ready: std::env::var(READY_ENV).unwrap_or_default(),
        session: std::env::var(SESSION_ENV).unwrap_or_default(),
        limits: Limits::from_env(),
    };
    // Processes the tasks start must not become workers too.
    std::env::remove_var(ROLE_ENV);
    Ok(settings)
}

fn serve(on_connect: fn(Client)) -> Result<(), Exit> {
    let settings = settings()?;
    let worker = format!("{}/{}", settings.id, std::process::id());
    let _span = tracing::debug_span!("worker", id = %worker).entered();
    tracing::debug!(board = settings.board, "worker starting");
    let options = ConnectOptions {
        name: format!("worker {worker}"),
        ..ConnectOptions::default()
    };
    let connect = |options: ConnectOptions| {
        Client::connect_with(&settings.state, options)
            .map_err(|e| exit(2, format!("cannot reach the state server: {e}")))
    };
    let client = connect(options.clone())?;
    on_connect(client.clone());
    let board = join_board(&client, &settings.board)?;
    let _ = CONTEXT.set(WorkerContext {
        board: settings.board.clone(),
    });
    // The watchers park their calls for the process's whole life on a connection of their
    // own: on the tasks' connection the parked call's thread would read every reply (it
    // leads, see strato-client's server backend), and each of the task's calls would pay
    // a wake-up of that thread and a hand-over to its own.
    let watcher = connect(ConnectOptions {
        name: format!("{} (watching)", options.name),
        ..options
    })?;
    watch_for_shutdown(&watcher, &settings.board)?;
    watch_session(&watcher, &settings.session);
    watch_driver();
    // Held until the process ends: its loss tells a driver whose host died to replace it.
    let _watch = hold_watch(&client, &settings.board);
    count_ready(&client, &settings.ready);
    Loop::new(board, worker, settings.limits).run()
}

fn join_board(client: &Client, name: &str) -> Result<ObjectRef, Exit> {
    let init = Init::TaskBoard {
        binary: binary_id().to_string(),
    };
    let board = ObjectRef::open(client, name, init)
        .map_err(|e| exit(2, format!("cannot open task board `{name}`: {e}")))?;
    let join = Op::TaskJoin {
        binary: binary_id().to_string(),
    };
    match board.op(join) {
        Ok(_) => Ok(board),
        Err(Error::Server {
            kind: ErrorKind::WrongBinary,
            message,
        }) => Err(exit(3, format!("refused: {message}"))),
        Err(Error::Server {
            kind: ErrorKind::NotFound,
            ..
        }) => Err(exit(0, "")),
        Err(e) => Err(exit(2, format!("cannot join task board `{name}`: {e}"))),
    }
}

/// Takes one task of the board's watch board, if its driver made one, and holds it for the
/// process's life (see [`watch_board`]).
fn hold_watch(client: &Client, board: &str) -> Option<ObjectRef> {
    let name = watch_board(board);
    let exists = client.call(Call::Exists { name: name.clone() });
    if !matches!(exists, Ok(Answer::Bool(true))) {
        return None;
    }
    let init = Init::TaskBoard {
        binary: WATCH_PROTOCOL.into(),
    };
    let watch = ObjectRef::open(client, &name, init).ok()?;
    let join = Op::TaskJoin {
        binary: WATCH_PROTOCOL.into(),
    };
    watch.op(join).ok()?;
    // The driver queued one before it asked for this worker: no need to wait.
    let take = Op::TaskTake {
        max: 1,
        wait: Wait::Never,
    };
    match watch.op(take) {
        Ok(Answer::Tasks(tasks)) if !tasks.is_empty() => {
            // Held as if running, so that this process's death reports it lost.
            let start = Op::TaskStart { id: tasks[0].id };
            watch.op(start).ok()?;
            Some(watch)
        }
        other => {
            tracing::debug!(?other, "no watch task to hold");
            None
        }
    }
}

/// Exits the process when the driver sets the board's shutdown event or the state server
/// goes away (the driver died): no worker outlives its driver.
fn watch_for_shutdown(client: &Client, board: &str) -> Result<(), Exit> {
    let event = ObjectRef::open(client, &shutdown_event(board), Init::Event)
        .map_err(|e| exit(2, format!("cannot watch for shutdown: {e}")))?;
    std::thread::Builder::new()
        .name("strato-shutdown".into())
        .spawn(move || {
            let _ = event.op(Op::EventWait(Wait::Forever));
            tracing::debug!("shutdown: the driver stopped its executor");
            capture::flush();
            std::process::exit(0);
        })
        .map_err(|e| exit(2, e.to_string()))?;
    Ok(())
}

/// Exits the process once the driver's session ends on the state: the driver stopped, or
/// died (its connection closed), wherever it ran.
fn watch_session(client: &Client, session: &str) {
    if session.is_empty() {
        return;
    }
    let (client, session) = (client.clone(), session.to_string());
    let _ = std::thread::Builder::new()
        .name("strato-session".into())
        .spawn(move || {
            let ended = crate::session::wait_for_driver_end(&client, &session);
            tracing::debug!(?ended, "shutdown: the driver's session ended");
            capture::flush();
            std::process::exit(0);
        });
}

/// A faster path on the driver's own machine: exits the process once the driver that started
/// it has ended, however it ended (even by
/// SIGKILL). The state server's going away says so as well, but a state that outlives the
/// driver (Redis, `strato serve`) would otherwise keep the worker waiting for tasks forever.
///
/// The worker loop starts it; an interpreter that runs code of its own before entering the
/// loop (Python's worker loads the driver's main script, which may take long or hang) calls
/// it first, so that it dies with its driver meanwhile. It watches once per process.
///
/// ```
/// // Outside a worker started by a local driver, there is no driver to watch.
/// strato_worker::worker::watch_driver();
/// ```
pub fn watch_driver() {
    static WATCHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(pid) = std::env::var(DRIVER_ENV).ok().and_then(|p| p.parse().ok()) else {
        return;
    };
    if WATCHING.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("strato-driver-watch".into())
        .spawn(move || {
            if wait_for_exit(pid) {
                tracing::debug!(driver = pid, "shutdown: the driver ended");
                capture::flush();
                std::process::exit(0);
            }
        });
}

/// Blocks until process `pid` has ended; false if this system cannot watch it. A pidfd
/// becomes readable when its process exits, so this waits without polling.
#[cfg(target_os = "linux")]
fn wait_for_exit(pid: libc::pid_t) -> bool {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor or -1;
    // no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        // ESRCH: the driver is already gone. Anything else: no pidfds on this kernel.
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let mut watched = libc::pollfd {
        fd: fd as libc::c_int,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `watched` is one valid pollfd that outlives the call; -1 waits without limit.
    while unsafe { libc::poll(&mut watched, 1, -1) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn wait_for_exit(_pid: i32) -> bool {
    false
}

fn count_ready(client: &Client, latch: &str) {
    if latch.is_empty() {
        return;
    }
    let latch = ObjectRef::open(client, latch, Init::Latch(0));
    if let Ok(latch) = latch {
        let _ = latch.op(Op::CountDown);
    }
}

/// This program's file name (`pi`), as `ps` should show it in its workers' titles.
///
/// ```
/// assert!(!strato_worker::worker::program_name().is_empty());
/// ```
pub fn program_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    // Linux names an executable replaced on disk since it started `NAME (deleted)`.
    let name = name.trim_end_matches(" (deleted)");
    if name.is_empty() {
        "strato-program".into()
    } else {
        name.into()
    }
}

/// The title a worker process carries in `ps` (its `argv[0]`): the program and the role.
///
/// ```
/// assert_eq!(strato_worker::worker::process_title("pi", "0"), "pi [strato worker 0]");
/// ```
pub fn process_title(program: &str, worker: &str) -> String {
    format!("{program} [strato worker {worker}]")
}

/// Names this process's main thread (what `ps -e` and `top` show) after the program in its
/// title, once it runs as a worker: not the name of the file it was started from, which is a
/// hash in a host's cache, or `exe`.
fn take_program_name() {
    let Some(title) = std::env::args_os().next() else {
        return;
    };
    let title = title.to_string_lossy();
    let Some((program, _)) = title.split_once(" [strato worker ") else {
        return;
    };
    #[cfg(target_os = "linux")]
    if let Ok(name) = std::ffi::CString::new(program) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of which the kernel copies at
        // most 16 bytes; `name` is one, alive for the call.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = program;
}

/// The version of the watch board's tasks, checked when a worker joins it.
pub const WATCH_PROTOCOL: &str = "strato-watch/1";

/// The board of the tasks that a worker started by a host holds for its life, one each: when
/// the worker dies (with its host, say), the state reports its task lost to the driver, which
/// asks the hosts for a replacement.
///
/// ```
/// assert_eq!(strato_worker::worker::watch_board("strato.board.7"), "strato.board.7.watch");
/// ```
pub fn watch_board(board: &str) -> String {
    format!("{board}.watch")
}

/// The event that tells the workers of `board` to exit.
///
/// ```
/// assert_eq!(strato_worker::worker::shutdown_event("b"), "b.shutdown");
/// ```
pub fn shutdown_event(board: &str) -> String {
    format!("{board}.shutdown")
}

/// The latch each new worker of `board` counts down once it joined.
///
/// ```
/// assert_eq!(strato_worker::worker::ready_latch("b"), "b.ready");
/// ```
pub fn ready_latch(board: &str) -> String {
    format!("{board}.ready")
}

/// The take-run-report loop.
struct Loop {
    board: ObjectRef,
    worker: String,
    runner: Runner,
    batch: u32,
    reports: Vec<Op>,
    limits: Limits,
    /// The longest a task took so far (what a worker with a deadline keeps back).
    longest: Duration,
}

/// How long a batch of tasks should take: small tasks are taken many at a time.
const BATCH_TARGET: Duration = Duration::from_millis(2);
const MAX_BATCH: u32 = 64;

impl Loop {
    fn new(board: ObjectRef, worker: String, limits: Limits) -> Loop {
        Loop {
            board,
            worker,
            runner: Runner::start(),
            batch: 16,
            reports: Vec::new(),
            limits,
            longest: Duration::ZERO,
        }
    }

    fn run(mut self) -> Result<(), Exit> {
        loop {
            let take = self.next_take()?;
            let grants = match self.board.op(take) {
                Ok(Answer::Tasks(grants)) => grants,
                Ok(Answer::TimedOut | Answer::WouldBlock) => self.ran_out_of_time()?,
                Ok(other) => return Err(exit(2, format!("unexpected answer: {other:?}"))),
                Err(e) => return Err(exit(0, format!("stopping: {e}"))),
            };
            let started = Instant::now();
            let count = grants.len() as u32;
            for grant in grants {
                let began = Instant::now();
                // Said before it runs, so that if this worker dies, only this task is charged
                // a retry (not the others it holds). Not waited for.
                if let Err(e) = self.board.cast_all(vec![Op::TaskStart { id: grant.id }]) {
                    return Err(exit(0, format!("stopping: {e}")));
                }
                let ran = self.run_one(grant);
                self.longest = self.longest.max(began.elapsed());
                let retiring = RETIRING.load(std::sync::atomic::Ordering::SeqCst);
                if ran.is_err() || retiring || started.elapsed() >= BATCH_TARGET {
                    self.flush();
                }
                ran?;
                if retiring {
                    return Err(exit(EXIT_RETIRED, ""));
                }
            }
            self.flush();
            self.adapt(started.elapsed(), count);
        }
    }

    /// The next take: as many tasks as fit the batch (one at a time under a deadline, so
    /// none is held past it), waiting no longer than the idle limit or the deadline allow.
    fn next_take(&self) -> Result<Op, Exit> {
        let reserve = (self.longest * 2).max(DEADLINE_RESERVE);
        let left = self.limits.left(reserve);
        if left == Some(Duration::ZERO) {
            return Err(exit(EXIT_DEADLINE, "stopping: the deadline is near"));
        }
        let limit = match (left, self.limits.idle) {
            (Some(left), Some(idle)) => Some(left.min(idle)),
            (left, idle) => left.or(idle),
        };
        Ok(Op::TaskTake {
            max: if left.is_some() { 1 } else { self.batch },
            wait: limit.map_or(Wait::Forever, |d| Wait::Micros(d.as_micros() as u64)),
        })
    }

    /// A take that waited its limit out: the worker ends, idle or at its deadline.
    fn ran_out_of_time(&self) -> Result<Vec<TaskGrant>, Exit> {
        let reserve = (self.longest * 2).max(DEADLINE_RESERVE);
        match self.limits.left(reserve) {
            Some(Duration::ZERO) => Err(exit(EXIT_DEADLINE, "stopping: the deadline is near")),
            _ => Err(exit(EXIT_IDLE, "stopping: no task came")),
        }
    }

    fn adapt(&mut self, took: Duration, count: u32) {
        let per_task = took / count.max(1);
        let fits = BATCH_TARGET.as_nanos() / per_task.as_nanos().max(1);
        self.batch = (fits as u32).clamp(1, MAX_BATCH);
    }

    fn run_one(&mut self, grant: TaskGrant) -> Result<(), Exit> {
        let started_us = now_us();
        let body: Result<TaskBody, _> = postcard::from_bytes(&grant.body);
        let job = body.as_ref().map_or("?", |b| &*b.job);
        let span =
            tracing::debug_span!("task", job = %job, task = grant.id, attempt = grant.attempt);
        let _entered = span.enter();
        tracing::debug!("task started");
        let (outcome, bytes_in, timed_out) = match &body {
            Ok(body) => self.execute(&grant, body),
            Err(e) => (Err(Failure::Data(format!("malformed task: {e}"))), 0, false),
        };
        let output = capture::take();
        let bytes_out = outcome.as_ref().map_or(0, Payload::len);
        let stats = RunStats {
            worker: self.worker.clone(),
            started_us,
            finished_us: now_us(),
            bytes_in,
            bytes_out,
        };
        tracing::debug!(ok = outcome.is_ok(), bytes_in, bytes_out, "task ran");
        let result = WorkerResult {
            outcome,
            stats,
            stdout: output.stdout,
            stderr: output.stderr,
        };
        self.report(&grant, result);
        match timed_out {
            true => Err(exit(4, format!("task {} timed out; restarting", grant.id))),
            false => Ok(()),
        }
    }

    /// Runs a task's function; also says how many bytes came in and whether it timed out.
    fn execute(
        &mut self,
        grant: &TaskGrant,
        body: &TaskBody,
    ) -> (Result<Payload, Failure>, u64, bool) {
        let client = self.board.client().clone();
        let input = match body.input.load(&client) {
            Ok(input) => input,
            Err(e) => {
                return (
                    Err(Failure::Data(format!("cannot load the argument: {e}"))),
                    0,
                    false,
                )
            }
        };
        let bytes_in = input.len() as u64;
        // SAFETY: this worker joined the board only after the server checked that it runs the
        // driver's binary, where the reference was made.
        let entry = unsafe { body.func.resolve() };
        let timeout = body.timeout_ms.map(Duration::from_millis);
        let key = TaskKey {
            board: self.board.name().to_string(),
            task: grant.id,
        };
        *current() = Some((key, 0));
        let ran = self.runner.run(entry, input, timeout);
        *current() = None;
        let output = match ran {
            Some(output) => output,
            None => {
                let after_ms = body.timeout_ms.unwrap_or_default();
                return (Err(Failure::TimedOut { after_ms }), bytes_in, true);
            }
        };
        let name = result_blob(grant.id, grant.attempt);
        let stored =
            output.and_then(|bytes| store_result(&client, bytes, body.inline_limit, &name));
        (stored, bytes_in, false)
    }

    /// Sends the reports held back, in one write.
    fn flush(&mut self) {
        if self.reports.is_empty() {
            return;
        }
        let reports = std::mem::take(&mut self.reports);
        tracing::debug!(tasks = reports.len(), "reporting finished tasks");
        if let Err(e) = self.board.cast_all(reports) {
            tracing::warn!("cannot report finished tasks: {e}");
        }
    }

    fn report(&mut self, grant: &TaskGrant, result: WorkerResult) {
        let bytes = match postcard::to_stdvec(&result) {
            Ok(bytes) => bytes,
            Err(e) => {
                let failed = WorkerResult {
                    outcome: Err(Failure::Data(e.to_string())),
                    stats: result.stats,
                    stdout: result.stdout,
                    stderr: result.stderr,
                };
                postcard::to_stdvec(&failed).unwrap_or_default()
            }
        };
        self.reports.push(Op::TaskFinish {
            id: grant.id,
            attempt: grant.attempt,
            result: Blob::from(bytes),
        });
    }
}

/// The blob a large result of a task's attempt goes to.
fn result_blob(task: u64, attempt: u32) -> String {
    format!("strato.blob.{task}.r{attempt}")
}

/// Keeps a result inline up to `limit`, else writes it to a blob on the state and lends it
/// to the driver.
fn store_result(
    client: &Client,
    bytes: Vec<u8>,
    limit: u64,
    name: &str,
) -> Result<Payload, Failure> {
    let failed = |e: Error| Failure::Data(format!("cannot store the result: {e}"));
    let (payload, stored) = Payload::store(client, bytes, limit, name).map_err(failed)?;
    if let Some(stored) = stored {
        stored.lend().map_err(failed)?;
    }
    Ok(payload)
}

/// A thread that runs task functions, so the loop can give up on one that runs too long.
struct Runner {
    jobs: mpsc::Sender<(Entry, Vec<u8>)>,
    done: mpsc::Receiver<Result<Vec<u8>, Failure>>,
}

impl Runner {
    fn start() -> Runner {
        install_panic_hook();
        let (jobs, job_rx) = mpsc::channel::<(Entry, Vec<u8>)>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("strato-task".into())
            .spawn(move || {
                for (entry, input) in job_rx {
                    let _ = done_tx.send(call(entry, &input));
                }
            })
            .expect("strato worker: cannot start the task thread");
        Runner { jobs, done }
    }

    /// The function's output, or `None` if it outlived `timeout`. Without a timeout the
    /// function runs on the calling thread (no hand-over between threads).
    fn run(
        &self,
        entry: Entry,
        input: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Option<Result<Vec<u8>, Failure>> {
        let Some(limit) = timeout else {
            return Some(call(entry, &input));
        };
        self.jobs.send((entry, input)).ok()?;
        self.done.recv_timeout(limit).ok()
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Runs an entry, turning a panic into a [`Failure`].
fn call(entry: Entry, input: &[u8]) -> Result<Vec<u8>, Failure> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| entry(input))) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(message)) => Err(Failure::Data(message)),
        Err(payload) => {
            let (message, backtrace) = LAST_PANIC
                .with(|last| last.borrow_mut().take())
                .unwrap_or_else(|| (payload_message(&*payload), None));
            Err(Failure::Panicked { message, backtrace })
        }
    }
}

/// Keeps each panic's message, location and backtrace for the task's report instead of
/// printing them.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!("{}{location}", payload_message(info.payload()));
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
            .then(|| backtrace.to_string());
        LAST_PANIC.with(|last| *last.borrow_mut() = Some((message, backtrace)));
    }));
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        return text.to_string();
    }
    match payload.downcast_ref::<String>() {
        Some(text) => text.clone(),
        None => "a panic with a non-text payload".into(),
    }
}
