//! What travels inside a task: the body a driver submits and the result a worker reports.
//! Arguments and results travel inline up to a size limit and as blobs on the state above it.

use serde::{Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::Blob;

use crate::blob::{self, StoredBlob};
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
    /// Results larger than this many bytes go through a blob on the state.
    pub inline_limit: u64,
}

/// Bytes inline, or the name of the blob on the state that holds them (see [`crate::blob`]).
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let client = strato_client::Client::connect(&server.address().to_string()).unwrap();
/// use strato_worker::wire::Payload;
/// let (small, kept) = Payload::store(&client, vec![1, 2, 3], 1024, "doc.small").unwrap();
/// assert!(kept.is_none());
/// assert_eq!(small.load(&client).unwrap(), vec![1, 2, 3]);
/// let (large, kept) = Payload::store(&client, vec![9; 2048], 1024, "doc.large").unwrap();
/// assert_eq!((large.len(), large.load(&client).unwrap()), (2048, vec![9; 2048]));
/// drop(kept);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Payload {
    /// The bytes themselves.
    Inline(Blob),
    /// A blob on the state.
    Blob {
        /// Its name.
        name: String,
        /// Its length.
        len: u64,
    },
}

impl Payload {
    /// Keeps `bytes` inline up to `limit`, else writes them to the blob `name`, which lives
    /// while the returned [`StoredBlob`] does.
    pub fn store(
        client: &Client,
        bytes: Vec<u8>,
        limit: u64,
        name: &str,
    ) -> Result<(Payload, Option<StoredBlob>), Error> {
        if bytes.len() as u64 <= limit {
            return Ok((Payload::Inline(Blob::from(bytes)), None));
        }
        let stored = blob::put(client, name, &bytes)?;
        let payload = Payload::Blob {
            name: name.to_string(),
            len: bytes.len() as u64,
        };
        Ok((payload, Some(stored)))
    }

    /// The bytes, read from their blob if stored.
    pub fn load(&self, client: &Client) -> Result<Vec<u8>, Error> {
        match self {
            Payload::Inline(bytes) => Ok(bytes.to_vec()),
            Payload::Blob { name, len } => blob::get(client, name, *len),
        }
    }

    /// The bytes of a payload whose blob was lent to the reader (a result), after which the
    /// blob is collected.
    pub fn adopt(&self, client: &Client) -> Result<Vec<u8>, Error> {
        match self {
            Payload::Inline(bytes) => Ok(bytes.to_vec()),
            Payload::Blob { name, len } => blob::adopt(client, name, *len),
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(bytes) => bytes.len() as u64,
            Payload::Blob { len, .. } => *len,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// The encoded results (a `Vec<Blob>`, one per item) or why there are none.
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
