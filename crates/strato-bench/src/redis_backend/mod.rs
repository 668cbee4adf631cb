//! The Redis backend as a column: the same strato operations on the embedded strato server
//! and on a `strato::Client` connected to Redis (`redis+unix://…`), beside the nearest raw
//! Redis commands on the same `redis-server`, in one run. Each row of the table is one
//! column of one operation, then the backend's ratios to raw Redis and to the strato server;
//! last, Redis's own CPU time per backend `fetch_add` beside a native `INCR`'s.

mod cpu;
mod harness;
mod raw;
mod strato_ops;

use strato::Client;
use strato_redis::local::LocalRedis;

use crate::report::Report;
use strato_ops::Connect;

/// One operation, measured the same way in each column.
struct Operation {
    /// The metrics' stem: `redis_backend_<key>_<unit>`.
    key: &'static str,
    /// The unit of its three columns.
    unit: &'static str,
    /// What is measured, for the table.
    what: &'static str,
    /// The raw Redis commands that stand for it.
    raw: &'static str,
    /// Rounds in a full run and in a quick one.
    rounds: (u32, u32),
    /// Measures it through strato handles on a backend.
    strato: fn(Connect, u32) -> anyhow::Result<f64>,
    /// Measures it as raw Redis commands on the server at a URL.
    redis: fn(&str, u32) -> anyhow::Result<f64>,
}

const OPERATIONS: &[Operation] = &[
    Operation {
        key: "queue_rtt_1k",
        unit: "µs",
        what: "1 KiB ping-pong between two threads through a Queue, median",
        raw: "LPUSH/BLPOP",
        rounds: (2_000, 300),
        strato: |c, n| strato_ops::queue_rtt(c, 1 << 10, n),
        redis: |url, n| raw::queue_rtt(url, 1 << 10, n),
    },
    Operation {
        key: "queue_rtt_1m",
        unit: "µs",
        what: "1 MiB ping-pong through a Queue, median",
        raw: "LPUSH/BLPOP",
        rounds: (200, 10),
        strato: |c, n| strato_ops::queue_rtt(c, 1 << 20, n),
        redis: |url, n| raw::queue_rtt(url, 1 << 20, n),
    },
    Operation {
        key: "counter_8x1000",
        unit: "ms",
        what: "8 threads × 1,000 fetch_add on one AtomicU64, wall time",
        raw: "INCR",
        rounds: (1_000, 1_000),
        strato: |c, n| strato_ops::counter_ms(c, 8, n),
        redis: |url, n| raw::counter_ms(url, 8, n),
    },
    Operation {
        key: "mutex",
        unit: "µs",
        what: "Mutex lock + unlock, one thread (uncontended)",
        raw: "BLPOP/LPUSH of a one-token list",
        rounds: (2_000, 300),
        strato: |c, n| strato_ops::mutex_us(c, 1, n),
        redis: |url, n| raw::mutex_us(url, 1, n),
    },
    Operation {
        key: "mutex_2",
        unit: "µs",
        what: "Mutex lock + unlock, two threads contending, wall time per pair",
        raw: "BLPOP/LPUSH of a one-token list",
        rounds: (1_000, 150),
        strato: |c, n| strato_ops::mutex_us(c, 2, n),
        redis: |url, n| raw::mutex_us(url, 2, n),
    },
    Operation {
        key: "barrier_2",
        unit: "µs",
        what: "one Barrier crossing, 2 threads",
        raw: "INCR, then RPUSH by the last / BLPOP by the others",
        rounds: (1_000, 150),
        strato: |c, n| strato_ops::barrier_us(c, 2, n),
        redis: |url, n| raw::barrier_us(url, 2, n),
    },
];

/// Measures every operation on the strato server, on the Redis backend and as raw Redis.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let redis = LocalRedis::start()?;
    let server = strato::client()?.address().to_string();
    let url = redis.url();
    let on_server = || Ok(Client::connect(&server)?);
    let on_redis = || Ok(Client::connect(&url)?);
    for op in OPERATIONS {
        let rounds = if quick { op.rounds.1 } else { op.rounds.0 };
        let columns = [
            (op.strato)(&on_server, rounds)?,
            (op.strato)(&on_redis, rounds)?,
            (op.redis)(&url, rounds)?,
        ];
        record(report, op, columns);
    }
    cpu::run(report, &url)
}

/// Adds the three columns of `op` and the backend's two ratios.
fn record(report: &mut Report, op: &Operation, [server, backend, raw]: [f64; 3]) {
    let metric = |suffix: &str| format!("redis_backend_{}_{}{suffix}", op.key, unit_name(op));
    let ratio = |to: &str| format!("redis_backend_{}_vs_{to}", op.key);
    let server_note = format!("{}: strato server (embedded)", op.what);
    report.add(&metric("_server"), server, op.unit, server_note);
    report.add(
        &metric(""),
        backend,
        op.unit,
        "the same: strato on the Redis backend",
    );
    let raw_note = format!("the same as raw Redis {}", op.raw);
    report.add(&metric("_redis"), raw, op.unit, raw_note);
    report.add(
        &ratio("redis"),
        backend / raw,
        "×",
        "Redis backend / raw Redis",
    );
    report.add(
        &ratio("server"),
        backend / server,
        "×",
        "Redis backend / strato server",
    );
}

/// The unit as it appears in metric names.
fn unit_name(op: &Operation) -> &'static str {
    match op.unit {
        "µs" => "us",
        other => other,
    }
}
