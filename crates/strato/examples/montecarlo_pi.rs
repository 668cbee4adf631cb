//! Monte Carlo π with threads and one shared counter (Crucial's first example): each thread
//! throws its share of random points and adds its hits to a shared `AtomicU64`.
//!
//! One body, two builds: `--local` runs it on std threads, the default on strato threads
//! (worker processes); both print the same `result:` line. The builds differ only in their
//! `use` lines (0 lines of the body differ).
//!
//! ```text
//! cargo run --release -p strato --example montecarlo_pi -- --threads 8 --points 20000000
//! ```

use clap::Parser;

mod local {
    use std::{sync, thread};
    use strato::local::closure;
    include!("bodies/montecarlo_pi.rs");
}

mod cloud {
    use strato::closure;
    use strato::{sync, thread};
    include!("bodies/montecarlo_pi.rs");
}

/// Counts hits inside the quarter circle of `points` points from the generator seeded `seed`.
fn xorshift_hits(seed: u64, points: u64) -> u64 {
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

/// Monte Carlo π on threads sharing one counter.
#[derive(Debug, Parser)]
struct Args {
    /// Run on std threads instead of strato's.
    #[arg(long)]
    local: bool,
    /// Threads to spread the points over.
    #[arg(long, default_value_t = 4)]
    threads: u64,
    /// Points in total.
    #[arg(long, default_value_t = 4_000_000)]
    points: u64,
}

fn main() {
    strato::init();
    let args = Args::parse();
    let summary = match args.local {
        true => local::run(args.threads, args.points),
        false => cloud::run(args.threads, args.points),
    };
    println!("result: {summary}");
}
