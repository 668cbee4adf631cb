//! Worker hosts on loopback: a real `strato serve`, real `strato worker` daemons, and the
//! examples as drivers with `STRATO_COMPUTE=hosts`. (The same across network namespaces, with
//! links cut and hosts killed, is in `netns.rs`.)

mod cluster;

use std::time::Duration;

use cluster::{
    both, corpus, eventually, lines_with, run_locally, run_on_hosts, Host, HostSpec, Serve,
};

const PI: &[&str] = &["--tasks", "8", "--points", "400000"];

fn host(serve: &Serve, name: &str, cache: &std::path::Path) -> Host {
    Host::start(HostSpec {
        name,
        connect: &serve.address,
        token: &serve.token,
        slots: 2,
        cache,
        prefix: &[],
        ca: None,
        plaintext: false,
        python: None,
    })
}

#[test]
fn pi_on_two_hosts_prints_what_it_prints_locally() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let first = host(&serve, "first", &dir.path().join("first"));
    let second = host(&serve, "second", &dir.path().join("second"));
    let remote = run_on_hosts(&[], &serve, "pi", PI);
    assert!(remote.status.success(), "{}", both(&remote));
    let local = run_locally("pi", PI);
    assert_eq!(lines_with(&remote, "pi ≈"), lines_with(&local, "pi ≈"));
    assert!(
        lines_with(&remote, "tasks=8 workers=2").len() == 1,
        "{}",
        both(&remote)
    );
    // Each host fetched the executable once and keeps it by its hash.
    for host in [&first, &second] {
        let cached: Vec<_> = std::fs::read_dir(&host.cache).unwrap().flatten().collect();
        assert!(cached.len() <= 1, "{:?}", cached);
    }
    let fetched = [&first, &second]
        .iter()
        .filter(|h| h.cache.exists())
        .count();
    assert!(fetched >= 1, "no host fetched the executable");
    // Once the driver ended, its workers on every host are gone.
    let gone = eventually(Duration::from_secs(10), || {
        first.workers().is_empty() && second.workers().is_empty()
    });
    assert!(gone, "workers left on the hosts");
}

#[test]
fn wordcount_on_hosts_prints_what_it_prints_locally() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3, 200000);
    let serve = Serve::start();
    let _host = host(&serve, "only", &dir.path().join("cache"));
    let args = [
        "--input",
        corpus.to_str().unwrap(),
        "--workers",
        "2",
        "--top",
        "5",
    ];
    for extra in [&[][..], &["--action"][..]] {
        let args = [&args[..], extra].concat();
        let remote = run_on_hosts(&[], &serve, "wordcount", &args);
        assert!(remote.status.success(), "{}", both(&remote));
        let local = run_locally("wordcount", &args);
        let words = |o: &std::process::Output| {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            text.lines()
                .filter(|l| !l.starts_with("tasks="))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(&remote), words(&local), "{}", both(&remote));
        assert_eq!(words(&local).len(), 5);
    }
}

#[test]
fn a_damaged_cached_executable_is_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let cache = dir.path().join("cache");
    let _host = host(&serve, "only", &cache);
    let first = run_on_hosts(&[], &serve, "pi", PI);
    assert!(first.status.success(), "{}", both(&first));
    let cached = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    // Replaced rather than written over: a worker of the first run may still be running it
    // (ETXTBSY).
    let damaged = dir.path().join("damaged");
    std::fs::write(&damaged, b"not the executable").unwrap();
    std::fs::rename(&damaged, &cached).unwrap();
    let second = run_on_hosts(&[], &serve, "pi", PI);
    assert!(second.status.success(), "{}", both(&second));
    assert_eq!(lines_with(&first, "pi ≈"), lines_with(&second, "pi ≈"));
    let name = cached.file_name().unwrap().to_str().unwrap().to_string();
    let (hash, _) = strato_worker::exe::hash_file(&cached).unwrap();
    assert_eq!(hash, name, "the cache holds the real executable again");
}

#[test]
fn a_driver_with_no_hosts_is_told_to_start_them() {
    let serve = Serve::start();
    let output = run_on_hosts(&[], &serve, "pi", PI);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no worker hosts are connected"),
        "{}",
        both(&output)
    );
    assert!(
        stderr.contains("strato worker --connect"),
        "{}",
        both(&output)
    );
}

#[test]
fn a_host_with_a_wrong_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let spec = HostSpec {
        name: "intruder",
        connect: &serve.address,
        token: "wrong",
        slots: 1,
        cache: dir.path(),
        prefix: &[],
        ca: None,
        plaintext: false,
        python: None,
    };
    let output = Host::spawn(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("token"), "{stderr}");
}

#[test]
fn a_driver_with_a_wrong_token_is_refused() {
    let serve = Serve::start();
    let output = cluster::driver_command(&[], &serve, "pi", PI)
        .env("STRATO_TOKEN", "wrong")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused") && stderr.contains("token"),
        "{stderr}"
    );
}

#[test]
fn a_killed_driver_takes_its_host_workers_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let host = host(&serve, "only", &dir.path().join("cache"));
    let long = ["--tasks", "400", "--points", "4000000000"];
    let mut driver = cluster::Guard(
        cluster::driver_command(&[], &serve, "pi", &long)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = eventually(Duration::from_secs(60), || host.workers().len() == 2);
    assert!(started, "the host never ran the driver's workers");
    driver.kill();
    let gone = eventually(Duration::from_secs(5), || host.workers().is_empty());
    assert!(gone, "workers outlived their driver: {:?}", host.workers());
}

#[test]
fn a_killed_host_leaves_the_job_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let mut doomed = host(&serve, "doomed", &dir.path().join("doomed"));
    // Room for the doomed host's workers too: a host is counted ready only once its worker
    // runs, so the driver waits for all four, wherever they end up.
    let survivor = Host::start(HostSpec {
        name: "survivor",
        connect: &serve.address,
        token: &serve.token,
        slots: 4,
        cache: &dir.path().join("survivor"),
        prefix: &[],
        ca: None,
        plaintext: false,
        python: None,
    });
    let args = ["--tasks", "24", "--points", "60000000"];
    let driver = cluster::driver_command(&[], &serve, "pi", &args)
        .env("STRATO_WORKERS", "4")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed as soon as its workers exist: before or after they hold their watch tasks,
    // whichever the timing gives (the host reports a worker started only once it holds its
    // watch task; a request whose host died is served by another host).
    let running = eventually(Duration::from_secs(60), || doomed.workers().len() == 2);
    assert!(running, "the doomed host never ran its workers");
    doomed.process.kill();
    let gone = eventually(Duration::from_secs(5), || doomed.workers().is_empty());
    assert!(gone, "the killed host's workers outlived it");
    let output = driver.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", both(&output));
    let local = run_locally("pi", &args);
    assert_eq!(lines_with(&output, "pi ≈"), lines_with(&local, "pi ≈"));
    drop(survivor);
}

#[test]
fn workers_lost_with_their_host_are_replaced_on_a_host_that_connects_later() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let mut doomed = host(&serve, "doomed", &dir.path().join("doomed"));
    let args = ["--tasks", "12", "--points", "600000000"];
    let driver = cluster::driver_command(&[], &serve, "pi", &args)
        .env("STRATO_WORKERS", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed as soon as its workers exist: before or after they hold their watch tasks,
    // whichever the timing gives (the host reports a worker started only once it holds its
    // watch task; a request whose host died is served by another host).
    let running = eventually(Duration::from_secs(60), || doomed.workers().len() == 2);
    assert!(running, "the doomed host never ran its workers");
    doomed.process.kill();
    // Every worker of the job is gone; a host that connects now gets the replacements.
    let late = host(&serve, "late", &dir.path().join("late"));
    finishes_as_locally(driver, &args);
    assert!(late.cache.exists(), "the late host started no worker");
}

/// Waits (bounded) for the `pi` driver to end; it must succeed and print what it prints run
/// locally with `args`.
fn finishes_as_locally(mut driver: std::process::Child, args: &[&str]) {
    let ended = eventually(Duration::from_secs(120), || {
        driver.try_wait().unwrap().is_some()
    });
    if !ended {
        driver.kill().unwrap();
    }
    let output = driver.wait_with_output().unwrap();
    assert!(ended, "the job never finished: {}", both(&output));
    assert!(output.status.success(), "{}", both(&output));
    let local = run_locally("pi", args);
    assert_eq!(lines_with(&output, "pi ≈"), lines_with(&local, "pi ≈"));
}

#[test]
fn the_only_worker_killed_as_it_starts_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let host = host(&serve, "host", &dir.path().join("host"));
    let args = ["--tasks", "4", "--points", "4000000"];
    let driver = cluster::driver_command(&[], &serve, "pi", &args)
        .env("STRATO_WORKERS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Polled tightly, so that the kill usually lands before the worker holds its watch
    // task: a driver that only heard "started" would wait for it forever.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let Some(&pid) = host.workers().first() {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no worker started");
        std::thread::sleep(Duration::from_millis(1));
    };
    cluster::sigkill(first);
    finishes_as_locally(driver, &args);
}

#[test]
fn two_drivers_of_different_programs_share_the_hosts_undisturbed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 2, 100000);
    let serve = Serve::start();
    let _first = host(&serve, "first", &dir.path().join("first"));
    let _second = host(&serve, "second", &dir.path().join("second"));
    let pi_args = ["--tasks", "16", "--points", "4000000"];
    let count_args = [
        "--input",
        corpus.to_str().unwrap(),
        "--workers",
        "2",
        "--top",
        "3",
    ];
    let pi = cluster::driver_command(&[], &serve, "pi", &pi_args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let count = cluster::driver_command(&[], &serve, "wordcount", &count_args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (pi, count) = (
        pi.wait_with_output().unwrap(),
        count.wait_with_output().unwrap(),
    );
    assert!(pi.status.success(), "{}", both(&pi));
    assert!(count.status.success(), "{}", both(&count));
    assert_eq!(
        lines_with(&pi, "pi ≈"),
        lines_with(&run_locally("pi", &pi_args), "pi ≈")
    );
    let local = run_locally("wordcount", &count_args);
    let words = |o: &std::process::Output| lines_with(o, "")[..3].to_vec();
    assert_eq!(words(&count), words(&local));
    // Each host cached both executables, by their hashes.
    let cached = std::fs::read_dir(dir.path().join("first")).map_or(0, |d| d.count())
        + std::fs::read_dir(dir.path().join("second")).map_or(0, |d| d.count());
    assert!(cached >= 2, "{cached} executables cached");
}

/// What a host answers to one request body put on the hosts board by hand.
fn host_answer(body: Vec<u8>) -> strato_worker::hosts::HostReport {
    use strato_proto::{
        Answer, Blob, Call, Init, Op, Role, TaskOutcome, TaskReport, TaskSpec, Wait,
    };
    use strato_worker::hosts::{HOSTS_BOARD, HOSTS_PROTOCOL};

    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let _host = host(&serve, "only", &dir.path().join("cache"));
    let options = strato::ConnectOptions::default().token(serve.token.clone());
    let client = strato::Client::connect_with(&serve.address, options).unwrap();
    let open = |name: &str, init: Init| {
        let call = Call::Open {
            name: name.into(),
            init,
            persistent: false,
            role: Role::Handle,
        };
        client.call(call).unwrap();
    };
    open(
        HOSTS_BOARD,
        Init::TaskBoard {
            binary: HOSTS_PROTOCOL.into(),
        },
    );
    open("answers", Init::Queue { bound: None });
    let spec = TaskSpec {
        id: 1,
        reply_to: "answers".into(),
        max_retries: 0,
        body: Blob::from(body),
    };
    let op = |name: &str, op: Op| {
        client
            .call(Call::Op {
                name: name.into(),
                op,
            })
            .unwrap()
    };
    op(HOSTS_BOARD, Op::TaskSubmit(vec![spec]));
    let Answer::Blob(report) = op("answers", Op::Get(Wait::Micros(30_000_000))) else {
        panic!("no answer from the host");
    };
    let report: TaskReport = postcard::from_bytes(&report).unwrap();
    let TaskOutcome::Finished(body) = report.outcome else {
        panic!("{report:?}")
    };
    postcard::from_bytes(&body).unwrap()
}

#[test]
fn a_host_refuses_an_executable_for_another_platform() {
    use strato_worker::hosts::{HostReport, HostRequest, Program};

    let mut exe = strato_worker::exe::ExeRef::current().unwrap();
    exe.arch = "sparc64".into();
    let request = HostRequest {
        board: "b".into(),
        ready: String::new(),
        session: "b.driver".into(),
        program: Program::Exe(exe),
        reply_to: "answers".into(),
        want: 1,
        first_index: 0,
    };
    match host_answer(postcard::to_stdvec(&request).unwrap()) {
        HostReport::Refused { reason, .. } => {
            assert!(
                reason.contains("sparc64") && reason.contains("this host runs"),
                "{reason}"
            )
        }
        other => panic!("the host accepted it: {other:?}"),
    }
}

#[test]
fn a_host_refuses_a_request_it_cannot_read_saying_the_driver_runs_another_version() {
    use strato_worker::hosts::HostReport;

    // What an older driver's request might look like: another layout altogether.
    let body = postcard::to_stdvec(&("b", 7u64, vec![1u8, 2, 3])).unwrap();
    match host_answer(body) {
        HostReport::Refused { reason, host } => {
            assert_eq!(host, "only");
            assert!(reason.contains("another version of strato"), "{reason}");
            assert!(reason.contains("strato-hosts/2"), "{reason}");
        }
        other => panic!("the host accepted it: {other:?}"),
    }
}

#[test]
fn tls_carries_jobs_and_large_values_and_refuses_a_client_without_the_ca() {
    use strato_proto::{Answer, Blob, Call, Init, Op, Role};

    let dir = tempfile::tempdir().unwrap();
    let tls = cluster::netns::TestCa::make(dir.path(), "127.0.0.1");
    let (cert, key) = (tls.cert.to_str().unwrap(), tls.key.to_str().unwrap());
    let serve = Serve::start_with(&[], "127.0.0.1", &["--tls-cert", cert, "--tls-key", key]);
    assert!(
        serve.address.starts_with("tls://127.0.0.1:"),
        "{}",
        serve.address
    );

    // 24 MiB each way through one TLS connection.
    let mut options = strato::ConnectOptions::default().token(serve.token.clone());
    options.ca = Some(tls.ca.clone());
    let client = strato::Client::connect_with(&serve.address, options.clone()).unwrap();
    let big: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let open = Call::Open {
        name: "big".into(),
        init: Init::Value(Blob::from(big.clone())),
        persistent: false,
        role: Role::Handle,
    };
    client.call(open).unwrap();
    let get = Call::Op {
        name: "big".into(),
        op: Op::ValueGet,
    };
    let answer = client.call(get).unwrap();
    assert!(matches!(answer, Answer::Versioned { value, .. } if *value == big));

    // A large queue item, written from where it lies by the client and by the server.
    let open = Call::Open {
        name: "big queue".into(),
        init: Init::Queue { bound: None },
        persistent: false,
        role: Role::Handle,
    };
    client.call(open).unwrap();
    let item = Blob::from(big[..1 << 20].to_vec());
    let op = |op| Call::Op {
        name: "big queue".into(),
        op,
    };
    let put = op(Op::Put(item.clone(), strato_proto::Wait::Never));
    assert_eq!(client.call(put).unwrap(), Answer::Done);
    let get = op(Op::Get(strato_proto::Wait::Never));
    assert_eq!(client.call(get).unwrap(), Answer::Blob(item));

    // A client that does not trust the certificate is told so.
    options.ca = None;
    let error = strato::Client::connect_with(&serve.address, options)
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate is not trusted"), "{error}");

    // A job over TLS, its host given the CA.
    let _host = Host::start(HostSpec {
        name: "secure",
        connect: &serve.address,
        token: &serve.token,
        slots: 2,
        cache: &dir.path().join("cache"),
        prefix: &[],
        ca: Some(&tls.ca),
        plaintext: false,
        python: None,
    });
    let output = cluster::driver_command(&[], &serve, "pi", PI)
        .env("STRATO_TLS_CA", &tls.ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", both(&output));
    assert_eq!(
        lines_with(&output, "pi ≈"),
        lines_with(&run_locally("pi", PI), "pi ≈")
    );
}

#[test]
fn a_python_driver_hears_why_a_host_whose_python_lacks_strato_refused() {
    let Some(python) = cluster::strato_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start();
    let bare = std::path::Path::new("/usr/bin/python3");
    let _host = Host::start(HostSpec {
        name: "bare",
        connect: &serve.address,
        token: &serve.token,
        slots: 1,
        cache: &dir.path().join("cache"),
        prefix: &[],
        ca: None,
        plaintext: false,
        python: Some(bare),
    });
    let script = dir.path().join("one_task.py");
    let program = "import strato.multiprocessing as mp\n\
                   if __name__ == '__main__':\n    \
                       with mp.Pool(1) as pool:\n        print(pool.map(abs, [-1]))\n";
    std::fs::write(&script, program).unwrap();
    let started = std::time::Instant::now();
    let output = cluster::python_driver_command(&[], &serve, &python, &script, &[])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", both(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("host bare"), "{stderr}");
    assert!(stderr.contains("cannot import strato"), "{stderr}");
    assert!(stderr.contains("strato worker --python"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "the refusal took {:?}",
        started.elapsed()
    );
}
