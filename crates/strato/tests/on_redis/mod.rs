//! Runs a whole test file again with its state in Redis: the file's `redis_*` test starts a
//! private `redis-server` (or a Redis Cluster), re-executes this test binary with
//! `STRATO_STATE` pointing there and every other test selected, and checks they all pass.
//! (`run_suite_with` does the same for another state, a `strato serve`, say.)
//! The tests themselves do not change: that is the point.

#![allow(dead_code)]

use std::process::Command;

use strato_redis::local::{LocalCluster, LocalRedis};

/// Runs every test of this binary except the `redis_*` ones against `url`.
fn run_suite_on(url: &str, what: &str) {
    run_suite_with(&[("STRATO_STATE", url)], what);
}

/// Runs every test of this binary except the ones that run the suite again (`redis_*`,
/// `serve_runs_the_*`) with `env` added (a state's address and token).
pub fn run_suite_with(env: &[(&str, &str)], what: &str) {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--skip",
            "redis_",
            "--skip",
            "serve_runs_the_",
            "--test-threads=2",
        ])
        .envs(env.iter().copied())
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the suite failed on {what}:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or_default();
    assert!(
        summary.contains(" 0 failed") && !summary.contains(" 0 passed"),
        "the suite did not run on {what}: {summary}"
    );
}

/// Runs this test binary's suite with its state in a private `redis-server`.
pub fn run_suite_on_redis() {
    let redis = LocalRedis::start().expect("start redis-server");
    run_suite_on(&redis.url(), "Redis");
}

/// Runs this test binary's suite with its state in a private three-master Redis Cluster.
pub fn run_suite_on_redis_cluster() {
    let cluster = LocalCluster::start(3).expect("start a Redis Cluster");
    run_suite_on(&cluster.url(), "a Redis Cluster");
}
