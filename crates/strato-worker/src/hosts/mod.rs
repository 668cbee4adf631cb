//! Worker hosts: `strato worker --connect ADDR` daemons that start workers for any driver.
//!
//! The daemons and the drivers meet on one task board of the state, [`HOSTS_BOARD`], whose
//! "tasks" are requests for workers ([`HostRequest`]). A daemon with a free slot takes one
//! request (leased to it: if the daemon dies, another host gets the request), starts the
//! request's [`Program`] in the worker role — the driver's executable fetched by hash
//! ([`crate::exe`]), or the host's Python running `python -m strato._worker` — and answers
//! the driver ([`HostReport`]). A request for several workers goes back to the end of the
//! board with one worker fewer, so concurrent drivers are served in turn.

pub(crate) mod daemon;
mod python;

use serde::{Deserialize, Serialize};

use crate::exe::ExeRef;

pub use daemon::{Daemon, DaemonError, DaemonOptions};

/// The board where drivers ask hosts for workers.
pub const HOSTS_BOARD: &str = "strato.hosts";
/// The version of the request format, checked when a daemon joins the board.
pub const HOSTS_PROTOCOL: &str = "strato-hosts/2";

/// What a host runs as a request's workers.
///
/// ```
/// use strato_worker::hosts::{Program, PythonProgram};
/// let exe = Program::Exe(strato_worker::exe::ExeRef::current().unwrap());
/// assert!(exe.describe().contains("executable"));
/// let python = Program::Python(PythonProgram {
///     identity: "python3.11:ab12".into(),
///     files: vec![("pi.py".into(), b"print(1)".to_vec())],
///     env: vec![],
/// });
/// assert_eq!(python.describe(), "Python (python3.11:ab12)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Program {
    /// The driver's executable, fetched by hash and started in the worker role.
    Exe(ExeRef),
    /// The host's Python (`strato worker --python`) running `python -m strato._worker`.
    Python(PythonProgram),
}

impl Program {
    /// What it is, for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Program::Exe(exe) => format!("the executable {} ({})", exe.name, &exe.hash[..12]),
            Program::Python(python) => format!("Python ({})", python.identity),
        }
    }
}

/// The Python workers of a Python driver, as a host starts them.
///
/// The host's Python must have the driver's build of strato's native module (the same wheel)
/// under the same minor version of Python: that is its `identity`, which the daemon checks
/// before it starts a worker, and the task board checks again when the worker joins. The
/// driver's main script travels in `files` (its other modules must be importable on the
/// host, as in Lithops' runtimes); the workers run in a directory holding them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonProgram {
    /// What `strato._native.identity()` must say on the host: `python3.11:<build id>`.
    pub identity: String,
    /// Files written into the workers' working directory: (file name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// Environment variables the workers get besides strato's own.
    pub env: Vec<(String, String)>,
}

/// A driver's request for workers.
///
/// ```
/// use strato_worker::hosts::HostRequest;
/// let request = HostRequest {
///     board: "b".into(), ready: "b.ready".into(), session: "b.driver".into(),
///     program: strato_worker::hosts::Program::Exe(strato_worker::exe::ExeRef::current().unwrap()),
///     reply_to: "b.hosts".into(),
///     want: 2, first_index: 0,
/// };
/// assert_eq!(request.next().unwrap().want, 1);
/// assert!(request.next().unwrap().next().is_none());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRequest {
    /// The task board the workers serve.
    pub board: String,
    /// The executor's ready latch (the driver counts a worker down when a host started it).
    pub ready: String,
    /// The driver's session mutex (see [`crate::session`]).
    pub session: String,
    /// What the workers run.
    pub program: Program,
    /// The queue the host's [`HostReport`]s go to.
    pub reply_to: String,
    /// Workers still wanted.
    pub want: u32,
    /// The index of the first of them among the executor's workers.
    pub first_index: u32,
}

impl HostRequest {
    /// The request for the rest, once one worker was started.
    pub fn next(&self) -> Option<HostRequest> {
        (self.want > 1).then(|| HostRequest {
            want: self.want - 1,
            first_index: self.first_index + 1,
            ..self.clone()
        })
    }
}

/// A host's answer to one request.
///
/// ```
/// let report = strato_worker::hosts::HostReport::Refused { host: "h1".into(), reason: "no".into() };
/// assert!(matches!(report, strato_worker::hosts::HostReport::Refused { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostReport {
    /// A worker was started.
    Started {
        /// The host's name.
        host: String,
        /// The worker's index among the executor's workers.
        index: u32,
    },
    /// The host cannot start workers for this driver.
    Refused {
        /// The host's name.
        host: String,
        /// Why, for the driver's error.
        reason: String,
    },
}
