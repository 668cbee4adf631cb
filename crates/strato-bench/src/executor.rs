//! Task overheads: `map` of no-op tasks end to end, and one task's spawn-to-join latency,
//! beside the same work on a std thread pool fed by channels.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use strato::executor::Executor;

use crate::report::Report;

fn noop(x: u64) -> u64 {
    x
}

/// Mean µs per task of `map` over `n` no-op tasks, one task per item (best of `reps`).
fn map_overhead(executor: &Executor, n: u64, reps: u32) -> anyhow::Result<f64> {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let start = Instant::now();
        let futures = executor.map(noop, 0..n)?;
        let results = executor.get_result(&futures)?;
        anyhow::ensure!(results.len() as u64 == n, "lost results");
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    Ok(best)
}

/// Median µs of one task from `call_async` to its result.
fn spawn_join(executor: &Executor, rounds: u32) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(rounds as usize);
    for i in 0..rounds {
        let start = Instant::now();
        let value = executor.call_async(noop, u64::from(i))?.result()?;
        anyhow::ensure!(value == u64::from(i), "wrong result");
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// A std thread pool: workers pull jobs from one channel, push results to another.
struct StdPool {
    jobs: Option<mpsc::Sender<u64>>,
    results: mpsc::Receiver<u64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl StdPool {
    fn new(threads: usize) -> StdPool {
        let (jobs, job_rx) = mpsc::channel::<u64>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let threads = (0..threads)
            .map(|_| {
                let (job_rx, result_tx) = (job_rx.clone(), result_tx.clone());
                std::thread::spawn(move || loop {
                    let job = job_rx.lock().unwrap().recv();
                    match job {
                        Ok(x) => drop(result_tx.send(std::hint::black_box(noop(x)))),
                        Err(_) => return,
                    }
                })
            })
            .collect();
        StdPool {
            jobs: Some(jobs),
            results,
            threads,
        }
    }

    /// Mean µs per item of `n` no-op jobs (best of `reps`).
    fn map_overhead(&self, n: u64, reps: u32) -> f64 {
        let jobs = self.jobs.as_ref().expect("open pool");
        let mut best = f64::MAX;
        for _ in 0..reps {
            let start = Instant::now();
            (0..n).for_each(|x| jobs.send(x).expect("pool alive"));
            (0..n).for_each(|_| {
                let _ = self.results.recv();
            });
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        best
    }
}

impl Drop for StdPool {
    fn drop(&mut self) {
        self.jobs.take();
        self.threads.drain(..).for_each(|t| drop(t.join()));
    }
}

/// Measures the map overheads, spawn-join latency, and the std pool baseline.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let reps = if quick { 2 } else { 5 };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let executor = Executor::builder().workers(workers).build()?;
    map_overhead(&executor, 1_000, 1)?; // warm-up
    for n in [10u64, 100, 1_000, 10_000] {
        let per_task = map_overhead(&executor, n, reps)?;
        let note = format!("map of {n} no-op tasks, chunksize 1, {workers} workers; per task");
        report.add(&format!("map_overhead_us_n{n}"), per_task, "µs", note);
    }
    let pool = StdPool::new(workers);
    let baseline = pool.map_overhead(1_000, reps * 5);
    report.add(
        "map_overhead_us_std",
        baseline,
        "µs",
        "the same 1,000 items on a std thread pool with channels",
    );
    let ratio = report.get("map_overhead_us_n1000").unwrap_or(f64::NAN) / baseline;
    report.add(
        "map_overhead_ratio_std",
        ratio,
        "×",
        "map_overhead_us_n1000 / map_overhead_us_std",
    );
    let rounds = if quick { 200 } else { 2_000 };
    let latency = spawn_join(&executor, rounds)?;
    report.add(
        "spawn_join_us",
        latency,
        "µs",
        "median of one task, call_async → result, warm workers",
    );
    if let Some(floor) = report.get("floor_rtt_us") {
        report.add(
            "spawn_join_floors",
            latency / floor,
            "×",
            "spawn_join_us / floor_rtt_us (target ≤ 4)",
        );
    }
    Ok(())
}
