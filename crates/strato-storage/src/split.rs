//! How an object of a given size is cut into byte ranges.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// How each object of a dataset is cut into partitions.
///
/// ```
/// use strato_storage::Split;
/// assert_eq!(Split::ChunkSize(4).ranges(10), [0..4, 4..8, 8..10]);
/// assert_eq!(Split::ChunkCount(3).ranges(10), [0..3, 3..6, 6..10]);
/// assert_eq!(Split::Whole.ranges(10), [0..10]);
/// assert_eq!(Split::ChunkSize(4).ranges(0), [0..0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// One partition per object.
    Whole,
    /// Partitions of this many bytes (the last one of an object may be shorter):
    /// `ceil(size / chunk)` per object.
    ChunkSize(u64),
    /// This many partitions per object, of sizes differing by at most one byte; an object
    /// smaller than that many bytes gets one partition per byte.
    ChunkCount(u64),
}

impl Split {
    /// The byte ranges of an object of `size` bytes: at least one (an empty object has the
    /// single range `0..0`), contiguous, covering `0..size`. A zero chunk counts as one.
    ///
    /// ```
    /// use strato_storage::Split;
    /// assert_eq!(Split::ChunkCount(5).ranges(3), [0..1, 1..2, 2..3]);
    /// assert_eq!(Split::ChunkSize(100).ranges(7), [0..7]);
    /// ```
    pub fn ranges(self, size: u64) -> Vec<Range<u64>> {
        if size == 0 {
            return std::iter::once(0..0).collect();
        }
        match self {
            Split::Whole => std::iter::once(0..size).collect(),
            Split::ChunkSize(chunk) => by_size(size, chunk.max(1)),
            Split::ChunkCount(count) => by_count(size, count.clamp(1, size)),
        }
    }

    /// How many partitions an object of `size` bytes gets.
    ///
    /// ```
    /// use strato_storage::Split;
    /// assert_eq!(Split::ChunkSize(4).parts(10), 3);
    /// assert_eq!(Split::ChunkSize(4).parts(0), 1);
    /// ```
    pub fn parts(self, size: u64) -> u64 {
        match self {
            _ if size == 0 => 1,
            Split::Whole => 1,
            Split::ChunkSize(chunk) => size.div_ceil(chunk.max(1)),
            Split::ChunkCount(count) => count.clamp(1, size),
        }
    }
}

fn by_size(size: u64, chunk: u64) -> Vec<Range<u64>> {
    (0..size.div_ceil(chunk))
        .map(|i| i * chunk..(i + 1).saturating_mul(chunk).min(size))
        .collect()
}

fn by_count(size: u64, count: u64) -> Vec<Range<u64>> {
    let bound = |i: u64| (u128::from(i) * u128::from(size) / u128::from(count)) as u64;
    (0..count).map(|i| bound(i)..bound(i + 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_object_and_match_the_count() {
        for size in 0..50u64 {
            for n in 1..12u64 {
                for split in [Split::ChunkSize(n), Split::ChunkCount(n), Split::Whole] {
                    let ranges = split.ranges(size);
                    assert_eq!(ranges.len() as u64, split.parts(size), "{split:?} {size}");
                    assert_eq!(ranges[0].start, 0);
                    assert_eq!(ranges.last().unwrap().end, size);
                    assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                    assert!(size == 0 || ranges.iter().all(|r| !r.is_empty()));
                }
            }
        }
    }

    #[test]
    fn huge_objects_do_not_overflow() {
        let ranges = Split::ChunkCount(3).ranges(u64::MAX);
        assert_eq!(ranges.last().unwrap().end, u64::MAX);
    }
}
