//! The `lambda` compute backend through a real local Lambda endpoint: cargo-lambda's
//! emulator, runner processes standing in for Lambda's fleet (`strato_lambda::local`), the
//! state on loopback TCP and the executable in a local directory standing in for S3. How
//! long a first result takes with runners that never saw the executable (cold) and with
//! runners that cached it (warm), beside local workers in the same run, and the per-task
//! overhead of a map.
//!
//! Skipped with a message where cargo-lambda or the runner binary is missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use strato::executor::{ComputeKind, Executor};
use strato_lambda::local::{Emulator, RunnerFleet};

use crate::report::Report;

/// Set in the child process that drives the executors.
const CHILD_ENV: &str = "STRATO_BENCH_LAMBDA_CHILD";
/// Worker slots (invocations in flight) of every executor here.
const WORKERS: usize = 2;

fn noop(x: u64) -> u64 {
    x
}

/// Runs the group.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let (cargo_lambda, runner) = match tools() {
        Ok(tools) => tools,
        Err(missing) => {
            eprintln!("lambda: skipped: {missing}");
            return Ok(());
        }
    };
    let server = strato_server::start(strato_server::Config {
        listen: vec!["tcp://127.0.0.1:0".parse()?],
        ..Default::default()
    })?;
    let dir = std::env::temp_dir().join(format!("strato-bench-lambda-{}", std::process::id()));
    let emulator = Emulator::start(&cargo_lambda, "runner")?;
    let fleet = RunnerFleet::start(&emulator, &runner, WORKERS, &[], &dir.join("fleet"))?;
    let output = Command::new(std::env::current_exe()?)
        .env(CHILD_ENV, if quick { "quick" } else { "full" })
        .env("STRATO_STATE", server.address().to_string())
        .env("STRATO_COMPUTE", "lambda")
        .env("STRATO_LAMBDA_FUNCTION", emulator.function())
        .env("STRATO_LAMBDA_ENDPOINT", emulator.endpoint())
        .env("STRATO_LAMBDA_TIMEOUT", "300")
        .env(
            "STRATO_STORAGE",
            format!("file://{}", dir.join("storage").display()),
        )
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("STRATO_CONFIG")
        .output()?;
    drop(fleet);
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        output.status.success(),
        "the lambda child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((name, value)) = line.strip_prefix("METRIC ").and_then(|m| m.split_once(' ')) {
            let (unit, note) = describe(name);
            report.add(name, value.parse()?, unit, note);
        }
    }
    Ok(())
}

fn describe(name: &str) -> (&'static str, &'static str) {
    match name {
        "lambda_first_result_cold_ms" => (
            "ms",
            "Executor::build to a first result, 2 invocations whose runners fetch and check the executable",
        ),
        "lambda_first_result_warm_ms" => ("ms", "the same, the executable cached by the runners"),
        "local_first_result_ms" => ("ms", "the same with 2 local worker processes"),
        "map_overhead_us_n1000_lambda" => (
            "µs",
            "map_overhead_us_n1000 with 2 workers in invocations through the emulator",
        ),
        _ => ("", ""),
    }
}

/// The cargo-lambda binary and the runner binary, or what is missing.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let cargo_lambda = std::env::var_os("STRATO_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/tools/cargo-lambda/bin/cargo-lambda"));
    if !cargo_lambda.is_file() {
        return Err(format!(
            "no cargo-lambda at {} (scripts/test installs it; or set STRATO_CARGO_LAMBDA)",
            cargo_lambda.display()
        ));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let runner = exe.with_file_name("strato-lambda-runner");
    if !runner.is_file() {
        return Err(format!(
            "no runner at {} (cargo build --release -p strato-lambda)",
            runner.display()
        ));
    }
    Ok((cargo_lambda, runner))
}

/// In the child: drives the executors and prints `METRIC name value` lines.
pub fn run_child_if_asked() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    if let Err(e) = child(mode == "quick") {
        eprintln!("strato-bench lambda child: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn child(quick: bool) -> anyhow::Result<()> {
    let cold = first_result_ms(ComputeKind::Lambda)?;
    let warm = first_result_ms(ComputeKind::Lambda)?;
    let local = first_result_ms(ComputeKind::Local)?;
    println!("METRIC lambda_first_result_cold_ms {cold}");
    println!("METRIC lambda_first_result_warm_ms {warm}");
    println!("METRIC local_first_result_ms {local}");
    let executor = Executor::builder()
        .compute(ComputeKind::Lambda)
        .workers(WORKERS)
        .build()?;
    executor.get_result(&executor.map(noop, 0..1_000u64)?)?; // warm-up
    let mut best = f64::MAX;
    for _ in 0..if quick { 2 } else { 5 } {
        let start = Instant::now();
        let results = executor.get_result(&executor.map(noop, 0..1_000u64)?)?;
        anyhow::ensure!(results.len() == 1_000, "lost results");
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / 1_000.0);
    }
    println!("METRIC map_overhead_us_n1000_lambda {best}");
    Ok(())
}

/// From `Executor::build` to the first call's result.
fn first_result_ms(kind: ComputeKind) -> anyhow::Result<f64> {
    let start = Instant::now();
    let executor = Executor::builder().compute(kind).workers(WORKERS).build()?;
    anyhow::ensure!(executor.call_async(noop, 7)?.result()? == 7, "wrong result");
    Ok(start.elapsed().as_secs_f64() * 1e3)
}
