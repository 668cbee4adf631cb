//! `STRATO_COMPUTE=lambda` against a real local Lambda endpoint: cargo-lambda's emulator
//! (`cargo lambda watch --only-lambda-apis`, which serves Lambda's Invoke API and its Runtime
//! API on loopback), the real `strato-lambda-runner` on `lambda_runtime` polling it, the
//! executable in S3 served by `s3s-fs`, and the state on `strato serve` over TCP. The test
//! plays Lambda's fleet: it runs the runner processes and starts a new one when one dies.

mod cluster;
#[path = "../../strato-storage/tests/common/s3_server.rs"]
mod s3_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use strato_lambda::local::{Emulator, RunnerFleet};

use cluster::{both, corpus, eventually, lines_with, run_locally, Serve};
use s3_server::{S3Server, BUCKET};

/// The function's name on the emulator.
const FUNCTION: &str = "runner";

/// The `cargo-lambda` binary: `$STRATO_CARGO_LAMBDA`, else where scripts/test installs it.
fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("STRATO_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/tools/cargo-lambda/bin/cargo-lambda")
        });
    assert!(
        path.is_file(),
        "the Lambda tests need cargo-lambda's emulator at {}: run scripts/test, which installs \
         it (`pip install cargo-lambda==1.9.2` into target/tools/cargo-lambda), or set \
         STRATO_CARGO_LAMBDA",
        path.display()
    );
    path
}

/// The runner function's binary, built first if this test run did not build it.
fn runner_binary() -> PathBuf {
    cluster::workspace_bin("strato-lambda", "strato-lambda-runner")
}

fn start_emulator() -> Emulator {
    Emulator::start(&cargo_lambda(), FUNCTION).expect("start cargo lambda watch")
}

/// Lambda's part: runner processes polling the emulator, with the bucket's credentials.
fn start_fleet(emulator: &Emulator, s3: &S3Server, count: usize, logs: &Path) -> RunnerFleet {
    let env: Vec<(String, String)> = s3
        .environment()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    RunnerFleet::start(emulator, &runner_binary(), count, &env, logs)
        .expect("start strato-lambda-runner")
}

/// One test's world: storage, the state, the emulator and the runners.
struct World {
    fleet: RunnerFleet,
    emulator: Emulator,
    serve: Serve,
    s3: S3Server,
    _logs: tempfile::TempDir,
}

impl World {
    fn start(runners: usize) -> World {
        let s3 = S3Server::start();
        World::with(s3, runners, None)
    }

    /// A world whose runners fetch from `fetch_from` (default: the driver's bucket `s3`).
    fn with(s3: S3Server, runners: usize, fetch_from: Option<&S3Server>) -> World {
        let serve = Serve::start();
        let emulator = start_emulator();
        let logs = tempfile::tempdir().unwrap();
        let fleet = start_fleet(&emulator, fetch_from.unwrap_or(&s3), runners, logs.path());
        World {
            fleet,
            emulator,
            serve,
            s3,
            _logs: logs,
        }
    }

    /// An example run as a driver with `STRATO_COMPUTE=lambda`.
    fn driver(&self, example: &str, args: &[&str]) -> Command {
        let mut command = Command::new(cluster::example(example));
        command
            .args(args)
            .env("STRATO_STATE", &self.serve.address)
            .env("STRATO_TOKEN", &self.serve.token)
            .env("STRATO_COMPUTE", "lambda")
            .env("STRATO_WORKERS", "2")
            .env("STRATO_LAMBDA_FUNCTION", FUNCTION)
            .env("STRATO_LAMBDA_ENDPOINT", self.emulator.endpoint())
            .env("STRATO_LAMBDA_TIMEOUT", "120")
            .env("STRATO_STORAGE", format!("s3://{BUCKET}/jobs"))
            .envs(self.s3.environment())
            .env_remove("STRATO_CONFIG");
        command
    }

    /// Whether the server has a running job (`strato jobs`).
    fn a_job_runs(&self) -> bool {
        let output = Command::new(cluster::strato_bin())
            .args([
                "jobs",
                "--connect",
                &self.serve.address,
                "--token",
                &self.serve.token,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).contains(" running ")
    }

    fn run(&self, example: &str, args: &[&str]) -> Output {
        self.driver(example, args).output().unwrap()
    }

    /// Asserts that a `pi` run succeeded and printed what it prints locally.
    fn same_pi_as_locally(&self, output: &Output, args: &[&str]) {
        assert!(
            output.status.success(),
            "{}\n{}",
            both(output),
            self.fleet.log()
        );
        assert_eq!(
            lines_with(output, "pi ≈"),
            lines_with(&run_locally("pi", args), "pi ≈")
        );
    }
}

const PI: &[&str] = &["--tasks", "8", "--points", "400000"];

#[test]
fn pi_and_wordcount_on_lambda_print_what_they_print_locally() {
    let world = World::start(2);
    world.same_pi_as_locally(&world.run("pi", PI), PI);
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path(), 3, 100_000);
    let args = ["--input", corpus.to_str().unwrap(), "--top", "5"];
    let remote = world.run("wordcount", &args);
    assert!(
        remote.status.success(),
        "{}\n{}",
        both(&remote),
        world.fleet.log()
    );
    let words = |output: &Output| {
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let counts = text.lines().filter(|l| !l.starts_with("tasks="));
        counts.map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(words(&remote), words(&run_locally("wordcount", &args)));
    assert_eq!(words(&remote).len(), 5);
}

#[test]
fn a_killed_lambda_runner_leaves_its_tasks_to_another_invocation() {
    let world = World::start(3);
    let args = ["--tasks", "24", "--points", "60000000"];
    let driver = world
        .driver("pi", &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A job on the server means the executor started: both workers joined.
    let running = eventually(Duration::from_secs(60), || world.a_job_runs());
    assert!(running, "the invocations never ran their workers");
    assert!(world.fleet.kill_a_busy_runner());
    let output = driver.wait_with_output().unwrap();
    world.same_pi_as_locally(&output, &args);
}

#[test]
fn a_lambda_invocation_near_its_deadline_finishes_its_task_and_the_driver_invokes_again() {
    let world = World::start(2);
    // Tasks of about a second (debug build), invocations of about four seconds: each
    // invocation stops taking tasks in time, and the driver invokes again for the rest.
    let args = ["--tasks", "12", "--points", "480000000"];
    let output = world
        .driver("pi", &args)
        .env("STRATO_LAMBDA_TIMEOUT", "6")
        .output()
        .unwrap();
    world.same_pi_as_locally(&output, &args);
    let log = world.fleet.log();
    assert!(log.contains("the deadline is near"), "{log}");
}

fn refused_with(output: &Output, cause: &str) {
    assert!(!output.status.success(), "{}", both(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(cause), "{}", both(output));
}

#[test]
fn lambda_failures_reach_the_driver_with_their_cause() {
    // The state server, as the function would reach it, does not answer.
    let world = World::start(1);
    let unreachable = world
        .driver("pi", PI)
        .env("STRATO_LAMBDA_STATE", "tcp://127.0.0.1:1")
        .output()
        .unwrap();
    refused_with(
        &unreachable,
        "cannot reach the state server at tcp://127.0.0.1:1",
    );
    drop(world);

    // The bucket holds other bytes under the executable's hash (and the right size, so the
    // driver does not upload it again): the function's hash check refuses them.
    let world = World::start(1);
    let (hash, len) = strato_worker::exe::hash_file(&cluster::example("pi")).unwrap();
    let exes = world.s3.storage("jobs/strato-exe");
    exes.put(&hash, vec![0u8; len as usize]).unwrap();
    refused_with(&world.run("pi", PI), "does not have that hash");
    drop(world);

    // The function's storage does not have the executable at all.
    let empty = S3Server::start();
    let world = World::with(S3Server::start(), 1, Some(&empty));
    let missing = world.run("pi", PI);
    refused_with(
        &missing,
        &format!("cannot fetch the driver's executable {hash}"),
    );
    drop(empty);
}

#[test]
fn lambda_invocations_are_tried_again_until_the_endpoint_answers() {
    let s3 = S3Server::start();
    let serve = Serve::start();
    let logs = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new(cluster::example("pi"))
        .args(PI)
        .env("STRATO_STATE", &serve.address)
        .env("STRATO_TOKEN", &serve.token)
        .env("STRATO_COMPUTE", "lambda")
        .env("STRATO_WORKERS", "2")
        .env("STRATO_LAMBDA_FUNCTION", FUNCTION)
        .env("STRATO_LAMBDA_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("STRATO_LAMBDA_TIMEOUT", "120")
        .env("STRATO_STORAGE", format!("s3://{BUCKET}/jobs"))
        .env("RUST_LOG", "strato_lambda=debug")
        .envs(s3.environment())
        .env_remove("STRATO_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lambda answers only once the driver was refused at least once.
    let (lines, heard) = std::sync::mpsc::channel();
    let stderr = driver.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if line.contains("invoking again") {
                let _ = lines.send(());
            }
            text += &line;
            text.push('\n');
        }
        text
    });
    let refused = heard.recv_timeout(Duration::from_secs(60));
    assert!(refused.is_ok(), "the driver never tried to invoke");
    let emulator = Emulator::start_on(&cargo_lambda(), FUNCTION, port).expect("emulator");
    let fleet = start_fleet(&emulator, &s3, 2, logs.path());

    let stdout = std::io::read_to_string(driver.stdout.take().unwrap()).unwrap();
    let status = driver.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{stdout}\n{stderr}\n{}", fleet.log());
    assert!(stderr.contains("dispatch failure"), "{stderr}");
    let local = run_locally("pi", PI);
    let pi = |text: &str| {
        text.lines()
            .filter(|l| l.contains("pi ≈"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(pi(&stdout), pi(&String::from_utf8_lossy(&local.stdout)));
}
