//! The server's objects by name, compactly: a server may hold millions of small objects (the
//! `server_bytes_per_object` benchmark), so each costs its value, its name inline when short,
//! and a 4-byte id in a hash index — not a map bucket holding a pointer to a separately
//! allocated name.
//!
//! Values sit in slots, filled in order, in chunks of [`CHUNK`] that are never moved: a
//! growing vector would be copied on each doubling, and the allocator keeps the old copy's
//! pages (the benchmark's server grew 28 bytes per object more that way). The index maps a
//! name's hash to its slot's [`Id`]. A removed slot is reused by the next insert, so an id
//! names an object only while it lives.

use compact_str::CompactString;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Where an object sits in a [`Catalog`], while it lives.
pub(crate) type Id = u32;

/// Slots per chunk.
const CHUNK: usize = 1024;

/// Values by name.
#[derive(Debug)]
pub(crate) struct Catalog<T> {
    /// Chunks of slots, each allocated once with room for [`CHUNK`].
    chunks: Vec<Vec<Option<Named<T>>>>,
    /// How many slots were ever filled.
    used: usize,
    /// Slots whose object was removed, for the next inserts.
    free: Vec<Id>,
    index: HashTable<Id>,
    hasher: DefaultHashBuilder,
}

/// A value and its name: names up to 24 bytes are kept inline.
#[derive(Debug)]
struct Named<T> {
    name: CompactString,
    value: T,
}

impl<T> Default for Catalog<T> {
    fn default() -> Self {
        Catalog {
            chunks: Vec::new(),
            used: 0,
            free: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<T> Catalog<T> {
    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The id of `name`'s slot.
    pub fn find(&self, name: &str) -> Option<Id> {
        let hash = self.hasher.hash_one(name);
        let chunks = &self.chunks;
        self.index
            .find(hash, |&id| name_at(chunks, id) == Some(name))
            .copied()
    }

    /// Whether `name` is here.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        let id = self.find(name)?;
        self.slot(id).as_ref().map(|n| &n.value)
    }

    /// The value named `name`, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        let id = self.find(name)?;
        self.slot_mut(id).as_mut().map(|n| &mut n.value)
    }

    /// The name of the value in slot `id`, if one lives there.
    pub fn name_of(&self, id: Id) -> Option<&str> {
        name_at(&self.chunks, id)
    }

    fn slot(&self, id: Id) -> &Option<Named<T>> {
        &self.chunks[id as usize / CHUNK][id as usize % CHUNK]
    }

    fn slot_mut(&mut self, id: Id) -> &mut Option<Named<T>> {
        &mut self.chunks[id as usize / CHUNK][id as usize % CHUNK]
    }

    /// Adds `value` as `name`, replacing any value of that name; answers its id.
    pub fn insert(&mut self, name: &str, value: T) -> Id {
        if let Some(id) = self.find(name) {
            if let Some(named) = self.slot_mut(id).as_mut() {
                named.value = value;
            }
            return id;
        }
        let named = Named {
            name: CompactString::new(name),
            value,
        };
        let id = match self.free.pop() {
            Some(id) => {
                *self.slot_mut(id) = Some(named);
                id
            }
            None => self.push(named),
        };
        let Catalog {
            chunks,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(hasher.hash_one(name), id, |&id| {
            hasher.hash_one(name_at(chunks, id).unwrap_or_default())
        });
        id
    }

    /// Takes `name`'s value out.
    pub fn remove(&mut self, name: &str) -> Option<T> {
        let hash = self.hasher.hash_one(name);
        let chunks = &self.chunks;
        let entry = self
            .index
            .find_entry(hash, |&id| name_at(chunks, id) == Some(name))
            .ok()?;
        let (id, _) = entry.remove();
        self.free.push(id);
        self.slot_mut(id).take().map(|n| n.value)
    }

    /// Fills a slot never used before.
    fn push(&mut self, named: Named<T>) -> Id {
        let id = Id::try_from(self.used).expect("at most 2³² objects");
        if self.used.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(Some(named));
        }
        self.used += 1;
        id
    }

    /// Every name and value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.chunks
            .iter()
            .flatten()
            .flatten()
            .map(|n| (n.name.as_str(), &n.value))
    }
}

fn name_at<T>(chunks: &[Vec<Option<Named<T>>>], id: Id) -> Option<&str> {
    chunks
        .get(id as usize / CHUNK)
        .and_then(|chunk| chunk.get(id as usize % CHUNK))
        .and_then(Option::as_ref)
        .map(|n| n.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn a_removed_slot_is_reused_and_names_resolve_to_their_own() {
        let mut catalog = Catalog::default();
        let a = catalog.insert("a", 1);
        let b = catalog.insert("a-much-longer-name-than-twenty-four-bytes", 2);
        assert_eq!(catalog.remove("a"), Some(1));
        assert_eq!(catalog.name_of(a), None);
        let c = catalog.insert("c", 3);
        assert_eq!(c, a, "the freed slot is taken first");
        assert_eq!(
            catalog.name_of(b),
            Some("a-much-longer-name-than-twenty-four-bytes")
        );
        assert_eq!(catalog.get("a"), None);
        assert_eq!(catalog.get("c"), Some(&3));
        assert_eq!(catalog.insert("c", 4), c, "same name, same slot");
        assert_eq!((catalog.get("c"), catalog.len()), (Some(&4), 2));
    }

    #[test]
    fn many_chunks_resolve_every_name() {
        let mut catalog = Catalog::default();
        let n = 3 * CHUNK as u32 + 5;
        for i in 0..n {
            assert_eq!(catalog.insert(&format!("object-{i}"), i), i);
        }
        for i in (0..n).step_by(3) {
            assert_eq!(catalog.remove(&format!("object-{i}")), Some(i));
        }
        for i in 0..n {
            let want = (i % 3 != 0).then_some(&i);
            assert_eq!(catalog.get(&format!("object-{i}")), want);
        }
        assert_eq!(catalog.iter().count(), catalog.len());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u8, u32),
        Remove(u8),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Step::Insert(k, v)),
            (0u8..40).prop_map(Step::Remove),
        ];
        proptest::collection::vec(step, 0..300)
    }

    /// Short names stay inline, long ones do not: both kinds are in the model.
    fn name(key: u8) -> String {
        match key % 2 {
            0 => format!("k{key}"),
            _ => format!("a-name-long-enough-to-need-the-heap-{key}"),
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(steps in steps()) {
            let mut catalog = Catalog::default();
            let mut model = HashMap::new();
            for step in steps {
                match step {
                    Step::Insert(k, v) => {
                        let key = name(k);
                        let id = catalog.insert(&key, v);
                        prop_assert_eq!(catalog.name_of(id), Some(key.as_str()));
                        model.insert(name(k), v);
                    }
                    Step::Remove(k) => {
                        prop_assert_eq!(catalog.remove(&name(k)), model.remove(&name(k)));
                    }
                }
                prop_assert_eq!(catalog.len(), model.len());
            }
            for k in 0..40 {
                prop_assert_eq!(catalog.get(&name(k)), model.get(&name(k)));
            }
            let mut all: Vec<_> = catalog.iter().map(|(n, v)| (n.to_string(), *v)).collect();
            let mut want: Vec<_> = model.into_iter().collect();
            all.sort();
            want.sort();
            prop_assert_eq!(all, want);
        }
    }
}
