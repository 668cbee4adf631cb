//! The server's side: [`HostedObjects`], the factory `strato serve` makes user-defined objects
//! with, and the loop that starts an objects host per binary when a driver asks.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, Op, Wait};
use strato_server::{CustomFactory, CustomObject, Invoked};

use super::host::OBJECTS_ROLE;
use super::pipe::{receive, send, FromHost, ToHost};
use super::{ObjectsRequest, OBJECTS_QUEUE};
use crate::board::ObjectRef;
use crate::exe::{die_with_parent, ExeCache, Obtained};
use crate::worker::ROLE_ENV;

/// How long a new objects host may take to say which binary it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle objects hosts are looked for.
const REAP_PERIOD: Duration = Duration::from_secs(30);
/// How long an objects host with no object lives on.
const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// The user-defined objects of a `strato serve`: each lives in an objects host, a process of
/// the binary that defines its type, fetched by hash and started on a driver's request
/// ([`HostedObjects::serve_requests`]). The server's objects are proxies that forward each
/// method call over a pipe.
///
/// ```
/// use strato_server::CustomFactory;
/// let hosted = strato_worker::objects::HostedObjects::default();
/// // No driver asked for the binary `b1`: its types cannot be made yet.
/// let error = hosted.create("Tally", "b1", 0, &[]).unwrap_err();
/// assert!(error.contains("b1"), "{error}");
/// ```
#[derive(Debug, Default)]
pub struct HostedObjects {
    hosts: Mutex<HashMap<String, Arc<ObjectsHost>>>,
    next_id: AtomicU64,
}

impl HostedObjects {
    fn hosts(&self) -> MutexGuard<'_, HashMap<String, Arc<ObjectsHost>>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves drivers' requests for objects hosts on a thread of its own, through `client`
    /// (a connection to this very server), with executables cached in `cache`.
    pub fn serve_requests(
        self: Arc<Self>,
        client: Client,
        cache: ExeCache,
    ) -> Result<std::thread::JoinHandle<()>, Error> {
        let queue = ObjectRef::open(&client, OBJECTS_QUEUE, Init::Queue { bound: None })?;
        let reaper = Arc::downgrade(&self);
        std::thread::Builder::new()
            .name("strato-objects-reaper".into())
            .spawn(move || reap_loop(&reaper))
            .map_err(|e| Error::Codec(e.to_string()))?;
        let thread = std::thread::Builder::new()
            .name("strato-objects".into())
            .spawn(move || self.request_loop(&queue, &cache))
            .map_err(|e| Error::Codec(e.to_string()))?;
        Ok(thread)
    }

    fn request_loop(&self, queue: &ObjectRef, cache: &ExeCache) {
        loop {
            match queue.op(Op::Get(Wait::Forever)) {
                Ok(Answer::Blob(bytes)) => self.answer(queue.client(), cache, &bytes),
                Ok(other) => tracing::warn!("unexpected answer from the request queue: {other:?}"),
                Err(e) => {
                    tracing::info!("no longer serving objects host requests: {e}");
                    return;
                }
            }
        }
    }

    fn answer(&self, client: &Client, cache: &ExeCache, bytes: &[u8]) {
        let Ok(request) = postcard::from_bytes::<ObjectsRequest>(bytes) else {
            tracing::warn!("a malformed request for an objects host was dropped");
            return;
        };
        let outcome = self.ensure(client, cache, &request);
        if let Err(reason) = &outcome {
            tracing::warn!(binary = request.binary, "cannot host its objects: {reason}");
        }
        let reply = postcard::to_stdvec(&outcome).unwrap_or_default();
        let sent = ObjectRef::open(client, &request.reply, Init::Future)
            .and_then(|future| future.op(Op::FutureSet(Blob::from(reply))));
        if let Err(e) = sent {
            tracing::warn!("cannot answer a request for an objects host: {e}");
        }
    }

    /// Makes sure an objects host of the request's binary runs.
    fn ensure(
        &self,
        client: &Client,
        cache: &ExeCache,
        request: &ObjectsRequest,
    ) -> Result<(), String> {
        if self.hosts().get(&request.binary).is_some_and(|h| h.alive()) {
            return Ok(());
        }
        if let Some(reason) = request.exe.unrunnable_here() {
            return Err(reason.replace("this host", "the state server"));
        }
        let (path, obtained) = cache
            .obtain(client, &request.exe)
            .map_err(|e| e.to_string())?;
        if obtained == Obtained::Replaced {
            tracing::warn!(
                exe = request.exe.hash,
                "a damaged cached executable was replaced"
            );
        }
        let host = ObjectsHost::start(&path, &request.binary)?;
        tracing::info!(binary = request.binary, "started an objects host");
        self.hosts().insert(request.binary.clone(), Arc::new(host));
        Ok(())
    }

    /// Stops the objects hosts that have held no object for a while.
    fn reap_idle(&self) {
        self.hosts().retain(|binary, host| {
            let idle = host.idle_for() > IDLE_LIMIT || !host.alive();
            if idle {
                tracing::info!(binary, "stopping an idle objects host");
            }
            !idle
        });
    }
}

/// Stops idle objects hosts now and then, for as long as their factory lives.
fn reap_loop(hosted: &std::sync::Weak<HostedObjects>) {
    loop {
        std::thread::sleep(REAP_PERIOD);
        match hosted.upgrade() {
            Some(hosted) => hosted.reap_idle(),
            None => return,
        }
    }
}

impl CustomFactory for HostedObjects {
    fn create(
        &self,
        type_name: &str,
        binary: &str,
        factory: i64,
        state: &[u8],
    ) -> Result<Box<dyn CustomObject>, String> {
        let host = self.hosts().get(binary).cloned().ok_or_else(|| {
            format!(
                "no objects host runs binary {binary}, which defines `{type_name}` (its \
                 driver asks for one first)"
            )
        })?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = ToHost::Create {
            id,
            type_name: type_name.to_string(),
            binary: binary.to_string(),
            factory,
            state: state.to_vec(),
        };
        match host.call(&request)? {
            FromHost::Created => {
                host.live.fetch_add(1, Ordering::Relaxed);
                Ok(Box::new(Proxy {
                    host,
                    id,
                    type_name: type_name.to_string(),
                }))
            }
            FromHost::Failed(message) => Err(message),
            other => Err(format!("the objects host answered {other:?} to a create")),
        }
    }
}

/// A running process of the user's binary holding its objects.
#[derive(Debug)]
struct ObjectsHost {
    binary: String,
    pipe: Mutex<Option<Pipe>>,
    /// Objects it holds.
    live: AtomicUsize,
    /// When it last held none.
    emptied: Mutex<Instant>,
}

#[derive(Debug)]
struct Pipe {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ObjectsHost {
    /// Starts `path` in the objects role and checks that it is `binary`.
    fn start(path: &std::path::Path, binary: &str) -> Result<ObjectsHost, String> {
        let mut command = Command::new(path);
        command
            .env(ROLE_ENV, OBJECTS_ROLE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start an objects host: {e}"))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("an objects host has no pipes".into());
        };
        let (sender, hello) = mpsc::channel();
        std::thread::spawn(move || {
            let mut output = BufReader::new(output);
            let said = receive::<FromHost>(&mut output);
            let _ = sender.send((said, output));
        });
        let (said, output) = match hello.recv_timeout(HELLO_TIMEOUT) {
            Ok(said) => said,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the executable of binary {binary} did not start as an objects host within \
                     {} s (was it built with strato?)",
                    HELLO_TIMEOUT.as_secs()
                ));
            }
        };
        let pipe = Pipe {
            child,
            input: BufWriter::new(input),
            output,
        };
        match said {
            Ok(Some(FromHost::Hello { binary: actual })) if actual == binary => {}
            Ok(Some(FromHost::Hello { binary: actual })) => {
                return Err(format!(
                    "the executable fetched is binary {actual}, not {binary}"
                ))
            }
            other => return Err(format!("an objects host did not start: {other:?}")),
        }
        Ok(ObjectsHost {
            binary: binary.to_string(),
            pipe: Mutex::new(Some(pipe)),
            live: AtomicUsize::new(0),
            emptied: Mutex::new(Instant::now()),
        })
    }

    fn pipe(&self) -> MutexGuard<'_, Option<Pipe>> {
        self.pipe.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self) -> bool {
        self.pipe().is_some()
    }

    fn idle_for(&self) -> Duration {
        if self.live.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        self.emptied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Sends `request` and waits for its answer; a broken pipe ends the host for good.
    fn call(&self, request: &ToHost) -> Result<FromHost, String> {
        let mut guard = self.pipe();
        let Some(pipe) = guard.as_mut() else {
            return Err(self.gone());
        };
        let answer = send(&mut pipe.input, request).and_then(|()| receive(&mut pipe.output));
        match answer {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) | Err(_) => {
                *guard = None;
                Err(self.gone())
            }
        }
    }

    /// Sends a request that has no answer.
    fn cast(&self, request: &ToHost) {
        if let Some(pipe) = self.pipe().as_mut() {
            let _ = send(&mut pipe.input, request);
        }
    }

    fn gone(&self) -> String {
        format!(
            "the process hosting the user-defined objects of binary {} has died; its objects \
             are lost",
            self.binary
        )
    }
}

/// The server's stand-in for an object living in an objects host.
#[derive(Debug)]
struct Proxy {
    host: Arc<ObjectsHost>,
    id: u64,
    type_name: String,
}

impl CustomObject for Proxy {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn invoke(&mut self, method: &str, args: &[u8]) -> Invoked {
        let request = ToHost::Invoke {
            id: self.id,
            method: method.to_string(),
            args: args.to_vec(),
        };
        match self.host.call(&request) {
            Ok(FromHost::Bytes(bytes)) => Invoked::Done(bytes),
            Ok(FromHost::Blocked) => Invoked::Blocked,
            Ok(FromHost::Failed(message)) | Err(message) => Invoked::Failed(message),
            Ok(other) => Invoked::Failed(format!("the objects host answered {other:?}")),
        }
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        match self.host.call(&ToHost::Snapshot { id: self.id })? {
            FromHost::Bytes(bytes) => Ok(bytes),
            FromHost::Failed(message) => Err(message),
            other => Err(format!("the objects host answered {other:?}")),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.host.cast(&ToHost::Drop { id: self.id });
        if self.host.live.fetch_sub(1, Ordering::Relaxed) == 1 {
            *self.host.emptied.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
}
