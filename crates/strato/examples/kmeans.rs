//! k-means (Lloyd's algorithm) with a barrier per round and a **server-side** centroid
//! update: each thread calls `centroids.update(sums, counts)` once per round, and the update
//! runs on the state server next to the data (Crucial's k-means).
//!
//! One body, two builds: `--local` runs it on std threads with the centroids behind a local
//! mutex, the default on strato threads with the centroids as a shared object; both print
//! the same `result:` line. 0 lines of the body differ.
//!
//! ```text
//! cargo run --release -p strato --example kmeans -- --threads 4 --points 50000 --k 5
//! ```

use clap::Parser;

mod local {
    use std::{sync, thread};
    use strato::local::{closure, shared};
    include!("bodies/kmeans.rs");
}

mod cloud {
    use strato::{closure, shared};
    use strato::{sync, thread};
    include!("bodies/kmeans.rs");
}

/// `count` deterministic points around five clusters, from seed `seed`.
fn points(seed: u64, count: usize) -> Vec<(i64, i64)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let cluster = (next() % 5) as i64;
            let (cx, cy) = (cluster * 2_000, (cluster * 7 % 5) * 2_000);
            (cx + (next() % 1_500) as i64, cy + (next() % 1_500) as i64)
        })
        .collect()
}

/// Per centre: the sum of the points nearest to it, and how many there are.
fn assign(points: &[(i64, i64)], centers: &[(i64, i64)]) -> (Vec<(i64, i64)>, Vec<u64>) {
    let mut sums = vec![(0, 0); centers.len()];
    let mut counts = vec![0; centers.len()];
    for &(x, y) in points {
        let distance = |&(cx, cy): &(i64, i64)| (x - cx).pow(2) + (y - cy).pow(2);
        let nearest = (0..centers.len())
            .min_by_key(|&k| (distance(&centers[k]), k))
            .unwrap_or(0);
        sums[nearest].0 += x;
        sums[nearest].1 += y;
        counts[nearest] += 1;
    }
    (sums, counts)
}

/// k-means over threads sharing the centroids.
#[derive(Debug, Parser)]
struct Args {
    /// Run on std threads instead of strato's.
    #[arg(long)]
    local: bool,
    /// Threads (each owns a slice of the points).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Points per thread.
    #[arg(long, default_value_t = 20_000)]
    points: usize,
    /// Clusters.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Rounds of Lloyd's algorithm.
    #[arg(long, default_value_t = 8)]
    rounds: u32,
}

fn main() {
    strato::init();
    let args = Args::parse();
    let summary = match args.local {
        true => local::run(args.threads, args.points, args.k, args.rounds),
        false => cloud::run(args.threads, args.points, args.k, args.rounds),
    };
    println!("result: {summary}");
}
