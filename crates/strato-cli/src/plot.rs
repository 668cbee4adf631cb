//! `strato plot JOB -o DIR`: a job's timeline and concurrency histogram, from its records.

use strato_jobs::TaskRecord;
use strato_plot::Span;

use crate::flags::PlotArgs;

/// Writes the plots and prints their paths.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let client = args.server.client()?;
    let jobs = strato_jobs::jobs(&client)?;
    let job = strato_jobs::find(&jobs, &args.job).map_err(anyhow::Error::msg)?;
    let tasks = strato_jobs::tasks(&client, &job.id)?;
    let spans: Vec<Span> = tasks.iter().map(span).collect();
    let title = format!("job {} ({})", job.id, job.function);
    for path in strato_plot::write_all(&spans, &args.output, &title)? {
        println!("{}", path.display());
    }
    Ok(())
}

fn span(task: &TaskRecord) -> Span {
    Span {
        task: task.task,
        worker: task.worker.clone(),
        submitted_us: task.submitted_us,
        started_us: task.started_us,
        finished_us: task.finished_us,
        received_us: Some(task.received_us).filter(|us| *us > 0),
        failed: task.error.is_some(),
    }
}
