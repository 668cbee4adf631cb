//! Shared test plumbing: state server backends (embedded, or a real `strato serve`
//! process on port 0), and child processes re-executed from the test binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use strato::Client;
use strato_proto::{Answer, Call, Init, Role};

/// A running state server the tests connect to.
pub trait Backend {
    /// Its address.
    fn address(&self) -> String;

    /// A new connection to it.
    fn client(&self) -> Client {
        Client::connect(&self.address()).expect("connect to the test server")
    }
}

/// How long a child process stays present to the Redis backend without renewing.
pub const CHILD_PRESENCE_MS: u64 = 1000;

/// A server on a thread of the test process.
pub struct Embedded(strato_server::ServerHandle);

impl Embedded {
    pub fn start() -> Embedded {
        Embedded::with(strato_server::Config::default())
    }

    pub fn with(config: strato_server::Config) -> Embedded {
        Embedded(strato_server::start(config).expect("start embedded server"))
    }

    /// A server on an abstract Unix socket: its clients share its arena (two tiers).
    #[allow(dead_code)]
    pub fn local() -> Embedded {
        Embedded::with(strato_server::Config {
            listen: vec![unique_abstract("embedded")],
            ..Default::default()
        })
    }
}

/// An abstract Unix socket address no other test uses.
#[allow(dead_code)]
pub fn unique_abstract(what: &str) -> strato_proto::Address {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    strato_proto::Address::Abstract(format!("strato-test-{what}-{}-{n}", std::process::id()))
}

/// One server listening on an abstract Unix socket and on TCP; its clients alternate
/// between them, so every object has participants in both tiers: local ones operating on
/// the shared arena, remote ones through the server.
#[allow(dead_code)]
pub struct MixedTiers {
    server: strato_server::ServerHandle,
    next: std::sync::atomic::AtomicUsize,
}

#[allow(dead_code)]
impl MixedTiers {
    pub fn start() -> MixedTiers {
        let config = strato_server::Config {
            listen: vec![
                unique_abstract("mixed"),
                strato_proto::Address::Tcp("127.0.0.1:0".into()),
            ],
            ..Default::default()
        };
        MixedTiers {
            server: strato_server::start(config).expect("start embedded server"),
            next: Default::default(),
        }
    }
}

impl Backend for MixedTiers {
    fn address(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let addresses = self.server.addresses();
        addresses[n % addresses.len()].to_string()
    }
}

impl Backend for Embedded {
    fn address(&self) -> String {
        self.0.address().to_string()
    }
}

/// A private `redis-server` holding the state (no strato server at all).
pub struct Redis(strato_redis::local::LocalRedis);

impl Redis {
    pub fn start() -> Redis {
        Redis(strato_redis::local::LocalRedis::start().expect("start redis-server"))
    }
}

impl Backend for Redis {
    fn address(&self) -> String {
        self.0.url()
    }
}

/// A private three-master Redis Cluster on loopback holding the state.
pub struct RedisCluster(strato_redis::local::LocalCluster);

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let cluster = strato_redis::local::LocalCluster::start(3).expect("start a Redis Cluster");
        RedisCluster(cluster)
    }
}

impl Backend for RedisCluster {
    fn address(&self) -> String {
        self.0.url()
    }
}

/// A `strato serve` process; killed on drop.
pub struct ServeProcess {
    child: Child,
    address: String,
}

impl ServeProcess {
    pub fn start() -> ServeProcess {
        ServeProcess::with_args(&[])
    }

    pub fn with_args(extra: &[&str]) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strato"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn strato serve");
        let stdout = child.stdout.take().expect("stdout");
        let line = first_line_with(stdout, "listening on ").expect("readiness line");
        let address = line.trim_start_matches("listening on ").trim().to_string();
        ServeProcess { child, address }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Backend for ServeProcess {
    fn address(&self) -> String {
        self.address.clone()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines until one starts with `prefix`; the rest of the stream is drained in the
/// background so the child never blocks on a full pipe.
pub fn first_line_with(stdout: ChildStdout, prefix: &str) -> Option<String> {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.starts_with(prefix) {
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return Some(line);
        }
    }
}

/// Opens (creating from `init` if absent) the object `name` with a reference in `role`;
/// panics if the backend refuses.
pub fn open(client: &Client, name: &str, init: Init, role: Role) {
    let call = Call::Open {
        name: name.into(),
        init,
        persistent: false,
        role,
    };
    client.call(call).expect("open");
}

/// Whether an object of that name exists on the server.
pub fn exists(client: &Client, name: &str) -> bool {
    match client.call(Call::Exists { name: name.into() }) {
        Ok(Answer::Bool(b)) => b,
        other => panic!("exists: {other:?}"),
    }
}

/// Objects alive on the server.
pub fn object_count(client: &Client) -> u64 {
    match client.call(Call::Stats) {
        Ok(Answer::Stats(stats)) => stats.objects,
        other => panic!("stats: {other:?}"),
    }
}

/// Calls parked on the server by the test (not the one a `strato serve` keeps parked on its
/// queue of requests for objects hosts).
pub fn parked_count(client: &Client) -> u64 {
    let internal = Call::Exists {
        name: strato_worker::objects::OBJECTS_QUEUE.into(),
    };
    let internal = u64::from(client.call(internal).ok() == Some(Answer::Bool(true)));
    match client.call(Call::Stats) {
        Ok(Answer::Stats(stats)) => stats.parked.saturating_sub(internal),
        other => panic!("stats: {other:?}"),
    }
}

/// Waits (bounded) until `condition` holds; panics with `what` if it never does.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A child process running `role` of this test binary (see each test file's `child`
/// test), sharing the state server at `address`.
pub struct ChildProcess {
    pub child: Child,
    pub stdout: Option<ChildStdout>,
}

impl ChildProcess {
    pub fn spawn(role: &str, address: &str, args: &[&str]) -> ChildProcess {
        ChildProcess::spawn_with(role, address, args, &[])
    }

    /// Like [`ChildProcess::spawn`], with extra environment variables.
    pub fn spawn_with(
        role: &str,
        address: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ChildProcess {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .envs(env.iter().copied())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env("STRATO_CHILD_ROLE", role)
            .env("STRATO_CHILD_ARGS", args.join(" "))
            .env("STRATO_STATE", address)
            .env("STRATO_REDIS_PRESENCE_MS", CHILD_PRESENCE_MS.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take();
        ChildProcess { child, stdout }
    }

    /// Waits for the child to print `READY`.
    pub fn wait_ready(&mut self) {
        let stdout = self.stdout.take().expect("stdout");
        first_line_with(stdout, "READY").expect("child never got ready");
    }

    /// Waits for the child and asserts it succeeded.
    pub fn join(mut self) {
        let status = self.child.wait().expect("wait child");
        assert!(status.success(), "child failed: {status}");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The role and arguments a child was started with, if this process is a child.
pub fn child_role() -> Option<(String, Vec<String>)> {
    let role = std::env::var("STRATO_CHILD_ROLE").ok()?;
    let args = std::env::var("STRATO_CHILD_ARGS").unwrap_or_default();
    Some((role, args.split_whitespace().map(String::from).collect()))
}

/// Tells the parent this child is ready. The line starts afresh: the test harness has
/// already written `test child ... ` without ending its line.
pub fn say_ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nREADY");
    let _ = out.flush();
}
