//! Data objects: `Value`, `Array`, `Map`, `List`.

use std::collections::BTreeMap;

use strato_proto::arena::Arena;
use strato_proto::{Answer, Blob, ErrorKind, Kind, MergeOp, Op};

use super::{error, wrong_op, Step};
use crate::slots::SharedArray;

/// A serde value with a version that changes on every write.
#[derive(Debug)]
pub(crate) struct ValueCell {
    value: Blob,
    version: u64,
}

impl ValueCell {
    pub fn new(value: Blob) -> Self {
        ValueCell { value, version: 0 }
    }

    pub fn apply(&mut self, op: &Op) -> Step {
        Step::Done(match op {
            Op::ValueGet => self.versioned(),
            Op::ValueSet(value) => self.set(value.clone()),
            Op::ValueCompareSet { version, value } if *version == self.version => {
                self.set(value.clone())
            }
            Op::ValueCompareSet { .. } => self.versioned(),
            other => return wrong_op(Kind::Value, other),
        })
    }

    fn versioned(&self) -> Answer {
        Answer::Versioned {
            version: self.version,
            value: self.value.clone(),
        }
    }

    fn set(&mut self, value: Blob) -> Answer {
        self.value = value;
        self.version += 1;
        Answer::Done
    }
}

fn out_of_bounds(index: u64, len: usize) -> Answer {
    strato_proto::array::out_of_bounds(index, len as u64)
}

fn slot(items: &mut [Blob], index: u64) -> Result<&mut Blob, Answer> {
    let len = items.len();
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get_mut(i))
        .ok_or_else(|| out_of_bounds(index, len))
}

fn range(len: usize, start: u64, end: u64) -> Result<std::ops::Range<usize>, Answer> {
    let r = strato_proto::array::check_range(start, end, len as u64)?;
    Ok(r.start as usize..r.end as usize)
}

/// A fixed-length array: of serde values (`Init::Array`), or of items of one size
/// (`Init::PackedArray`), which are kept in the shared-memory arena when it has room.
#[derive(Debug)]
pub(crate) enum Array {
    /// In the server's heap; `item_bytes` is the size every item must have, if fixed.
    Heap {
        items: Vec<Blob>,
        item_bytes: Option<u32>,
    },
    /// In the arena, where local clients read and write it too.
    Shared(SharedArray),
}

impl Array {
    pub fn new(items: Vec<Blob>) -> Self {
        Array::Heap {
            items,
            item_bytes: None,
        }
    }

    /// An array of the `item_bytes`-byte items `packed`; an error answer if they are not
    /// whole items.
    pub fn packed(item_bytes: u32, packed: &[u8]) -> Result<Self, Answer> {
        strato_proto::array::item_count(item_bytes, packed.len())
            .map_err(|why| error(ErrorKind::BadValue, why))?;
        let items = packed
            .chunks(item_bytes as usize)
            .map(|item| Blob::from(item.to_vec()))
            .collect();
        Ok(Array::Heap {
            items,
            item_bytes: Some(item_bytes),
        })
    }

    /// The item size and the packed items of a heap array of fixed-size items, to move it
    /// into the arena.
    pub fn packed_items(&self) -> Option<(u32, Vec<u8>)> {
        match self {
            Array::Heap {
                items,
                item_bytes: Some(size),
            } => Some((
                *size,
                items.iter().flat_map(|item| item.iter().copied()).collect(),
            )),
            _ => None,
        }
    }

    /// Its place in the arena, if it has one.
    pub fn shared(&self) -> Option<&SharedArray> {
        match self {
            Array::Shared(shared) => Some(shared),
            Array::Heap { .. } => None,
        }
    }

    pub fn apply(&mut self, op: &Op, arena: Option<&Arena>) -> Step {
        let answer = match self {
            Array::Heap { items, item_bytes } => {
                heap_answer(items, *item_bytes, op).unwrap_or_else(|e| e)
            }
            Array::Shared(shared) => match arena {
                Some(arena) => match arena.apply(shared.slot(), op) {
                    Some(answer) => answer,
                    None => return wrong_op(Kind::Array, op),
                },
                None => {
                    let why = "an array in the arena, on a server without one";
                    error(ErrorKind::Unsupported, why)
                }
            },
        };
        Step::Done(answer)
    }
}

/// Whether `item` may be an item of an array whose items are `item_bytes` long, if fixed.
fn check_size(item: &Blob, item_bytes: Option<u32>) -> Result<(), Answer> {
    match item_bytes {
        Some(size) if item.len() != size as usize => {
            Err(strato_proto::array::wrong_item_size(item.len(), size))
        }
        _ => Ok(()),
    }
}

fn heap_answer(items: &mut [Blob], item_bytes: Option<u32>, op: &Op) -> Result<Answer, Answer> {
    Ok(match op {
        Op::ArrayLen => Answer::Count(items.len() as u64),
        Op::ArrayGet(i) => Answer::Blob(slot(items, *i)?.clone()),
        Op::ArraySet(i, value) => {
            let place = slot(items, *i)?;
            check_size(value, item_bytes)?;
            *place = value.clone();
            Answer::Done
        }
        Op::ArrayGetRange(start, end) => {
            let r = range(items.len(), *start, *end)?;
            Answer::Blobs(items[r].to_vec())
        }
        Op::ArraySetRange(start, values) => {
            let end = start.saturating_add(values.len() as u64);
            let r = range(items.len(), *start, end)?;
            values
                .iter()
                .try_for_each(|value| check_size(value, item_bytes))?;
            items[r].clone_from_slice(values);
            Answer::Done
        }
        other => return Err(wrong_op_answer(Kind::Array, other)),
    })
}

fn wrong_op_answer(kind: Kind, op: &Op) -> Answer {
    match wrong_op(kind, op) {
        Step::Done(answer) => answer,
        Step::Blocked => unreachable!("wrong_op never blocks"),
    }
}

/// A growable list of serde values.
#[derive(Debug, Default)]
pub(crate) struct List {
    items: Vec<Blob>,
}

impl List {
    pub fn apply(&mut self, op: &Op) -> Step {
        Step::Done(self.answer(op).unwrap_or_else(|e| e))
    }

    fn answer(&mut self, op: &Op) -> Result<Answer, Answer> {
        Ok(match op {
            Op::ListPush(value) => {
                self.items.push(value.clone());
                Answer::Done
            }
            Op::ListExtend(values) => {
                self.items.extend(values.iter().cloned());
                Answer::Done
            }
            Op::ListPop => Answer::MaybeBlob(self.items.pop()),
            Op::ListGet(i) => Answer::Blob(slot(&mut self.items, *i)?.clone()),
            Op::ListSet(i, value) => {
                *slot(&mut self.items, *i)? = value.clone();
                Answer::Done
            }
            Op::ListLen => Answer::Count(self.items.len() as u64),
            Op::ListRange(start, end) => {
                let len = self.items.len();
                let end = (*end as usize).min(len);
                let start = (*start as usize).min(end);
                Answer::Blobs(self.items[start..end].to_vec())
            }
            other => return Err(wrong_op_answer(Kind::List, other)),
        })
    }
}

/// A map from serde keys to serde values, ordered by key bytes.
#[derive(Debug, Default)]
pub(crate) struct Map {
    entries: BTreeMap<Blob, Blob>,
    /// The tokens of the [`Op::MapMergeOnce`] merges applied.
    applied: std::collections::HashSet<Blob>,
}

impl Map {
    pub fn apply(&mut self, op: &Op) -> Step {
        Step::Done(match op {
            Op::MapGet(key) => Answer::MaybeBlob(self.entries.get(key).cloned()),
            Op::MapInsert(key, value) => {
                Answer::MaybeBlob(self.entries.insert(key.clone(), value.clone()))
            }
            Op::MapRemove(key) => Answer::MaybeBlob(self.entries.remove(key)),
            Op::MapContains(key) => Answer::Bool(self.entries.contains_key(key)),
            Op::MapLen => Answer::Count(self.entries.len() as u64),
            Op::MapKeys => Answer::Blobs(self.entries.keys().cloned().collect()),
            Op::MapEntries => Answer::Pairs(
                self.entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            Op::MapMerge(pairs, merge) => self.merge(pairs, *merge),
            Op::MapMergeOnce { once, pairs, merge } => self.merge_once(once, pairs, *merge),
            Op::MapClear => {
                self.entries.clear();
                Answer::Done
            }
            other => return wrong_op(Kind::Map, other),
        })
    }

    /// Folds the pairs in unless a merge with token `once` already was.
    fn merge_once(&mut self, once: &Blob, pairs: &[(Blob, Blob)], op: MergeOp) -> Answer {
        if self.applied.contains(once) {
            return Answer::Bool(false);
        }
        match self.merge(pairs, op) {
            Answer::Done => {
                self.applied.insert(once.clone());
                Answer::Bool(true)
            }
            refused => refused,
        }
    }

    /// Folds every pair in, all or nothing: a value that cannot be merged changes nothing.
    fn merge(&mut self, pairs: &[(Blob, Blob)], op: MergeOp) -> Answer {
        let mut merged: BTreeMap<&Blob, Blob> = BTreeMap::new();
        for (key, new) in pairs {
            let existing = merged.get(key).or_else(|| self.entries.get(key));
            let value = match existing {
                None => Ok(new.clone()),
                Some(old) => op.apply(old, new),
            };
            match value {
                Ok(value) => merged.insert(key, value),
                Err(message) => return error(ErrorKind::BadValue, message),
            };
        }
        let merged: Vec<(Blob, Blob)> = merged.into_iter().map(|(k, v)| (k.clone(), v)).collect();
        self.entries.extend(merged);
        Answer::Done
    }
}
