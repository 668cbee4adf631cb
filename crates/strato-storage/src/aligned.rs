//! Newline-aligned reading of a partition.
//!
//! A line starts at byte 0 and after every `\n`; it belongs to the partition whose range
//! holds its first byte. A partition that does not start the object reads from one byte
//! before its range and skips through the first `\n` (the tail of a line that belongs to the
//! previous partition); at its range's end it keeps reading until the `\n` that ends its last
//! line. `\r\n` needs nothing special: the `\r` is the last byte of its line.

use std::io::{BufRead, Read};
use std::ops::Range;

use bytes::Bytes;

use crate::io::ObjectReader;
use crate::{Partition, Storage, StorageError};

/// How far past its range a text partition first reads, to finish its last line: a
/// sixteenth of the range, between these bounds; further reads double it until the line
/// ends.
const LOOKAHEAD: std::ops::RangeInclusive<u64> = (4 << 10)..=(64 << 10);

fn lookahead(range: &Range<u64>) -> u64 {
    ((range.end - range.start) / 16).clamp(*LOOKAHEAD.start(), *LOOKAHEAD.end())
}

/// Chunks of an object from a position on: one streamed range, then ever larger range reads
/// until the object ends (for a last line longer than the lookahead).
struct Source {
    storage: Storage,
    key: String,
    size: u64,
    current: ObjectReader,
    requested_to: u64,
    step: u64,
}

impl Source {
    fn open(partition: &Partition, from: u64, to: u64, step: u64) -> Result<Source, StorageError> {
        let to = to.min(partition.object_size);
        let current = partition
            .storage
            .reader_range(&partition.key, from..to.max(from))?;
        Ok(Source {
            storage: partition.storage.clone(),
            key: partition.key.clone(),
            size: partition.object_size,
            current,
            requested_to: to,
            step,
        })
    }

    fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some(chunk) = self.current.next_chunk()? {
                return Ok(Some(chunk));
            }
            if self.requested_to >= self.size {
                return Ok(None);
            }
            let end = self.requested_to.saturating_add(self.step).min(self.size);
            self.current = self
                .storage
                .reader_range(&self.key, self.requested_to..end)
                .map_err(std::io::Error::other)?;
            self.requested_to = end;
            self.step = self.step.saturating_mul(2);
        }
    }
}

/// Where the reader is in its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Skipping the end of a line that began before the range.
    Skip,
    /// Handing out the bytes of the range.
    Body,
    /// Past the range, finishing the last line.
    Tail,
    /// Nothing more.
    Done,
}

/// Reads a [`Partition`]'s share: whole lines for text, exactly the range for binary.
/// Implements [`Read`] and [`BufRead`]; made by [`Partition::reader`].
///
/// ```
/// use std::io::BufRead;
/// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
/// storage.put("k", "one\r\ntwo\r\nthree").unwrap();
/// let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_size(6).partitions().unwrap();
/// let lines: Vec<Vec<String>> = parts
///     .iter()
///     .map(|p| p.reader().unwrap().lines().map(Result::unwrap).collect())
///     .collect();
/// assert_eq!(lines, [vec!["one", "two"], vec!["three"], vec![]]); // `lines` drops "\r\n"
/// ```
pub struct PartitionReader {
    source: Source,
    range: Range<u64>,
    text: bool,
    phase: Phase,
    chunk: Bytes,
    position: u64,
    last: Option<u8>,
}

impl PartitionReader {
    pub(crate) fn open(partition: &Partition) -> Result<PartitionReader, StorageError> {
        let range = partition.range.clone();
        let text = partition.text;
        let (from, phase) = match () {
            _ if range.is_empty() => (range.start, Phase::Done),
            _ if text && range.start > 0 => (range.start - 1, Phase::Skip),
            _ => (range.start, Phase::Body),
        };
        let step = lookahead(&range);
        let to = match text {
            true => range.end.saturating_add(step),
            false => range.end,
        };
        Ok(PartitionReader {
            source: Source::open(partition, from, to, step)?,
            range,
            text,
            phase,
            chunk: Bytes::new(),
            position: from,
            last: None,
        })
    }

    /// Makes sure a chunk is at hand; false at the object's end.
    fn refill(&mut self) -> std::io::Result<bool> {
        while self.chunk.is_empty() {
            match self.source.next_chunk()? {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Drops `n` bytes of the chunk.
    fn advance(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.last = Some(self.chunk[n - 1]);
        let _ = self.chunk.split_to(n);
        self.position += n as u64;
    }

    /// Skips through the first `\n` (or as much of the way as one chunk goes). Only a `\n`
    /// before the range's last byte starts a line in the range, so it looks no further.
    fn skip(&mut self) -> std::io::Result<()> {
        let searchable = (self.range.end - 1).saturating_sub(self.position);
        if searchable == 0 || !self.refill()? {
            self.phase = Phase::Done;
            return Ok(());
        }
        let window = self.chunk.len().min(searchable as usize);
        match self.chunk[..window].iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.advance(i + 1);
                self.phase = Phase::Body;
            }
            None => self.advance(window),
        }
        Ok(())
    }

    /// How many bytes of the chunk to hand out now (0: the phase changed).
    fn available(&mut self) -> std::io::Result<usize> {
        let phase = self.phase;
        if phase == Phase::Body && self.position >= self.range.end {
            let line_open = self.text && self.last != Some(b'\n');
            self.phase = if line_open { Phase::Tail } else { Phase::Done };
            return Ok(0);
        }
        if !self.refill()? {
            self.phase = Phase::Done;
            return Ok(0);
        }
        Ok(match phase {
            Phase::Body => self
                .chunk
                .len()
                .min((self.range.end - self.position) as usize),
            _ => match self.chunk.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => self.chunk.len(),
            },
        })
    }
}

impl std::fmt::Debug for PartitionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionReader")
            .field("key", &self.source.key)
            .field("range", &self.range)
            .field("position", &self.position)
            .field("phase", &self.phase)
            .finish()
    }
}

impl BufRead for PartitionReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        loop {
            match self.phase {
                Phase::Done => return Ok(&[]),
                Phase::Skip => self.skip()?,
                Phase::Body | Phase::Tail => {
                    let n = self.available()?;
                    if n > 0 {
                        return Ok(&self.chunk[..n]);
                    }
                }
            }
        }
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.chunk.len());
        self.advance(amount);
        if self.phase == Phase::Tail && self.last == Some(b'\n') && amount > 0 {
            self.phase = Phase::Done;
        }
    }
}

impl Read for PartitionReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
