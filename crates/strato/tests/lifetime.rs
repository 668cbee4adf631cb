//! No worker outlives its driver: a driver process (this test binary, re-run as the `driver`
//! test below) starts an executor, reports its workers' pids, and then ends badly — killed by
//! SIGKILL, interrupted by SIGINT, or aborting from a panic — and every worker must exit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODE_ENV: &str = "STRATO_TEST_DRIVER_MODE";

fn square(x: u64) -> u64 {
    x * x
}

/// The driver's side: runs only when re-executed by a test below.
#[test]
fn driver() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let executor = strato::executor::Executor::builder()
        .workers(2)
        .build()
        .unwrap();
    assert_eq!(executor.call_async(square, 3).unwrap().result(), Ok(9));
    let pids: Vec<String> = executor.worker_pids().iter().map(u32::to_string).collect();
    println!("\nWORKERS {}", pids.join(" "));
    match mode.as_str() {
        "abort" => std::process::abort(),
        "panic-leaked" => {
            std::mem::forget(executor);
            panic!("the driver's main panicked");
        }
        _ => std::thread::sleep(Duration::from_secs(120)),
    }
}

/// Starts a driver in `mode`; returns it and its workers' pids.
fn start_driver(mode: &str) -> (Child, Vec<u32>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "driver", "--nocapture", "--test-threads=1"])
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("WORKERS ")))
        .expect("the driver reports its workers");
    std::thread::spawn(move || lines.for_each(drop));
    let pids = line[8..]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    (child, pids)
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !stat.is_empty() && !state.starts_with('Z') && !state.starts_with('X')
}

fn assert_all_exit(pids: &[u32]) {
    assert_eq!(pids.len(), 2, "two workers");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "workers {pids:?} outlived their driver"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn workers_exit_when_the_driver_is_killed() {
    let (mut child, pids) = start_driver("sleep");
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert_all_exit(&pids);
}

#[test]
fn workers_exit_on_ctrl_c() {
    let (mut child, pids) = start_driver("sleep");
    signal(&child, "-INT");
    assert!(!child.wait().unwrap().success());
    assert_all_exit(&pids);
}

#[test]
fn workers_exit_when_the_driver_aborts() {
    let (mut child, pids) = start_driver("abort");
    assert!(!child.wait().unwrap().success());
    assert_all_exit(&pids);
}

#[test]
fn workers_exit_when_main_panics_with_the_executor_leaked() {
    let (mut child, pids) = start_driver("panic-leaked");
    assert!(!child.wait().unwrap().success());
    assert_all_exit(&pids);
}

mod on_redis;

/// Every test above, unchanged, with the state in Redis instead of a strato server.
#[test]
fn redis_runs_the_lifetime_suite() {
    on_redis::run_suite_on_redis();
}
