//! Coordination between worker processes: barrier crossings with 2 and 8 parties,
//! 8 × 1,000 increments of one shared counter beside Redis `INCR`, and 8 `strato::thread`s
//! bumping one `AtomicU64` beside 8 std threads doing the same.

use std::time::Instant;

use strato::executor::Executor;
use strato::sync::atomic::{AtomicU64, Ordering};
use strato::sync::Barrier;

use crate::report::Report;
use strato_redis::local::LocalRedis;

/// Crosses the barrier `rounds` times after a warm-up; returns µs per crossing.
fn cross((barrier, rounds): (Barrier, u32)) -> f64 {
    for _ in 0..5 {
        barrier.wait();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        barrier.wait();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn barrier_us(executor: &Executor, parties: usize, rounds: u32) -> anyhow::Result<f64> {
    executor.ensure_workers(parties)?;
    let barrier = Barrier::new(parties);
    let futures = executor.map(cross, vec![(barrier, rounds); parties])?;
    let times = executor.get_result(&futures)?;
    Ok(times.iter().sum::<f64>() / times.len() as f64)
}

fn count((counter, n): (AtomicU64, u32)) {
    for _ in 0..n {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

fn redis_count((url, n): (String, u32)) {
    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    for _ in 0..n {
        let _: i64 = redis::cmd("INCR").arg("counter").query(&mut redis).unwrap();
    }
}

/// Wall time in ms of `tasks` tasks of `f`, all submitted at once.
fn wall_ms<F, A>(executor: &Executor, f: F, args: Vec<A>) -> anyhow::Result<f64>
where
    F: Fn(A) + Copy + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let start = Instant::now();
    let futures = executor.map(f, args)?;
    executor.get_result(&futures)?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Wall time in ms of 8 `strato::thread`s each doing `n` `fetch_add(1)` on one `AtomicU64`
/// (their workers already warm), and of 8 std threads doing the same on a std atomic.
fn thread_counter_ms(n: u64) -> anyhow::Result<(f64, f64)> {
    let bump = |counter: AtomicU64, n: u64| {
        strato::thread::Builder::new().spawn(strato::closure!(move || {
            for _ in 0..n {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }))
    };
    let join = |handles: Vec<strato::thread::JoinHandle<()>>| {
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a thread panicked")))
    };
    let warm = AtomicU64::new(0);
    join(
        (0..8)
            .map(|_| bump(warm.clone(), 1))
            .collect::<Result<_, _>>()?,
    )?;
    let counter = AtomicU64::new(0);
    let start = Instant::now();
    join(
        (0..8)
            .map(|_| bump(counter.clone(), n))
            .collect::<Result<_, _>>()?,
    )?;
    let strato = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(counter.load(Ordering::SeqCst) == 8 * n, "lost increments");
    let local = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let local = &local;
            scope.spawn(move || {
                for _ in 0..n {
                    local.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let std = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(local.load(std::sync::atomic::Ordering::SeqCst) == 8 * n);
    Ok((strato, std))
}

/// Measures barrier crossings and the shared counters.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let executor = Executor::builder().workers(2).build()?;
    let rounds = if quick { 100 } else { 1_000 };
    let two = barrier_us(&executor, 2, rounds)?;
    let eight = barrier_us(&executor, 8, rounds)?;
    report.add(
        "barrier_2_us",
        two,
        "µs",
        "one Barrier crossing, 2 worker processes",
    );
    report.add(
        "barrier_8_us",
        eight,
        "µs",
        "one Barrier crossing, 8 worker processes",
    );
    if let Some(floor) = report.get("floor_rtt_us") {
        report.add("barrier_2_floors", two / floor, "×", "target ≤ 3");
        report.add("barrier_8_floors", eight / floor, "×", "target ≤ 5");
    }
    let counter = AtomicU64::new(0);
    let strato = wall_ms(&executor, count, vec![(counter.clone(), 1_000); 8])?;
    anyhow::ensure!(counter.load(Ordering::SeqCst) == 8_000, "lost increments");
    let redis = LocalRedis::start()?;
    let baseline = wall_ms(&executor, redis_count, vec![(redis.url(), 1_000); 8])?;
    report.add(
        "counter_8x1000_ms",
        strato,
        "ms",
        "8 tasks × 1,000 fetch_add on one AtomicU64",
    );
    report.add(
        "counter_8x1000_ms_redis",
        baseline,
        "ms",
        "the same with Redis INCR",
    );
    report.add(
        "counter_ratio_redis",
        strato / baseline,
        "×",
        "target ≤ 0.5",
    );
    let (threads, std_threads) = thread_counter_ms(if quick { 2_000 } else { 100_000 })?;
    report.add(
        "thread_counter_ms",
        threads,
        "ms",
        "8 strato::threads × fetch_add on one AtomicU64, local default",
    );
    report.add(
        "thread_counter_ms_std",
        std_threads,
        "ms",
        "the same with 8 std threads on a std AtomicU64",
    );
    report.add(
        "thread_counter_ratio_std",
        threads / std_threads,
        "×",
        "target ≤ 10",
    );
    Ok(())
}
