//! Seeing what a job did: task output captured per task and per job, job ids, the job
//! records kept on the state server (counts, failures, per-task stats and logs, bounded),
//! and the timeline and histogram plots.

use strato::executor::{Executor, TaskOptions};

fn executor() -> Executor {
    Executor::builder()
        .workers(2)
        .build()
        .expect("start an executor")
}

fn chatty(x: u64) -> u64 {
    println!("out {x}");
    eprintln!("err {x}");
    x * 10
}

fn silent(x: u64) -> u64 {
    x
}

fn fails_on_three(x: u64) -> u64 {
    println!("about to look at {x}");
    assert!(x != 3, "three is not allowed");
    x
}

fn total(values: Vec<u64>) -> u64 {
    println!("reducing {} values", values.len());
    values.iter().sum()
}

fn print_a_lot(bytes: usize) -> usize {
    let line = "x".repeat(99);
    for _ in 0..bytes / 100 {
        println!("{line}");
    }
    bytes
}

#[test]
fn each_task_keeps_what_it_printed() {
    let executor = executor();
    let futures = executor.map(chatty, 0..20u64).unwrap();
    executor.get_result(&futures).unwrap();
    for (x, future) in futures.iter().enumerate() {
        let logs = future.logs().expect("logs of a finished task");
        assert_eq!(logs.stdout, format!("out {x}\n"));
        assert_eq!(logs.stderr, format!("err {x}\n"));
        assert_eq!(logs.task, future.task_id());
        assert_eq!(logs.job, future.job_id());
    }
    let job = executor.logs(&futures);
    assert_eq!(job.len(), 20);
    assert!(job.iter().all(|l| l.stdout.starts_with("out ")));
}

#[test]
fn tasks_that_print_nothing_have_empty_logs() {
    let executor = executor();
    let futures = executor.map(silent, 0..50u64).unwrap();
    executor.get_result(&futures).unwrap();
    for future in &futures {
        assert_eq!(future.logs().unwrap().stdout, "");
        assert_eq!(future.logs().unwrap().stderr, "");
    }
}

#[test]
fn items_of_one_chunk_share_their_task_and_its_logs() {
    let executor = executor();
    let options = TaskOptions::default().chunksize(5);
    let futures = executor.map_with(chatty, 0..10u64, options).unwrap();
    executor.get_result(&futures).unwrap();
    assert_eq!(futures[0].task_id(), futures[4].task_id());
    assert_ne!(futures[4].task_id(), futures[5].task_id());
    let expected: String = (0..5).map(|x| format!("out {x}\n")).collect();
    assert_eq!(futures[3].logs().unwrap().stdout, expected);
    assert_eq!(executor.logs(&futures).len(), 2);
}

#[test]
fn output_beyond_the_limit_is_cut_with_a_note() {
    let executor = executor();
    let future = executor.call_async(print_a_lot, 100_000).unwrap();
    assert_eq!(future.result(), Ok(100_000));
    let stdout = future.logs().unwrap().stdout;
    assert!(stdout.len() < 17_000, "kept {} bytes", stdout.len());
    assert!(
        stdout.contains("more bytes not kept"),
        "{}",
        &stdout[stdout.len() - 80..]
    );
}

#[test]
fn a_failed_task_keeps_its_output() {
    let executor = executor();
    let futures = executor.map(fails_on_three, 0..5u64).unwrap();
    assert!(futures[3].result().unwrap_err().is_panic());
    assert_eq!(futures[3].logs().unwrap().stdout, "about to look at 3\n");
}

#[test]
fn job_ids_name_the_call_and_count_per_executor() {
    let executor = executor();
    let mapped = executor.map(silent, 0..3u64).unwrap();
    let called = executor.call_async(silent, 1).unwrap();
    let reduced = executor.map_reduce(silent, 0..3u64, total).unwrap();
    let (m, a, r) = (mapped[0].job_id(), called.job_id(), reduced.job_id());
    assert!(
        m.ends_with("-M000") && a.ends_with("-A001") && r.ends_with("-R002"),
        "{m} {a} {r}"
    );
    assert_eq!(m.split('-').next(), r.split('-').next());
    assert_eq!(reduced.result(), Ok(3));
    assert_eq!(reduced.logs().unwrap().stdout, "reducing 3 values\n");
    assert_ne!(reduced.task_id(), 0);
}

#[test]
fn jobs_are_recorded_on_the_state_server() {
    let executor = executor();
    let futures = executor.map(fails_on_three, 0..6u64).unwrap();
    let _ = executor.get_result(&futures);
    let id = futures[0].job_id().to_string();
    let client = strato::client().unwrap();
    let job = wait_for_job(&client, &id, |j| j.is_finished());
    assert_eq!((job.tasks, job.done, job.failed), (6, 6, 1));
    assert_eq!(job.kind, strato_jobs::JobKind::Map);
    assert!(job.function.ends_with("fails_on_three"), "{}", job.function);
    let mut tasks = strato_jobs::tasks(&client, &id).unwrap();
    tasks.sort_by_key(|t| t.index);
    assert_eq!(tasks.len(), 6);
    assert_eq!(tasks[2].stdout, "about to look at 2\n");
    assert!(tasks[3]
        .error
        .as_deref()
        .unwrap()
        .contains("three is not allowed"));
    assert!(tasks
        .iter()
        .all(|t| t.started_us >= t.submitted_us && t.finished_us >= t.started_us));
    assert!(tasks.iter().all(|t| !t.worker.is_empty()));
}

#[test]
fn map_reduce_is_one_job_with_the_reduction_as_its_last_task() {
    let executor = executor();
    let reduced = executor.map_reduce(silent, 0..4u64, total).unwrap();
    assert_eq!(reduced.result(), Ok(6));
    let client = strato::client().unwrap();
    let job = wait_for_job(&client, reduced.job_id(), |j| j.is_finished());
    assert_eq!((job.tasks, job.done, job.failed), (5, 5, 0));
    let tasks = strato_jobs::tasks(&client, reduced.job_id()).unwrap();
    let last = tasks.iter().max_by_key(|t| t.index).unwrap();
    assert_eq!(
        (last.index, last.stdout.as_str()),
        (4, "reducing 4 values\n")
    );
}

#[test]
fn a_reduction_that_cannot_run_counts_as_failed() {
    let executor = executor();
    let reduced = executor.map_reduce(fails_on_three, 0..5u64, total).unwrap();
    assert!(reduced.result().is_err());
    let client = strato::client().unwrap();
    let job = wait_for_job(&client, reduced.job_id(), |j| j.is_finished());
    assert_eq!((job.tasks, job.done, job.failed), (6, 6, 2));
}

#[test]
fn only_the_most_recent_jobs_are_kept() {
    // A server of its own: the limit holds for the whole server, other tests' jobs included.
    let server = strato_server::start(Default::default()).unwrap();
    let client = strato::Client::connect(&server.address().to_string()).unwrap();
    let executor = Executor::builder()
        .client(client.clone())
        .workers(1)
        .keep_jobs(3)
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for x in 0..6u64 {
        let future = executor.call_async(silent, x).unwrap();
        assert_eq!(future.result(), Ok(x));
        ids.push(future.job_id().to_string());
    }
    wait_for_job(&client, &ids[5], |j| j.is_finished());
    common_eventually(|| {
        let kept = strato_jobs::jobs(&client).unwrap();
        kept.len() <= 3 && !kept.iter().any(|j| j.id == ids[0])
    });
    assert!(strato_jobs::tasks(&client, &ids[0]).unwrap().is_empty());
}

#[test]
fn plots_are_valid_png_and_svg_files() {
    let executor = executor();
    let futures = executor.map(chatty, 0..30u64).unwrap();
    executor.get_result(&futures).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = executor.plot(&futures, dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "timeline.png",
            "timeline.svg",
            "histogram.png",
            "histogram.svg"
        ]
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        match file.extension().unwrap().to_str().unwrap() {
            "png" => {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
                let decoder = png::Decoder::new(bytes.as_slice());
                let info = decoder.read_info().unwrap().info().clone();
                assert_eq!((info.width, info.height), (1000, 600));
            }
            _ => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg") && text.contains(futures[0].job_id()));
            }
        }
    }
}

fn wait_for_job(
    client: &strato::Client,
    id: &str,
    ready: impl Fn(&strato_jobs::JobRecord) -> bool,
) -> strato_jobs::JobRecord {
    let mut found = None;
    common_eventually(|| {
        found = strato_jobs::job(client, id).unwrap().filter(|j| ready(j));
        found.is_some()
    });
    found.unwrap()
}

fn common_eventually(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never happened");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
