//! A producer/consumer pipeline over bounded channels: a producer thread, a squaring stage
//! and a summing consumer, each stage blocking on its neighbours (the channel waits on the
//! state server in the strato build).
//!
//! One body, two builds: `--local` runs it on std threads and channels, the default on
//! strato's; both print the same `result:` line. 0 lines of the body differ.
//!
//! ```text
//! cargo run --release -p strato --example pipeline -- --items 10000
//! ```

use clap::Parser;

mod local {
    use std::{sync, thread};
    use strato::local::closure;
    include!("bodies/pipeline.rs");
}

mod cloud {
    use strato::closure;
    use strato::{sync, thread};
    include!("bodies/pipeline.rs");
}

/// A three-stage pipeline over bounded channels.
#[derive(Debug, Parser)]
struct Args {
    /// Run on std threads instead of strato's.
    #[arg(long)]
    local: bool,
    /// Items to push through.
    #[arg(long, default_value_t = 2_000)]
    items: u64,
    /// Capacity of each channel.
    #[arg(long, default_value_t = 64)]
    capacity: usize,
}

fn main() {
    strato::init();
    let args = Args::parse();
    let summary = match args.local {
        true => local::run(args.items, args.capacity),
        false => cloud::run(args.items, args.capacity),
    };
    println!("result: {summary}");
}
