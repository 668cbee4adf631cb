//! `strato jobs`, `strato logs` and `strato plot` against a real `strato serve`: a driver (a
//! child process re-executed from this test binary, with `STRATO_STATE` pointing at the
//! server) runs a job whose tasks print and one of which panics; the `strato` binary then
//! lists the job, prints its logs and draws it. With `RUST_LOG`, the job can be followed
//! through the driver, the server and the workers.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};

use common::first_line_with;

/// The entry point of child processes (a driver); does nothing in a normal test run.
#[test]
fn child() {
    let Some((role, _)) = common::child_role() else {
        return;
    };
    match role.as_str() {
        "driver" => driver(),
        other => panic!("unknown child role {other}"),
    }
}

fn greet(x: u64) -> u64 {
    println!("hello from task {x}");
    eprintln!("note {x}");
    assert!(x != 3, "task three refuses");
    x
}

/// Runs one job of five tasks (task 3 panics) and prints `JOB <id>`.
fn driver() {
    strato::init_tracing(); // with RUST_LOG set, the driver's side of the job is logged too
    let executor = strato::executor::Executor::builder()
        .workers(2)
        .build()
        .expect("an executor on STRATO_STATE");
    let futures = executor.map(greet, 0..5u64).unwrap();
    assert!(executor.get_result(&futures).is_err());
    let id = futures[0].job_id().to_string();
    drop(executor); // writes the last records
    println!("\nJOB {id}");
}

/// A `strato serve` on port 0, its stderr in `log` if given.
struct Serve {
    child: Child,
    address: String,
}

impl Serve {
    fn start(rust_log: Option<&str>, log: Option<&std::path::Path>) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strato"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        match rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        if let Some(log) = log {
            command.stderr(std::fs::File::create(log).unwrap());
        }
        let mut child = command.spawn().expect("spawn strato serve");
        let line = first_line_with(child.stdout.take().unwrap(), "listening on ").unwrap();
        let address = line.trim_start_matches("listening on ").trim().to_string();
        Serve { child, address }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a driver run printed: the job id, its stdout and its stderr.
struct Run {
    job: String,
    stdout: String,
    stderr: String,
}

fn run_driver(address: &str, rust_log: Option<&str>) -> Run {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("STRATO_CHILD_ROLE", "driver")
        .env("STRATO_STATE", address);
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    let output = command.output().expect("run the driver");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "driver failed:\n{stdout}\n{stderr}"
    );
    let job = stdout
        .lines()
        .find_map(|l| l.strip_prefix("JOB "))
        .unwrap_or_else(|| panic!("no job id in:\n{stdout}"))
        .to_string();
    Run {
        job,
        stdout,
        stderr,
    }
}

/// Runs `strato ARGS --connect ADDRESS`; its stdout.
fn strato(address: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(args)
        .args(["--connect", address])
        .env_remove("RUST_LOG")
        .output()
        .expect("run strato");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "strato {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn the_cli_lists_shows_and_plots_a_job_of_another_program() {
    let server = Serve::start(None, None);
    lists_shows_and_plots(&server.address);
}

/// The same with the job records (and all the state) in Redis.
#[test]
fn redis_the_cli_lists_shows_and_plots_a_job_of_another_program() {
    let redis = strato_redis::local::LocalRedis::start().expect("start redis-server");
    lists_shows_and_plots(&redis.url());
}

fn lists_shows_and_plots(server: &str) {
    assert!(strato(server, &["jobs"]).starts_with("no jobs on "));
    let run = run_driver(server, None);
    // What tasks print still reaches the terminal of the driver.
    assert!(run.stdout.contains("hello from task 4"), "{}", run.stdout);
    assert!(run.stderr.contains("note 4"), "{}", run.stderr);

    let jobs = strato(server, &["jobs"]);
    let line = jobs.lines().find(|l| l.starts_with(&run.job)).expect(&jobs);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], "map", "{line}");
    assert!(fields[2].ends_with("greet"), "{line}");
    assert_eq!(&fields[3..7], ["5", "5", "1", "failed"], "{line}");

    let logs = strato(server, &["logs", &run.job]);
    assert!(
        logs.starts_with(&format!("job {}: map of ", run.job)),
        "{logs}"
    );
    for x in 0..5 {
        assert!(
            logs.contains(&format!("[stdout]\nhello from task {x}\n")),
            "{logs}"
        );
        assert!(logs.contains(&format!("[stderr]\nnote {x}\n")), "{logs}");
    }
    assert!(
        logs.contains("[error] the task panicked: task three refuses"),
        "{logs}"
    );
    let failed = strato(server, &["logs", "last", "--failed"]);
    assert!(failed.contains("hello from task 3") && !failed.contains("hello from task 2"));

    let dir = std::env::temp_dir().join(format!("strato-cli-plot-{}", run.job));
    let dir_arg = dir.to_string_lossy().into_owned();
    let suffix = &run.job[run.job.len() - 4..]; // "M000": the end of the id is enough
    let written = strato(server, &["plot", suffix, "-o", &dir_arg]);
    assert_eq!(written.lines().count(), 4, "{written}");
    check_plots(&dir, &run.job);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_plots(dir: &std::path::Path, job: &str) {
    for name in ["timeline", "histogram"] {
        let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
        let mut svg = String::new();
        std::fs::File::open(dir.join(format!("{name}.svg")))
            .unwrap()
            .read_to_string(&mut svg)
            .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(
            svg.trim_end().ends_with("</svg>") && svg.contains(job),
            "{name}.svg"
        );
    }
}

#[test]
fn unknown_jobs_are_refused_with_a_hint() {
    let server = Serve::start(None, None);
    let output = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(["logs", "nope", "--connect", &server.address])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no job `nope`"));
}

/// Removes terminal colour codes.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// The number after `key=` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let start = line.find(key)? + key.len();
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn rust_log_follows_one_job_through_driver_server_and_workers() {
    let log = std::env::temp_dir().join(format!("strato-serve-log-{}", std::process::id()));
    let server = Serve::start(Some("strato_server=debug"), Some(&log));
    let run = run_driver(&server.address, Some("strato=debug"));
    let driver = plain(&run.stderr);
    let job = format!("job={}", run.job);
    // The driver: the job and each of its tasks submitted, and each outcome received.
    let submitted = driver
        .lines()
        .filter(|l| l.contains(&job) && l.contains("task submitted"));
    assert_eq!(submitted.count(), 5, "{driver}");
    assert!(driver
        .lines()
        .any(|l| l.contains(&job) && l.contains("job finished")));
    // The workers: each task's run, in a span carrying the job and task ids.
    let ran: Vec<u64> = driver
        .lines()
        .filter(|l| l.contains("task started") && l.contains(&job))
        .filter_map(|l| number_after(l, " task="))
        .collect();
    assert_eq!(ran.len(), 5, "{driver}");
    // The server: the same task ids queued, leased and finished, with connection ids.
    drop(server);
    let served = plain(&std::fs::read_to_string(&log).unwrap());
    std::fs::remove_file(&log).unwrap();
    for task in ran {
        let id = task.to_string();
        let finished = served
            .lines()
            .any(|l| l.contains("task finished") && l.contains(&format!("task={id}")));
        assert!(finished, "task {id} not in the server's log:\n{served}");
        assert!(served
            .lines()
            .any(|l| l.contains("tasks leased") && l.contains(&id)));
    }
    assert!(served.contains("call{conn="), "{served}");
}
