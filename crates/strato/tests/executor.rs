//! The executor against real worker processes (this test binary, re-executed as workers):
//! ordering, map_reduce, nesting, failures (panic, `Err`, SIGKILL, timeout, wrong binary),
//! large data, and no process left behind.

use std::time::Duration;

use strato::executor::{Executor, ReturnWhen, TaskError, TaskOptions, TaskStatus};
use strato::sync::Map;

fn executor() -> Executor {
    Executor::builder()
        .workers(2)
        .build()
        .expect("start an executor")
}

/// Process ids of workers started by this test process that are still alive.
fn my_workers() -> Vec<u32> {
    let marker = format!("STRATO_DRIVER_PID={}", std::process::id());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            !zombie && environ.split(|b| *b == 0).any(|v| v == marker.as_bytes())
        })
        .collect()
}

/// Drops the executor and checks that none of its workers survived.
fn shut_down(executor: Executor) {
    let pids = executor.worker_pids();
    assert!(!pids.is_empty(), "the executor had workers");
    drop(executor);
    for pid in pids {
        let alive = std::path::Path::new(&format!("/proc/{pid}/environ")).exists()
            && my_workers().contains(&pid);
        assert!(!alive, "worker {pid} outlived its executor");
    }
}

fn add_one(x: u64) -> u64 {
    x + 1
}

#[test]
fn map_of_ten_thousand_tiny_tasks_keeps_input_order() {
    let executor = executor();
    let futures = executor.map(add_one, 0..10_000u64).unwrap();
    let results = executor.get_result(&futures).unwrap();
    assert_eq!(results, (1..=10_000).collect::<Vec<u64>>());
    let stats = futures[9_999].stats().expect("stats of a finished task");
    assert!(stats.started >= stats.submitted - Duration::from_secs(1));
    assert!(stats.finished >= stats.started && stats.received >= stats.finished);
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0);
    shut_down(executor);
}

#[test]
fn chunked_map_runs_many_items_per_task() {
    let executor = executor();
    let options = TaskOptions::default().chunksize(100);
    let futures = executor
        .map_with(
            |s: String| s.len(),
            (0..1000).map(|i| "x".repeat(i % 7)),
            options,
        )
        .unwrap();
    let results = executor.get_result(&futures).unwrap();
    assert_eq!(results, (0..1000).map(|i| i % 7).collect::<Vec<usize>>());
    let first = futures[0].stats().unwrap();
    assert_eq!(
        first.worker,
        futures[99].stats().unwrap().worker,
        "one task ran the chunk"
    );
    shut_down(executor);
}

fn square(x: u64) -> u64 {
    x * x
}

fn concat_in_order(parts: Vec<u64>) -> String {
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn map_reduce_gives_the_reducer_results_in_input_order() {
    let executor = executor();
    let reduced = executor
        .map_reduce(square, 1..=6u64, concat_in_order)
        .unwrap();
    assert_eq!(reduced.result().unwrap(), "1,4,9,16,25,36");
    assert!(reduced.stats().is_some(), "the reducer ran as a task");
    shut_down(executor);
}

fn fan_out(n: u64) -> u64 {
    let inner = Executor::new().expect("an executor inside a task");
    assert_eq!(
        inner.worker_count(),
        0,
        "a nested executor starts no processes"
    );
    let futures = inner.map(square, 1..=n).unwrap();
    inner.get_result(&futures).unwrap().iter().sum()
}

#[test]
fn a_task_can_run_its_own_executor() {
    let executor = executor();
    assert_eq!(executor.call_async(fan_out, 4).unwrap().result(), Ok(30));
    shut_down(executor);
}

fn explode(x: u32) -> u32 {
    if x == 3 {
        panic!("three is right out");
    }
    x
}

#[test]
fn a_panic_reaches_get_result_with_its_message() {
    let executor = executor();
    let futures = executor.map(explode, 0..5).unwrap();
    match executor.get_result(&futures) {
        Err(TaskError::Panicked { message, .. }) => {
            assert!(message.contains("three is right out"), "{message}")
        }
        other => panic!("expected the remote panic, got {other:?}"),
    }
    assert_eq!(futures[3].status(), TaskStatus::Failed);
    assert_eq!(futures[4].result(), Ok(4), "other tasks are unaffected");
    shut_down(executor);
}

fn parse(text: String) -> Result<i32, String> {
    text.parse::<i32>().map_err(|e| format!("`{text}`: {e}"))
}

#[test]
fn an_err_returned_by_a_task_arrives_typed() {
    let executor = executor();
    let futures = executor
        .map(parse, ["12".to_string(), "twelve".to_string()])
        .unwrap();
    let results = executor.get_result(&futures).unwrap();
    assert_eq!(results[0], Ok(12));
    let error = results[1].clone().unwrap_err();
    assert!(error.contains("`twelve`: invalid digit"), "{error}");
    shut_down(executor);
}

/// Dies by SIGKILL the first time it runs for `key`; records its run idempotently.
fn die_once(key: String) -> String {
    let client = strato::client().unwrap();
    let runs: Map<String, u32> = Map::open(&client, format!("runs-{key}")).unwrap();
    let attempt = runs.insert("attempts".into(), 1).map_or(0, |_| 1);
    if attempt == 0 {
        std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }
    runs.insert("result".into(), 42);
    format!("done on attempt {attempt}")
}

#[test]
fn a_task_whose_worker_is_killed_completes_on_retry() {
    let executor = executor();
    let key = format!("kill-{}", std::process::id());
    let client = strato::client().unwrap();
    let runs: Map<String, u32> = Map::open(&client, format!("runs-{key}")).unwrap();
    let future = executor.call_async(die_once, key).unwrap();
    assert_eq!(future.result(), Ok("done on attempt 1".to_string()));
    assert_eq!(future.stats().unwrap().retries, 1);
    assert_eq!(
        runs.get(&"result".into()),
        Some(42),
        "the side effect happened once"
    );
    shut_down(executor);
}

fn always_die(_: ()) {
    std::process::abort();
}

#[test]
fn a_task_that_always_kills_its_worker_fails_as_lost() {
    let executor = executor();
    let future = executor
        .call_async_with(always_die, (), TaskOptions::default().max_retries(1))
        .unwrap();
    assert_eq!(future.result(), Err(TaskError::WorkerLost { attempts: 2 }));
    assert_eq!(
        executor.call_async(add_one, 1).unwrap().result(),
        Ok(2),
        "workers were restarted"
    );
    shut_down(executor);
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn a_task_over_its_timeout_fails_and_its_worker_restarts() {
    let executor = executor();
    let options = TaskOptions::default().timeout(Duration::from_millis(300));
    let slow = executor.call_async_with(sleep_ms, 30_000, options).unwrap();
    let quick = executor.call_async_with(sleep_ms, 10, options).unwrap();
    assert_eq!(
        slow.result(),
        Err(TaskError::Timeout {
            after: Duration::from_millis(300)
        })
    );
    assert_eq!(quick.result(), Ok(10));
    assert_eq!(executor.call_async(sleep_ms, 1).unwrap().result(), Ok(1));
    shut_down(executor);
}

fn checksum(data: Vec<u8>) -> Vec<u8> {
    let mut out = data;
    out.reverse();
    out
}

#[test]
fn sixty_four_mib_travel_as_argument_and_result() {
    let executor = executor();
    let data: Vec<u8> = (0..64 << 20).map(|i: u32| (i % 251) as u8).collect();
    let future = executor.call_async(checksum, data.clone()).unwrap();
    let result = future.result().unwrap();
    assert_eq!(result.len(), data.len());
    assert!(result.iter().rev().eq(data.iter()));
    assert!(future.stats().unwrap().bytes_out > 64 << 20);
    shut_down(executor);
}

#[test]
fn wait_returns_done_and_not_done() {
    let executor = executor();
    let futures = executor.map(sleep_ms, [1, 5_000]).unwrap();
    let (done, not_done) = executor.wait(&futures, ReturnWhen::AnyCompleted, None);
    assert_eq!((done.len(), not_done.len()), (1, 1));
    let (_, pending) = executor.wait(&futures, ReturnWhen::Always, None);
    assert_eq!(pending.len(), 1);
    let (_, pending) = executor.wait(
        &futures,
        ReturnWhen::AllCompleted,
        Some(Duration::from_millis(50)),
    );
    assert_eq!(
        pending.len(),
        1,
        "the timeout returns before the slow task ends"
    );
    assert!(futures[1]
        .result_timeout(Duration::from_millis(10))
        .is_none());
    shut_down(executor);
}

#[test]
fn a_worker_of_another_binary_is_refused() {
    let client = strato::client().unwrap();
    let board = format!("foreign-board-{}", std::process::id());
    let init = strato_proto::Init::TaskBoard {
        binary: "some-other-build".into(),
    };
    let open = strato_proto::Call::Open {
        name: board.clone(),
        init,
        persistent: true,
        role: strato_proto::Role::Handle,
    };
    client.call(open).unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env("STRATO_ROLE", "worker")
        .env("STRATO_STATE", strato::state_address().unwrap())
        .env("STRATO_BOARD", &board)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("identical executable"), "{stderr}");
    assert!(stderr.contains("some-other-build"), "{stderr}");
}

mod on_redis;

/// Every test above, unchanged, with the state in Redis instead of a strato server.
#[test]
fn redis_runs_the_executor_suite() {
    on_redis::run_suite_on_redis();
}

/// Every test above, unchanged, with the state in a three-master Redis Cluster.
#[test]
fn redis_cluster_runs_the_executor_suite() {
    on_redis::run_suite_on_redis_cluster();
}

#[test]
fn workers_carry_the_programs_name_and_their_role_in_ps() {
    let executor = executor();
    let exe = std::env::current_exe().unwrap();
    let program = exe.file_name().unwrap().to_str().unwrap().to_string();
    let pids = executor.worker_pids();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let title = String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap());
        assert!(
            title.starts_with(&format!("{program} [strato worker ")),
            "ps shows {title:?}"
        );
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        let short: String = program.chars().take(15).collect();
        assert_eq!(comm.trim_end(), short, "the name ps -e shows");
    }
    shut_down(executor);
}
