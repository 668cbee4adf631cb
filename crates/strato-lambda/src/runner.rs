//! The runner function's side: from an [`Invocation`] to one worker of the job and back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use strato_worker::exe::{die_with_parent, ExeCache};
use strato_worker::worker::{DEADLINE_ENV, EXIT_DEADLINE, EXIT_IDLE, IDLE_EXIT_ENV};

use crate::{Invocation, Ran, Stopped};

/// Why an invocation could not run its worker; the message reaches the driver.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The executable is for another OS or architecture.
    #[error("the driver's executable cannot run in this function: {0}")]
    Unrunnable(String),
    /// The executable could not be read from storage.
    #[error("cannot fetch the driver's executable {hash} from {url}: {reason}")]
    Fetch {
        /// Its hash.
        hash: String,
        /// Where it was looked for.
        url: String,
        /// The storage's error.
        reason: String,
    },
    /// The bytes in storage are not the executable asked for.
    #[error("the executable stored under {url}/{hash} does not have that hash: {reason}")]
    Corrupt {
        /// Its hash.
        hash: String,
        /// Where it was read.
        url: String,
        /// What the check found.
        reason: String,
    },
    /// The state server does not answer the function.
    #[error("the function cannot reach the state server at {address}: {reason}")]
    Unreachable {
        /// The address tried.
        address: String,
        /// The cause.
        reason: String,
    },
    /// The worker process could not start, or failed.
    #[error("the worker in the function failed: {0}")]
    Worker(String),
}

/// Runs invocations; keeps fetched executables in its cache directory across warm ones.
///
/// ```
/// let runner = strato_lambda::runner::Runner::new(std::env::temp_dir().join("strato-doc-runner"));
/// assert!(runner.cache_dir().ends_with("strato-doc-runner"));
/// ```
#[derive(Debug, Clone)]
pub struct Runner {
    cache: ExeCache,
    scratch: PathBuf,
}

impl Runner {
    /// A runner caching executables under `dir` (Lambda: somewhere in `/tmp`).
    pub fn new(dir: impl Into<PathBuf>) -> Runner {
        let dir = dir.into();
        Runner {
            cache: ExeCache::new(dir.join("exe")),
            scratch: dir,
        }
    }

    /// Where executables are kept.
    pub fn cache_dir(&self) -> &Path {
        &self.scratch
    }

    /// Runs one invocation: its worker stops before `deadline` (the runtime's, if it gave a
    /// usable one) and before the invocation's own timeout.
    pub fn run(
        &self,
        invocation: &Invocation,
        deadline: Option<SystemTime>,
    ) -> Result<Ran, RunnerError> {
        let began = Instant::now();
        if let Some(reason) = invocation.exe.unrunnable_here() {
            return Err(RunnerError::Unrunnable(reason));
        }
        let (exe, fetched) = self.obtain(invocation)?;
        let ca = self.write_ca(invocation)?;
        self.check_state(invocation, ca.as_deref())?;
        let deadline = effective_deadline(invocation, deadline);
        let stopped = self.work(invocation, &exe, ca.as_deref(), deadline)?;
        Ok(Ran {
            stopped,
            seconds: began.elapsed().as_secs_f64(),
            fetched,
        })
    }

    /// The executable, from the cache or from storage; whether it was fetched.
    fn obtain(&self, invocation: &Invocation) -> Result<(PathBuf, bool), RunnerError> {
        if let Some(path) = self.cache.lookup(&invocation.exe) {
            return Ok((path, false));
        }
        let (hash, url) = (&invocation.exe.hash, &invocation.exe_url);
        let fetch = |reason: String| RunnerError::Fetch {
            hash: hash.clone(),
            url: url.clone(),
            reason,
        };
        let storage = strato_storage::Storage::from_url(url).map_err(|e| fetch(e.to_string()))?;
        let bytes = storage.get(hash).map_err(|e| fetch(e.to_string()))?;
        let path =
            self.cache
                .insert(&invocation.exe, &bytes)
                .map_err(|e| RunnerError::Corrupt {
                    hash: hash.clone(),
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        Ok((path, true))
    }

    /// The CA certificate, written where the worker can read it.
    fn write_ca(&self, invocation: &Invocation) -> Result<Option<PathBuf>, RunnerError> {
        let Some(pem) = &invocation.ca_pem else {
            return Ok(None);
        };
        let path = self.scratch.join("ca.pem");
        std::fs::create_dir_all(&self.scratch)
            .and_then(|()| std::fs::write(&path, pem))
            .map_err(|e| RunnerError::Worker(format!("cannot write the CA file: {e}")))?;
        Ok(Some(path))
    }

    /// Fails early, with the cause, if the state server does not answer.
    fn check_state(&self, invocation: &Invocation, ca: Option<&Path>) -> Result<(), RunnerError> {
        let options = strato_client::ConnectOptions {
            token: invocation.token.clone(),
            timeout: Duration::from_secs(10),
            name: format!("lambda runner {}", invocation.worker),
            ca: ca.map(Path::to_path_buf),
            allow_plaintext: invocation.plaintext,
            ..Default::default()
        };
        strato_client::Client::connect_with(&invocation.state, options)
            .map(drop)
            .map_err(|e| RunnerError::Unreachable {
                address: invocation.state.clone(),
                reason: e.to_string(),
            })
    }

    /// Runs the executable as a worker of the job until it stops; why it stopped.
    fn work(
        &self,
        invocation: &Invocation,
        exe: &Path,
        ca: Option<&Path>,
        deadline: SystemTime,
    ) -> Result<Stopped, RunnerError> {
        let deadline_ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let mut command = Command::new(exe);
        let program = match invocation.exe.name.as_str() {
            "" => "strato-program",
            name => name,
        };
        std::os::unix::process::CommandExt::arg0(
            &mut command,
            strato_worker::worker::process_title(program, &invocation.worker),
        );
        command
            .env("STRATO_ROLE", "worker")
            .env("STRATO_STATE", &invocation.state)
            .env("STRATO_BOARD", &invocation.board)
            .env("STRATO_READY", &invocation.ready)
            .env("STRATO_SESSION", &invocation.session)
            .env("STRATO_WORKER_ID", &invocation.worker)
            .env(DEADLINE_ENV, deadline_ms.to_string())
            .env(IDLE_EXIT_ENV, invocation.idle_ms.to_string())
            .stdin(Stdio::null());
        if let Some(token) = &invocation.token {
            command.env("STRATO_TOKEN", token);
        }
        if let Some(ca) = ca {
            command.env("STRATO_TLS_CA", ca);
        }
        if invocation.plaintext {
            command.env("STRATO_PLAINTEXT", "1");
        }
        die_with_parent(&mut command);
        let status = command
            .status()
            .map_err(|e| RunnerError::Worker(format!("cannot start it: {e}")))?;
        match status.code() {
            Some(0) => Ok(Stopped::Shutdown),
            Some(EXIT_IDLE) => Ok(Stopped::Idle),
            Some(EXIT_DEADLINE) => Ok(Stopped::Deadline),
            _ => Err(RunnerError::Worker(format!(
                "it ended with {status}; see the function's log"
            ))),
        }
    }
}

/// The earlier of the runtime's deadline (when it is in the future) and the invocation's
/// own timeout from now.
fn effective_deadline(invocation: &Invocation, runtime: Option<SystemTime>) -> SystemTime {
    let own = SystemTime::now() + Duration::from_millis(invocation.timeout_ms);
    match runtime {
        Some(runtime) if runtime > SystemTime::now() => runtime.min(own),
        _ => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            state: "tcp://127.0.0.1:1".into(),
            token: None,
            ca_pem: None,
            plaintext: false,
            board: "b".into(),
            ready: String::new(),
            session: String::new(),
            worker: "lambda/0".into(),
            exe: strato_worker::exe::ExeRef::current().unwrap(),
            exe_url: "file:///nonexistent-strato-dir".into(),
            timeout_ms: 60_000,
            idle_ms: 1_000,
        }
    }

    #[test]
    fn a_past_runtime_deadline_is_replaced_by_the_invocations_timeout() {
        let past = std::time::UNIX_EPOCH + Duration::from_secs(600);
        let deadline = effective_deadline(&invocation(), Some(past));
        assert!(deadline > SystemTime::now() + Duration::from_secs(50));
        let soon = SystemTime::now() + Duration::from_secs(5);
        assert_eq!(effective_deadline(&invocation(), Some(soon)), soon);
    }

    #[test]
    fn an_executable_for_another_platform_or_missing_from_storage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("strato-runner-{}", std::process::id()));
        let runner = Runner::new(&dir);
        let mut foreign = invocation();
        foreign.exe.arch = "sparc64".into();
        let error = runner.run(&foreign, None).unwrap_err();
        assert!(error.to_string().contains("sparc64"), "{error}");
        let error = runner.run(&invocation(), None).unwrap_err();
        assert!(matches!(error, RunnerError::Fetch { .. }), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
