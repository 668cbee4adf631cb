//! Real cluster parts for tests: `strato serve` and `strato worker` processes, and the
//! examples run as drivers against them. Every process is killed when its guard drops.

#![allow(dead_code)]

pub mod netns;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The target directory's `debug` (or `release`) folder this test runs from.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The `strato` binary, built first if this test run did not build it.
pub fn strato_bin() -> PathBuf {
    workspace_bin("strato-cli", "strato")
}

/// Binary `name` of workspace package `package`, built first if this test run did not build
/// it (`cargo test` builds another package's binaries only when that package has tests).
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bin", name])
            .status()
            .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
        assert!(status.success(), "cannot build the {name} binary");
    }
    path
}

/// An example's binary (`cargo test` builds them).
pub fn example(name: &str) -> PathBuf {
    let path = profile_dir().join("examples").join(name);
    assert!(
        path.exists(),
        "example {name} is not built: run `cargo test -p strato`"
    );
    path
}

/// The Python that `scripts/test` builds strato's package into (`target/tools/python`), if
/// it is there and imports strato; the Python tests say why they skip otherwise.
pub fn strato_python() -> Option<PathBuf> {
    let python = venv_python();
    let imports = Command::new(&python)
        .args(["-c", "import strato._native"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !imports {
        eprintln!(
            "SKIPPED (no Python with strato at {}: scripts/test builds it)",
            python.display()
        );
    }
    imports.then_some(python)
}

/// Where `scripts/test` makes its Python venv (which may not exist).
pub fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/python/bin/python")
}

/// A Python program run by `python` as a driver on `serve` with `hosts` compute.
pub fn python_driver_command(
    prefix: &[&str],
    serve: &Serve,
    python: &Path,
    script: &Path,
    args: &[&str],
) -> Command {
    let mut command = wrapped(prefix, python);
    command.arg(script).args(args);
    on_hosts(&mut command, serve);
    command
}

/// Makes `command` a driver whose state is `serve` and whose compute is `hosts`.
fn on_hosts(command: &mut Command, serve: &Serve) {
    command
        .env("STRATO_STATE", &serve.address)
        .env("STRATO_TOKEN", &serve.token)
        .env("STRATO_COMPUTE", "hosts")
        .env_remove("STRATO_CONFIG");
}

/// A file of the Python package's tree (`python/…`).
pub fn python_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../python")
        .join(path)
}

/// The first line of `child`'s stdout that starts with `prefix`, within `limit`.
pub fn wait_for_line(child: &mut Child, prefix: &str, limit: Duration) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent && line.contains(&prefix) {
                sent = tx.send(line).is_ok();
            }
        }
    });
    rx.recv_timeout(limit).ok()
}

/// A process killed when dropped.
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `strato serve` on a TCP port chosen by the system.
pub struct Serve {
    pub process: Guard,
    pub address: String,
    pub token: String,
    /// Where it caches the executables that host user-defined objects.
    pub cache: tempfile::TempDir,
}

impl Serve {
    /// Starts one listening on `ip` (port 0) with a token; `prefix` runs it (`ip netns exec
    /// NAME`), if given.
    pub fn start_on(prefix: &[&str], ip: &str) -> Serve {
        Serve::start_with(prefix, ip, &[])
    }

    /// [`Serve::start_on`] with more flags (`--tls-cert …`).
    pub fn start_with(prefix: &[&str], ip: &str, flags: &[&str]) -> Serve {
        let token = format!("test-token-{}", std::process::id());
        let cache = tempfile::tempdir().expect("a cache directory");
        let mut command = wrapped(prefix, &strato_bin());
        command
            .args(["serve", "--listen", &format!("{ip}:0"), "--token", &token])
            .arg("--cache")
            .arg(cache.path())
            .args(flags)
            .stdout(Stdio::piped());
        let mut child = command.spawn().expect("start strato serve");
        let line = wait_for_line(&mut child, "listening on ", Duration::from_secs(30))
            .expect("strato serve printed no readiness line");
        let address = line.trim_start_matches("listening on ").trim().to_string();
        Serve {
            process: Guard(child),
            address,
            token,
            cache,
        }
    }

    pub fn start() -> Serve {
        Serve::start_on(&[], "127.0.0.1")
    }
}

/// A `strato worker` host daemon.
pub struct Host {
    pub process: Guard,
    pub name: String,
    pub cache: PathBuf,
}

/// How to start a host.
pub struct HostSpec<'a> {
    pub name: &'a str,
    pub connect: &'a str,
    pub token: &'a str,
    pub slots: u32,
    pub cache: &'a Path,
    pub prefix: &'a [&'a str],
    /// The CA file to trust the server's certificate with.
    pub ca: Option<&'a Path>,
    /// Whether the token may cross the network in clear text (`STRATO_PLAINTEXT=1`).
    pub plaintext: bool,
    /// The Python that runs Python drivers' workers (`--python`).
    pub python: Option<&'a Path>,
}

impl Host {
    /// Starts a daemon and waits until it joined the hosts board.
    pub fn start(spec: HostSpec<'_>) -> Host {
        let mut child = Host::spawn(&spec)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start host");
        let ready = wait_for_line(&mut child, "strato worker: host ", Duration::from_secs(30));
        assert!(ready.is_some(), "host {} never became ready", spec.name);
        Host {
            process: Guard(child),
            name: spec.name.to_string(),
            cache: spec.cache.to_path_buf(),
        }
    }

    /// The daemon's command, not started.
    pub fn spawn(spec: &HostSpec<'_>) -> Command {
        let mut command = wrapped(spec.prefix, &strato_bin());
        command.args([
            "worker",
            "--connect",
            spec.connect,
            "--token",
            spec.token,
            "--slots",
            &spec.slots.to_string(),
            "--name",
            spec.name,
            "--cache",
            spec.cache.to_str().unwrap(),
        ]);
        command.env_remove("STRATO_TLS_CA");
        if spec.plaintext {
            command.env("STRATO_PLAINTEXT", "1");
        }
        if let Some(ca) = spec.ca {
            command.arg("--ca").arg(ca);
        }
        if let Some(python) = spec.python {
            command.arg("--python").arg(python);
        }
        command
    }

    /// The processes whose executable lies in this host's cache (its workers).
    pub fn workers(&self) -> Vec<u32> {
        processes_running_from(&self.cache)
    }
}

/// `program` run under `prefix` (a command such as `ip netns exec NAME`), or directly.
pub fn wrapped(prefix: &[&str], program: &Path) -> Command {
    match prefix.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
    }
}

/// Pids of live processes whose executable is a file under `dir`.
pub fn processes_running_from(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if !zombie && exe.starts_with(&dir) {
            pids.push(pid);
        }
    }
    pids
}

/// SIGKILL through `kill(1)`, so the tests need no `unsafe`.
pub fn sigkill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// Polls `condition` until it holds or `limit` passes; whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs an example as a driver whose state is `serve` and whose compute is `hosts`.
pub fn run_on_hosts(prefix: &[&str], serve: &Serve, name: &str, args: &[&str]) -> Output {
    driver_command(prefix, serve, name, args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// The command of an example run as a driver on `serve` with `hosts` compute.
pub fn driver_command(prefix: &[&str], serve: &Serve, name: &str, args: &[&str]) -> Command {
    let mut command = wrapped(prefix, &example(name));
    command.args(args);
    on_hosts(&mut command, serve);
    command
}

/// The example's output with the state embedded and local workers (what it prints locally).
pub fn run_locally(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .env_remove("STRATO_STATE")
        .env_remove("STRATO_COMPUTE")
        .env_remove("STRATO_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// The stdout lines that start with `prefix`.
pub fn lines_with(output: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Both streams, for assertion messages.
pub fn both(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A generated corpus of `files` files of about `bytes` bytes each, under `dir`.
pub fn corpus(dir: &std::path::Path, files: u32, bytes: u32) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    let generated = std::process::Command::new(example("gen_corpus"))
        .args(["--out", corpus.to_str().unwrap()])
        .args(["--files", &files.to_string(), "--bytes", &bytes.to_string()])
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", both(&generated));
    corpus
}
