//! Lambda on this machine: cargo-lambda's emulator serving Lambda's Invoke and Runtime APIs
//! on loopback, and runner processes standing in for Lambda's fleet. The tests and
//! `strato-bench` run the `lambda` backend against it, and so can a user without an account:
//!
//! ```text
//! pip install cargo-lambda==1.9.2      # its wheel holds the prebuilt binary
//! ```
//!
//! ```no_run
//! use strato_lambda::local::{Emulator, RunnerFleet};
//! let emulator = Emulator::start("cargo-lambda".as_ref(), "runner")?;
//! let fleet = RunnerFleet::start(
//!     &emulator,
//!     "target/release/strato-lambda-runner".as_ref(),
//!     2,
//!     &[("AWS_REGION".to_string(), "us-east-1".to_string())],
//!     "/tmp/strato-local-lambda".as_ref(),
//! )?;
//! // STRATO_COMPUTE=lambda STRATO_LAMBDA_FUNCTION=runner STRATO_LAMBDA_ENDPOINT=…
//! println!("invoke {} at {}", emulator.function(), emulator.endpoint());
//! # drop(fleet);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// `cargo lambda watch --only-lambda-apis` on a free loopback port; stopped when dropped.
pub struct Emulator {
    child: Child,
    port: u16,
    function: String,
    _stub: StubManifest,
}

impl Emulator {
    /// Starts the emulator (`cargo_lambda` is the `cargo-lambda` binary) for one function.
    /// It checks invoked names against a Cargo manifest's binaries, so a stub manifest in a
    /// temporary directory names `function`.
    pub fn start(cargo_lambda: &Path, function: &str) -> std::io::Result<Emulator> {
        for _ in 0..5 {
            // It cannot take port 0: pick a free one, and try again if it was taken meanwhile.
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            if let Ok(emulator) = Emulator::start_on(cargo_lambda, function, port) {
                return Ok(emulator);
            }
        }
        Err(std::io::Error::other("cargo lambda watch did not start"))
    }

    /// Starts the emulator on loopback port `port`.
    pub fn start_on(cargo_lambda: &Path, function: &str, port: u16) -> std::io::Result<Emulator> {
        let stub = StubManifest::write(function)?;
        let mut child = Command::new(cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--manifest-path"])
            .arg(stub.manifest())
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        if started(&mut child, port) {
            return Ok(Emulator {
                child,
                port,
                function: function.to_string(),
                _stub: stub,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(std::io::Error::other(format!(
            "cargo lambda watch did not start on port {port}"
        )))
    }

    /// Lambda's endpoint, for `STRATO_LAMBDA_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The function it serves.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The Runtime API a runner of the function polls (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt/{}", self.port, self.function)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the emulator said it started and its port answers, within a limit.
fn started(child: &mut Child, port: u16) -> bool {
    let Some(stdout) = child.stdout.take() else {
        return false;
    };
    let (said, heard) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent && line.contains("starting Runtime server") {
                sent = said.send(()).is_ok();
            }
        }
    });
    if heard.recv_timeout(Duration::from_secs(30)).is_err() {
        return false;
    }
    let limit = Instant::now() + Duration::from_secs(10);
    while Instant::now() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return matches!(child.try_wait(), Ok(None));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A temporary directory holding a Cargo manifest with one binary named like the function.
struct StubManifest(PathBuf);

impl StubManifest {
    fn write(function: &str) -> std::io::Result<StubManifest> {
        let dir = std::env::temp_dir().join(format!(
            "strato-lambda-emulator-{}-{}",
            std::process::id(),
            STUBS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let package = "[package]\nname = \"strato-lambda-emulator\"\nversion = \"0.0.0\"\n";
        let bin = format!("[[bin]]\nname = \"{function}\"\npath = \"main.rs\"\n");
        std::fs::write(dir.join("Cargo.toml"), format!("{package}\n{bin}"))?;
        Ok(StubManifest(dir))
    }

    fn manifest(&self) -> PathBuf {
        self.0.join("Cargo.toml")
    }
}

static STUBS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Drop for StubManifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runner processes polling an [`Emulator`], as Lambda's fleet: one that exits or dies is
/// started again. Each keeps its `/tmp` (fetched executables) in its own directory under
/// `dir`, across invocations, and writes its output to `dir/runner-N.log`. Stopped when
/// dropped.
pub struct RunnerFleet {
    runners: Arc<Mutex<Vec<Child>>>,
    stopping: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
}

impl RunnerFleet {
    /// Starts `count` runners (`runner` is the `strato-lambda-runner` binary) with `env`
    /// added to their environment (storage credentials, say).
    pub fn start(
        emulator: &Emulator,
        runner: &Path,
        count: usize,
        env: &[(String, String)],
        dir: &Path,
    ) -> std::io::Result<RunnerFleet> {
        std::fs::create_dir_all(dir)?;
        let spawn = {
            let (api, function) = (emulator.runtime_api(), emulator.function().to_string());
            let (runner, env, dir) = (runner.to_path_buf(), env.to_vec(), dir.to_path_buf());
            move |index: usize| -> std::io::Result<Child> {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("runner-{index}.log")))?;
                Command::new(&runner)
                    .env("AWS_LAMBDA_RUNTIME_API", &api)
                    .env("AWS_LAMBDA_FUNCTION_NAME", &function)
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                    .env("STRATO_RUNNER_DIR", dir.join(format!("tmp-{index}")))
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
            }
        };
        let runners = (0..count)
            .map(&spawn)
            .collect::<std::io::Result<Vec<_>>>()?;
        let runners = Arc::new(Mutex::new(runners));
        let stopping = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (runners, stopping) = (runners.clone(), stopping.clone());
            std::thread::spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    for (index, runner) in lock(&runners).iter_mut().enumerate() {
                        if matches!(runner.try_wait(), Ok(Some(_))) {
                            if let Ok(again) = spawn(index) {
                                *runner = again;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Ok(RunnerFleet {
            runners,
            stopping,
            keeper: Some(keeper),
            dir: dir.to_path_buf(),
        })
    }

    /// Kills (SIGKILL) a runner that is running a worker now; whether there was one.
    pub fn kill_a_busy_runner(&self) -> bool {
        let mut runners = lock(&self.runners);
        let busy = runners
            .iter_mut()
            .find(|runner| !children_of(runner.id()).is_empty());
        match busy {
            Some(runner) => runner.kill().is_ok(),
            None => false,
        }
    }

    /// Everything the runners wrote.
    pub fn log(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
            }
        }
        text
    }
}

impl Drop for RunnerFleet {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        for runner in lock(&self.runners).iter_mut() {
            let _ = runner.kill();
            let _ = runner.wait();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The children of process `pid` (started by any of its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
    tasks
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|task| {
            let children = std::fs::read_to_string(task.path().join("children"));
            children
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
