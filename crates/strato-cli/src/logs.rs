//! `strato logs JOB`: what a job's tasks wrote, and why the failed ones failed.

use strato_jobs::{JobRecord, TaskRecord};

use crate::flags::LogsArgs;
use crate::jobs::{kind, status};

/// Prints the job's summary, then each task's output and error, in task order.
pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let client = args.server.client()?;
    let jobs = strato_jobs::jobs(&client)?;
    let job = strato_jobs::find(&jobs, &args.job).map_err(anyhow::Error::msg)?;
    let mut tasks = strato_jobs::tasks(&client, &job.id)?;
    tasks.sort_by_key(|t| t.index);
    println!("{}", summary(job));
    for task in tasks.iter().filter(|t| !args.failed || t.error.is_some()) {
        print!("{}", section(task));
    }
    Ok(())
}

fn summary(job: &JobRecord) -> String {
    format!(
        "job {}: {} of {} by {}; {} tasks, {} done, {} failed; {} after {:.3} s",
        job.id,
        kind(job.kind),
        job.function,
        job.driver,
        job.tasks,
        job.done,
        job.failed,
        status(job),
        job.seconds()
    )
}

/// One task's header, output and error.
fn section(task: &TaskRecord) -> String {
    let ran = task.finished_us.saturating_sub(task.started_us) as f64 / 1e6;
    let worker = match task.worker.as_str() {
        "" => "none",
        w => w,
    };
    let mut text = format!(
        "--- task {} (id {}, {} items, worker {worker}, ran {ran:.3} s, {} retries)\n",
        task.index, task.task, task.items, task.retries
    );
    for (name, body) in [("stdout", &task.stdout), ("stderr", &task.stderr)] {
        if !body.is_empty() {
            text.push_str(&format!("[{name}]\n{body}"));
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    if let Some(error) = &task.error {
        text.push_str(&format!("[error] {error}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_shows_only_what_there_is() {
        let task = TaskRecord {
            index: 2,
            task: 9,
            items: 1,
            worker: "0/77".into(),
            stdout: "hi".into(),
            ..TaskRecord::default()
        };
        let text = section(&task);
        assert!(text.starts_with("--- task 2 (id 9, 1 items, worker 0/77"));
        assert!(text.ends_with("[stdout]\nhi\n"), "{text}");
        assert!(!text.contains("[stderr]") && !text.contains("[error]"));
        let failed = TaskRecord {
            error: Some("boom".into()),
            ..TaskRecord::default()
        };
        assert!(
            section(&failed).contains("worker none")
                && section(&failed).ends_with("[error] boom\n")
        );
    }
}
