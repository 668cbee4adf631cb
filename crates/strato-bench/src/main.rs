//! `strato-bench`: the benchmarks of `shared/BENCHMARKS.md`, each beside its baseline in the
//! same run, printed as a table and written as one flat JSON object of metrics.
//!
//! ```text
//! cargo run --release -p strato-bench -- [--quick] [--json PATH] [--only NAME...] [--rounds N]
//! ```
//!
//! With `--rounds N`, the chosen groups run N times in turn and each metric is reported as the
//! median of its N values, so that a burst of noise on the machine moves a baseline and the
//! metric read against it alike.

mod complex;
mod executor;
mod floor;
mod hosts;
mod lambda;
mod memory;
mod pi;
mod python;
mod queue;
mod redis_backend;
mod report;
mod server;
mod sync;

use clap::Parser;

use report::Report;

/// Benchmarks of strato with their baselines.
#[derive(Debug, Parser)]
#[command(name = "strato-bench")]
struct Args {
    /// Fewer repetitions (for CI): well under two minutes.
    #[arg(long)]
    quick: bool,
    /// Where to write the metrics as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Run only the groups with these names (floor, executor, queue, sync, complex, server,
    /// pi, memory, redis_backend, hosts, lambda, python).
    #[arg(long, num_args = 1..)]
    only: Vec<String>,
    /// Run the groups this many times in turn and report each metric's median.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
}

/// A group of benchmarks: its name and what it runs.
type Group = (&'static str, fn(&mut Report, bool) -> anyhow::Result<()>);

const GROUPS: &[Group] = &[
    ("floor", floor::run),
    ("executor", executor::run),
    ("queue", queue::run),
    ("sync", sync::run),
    ("complex", complex::run),
    ("server", server::run),
    ("pi", pi::run),
    ("memory", memory::run),
    ("redis_backend", redis_backend::run),
    ("hosts", hosts::run),
    ("lambda", lambda::run),
    ("python", python::run),
];

fn main() -> anyhow::Result<()> {
    strato::init();
    floor::serve_echo_if_asked();
    memory::run_child_if_asked();
    lambda::run_child_if_asked();
    let args = Args::parse();
    let unknown: Vec<&String> = args
        .only
        .iter()
        .filter(|name| !GROUPS.iter().any(|(group, _)| group == name))
        .collect();
    anyhow::ensure!(unknown.is_empty(), "unknown benchmark groups: {unknown:?}");
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let mut report = Report::default();
        for (name, run) in GROUPS {
            if args.only.is_empty() || args.only.iter().any(|o| o == name) {
                eprintln!("running {name} (round {round} of {})…", args.rounds);
                run(&mut report, args.quick)?;
            }
        }
        rounds.push(report);
    }
    let report = Report::median_of(rounds);
    report.print();
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    Ok(())
}
