//! The Python group: `python/bench/mp_bench.py` on strato's Python package and on Python's
//! own `multiprocessing`, in the same run, side by side. Skipped, with a message, where no
//! Python with strato installed is found (`scripts/test` makes one in
//! `target/tools/python`; `STRATO_BENCH_PYTHON` names another).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::report::Report;

/// The script's metrics: name, unit, what it measures.
const METRICS: &[(&str, &str, &str)] = &[
    (
        "map_overhead_us",
        "µs",
        "Pool.map of no-ops, chunksize 1, per item",
    ),
    (
        "queue_rt_1k_us",
        "µs",
        "Queue round trip of 1 KiB to an echoing process",
    ),
    (
        "pipe_rt_1k_us",
        "µs",
        "Pipe round trip of 1 KiB to an echoing process",
    ),
    (
        "pipe_rt_1m_ms",
        "ms",
        "Pipe round trip of 1 MiB to an echoing process",
    ),
    ("barrier_2_us", "µs", "Barrier crossing, 2 processes"),
    ("barrier_8_us", "µs", "Barrier crossing, 8 processes"),
    (
        "counter_8x1000_ms",
        "ms",
        "8 processes × 1,000 Value+Lock increments",
    ),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python with strato installed, if there is one: `STRATO_BENCH_PYTHON`, else the venv
/// `scripts/test` makes, provided it can import strato's native module.
fn python() -> Option<PathBuf> {
    let python: PathBuf = match std::env::var_os("STRATO_BENCH_PYTHON") {
        Some(path) => path.into(),
        None => workspace().join("target/tools/python/bin/python"),
    };
    imports_strato(&python).then_some(python)
}

/// Whether `python` runs and finds `strato._native` (a venv made but not yet built into
/// has no strato).
fn imports_strato(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import strato._native"])
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

fn metric(values: &serde_json::Map<String, serde_json::Value>, name: &str) -> anyhow::Result<f64> {
    values
        .get(name)
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("the Python group did not measure {name}"))
}

/// Measures every metric of [`METRICS`] as `py_<name>_mp` and `py_<name>_strato`.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let Some(python) = python() else {
        eprintln!(
            "python: skipped (no Python with strato installed: run scripts/test once, or set \
             STRATO_BENCH_PYTHON)"
        );
        return Ok(());
    };
    let stdlib = measure(&python, "stdlib", quick)?;
    let strato = measure(&python, "strato", quick)?;
    for (name, unit, what) in METRICS {
        let (baseline, ours) = (metric(&stdlib, name)?, metric(&strato, name)?);
        report.add(
            &format!("py_{name}_mp"),
            baseline,
            unit,
            format!("{what}: Python multiprocessing"),
        );
        report.add(
            &format!("py_{name}_strato"),
            ours,
            unit,
            format!(
                "{what}: strato.multiprocessing, {:.2} × multiprocessing",
                ours / baseline
            ),
        );
    }
    Ok(())
}
