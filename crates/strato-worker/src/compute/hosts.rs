//! The `hosts` compute backend: workers on `strato worker --connect` daemons, asked for
//! through the hosts board of the state (see [`crate::hosts`]).
//!
//! Each worker a host starts holds one task of the executor's watch board
//! ([`watch_board`](crate::worker::watch_board)) for its life. When it dies (with its host,
//! or cut off from the state), the state reports that task lost, and the driver asks the
//! hosts for a replacement: a job whose hosts died goes on when other hosts have free slots,
//! or as soon as one connects. A host reports a worker started only once it holds its watch
//! task, so no worker can die unseen between the two.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, Op, TaskOutcome, TaskReport, TaskSpec, Wait};

use super::{next_task_id, Compute, ComputeError, WorkerSpec};
use crate::board::ObjectRef;
use crate::exe::{self, ExeRef};
use crate::hosts::{daemon, HostReport, HostRequest, Program, HOSTS_BOARD, HOSTS_PROTOCOL};
use crate::worker::{watch_board, WATCH_PROTOCOL};

/// The `hosts` backend: asks the connected host daemons for workers.
///
/// Creating one publishes the driver's executable on the state (once per build); each
/// [`grow_to`](Compute::grow_to) puts one request on the hosts board, which the daemons serve
/// in turn with other drivers' requests. A worker that dies is replaced.
pub struct HostCompute {
    requests: Arc<Requests>,
    slots: Mutex<usize>,
    listener: Mutex<Option<JoinHandle<()>>>,
    _replies: ObjectRef,
    /// Keeps the driver's executable on the state (`None` for a Python driver).
    _published: Option<ObjectRef>,
}

/// How to ask for workers, shared with the thread that hears the hosts.
struct Requests {
    client: Client,
    spec: WorkerSpec,
    program: Program,
    board: ObjectRef,
    watch: ObjectRef,
    /// The latch of the workers being started now.
    ready: Mutex<String>,
    /// The index the next worker asked for gets.
    next_index: Mutex<u32>,
    /// The watch tasks of the workers asked for, not yet lost.
    watches: Mutex<HashSet<u64>>,
    stopping: AtomicBool,
    refusals: Mutex<Vec<String>>,
    started: Mutex<Vec<(String, u32)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostCompute {
    /// Publishes this executable (unless the driver set a Python program, see
    /// [`set_host_program`](super::set_host_program)) and opens the hosts board; no workers
    /// yet.
    pub fn new(client: &Client, spec: WorkerSpec) -> Result<HostCompute, ComputeError> {
        let (program, published) = match super::host_program() {
            Some(python) => (Program::Python(python), None),
            None => {
                let exe = ExeRef::current()?;
                let published = exe::publish(client, &exe)?;
                (Program::Exe(exe), Some(published))
            }
        };
        let init = Init::TaskBoard {
            binary: HOSTS_PROTOCOL.into(),
        };
        let board = ObjectRef::open(client, HOSTS_BOARD, init)?;
        let init = Init::TaskBoard {
            binary: WATCH_PROTOCOL.into(),
        };
        let watch = ObjectRef::open(client, &watch_board(&spec.board), init)?;
        let replies_name = replies(&spec);
        let replies = ObjectRef::open(client, &replies_name, Init::Queue { bound: None })?;
        let requests = Arc::new(Requests {
            client: client.clone(),
            spec,
            program,
            board,
            watch,
            ready: Mutex::default(),
            next_index: Mutex::new(0),
            watches: Mutex::default(),
            stopping: AtomicBool::new(false),
            refusals: Mutex::default(),
            started: Mutex::default(),
        });
        let listener = {
            let requests = requests.clone();
            let queue = ObjectRef::open(client, &replies_name, Init::Queue { bound: None })?;
            std::thread::Builder::new()
                .name("strato-hosts".into())
                .spawn(move || listen(&queue, &requests))?
        };
        Ok(HostCompute {
            requests,
            slots: Mutex::new(0),
            listener: Mutex::new(Some(listener)),
            _replies: replies,
            _published: published,
        })
    }

    /// The hosts that started workers so far, with each worker's index.
    pub fn started(&self) -> Vec<(String, u32)> {
        lock(&self.requests.started).clone()
    }

    fn connected_hosts(&self) -> Result<u64, ComputeError> {
        match self.requests.board.op(Op::TaskCounts)? {
            Answer::TaskCounts { workers, .. } => Ok(workers),
            other => Err(Error::Protocol(format!("{other:?}")).into()),
        }
    }
}

/// The queue the hosts' reports (and the watch board's lost tasks) go to.
fn replies(spec: &WorkerSpec) -> String {
    format!("{}.hosts", spec.board)
}

impl Requests {
    /// Asks the hosts for `want` more workers: one watch task each, then one request.
    fn ask(&self, want: u32) -> Result<(), Error> {
        let watches: Vec<TaskSpec> = (0..want)
            .map(|_| TaskSpec {
                id: next_task_id(self.client.connection_id()),
                reply_to: replies(&self.spec),
                max_retries: 0,
                body: Blob::from(Vec::new()),
            })
            .collect();
        lock(&self.watches).extend(watches.iter().map(|w| w.id));
        self.watch.op(Op::TaskSubmit(watches))?;
        let first_index = {
            let mut next = lock(&self.next_index);
            let first = *next;
            *next += want;
            first
        };
        let request = HostRequest {
            board: self.spec.board.clone(),
            ready: lock(&self.ready).clone(),
            session: self.spec.session.clone(),
            program: self.program.clone(),
            reply_to: replies(&self.spec),
            want,
            first_index,
        };
        daemon::submit(&self.client, &self.board, &request)
    }

    /// Handles one report: a host's answer, or a worker's watch task lost.
    fn hear(&self, item: &[u8]) {
        let Ok(report) = postcard::from_bytes::<TaskReport>(item) else {
            return;
        };
        if lock(&self.watches).remove(&report.id) {
            self.replace_lost(report.id);
            return;
        }
        if let Some(refusal) = self.refusal(report) {
            lock(&self.refusals).push(refusal);
        }
        count_down(&self.client, &lock(&self.ready));
    }

    /// A worker died: asks for another, unless the executor is stopping.
    fn replace_lost(&self, watch: u64) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        tracing::info!(
            board = self.spec.board,
            watch,
            "a worker on a host was lost; asking for another"
        );
        if let Err(e) = self.ask(1) {
            tracing::warn!("cannot ask the hosts for a replacement worker: {e}");
        }
    }

    /// Records a host's report; the reason if it is a refusal.
    fn refusal(&self, report: TaskReport) -> Option<String> {
        let outcome = match report.outcome {
            TaskOutcome::Lost => {
                let reason = format!(
                    "the hosts that took the request for workers died ({} tries)",
                    report.attempt + 1
                );
                return Some(reason);
            }
            TaskOutcome::Finished(bytes) => postcard::from_bytes::<HostReport>(&bytes).ok()?,
        };
        match outcome {
            HostReport::Started { host, index } => {
                tracing::debug!(host, index, "a host started a worker");
                lock(&self.started).push((host, index));
                None
            }
            HostReport::Refused { host, reason } => Some(format!("host {host}: {reason}")),
        }
    }
}

impl Compute for HostCompute {
    fn kind(&self) -> &'static str {
        "hosts"
    }

    fn slots(&self) -> usize {
        *lock(&self.slots)
    }

    fn grow_to(&self, count: usize, ready: &str) -> Result<usize, ComputeError> {
        let mut slots = lock(&self.slots);
        if count <= *slots {
            return Ok(0);
        }
        if self.connected_hosts()? == 0 {
            let state = self.requests.client.address().to_string();
            return Err(ComputeError::NoHosts { state });
        }
        *lock(&self.requests.ready) = ready.to_string();
        let added = count - *slots;
        self.requests.ask(added as u32)?;
        *slots = count;
        Ok(added)
    }

    fn pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn check(&self) -> Result<(), ComputeError> {
        let refusals = lock(&self.requests.refusals);
        match refusals.first() {
            Some(reason) => Err(ComputeError::Refused(reason.clone())),
            None => Ok(()),
        }
    }

    fn not_ready_hint(&self) -> String {
        let hosts = self.connected_hosts().unwrap_or(0);
        format!(
            "the {hosts} connected worker host(s) had no free slot (a strato thread holds one \
             for its whole life, other drivers' workers hold theirs): start more hosts or give \
             them more --slots"
        )
    }

    fn begin_stop(&self) {
        self.requests.stopping.store(true, Ordering::Relaxed);
    }

    /// The workers exit on their own (the board's shutdown event, the driver's session); this
    /// stops listening to the hosts and replacing workers.
    fn stop(&self, _grace: Duration) {
        self.begin_stop();
        let client = &self.requests.client;
        for name in [
            replies(&self.requests.spec),
            watch_board(&self.requests.spec.board),
        ] {
            let _ = client.call(strato_proto::Call::Delete { name });
        }
        if let Some(listener) = lock(&self.listener).take() {
            let _ = listener.join();
        }
    }
}

/// Receives the hosts' reports until the reply queue is deleted.
fn listen(queue: &ObjectRef, requests: &Requests) {
    loop {
        let get = Op::GetMany {
            max: 64,
            wait: Wait::Forever,
        };
        let Ok(Answer::Blobs(items)) = queue.op(get) else {
            return;
        };
        for item in items {
            requests.hear(&item);
        }
    }
}

/// Counts down the ready latch for a worker a host started (a worker that then dies, with its
/// host perhaps, is replaced) or refused (so the executor stops waiting and reports why).
fn count_down(client: &Client, ready: &str) {
    if let Ok(latch) = ObjectRef::open(client, ready, Init::Latch(0)) {
        let _ = latch.op(Op::CountDown);
    }
}

impl Drop for HostCompute {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
