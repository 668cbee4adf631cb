//! The Python group: `python/bench/mp_bench.py` on Python's own `multiprocessing` (the
//! standard library only) and, where strato's Python package is installed, on
//! `strato.multiprocessing`, in the same run.
//!
//! The standard library's figures are the `…_mp` baselines of `shared/BENCHMARKS.md`, beside
//! which the Rust groups' metrics are read (`map_overhead_us_n1000` against
//! `map_overhead_us_n1000_mp`, …). strato's Python front is reported as `py_<name>_strato`
//! beside `py_<name>_mp`, with their ratio `py_<name>_ratio_mp`. Skipped, with a message,
//! where no Python is found; the strato half is skipped where the Python found cannot import
//! strato (`scripts/test` builds it into `target/tools/python`; `STRATO_BENCH_PYTHON` names
//! another Python).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::report::Report;

/// The script's metrics: its name, the `…_mp` baseline's name with the factor from the
/// script's unit to the baseline's, the Rust metric read against it, and what it measures.
struct Metric {
    script: &'static str,
    unit: &'static str,
    baseline: &'static str,
    scale: f64,
    rust: &'static str,
    what: &'static str,
}

const METRICS: &[Metric] = &[
    Metric {
        script: "map_overhead_us",
        unit: "µs",
        baseline: "map_overhead_us_n1000_mp",
        scale: 1.0,
        rust: "map_overhead_us_n1000",
        what: "Pool(2).map of 1,000 no-ops, chunksize 1, per item",
    },
    Metric {
        script: "queue_rt_1k_us",
        unit: "µs",
        baseline: "queue_rtt_1k_us_mp",
        scale: 1.0,
        rust: "queue_rtt_1k_us",
        what: "1 KiB round trip through two Queues to an echoing process, median",
    },
    Metric {
        script: "pipe_rt_1k_us",
        unit: "µs",
        baseline: "pipe_rtt_1k_us_mp",
        scale: 1.0,
        rust: "pipe_rtt_1k_us",
        what: "1 KiB round trip over a Pipe to an echoing process, median",
    },
    Metric {
        script: "pipe_rt_1m_ms",
        unit: "µs",
        baseline: "pipe_rtt_1m_us_mp",
        scale: 1e3,
        rust: "pipe_rtt_1m_us",
        what: "1 MiB round trip over a Pipe to an echoing process, median",
    },
    Metric {
        script: "barrier_2_us",
        unit: "µs",
        baseline: "barrier_2_us_mp",
        scale: 1.0,
        rust: "barrier_2_us",
        what: "one Barrier crossing, 2 processes",
    },
    Metric {
        script: "barrier_8_us",
        unit: "µs",
        baseline: "barrier_8_us_mp",
        scale: 1.0,
        rust: "barrier_8_us",
        what: "one Barrier crossing, 8 processes",
    },
    Metric {
        script: "counter_8x1000_ms",
        unit: "ms",
        baseline: "counter_8x1000_ms_mp",
        scale: 1.0,
        rust: "counter_8x1000_ms",
        what: "8 processes × 1,000 Value+Lock increments",
    },
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python to run the script with: `STRATO_BENCH_PYTHON`, else the venv `scripts/test`
/// makes, else `python3`, whichever runs first.
fn python() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("STRATO_BENCH_PYTHON") {
        Some(path) => vec![path.into()],
        None => vec![
            workspace().join("target/tools/python/bin/python"),
            "python3".into(),
        ],
    };
    candidates.into_iter().find(|python| runs(python, "pass"))
}

/// Whether `python -c code` runs and succeeds.
fn runs(python: &Path, code: &str) -> bool {
    Command::new(python)
        .args(["-c", code])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// One run of the script on `implementation` (`strato` or `stdlib`): its metrics.
fn measure(
    python: &Path,
    implementation: &str,
    quick: bool,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let script = workspace().join("python/bench/mp_bench.py");
    let mut command = Command::new(python);
    command.arg(&script).args(["--impl", implementation]);
    if quick {
        command.arg("--quick");
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} --impl {implementation} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("the Python group's output is not JSON")
}

/// The unit a script metric's name ends with.
fn unit_of(name: &str) -> &'static str {
    if name.ends_with("_ms") {
        "ms"
    } else {
        "µs"
    }
}

fn value(values: &serde_json::Map<String, serde_json::Value>, name: &str) -> anyhow::Result<f64> {
    values
        .get(name)
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("the Python group did not measure {name}"))
}

/// Measures the `…_mp` baselines (with each Rust metric's ratio to its baseline, when that
/// group ran), then strato's Python front as `py_<name>_strato` beside `py_<name>_mp`, with
/// their ratio `py_<name>_ratio_mp`.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let Some(python) = python() else {
        eprintln!("python: skipped (no python3 found; STRATO_BENCH_PYTHON names one)");
        return Ok(());
    };
    let stdlib = measure(&python, "stdlib", quick)?;
    for metric in METRICS {
        let baseline = value(&stdlib, metric.script)? * metric.scale;
        report.add(
            metric.baseline,
            baseline,
            metric.unit,
            format!("{}: Python multiprocessing", metric.what),
        );
        if let Some(ours) = report.get(metric.rust) {
            report.add(
                &format!("{}_ratio_mp", metric.rust),
                ours / baseline,
                "×",
                format!("{} / {} (target ≤ 1)", metric.rust, metric.baseline),
            );
        }
    }
    if !runs(&python, "import strato._native") {
        eprintln!(
            "python: strato's Python front skipped ({} cannot import strato: run scripts/test \
             once, or set STRATO_BENCH_PYTHON)",
            python.display()
        );
        return Ok(());
    }
    let debug = runs(
        &python,
        "import sys, strato._native as n; sys.exit(0 if getattr(n, 'DEBUG_BUILD', False) else 1)",
    );
    let build = match debug {
        true => {
            eprintln!(
                "python: strato's native module is a debug build: its rows are not comparable \
                 (build it with `maturin develop --release` in {})",
                python.display()
            );
            " (a debug build)"
        }
        false => "",
    };
    let strato = measure(&python, "strato", quick)?;
    for metric in METRICS {
        let (baseline, ours) = (
            value(&stdlib, metric.script)?,
            value(&strato, metric.script)?,
        );
        let unit = unit_of(metric.script);
        report.add(
            &format!("py_{}_mp", metric.script),
            baseline,
            unit,
            format!("{}: Python multiprocessing", metric.what),
        );
        report.add(
            &format!("py_{}_strato", metric.script),
            ours,
            unit,
            format!("{}: strato.multiprocessing{build}", metric.what),
        );
        report.add(
            &format!("py_{}_ratio_mp", metric.script),
            ours / baseline,
            "×",
            format!("py_{0}_strato / py_{0}_mp", metric.script),
        );
    }
    Ok(())
}
