//! A real S3-compatible server for tests: `s3s-fs` (crates.io; scripts/test installs it)
//! over a temporary directory, started on loopback port 0; it announces its address once it
//! listens. Shared by strato-storage's and strato's tests (`#[path]`-included).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use strato_storage::{Storage, StorageError};

pub const BUCKET: &str = "strato-test";
pub const ACCESS_KEY: &str = "strato-access";
pub const SECRET_KEY: &str = "strato-secret-key";

/// A running `s3s-fs` over a temporary directory; killed when dropped.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    _root: tempfile::TempDir,
}

/// What to do when the server is missing.
const INSTALL: &str = "it is not installed: run scripts/test, which installs it \
    (`cargo install s3s-fs --version 0.14.1 --features binary --locked`), or set S3S_FS to its path";

/// The `s3s-fs` binary: `$S3S_FS`, else on `PATH`, else in cargo's bin directory.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("S3S_FS").map(PathBuf::from) {
        assert!(
            path.is_file(),
            "S3S_FS={} is not a file: {INSTALL}",
            path.display()
        );
        return path;
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let candidates = path_dirs
        .into_iter()
        .chain(cargo_home.map(|h| h.join("bin")));
    candidates
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the S3 tests need the `s3s-fs` server: {INSTALL}"))
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut child = Command::new(server_binary())
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start s3s-fs: {e}"));
        let stdout = child.stdout.take().unwrap();
        let endpoint = announced_address(stdout, &mut child);
        S3Server {
            child,
            endpoint,
            _root: root,
        }
    }

    /// A storage over `s3://strato-test/<prefix>` with explicit credentials.
    pub fn storage(&self, prefix: &str) -> Storage {
        self.storage_with_secret(prefix, SECRET_KEY).unwrap()
    }

    pub fn storage_with_secret(&self, prefix: &str, secret: &str) -> Result<Storage, StorageError> {
        Storage::from_url_with_options(
            &format!("s3://{BUCKET}/{prefix}"),
            [
                ("aws_endpoint", self.endpoint.as_str()),
                ("aws_access_key_id", ACCESS_KEY),
                ("aws_secret_access_key", secret),
                ("aws_region", "us-east-1"),
                ("aws_allow_http", "true"),
            ],
        )
    }
}

/// Waits (up to 30 s) for the server's "server is running at http://ADDR" line; keeps
/// draining its output afterwards so it never blocks on a full pipe.
fn announced_address(stdout: std::process::ChildStdout, child: &mut Child) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find("server is running at http://") {
                let rest = &line[at + "server is running at ".len()..];
                let address = rest.split_whitespace().next().unwrap_or(rest).to_string();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(address);
                }
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(address) => address,
        Err(_) => {
            let _ = child.kill();
            panic!("s3s-fs did not announce its address within 30 s")
        }
    }
}

impl S3Server {
    /// The `AWS_*` environment that points a process at this server.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
