//! How the parties run: each is a thread of this process with a connection of its own
//! (separate connections stand for separate processes), warmed up before the clock starts.

use std::time::Instant;

use crate::queue::median;

/// Untimed rounds each party makes before `rounds` timed ones (connections, scripts and
/// caches warm): a tenth more, at least one.
pub fn warm_up(rounds: u32) -> u32 {
    rounds / 10 + 1
}

/// A name no other measurement of this run uses.
pub fn fresh(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("bench-{what}-{}-{n}", std::process::id())
}

/// Opens `n` parties with `open`, each on its own connection.
pub fn parties<S>(n: usize, open: impl Fn() -> anyhow::Result<S>) -> anyhow::Result<Vec<S>> {
    (0..n).map(|_| open()).collect()
}

/// `ping` makes `rounds` round trips (after [`warm_up`] ones) while `pong` answers each on a
/// thread of its own; returns the median round trip in µs.
pub fn ping_pong(rounds: u32, mut ping: impl FnMut(), mut pong: impl FnMut() + Send) -> f64 {
    std::thread::scope(|s| {
        let warm = warm_up(rounds);
        s.spawn(move || (0..rounds + warm).for_each(|_| pong()));
        (0..warm).for_each(|_| ping());
        let times = (0..rounds)
            .map(|_| {
                let start = Instant::now();
                ping();
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        median(times)
    })
}

/// Each party on a thread of its own does `work(party, warm_up(rounds))`, then, once all
/// are warm, `work(party, rounds)`; returns the wall time of the second part in µs.
pub fn timed<S: Send>(parties: Vec<S>, rounds: u32, work: impl Fn(&mut S, u32) + Sync) -> f64 {
    let warm = std::sync::Barrier::new(parties.len() + 1);
    std::thread::scope(|s| {
        let threads: Vec<_> = parties
            .into_iter()
            .map(|mut party| {
                let (warm, work) = (&warm, &work);
                s.spawn(move || {
                    work(&mut party, warm_up(rounds));
                    warm.wait();
                    work(&mut party, rounds);
                })
            })
            .collect();
        warm.wait();
        let start = Instant::now();
        threads
            .into_iter()
            .for_each(|t| t.join().expect("a party panicked"));
        start.elapsed().as_secs_f64() * 1e6
    })
}
