//! A private `redis-server` for the baselines: listens only on a Unix socket in a temporary
//! directory, ready when it logs so, stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl RedisServer {
    /// Starts one (from `PATH`); fails with a hint if Redis is not installed.
    pub fn start() -> anyhow::Result<RedisServer> {
        let dir = std::env::temp_dir().join(format!("strato-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("redis.sock");
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                "",
            ])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start redis-server ({e}); run scripts/test, which installs it"
                )
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("eady to accept connections"));
        anyhow::ensure!(ready, "redis-server exited before it was ready");
        std::thread::spawn(move || lines.for_each(drop));
        Ok(RedisServer { child, dir, socket })
    }

    /// Its URL (`unix:///…`).
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A new connection.
    pub fn connect(&self) -> anyhow::Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
