//! Memory: the driver's peak while mapping 1,000,000 no-op tasks, and the state server's
//! growth per object beside Redis's per key. Both run in child processes of this binary so
//! their numbers are theirs alone.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use strato::Client;
use strato_proto::{Call, Init, Role, Scalar};

use crate::report::Report;
use strato_redis::local::LocalRedis;

const CHILD_ENV: &str = "STRATO_BENCH_CHILD";

/// Runs a child role (and exits) if this process was started as one.
pub fn run_child_if_asked() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let result = match role.as_str() {
        "map1m" => map_million(),
        "serve" => serve(),
        other => Err(anyhow::anyhow!("unknown child role {other}")),
    };
    if let Err(e) = result {
        eprintln!("strato-bench child {role}: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn noop(x: u64) -> u64 {
    x
}

fn map_million() -> anyhow::Result<()> {
    let n: u64 = std::env::var("STRATO_BENCH_N")?.parse()?;
    let executor = strato::executor::Executor::builder().workers(2).build()?;
    let futures = executor.map(noop, 0..n)?;
    let results = executor.get_result(&futures)?;
    anyhow::ensure!(
        results.len() as u64 == n && results[n as usize - 1] == n - 1,
        "wrong results"
    );
    println!("PEAK_KB {}", status_kb(std::process::id(), "VmHWM:")?);
    Ok(())
}

fn serve() -> anyhow::Result<()> {
    let config = strato_server::Config::default();
    let server = strato_server::start(config)?;
    println!("listening on {}", server.address());
    std::thread::park();
    Ok(())
}

/// A `/proc/PID/status` field in kB.
fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

fn child(role: &str, n: u64) -> anyhow::Result<(Child, impl Iterator<Item = String>)> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(CHILD_ENV, role)
        .env("STRATO_BENCH_N", n.to_string())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    Ok((child, BufReader::new(stdout).lines().map_while(Result::ok)))
}

fn driver_peak_mb(n: u64) -> anyhow::Result<f64> {
    let (mut child, mut lines) = child("map1m", n)?;
    let line = lines
        .find(|l| l.starts_with("PEAK_KB "))
        .ok_or_else(|| anyhow::anyhow!("map1m failed"))?;
    child.wait()?;
    Ok(line[8..].trim().parse::<f64>()? / 1024.0)
}

/// Server memory growth per `AtomicU64`, over `n` persistent objects.
fn server_bytes_per_object(n: u64) -> anyhow::Result<f64> {
    let (mut child, mut lines) = child("serve", 0)?;
    let line = lines
        .find(|l| l.starts_with("listening on "))
        .ok_or_else(|| anyhow::anyhow!("no server"))?;
    let client = Client::connect(line.trim_start_matches("listening on ").trim())?;
    client.call(Call::Ping)?;
    let before = status_kb(child.id(), "VmRSS:")?;
    for batch in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let opens = batch.iter().map(|i| Call::Open {
            name: format!("counter-{i}"),
            init: Init::Atomic(Scalar::U64(0)),
            persistent: true,
            role: Role::Handle,
        });
        client.cast_all(opens)?;
    }
    client.call(Call::Ping)?;
    let after = status_kb(child.id(), "VmRSS:")?;
    child.kill()?;
    child.wait()?;
    Ok(after.saturating_sub(before) as f64 * 1024.0 / n as f64)
}

fn redis_bytes_per_key(n: u64) -> anyhow::Result<f64> {
    let redis = LocalRedis::start()?;
    let mut connection = redis::Client::open(redis.url())?.get_connection()?;
    let used = |c: &mut redis::Connection| -> anyhow::Result<f64> {
        let info: String = redis::cmd("INFO").arg("memory").query(c)?;
        let line = info
            .lines()
            .find(|l| l.starts_with("used_memory:"))
            .unwrap_or("used_memory:0");
        Ok(line["used_memory:".len()..].trim().parse()?)
    };
    let before = used(&mut connection)?;
    for batch in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let mut pipe = redis::pipe();
        for i in batch {
            pipe.cmd("INCR").arg(format!("counter-{i}")).ignore();
        }
        pipe.query::<()>(&mut connection)?;
    }
    Ok((used(&mut connection)? - before) / n as f64)
}

/// Measures the driver's peak and the per-object memory of the server and of Redis.
pub fn run(report: &mut Report, _quick: bool) -> anyhow::Result<()> {
    let n = 1_000_000;
    let peak = driver_peak_mb(n)?;
    report.add("map_1m_driver_peak_mb", peak, "MB", "peak RSS of the driver (with its embedded server) mapping 1,000,000 no-op tasks (target ≤ 256)");
    let objects = 100_000;
    let strato = server_bytes_per_object(objects)?;
    let redis = redis_bytes_per_key(objects)?;
    report.add(
        "server_bytes_per_object",
        strato,
        "B",
        "state server RSS growth per AtomicU64, 100,000 objects",
    );
    report.add(
        "server_bytes_per_object_redis",
        redis,
        "B",
        "Redis used_memory growth per INCR key",
    );
    report.add(
        "server_bytes_ratio_redis",
        strato / redis,
        "×",
        "target ≤ 2",
    );
    Ok(())
}
