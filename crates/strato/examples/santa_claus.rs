//! The Santa Claus problem (Trono; the "groups and gates" solution of Beautiful
//! Concurrency): Santa sleeps until all nine reindeer are back (they go first) or three of
//! the elves need help. Here: 9 reindeer, 10 elves, 15 deliveries, each elf needs help 3
//! times (at the very end, when fewer than three elves still have problems, Santa helps a
//! smaller group, so that the run ends). The North Pole is a monitor; its waiting methods (`delivered`, `helped`,
//! `next_job`) are the gates, and in the strato build they wait on the state server.
//!
//! One body, two builds: `--local` runs it on std threads with a mutex/condvar monitor, the
//! default on strato threads (20 of them, one worker process each); both print the same
//! `result:` line. 0 lines of the body differ.
//!
//! ```text
//! cargo run --release -p strato --example santa_claus
//! ```

use clap::Parser;

mod local {
    use std::thread;
    use strato::local::{closure, shared};
    include!("bodies/santa_claus.rs");
}

mod cloud {
    use strato::thread;
    use strato::{closure, shared};
    include!("bodies/santa_claus.rs");
}

/// Santa, his reindeer and his elves.
#[derive(Debug, Parser)]
struct Args {
    /// Run on std threads instead of strato's.
    #[arg(long)]
    local: bool,
    /// Elves.
    #[arg(long, default_value_t = 10)]
    elves: u32,
    /// Deliveries to make.
    #[arg(long, default_value_t = 15)]
    deliveries: u32,
    /// Times each elf needs help.
    #[arg(long, default_value_t = 3)]
    problems: u32,
}

fn main() {
    strato::init();
    let args = Args::parse();
    let summary = match args.local {
        true => local::run(args.elves, args.deliveries, args.problems),
        false => cloud::run(args.elves, args.deliveries, args.problems),
    };
    println!("result: {summary}");
}
