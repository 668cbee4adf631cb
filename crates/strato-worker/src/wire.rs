//! What travels inside a task: the body a driver submits and the result a worker reports.
//! Arguments and results travel inline up to a size limit and as files in the job's data
//! directory above it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strato_proto::ByteBuf;

use crate::func::FnRef;

/// A task as workers see it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskBody {
    /// The job it belongs to (for logs and traces).
    pub job: std::sync::Arc<str>,
    /// What to run.
    pub func: FnRef,
    /// The encoded chunk of arguments.
    pub input: Payload,
    /// How long the run may take, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Results larger than this many bytes go through the data directory (the workers know it
    /// from their environment, so it is not repeated in every task).
    pub inline_limit: u64,
}

/// Bytes inline, or the file holding them.
///
/// ```
/// use strato_worker::wire::Payload;
/// let payload = Payload::store(vec![1, 2, 3], 1024, std::path::Path::new("/nonexistent"), "x").unwrap();
/// assert_eq!((payload.len(), payload.load().unwrap()), (3, vec![1, 2, 3]));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Payload {
    /// The bytes themselves.
    Inline(ByteBuf),
    /// A file of the data directory.
    Stored {
        /// Its path.
        path: String,
        /// Its length.
        len: u64,
    },
}

impl Payload {
    /// Keeps `bytes` inline up to `limit`, else writes them to `dir/name`.
    pub fn store(bytes: Vec<u8>, limit: u64, dir: &Path, name: &str) -> std::io::Result<Payload> {
        if bytes.len() as u64 <= limit {
            return Ok(Payload::Inline(ByteBuf::from(bytes)));
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes)?;
        Ok(Payload::Stored {
            path: path.to_string_lossy().into_owned(),
            len: bytes.len() as u64,
        })
    }

    /// The bytes, read from their file if stored.
    pub fn load(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Payload::Inline(bytes) => Ok(bytes.to_vec()),
            Payload::Stored { path, .. } => std::fs::read(path),
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(bytes) => bytes.len() as u64,
            Payload::Stored { len, .. } => *len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file, if stored.
    pub fn file(&self) -> Option<PathBuf> {
        match self {
            Payload::Inline(_) => None,
            Payload::Stored { path, .. } => Some(PathBuf::from(path)),
        }
    }
}

/// How a run ended on the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Failure {
    /// The function panicked.
    Panicked {
        /// The panic message.
        message: String,
        /// The backtrace, when the worker captured one.
        backtrace: Option<String>,
    },
    /// The run outlived its timeout; the worker was restarted.
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// An argument or result could not be decoded, encoded, read or written.
    Data(String),
}

/// Times and sizes of one run, measured on the worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Which worker ran it.
    pub worker: String,
    /// Microseconds since the Unix epoch when the run started.
    pub started_us: u64,
    /// Microseconds since the Unix epoch when the run ended.
    pub finished_us: u64,
    /// Bytes of the argument chunk.
    pub bytes_in: u64,
    /// Bytes of the result chunk.
    pub bytes_out: u64,
}

/// What a worker reports for a task.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerResult {
    /// The encoded results (a `Vec<ByteBuf>`, one per item) or why there are none.
    pub outcome: Result<Payload, Failure>,
    /// The run's measurements.
    pub stats: RunStats,
    /// What the run wrote to standard output (the first bytes, see `capture::KEEP`).
    pub stdout: String,
    /// What it wrote to standard error (likewise).
    pub stderr: String,
}

/// Microseconds since the Unix epoch.
///
/// ```
/// assert!(strato_worker::wire::now_us() > 1_600_000_000_000_000);
/// ```
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_stay_inline_and_large_ones_go_to_files() {
        let dir = std::env::temp_dir();
        let small = Payload::store(vec![1; 10], 10, &dir, "unused").unwrap();
        assert!(small.file().is_none());
        let name = format!("strato-payload-{}", std::process::id());
        let large = Payload::store(vec![7; 11], 10, &dir, &name).unwrap();
        let file = large.file().expect("stored");
        assert_eq!((large.len(), large.load().unwrap()), (11, vec![7; 11]));
        std::fs::remove_file(file).unwrap();
    }
}
