// The body of `kmeans`, compiled twice: with std threads and a mutex-guarded object, and with
// strato threads and a shared object whose methods run on the state server.
// Only the `use` lines around `include!` differ.

use serde::{Deserialize, Serialize};

/// A point or a centre, in integer coordinates (so sums are exact in any order).
pub type Point = (i64, i64);

/// The centres and this round's running sums: updated once per thread per round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Centroids {
    centers: Vec<Point>,
    sums: Vec<Point>,
    counts: Vec<u64>,
    rounds: u32,
}

impl Centroids {
    fn new(centers: Vec<Point>) -> Self {
        let k = centers.len();
        Centroids {
            centers,
            sums: vec![(0, 0); k],
            counts: vec![0; k],
            rounds: 0,
        }
    }

    fn centers(&mut self) -> Vec<Point> {
        self.centers.clone()
    }

    /// Adds one thread's partial sums: the whole update happens next to the data.
    fn update(&mut self, sums: Vec<Point>, counts: Vec<u64>) -> u32 {
        for (k, ((x, y), n)) in sums.into_iter().zip(counts).enumerate() {
            self.sums[k].0 += x;
            self.sums[k].1 += y;
            self.counts[k] += n;
        }
        self.rounds
    }

    /// Moves each centre to the mean of its points and starts a new round.
    fn finish_round(&mut self) -> u32 {
        for k in 0..self.centers.len() {
            if self.counts[k] > 0 {
                let n = self.counts[k] as i64;
                self.centers[k] = (self.sums[k].0 / n, self.sums[k].1 / n);
            }
            self.sums[k] = (0, 0);
            self.counts[k] = 0;
        }
        self.rounds += 1;
        self.rounds
    }
}

shared! {
    /// The centroids, shared by every thread.
    pub struct CentroidsRef(Centroids);
    impl {
        fn centers(&mut self) -> Vec<Point>;
        fn update(&mut self, sums: Vec<Point>, counts: Vec<u64>) -> u32;
        fn finish_round(&mut self) -> u32;
    }
}

/// Lloyd's k-means: each thread owns a slice of the points; per round it sums its points by
/// nearest centre, adds the sums to the shared centroids, and meets the others at a barrier.
pub fn run(threads: usize, points_per_thread: usize, k: usize, rounds: u32) -> String {
    let initial: Vec<Point> = crate::points(0, k);
    let centroids = CentroidsRef::new(Centroids::new(initial));
    let barrier = sync::Arc::new(sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (centroids, barrier) = (centroids.clone(), barrier.clone());
            thread::spawn(closure!(move || {
                let points = crate::points(t as u64 + 1, points_per_thread);
                for _ in 0..rounds {
                    let (sums, counts) = crate::assign(&points, &centroids.centers());
                    centroids.update(sums, counts);
                    if barrier.wait().is_leader() {
                        centroids.finish_round();
                    }
                    barrier.wait();
                }
            }))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a thread panicked");
    }
    let result = centroids.get();
    format!("rounds={} centers={:?}", result.rounds, result.centers)
}
