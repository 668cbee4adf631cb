//! Reading records, for the `strato` command and for programs.

use strato_client::{Client, Error, ErrorKind};
use strato_proto::{Answer, Call, Op};

use crate::{tasks_list, JobRecord, TaskRecord, JOBS};

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Codec(e.to_string()))
}

/// Runs `op` on `name`; `None` if there is no such object.
fn op(client: &Client, name: String, op: Op) -> Result<Option<Answer>, Error> {
    match client.call(Call::Op { name, op }) {
        Ok(answer) => Ok(Some(answer)),
        Err(e) if e.server_kind() == Some(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

fn unexpected(answer: Answer) -> Error {
    Error::Protocol(format!("{answer:?}"))
}

/// Every job the server keeps, oldest first.
pub fn jobs(client: &Client) -> Result<Vec<JobRecord>, Error> {
    let mut jobs: Vec<JobRecord> = match op(client, JOBS.into(), Op::MapEntries)? {
        None => Vec::new(),
        Some(Answer::Pairs(pairs)) => pairs
            .iter()
            .map(|(_, value)| decode(value))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(unexpected(other)),
    };
    jobs.sort_by(|a, b| (a.submitted_us, &a.id).cmp(&(b.submitted_us, &b.id)));
    Ok(jobs)
}

/// The record of job `id`, if the server keeps it.
pub fn job(client: &Client, id: &str) -> Result<Option<JobRecord>, Error> {
    let key = postcard::to_stdvec(id).map_err(|e| Error::Codec(e.to_string()))?;
    match op(client, JOBS.into(), Op::MapGet(key.into()))? {
        None | Some(Answer::MaybeBlob(None)) => Ok(None),
        Some(Answer::MaybeBlob(Some(bytes))) => decode(&bytes).map(Some),
        Some(other) => Err(unexpected(other)),
    }
}

/// The records of the finished tasks of job `id`, in the order they finished.
pub fn tasks(client: &Client, id: &str) -> Result<Vec<TaskRecord>, Error> {
    match op(client, tasks_list(id), Op::ListRange(0, u64::MAX))? {
        None => Ok(Vec::new()),
        Some(Answer::Blobs(blobs)) => blobs.iter().map(|b| decode(b)).collect(),
        Some(other) => Err(unexpected(other)),
    }
}

/// The job that `name` designates: an exact id, `last` (the most recent job), or the end of
/// exactly one id (`M001` when only one executor's jobs are kept).
///
/// ```
/// use strato_jobs::{find, JobKind, JobRecord};
/// let a = JobRecord::new("aaa111-M000".into(), JobKind::Map, "f".into(), 1);
/// let b = JobRecord::new("bbb222-M000".into(), JobKind::Map, "f".into(), 1);
/// let c = JobRecord::new("bbb222-A001".into(), JobKind::Call, "f".into(), 1);
/// let all = vec![a, b, c];
/// assert_eq!(find(&all, "last").unwrap().id, "bbb222-A001");
/// assert_eq!(find(&all, "A001").unwrap().id, "bbb222-A001");
/// assert!(find(&all, "M000").is_err()); // two jobs end so
/// assert!(find(&all, "nope").is_err());
/// ```
pub fn find<'a>(jobs: &'a [JobRecord], name: &str) -> Result<&'a JobRecord, String> {
    if name == "last" {
        return jobs
            .last()
            .ok_or_else(|| "the server keeps no jobs".to_string());
    }
    if let Some(job) = jobs.iter().find(|j| j.id == name) {
        return Ok(job);
    }
    let matching: Vec<&JobRecord> = jobs.iter().filter(|j| j.id.ends_with(name)).collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no job `{name}` (see `strato jobs`)")),
        many => Err(format!(
            "`{name}` is ambiguous: {}",
            many.iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
