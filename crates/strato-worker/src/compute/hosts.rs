//! The `hosts` compute backend: workers on `strato worker --connect` daemons, asked for
//! through the hosts board of the state (see [`crate::hosts`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, TaskOutcome, TaskReport, Wait};

use super::{Compute, ComputeError, WorkerSpec};
use crate::board::ObjectRef;
use crate::exe::{self, ExeRef};
use crate::hosts::{daemon, HostReport, HostRequest, HOSTS_BOARD, HOSTS_PROTOCOL};

/// The `hosts` backend: asks the connected host daemons for workers.
///
/// Creating one publishes the driver's executable on the state (once per build); each
/// [`grow_to`](Compute::grow_to) puts one request on the hosts board, which the daemons serve
/// in turn with other drivers' requests.
pub struct HostCompute {
    client: Client,
    spec: WorkerSpec,
    exe: ExeRef,
    board: ObjectRef,
    _replies: ObjectRef,
    slots: Mutex<usize>,
    reports: Arc<Reports>,
    listener: Mutex<Option<JoinHandle<()>>>,
    _published: ObjectRef,
}

/// What the hosts answered so far.
#[derive(Default)]
struct Reports {
    /// The latch of the workers being started now.
    ready: Mutex<String>,
    refusals: Mutex<Vec<String>>,
    started: Mutex<Vec<(String, u32)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostCompute {
    /// Publishes this executable and opens the hosts board; no workers yet.
    pub fn new(client: &Client, spec: WorkerSpec) -> Result<HostCompute, ComputeError> {
        let exe = ExeRef::current()?;
        let published = exe::publish(client, &exe)?;
        let init = Init::TaskBoard {
            binary: HOSTS_PROTOCOL.into(),
        };
        let board = ObjectRef::open(client, HOSTS_BOARD, init)?;
        let replies_name = format!("{}.hosts", spec.board);
        let replies = ObjectRef::open(client, &replies_name, Init::Queue { bound: None })?;
        let reports = Arc::new(Reports::default());
        let listener = {
            let (client, reports) = (client.clone(), reports.clone());
            let queue = ObjectRef::open(&client, &replies_name, Init::Queue { bound: None })?;
            std::thread::Builder::new()
                .name("strato-hosts".into())
                .spawn(move || listen(&client, &queue, &reports))?
        };
        Ok(HostCompute {
            client: client.clone(),
            spec,
            exe,
            board,
            _replies: replies,
            slots: Mutex::new(0),
            reports,
            listener: Mutex::new(Some(listener)),
            _published: published,
        })
    }

    /// The hosts that started workers so far, with each worker's index.
    pub fn started(&self) -> Vec<(String, u32)> {
        lock(&self.reports.started).clone()
    }

    fn connected_hosts(&self) -> Result<u64, ComputeError> {
        match self.board.op(Op::TaskCounts)? {
            Answer::TaskCounts { workers, .. } => Ok(workers),
            other => Err(Error::Protocol(format!("{other:?}")).into()),
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
            let state = self.client.address().to_string();
            return Err(ComputeError::NoHosts { state });
        }
        *lock(&self.reports.ready) = ready.to_string();
        let request = HostRequest {
            board: self.spec.board.clone(),
            ready: ready.to_string(),
            session: self.spec.session.clone(),
            exe: self.exe.clone(),
            reply_to: format!("{}.hosts", self.spec.board),
            want: (count - *slots) as u32,
            first_index: *slots as u32,
        };
        daemon::submit(&self.client, &self.board, &request)?;
        let added = count - *slots;
        *slots = count;
        Ok(added)
    }

    fn pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn check(&self) -> Result<(), ComputeError> {
        let refusals = lock(&self.reports.refusals);
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

    fn begin_stop(&self) {}

    /// The workers exit on their own (the board's shutdown event, the driver's session); this
    /// stops listening to the hosts.
    fn stop(&self, _grace: Duration) {
        let _ = self.client.call(strato_proto::Call::Delete {
            name: format!("{}.hosts", self.spec.board),
        });
        if let Some(listener) = lock(&self.listener).take() {
            let _ = listener.join();
        }
    }
}

/// Receives the hosts' reports until the reply queue is deleted.
fn listen(client: &Client, queue: &ObjectRef, reports: &Reports) {
    loop {
        let get = Op::GetMany {
            max: 64,
            wait: Wait::Forever,
        };
        let Ok(Answer::Blobs(items)) = queue.op(get) else {
            return;
        };
        for item in items {
            if let Some(refusal) = refusal(&item, reports) {
                lock(&reports.refusals).push(refusal);
            }
            count_down(client, &lock(&reports.ready));
        }
    }
}

/// Records a report; the reason if it is a refusal.
fn refusal(item: &[u8], reports: &Reports) -> Option<String> {
    let report: TaskReport = postcard::from_bytes(item).ok()?;
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
            lock(&reports.started).push((host, index));
            None
        }
        HostReport::Refused { host, reason } => Some(format!("host {host}: {reason}")),
    }
}

/// Counts down the ready latch for a worker a host started (a worker that then dies, with its
/// host perhaps, is the board's business: its tasks go back to the others) or refused (so the
/// executor stops waiting and reports why).
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
