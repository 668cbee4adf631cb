//! What [`Executor::plot`](super::Executor::plot) and [`Executor::logs`](super::Executor::logs)
//! gather from futures: one entry per task, items of one chunk counted once.

use std::collections::HashSet;
use std::time::SystemTime;

use strato_plot::Span;

use super::future::{ResponseFuture, TaskLogs, TaskStatus};

fn micros(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The spans of the tasks behind `futures` that ran on a worker, in input order.
pub(crate) fn spans<R>(futures: &[ResponseFuture<R>]) -> Vec<Span> {
    let mut seen = HashSet::new();
    futures
        .iter()
        .filter(|f| seen.insert((f.job.id.to_string(), f.slot.task())))
        .filter_map(|f| {
            let stats = f.slot.stats()?;
            Some(Span {
                task: f.slot.task(),
                worker: stats.worker.clone(),
                submitted_us: micros(stats.submitted),
                started_us: micros(stats.started),
                finished_us: micros(stats.finished),
                received_us: Some(micros(stats.received)),
                failed: f.slot.status() == TaskStatus::Failed,
            })
        })
        .collect()
}

/// The logs of the tasks behind `futures` that reported, in input order.
pub(crate) fn logs<R>(futures: &[ResponseFuture<R>]) -> Vec<TaskLogs> {
    let mut seen = HashSet::new();
    futures
        .iter()
        .filter_map(|f| f.slot.logs(&f.job.id))
        .filter(|logs| seen.insert((logs.job.clone(), logs.task)))
        .map(|logs| (*logs).clone())
        .collect()
}

/// "job ID", or how many jobs the futures span.
pub(crate) fn title<R>(futures: &[ResponseFuture<R>]) -> String {
    let jobs: HashSet<&str> = futures.iter().map(|f| &*f.job.id).collect();
    match jobs.len() {
        1 => format!("job {}", futures[0].job.id),
        n => format!("{n} jobs"),
    }
}
