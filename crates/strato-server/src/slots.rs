//! The server's side of the shared-memory arena (docs/two-tier.md): which slot each atomic
//! has, which run of slots each array of fixed-size items has, and when a slot may be given
//! to another object.
//!
//! Atomics take single slots, arrays runs of them; both are cut from the range's unused
//! end, and each goes back to a free list of its own (single slots, or runs, reused first
//! fit; runs are not merged). A slot goes back to the free list only when its object is gone **and** no live
//! connection located it: a local client keeps operating on the words it located without
//! asking the server, so those words must not become another object's while it may.

use std::collections::HashMap;
use std::sync::Arc;

use strato_proto::arena::{array_slots, Arena, Slot};
use strato_proto::Scalar;

use crate::table::ConnId;

/// The arena and the bookkeeping of a range of its slots (each shard of the table has a
/// range of its own).
#[derive(Debug)]
pub(crate) struct Slots {
    arena: Arc<Arena>,
    /// The first slot of the range and the end of it.
    first: u32,
    end: u32,
    /// Of each slot of the range used so far, from `first`.
    uses: Vec<SlotUse>,
    free: Vec<u32>,
    /// The length of each array's run, by its first slot.
    runs: HashMap<u32, u32>,
    /// Runs free again: (first slot, length).
    free_runs: Vec<(u32, u32)>,
    located: HashMap<ConnId, Vec<u32>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct SlotUse {
    /// Whether an object holds it.
    live: bool,
    /// How many times live connections located it.
    locators: u32,
}

impl Slots {
    /// Bookkeeping for `arena`, all of whose slots are free.
    #[cfg(test)]
    pub fn new(arena: Arc<Arena>) -> Slots {
        let end = arena.slots();
        Slots::range(arena, 0, end)
    }

    /// Bookkeeping for slots `first..end` of `arena`, all free.
    pub fn range(arena: Arc<Arena>, first: u32, end: u32) -> Slots {
        Slots {
            arena,
            first,
            end: end.max(first),
            uses: Vec::new(),
            free: Vec::new(),
            runs: HashMap::new(),
            free_runs: Vec::new(),
            located: HashMap::new(),
        }
    }

    /// A slot holding `value`, or `None` when the arena is full (the object then lives in
    /// the server's heap, reachable only through the server).
    pub fn allocate(&mut self, value: Scalar) -> Option<SharedAtomic> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => self.cut(1)?,
        };
        self.uses[(index - self.first) as usize].live = true;
        let slot = Slot {
            index,
            tag: value.tag(),
        };
        self.arena.init(slot, value);
        Some(SharedAtomic { slot })
    }

    /// A run of slots holding the array of `packed` items of `item_bytes` bytes each, or
    /// `None` when no run of its length is free (it then lives in the server's heap).
    pub fn allocate_array(&mut self, item_bytes: u32, packed: &[u8]) -> Option<SharedArray> {
        let len = strato_proto::array::item_count(item_bytes, packed.len()).ok()?;
        let length = array_slots(len, item_bytes)?;
        let first = self.take_run(length)?;
        let Some(slot) = self.arena.init_array(first, item_bytes, packed) else {
            self.free_runs.push((first, length));
            return None;
        };
        self.runs.insert(first, length);
        self.uses[(first - self.first) as usize].live = true;
        Some(SharedArray { slot })
    }

    /// A free run of `length` slots: the first free run long enough (its rest stays
    /// free), else one cut from the unused end.
    fn take_run(&mut self, length: u32) -> Option<u32> {
        let Some(at) = self.free_runs.iter().position(|&(_, l)| l >= length) else {
            return self.cut(length);
        };
        let (first, free_length) = self.free_runs.swap_remove(at);
        if free_length > length {
            self.free_runs.push((first + length, free_length - length));
        }
        Some(first)
    }

    /// `length` slots from the range's unused end, if it has them.
    fn cut(&mut self, length: u32) -> Option<u32> {
        let first = self.first as u64 + self.uses.len() as u64;
        if first + u64::from(length) > u64::from(self.end) {
            return None;
        }
        let uses = self.uses.len() + length as usize;
        self.uses.resize(uses, SlotUse::default());
        Some(first as u32)
    }

    /// Slot `index`, no longer used by an object or a locator, goes back to its free list.
    fn free_slot(&mut self, index: u32) {
        match self.runs.remove(&index) {
            Some(length) => self.free_runs.push((index, length)),
            None => self.free.push(index),
        }
    }

    /// The arena, where shared atomics' operations run.
    pub fn arena(&self) -> &Arena {
        &self.arena
    }

    /// The object of `slot` is gone: local clients are told by its header, and the slot is
    /// free once no live connection located it.
    pub fn retire(&mut self, slot: Slot) {
        self.arena.mark_deleted(slot);
        let Some(use_) = self.use_of(slot.index) else {
            return;
        };
        use_.live = false;
        if use_.locators == 0 {
            self.free_slot(slot.index);
        }
    }

    /// `conn` located `slot`: it stays out of the free list while `conn` lives.
    pub fn locate(&mut self, conn: ConnId, slot: Slot) {
        if let Some(use_) = self.use_of(slot.index) {
            use_.locators += 1;
            self.located.entry(conn).or_default().push(slot.index);
        }
    }

    /// `conn` closed: the slots only it kept are free again.
    pub fn forget(&mut self, conn: ConnId) {
        for index in self.located.remove(&conn).unwrap_or_default() {
            let Some(use_) = self.use_of(index) else {
                continue;
            };
            use_.locators -= 1;
            if use_.locators == 0 && !use_.live {
                self.free_slot(index);
            }
        }
    }

    /// The bookkeeping of slot `index`, if it is in this range and was used.
    fn use_of(&mut self, index: u32) -> Option<&mut SlotUse> {
        let offset = index.checked_sub(self.first)?;
        self.uses.get_mut(offset as usize)
    }

    /// How many slots hold an object or are kept by a locator.
    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        let free_in_runs: u32 = self.free_runs.iter().map(|&(_, length)| length).sum();
        self.uses.len() - self.free.len() - free_in_runs as usize
    }
}

/// An atomic whose value is a word of the arena (which the table holds once, in
/// [`Slots`], rather than each atomic a pointer to it).
#[derive(Debug)]
pub(crate) struct SharedAtomic {
    slot: Slot,
}

impl SharedAtomic {
    /// Its slot, as a local client is told.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Runs an atomic's operation on the word (the same instruction a local client runs);
    /// `None` if `op` is not an atomic's.
    pub fn apply(&self, arena: &Arena, op: &strato_proto::Op) -> Option<strato_proto::Answer> {
        arena.apply(self.slot, op)
    }
}

/// An array of fixed-size items whose items are in a run of the arena's slots.
#[derive(Debug)]
pub(crate) struct SharedArray {
    slot: Slot,
}

impl SharedArray {
    /// Its first slot, as a local client is told.
    pub fn slot(&self) -> Slot {
        self.slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(count: usize) -> Slots {
        let arena = Arena::create(count * strato_proto::arena::SLOT_BYTES).unwrap();
        Slots::new(Arc::new(arena))
    }

    #[test]
    fn a_located_slot_is_not_reused_until_its_locator_closes() {
        let mut slots = slots(4);
        let a = slots.allocate(Scalar::U64(1)).unwrap().slot();
        slots.locate(7, a);
        slots.retire(a);
        let b = slots.allocate(Scalar::U64(2)).unwrap().slot();
        assert_ne!(a.index, b.index);
        slots.forget(7);
        assert_eq!(slots.in_use(), 1);
        let c = slots.allocate(Scalar::U64(3)).unwrap().slot();
        assert_eq!(c.index, a.index, "freed once its locator closed");
    }

    #[test]
    fn a_full_arena_answers_none() {
        let mut slots = slots(2);
        assert!(slots.allocate(Scalar::U64(1)).is_some());
        assert!(slots.allocate(Scalar::U64(1)).is_some());
        assert!(slots.allocate(Scalar::U64(1)).is_none());
    }

    #[test]
    fn a_range_gives_only_its_own_slots() {
        let arena = Arc::new(Arena::create(8 * strato_proto::arena::SLOT_BYTES).unwrap());
        let mut low = Slots::range(arena.clone(), 0, 4);
        let mut high = Slots::range(arena, 4, 8);
        let a = high.allocate(Scalar::U64(1)).unwrap().slot();
        let b = low.allocate(Scalar::U64(2)).unwrap().slot();
        assert_eq!((a.index, b.index), (4, 0));
        high.locate(1, a);
        high.retire(a);
        low.locate(1, a); // not low's: ignored
        high.forget(1);
        low.forget(1);
        let again = high.allocate(Scalar::U64(3)).unwrap().slot();
        assert_eq!(again.index, 4, "freed once its locator closed");
        assert_eq!(high.in_use(), 1);
        let more: Vec<u32> = (0..3)
            .map(|_| high.allocate(Scalar::U64(0)).unwrap().slot().index)
            .collect();
        assert_eq!(more, vec![5, 6, 7]);
        assert!(high.allocate(Scalar::U64(0)).is_none(), "the range is full");
    }

    #[test]
    fn a_slot_located_twice_waits_for_both_counts() {
        let mut slots = slots(2);
        let a = slots.allocate(Scalar::U64(1)).unwrap().slot();
        slots.locate(1, a);
        slots.locate(2, a);
        slots.retire(a);
        slots.forget(1);
        assert_eq!(slots.in_use(), 1);
        slots.forget(2);
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn arrays_take_runs_that_are_reused_once_free() {
        let mut slots = slots(16);
        let a = slots.allocate_array(8, &[7; 64]).unwrap().slot(); // 1 + 4 slots
        let atomic = slots.allocate(Scalar::U64(1)).unwrap().slot();
        assert_eq!((a.index, atomic.index), (0, 5));
        assert_eq!(slots.in_use(), 6);
        slots.locate(3, a);
        slots.retire(a);
        assert_eq!(slots.in_use(), 6, "kept while located");
        slots.forget(3);
        assert_eq!(slots.in_use(), 1);
        let b = slots.allocate_array(1, &[1; 16]).unwrap().slot(); // 1 + 1 slots
        assert_eq!(b.index, 0, "first fit in the freed run");
        let c = slots.allocate_array(8, &[0; 24]).unwrap().slot(); // 1 + 2 slots
        assert_eq!(c.index, 2, "the rest of the run");
        assert_eq!(slots.in_use(), 6);
        let single = slots.allocate(Scalar::U64(0)).unwrap().slot();
        assert_eq!(single.index, 6, "atomics do not take runs' slots");
        assert!(
            slots.allocate_array(8, &[0; 144]).is_none(),
            "10 slots: 9 are left"
        );
        assert!(slots.allocate_array(8, &[0; 128]).is_some(), "9 slots fit");
    }

    #[test]
    fn an_array_in_a_run_answers_from_the_arena() {
        let mut slots = slots(8);
        let shared = slots.allocate_array(2, &[1, 0, 2, 0]).unwrap();
        let get = strato_proto::Op::ArrayGet(1);
        let answer = slots.arena().apply(shared.slot(), &get);
        assert_eq!(answer, Some(strato_proto::Answer::Blob(vec![2, 0].into())));
    }
}
