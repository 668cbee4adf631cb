//! User-defined objects (`strato::shared!`) on a standalone `strato serve`: the server starts
//! an objects host (this very test binary, fetched by its hash) that holds them and runs
//! their methods; the papers' programs that use them run on worker hosts unchanged.

mod cluster;

use std::time::Duration;

use cluster::{both, eventually, lines_with, processes_running_from, run_locally, run_on_hosts};
use cluster::{Host, HostSpec, Serve};
use serde::{Deserialize, Serialize};
use strato::ErrorKind;

/// A counter that remembers which process ran its last method.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tally {
    total: u64,
    ran_in: u32,
}

impl Tally {
    fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.ran_in = std::process::id();
        self.total
    }

    fn at_least(&mut self, n: u64) -> Option<u64> {
        (self.total >= n).then_some(self.total)
    }
}

strato::shared! {
    /// The tally, on the state server.
    pub struct TallyRef(Tally);
    impl {
        fn add(&mut self, n: u64) -> u64;
        wait fn at_least(&mut self, n: u64) -> u64;
    }
}

fn client_of(serve: &Serve) -> strato::Client {
    let options = strato::ConnectOptions::default().token(serve.token.clone());
    strato::Client::connect_with(&serve.address, options).unwrap()
}

/// Calls parked on the server, not counting the objects host's own wait for work.
fn parked_calls(client: &strato::Client) -> u64 {
    let host_queue = strato_proto::Call::Exists {
        name: strato_worker::objects::OBJECTS_QUEUE.into(),
    };
    let host_waits =
        u64::from(client.call(host_queue).ok() == Some(strato_proto::Answer::Bool(true)));
    match client.call(strato_proto::Call::Stats) {
        Ok(strato_proto::Answer::Stats(stats)) => stats.parked.saturating_sub(host_waits),
        other => panic!("stats: {other:?}"),
    }
}

#[test]
fn user_objects_live_in_a_process_of_the_program_and_go_with_the_server() {
    let mut serve = Serve::start();
    let client = client_of(&serve);
    let tally = TallyRef::open(&client, "tally", Tally::default()).unwrap();
    assert_eq!(tally.add(2), 2);
    // A waiting method parks on the server and is woken by another connection's change.
    let waiter = {
        let client = client_of(&serve);
        std::thread::spawn(move || {
            let tally = TallyRef::open(&client, "tally", Tally::default()).unwrap();
            tally.at_least(5)
        })
    };
    assert!(
        eventually(Duration::from_secs(10), || parked_calls(&client) == 1),
        "the waiting method parks on the server"
    );
    assert_eq!(tally.add(3), 5);
    assert_eq!(waiter.join().unwrap(), 5);
    // The methods ran in the objects host: this binary, fetched into the server's cache.
    let hosts = processes_running_from(serve.cache.path());
    assert_eq!(hosts.len(), 1, "objects hosts: {hosts:?}");
    assert_eq!(tally.get().ran_in, hosts[0]);
    let cached = std::fs::read_dir(serve.cache.path()).unwrap().count();
    assert_eq!(cached, 1);
    // A second object of the same program shares that host.
    let other = TallyRef::open(&client, "other", Tally::default()).unwrap();
    assert_eq!(other.add(1), 1);
    assert_eq!(processes_running_from(serve.cache.path()), hosts);
    // The objects host goes with its server.
    serve.process.kill();
    let gone = eventually(Duration::from_secs(10), || {
        processes_running_from(serve.cache.path()).is_empty()
    });
    assert!(gone, "the objects host outlived its server");
}

#[test]
fn a_killed_objects_host_fails_calls_clearly_and_a_new_one_takes_new_objects() {
    let serve = Serve::start();
    let client = client_of(&serve);
    let tally = TallyRef::open(&client, "doomed", Tally::default()).unwrap();
    assert_eq!(tally.add(1), 1);
    for pid in processes_running_from(serve.cache.path()) {
        sigkill(pid);
    }
    let failed = tally
        .0
        .invoke::<_, u64>("add", &(1u64,), strato_proto::Wait::Never)
        .unwrap_err();
    assert_eq!(failed.server_kind(), Some(ErrorKind::MethodFailed));
    assert!(failed.to_string().contains("has died"), "{failed}");
    let fresh = TallyRef::open(&client, "fresh", Tally::default()).unwrap();
    assert_eq!(fresh.add(7), 7);
}

#[test]
fn a_server_started_without_user_objects_refuses_them_clearly() {
    let serve = Serve::start_with(&[], "127.0.0.1", &["--no-user-objects"]);
    let client = client_of(&serve);
    let refused = TallyRef::open(&client, "nope", Tally::default()).unwrap_err();
    assert_eq!(refused.server_kind(), Some(ErrorKind::Unsupported));
    assert!(
        refused.to_string().contains("--no-user-objects"),
        "{refused}"
    );
    assert!(processes_running_from(serve.cache.path()).is_empty());
}

#[test]
fn kmeans_and_santa_claus_on_hosts_print_what_they_print_locally() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let _hosts: Vec<Host> = ["first", "second"]
        .iter()
        .map(|name| {
            Host::start(HostSpec {
                name,
                connect: &serve.address,
                token: &serve.token,
                slots: 11,
                cache: &dir.path().join(name),
                prefix: &[],
                ca: None,
                plaintext: false,
                python: None,
            })
        })
        .collect();
    let kmeans: &[&str] = &["--threads", "3", "--points", "5000", "--k", "5"];
    for (program, args) in [("kmeans", kmeans), ("santa_claus", &[])] {
        let remote = run_on_hosts(&[], &serve, program, args);
        assert!(remote.status.success(), "{program}: {}", both(&remote));
        let local = run_locally(program, args);
        let result = lines_with(&remote, "result:");
        assert_eq!(result.len(), 1, "{program}: {}", both(&remote));
        assert_eq!(result, lines_with(&local, "result:"), "{program}");
    }
    // Each program's objects lived in an objects host of its own.
    assert_eq!(processes_running_from(serve.cache.path()).len(), 2);
}

/// SIGKILL through `kill(1)`, so the test needs no `unsafe`.
fn sigkill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
