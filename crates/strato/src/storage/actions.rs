//! Storage actions (Glider): objects on the state server that many tasks stream writes into
//! and the driver reads once at the end. [`MergeAction`] folds keyed values (word → count with
//! `+`), so a word count needs no reduce task.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use strato_worker::worker::{effect_slot, TaskKey};

use crate::sync::{Map, Merge, MergeValue};
use crate::{Client, ObjectName};

/// Why a storage action failed.
///
/// ```
/// use strato::storage::{ActionError, MergeAction};
/// use strato::sync::Merge;
/// let refused = MergeAction::<String, u64>::new(Merge::Max);
/// assert!(matches!(refused, Err(ActionError::Unsupported { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The value type has no server-side fold for this merge.
    #[error("{merge:?} is not a server-side fold for {value_type}")]
    Unsupported {
        /// The merge asked for.
        merge: Merge,
        /// The value type.
        value_type: &'static str,
    },
    /// The state server failed the call or could not be reached.
    #[error("the storage action failed: {0}")]
    Server(#[from] crate::Error),
    /// An entry could not be encoded.
    #[error("cannot encode a write to the storage action: {0}")]
    Encode(String),
}

/// What a writer sent to an action: to sum over tasks and compare with the bytes a reduce
/// task would have received.
///
/// ```
/// use strato::storage::ActionStats;
/// let a = ActionStats { writes: 3, flushes: 1, bytes_sent: 40 };
/// let total: ActionStats = [a, a].into_iter().sum();
/// assert_eq!(total.bytes_sent, 80);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActionStats {
    /// Values written by the task (before local folding).
    pub writes: u64,
    /// Batches sent to the server.
    pub flushes: u64,
    /// Encoded bytes of the entries sent.
    pub bytes_sent: u64,
}

impl std::ops::Add for ActionStats {
    type Output = ActionStats;

    fn add(self, other: ActionStats) -> ActionStats {
        ActionStats {
            writes: self.writes + other.writes,
            flushes: self.flushes + other.flushes,
            bytes_sent: self.bytes_sent + other.bytes_sent,
        }
    }
}

impl std::iter::Sum for ActionStats {
    fn sum<I: Iterator<Item = ActionStats>>(iter: I) -> ActionStats {
        iter.fold(ActionStats::default(), |a, b| a + b)
    }
}

/// What makes a writer's batches count once: made inside a task, the task and the writer's
/// place among the task's writers (the same in every attempt of a deterministic task).
#[derive(Debug)]
pub(crate) struct Fence(Option<(TaskKey, u32)>);

impl Fence {
    /// The fence of a writer made now (none outside tasks).
    pub(crate) fn take() -> Fence {
        Fence(effect_slot())
    }

    /// The once-token of the writer's batch number `batch`, if it is fenced.
    pub(crate) fn token(&self, batch: u64) -> Result<Option<Vec<u8>>, ActionError> {
        let Some((task, slot)) = &self.0 else {
            return Ok(None);
        };
        postcard::to_stdvec(&(task, slot, batch))
            .map(Some)
            .map_err(|e| ActionError::Encode(e.to_string()))
    }
}

/// Values a [`MergeAction`] folds (`u64`, `i64`, `f64`): the writer folds locally exactly
/// as the server does.
///
/// ```
/// fn fold_all<V: strato::storage::ActionValue>(values: &[V]) -> V {
///     values[1..].iter().fold(values[0], |a, b| V::fold(a, *b, strato::sync::Merge::Max))
/// }
/// assert_eq!(fold_all(&[3i64, 9, 4]), 9);
/// ```
pub trait ActionValue: MergeValue + Serialize + DeserializeOwned + Copy {
    /// Folds `new` into `old` as the server's `merge` would.
    ///
    /// ```
    /// use strato::storage::ActionValue;
    /// use strato::sync::Merge;
    /// assert_eq!(u64::fold(2, 3, Merge::Add), 5);
    /// assert_eq!(i64::fold(2, -3, Merge::Min), -3);
    /// ```
    fn fold(old: Self, new: Self, merge: Merge) -> Self;
}

macro_rules! action_value {
    ($($t:ty => $add:expr),*) => {$(
        impl ActionValue for $t {
            fn fold(old: Self, new: Self, merge: Merge) -> Self {
                match merge {
                    Merge::Add => $add(old, new),
                    Merge::Max => old.max(new),
                    Merge::Min => old.min(new),
                    Merge::Replace => new,
                    Merge::KeepFirst => old,
                }
            }
        }
    )*};
}

action_value!(u64 => u64::wrapping_add, i64 => i64::wrapping_add, f64 => |a: f64, b: f64| a + b);

/// How a [`MergeAction`] travels (the handle's merge, by name).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Fold {
    Add,
    Max,
    Min,
    Replace,
    KeepFirst,
}

impl From<Merge> for Fold {
    fn from(merge: Merge) -> Fold {
        match merge {
            Merge::Add => Fold::Add,
            Merge::Max => Fold::Max,
            Merge::Min => Fold::Min,
            Merge::Replace => Fold::Replace,
            Merge::KeepFirst => Fold::KeepFirst,
        }
    }
}

impl From<Fold> for Merge {
    fn from(fold: Fold) -> Merge {
        match fold {
            Fold::Add => Merge::Add,
            Fold::Max => Merge::Max,
            Fold::Min => Merge::Min,
            Fold::Replace => Merge::Replace,
            Fold::KeepFirst => Merge::KeepFirst,
        }
    }
}

/// A keyed merge on the state server (a Glider storage action): tasks stream `(key, value)`
/// writes into it through a [`MergeWriter`], the server folds each into the value it holds
/// with the action's [`Merge`], and the driver reads the merged result once. A word count
/// then moves each task's words once, to the server, and only the merged counts to the
/// driver — no reduce task.
///
/// The handle is serializable: pass it to every task (with
/// [`DatasetExecutor::map_dataset_with`](crate::storage::DatasetExecutor::map_dataset_with)).
/// Folds are associative and commutative (`Add`, `Max`, `Min`), so the order of writes does
/// not matter; a task that runs again after its worker died writes again, so use it with
/// idempotent folds (`Max`, `Min`) or accept the at-least-once count.
///
/// ```
/// use strato::executor::Executor;
/// use strato::storage::{ActionStats, MergeAction};
/// use strato::sync::Merge;
///
/// fn count((text, counts): (String, MergeAction<String, u64>)) -> ActionStats {
///     let mut writer = counts.writer();
///     for word in text.split_whitespace() {
///         writer.add(word.to_string(), 1).unwrap();
///     }
///     writer.finish().unwrap()
/// }
///
/// let counts = MergeAction::<String, u64>::new(Merge::Add).unwrap();
/// let executor = Executor::builder().workers(2).build().unwrap();
/// let texts = ["a b a", "b c", "a"].map(|t| (t.to_string(), counts.clone()));
/// let stats: ActionStats = executor
///     .get_result(&executor.map(count, texts).unwrap())
///     .unwrap()
///     .into_iter()
///     .sum();
/// assert_eq!(stats.writes, 6);
/// let mut merged = counts.read();
/// merged.sort();
/// assert_eq!(merged, [("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct MergeAction<K, V> {
    map: Map<K, V>,
    fold: Fold,
}

impl<K, V> Clone for MergeAction<K, V> {
    fn clone(&self) -> Self {
        MergeAction {
            map: self.map.clone(),
            fold: self.fold,
        }
    }
}

impl<K, V> std::fmt::Debug for MergeAction<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeAction")
            .field("name", &self.map.name())
            .field("merge", &Merge::from(self.fold))
            .finish()
    }
}

impl<K, V> MergeAction<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq,
    V: ActionValue,
{
    /// A new, empty action on the default state server folding with `merge`.
    ///
    /// ```
    /// let sums = strato::storage::MergeAction::<String, f64>::new(strato::sync::Merge::Add);
    /// assert!(sums.is_ok());
    /// ```
    pub fn new(merge: Merge) -> Result<Self, ActionError> {
        Self::check(merge)?;
        Ok(MergeAction {
            map: Map::new(),
            fold: merge.into(),
        })
    }

    /// Opens the action `name` on `client` (created empty if absent).
    ///
    /// ```
    /// use strato::storage::MergeAction;
    /// let client = strato::client().unwrap();
    /// let a = MergeAction::<String, u64>::open(&client, "doc-counts", strato::sync::Merge::Add).unwrap();
    /// a.writer().add("x".into(), 2).unwrap();
    /// let b = MergeAction::<String, u64>::open(&client, "doc-counts", strato::sync::Merge::Add).unwrap();
    /// assert_eq!(b.read(), [("x".to_string(), 2)]);
    /// ```
    pub fn open(
        client: &Client,
        name: impl Into<ObjectName>,
        merge: Merge,
    ) -> Result<Self, ActionError> {
        Self::check(merge)?;
        Ok(MergeAction {
            map: Map::open(client, name)?,
            fold: merge.into(),
        })
    }

    fn check(merge: Merge) -> Result<(), ActionError> {
        match V::merge_op(merge) {
            Some(_) => Ok(()),
            None => Err(ActionError::Unsupported {
                merge,
                value_type: std::any::type_name::<V>(),
            }),
        }
    }

    /// A writer that folds writes locally and streams them to the action in batches of up
    /// to 262 144 distinct keys (a task whose share has fewer distinct keys sends once).
    ///
    /// ```
    /// let counts = strato::storage::MergeAction::<String, u64>::new(strato::sync::Merge::Add).unwrap();
    /// let mut writer = counts.writer();
    /// writer.add("k".into(), 1).unwrap();
    /// writer.add("k".into(), 1).unwrap();
    /// let stats = writer.finish().unwrap();
    /// assert_eq!((stats.writes, stats.flushes), (2, 1));
    /// assert_eq!(counts.read(), [("k".to_string(), 2)]);
    /// ```
    pub fn writer(&self) -> MergeWriter<K, V> {
        self.writer_with_batch(1 << 18)
    }

    /// A writer that sends a batch whenever it holds `batch` distinct keys (at least 1).
    ///
    /// ```
    /// let counts = strato::storage::MergeAction::<u64, u64>::new(strato::sync::Merge::Add).unwrap();
    /// let mut writer = counts.writer_with_batch(2);
    /// for key in [1, 2, 3, 1] {
    ///     writer.add(key, 10).unwrap();
    /// }
    /// assert_eq!(writer.finish().unwrap().flushes, 2);
    /// ```
    pub fn writer_with_batch(&self, batch: usize) -> MergeWriter<K, V> {
        MergeWriter {
            action: self.clone(),
            buffer: HashMap::new(),
            batch: batch.max(1),
            stats: ActionStats::default(),
            fence: Fence::take(),
        }
    }

    /// The merge it folds with.
    ///
    /// ```
    /// use strato::sync::Merge;
    /// let a = strato::storage::MergeAction::<String, i64>::new(Merge::Max).unwrap();
    /// assert_eq!(a.merge(), Merge::Max);
    /// ```
    pub fn merge(&self) -> Merge {
        self.fold.into()
    }

    /// Reads the merged entries (in the server's key order: by their encoded bytes).
    ///
    /// ```
    /// let a = strato::storage::MergeAction::<String, u64>::new(strato::sync::Merge::Add).unwrap();
    /// assert!(a.read().is_empty());
    /// ```
    pub fn read(&self) -> Vec<(K, V)> {
        self.map.entries()
    }

    /// Reads the merged entries and deletes the action.
    ///
    /// ```
    /// let a = strato::storage::MergeAction::<String, u64>::new(strato::sync::Merge::Add).unwrap();
    /// a.writer().add("x".into(), 1).unwrap();
    /// assert_eq!(a.take().unwrap().len(), 1);
    /// ```
    pub fn take(self) -> Result<Vec<(K, V)>, ActionError> {
        let entries = self.map.entries();
        self.map.delete()?;
        Ok(entries)
    }

    /// Sends one batch; with a `once` token (a task's batch), at most once per token.
    fn send(&self, entries: Vec<(K, V)>, once: Option<Vec<u8>>) -> Result<u64, ActionError> {
        let bytes = postcard::to_stdvec(&entries)
            .map_err(|e| ActionError::Encode(e.to_string()))?
            .len() as u64;
        match once {
            None => self.map.merge(entries, self.merge())?,
            Some(once) => {
                if !self.map.merge_once(once, entries, self.merge())? {
                    tracing::debug!("a batch an earlier attempt of this task sent was dropped");
                }
            }
        }
        Ok(bytes)
    }
}

/// Streams writes into a [`MergeAction`]: folds them locally (a combiner) and sends a batch
/// when it holds enough distinct keys, and the rest on [`MergeWriter::finish`] (or, best
/// effort, when dropped).
///
/// **Counted once.** A writer made inside a task tags each batch with the task, the writer's
/// place among the task's writers, and the batch's number; the server applies a tag once. So
/// when a task runs again (its worker died after writing, or its lease expired while a slow
/// worker still ran it), the batches an earlier attempt sent are not counted twice: a
/// deterministic task sends the same batches each time.
///
/// ```
/// let counts = strato::storage::MergeAction::<String, u64>::new(strato::sync::Merge::Add).unwrap();
/// {
///     let mut writer = counts.writer();
///     writer.add("dropped".into(), 5).unwrap();
/// }
/// assert_eq!(counts.read(), [("dropped".to_string(), 5)]);
/// ```
pub struct MergeWriter<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq,
    V: ActionValue,
{
    action: MergeAction<K, V>,
    buffer: HashMap<K, V>,
    batch: usize,
    stats: ActionStats,
    fence: Fence,
}

impl<K, V> MergeWriter<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq,
    V: ActionValue,
{
    /// Writes `value` under `key`.
    ///
    /// ```
    /// let a = strato::storage::MergeAction::<u64, i64>::new(strato::sync::Merge::Min).unwrap();
    /// let mut writer = a.writer();
    /// writer.add(1, 5).unwrap();
    /// writer.add(1, -3).unwrap();
    /// writer.finish().unwrap();
    /// assert_eq!(a.read(), [(1, -3)]);
    /// ```
    pub fn add(&mut self, key: K, value: V) -> Result<(), ActionError> {
        let merge = self.action.merge();
        self.stats.writes += 1;
        self.buffer
            .entry(key)
            .and_modify(|old| *old = V::fold(*old, value, merge))
            .or_insert(value);
        if self.buffer.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what it holds now.
    ///
    /// ```
    /// let a = strato::storage::MergeAction::<u64, u64>::new(strato::sync::Merge::Add).unwrap();
    /// let mut writer = a.writer();
    /// writer.add(7, 1).unwrap();
    /// writer.flush().unwrap();
    /// assert_eq!(a.read(), [(7, 1)]);
    /// ```
    pub fn flush(&mut self) -> Result<(), ActionError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let entries: Vec<(K, V)> = self.buffer.drain().collect();
        let once = self.fence.token(self.stats.flushes)?;
        self.stats.bytes_sent += self.action.send(entries, once)?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Sends the rest; returns what it sent in all.
    ///
    /// ```
    /// let a = strato::storage::MergeAction::<u64, u64>::new(strato::sync::Merge::Add).unwrap();
    /// assert_eq!(a.writer().finish().unwrap().bytes_sent, 0);
    /// ```
    pub fn finish(mut self) -> Result<ActionStats, ActionError> {
        self.flush()?;
        Ok(self.stats)
    }
}

impl<K, V> Drop for MergeWriter<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq,
    V: ActionValue,
{
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("a dropped MergeWriter could not send its last writes: {e}");
        }
    }
}

impl<K, V> std::fmt::Debug for MergeWriter<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq,
    V: ActionValue,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeWriter")
            .field("action", &self.action)
            .field("buffered", &self.buffer.len())
            .field("stats", &self.stats)
            .finish()
    }
}
