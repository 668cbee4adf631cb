//! Worker churn: many SIGKILLs of workers during a job. The job ends with every result,
//! nothing hangs, and no worker is left. The test runs on the embedded server, and again on a
//! `strato serve` over TCP, on Redis and on a Redis Cluster (whose workers learn of a death
//! from a lease that runs out, not from a closed connection).

mod cluster;
mod on_redis;

use std::time::Duration;

use cluster::{eventually, sigkill};
use strato::executor::Executor;

fn slow_double(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(30));
    x * 2
}

/// The worker processes this test process started (its direct children in the worker
/// role: not a test binary run again by `redis_runs_the_churn_suite`).
fn workers() -> Vec<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap().flatten();
    let children = tasks.flat_map(|task| {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        text.split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .collect::<Vec<_>>()
    });
    children
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ
                .split(|&b| b == 0)
                .any(|var| var == b"STRATO_ROLE=worker")
        })
        .collect()
}

#[test]
fn a_job_survives_many_worker_kills_with_every_result_and_no_worker_left() {
    const TASKS: u64 = 300;
    const KILLS: usize = 8;
    // The default retries (2): a kill charges only the task its worker was running (or was
    // about to start), so eight paced kills over 300 tasks use up no task's retries.
    let executor = Executor::builder().workers(2).build().unwrap();
    let futures = executor.map(slow_double, 0..TASKS).unwrap();
    let job = std::thread::spawn(move || {
        let results = executor.get_result(&futures);
        drop(executor);
        results
    });
    let mut killed = Vec::new();
    while killed.len() < KILLS && !job.is_finished() {
        // Both workers up (a killed one is replaced), then one of them killed.
        let up = eventually(Duration::from_secs(30), || {
            workers()
                .iter()
                .filter(|pid| !killed.contains(*pid))
                .count()
                == 2
        });
        assert!(up, "the killed workers were not replaced");
        // Kills paced at three tasks' time: a worker killed before it starts anything is
        // charged its first task, which is the one the last kill put back at the front, so
        // killing each replacement the moment it exists could charge one task three times
        // (WorkerLost under the default retries), which is not what this test is about.
        std::thread::sleep(Duration::from_millis(100));
        let victim = workers()
            .into_iter()
            .filter(|pid| !killed.contains(pid))
            .nth(killed.len() % 2);
        if let Some(pid) = victim {
            sigkill(pid);
            killed.push(pid);
        }
    }
    let results = job.join().unwrap().expect("every task finished");
    assert_eq!(results, (0..TASKS).map(|x| x * 2).collect::<Vec<_>>());
    assert!(
        killed.len() >= KILLS / 2,
        "the job ended after {} kills",
        killed.len()
    );
    let gone = eventually(Duration::from_secs(30), || workers().is_empty());
    assert!(gone, "workers left: {:?}", workers());
}

/// The test above, unchanged, with the state in a private `redis-server`.
#[test]
fn redis_runs_the_churn_suite() {
    on_redis::run_suite_on_redis();
}

/// The same on a Redis Cluster.
#[test]
fn redis_cluster_runs_the_churn_suite() {
    on_redis::run_suite_on_redis_cluster();
}

/// The same with the state on a `strato serve` process over TCP.
#[test]
fn serve_runs_the_churn_suite() {
    let serve = cluster::Serve::start();
    let env = [
        ("STRATO_STATE", serve.address.as_str()),
        ("STRATO_TOKEN", serve.token.as_str()),
    ];
    on_redis::run_suite_with(&env, "strato serve");
}
