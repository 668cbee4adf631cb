//! [`Partition`]: one task's share of a dataset, and the reader over it.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::aligned::PartitionReader;
use crate::{Storage, StorageError};

/// One task's share of a dataset: a byte range of one object, and how to read it.
///
/// Serializable, so a task receives it as its argument and reads its share itself. For text
/// (the default), [`Partition::reader`] yields whole lines: each line belongs to the
/// partition holding its first byte, so the reader skips a line that began before its range
/// and reads a little past the range's end to finish its last line (as Lithops does).
///
/// ```
/// use std::io::BufRead;
/// use strato_storage::{Dataset, Storage};
///
/// let storage = Storage::from_url("memory://").unwrap();
/// storage.put("poem.txt", "roses are red\nviolets are blue\n").unwrap();
/// let parts = Dataset::keys(&storage, ["poem.txt"]).chunk_size(14).partitions().unwrap();
/// assert_eq!(parts.len(), 3);
/// assert_eq!((parts[1].part(), parts[1].total_parts(), parts[1].range()), (1, 3, 14..28));
/// let lines: Vec<String> = parts[1].reader().unwrap().lines().map(Result::unwrap).collect();
/// assert_eq!(lines, ["violets are blue"]);
/// // the last range holds no line start: its partition reads nothing
/// assert!(parts[2].read_all().unwrap().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub(crate) storage: Storage,
    pub(crate) key: String,
    pub(crate) object_size: u64,
    pub(crate) range: Range<u64>,
    pub(crate) part: u64,
    pub(crate) total_parts: u64,
    pub(crate) object_index: usize,
    pub(crate) text: bool,
}

impl Partition {
    /// The storage its object is in.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://p").unwrap();
    /// # storage.put("k", "x").unwrap();
    /// # let part = strato_storage::Dataset::keys(&storage, ["k"]).partitions().unwrap().remove(0);
    /// assert_eq!(part.storage().url(), "memory://p");
    /// ```
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Its object's key in that storage.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("k", "x").unwrap();
    /// # let part = strato_storage::Dataset::keys(&storage, ["k"]).partitions().unwrap().remove(0);
    /// assert_eq!(part.key(), "k");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its object's size in bytes.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("k", "xyz").unwrap();
    /// # let part = strato_storage::Dataset::keys(&storage, ["k"]).partitions().unwrap().remove(0);
    /// assert_eq!(part.object_size(), 3);
    /// ```
    pub fn object_size(&self) -> u64 {
        self.object_size
    }

    /// Its nominal byte range; a text partition reads the whole lines that *start* in it.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("k", "0123456789").unwrap();
    /// # let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_size(4).partitions().unwrap();
    /// assert_eq!(parts[2].range(), 8..10);
    /// ```
    pub fn range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// Its number among its object's partitions, from 0.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("k", "0123456789").unwrap();
    /// # let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_count(2).partitions().unwrap();
    /// assert_eq!(parts[1].part(), 1);
    /// ```
    pub fn part(&self) -> u64 {
        self.part
    }

    /// How many partitions its object has.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("k", "0123456789").unwrap();
    /// # let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_count(2).partitions().unwrap();
    /// assert_eq!(parts[0].total_parts(), 2);
    /// ```
    pub fn total_parts(&self) -> u64 {
        self.total_parts
    }

    /// Its object's position among the dataset's objects, from 0.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "x").unwrap();
    /// # storage.put("b", "y").unwrap();
    /// # let parts = strato_storage::Dataset::keys(&storage, ["a", "b"]).partitions().unwrap();
    /// assert_eq!(parts[1].object_index(), 1);
    /// ```
    pub fn object_index(&self) -> usize {
        self.object_index
    }

    /// Whether it reads whole lines (text, the default) or exactly its range (binary).
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// # storage.put("a", "x").unwrap();
    /// let parts = strato_storage::Dataset::keys(&storage, ["a"]).binary().partitions().unwrap();
    /// assert!(!parts[0].is_text());
    /// ```
    pub fn is_text(&self) -> bool {
        self.text
    }

    /// A streaming reader over its share ([`std::io::BufRead`]): whole lines for text.
    ///
    /// ```
    /// use std::io::Read;
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "ab\ncd\nef").unwrap();
    /// let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_size(4).partitions().unwrap();
    /// let mut first = String::new();
    /// parts[0].reader().unwrap().read_to_string(&mut first).unwrap();
    /// assert_eq!(first, "ab\ncd\n");
    /// ```
    pub fn reader(&self) -> Result<PartitionReader, StorageError> {
        PartitionReader::open(self)
    }

    /// Reads its whole share into memory.
    ///
    /// ```
    /// # let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "ab\ncd\nef").unwrap();
    /// let parts = strato_storage::Dataset::keys(&storage, ["k"]).chunk_size(4).partitions().unwrap();
    /// assert_eq!(parts[1].read_all().unwrap(), b"ef");
    /// ```
    pub fn read_all(&self) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        let mut reader = self.reader()?;
        std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|e| self.read_error(e))?;
        Ok(bytes)
    }

    fn read_error(&self, e: std::io::Error) -> StorageError {
        match e.into_inner().map(|inner| inner.downcast::<StorageError>()) {
            Some(Ok(storage_error)) => *storage_error,
            Some(Err(other)) => self.backend(other.to_string()),
            None => self.backend("read failed".into()),
        }
    }

    fn backend(&self, reason: String) -> StorageError {
        StorageError::Backend {
            operation: "read",
            key: self.key.clone(),
            reason,
        }
    }
}
