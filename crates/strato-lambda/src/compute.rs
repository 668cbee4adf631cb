//! The driver's side: the `lambda` kind of the compute seam.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_lambda::error::SdkError;
use strato_client::Client;
use strato_config::Settings;
use strato_proto::{Answer, Call, Init, Op, Role};
use strato_worker::exe::ExeRef;
use strato_worker::{Compute, ComputeError, WorkerSpec};

use crate::{Invocation, Ran, Stopped};

/// How long an invocation's worker waits for a task before the invocation ends.
const IDLE: Duration = Duration::from_secs(2);
/// The function timeout assumed when none is configured (Lambda's default is 3 s; strato's
/// runner wants minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);
/// Failed invocations in a row after which a slot gives up.
const MAX_FAILURES: u32 = 3;
/// Transient errors in a row (about 23 s of backoff) after which one counts as a failure.
const MAX_TRANSIENT: u32 = 8;
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why the `lambda` backend cannot start.
///
/// ```
/// let error = strato_lambda::LambdaError::Setting("no function".into());
/// assert!(error.to_string().contains("no function"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// A setting is missing or unusable.
    #[error("{0}")]
    Setting(String),
    /// The executable could not be put in storage.
    #[error("cannot store the executable for the function: {0}")]
    Storage(String),
}

fn backend(reason: impl std::fmt::Display) -> ComputeError {
    ComputeError::Backend {
        kind: "lambda",
        reason: reason.to_string(),
    }
}

/// Workers as invocations of the runner function: at most one in flight per slot.
pub struct LambdaCompute {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    slots: Mutex<usize>,
}

/// What the invocation tasks share.
struct Shared {
    lambda: aws_sdk_lambda::Client,
    function: String,
    template: Invocation,
    state: Client,
    ready: Mutex<String>,
    next_worker: AtomicU32,
    stopping: AtomicBool,
    work: tokio::sync::Notify,
    failures: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl LambdaCompute {
    /// Stores this executable where the function fetches it (once per build) and prepares
    /// the Lambda client; no invocation yet.
    pub fn new(
        client: &Client,
        spec: WorkerSpec,
        settings: &Settings,
    ) -> Result<LambdaCompute, ComputeError> {
        let function = settings.lambda.function.clone().ok_or_else(|| {
            backend("no function to invoke: set `[lambda] function` or STRATO_LAMBDA_FUNCTION")
        })?;
        let state = function_state(settings, &spec)?;
        let exe = ExeRef::current()?;
        let exe_url = store_executable(settings, &exe).map_err(backend)?;
        let timeout = settings
            .lambda
            .timeout
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let ca_pem = match &settings.state.ca {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| backend(format!("cannot read the CA file {path}: {e}")))?,
            ),
            None => None,
        };
        let template = Invocation {
            state,
            token: settings.state.token.clone(),
            ca_pem,
            plaintext: std::env::var("STRATO_PLAINTEXT").is_ok_and(|v| v == "1"),
            board: spec.board.clone(),
            ready: spec.ready.clone(),
            session: spec.session.clone(),
            worker: String::new(),
            exe,
            exe_url,
            // Kept back from the function's timeout: the runner's own start and answer.
            timeout_ms: timeout.saturating_sub(Duration::from_secs(2)).as_millis() as u64,
            idle_ms: IDLE.as_millis() as u64,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("strato-lambda")
            .enable_all()
            .build()?;
        let sdk = runtime.block_on(crate::aws::sdk_config(settings.lambda.region.clone()));
        // strato retries itself: throttling with backoff, a failed function up to a limit.
        let lambda = crate::aws::lambda_client(
            &sdk,
            settings.lambda.endpoint_url.as_deref(),
            timeout + Duration::from_secs(30),
            false,
        );
        Ok(LambdaCompute {
            shared: Arc::new(Shared {
                lambda,
                function,
                template,
                state: client.clone(),
                ready: Mutex::new(spec.ready),
                next_worker: AtomicU32::new(0),
                stopping: AtomicBool::new(false),
                work: tokio::sync::Notify::new(),
                failures: Mutex::default(),
            }),
            runtime: Some(runtime),
            slots: Mutex::new(0),
        })
    }
}

/// The state's address as the function reaches it: not an embedded server.
fn function_state(settings: &Settings, spec: &WorkerSpec) -> Result<String, ComputeError> {
    let state = settings.lambda.state.clone().unwrap_or(spec.state.clone());
    match state.parse::<strato_proto::Address>() {
        Ok(strato_proto::Address::Tcp(_) | strato_proto::Address::Tls(_)) => Ok(state),
        _ => Err(backend(format!(
            "the function cannot reach the state at {state}: run `strato serve` (or Redis) and \
             set STRATO_STATE to an address the function reaches (or `[lambda] state`)"
        ))),
    }
}

/// Puts the executable in storage under its hash (unless there already); the URL the
/// function fetches it from.
fn store_executable(settings: &Settings, exe: &ExeRef) -> Result<String, LambdaError> {
    let url = settings.storage.url.as_deref().ok_or_else(|| {
        LambdaError::Setting(
            "the function fetches the program from object storage: set `[storage] url` or \
             STRATO_STORAGE (s3://bucket/prefix)"
                .into(),
        )
    })?;
    let url = format!("{}/strato-exe", url.trim_end_matches('/'));
    let storage =
        strato_storage::Storage::from_url(&url).map_err(|e| LambdaError::Storage(e.to_string()))?;
    match storage.head(&exe.hash) {
        Ok(info) if info.size == exe.len => return Ok(url),
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(LambdaError::Storage(e.to_string())),
    }
    let bytes = std::fs::read(strato_worker::func::current_exe_path())
        .map_err(|e| LambdaError::Storage(e.to_string()))?;
    storage
        .put(&exe.hash, bytes)
        .map_err(|e| LambdaError::Storage(e.to_string()))?;
    Ok(url)
}

/// How one invocation ended.
enum Invoked {
    Ran(Ran),
    /// `429 TooManyRequestsException`: Lambda's concurrency is used up for now.
    Throttled,
    /// The service or the way to it failed, not the function: a 5xx, a connection that
    /// failed or broke, a timeout. Tried again; an invocation may then run twice, which costs
    /// a worker for a while and nothing else (workers pull tasks from the board).
    Transient(String),
    /// The function failed, or the service refused the request for good.
    Failed(String),
}

impl Shared {
    fn invocation(&self) -> Invocation {
        let index = self.next_worker.fetch_add(1, Ordering::Relaxed);
        Invocation {
            worker: format!("lambda/{index}"),
            ready: lock(&self.ready).clone(),
            ..self.template.clone()
        }
    }

    async fn invoke(&self, invocation: &Invocation) -> Invoked {
        let payload = match serde_json::to_vec(invocation) {
            Ok(payload) => payload,
            Err(e) => return Invoked::Failed(e.to_string()),
        };
        let sent = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await;
        match sent {
            Ok(output) => {
                let body = output
                    .payload()
                    .map(|p| p.as_ref().to_vec())
                    .unwrap_or_default();
                if let Some(kind) = output.function_error() {
                    return Invoked::Failed(format!("{kind}: {}", error_message(&body)));
                }
                match serde_json::from_slice::<Ran>(&body) {
                    Ok(ran) => Invoked::Ran(ran),
                    Err(e) => Invoked::Failed(format!("the runner answered something else: {e}")),
                }
            }
            Err(SdkError::ServiceError(e)) if e.err().is_too_many_requests_exception() => {
                Invoked::Throttled
            }
            Err(SdkError::ServiceError(e)) => {
                let message = e.err().meta().message().map(str::to_string);
                let message = message.unwrap_or_else(|| format!("{:?}", e.err()));
                let body = e.raw().body().bytes().unwrap_or_default();
                // An emulator answers a function's error with a 500 carrying the runtime's
                // `errorType` (Lambda answers 200 and `X-Amz-Function-Error`): the function
                // failed, not the service.
                let service_trouble =
                    e.raw().status().is_server_error() && !is_function_error(body);
                if is_transient(e.err()) || service_trouble {
                    Invoked::Transient(message)
                } else {
                    Invoked::Failed(message)
                }
            }
            Err(e @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) => {
                Invoked::Transient(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())
            }
            Err(e @ SdkError::ResponseError(_)) => {
                Invoked::Transient(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())
            }
            Err(e) => Invoked::Failed(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string()),
        }
    }

    /// Tasks waiting on the board (so an idle slot invokes again).
    fn pending(&self) -> bool {
        let call = Call::Op {
            name: self.template.board.clone(),
            op: Op::TaskCounts,
        };
        matches!(self.state.call(call), Ok(Answer::TaskCounts { pending, .. }) if pending > 0)
    }

    /// Records a failed invocation; the first failure of a slot counts down the ready latch,
    /// so an executor waiting for its workers stops waiting and reports it.
    fn failed(&self, reason: String, first: bool) {
        tracing::warn!(function = self.function, "an invocation failed: {reason}");
        lock(&self.failures).push(reason);
        if first {
            let latch = lock(&self.ready).clone();
            let open = Call::Open {
                name: latch.clone(),
                init: Init::Latch(0),
                persistent: false,
                role: Role::Handle,
            };
            if self.state.call(open).is_ok() {
                let _ = self.state.call(Call::Op {
                    name: latch.clone(),
                    op: Op::CountDown,
                });
                let _ = self.state.call(Call::Release {
                    name: latch,
                    role: Role::Handle,
                });
            }
        }
    }
}

/// Lambda's errors that say "not now" rather than "no": its own trouble, or a function
/// still being created or updated.
fn is_transient(error: &aws_sdk_lambda::operation::invoke::InvokeError) -> bool {
    error.is_service_exception()
        || error.is_resource_not_ready_exception()
        || error.is_ec2_throttled_exception()
        || error.is_resource_conflict_exception()
}

/// Whether a body is a function's error as its runtime reported it.
fn is_function_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some())
}

/// The `errorMessage` of a function error's body, or the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// One slot: invokes, and invokes again while the executor runs and has work.
async fn slot(shared: Arc<Shared>) {
    let (mut failures, mut transient) = (0, 0);
    let mut backoff = Duration::from_millis(100);
    while !shared.stopping.load(Ordering::Relaxed) {
        let invocation = shared.invocation();
        match shared.invoke(&invocation).await {
            Invoked::Ran(ran) => {
                (failures, transient) = (0, 0);
                backoff = Duration::from_millis(100);
                tracing::debug!(worker = invocation.worker, ?ran, "an invocation ended");
                match ran.stopped {
                    Stopped::Shutdown => return,
                    Stopped::Deadline => continue,
                    Stopped::Idle => wait_for_work(&shared).await,
                }
            }
            Invoked::Throttled => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Invoked::Transient(reason) if transient < MAX_TRANSIENT => {
                transient += 1;
                tracing::debug!(function = shared.function, "invoking again: {reason}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Invoked::Transient(reason) | Invoked::Failed(reason) => {
                transient = 0;
                failures += 1;
                shared.failed(reason, failures == 1);
                if failures >= MAX_FAILURES {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Waits until tasks are queued (now, or by a later submission) or the executor stops.
async fn wait_for_work(shared: &Arc<Shared>) {
    let notified = shared.work.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let checker = shared.clone();
    let pending = tokio::task::spawn_blocking(move || checker.pending())
        .await
        .unwrap_or(false);
    if !pending && !shared.stopping.load(Ordering::Relaxed) {
        notified.await;
    }
}

impl Compute for LambdaCompute {
    fn kind(&self) -> &'static str {
        "lambda"
    }

    fn slots(&self) -> usize {
        *lock(&self.slots)
    }

    fn grow_to(&self, count: usize, ready: &str) -> Result<usize, ComputeError> {
        let mut slots = lock(&self.slots);
        if count <= *slots {
            return Ok(0);
        }
        *lock(&self.shared.ready) = ready.to_string();
        let added = count - *slots;
        let runtime = self.runtime.as_ref().ok_or_else(|| backend("stopped"))?;
        for _ in 0..added {
            runtime.spawn(slot(self.shared.clone()));
        }
        *slots = count;
        Ok(added)
    }

    fn pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn check(&self) -> Result<(), ComputeError> {
        match lock(&self.shared.failures).first() {
            Some(reason) => Err(backend(format!(
                "the runner function `{}` failed: {reason}",
                self.shared.function
            ))),
            None => Ok(()),
        }
    }

    fn on_submit(&self) {
        self.shared.work.notify_waiters();
    }

    fn not_ready_hint(&self) -> String {
        format!(
            "the invocations of `{}` did not start their workers (is the function deployed, \
             and does it reach the state server?)",
            self.shared.function
        )
    }

    fn begin_stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.work.notify_waiters();
    }

    /// Invocations end on their own once their workers exit; none is waited for.
    fn stop(&self, _grace: Duration) {
        self.begin_stop();
    }
}

impl Drop for LambdaCompute {
    fn drop(&mut self) {
        self.begin_stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtimes_error_body_is_the_functions_error_and_anything_else_is_not() {
        let runtime = br#"{"errorType":"&alloc::string::String","errorMessage":"no"}"#;
        assert!(is_function_error(runtime));
        assert_eq!(error_message(runtime), "no");
        assert!(!is_function_error(
            br#"{"Type":"Service","message":"try later"}"#
        ));
        assert!(!is_function_error(b"<html>502 Bad Gateway</html>"));
    }
}
