//! Data objects: `Value`, `Array`, `Map`, `List`.

use std::collections::BTreeMap;

use strato_proto::{Answer, Blob, ErrorKind, Kind, MergeOp, Op};

use super::{error, wrong_op, Step};

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
    error(
        ErrorKind::OutOfBounds,
        format!("index {index} out of bounds for length {len}"),
    )
}

fn slot(items: &mut [Blob], index: u64) -> Result<&mut Blob, Answer> {
    let len = items.len();
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get_mut(i))
        .ok_or_else(|| out_of_bounds(index, len))
}

fn range(len: usize, start: u64, end: u64) -> Result<std::ops::Range<usize>, Answer> {
    let (start, end) = (start as usize, end as usize);
    if start > end || end > len {
        return Err(error(
            ErrorKind::OutOfBounds,
            format!("range {start}..{end} out of bounds for length {len}"),
        ));
    }
    Ok(start..end)
}

/// A fixed-length array of serde values.
#[derive(Debug)]
pub(crate) struct Array {
    items: Vec<Blob>,
}

impl Array {
    pub fn new(items: Vec<Blob>) -> Self {
        Array { items }
    }

    pub fn apply(&mut self, op: &Op) -> Step {
        Step::Done(self.answer(op).unwrap_or_else(|e| e))
    }

    fn answer(&mut self, op: &Op) -> Result<Answer, Answer> {
        Ok(match op {
            Op::ArrayLen => Answer::Count(self.items.len() as u64),
            Op::ArrayGet(i) => Answer::Blob(slot(&mut self.items, *i)?.clone()),
            Op::ArraySet(i, value) => {
                *slot(&mut self.items, *i)? = value.clone();
                Answer::Done
            }
            Op::ArrayGetRange(start, end) => {
                let r = range(self.items.len(), *start, *end)?;
                Answer::Blobs(self.items[r].to_vec())
            }
            Op::ArraySetRange(start, values) => {
                let end = *start + values.len() as u64;
                let r = range(self.items.len(), *start, end)?;
                self.items[r].clone_from_slice(values);
                Answer::Done
            }
            other => return Err(wrong_op_answer(Kind::Array, other)),
        })
    }
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
