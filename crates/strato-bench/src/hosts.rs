//! Worker hosts over TCP: a state server on loopback TCP and a host daemon on a thread of
//! this process, whose workers are this benchmark's executable fetched by hash. Task
//! overheads beside the local figures of the `executor` group, and how long a host takes to
//! fetch an executable it has not seen (cold) and to check one it has cached (warm).

use std::time::{Duration, Instant};

use strato::executor::{ComputeKind, Executor};
use strato_worker::exe::{ExeCache, ExeRef};
use strato_worker::hosts::{Daemon, DaemonOptions};

use crate::report::Report;

fn noop(x: u64) -> u64 {
    x
}

/// Runs the group.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let server = strato_server::start(strato_server::Config {
        listen: vec!["tcp://127.0.0.1:0".parse()?],
        ..Default::default()
    })?;
    let address = server.address().to_string();
    let dir = std::env::temp_dir().join(format!("strato-bench-hosts-{}", std::process::id()));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    start_daemon(&address, &dir.join("host"), workers)?;
    let client = strato::Client::connect(&address)?;
    let started = Instant::now();
    let executor = Executor::builder()
        .client(client.clone())
        .compute(ComputeKind::Hosts)
        .workers(workers)
        .build()?;
    report.add(
        "hosts_start_cold_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
        format!("an executor of {workers} workers on a host that never saw the executable"),
    );
    fetch_times(report, &client, &dir.join("probe"))?;
    overheads(report, &executor, quick)?;
    drop(executor);
    let started = Instant::now();
    let again = Executor::builder()
        .client(client)
        .compute(ComputeKind::Hosts)
        .workers(workers)
        .build()?;
    report.add(
        "hosts_start_warm_ms",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
        "the same with the executable cached on the host",
    );
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn start_daemon(address: &str, cache: &std::path::Path, slots: usize) -> anyhow::Result<()> {
    let mut options = DaemonOptions::new(address);
    options.cache = cache.to_path_buf();
    options.slots = slots;
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("bench-host".into())
        .spawn(move || {
            let _ = Daemon::new(options).run(|_| {
                let _ = ready_tx.send(());
            });
        })?;
    ready.recv_timeout(Duration::from_secs(30))?;
    Ok(())
}

/// A cold fetch (into an empty cache) and a warm one (the cached copy's hash checked).
fn fetch_times(
    report: &mut Report,
    client: &strato::Client,
    cache: &std::path::Path,
) -> anyhow::Result<()> {
    let exe = ExeRef::current()?;
    let cache = ExeCache::new(cache);
    let timed = || -> anyhow::Result<f64> {
        let started = Instant::now();
        cache.obtain(client, &exe)?;
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };
    let (cold, warm) = (timed()?, timed()?);
    let mb = exe.len as f64 / 1e6;
    report.add(
        "hosts_exe_fetch_cold_ms",
        cold,
        "ms",
        format!("fetch {mb:.0} MB by hash from the state server, check, cache"),
    );
    report.add(
        "hosts_exe_fetch_warm_ms",
        warm,
        "ms",
        "check the cached copy's hash",
    );
    Ok(())
}

fn overheads(report: &mut Report, executor: &Executor, quick: bool) -> anyhow::Result<()> {
    let reps = if quick { 2 } else { 5 };
    let mut best = f64::MAX;
    executor.get_result(&executor.map(noop, 0..1_000u64)?)?; // warm-up
    for _ in 0..reps {
        let start = Instant::now();
        let results = executor.get_result(&executor.map(noop, 0..1_000u64)?)?;
        anyhow::ensure!(results.len() == 1_000, "lost results");
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / 1_000.0);
    }
    report.add(
        "map_overhead_us_n1000_hosts",
        best,
        "µs",
        "map_overhead_us_n1000 with workers on a host over loopback TCP",
    );
    let rounds = if quick { 200 } else { 2_000 };
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let start = Instant::now();
        anyhow::ensure!(executor.call_async(noop, i)?.result()? == i, "wrong result");
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    report.add(
        "spawn_join_us_hosts",
        times[times.len() / 2],
        "µs",
        "spawn_join_us with a worker on a host over loopback TCP",
    );
    Ok(())
}
