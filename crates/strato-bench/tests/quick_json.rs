//! `strato-bench --quick --json` writes every metric of `shared/BENCHMARKS.md` and the Redis
//! backend's three columns with their ratios, each a finite, positive number. Their values are
//! not checked: timings never decide a test.

use std::process::Command;

/// The metrics BENCHMARKS.md names (same names, same units).
const METRICS: &[&str] = &[
    "floor_rtt_us",
    "floor_rtt_tcp_us",
    "map_overhead_us_n1000",
    "map_overhead_us_n10000",
    "map_overhead_us_std",
    "spawn_join_us",
    "queue_rtt_1k_us",
    "queue_rtt_1k_us_redis",
    "queue_rtt_1m_us",
    "pipe_mb_s",
    "barrier_2_us",
    "barrier_8_us",
    "counter_8x1000_ms",
    "counter_8x1000_ms_redis",
    "complex_op_per_s",
    "complex_op_per_s_redis_lua",
    "pi_efficiency",
    "map_1m_driver_peak_mb",
    "server_bytes_per_object",
    "server_bytes_per_object_redis",
    "pipe_rtt_1k_us",
    "pipe_rtt_1m_us",
    "thread_counter_ratio_std",
    "server_ops_per_s",
    "server_ops_per_s_redis",
    // Python multiprocessing's baselines (python3 is on every machine of this kind).
    "map_overhead_us_n1000_mp",
    "pipe_rtt_1k_us_mp",
    "pipe_rtt_1m_us_mp",
    "queue_rtt_1k_us_mp",
    "barrier_2_us_mp",
    "barrier_8_us_mp",
    "counter_8x1000_ms_mp",
];

/// The operations of the `redis_backend` group, with the unit in their metrics' names.
const REDIS_BACKEND: &[(&str, &str)] = &[
    ("queue_rtt_1k", "us"),
    ("queue_rtt_1m", "us"),
    ("counter_8x1000", "ms"),
    ("mutex", "us"),
    ("mutex_2", "us"),
    ("barrier_2", "us"),
];

/// Every metric the quick run must write: BENCHMARKS.md's, then for each Redis backend
/// operation the strato server, the backend, raw Redis and the backend's two ratios, then
/// Redis's CPU per `fetch_add` on the backend and per `INCR`.
fn expected() -> Vec<String> {
    let mut names: Vec<String> = METRICS.iter().map(|m| m.to_string()).collect();
    for (op, unit) in REDIS_BACKEND {
        let stem = format!("redis_backend_{op}");
        names.push(format!("{stem}_{unit}_server"));
        names.push(format!("{stem}_{unit}"));
        names.push(format!("{stem}_{unit}_redis"));
        names.push(format!("{stem}_vs_redis"));
        names.push(format!("{stem}_vs_server"));
    }
    names.push("redis_backend_fetch_add_cpu_us".into());
    names.push("redis_backend_incr_cpu_us".into());
    names
}

#[test]
fn quick_run_writes_every_metric_as_a_finite_positive_number() {
    let json = std::env::temp_dir().join(format!("strato-bench-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_strato-bench"))
        .args(["--quick", "--json"])
        .arg(&json)
        .output()
        .expect("run strato-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "strato-bench failed:\n{stdout}\n{stderr}"
    );
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).unwrap();
    let metrics: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("one flat JSON object");
    for name in expected() {
        let value = metrics.get(&name).and_then(|v| v.as_f64());
        assert!(
            value.is_some_and(|v| v.is_finite() && v > 0.0),
            "metric {name}: {value:?}"
        );
        assert!(stdout.contains(&name), "the table shows {name}");
    }
}

#[test]
fn rounds_are_folded_into_each_metrics_median() {
    let output = Command::new(env!("CARGO_BIN_EXE_strato-bench"))
        .args(["--quick", "--only", "floor", "--rounds", "2"])
        .output()
        .expect("run strato-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let floor = stdout
        .lines()
        .find(|line| line.starts_with("floor_rtt_us "))
        .expect("the folded table shows floor_rtt_us");
    assert!(floor.contains("[median of 2 rounds: "), "{floor}");
    let refused = Command::new(env!("CARGO_BIN_EXE_strato-bench"))
        .args(["--rounds", "0"])
        .output()
        .expect("run strato-bench");
    assert!(!refused.status.success(), "no rounds is refused");
}

#[test]
fn unknown_groups_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_strato-bench"))
        .args(["--only", "nonsense"])
        .output()
        .expect("run strato-bench");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown benchmark groups"));
}
