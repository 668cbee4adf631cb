//! Job records kept on the state server, so that `strato jobs`, `strato logs` and
//! `strato plot` can show what a program's executor did without that program's binary.
//!
//! Every `map`, `call_async` or `map_reduce` of an executor is a **job** with an id such as
//! `3fa9c2-M001` (the executor, then `A` for `call_async`, `M` for `map`, `R` for
//! `map_reduce`, and a counter). The executor writes:
//!
//! | object (persistent) | type | holds |
//! |---|---|---|
//! | [`JOBS`] | `Map<String, JobRecord>` | one [`JobRecord`] per job id: counts and times |
//! | [`tasks_list`]`(id)` | `List<TaskRecord>` | one [`TaskRecord`] per finished task: stats and logs |
//!
//! Keys and values are postcard-encoded, as `strato::sync::Map` and `List` encode them, so a
//! program can also open them as `Map<String, JobRecord>` and `List<TaskRecord>`. The
//! object names carry the schema's version ([`SCHEMA`]): a later schema writes elsewhere
//! instead of confusing readers of this one. Only the [`DEFAULT_KEEP`] most recent jobs are
//! kept (configurable per executor): as jobs finish, the oldest beyond that number are
//! deleted (checked every tenth of that number of jobs, see [`Recorder`]).
//!
//! ```
//! use strato_jobs::{JobKind, JobRecord, Recorder, TaskRecord};
//!
//! let server = strato_server::start(Default::default()).unwrap();
//! let client = strato_client::Client::connect(&server.address().to_string()).unwrap();
//! let recorder = Recorder::new(client.clone(), 10).unwrap();
//! let mut job = JobRecord::new("abc123-M000".into(), JobKind::Map, "demo::square".into(), 1);
//! recorder.begin(&job).unwrap();
//! job.done = 1;
//! let task = TaskRecord { task: 7, stdout: "hello\n".into(), ..TaskRecord::default() };
//! recorder.update(&job, &[task]).unwrap();
//!
//! let jobs = strato_jobs::jobs(&client).unwrap();
//! assert_eq!((jobs[0].id.as_str(), jobs[0].done), ("abc123-M000", 1));
//! let tasks = strato_jobs::tasks(&client, "abc123-M000").unwrap();
//! assert_eq!(tasks[0].stdout, "hello\n");
//! ```

mod read;
mod record;
mod schema;

pub use read::{find, job, jobs, tasks};
pub use record::{JobUpdate, Recorder};
pub use schema::{JobKind, JobRecord, TaskRecord};

/// The version of the records' schema, part of every object name.
pub const SCHEMA: u32 = 1;

/// The map of job records, by job id.
pub const JOBS: &str = "strato.jobs.v1";

/// How many jobs are kept unless an executor says otherwise.
pub const DEFAULT_KEEP: usize = 100;

/// The list of task records of job `id`.
///
/// ```
/// assert_eq!(strato_jobs::tasks_list("abc-M000"), "strato.jobs.v1.abc-M000.tasks");
/// ```
pub fn tasks_list(id: &str) -> String {
    format!("{JOBS}.{id}.tasks")
}

/// Microseconds since the Unix epoch.
///
/// ```
/// assert!(strato_jobs::now_us() > 1_600_000_000_000_000);
/// ```
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
