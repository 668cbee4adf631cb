//! `strato jobs`: the recent jobs a state server keeps.

use strato_jobs::{JobKind, JobRecord};

use crate::flags::JobsArgs;

/// Prints one line per job, oldest first.
pub fn run(args: JobsArgs) -> anyhow::Result<()> {
    let client = args.server.client()?;
    let jobs = strato_jobs::jobs(&client)?;
    if jobs.is_empty() {
        println!("no jobs on {}", client.address());
        return Ok(());
    }
    let shown = &jobs[jobs.len().saturating_sub(args.last as usize)..];
    println!(
        "{:<14} {:<10} {:<28} {:>6} {:>6} {:>6}  {:<8} {:<19} {:>9}",
        "JOB",
        "KIND",
        "FUNCTION",
        "TASKS",
        "DONE",
        "FAILED",
        "STATUS",
        "SUBMITTED (UTC)",
        "SECONDS"
    );
    shown.iter().for_each(|job| println!("{}", line(job)));
    Ok(())
}

fn line(job: &JobRecord) -> String {
    format!(
        "{:<14} {:<10} {:<28} {:>6} {:>6} {:>6}  {:<8} {:<19} {:>9.3}",
        job.id,
        kind(job.kind),
        short(&job.function, 28),
        job.tasks,
        job.done,
        job.failed,
        status(job),
        utc(job.submitted_us),
        job.seconds()
    )
}

/// The kind as the executor's method name.
pub fn kind(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Call => "call_async",
        JobKind::Map => "map",
        JobKind::MapReduce => "map_reduce",
    }
}

/// `running`, `failed` (finished with failures) or `done`.
pub fn status(job: &JobRecord) -> &'static str {
    match (job.is_finished(), job.failed) {
        (false, _) => "running",
        (true, 0) => "done",
        (true, _) => "failed",
    }
}

/// The end of `text`, at most `width` characters.
fn short(text: &str, width: usize) -> String {
    let count = text.chars().count();
    match count <= width {
        true => text.to_string(),
        false => {
            let tail: String = text.chars().skip(count - width + 1).collect();
            format!("…{tail}")
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` of microseconds since the Unix epoch, in UTC.
pub fn utc(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil(days as i64);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000_500_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn long_functions_keep_their_end() {
        assert_eq!(short("pi::count_inside", 28), "pi::count_inside");
        assert_eq!(short("abcdef", 4), "…def");
    }
}
