//! Message passing between two worker processes: a 1 KiB and a 1 MiB ping-pong through a
//! shared `Queue` (two hops through the state server per round trip) beside raw Redis
//! `LPUSH`/`BLPOP`, the same ping-pongs through a `Pipe`, and one-way throughput through a
//! `Pipe`.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use strato::executor::Executor;
use strato::sync::{pipe, PipeEnd, Queue};
use strato::Bytes;

use crate::report::Report;
use strato_redis::local::LocalRedis;

/// Two queues between a pinger and a ponger.
#[derive(Serialize, Deserialize)]
struct PingPong {
    to: Queue<Bytes>,
    from: Queue<Bytes>,
    size: usize,
    rounds: u32,
}

/// Sends, waits for the echo; returns the median round trip in µs.
fn ping(p: PingPong) -> f64 {
    let message = Bytes::from(vec![7u8; p.size]);
    let mut times = Vec::with_capacity(p.rounds as usize);
    for _ in 0..p.rounds {
        let start = Instant::now();
        p.to.put(message.clone());
        let echo = p.from.get();
        times.push(start.elapsed().as_secs_f64() * 1e6);
        assert_eq!(echo.len(), p.size);
    }
    median(times)
}

fn pong(p: PingPong) {
    for _ in 0..p.rounds {
        p.from.put(p.to.get());
    }
}

/// The same through Redis lists.
#[derive(Serialize, Deserialize)]
struct RedisPingPong {
    url: String,
    key: String,
    size: usize,
    rounds: u32,
}

fn redis_ping(p: RedisPingPong) -> f64 {
    let mut redis = redis::Client::open(p.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let message = vec![7u8; p.size];
    let (to, from) = (format!("{}:to", p.key), format!("{}:from", p.key));
    let mut times = Vec::with_capacity(p.rounds as usize);
    for _ in 0..p.rounds {
        let start = Instant::now();
        let _: () = redis::cmd("LPUSH")
            .arg(&to)
            .arg(&message)
            .query(&mut redis)
            .unwrap();
        let (_, echo): (String, Vec<u8>) = redis::cmd("BLPOP")
            .arg(&from)
            .arg(0)
            .query(&mut redis)
            .unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e6);
        assert_eq!(echo.len(), p.size);
    }
    median(times)
}

fn redis_pong(p: RedisPingPong) {
    let mut redis = redis::Client::open(p.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let (to, from) = (format!("{}:to", p.key), format!("{}:from", p.key));
    for _ in 0..p.rounds {
        let (_, message): (String, Vec<u8>) = redis::cmd("BLPOP")
            .arg(&to)
            .arg(0)
            .query(&mut redis)
            .unwrap();
        let _: () = redis::cmd("LPUSH")
            .arg(&from)
            .arg(message)
            .query(&mut redis)
            .unwrap();
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `first` and `second` as two tasks at once; returns `first`'s result.
fn pair<F, G, A, B>(executor: &Executor, first: F, a: A, second: G, b: B) -> anyhow::Result<f64>
where
    F: Fn(A) -> f64 + Copy + 'static,
    G: Fn(B) + Copy + 'static,
    A: Serialize + serde::de::DeserializeOwned + 'static,
    B: Serialize + serde::de::DeserializeOwned + 'static,
{
    let other = executor.call_async(second, b)?;
    let result = executor.call_async(first, a)?.result()?;
    other.result()?;
    Ok(result)
}

fn strato_rtt(executor: &Executor, size: usize, rounds: u32) -> anyhow::Result<f64> {
    let make = || PingPong {
        to: Queue::new(),
        from: Queue::new(),
        size,
        rounds,
    };
    let p = make();
    let q = PingPong {
        to: p.to.clone(),
        from: p.from.clone(),
        size,
        rounds,
    };
    pair(executor, ping, p, pong, q)
}

fn redis_rtt(
    executor: &Executor,
    redis: &LocalRedis,
    size: usize,
    rounds: u32,
) -> anyhow::Result<f64> {
    let make = || RedisPingPong {
        url: redis.url(),
        key: "pingpong".into(),
        size,
        rounds,
    };
    pair(executor, redis_ping, make(), redis_pong, make())
}

/// Sends `count` messages of `size` bytes; returns MB/s from first send to last receipt.
fn pipe_send((end, count, size): (PipeEnd<Bytes>, u32, usize)) {
    let message = Bytes::from(vec![1u8; size]);
    for _ in 0..count {
        end.send(message.clone())
            .expect("the receiving end is there");
    }
}

fn pipe_receive((end, count, size): (PipeEnd<Bytes>, u32, usize)) -> f64 {
    let first = end.recv().expect("a first message");
    let start = Instant::now();
    for _ in 1..count {
        assert_eq!(end.recv().expect("every message").len(), size);
    }
    drop(first);
    (count - 1) as f64 * size as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// Sends `size` bytes through a pipe end and waits for the echo, `rounds` times after a
/// warm-up; the median round trip in µs.
fn pipe_ping((end, size, rounds): (PipeEnd<Bytes>, usize, u32)) -> f64 {
    let message = Bytes::from(vec![7u8; size]);
    let mut times = Vec::with_capacity(rounds as usize);
    for round in 0..rounds + 5 {
        let start = Instant::now();
        end.send(message.clone()).expect("the echoing end is there");
        let echo = end.recv().expect("an echo");
        if round >= 5 {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        assert_eq!(echo.len(), size);
    }
    median(times)
}

fn pipe_pong((end, rounds): (PipeEnd<Bytes>, u32)) {
    for _ in 0..rounds + 5 {
        let message = end.recv().expect("a message to echo");
        end.send(message).expect("the pinging end is there");
    }
}

/// The median round trip of `size` bytes over a `Pipe` between two workers, in µs.
fn pipe_rtt(executor: &Executor, size: usize, rounds: u32) -> anyhow::Result<f64> {
    let (ours, theirs) = pipe::<Bytes>();
    let echo = executor.call_async(pipe_pong, (theirs, rounds))?;
    let median = executor
        .call_async(pipe_ping, (ours, size, rounds))?
        .result()?;
    echo.result()?;
    Ok(median)
}

/// Measures the queue and pipe round trips, the Redis baseline and the pipe throughput.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let executor = Executor::builder().workers(2).build()?;
    let rounds = if quick { 300 } else { 2_000 };
    let redis = LocalRedis::start()?;
    let small = strato_rtt(&executor, 1 << 10, rounds)?;
    let small_redis = redis_rtt(&executor, &redis, 1 << 10, rounds)?;
    report.add(
        "queue_rtt_1k_us",
        small,
        "µs",
        "1 KiB ping-pong between two workers via Queue, median",
    );
    report.add(
        "queue_rtt_1k_us_redis",
        small_redis,
        "µs",
        "the same via Redis LPUSH/BLPOP, Unix socket",
    );
    report.add(
        "queue_rtt_1k_ratio_redis",
        small / small_redis,
        "×",
        "target ≤ 1",
    );
    if let Some(floor) = report.get("floor_rtt_us") {
        report.add(
            "queue_rtt_1k_floors",
            small / floor,
            "×",
            "queue_rtt_1k_us / floor_rtt_us (target ≤ 2.5)",
        );
    }
    let big = strato_rtt(&executor, 1 << 20, rounds / 10)?;
    report.add(
        "queue_rtt_1m_us",
        big,
        "µs",
        "1 MiB ping-pong via Queue, median (target ≤ 1,000)",
    );
    let big_redis = redis_rtt(&executor, &redis, 1 << 20, rounds / 10)?;
    report.add(
        "queue_rtt_1m_us_redis",
        big_redis,
        "µs",
        "the same via Redis",
    );
    report.add(
        "pipe_rtt_1k_us",
        pipe_rtt(&executor, 1 << 10, rounds)?,
        "µs",
        "1 KiB ping-pong between two workers via a Pipe, median",
    );
    report.add(
        "pipe_rtt_1m_us",
        pipe_rtt(&executor, 1 << 20, rounds / 10)?,
        "µs",
        "1 MiB ping-pong via a Pipe, median (target ≤ 1,000)",
    );
    let count = if quick { 200 } else { 1_000 };
    let (a, b) = pipe::<Bytes>();
    let receiver = executor.call_async(pipe_receive, (b, count, 1 << 20))?;
    executor
        .call_async(pipe_send, (a, count, 1 << 20))?
        .result()?;
    report.add(
        "pipe_mb_s",
        receiver.result()?,
        "MB/s",
        "1 MiB messages one way through a Pipe (target ≥ 1,000)",
    );
    Ok(())
}
