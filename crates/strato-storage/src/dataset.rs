//! [`Dataset`]: which objects a job reads, and how they are cut into partitions.

use serde::{Deserialize, Serialize};

use crate::discover::{discover_paths, discover_urls};
use crate::{DatasetError, Partition, Split, Storage};

/// An object of a dataset: where it is and how big.
///
/// ```
/// use strato_storage::{Dataset, Storage};
/// let storage = Storage::from_url("memory://").unwrap();
/// storage.put("a.txt", "12345").unwrap();
/// let objects = Dataset::keys(&storage, ["a.txt"]).objects().unwrap();
/// assert_eq!((objects[0].key.as_str(), objects[0].size), ("a.txt", 5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataObject {
    /// The storage it is in.
    pub storage: Storage,
    /// Its key there.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where the objects of a dataset come from.
#[derive(Debug, Clone)]
enum Source {
    Keys(Storage, Vec<String>),
    Prefix(Storage, String),
    Paths(Vec<String>),
    Urls(Vec<String>),
}

/// The input of a data-parallel job: objects in storage, local files, or URLs, cut into
/// [`Partition`]s of byte ranges, one task each (Lithops' data partitioner).
///
/// Each object is cut on its own: by [`Dataset::chunk_size`] (`ceil(size / chunk)`
/// partitions), by [`Dataset::chunk_count`] (that many partitions per object, fewer only for
/// an object with fewer bytes), or not at all (the default: one partition per object). An
/// empty object still has one (empty) partition. Text partitions read whole lines; see
/// [`Partition`].
///
/// ```
/// use strato_storage::{Dataset, Storage};
///
/// let storage = Storage::from_url("memory://").unwrap();
/// storage.put("logs/a", "x".repeat(10)).unwrap();
/// storage.put("logs/b", "y".repeat(25)).unwrap();
/// let dataset = Dataset::prefix(&storage, "logs").chunk_size(10);
/// let parts = dataset.partitions().unwrap();
/// assert_eq!(parts.len(), 1 + 3);
/// assert_eq!((parts[3].key(), parts[3].range()), ("logs/b", 20..25));
/// ```
#[derive(Debug, Clone)]
pub struct Dataset {
    sources: Vec<Source>,
    split: Split,
    text: bool,
}

impl Dataset {
    fn of(source: Source) -> Dataset {
        Dataset {
            sources: vec![source],
            split: Split::Whole,
            text: true,
        }
    }

    /// The objects `keys` of `storage`.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "1").unwrap();
    /// let dataset = strato_storage::Dataset::keys(&storage, ["a"]);
    /// assert_eq!(dataset.partitions().unwrap().len(), 1);
    /// ```
    pub fn keys<I, K>(storage: &Storage, keys: I) -> Dataset
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let keys = keys.into_iter().map(Into::into).collect();
        Dataset::of(Source::Keys(storage.clone(), keys))
    }

    /// Every object of `storage` under the path `prefix` (`""`: all of them), found when the
    /// dataset is partitioned.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("in/a", "1").unwrap();
    /// # storage.put("in/b", "2").unwrap();
    /// # storage.put("out/c", "3").unwrap();
    /// let dataset = strato_storage::Dataset::prefix(&storage, "in");
    /// assert_eq!(dataset.objects().unwrap().len(), 2);
    /// ```
    pub fn prefix(storage: &Storage, prefix: impl Into<String>) -> Dataset {
        Dataset::of(Source::Prefix(storage.clone(), prefix.into()))
    }

    /// Local files: each path is a file, a directory (every file below it) or a glob
    /// (`data/*.txt`, `logs/**/*.log`). Keys are relative to the directory (or to the glob's
    /// fixed leading directories; a file's is its name).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("a.txt"), "1\n").unwrap();
    /// std::fs::write(dir.path().join("b.csv"), "2\n").unwrap();
    /// let glob = format!("{}/*.txt", dir.path().display());
    /// let objects = strato_storage::Dataset::paths([glob]).objects().unwrap();
    /// assert_eq!(objects.len(), 1);
    /// assert_eq!(objects[0].key, "a.txt");
    /// let all = strato_storage::Dataset::paths([dir.path()]).objects().unwrap();
    /// assert_eq!(all.len(), 2);
    /// ```
    pub fn paths<I, P>(paths: I) -> Dataset
    where
        I: IntoIterator<Item = P>,
        P: AsRef<std::path::Path>,
    {
        let paths = paths
            .into_iter()
            .map(|p| p.as_ref().to_string_lossy().into_owned())
            .collect();
        Dataset::of(Source::Paths(paths))
    }

    /// Single objects by URL: `http[s]://host/path` (feature `http`; the server must
    /// honour `Range`), `s3://bucket/key` (feature `s3`), `file:///path`.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
    /// let url = format!("file://{}/a.txt", dir.path().display());
    /// let objects = strato_storage::Dataset::urls([url]).objects().unwrap();
    /// assert_eq!(objects[0].size, 6);
    /// ```
    pub fn urls<I, U>(urls: I) -> Dataset
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        Dataset::of(Source::Urls(urls.into_iter().map(Into::into).collect()))
    }

    /// What a command line's `--input` names: an `http[s]://` URL (one object), another
    /// storage URL (every object under it: `s3://bucket/corpus/`), or a local path or glob.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("a.txt"), "1\n").unwrap();
    /// let by_path = strato_storage::Dataset::at(&dir.path().display().to_string()).unwrap();
    /// let by_url = strato_storage::Dataset::at(&format!("file://{}", dir.path().display())).unwrap();
    /// assert_eq!(by_path.objects().unwrap().len(), by_url.objects().unwrap().len());
    /// ```
    pub fn at(input: &str) -> Result<Dataset, DatasetError> {
        if input.starts_with("http://") || input.starts_with("https://") {
            return Ok(Dataset::urls([input]));
        }
        if input.contains("://") {
            return Ok(Dataset::prefix(&Storage::from_url(input)?, ""));
        }
        Ok(Dataset::paths([input]))
    }

    /// This dataset followed by the objects of `other` (whose settings are ignored).
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "1").unwrap();
    /// # storage.put("b", "2").unwrap();
    /// use strato_storage::Dataset;
    /// let both = Dataset::keys(&storage, ["a"]).and(Dataset::keys(&storage, ["b"]));
    /// assert_eq!(both.objects().unwrap().len(), 2);
    /// ```
    pub fn and(mut self, other: Dataset) -> Dataset {
        self.sources.extend(other.sources);
        self
    }

    /// Cuts each object into partitions of `bytes` bytes (the last may be shorter).
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "0123456789").unwrap();
    /// let dataset = strato_storage::Dataset::keys(&storage, ["a"]).chunk_size(3);
    /// assert_eq!(dataset.partitions().unwrap().len(), 4);
    /// ```
    pub fn chunk_size(mut self, bytes: u64) -> Dataset {
        self.split = Split::ChunkSize(bytes);
        self
    }

    /// Cuts each object into `count` partitions.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "0123456789").unwrap();
    /// let dataset = strato_storage::Dataset::keys(&storage, ["a"]).chunk_count(3);
    /// assert_eq!(dataset.partitions().unwrap().len(), 3);
    /// ```
    pub fn chunk_count(mut self, count: u64) -> Dataset {
        self.split = Split::ChunkCount(count);
        self
    }

    /// Reads exact byte ranges instead of whole lines.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "ab\ncd\n").unwrap();
    /// let parts = strato_storage::Dataset::keys(&storage, ["a"]).chunk_size(2).binary().partitions().unwrap();
    /// assert_eq!(parts[1].read_all().unwrap(), b"\nc");
    /// ```
    pub fn binary(mut self) -> Dataset {
        self.text = false;
        self
    }

    /// How the objects are cut.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// use strato_storage::{Dataset, Split};
    /// assert_eq!(Dataset::keys(&storage, ["a"]).chunk_size(8).split(), Split::ChunkSize(8));
    /// ```
    pub fn split(&self) -> Split {
        self.split
    }

    /// Finds the objects (listing prefixes and directories, asking each object's size).
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// let missing = strato_storage::Dataset::keys(&storage, ["nope"]).objects();
    /// assert!(missing.is_err());
    /// ```
    pub fn objects(&self) -> Result<Vec<DataObject>, DatasetError> {
        let mut objects = Vec::new();
        for source in &self.sources {
            objects.extend(discover(source)?);
        }
        Ok(objects)
    }

    /// Finds the objects and cuts them into partitions, object by object in order.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "0123456789").unwrap();
    /// use strato_storage::{Dataset, DatasetError};
    /// let zero = Dataset::keys(&storage, ["a"]).chunk_size(0).partitions();
    /// assert!(matches!(zero, Err(DatasetError::ZeroChunk { .. })));
    /// ```
    pub fn partitions(&self) -> Result<Vec<Partition>, DatasetError> {
        self.check_split()?;
        let objects = self.objects()?;
        Ok(objects
            .into_iter()
            .enumerate()
            .flat_map(|(index, object)| self.cut(index, object))
            .collect())
    }

    fn check_split(&self) -> Result<(), DatasetError> {
        match self.split {
            Split::ChunkSize(0) => Err(DatasetError::ZeroChunk { what: "chunk_size" }),
            Split::ChunkCount(0) => Err(DatasetError::ZeroChunk {
                what: "chunk_count",
            }),
            _ => Ok(()),
        }
    }

    fn cut(&self, object_index: usize, object: DataObject) -> Vec<Partition> {
        let ranges = self.split.ranges(object.size);
        let total_parts = ranges.len() as u64;
        ranges
            .into_iter()
            .zip(0..)
            .map(|(range, part)| Partition {
                storage: object.storage.clone(),
                key: object.key.clone(),
                object_size: object.size,
                range,
                part,
                total_parts,
                object_index,
                text: self.text,
            })
            .collect()
    }
}

fn discover(source: &Source) -> Result<Vec<DataObject>, DatasetError> {
    match source {
        Source::Keys(storage, keys) => keys.iter().map(|k| head(storage, k)).collect(),
        Source::Prefix(storage, prefix) => Ok(storage
            .list(prefix)?
            .into_iter()
            .map(|info| DataObject {
                storage: storage.clone(),
                key: info.key,
                size: info.size,
            })
            .collect()),
        Source::Paths(paths) => discover_paths(paths),
        Source::Urls(urls) => discover_urls(urls),
    }
}

pub(crate) fn head(storage: &Storage, key: &str) -> Result<DataObject, DatasetError> {
    let info = storage.head(key)?;
    Ok(DataObject {
        storage: storage.clone(),
        key: key.to_string(),
        size: info.size,
    })
}
