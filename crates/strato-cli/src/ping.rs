//! `strato ping`: round trips to a state server.

use std::time::{Duration, Instant};

use strato_client::{Client, ConnectOptions};
use strato_proto::Call;

use crate::flags::PingArgs;

/// Prints one line per round trip and a summary.
pub fn run(args: PingArgs) -> anyhow::Result<()> {
    let options = ConnectOptions {
        token: args.token.clone(),
        ..ConnectOptions::default()
    };
    let client = Client::connect_with(&args.connect, options)?;
    let mut times = Vec::with_capacity(args.count as usize);
    for seq in 1..=args.count {
        let start = Instant::now();
        client.call(Call::Ping)?;
        let took = start.elapsed();
        println!("ping {seq}: {:.1} µs", micros(took));
        times.push(took);
    }
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    let avg = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{} round trips to {}: min {:.1} µs, avg {:.1} µs, max {:.1} µs",
        times.len(),
        client.address(),
        micros(min),
        micros(avg),
        micros(max)
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
