//! Monte Carlo π over many tasks: each task throws its share of random points at the unit
//! square and counts those inside the quarter circle.
//!
//! ```text
//! cargo run --release -p strato --example pi -- --tasks 32 --points 100000000
//! cargo run --release -p strato --example pi -- --plot plots/   # and draw the job
//! ```

use std::time::Instant;

use clap::Parser;
use strato::executor::Executor;

/// Estimates π with random points spread over worker processes.
#[derive(Debug, Parser)]
struct Args {
    /// How many tasks to split the points over.
    #[arg(long, default_value_t = 16)]
    tasks: u64,
    /// Points in total, split evenly across the tasks.
    #[arg(long, default_value_t = 20_000_000)]
    points: u64,
    /// Also write the job's timeline and concurrency histogram (PNG and SVG) into this directory.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

/// One task's share: a seed and how many points to throw.
type Share = (u64, u64);

/// Counts the points of one share that land inside the quarter circle.
fn count_inside((seed, points): Share) -> u64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..points)
        .filter(|_| {
            let (x, y) = (next(), next());
            x * x + y * y <= 1.0
        })
        .count() as u64
}

fn shares(tasks: u64, points: u64) -> Vec<Share> {
    let tasks = tasks.max(1);
    (0..tasks)
        .map(|i| (i + 1, points / tasks + u64::from(i < points % tasks)))
        .collect()
}

fn main() -> std::process::ExitCode {
    strato::init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    strato::init_tracing(); // RUST_LOG=strato=debug follows the job through every process
    let args = Args::parse();
    let started = Instant::now();
    let executor = Executor::new()?;
    let futures = executor.map(count_inside, shares(args.tasks, args.points))?;
    let inside: u64 = executor.get_result(&futures)?.iter().sum();
    let pi = 4.0 * inside as f64 / args.points.max(1) as f64;
    println!("pi ≈ {pi:.6}");
    println!(
        "tasks={} workers={} elapsed={:.3}",
        futures.len(),
        executor.worker_count(),
        started.elapsed().as_secs_f64()
    );
    if let Some(dir) = &args.plot {
        for file in executor.plot(&futures, dir)? {
            println!("wrote {}", file.display());
        }
    }
    Ok(())
}
