//! Real processes sharing one `strato serve` (and, in the `redis_*` tests, one Redis):
//! children re-executed from this test binary (see [`child`]) count on one atomic, receive
//! serialized handles and use them, and die (SIGKILL) while holding a mutex or parked in a
//! blocking call. The server must release
//! (and poison), unpark, break, or collect accordingly; the TTL backstop collects a handle
//! lent but never received, and persistent objects outlive their handles.
//!
//! Every child is killed on drop, so none outlives its test.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use strato::sync::atomic::AtomicU64;
use strato::sync::{Barrier, BarrierError, Mutex, Queue};
use strato::ObjectName;
use strato_proto::Call;

use common::{
    eventually, exists, parked_count, Backend, ChildProcess, Redis, RedisCluster, ServeProcess,
};

/// The entry point of child processes: runs the role the parent asked for; does nothing
/// in a normal test run.
#[test]
fn child() {
    let Some((role, args)) = common::child_role() else {
        return;
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match (role.as_str(), args.as_slice()) {
        ("count", [name, times]) => roles::count(name, times.parse().unwrap()),
        ("echo", [queues]) => roles::echo(queues),
        ("mailbox", [name]) => roles::mailbox(name),
        ("hold", [name]) => roles::hold(name),
        ("get", [name]) => roles::get(name),
        ("get_bytes", [name]) => roles::get_bytes(name),
        ("barrier", [name]) => roles::barrier(name),
        ("adopt", [handle, release]) => roles::adopt(handle, release),
        ("persist", [name]) => roles::persist(name),
        other => panic!("unknown child role {other:?}"),
    }
}

/// What the children do; each attaches to the parent's server through `STRATO_STATE`.
mod roles {
    use super::*;

    fn client() -> strato::Client {
        strato::client().expect("the state server in STRATO_STATE")
    }

    fn block_forever() -> ! {
        loop {
            std::thread::park();
        }
    }

    pub fn count(name: &str, times: u64) {
        let counter = AtomicU64::open(&client(), name, 0).unwrap();
        for _ in 0..times {
            counter.fetch_add(1, SeqCst);
        }
    }

    /// Takes the parent's message from the inbox and echoes it, with the queues' names.
    pub fn echo(queues: &str) {
        let (inbox, outbox): (Queue<String>, Queue<String>) =
            postcard::from_bytes(&unhex(queues)).unwrap();
        let message = inbox.get();
        outbox.put(format!(
            "{message} via {} and {}",
            inbox.name(),
            outbox.name()
        ));
    }

    /// Receives a mutex handle through a named queue and records itself in it.
    pub fn mailbox(name: &str) {
        let mailbox: Queue<Mutex<Vec<String>>> = Queue::open(&client(), name, None).unwrap();
        let shared = mailbox.get();
        shared
            .lock()
            .unwrap()
            .push(format!("child {}", std::process::id()));
    }

    pub fn hold(name: &str) {
        let m = Mutex::open(&client(), name, 0u32).unwrap();
        let mut guard = m.lock().unwrap();
        *guard = 99;
        common::say_ready();
        block_forever();
    }

    pub fn get(name: &str) {
        let q: Queue<u8> = Queue::open(&client(), name, None).unwrap();
        common::say_ready();
        q.get();
        panic!("the get was meant to wait until the child is killed");
    }

    pub fn get_bytes(name: &str) {
        let q: Queue<strato::Bytes> = Queue::open(&client(), name, None).unwrap();
        common::say_ready();
        q.get();
        panic!("the get was meant to wait until the child is killed");
    }

    pub fn barrier(name: &str) {
        let b = Barrier::open(&client(), name, 3).unwrap();
        common::say_ready();
        b.wait();
        panic!("the barrier was meant to wait until the child is killed");
    }

    /// Receives a lent counter, uses it, and keeps it until told to go.
    pub fn adopt(handle: &str, release: &str) {
        let counter: AtomicU64 = postcard::from_bytes(&unhex(handle)).unwrap();
        counter.fetch_add(1, SeqCst);
        let go: Queue<()> = Queue::open(&client(), release, None).unwrap();
        common::say_ready();
        go.get();
    }

    pub fn persist(name: &str) {
        let counter = AtomicU64::open(&client(), ObjectName::persistent(name), 5).unwrap();
        counter.fetch_add(1, SeqCst);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Two tests running `$body`: `$name` on a `strato serve` process, `$redis` on Redis.
macro_rules! on_both {
    ($name:ident, $redis:ident, $body:ident) => {
        #[test]
        fn $name() {
            $body(&ServeProcess::start());
        }

        #[test]
        fn $redis() {
            $body(&Redis::start());
        }
    };
}

/// Three tests running `$body`: on `strato serve`, on Redis, and on a Redis Cluster.
macro_rules! on_all {
    ($name:ident, $redis:ident, $cluster:ident, $body:ident) => {
        on_both!($name, $redis, $body);

        #[test]
        fn $cluster() {
            $body(&RedisCluster::start());
        }
    };
}

/// A child process of `role` on `server`.
fn spawn(server: &dyn Backend, role: &str, args: &[&str]) -> ChildProcess {
    ChildProcess::spawn(role, &server.address(), args)
}

/// Waits until exactly `n` calls are parked on `server`.
fn parked(server: &dyn Backend, n: u64, what: &str) {
    let observer = server.client();
    eventually(what, || parked_count(&observer) == n);
}

/// Runs `f` on a thread; the receiver gets its result.
fn background<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::sync::mpsc::Receiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(tx.send(f())));
    rx
}

fn finished<T>(rx: &std::sync::mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what} never finished: {e}"))
}

/// Lends a new object and drops it, then waits until the TTL collects it: once this
/// returns, the TTL has passed for everything last used before the call.
fn wait_out_the_ttl(server: &ServeProcess) {
    let client = server.client();
    let probe = AtomicU64::open(&client, "ttl-probe", 0).unwrap();
    let lent = postcard::to_stdvec(&probe).unwrap();
    drop(probe);
    eventually("the TTL collects the probe", || {
        !exists(&client, "ttl-probe")
    });
    drop(lent);
}

on_both!(
    four_processes_count_to_two_thousand,
    redis_four_processes_count_to_two_thousand,
    four_processes_count_to_two_thousand_on
);

fn four_processes_count_to_two_thousand_on(server: &dyn Backend) {
    let counter = AtomicU64::open(&server.client(), "hits", 0).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| spawn(server, "count", &["hits", "500"]))
        .collect();
    children.into_iter().for_each(ChildProcess::join);
    assert_eq!(counter.load(SeqCst), 2000);
}

on_both!(
    a_handle_passed_as_an_argument_is_the_same_object,
    redis_a_handle_passed_as_an_argument_is_the_same_object,
    a_handle_passed_as_an_argument_is_the_same_object_on
);

fn a_handle_passed_as_an_argument_is_the_same_object_on(server: &dyn Backend) {
    let client = server.client();
    let inbox: Queue<String> = Queue::open(&client, "inbox", None).unwrap();
    let outbox: Queue<String> = Queue::open(&client, "outbox", None).unwrap();
    inbox.put("hello".into());
    let bytes = postcard::to_stdvec(&(&inbox, &outbox)).unwrap();
    spawn(server, "echo", &[&hex(&bytes)]).join();
    assert_eq!(
        outbox.try_get().as_deref(),
        Some("hello via inbox and outbox")
    );
    assert!(inbox.is_empty(), "the child took the parent's item");
}

on_both!(
    a_handle_passed_through_a_queue_is_the_same_object,
    redis_a_handle_passed_through_a_queue_is_the_same_object,
    a_handle_passed_through_a_queue_is_the_same_object_on
);

fn a_handle_passed_through_a_queue_is_the_same_object_on(server: &dyn Backend) {
    let client = server.client();
    let shared = Mutex::open(&client, "shared", vec!["parent".to_string()]).unwrap();
    let mailbox: Queue<Mutex<Vec<String>>> = Queue::open(&client, "mailbox", None).unwrap();
    mailbox.put(shared.clone());
    let child = spawn(server, "mailbox", &["mailbox"]);
    let pid = child.child.id();
    child.join();
    assert_eq!(
        *shared.lock().unwrap(),
        vec!["parent".to_string(), format!("child {pid}")]
    );
}

on_all!(
    a_killed_holder_releases_its_mutex_poisoned,
    redis_a_killed_holder_releases_its_mutex_poisoned,
    cluster_a_killed_holder_releases_its_mutex_poisoned,
    killed_holder
);

fn killed_holder(server: &dyn Backend) {
    let m = Mutex::open(&server.client(), "held", 1u32).unwrap();
    let mut holder = spawn(server, "hold", &["held"]);
    holder.wait_ready();
    assert!(m.try_lock().is_err(), "the child holds it");
    let waiter = {
        let m = m.clone();
        background(move || m.lock().map(|g| *g).map_err(|p| *p.into_inner()))
    };
    parked(server, 1, "the parent waits for the lock");
    holder.kill();
    let poisoned = finished(&waiter, "lock after the holder died");
    assert_eq!(
        poisoned,
        Err(1),
        "poisoned, with the last value written back"
    );
}

on_all!(
    a_killed_getter_leaves_no_parked_call,
    redis_a_killed_getter_takes_no_item,
    cluster_a_killed_getter_takes_no_item,
    killed_getter
);

/// A getter frozen (SIGSTOP) while parked is handed an item it can never acknowledge, then
/// killed: Redis gives the item back once the getter's presence lapses.
#[test]
fn redis_an_item_handed_to_a_getter_that_dies_is_given_back() {
    let server = Redis::start();
    let q: Queue<u8> = Queue::open(&server.client(), "handed", None).unwrap();
    let mut getter = frozen_getter(&server, "get", "handed");
    q.put(7);
    getter.kill();
    eventually("the dead getter's item comes back", || {
        q.try_get() == Some(7)
    });
}

/// The same with an item large enough to live beside Redis's scripts (its reference is
/// what is handed over and given back; the item stays until someone takes it).
#[test]
fn redis_a_large_item_handed_to_a_getter_that_dies_is_given_back() {
    let server = Redis::start();
    let q: Queue<strato::Bytes> = Queue::open(&server.client(), "handed-large", None).unwrap();
    let mut getter = frozen_getter(&server, "get_bytes", "handed-large");
    let large = strato::Bytes::from((0..1 << 20).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    q.put(large.clone());
    getter.kill();
    eventually("the dead getter's large item comes back whole", || {
        q.try_get().as_ref() == Some(&large)
    });
}

/// A child in `role` (a getter) on queue `name`, parked in its get, then frozen (SIGSTOP):
/// whatever is handed to it now it can never acknowledge.
fn frozen_getter(server: &Redis, role: &str, name: &str) -> ChildProcess {
    let mut getter = spawn(server, role, &[name]);
    getter.wait_ready();
    parked(server, 1, "the child's get waits");
    let pid = getter.child.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    getter
}

fn killed_getter(server: &dyn Backend) {
    let q: Queue<u8> = Queue::open(&server.client(), "jobs", None).unwrap();
    let mut getter = spawn(server, "get", &["jobs"]);
    getter.wait_ready();
    parked(server, 1, "the child's get waits");
    getter.kill();
    parked(server, 0, "the dead child's get is gone");
    q.put(5);
    // Redis may hand the item to the dead getter's ticket until its presence lapses; then
    // the item comes back. Either way it is not lost.
    eventually("no dead consumer keeps the item", || q.try_get() == Some(5));
}

on_all!(
    a_killed_party_breaks_the_barrier,
    redis_a_killed_party_breaks_the_barrier,
    cluster_a_killed_party_breaks_the_barrier,
    killed_party
);

fn killed_party(server: &dyn Backend) {
    let b = Barrier::open(&server.client(), "gate", 3).unwrap();
    let mut party = spawn(server, "barrier", &["gate"]);
    party.wait_ready();
    let other = Barrier::open(&server.client(), "gate", 3).unwrap();
    let waiting = background(move || {
        other
            .wait_timeout(Duration::from_secs(30))
            .map(|r| r.is_leader())
    });
    parked(server, 2, "two parties wait");
    party.kill();
    assert_eq!(
        finished(&waiting, "the surviving party"),
        Err(BarrierError::Broken)
    );
    assert_eq!(
        b.wait_timeout(Duration::from_secs(30)),
        Err(BarrierError::Broken)
    );
    parked(server, 0, "nothing left waiting");
}

#[test]
fn redis_the_ttl_collects_what_a_killed_process_left() {
    let redis = Redis::start();
    let observer = redis.client();
    let mut holder = ChildProcess::spawn_with(
        "hold",
        &redis.address(),
        &["left-behind"],
        &[("STRATO_REDIS_TTL_SECS", "1")],
    );
    holder.wait_ready();
    assert!(exists(&observer, "left-behind"));
    holder.kill();
    eventually("the TTL collects the object", || {
        !exists(&observer, "left-behind")
    });
}

#[test]
fn the_ttl_collects_a_handle_lent_but_never_received() {
    let server = ServeProcess::with_args(&["--ttl", "0.5"]);
    let client = server.client();
    let lent = AtomicU64::open(&client, "lent", 7).unwrap();
    let plain = AtomicU64::open(&client, "plain", 7).unwrap();
    let in_flight = postcard::to_stdvec(&lent).unwrap();
    drop((lent, plain));
    assert!(
        !exists(&client, "plain"),
        "an object goes with its last handle"
    );
    assert!(exists(&client, "lent"), "a handle in flight keeps it");
    eventually("the TTL collects it", || !exists(&client, "lent"));
    drop(in_flight);
}

#[test]
fn a_received_handle_keeps_its_object_past_the_ttl() {
    let server = ServeProcess::with_args(&["--ttl", "0.5"]);
    let client = server.client();
    let counter = AtomicU64::open(&client, "adopted", 1).unwrap();
    let lent = hex(&postcard::to_stdvec(&counter).unwrap());
    let go: Queue<()> = Queue::open(&client, "go", None).unwrap();
    let mut child = spawn(&server, "adopt", &[&lent, "go"]);
    child.wait_ready();
    drop(counter);
    wait_out_the_ttl(&server);
    assert!(exists(&client, "adopted"), "the child's reference keeps it");
    let value = AtomicU64::open(&client, "adopted", 0).unwrap().load(SeqCst);
    assert_eq!(value, 2, "the child added to the parent's counter");
    go.put(());
    child.join();
    eventually("collected once the child is gone", || {
        !exists(&client, "adopted")
    });
}

#[test]
fn a_persistent_object_survives_its_handles() {
    let server = ServeProcess::with_args(&["--ttl", "0.5"]);
    spawn(&server, "persist", &["kept"]).join();
    wait_out_the_ttl(&server);
    let client = server.client();
    assert!(exists(&client, "kept"));
    assert_eq!(AtomicU64::open(&client, "kept", 0).unwrap().load(SeqCst), 6);
    client
        .call(Call::Delete {
            name: "kept".into(),
        })
        .unwrap();
    assert!(!exists(&client, "kept"));
}
