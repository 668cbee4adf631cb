//! Writing records: one job's record and its task records, without waiting for answers.

use std::sync::atomic::{AtomicUsize, Ordering};

use strato_client::{Client, Error};
use strato_proto::{Blob, Call, Init, Op, Role};

use crate::{tasks_list, JobRecord, TaskRecord, JOBS};

/// The largest batch of task records sent in one frame, in bytes.
const BATCH_BYTES: usize = 1 << 20;

/// Writes job records for one executor: [`Recorder::begin`] when a job is submitted,
/// [`Recorder::update`] as its tasks finish. Both send without waiting for answers, so
/// recording costs one write per job and per batch of finished tasks. Every `keep / 10`
/// finished jobs (at least every one), an update also forgets the oldest jobs beyond the
/// number kept, so that at most 10 % more than `keep` jobs are kept for a moment.
#[derive(Debug)]
pub struct Recorder {
    client: Client,
    keep: usize,
    finished: AtomicUsize,
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Blob, Error> {
    postcard::to_stdvec(value)
        .map(Blob::from)
        .map_err(|e| Error::Codec(e.to_string()))
}

fn open(name: String, init: Init) -> Call {
    Call::Open {
        name,
        init,
        persistent: true,
        role: Role::Handle,
    }
}

/// What changed about one job since the last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUpdate {
    /// The job's record now.
    pub job: JobRecord,
    /// Whether the job is new (its task list is created).
    pub begun: bool,
    /// Records of its tasks that finished since.
    pub tasks: Vec<TaskRecord>,
}

impl Recorder {
    /// A recorder that keeps the `keep` most recent jobs of the server (at least 1).
    pub fn new(client: Client, keep: usize) -> Result<Recorder, Error> {
        client.call(open(JOBS.into(), Init::Map))?;
        Ok(Recorder {
            client,
            keep: keep.max(1),
            finished: AtomicUsize::new(0),
        })
    }

    /// Records a new job and its empty task list.
    pub fn begin(&self, job: &JobRecord) -> Result<(), Error> {
        self.write(&[JobUpdate {
            job: job.clone(),
            begun: true,
            tasks: Vec::new(),
        }])
    }

    /// Records the job's new counts and appends the records of tasks that finished; once
    /// the job is finished, may forget the oldest jobs beyond the number kept (see above).
    pub fn update(&self, job: &JobRecord, finished: &[TaskRecord]) -> Result<(), Error> {
        self.write(&[JobUpdate {
            job: job.clone(),
            begun: false,
            tasks: finished.to_vec(),
        }])
    }

    /// Writes several jobs' changes in one go (see [`Recorder::begin`] and
    /// [`Recorder::update`]).
    pub fn write(&self, updates: &[JobUpdate]) -> Result<(), Error> {
        let mut calls = Vec::new();
        for update in updates {
            if update.begun {
                calls.push(open(tasks_list(&update.job.id), Init::List));
            }
            self.append(&update.job, &update.tasks, &mut calls)?;
            calls.push(self.insert(&update.job)?);
        }
        self.client.cast_all(calls)?;
        let finished = updates.iter().filter(|u| u.job.is_finished()).count();
        let before = self.finished.fetch_add(finished, Ordering::Relaxed);
        let every = (self.keep / 10).max(1);
        match before / every != (before + finished) / every {
            true => self.forget_old(),
            false => Ok(()),
        }
    }

    fn append(
        &self,
        job: &JobRecord,
        tasks: &[TaskRecord],
        calls: &mut Vec<Call>,
    ) -> Result<(), Error> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for task in tasks {
            let blob = encode(task)?;
            bytes += blob.len();
            batch.push(blob);
            if bytes >= BATCH_BYTES {
                calls.push(self.extend(job, std::mem::take(&mut batch)));
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            calls.push(self.extend(job, batch));
        }
        Ok(())
    }

    fn insert(&self, job: &JobRecord) -> Result<Call, Error> {
        Ok(Call::Op {
            name: JOBS.into(),
            op: Op::MapInsert(encode(&job.id)?, encode(job)?),
        })
    }

    fn extend(&self, job: &JobRecord, blobs: Vec<Blob>) -> Call {
        Call::Op {
            name: tasks_list(&job.id),
            op: Op::ListExtend(blobs),
        }
    }

    /// Deletes the records of the oldest jobs beyond the number kept.
    fn forget_old(&self) -> Result<(), Error> {
        let count = match self.client.call(Call::Op {
            name: JOBS.into(),
            op: Op::MapLen,
        })? {
            strato_proto::Answer::Count(n) => n as usize,
            other => return Err(Error::Protocol(format!("{other:?}"))),
        };
        if count <= self.keep {
            return Ok(());
        }
        let mut all = crate::jobs(&self.client)?;
        all.truncate(all.len().saturating_sub(self.keep));
        let calls = all.iter().flat_map(|old| {
            let key = encode(&old.id).unwrap_or_default();
            [
                Call::Op {
                    name: JOBS.into(),
                    op: Op::MapRemove(key),
                },
                Call::Delete {
                    name: tasks_list(&old.id),
                },
            ]
        });
        self.client.cast_all(calls.collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobKind;

    #[test]
    fn keeps_only_the_most_recent_jobs_and_their_task_lists() {
        let server = strato_server::start(Default::default()).unwrap();
        let client = Client::connect(&server.address().to_string()).unwrap();
        let recorder = Recorder::new(client.clone(), 3).unwrap();
        for n in 0..5u64 {
            let mut job = JobRecord::new(format!("t-M{n:03}"), JobKind::Map, "f".into(), 1);
            job.submitted_us += n; // distinct, increasing
            recorder.begin(&job).unwrap();
            job.finished_us = Some(job.submitted_us + 1);
            let task = TaskRecord {
                task: n,
                ..TaskRecord::default()
            };
            recorder.update(&job, &[task]).unwrap();
        }
        let ids: Vec<String> = crate::jobs(&client)
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, ["t-M002", "t-M003", "t-M004"]);
        assert_eq!(crate::tasks(&client, "t-M004").unwrap()[0].task, 4);
        assert!(crate::tasks(&client, "t-M000").unwrap().is_empty());
        let exists = client.call(Call::Exists {
            name: tasks_list("t-M000"),
        });
        assert_eq!(exists, Ok(strato_proto::Answer::Bool(false)));
    }
}
