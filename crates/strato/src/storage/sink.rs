//! [`SortSink`]: a storage action that gathers items streamed from many tasks and hands
//! them out sorted, once, at the end; the sorting runs on the state server.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_proto::Wait;

use super::actions::{ActionError, ActionStats, Fence};
use crate::shared::{decode_args, encode_result, Shared, SharedObject};
use crate::{Client, ObjectName};

/// Items a [`SortSink`] holds: ordered, serializable, owned.
///
/// ```
/// fn sink_of<T: strato::storage::SinkItem>() -> strato::storage::SortSink<T> {
///     strato::storage::SortSink::new()
/// }
/// let sink = sink_of::<(u32, String)>();
/// # let _ = sink;
/// ```
pub trait SinkItem: Ord + Serialize + DeserializeOwned + Send + 'static {}

impl<T: Ord + Serialize + DeserializeOwned + Send + 'static> SinkItem for T {}

/// The sink's value on the server: the items written so far.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
struct Gathered<T> {
    items: Vec<T>,
    /// The once-tokens of the batches taken (a retried task's batches count once).
    #[serde(default)]
    applied: std::collections::HashSet<Vec<u8>>,
}

impl<T> Default for Gathered<T> {
    fn default() -> Self {
        Gathered {
            items: Vec::new(),
            applied: Default::default(),
        }
    }
}

impl<T: SinkItem> Shared for Gathered<T> {
    fn invoke(&mut self, method: &str, args: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match method {
            "extend" => {
                let (items,): (Vec<T>,) = decode_args(method, args)?;
                self.items.extend(items);
                encode_result(method, &self.items.len())
            }
            "extend_once" => {
                let (once, items): (Vec<u8>, Vec<T>) = decode_args(method, args)?;
                if self.applied.insert(once) {
                    self.items.extend(items);
                }
                encode_result(method, &self.items.len())
            }
            "take_sorted" => {
                let mut items = std::mem::take(&mut self.items);
                items.sort();
                encode_result(method, &items)
            }
            "len" => encode_result(method, &self.items.len()),
            other => Err(format!("a sort sink has no method `{other}`")),
        }
    }
}

/// A sorting sink on the state server (a Glider storage action): tasks stream items into
/// it through a [`SinkWriter`]; [`SortSink::take_sorted`] sorts them **on the server** and
/// hands them out once. Ties keep no particular order.
///
/// Its methods run in the state server of your own binary (the embedded server, the
/// default); `strato serve` refuses it, as any user-defined shared object.
///
/// ```
/// use strato::executor::Executor;
/// use strato::storage::{ActionStats, SortSink};
///
/// fn emit((n, sink): (u64, SortSink<u64>)) -> ActionStats {
///     let mut writer = sink.writer();
///     for k in 0..n {
///         writer.push(k * 7 % 10).unwrap();
///     }
///     writer.finish().unwrap()
/// }
///
/// let sink = SortSink::<u64>::new();
/// let executor = Executor::builder().workers(2).build().unwrap();
/// let futures = executor.map(emit, [(3, sink.clone()), (4, sink.clone())]).unwrap();
/// executor.get_result(&futures).unwrap();
/// assert_eq!(sink.take_sorted().unwrap(), [0, 0, 1, 4, 4, 7, 7]);
/// assert!(sink.take_sorted().unwrap().is_empty());
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SortSink<T> {
    object: SharedObject<Gathered<T>>,
}

impl<T> Clone for SortSink<T> {
    fn clone(&self) -> Self {
        SortSink {
            object: self.object.clone(),
        }
    }
}

impl<T> std::fmt::Debug for SortSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SortSink")
            .field("object", &self.object)
            .finish()
    }
}

impl<T: SinkItem> SortSink<T> {
    /// A new, empty sink on the default state server.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<String>::new();
    /// assert_eq!(sink.len().unwrap(), 0);
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SortSink {
            object: SharedObject::new(Gathered::default()),
        }
    }

    /// Opens the sink `name` on `client` (created empty if absent).
    ///
    /// ```
    /// let client = strato::client().unwrap();
    /// let sink = strato::storage::SortSink::<i32>::open(&client, "doc-sink").unwrap();
    /// sink.extend(vec![3, 1, 2]).unwrap();
    /// assert_eq!(sink.take_sorted().unwrap(), [1, 2, 3]);
    /// ```
    pub fn open(client: &Client, name: impl Into<ObjectName>) -> Result<Self, ActionError> {
        let object = SharedObject::open(client, name, Gathered::default())?;
        Ok(SortSink { object })
    }

    /// Appends `items` in one call; returns how many the sink holds.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u8>::new();
    /// assert_eq!(sink.extend(vec![2, 1]).unwrap(), 2);
    /// ```
    pub fn extend(&self, items: Vec<T>) -> Result<usize, ActionError> {
        self.call("extend", &(items,))
    }

    /// How many items it holds.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u8>::new();
    /// sink.extend(vec![1]).unwrap();
    /// assert_eq!(sink.len().unwrap(), 1);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Result<usize, ActionError> {
        self.call("len", &())
    }

    /// Sorts every item on the server and hands them out, leaving the sink empty.
    ///
    /// ```
    /// let words = strato::storage::SortSink::<String>::new();
    /// words.extend(vec!["b".into(), "a".into()]).unwrap();
    /// assert_eq!(words.take_sorted().unwrap(), ["a", "b"]);
    /// ```
    pub fn take_sorted(&self) -> Result<Vec<T>, ActionError> {
        self.call("take_sorted", &())
    }

    /// A writer that sends items in batches of 8 192.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u32>::new();
    /// let mut writer = sink.writer();
    /// writer.push(2).unwrap();
    /// writer.push(1).unwrap();
    /// assert_eq!(writer.finish().unwrap().writes, 2);
    /// assert_eq!(sink.take_sorted().unwrap(), [1, 2]);
    /// ```
    pub fn writer(&self) -> SinkWriter<T> {
        SinkWriter {
            sink: self.clone(),
            buffer: Vec::new(),
            batch: 8_192,
            stats: ActionStats::default(),
            fence: Fence::take(),
        }
    }

    fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, ActionError> {
        match self.object.invoke(method, args, Wait::Forever)? {
            Some(result) => Ok(result),
            None => Err(ActionError::Encode(format!(
                "`{method}` returned no result"
            ))),
        }
    }
}

/// Streams items into a [`SortSink`] in batches; the rest goes on [`SinkWriter::finish`]
/// (or, best effort, when dropped).
///
/// ```
/// let sink = strato::storage::SortSink::<u32>::new();
/// sink.writer().push(5).unwrap();
/// assert_eq!(sink.len().unwrap(), 1);
/// ```
pub struct SinkWriter<T: SinkItem> {
    sink: SortSink<T>,
    buffer: Vec<T>,
    batch: usize,
    stats: ActionStats,
    fence: Fence,
}

impl<T: SinkItem> SinkWriter<T> {
    /// Writes one item.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u32>::new();
    /// let mut writer = sink.writer();
    /// writer.push(1).unwrap();
    /// # writer.finish().unwrap();
    /// ```
    pub fn push(&mut self, item: T) -> Result<(), ActionError> {
        self.buffer.push(item);
        self.stats.writes += 1;
        if self.buffer.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what it holds now.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u32>::new();
    /// let mut writer = sink.writer();
    /// writer.push(1).unwrap();
    /// writer.flush().unwrap();
    /// assert_eq!(sink.len().unwrap(), 1);
    /// ```
    pub fn flush(&mut self) -> Result<(), ActionError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.buffer);
        let bytes = postcard::to_stdvec(&items)
            .map_err(|e| ActionError::Encode(e.to_string()))?
            .len() as u64;
        match self.fence.token(self.stats.flushes)? {
            None => self.sink.extend(items)?,
            Some(once) => self.sink.call("extend_once", &(once, items))?,
        };
        self.stats.bytes_sent += bytes;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Sends the rest; returns what it sent in all.
    ///
    /// ```
    /// let sink = strato::storage::SortSink::<u32>::new();
    /// assert_eq!(sink.writer().finish().unwrap().flushes, 0);
    /// ```
    pub fn finish(mut self) -> Result<ActionStats, ActionError> {
        self.flush()?;
        Ok(self.stats)
    }
}

impl<T: SinkItem> Drop for SinkWriter<T> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("a dropped SinkWriter could not send its last items: {e}");
        }
    }
}

impl<T: SinkItem> std::fmt::Debug for SinkWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkWriter")
            .field("sink", &self.sink)
            .field("buffered", &self.buffer.len())
            .field("stats", &self.stats)
            .finish()
    }
}
