// The body of `montecarlo_pi`, compiled twice: with std threads and with strato's.
// Only the `use` lines around `include!` differ.

/// Throws `points` points split over `threads` threads, counting hits in one shared atomic.
pub fn run(threads: u64, points: u64) -> String {
    let inside = sync::Arc::new(sync::atomic::AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let inside = inside.clone();
            let share = points / threads + u64::from(t < points % threads);
            thread::spawn(closure!(move || {
                let hits = crate::xorshift_hits(t + 1, share);
                inside.fetch_add(hits, sync::atomic::Ordering::SeqCst);
            }))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a thread panicked");
    }
    let inside = inside.load(sync::atomic::Ordering::SeqCst);
    format!("inside={inside} pi={:.6}", 4.0 * inside as f64 / points as f64)
}
