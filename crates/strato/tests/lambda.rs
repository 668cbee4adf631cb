//! `STRATO_COMPUTE=lambda` against a real local Lambda endpoint: cargo-lambda's emulator
//! (`cargo lambda watch --only-lambda-apis`, which serves Lambda's Invoke API and its Runtime
//! API on loopback), the real `strato-lambda-runner` on `lambda_runtime` polling it, the
//! executable in S3 served by `s3s-fs`, and the state on `strato serve` over TCP. The test
//! plays Lambda's fleet: it runs the runner processes and starts a new one when one dies.

mod cluster;
#[path = "../../strato-storage/tests/common/s3_server.rs"]
mod s3_server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// `cargo lambda watch --only-lambda-apis` on a free loopback port.
struct Emulator {
    _process: cluster::Guard,
    port: u16,
    _stub: tempfile::TempDir,
}

impl Emulator {
    fn start() -> Emulator {
        // The emulator checks invoked names against a manifest's binaries: a stub names one.
        let stub = tempfile::tempdir().unwrap();
        let manifest = stub.path().join("Cargo.toml");
        let package = "[package]\nname = \"strato-lambda-emulator\"\nversion = \"0.0.0\"\n";
        let bin = format!("[[bin]]\nname = \"{FUNCTION}\"\npath = \"main.rs\"\n");
        std::fs::write(&manifest, format!("{package}\n{bin}")).unwrap();
        for _ in 0..5 {
            // It cannot take port 0: pick a free one, and try again if it was taken meanwhile.
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(cargo_lambda())
                .args(["lambda", "watch", "--only-lambda-apis", "--manifest-path"])
                .arg(&manifest)
                .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start cargo lambda watch");
            let said = cluster::wait_for_line(
                &mut child,
                "starting Runtime server",
                Duration::from_secs(30),
            );
            let listening = said.is_some()
                && eventually(Duration::from_secs(10), || {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                });
            if listening && child.try_wait().unwrap().is_none() {
                return Emulator {
                    _process: cluster::Guard(child),
                    port,
                    _stub: stub,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("cargo lambda watch did not start");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Lambda's part: runner processes polling the emulator, a new one started when one dies.
struct Fleet {
    runners: Arc<Mutex<Vec<Child>>>,
    stopping: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
    logs: tempfile::TempDir,
}

impl Fleet {
    fn start(emulator: &Emulator, s3: &S3Server, count: usize) -> Fleet {
        let logs = tempfile::tempdir().unwrap();
        let spawn = {
            let api = format!("http://127.0.0.1:{}/.rt/{FUNCTION}", emulator.port);
            let env = s3.environment();
            let dir = logs.path().to_path_buf();
            move |index: usize| {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("runner-{index}.log")))
                    .unwrap();
                Command::new(runner_binary())
                    .env("AWS_LAMBDA_RUNTIME_API", &api)
                    .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                    .env("STRATO_RUNNER_DIR", dir.join(format!("tmp-{index}")))
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("start strato-lambda-runner")
            }
        };
        let runners = Arc::new(Mutex::new((0..count).map(&spawn).collect::<Vec<_>>()));
        let stopping = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (runners, stopping) = (runners.clone(), stopping.clone());
            std::thread::spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    for (index, runner) in runners.lock().unwrap().iter_mut().enumerate() {
                        if runner.try_wait().unwrap().is_some() {
                            *runner = spawn(index);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Fleet {
            runners,
            stopping,
            keeper: Some(keeper),
            logs,
        }
    }

    fn kill_runner_with_a_worker(&self) -> bool {
        let mut runners = self.runners.lock().unwrap();
        let busy = runners
            .iter_mut()
            .find(|runner| !children_of(runner.id()).is_empty());
        match busy {
            Some(runner) => {
                let _ = runner.kill();
                true
            }
            None => false,
        }
    }

    /// Everything the runners wrote.
    fn log(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
            }
        }
        text
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        for runner in self.runners.lock().unwrap().iter_mut() {
            let _ = runner.kill();
            let _ = runner.wait();
        }
    }
}

/// The children of process `pid` (started by any of its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .flat_map(|task| {
            let children = std::fs::read_to_string(task.path().join("children"));
            let children = children.unwrap_or_default();
            children
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// One test's world: storage, the state, the emulator and the runners.
struct World {
    fleet: Fleet,
    emulator: Emulator,
    serve: Serve,
    s3: S3Server,
}

impl World {
    fn start(runners: usize) -> World {
        let s3 = S3Server::start();
        let serve = Serve::start();
        let emulator = Emulator::start();
        let fleet = Fleet::start(&emulator, &s3, runners);
        World {
            fleet,
            emulator,
            serve,
            s3,
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
    assert!(world.fleet.kill_runner_with_a_worker());
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
    let s3 = S3Server::start();
    let empty = S3Server::start();
    let serve = Serve::start();
    let emulator = Emulator::start();
    let fleet = Fleet::start(&emulator, &empty, 1);
    let world = World {
        fleet,
        emulator,
        serve,
        s3,
    };
    let missing = world.run("pi", PI);
    refused_with(
        &missing,
        &format!("cannot fetch the driver's executable {hash}"),
    );
    drop(empty);
}
