//! Shared data: `Value<T>`, `Array<T>`, `Map<K, V>`, `List<T>` (Python's `Value`, `Array`,
//! and a `Manager`'s dict and list).

use std::marker::PhantomData;
use std::ops::Range;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, MergeOp, Op, Role};

use crate::handle::{decode, default_client, encode, expect, unexpected, Handle};
use crate::ObjectName;

macro_rules! shared_type {
    ($(#[$doc:meta])* $name:ident<$($p:ident),+>) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize)]
        #[serde(bound = "")]
        pub struct $name<$($p),+> {
            handle: Handle,
            #[serde(skip)]
            _types: PhantomData<fn() -> ($($p,)+)>,
        }

        impl<$($p),+> Clone for $name<$($p),+> {
            fn clone(&self) -> Self {
                $name { handle: self.handle.clone(), _types: PhantomData }
            }
        }

        impl<$($p),+> std::fmt::Debug for $name<$($p),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.handle.name()).finish()
            }
        }

        impl<$($p),+> $name<$($p),+> {
            fn from_handle(handle: Handle) -> Self {
                $name { handle, _types: PhantomData }
            }

            /// The object's name on the server.
            pub fn name(&self) -> &str {
                self.handle.name()
            }

            /// Deletes the object for every handle (later calls fail).
            pub fn delete(&self) -> Result<(), Error> {
                self.handle.delete()
            }
        }
    };
}

fn blob(answer: Answer) -> Result<Blob, Error> {
    match answer {
        Answer::Blob(b) => Ok(b),
        other => Err(unexpected(other)),
    }
}

fn maybe<T: DeserializeOwned>(answer: Answer) -> Result<Option<T>, Error> {
    match answer {
        Answer::MaybeBlob(b) => b.map(|b| decode(&b)).transpose(),
        other => Err(unexpected(other)),
    }
}

fn many<T: DeserializeOwned>(answer: Answer) -> Result<Vec<T>, Error> {
    match answer {
        Answer::Blobs(items) => items.iter().map(|b| decode(b)).collect(),
        other => Err(unexpected(other)),
    }
}

fn count(answer: Answer) -> Result<usize, Error> {
    match answer {
        Answer::Count(n) => Ok(n as usize),
        other => Err(unexpected(other)),
    }
}

fn encode_all<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<Blob>, Error> {
    items.into_iter().map(|item| encode(&item)).collect()
}

shared_type!(
    /// One shared serde value, read and replaced whole; [`Value::update`] applies a
    /// function atomically (optimistic: it retries if another writer got in between).
    ///
    /// ```
    /// use strato::sync::Value;
    /// let best = Value::new((0u32, String::from("none")));
    /// best.set((3, "three".into()));
    /// best.update(|(n, _)| *n += 1);
    /// assert_eq!(best.get(), (4, "three".to_string()));
    /// ```
    Value<T>
);

impl<T: Serialize + DeserializeOwned> Value<T> {
    /// A new anonymous value.
    pub fn new(value: T) -> Self {
        let client = default_client("Value::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), value),
            "Value::new",
        )
    }

    /// Opens the value `name` on `client`, creating it with `value` if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, value: T) -> Result<Self, Error> {
        let init = Init::Value(encode(&value)?);
        Handle::open(client, name.into(), init, Role::Handle).map(Self::from_handle)
    }

    fn versioned(&self) -> Result<(u64, T), Error> {
        match self.handle.op(Op::ValueGet)? {
            Answer::Versioned { version, value } => Ok((version, decode(&value)?)),
            other => Err(unexpected(other)),
        }
    }

    /// The value.
    pub fn get(&self) -> T {
        expect(self.versioned(), "Value::get").1
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        let blob = expect(encode(&value), "Value::set");
        expect(self.handle.op(Op::ValueSet(blob)), "Value::set");
    }

    /// Applies `f` to the value atomically and returns the new value.
    pub fn update(&self, mut f: impl FnMut(&mut T)) -> T {
        expect(self.try_update(&mut f), "Value::update")
    }

    fn try_update(&self, f: &mut impl FnMut(&mut T)) -> Result<T, Error> {
        let (mut version, mut value) = self.versioned()?;
        loop {
            f(&mut value);
            let op = Op::ValueCompareSet {
                version,
                value: encode(&value)?,
            };
            match self.handle.op(op)? {
                Answer::Done => return Ok(value),
                Answer::Versioned {
                    version: v,
                    value: current,
                } => {
                    version = v;
                    value = decode(&current)?;
                }
                other => return Err(unexpected(other)),
            }
        }
    }
}

shared_type!(
    /// A fixed-length shared array; each element is read and written on its own.
    ///
    /// ```
    /// use strato::sync::Array;
    /// let image = Array::new(vec![0u8; 4]);
    /// image.set(2, 9);
    /// assert_eq!(image.get(2), Some(9));
    /// assert_eq!(image.get(7), None);
    /// assert_eq!(image.to_vec(), vec![0, 0, 9, 0]);
    /// ```
    Array<T>
);

impl<T: Serialize + DeserializeOwned> Array<T> {
    /// A new anonymous array holding `items`.
    pub fn new(items: Vec<T>) -> Self {
        let client = default_client("Array::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), items),
            "Array::new",
        )
    }

    /// Opens the array `name` on `client`, creating it from `items` if absent.
    pub fn open(
        client: &Client,
        name: impl Into<ObjectName>,
        items: Vec<T>,
    ) -> Result<Self, Error> {
        let init = Init::Array(encode_all(items)?);
        Handle::open(client, name.into(), init, Role::Handle).map(Self::from_handle)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        expect(self.handle.op(Op::ArrayLen).and_then(count), "Array::len")
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<T> {
        match self.handle.op(Op::ArrayGet(index as u64)) {
            Ok(answer) => Some(expect(blob(answer).and_then(|b| decode(&b)), "Array::get")),
            Err(e) if e.server_kind() == Some(strato_proto::ErrorKind::OutOfBounds) => None,
            Err(e) => panic!("strato: Array::get failed: {e}"),
        }
    }

    /// Replaces element `index`.
    ///
    /// # Panics
    /// If `index` is out of bounds, like slice indexing.
    pub fn set(&self, index: usize, value: T) {
        let blob = expect(encode(&value), "Array::set");
        expect(
            self.handle.op(Op::ArraySet(index as u64, blob)),
            "Array::set",
        );
    }

    /// Elements in `range`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn get_range(&self, range: Range<usize>) -> Vec<T> {
        let op = Op::ArrayGetRange(range.start as u64, range.end as u64);
        expect(self.handle.op(op).and_then(many), "Array::get_range")
    }

    /// Replaces elements from `start` with `values`, in one atomic step.
    ///
    /// # Panics
    /// If they do not fit.
    pub fn set_range(&self, start: usize, values: &[T]) {
        let op = expect(encode_all(values), "Array::set_range");
        expect(
            self.handle.op(Op::ArraySetRange(start as u64, op)),
            "Array::set_range",
        );
    }

    /// All elements.
    pub fn to_vec(&self) -> Vec<T> {
        let op = Op::ArrayGetRange(0, self.len() as u64);
        expect(self.handle.op(op).and_then(many), "Array::to_vec")
    }
}

shared_type!(
    /// A growable shared list (a `Manager().list()`).
    ///
    /// ```
    /// use strato::sync::List;
    /// let log = List::new();
    /// log.push("a".to_string());
    /// log.extend(["b".to_string(), "c".to_string()]);
    /// assert_eq!(log.len(), 3);
    /// assert_eq!(log.pop(), Some("c".to_string()));
    /// assert_eq!(log.range(0..10), vec!["a".to_string(), "b".to_string()]);
    /// ```
    List<T>
);

impl<T: Serialize + DeserializeOwned> List<T> {
    /// A new anonymous, empty list.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let client = default_client("List::new");
        expect(Self::open(&client, ObjectName::anonymous()), "List::new")
    }

    /// Opens the list `name` on `client`, creating it empty if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, Error> {
        Handle::open(client, name.into(), Init::List, Role::Handle).map(Self::from_handle)
    }

    /// Appends a value.
    pub fn push(&self, value: T) {
        let blob = expect(encode(&value), "List::push");
        expect(self.handle.op(Op::ListPush(blob)), "List::push");
    }

    /// Appends many values in one step.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) {
        let blobs = expect(encode_all(values), "List::extend");
        expect(self.handle.op(Op::ListExtend(blobs)), "List::extend");
    }

    /// Removes and returns the last value.
    pub fn pop(&self) -> Option<T> {
        expect(self.handle.op(Op::ListPop).and_then(maybe), "List::pop")
    }

    /// Element `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<T> {
        let items: Vec<T> = self.range(index..index.saturating_add(1));
        items.into_iter().next()
    }

    /// Replaces element `index`.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn set(&self, index: usize, value: T) {
        let blob = expect(encode(&value), "List::set");
        expect(self.handle.op(Op::ListSet(index as u64, blob)), "List::set");
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        expect(self.handle.op(Op::ListLen).and_then(count), "List::len")
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements in `range`, clamped to the list.
    pub fn range(&self, range: Range<usize>) -> Vec<T> {
        let op = Op::ListRange(range.start as u64, range.end as u64);
        expect(self.handle.op(op).and_then(many), "List::range")
    }

    /// All elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.range(0..usize::MAX)
    }
}

/// How [`Map::merge`] combines a new value with an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Numeric sum (`i64`, `u64` wrapping, `f64`).
    Add,
    /// The larger (`i64`).
    Max,
    /// The smaller (`i64`).
    Min,
    /// The new value wins.
    Replace,
    /// The existing value wins.
    KeepFirst,
}

/// Values a [`Map`] can merge on the server.
pub trait MergeValue: Serialize {
    /// The server operation for `merge` on this type, if it has one.
    fn merge_op(merge: Merge) -> Option<MergeOp>;
}

fn generic_merge(merge: Merge) -> Option<MergeOp> {
    match merge {
        Merge::Replace => Some(MergeOp::Replace),
        Merge::KeepFirst => Some(MergeOp::KeepFirst),
        _ => None,
    }
}

impl MergeValue for i64 {
    fn merge_op(merge: Merge) -> Option<MergeOp> {
        match merge {
            Merge::Add => Some(MergeOp::AddI64),
            Merge::Max => Some(MergeOp::MaxI64),
            Merge::Min => Some(MergeOp::MinI64),
            other => generic_merge(other),
        }
    }
}

impl MergeValue for u64 {
    fn merge_op(merge: Merge) -> Option<MergeOp> {
        match merge {
            Merge::Add => Some(MergeOp::AddU64),
            other => generic_merge(other),
        }
    }
}

impl MergeValue for f64 {
    fn merge_op(merge: Merge) -> Option<MergeOp> {
        match merge {
            Merge::Add => Some(MergeOp::AddF64),
            other => generic_merge(other),
        }
    }
}

shared_type!(
    /// A shared map (a `Manager().dict()`), with [`Map::merge`] folding many entries into
    /// it on the server in one step. Keys are ordered by their serialized bytes.
    ///
    /// ```
    /// use strato::sync::{Map, Merge};
    /// let counts: Map<String, u64> = Map::new();
    /// counts.insert("a".into(), 1);
    /// counts.merge([("a".to_string(), 2), ("b".to_string(), 5)], Merge::Add).unwrap();
    /// assert_eq!(counts.get(&"a".to_string()), Some(3));
    /// assert_eq!(counts.len(), 2);
    /// ```
    Map<K, V>
);

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> Map<K, V> {
    /// A new anonymous, empty map.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let client = default_client("Map::new");
        expect(Self::open(&client, ObjectName::anonymous()), "Map::new")
    }

    /// Opens the map `name` on `client`, creating it empty if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, Error> {
        Handle::open(client, name.into(), Init::Map, Role::Handle).map(Self::from_handle)
    }

    fn key(key: &K, what: &str) -> Blob {
        expect(encode(key), what)
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let op = Op::MapGet(Self::key(key, "Map::get"));
        expect(self.handle.op(op).and_then(maybe), "Map::get")
    }

    /// Inserts, returning the previous value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let value = expect(encode(&value), "Map::insert");
        let op = Op::MapInsert(Self::key(&key, "Map::insert"), value);
        expect(self.handle.op(op).and_then(maybe), "Map::insert")
    }

    /// Removes, returning the previous value.
    pub fn remove(&self, key: &K) -> Option<V> {
        let op = Op::MapRemove(Self::key(key, "Map::remove"));
        expect(self.handle.op(op).and_then(maybe), "Map::remove")
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        let op = Op::MapContains(Self::key(key, "Map::contains_key"));
        match expect(self.handle.op(op), "Map::contains_key") {
            Answer::Bool(b) => b,
            other => panic!("strato: Map::contains_key: {}", unexpected(other)),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        expect(self.handle.op(Op::MapLen).and_then(count), "Map::len")
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All keys.
    pub fn keys(&self) -> Vec<K> {
        expect(self.handle.op(Op::MapKeys).and_then(many), "Map::keys")
    }

    /// All entries.
    pub fn entries(&self) -> Vec<(K, V)> {
        let pairs = expect(self.handle.op(Op::MapEntries), "Map::entries");
        let Answer::Pairs(pairs) = pairs else {
            panic!("strato: Map::entries: {}", unexpected(pairs));
        };
        let decoded = pairs.iter().map(|(k, v)| Ok((decode(k)?, decode(v)?)));
        expect(decoded.collect::<Result<_, Error>>(), "Map::entries")
    }

    /// Removes every entry.
    pub fn clear(&self) {
        expect(self.handle.op(Op::MapClear), "Map::clear");
    }

    /// Folds `entries` into the map on the server in one atomic step: an absent key takes
    /// the new value, a present one combines both with `merge`.
    pub fn merge(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
        merge: Merge,
    ) -> Result<(), Error>
    where
        V: MergeValue,
    {
        let (pairs, op) = Self::merge_pairs(entries, merge)?;
        self.handle.op(Op::MapMerge(pairs, op)).map(drop)
    }

    /// [`Map::merge`], applied at most once per token `once`: `Ok(false)` if a merge with
    /// that token was applied before (how a retried task's writes count once).
    pub(crate) fn merge_once(
        &self,
        once: Vec<u8>,
        entries: impl IntoIterator<Item = (K, V)>,
        merge: Merge,
    ) -> Result<bool, Error>
    where
        V: MergeValue,
    {
        let (pairs, merge) = Self::merge_pairs(entries, merge)?;
        let once = once.into();
        match self.handle.op(Op::MapMergeOnce { once, pairs, merge })? {
            Answer::Bool(applied) => Ok(applied),
            other => Err(unexpected(other)),
        }
    }

    fn merge_pairs(
        entries: impl IntoIterator<Item = (K, V)>,
        merge: Merge,
    ) -> Result<(Vec<(Blob, Blob)>, strato_proto::MergeOp), Error>
    where
        V: MergeValue,
    {
        let op = V::merge_op(merge).ok_or_else(|| {
            Error::Codec(format!(
                "{merge:?} is not defined for {}",
                std::any::type_name::<V>()
            ))
        })?;
        let pairs = entries
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((pairs, op))
    }
}
