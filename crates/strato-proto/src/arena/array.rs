//! Arrays of fixed-size items in the arena ([`crate::Init::PackedArray`], Python's
//! `multiprocessing.Array`): a run of slots whose first holds a header and a sequence word,
//! the rest the items, packed.
//!
//! The sequence word is a seqlock. A writer (of one item or a range) takes it from even to
//! odd with a compare-and-swap, stores the bytes and makes it even again; a reader reads the
//! bytes between two loads of an even, unchanged word, and tries again otherwise. So every
//! read and write, of an item or a range, takes effect at one instant, for local clients
//! and the server alike. While odd, the word's high half holds the writer's process id: a
//! waiter that finds that process gone (killed between its stores) ends its write for it,
//! so a dead writer never blocks the array.

use std::ops::Range;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Arena, Slot, DELETED, SLOT_BYTES};
use crate::{array, Answer, Blob, Op};

/// The tag of an array's slot ([`Slot::tag`]; atomics' tags are [`crate::Scalar::tag`]s).
pub const ARRAY_TAG: u8 = 0x40;

/// Where an array's item size sits in its header word (16 bits).
const ITEM_BYTES_SHIFT: u32 = 16;
/// Where an array's length sits in its header word (32 bits).
const LEN_SHIFT: u32 = 32;
/// How often a waiter checks that the writer it waits for is alive.
const WRITER_CHECK: Duration = Duration::from_millis(1);

/// How many slots an array of `len` items of `item_bytes` bytes takes; `None` if it cannot
/// be kept in an arena (no item size, an item of 64 KiB or more, 2³² items or more).
///
/// ```
/// use strato_proto::arena::array_slots;
/// assert_eq!(array_slots(4, 8), Some(3)); // the header's slot and 32 bytes of items
/// assert_eq!(array_slots(0, 1), Some(1));
/// assert_eq!(array_slots(1, 0), None);
/// ```
pub fn array_slots(len: u64, item_bytes: u32) -> Option<u32> {
    if item_bytes == 0 || item_bytes > u32::from(u16::MAX) || len > u64::from(u32::MAX) {
        return None;
    }
    let bytes = len.checked_mul(u64::from(item_bytes))?;
    u32::try_from(1 + bytes.div_ceil(SLOT_BYTES as u64)).ok()
}

impl Arena {
    /// Makes the [`array_slots`] slots from `first` hold the array of `packed` items of
    /// `item_bytes` bytes each, and answers its slot; `None` (nothing written) if it does
    /// not fit the arena or the items are not whole.
    ///
    /// ```
    /// use strato_proto::arena::Arena;
    /// use strato_proto::{Answer, Op};
    /// let arena = Arena::create(4096).unwrap();
    /// let slot = arena.init_array(2, 2, &[1, 0, 2, 0, 3, 0]).unwrap();
    /// assert_eq!(arena.apply(slot, &Op::ArrayLen), Some(Answer::Count(3)));
    /// let second = arena.apply(slot, &Op::ArrayGet(1)).unwrap();
    /// assert_eq!(second, Answer::Blob(vec![2, 0].into()));
    /// ```
    pub fn init_array(&self, first: u32, item_bytes: u32, packed: &[u8]) -> Option<Slot> {
        let len = array::item_count(item_bytes, packed.len()).ok()?;
        let slots = array_slots(len, item_bytes)?;
        let end = u64::from(first) + u64::from(slots);
        if end > u64::from(self.slots()) {
            return None;
        }
        let head = first as usize * 2;
        let items = Items {
            arena: self,
            data: (head + 2) * 8,
        };
        items.store(0, packed);
        self.word(head + 1)?.store(0, Ordering::SeqCst);
        let header =
            u64::from(ARRAY_TAG) | u64::from(item_bytes) << ITEM_BYTES_SHIFT | len << LEN_SHIFT;
        self.word(head)?.store(header, Ordering::SeqCst);
        Some(Slot {
            index: first,
            tag: ARRAY_TAG,
        })
    }

    /// The live array at `slot`; `None` if it was deleted or is not an array.
    fn array(&self, slot: Slot) -> Option<ArrayWords<'_>> {
        let head = slot.index as usize * 2;
        let header = self.word(head)?.load(Ordering::SeqCst);
        if header as u8 != ARRAY_TAG || header & DELETED != 0 {
            return None;
        }
        let len = header >> LEN_SHIFT;
        let item_bytes = (header >> ITEM_BYTES_SHIFT) as u16;
        let bytes = len as usize * usize::from(item_bytes);
        // Every word of the items must be in the arena.
        self.word(head + 1 + bytes.div_ceil(8))?;
        Some(ArrayWords {
            sequence: self.word(head + 1)?,
            items: Items {
                arena: self,
                data: (head + 2) * 8,
            },
            len,
            item_bytes: usize::from(item_bytes),
        })
    }
}

/// Runs an array's operation on the array at `slot`; `None` if it was deleted, is not an
/// array, or `op` is not an array's (the caller asks the server).
pub(super) fn apply(arena: &Arena, slot: Slot, op: &Op) -> Option<Answer> {
    let array = arena.array(slot)?;
    let answer = match op {
        Op::ArrayLen => Answer::Count(array.len),
        Op::ArrayGet(index) => match array.check_index(*index) {
            Ok(at) => Answer::Blob(array.read(at, 1).into()),
            Err(error) => error,
        },
        Op::ArraySet(index, item) => match array.check_index(*index).and_then(|at| {
            array.check_item(item)?;
            Ok(at)
        }) {
            Ok(at) => array.write(at, &[item]),
            Err(error) => error,
        },
        Op::ArrayGetRange(start, end) => match array::check_range(*start, *end, array.len) {
            Ok(range) => {
                let bytes = array.read(range.start, range.end - range.start);
                let items = bytes.chunks(array.item_bytes.max(1));
                Answer::Blobs(items.map(|item| Blob::from(item.to_vec())).collect())
            }
            Err(error) => error,
        },
        Op::ArraySetRange(start, items) => {
            let end = start.saturating_add(items.len() as u64);
            match array::check_range(*start, end, array.len).and_then(|range| {
                items.iter().try_for_each(|item| array.check_item(item))?;
                Ok(range)
            }) {
                Ok(range) => array.write(range.start, &items.iter().collect::<Vec<_>>()),
                Err(error) => error,
            }
        }
        _ => return None,
    };
    Some(answer)
}

/// One live array's words.
struct ArrayWords<'a> {
    sequence: &'a AtomicU64,
    items: Items<'a>,
    len: u64,
    item_bytes: usize,
}

impl ArrayWords<'_> {
    fn check_index(&self, index: u64) -> Result<u64, Answer> {
        if index >= self.len {
            return Err(array::out_of_bounds(index, self.len));
        }
        Ok(index)
    }

    fn check_item(&self, item: &Blob) -> Result<(), Answer> {
        if item.len() != self.item_bytes {
            return Err(array::wrong_item_size(item.len(), self.item_bytes as u32));
        }
        Ok(())
    }

    /// The bytes of `count` items from item `first`, read at one instant.
    fn read(&self, first: u64, count: u64) -> Vec<u8> {
        let start = first as usize * self.item_bytes;
        let mut bytes = vec![0; count as usize * self.item_bytes];
        let mut waiting = Waiting::default();
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before & 1 == 1 {
                waiting.wait(self.sequence, before);
                continue;
            }
            self.items.load(start, &mut bytes);
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return bytes;
            }
        }
    }

    /// Writes `items` from item `first`, at one instant.
    fn write(&self, first: u64, items: &[&Blob]) -> Answer {
        let start = first as usize * self.item_bytes;
        let writer = u64::from(std::process::id()) << 32;
        let mut waiting = Waiting::default();
        let version = loop {
            let current = self.sequence.load(Ordering::Relaxed);
            if current & 1 == 1 {
                waiting.wait(self.sequence, current);
                continue;
            }
            let version = current as u32;
            let writing = writer | u64::from(version.wrapping_add(1));
            if self
                .sequence
                .compare_exchange_weak(current, writing, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                break version;
            }
        };
        fence(Ordering::Release);
        for (n, item) in items.iter().enumerate() {
            self.items.store(start + n * self.item_bytes, item);
        }
        let done = u64::from(version.wrapping_add(2));
        self.sequence.store(done, Ordering::Release);
        Answer::Done
    }
}

/// An array's items: bytes from byte `data` of the arena, reached only through its
/// 64-bit words (so every access is atomic, as the arena's are).
struct Items<'a> {
    arena: &'a Arena,
    data: usize,
}

impl Items<'_> {
    /// Calls `visit(word, skip, range)` for each arena word covering `len` item bytes
    /// from item byte `start`: the word, the first of its bytes in the span, and the
    /// span's bytes (counted from `start`) that lie in it.
    fn walk(
        &self,
        start: usize,
        len: usize,
        mut visit: impl FnMut(&AtomicU64, usize, Range<usize>),
    ) {
        let mut done = 0;
        while done < len {
            let at = self.data + start + done;
            let (word, skip) = (at / 8, at % 8);
            let Some(word) = self.arena.word(word) else {
                return;
            };
            let take = (8 - skip).min(len - done);
            visit(word, skip, done..done + take);
            done += take;
        }
    }

    /// Copies the bytes from item byte `start` into `out`.
    fn load(&self, start: usize, out: &mut [u8]) {
        self.walk(start, out.len(), |word, skip, span| {
            let bits = word.load(Ordering::Relaxed).to_ne_bytes();
            out[span.clone()].copy_from_slice(&bits[skip..skip + span.len()]);
        });
    }

    /// Stores `bytes` at item byte `start`. Only the writer holding the sequence word
    /// stores, so a word partly written keeps its other bytes.
    fn store(&self, start: usize, bytes: &[u8]) {
        self.walk(start, bytes.len(), |word, skip, span| {
            let mut bits = match span.len() {
                8 => [0; 8],
                _ => word.load(Ordering::Relaxed).to_ne_bytes(),
            };
            bits[skip..skip + span.len()].copy_from_slice(&bytes[span]);
            word.store(u64::from_ne_bytes(bits), Ordering::Relaxed);
        });
    }
}

/// A wait for a writer to finish: a short spin, then yielding the CPU (the writer may be
/// waiting for it), and now and then a look at whether the writer's process is alive.
#[derive(Default)]
struct Waiting {
    spins: u32,
    checked: Option<Instant>,
}

impl Waiting {
    fn wait(&mut self, sequence: &AtomicU64, seen: u64) {
        self.spins += 1;
        if self.spins < 64 {
            std::hint::spin_loop();
            return;
        }
        std::thread::yield_now();
        let checked = *self.checked.get_or_insert_with(Instant::now);
        if checked.elapsed() < WRITER_CHECK {
            return;
        }
        self.checked = Some(Instant::now());
        if !process_alive((seen >> 32) as u32) {
            // The writer died between its stores: end its write (its items are each
            // whole or not written, as a process killed in a loop of stores leaves them).
            let ended = u64::from((seen as u32).wrapping_add(1));
            let _ = sequence.compare_exchange(seen, ended, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// Whether process `pid` (as this process's PID namespace numbers it) is running: it
/// exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the command's closing parenthesis.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn array_of(items: &[u64]) -> (Arena, Slot) {
        let arena = Arena::create(1 << 16).unwrap();
        let packed: Vec<u8> = items.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let slot = arena.init_array(3, 8, &packed).unwrap();
        (arena, slot)
    }

    fn get(arena: &Arena, slot: Slot, index: u64) -> u64 {
        match arena.apply(slot, &Op::ArrayGet(index)) {
            Some(Answer::Blob(b)) => u64::from_ne_bytes(b.as_slice().try_into().unwrap()),
            other => panic!("{other:?}"),
        }
    }

    fn item(v: u64) -> Blob {
        Blob::from(v.to_ne_bytes().to_vec())
    }

    #[test]
    fn items_are_read_and_written_by_index_and_by_range() {
        let (arena, slot) = array_of(&[1, 2, 3, 4]);
        assert_eq!(arena.apply(slot, &Op::ArrayLen), Some(Answer::Count(4)));
        assert_eq!(get(&arena, slot, 2), 3);
        assert_eq!(
            arena.apply(slot, &Op::ArraySet(2, item(30))),
            Some(Answer::Done)
        );
        let set = Op::ArraySetRange(0, vec![item(10), item(20)]);
        assert_eq!(arena.apply(slot, &set), Some(Answer::Done));
        let range = arena.apply(slot, &Op::ArrayGetRange(1, 4));
        assert_eq!(
            range,
            Some(Answer::Blobs(vec![item(20), item(30), item(4)]))
        );
    }

    #[test]
    fn odd_sized_items_keep_their_neighbours() {
        let arena = Arena::create(1 << 12).unwrap();
        let slot = arena
            .init_array(0, 3, &[1, 2, 3, 4, 5, 6, 7, 8, 9])
            .unwrap();
        let set = Op::ArraySet(1, Blob::from(vec![40, 50, 60]));
        assert_eq!(arena.apply(slot, &set), Some(Answer::Done));
        let all = arena.apply(slot, &Op::ArrayGetRange(0, 3)).unwrap();
        let want: Vec<Blob> = [[1, 2, 3], [40, 50, 60], [7, 8, 9]]
            .iter()
            .map(|b| Blob::from(b.to_vec()))
            .collect();
        assert_eq!(all, Answer::Blobs(want));
    }

    #[test]
    fn bad_indices_ranges_and_sizes_answer_errors_and_change_nothing() {
        let (arena, slot) = array_of(&[1, 2]);
        let kind = |op: Op| match arena.apply(slot, &op) {
            Some(Answer::Error { kind, .. }) => kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(Op::ArrayGet(2)), ErrorKind::OutOfBounds);
        assert_eq!(kind(Op::ArrayGetRange(2, 1)), ErrorKind::OutOfBounds);
        assert_eq!(
            kind(Op::ArraySetRange(1, vec![item(0), item(0)])),
            ErrorKind::OutOfBounds
        );
        let short = Blob::from(vec![1, 2, 3]);
        assert_eq!(kind(Op::ArraySet(0, short.clone())), ErrorKind::BadValue);
        assert_eq!(
            kind(Op::ArraySetRange(0, vec![item(9), short])),
            ErrorKind::BadValue
        );
        assert_eq!((get(&arena, slot, 0), get(&arena, slot, 1)), (1, 2));
        assert_eq!(
            arena.apply(slot, &Op::Load),
            None,
            "not an array's operation"
        );
    }

    #[test]
    fn a_deleted_array_and_an_atomic_slot_are_left_to_the_server() {
        let (arena, slot) = array_of(&[1]);
        arena.mark_deleted(slot);
        assert_eq!(arena.apply(slot, &Op::ArrayLen), None);
        let atomic = Slot {
            index: 0,
            tag: ARRAY_TAG,
        };
        assert_eq!(
            arena.apply(atomic, &Op::ArrayLen),
            None,
            "slot 0 holds no array"
        );
    }

    #[test]
    fn an_array_that_does_not_fit_is_not_written() {
        let arena = Arena::create(4 * SLOT_BYTES).unwrap();
        assert!(arena.init_array(2, 8, &[0; 32]).is_none());
        assert!(
            arena.init_array(0, 8, &[0; 20]).is_none(),
            "not whole items"
        );
        assert!(arena.init_array(1, 8, &[0; 32]).is_some());
    }

    #[test]
    fn a_range_is_written_and_read_at_one_instant() {
        let (arena, slot) = array_of(&[0; 64]);
        let arena = std::sync::Arc::new(arena);
        let writers: Vec<_> = (1..=2u64)
            .map(|w| {
                let arena = arena.clone();
                std::thread::spawn(move || {
                    for round in 0..2_000u64 {
                        let value = item(w * 1_000_000 + round);
                        let all = Op::ArraySetRange(0, vec![value; 64]);
                        assert_eq!(arena.apply(slot, &all), Some(Answer::Done));
                    }
                })
            })
            .collect();
        for _ in 0..2_000 {
            let Some(Answer::Blobs(items)) = arena.apply(slot, &Op::ArrayGetRange(0, 64)) else {
                panic!("a range")
            };
            assert!(items.iter().all(|i| *i == items[0]), "a torn read");
        }
        writers.into_iter().for_each(|w| w.join().unwrap());
    }

    #[test]
    fn a_write_left_open_by_a_dead_process_is_ended_by_the_next_writer() {
        let (arena, slot) = array_of(&[5]);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let sequence = arena.word(slot.index as usize * 2 + 1).unwrap();
        sequence.store(u64::from(dead) << 32 | 7, Ordering::SeqCst);
        assert_eq!(
            arena.apply(slot, &Op::ArraySet(0, item(6))),
            Some(Answer::Done)
        );
        assert_eq!(get(&arena, slot, 0), 6);
        assert_eq!(
            sequence.load(Ordering::SeqCst),
            10,
            "ended (8), then written (10)"
        );
    }

    #[test]
    fn a_live_writer_is_waited_for() {
        let (arena, slot) = array_of(&[5]);
        let arena = std::sync::Arc::new(arena);
        let sequence_word = slot.index as usize * 2 + 1;
        let me = u64::from(std::process::id()) << 32;
        arena
            .word(sequence_word)
            .unwrap()
            .store(me | 1, Ordering::SeqCst);
        let reader = {
            let arena = arena.clone();
            std::thread::spawn(move || get(&arena, slot, 0))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !reader.is_finished(),
            "a reader waits while the write is open"
        );
        arena
            .word(sequence_word)
            .unwrap()
            .store(2, Ordering::SeqCst);
        assert_eq!(reader.join().unwrap(), 5);
    }

    #[test]
    fn zombies_and_missing_processes_are_not_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until it is reaped it is a zombie once it exited.
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z"))
            .unwrap_or(false)
        {
            std::thread::yield_now();
        }
        assert!(!process_alive(pid));
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }
}
