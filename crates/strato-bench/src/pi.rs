//! CPU efficiency: Monte Carlo π on two worker processes against one native thread doing all
//! the work: (time of 1 thread) / (2 × strato time); 1.0 is perfect scaling.

use std::time::Instant;

use strato::executor::Executor;

use crate::report::Report;

fn hits((seed, points): (u64, u64)) -> u64 {
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

/// Measures `pi_efficiency`.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let points: u64 = if quick { 40_000_000 } else { 200_000_000 };
    let executor = Executor::builder().workers(2).build()?;
    executor.call_async(hits, (9, 1_000))?.result()?;
    let start = Instant::now();
    std::hint::black_box(hits((1, points)));
    let native = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let futures = executor.map(hits, [(1, points / 2), (2, points / 2)])?;
    executor.get_result(&futures)?;
    let strato = start.elapsed().as_secs_f64();
    report.add(
        "pi_native_s",
        native,
        "s",
        "Monte Carlo π, one native thread",
    );
    report.add(
        "pi_strato_s",
        strato,
        "s",
        "the same points as 2 tasks on 2 worker processes",
    );
    report.add(
        "pi_efficiency",
        native / (2.0 * strato),
        "",
        "native / (2 × strato) (target ≥ 0.95)",
    );
    Ok(())
}
