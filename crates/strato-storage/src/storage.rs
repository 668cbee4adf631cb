//! [`Storage`]: a blocking handle to one object store, under one key prefix.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::io::{ObjectReader, ObjectWriter};
use crate::open::{open, open_dir, Opened};
use crate::runtime::block_on;
use crate::StorageError;

/// The environment variable naming the default storage's URL ([`Storage::new`]).
pub const STORAGE_ENV: &str = "STRATO_STORAGE";

/// What a store knows about one object.
///
/// ```
/// let storage = strato_storage::Storage::from_url("memory://").unwrap();
/// storage.put("a.txt", "hello").unwrap();
/// let info = storage.head("a.txt").unwrap();
/// assert_eq!((info.key.as_str(), info.size), ("a.txt", 5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key, relative to the storage's prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// Its entity tag, if the store gives one.
    pub e_tag: Option<String>,
}

/// A blocking handle to an object store: a local directory (the default), `memory://`, S3
/// (feature `s3`) or an HTTP server that honours `Range` (feature `http`, read-only).
///
/// Keys are `/`-separated paths relative to the URL's prefix. Cheap to clone; serializable
/// (as its URL and explicit options), so a task can receive it and reopen the same store in
/// its own process. A `memory://` store lives in one process: another process that receives
/// the handle sees an empty store of the same name.
///
/// ```
/// use std::io::{Read, Write};
/// use strato_storage::Storage;
///
/// let dir = tempfile::tempdir().unwrap();
/// let storage = Storage::local(dir.path()).unwrap();
/// storage.put("logs/a.txt", "one\ntwo\n").unwrap();
/// assert_eq!(storage.get_range("logs/a.txt", 4..7).unwrap(), b"two");
///
/// let mut writer = storage.writer("logs/b.txt").unwrap();
/// writer.write_all(b"streamed").unwrap();
/// assert_eq!(writer.finish().unwrap(), 8);
///
/// let mut text = String::new();
/// storage.reader("logs/b.txt").unwrap().read_to_string(&mut text).unwrap();
/// assert_eq!(text, "streamed");
///
/// let keys: Vec<String> = storage.list("logs").unwrap().into_iter().map(|o| o.key).collect();
/// assert_eq!(keys, ["logs/a.txt", "logs/b.txt"]);
/// assert_eq!(storage.delete_many(["logs/a.txt", "logs/b.txt"]).unwrap(), 2);
/// ```
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    url: String,
    base: Path,
    options: Vec<(String, String)>,
}

impl Storage {
    /// The default storage: `storage.url` in `strato.toml`, overridden by `STRATO_STORAGE`,
    /// else the directory `strato-storage` under the system's temporary directory.
    ///
    /// ```
    /// let storage = strato_storage::Storage::new().unwrap();
    /// assert!(storage.url().starts_with("file://") || std::env::var("STRATO_STORAGE").is_ok());
    /// ```
    pub fn new() -> Result<Storage, StorageError> {
        let settings = strato_config::Settings::load().map_err(|e| StorageError::InvalidUrl {
            url: "(configuration)".into(),
            reason: e.to_string(),
        })?;
        match settings.storage.url {
            Some(url) => Storage::from_url(&url),
            None => Storage::local(std::env::temp_dir().join("strato-storage")),
        }
    }

    /// The local directory `dir` (created if absent).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = strato_storage::Storage::local(dir.path().join("new")).unwrap();
    /// assert!(dir.path().join("new").is_dir());
    /// # let _ = storage;
    /// ```
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Storage, StorageError> {
        Ok(Storage::from_opened(open_dir(dir.as_ref())?, Vec::new()))
    }

    /// Opens `file:///dir`, `memory://[name]`, `s3://bucket[/prefix]` or
    /// `http[s]://host[/prefix]`. S3 reads its settings from the `AWS_*` environment
    /// (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_ALLOW_HTTP`, …).
    ///
    /// ```
    /// use strato_storage::{Storage, StorageError};
    /// let storage = Storage::from_url("memory://scratch").unwrap();
    /// assert_eq!(storage.url(), "memory://scratch");
    /// assert!(matches!(Storage::from_url("ftp://x"), Err(StorageError::InvalidUrl { .. })));
    /// ```
    pub fn from_url(url: &str) -> Result<Storage, StorageError> {
        Storage::from_url_with_options(url, Vec::<(String, String)>::new())
    }

    /// [`Storage::from_url`] with backend options as `object_store` names them
    /// (`aws_endpoint`, `aws_access_key_id`, `aws_allow_http`, …), over the environment's.
    /// They travel with the handle when it is sent to a task.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url_with_options(
    ///     "memory://opts",
    ///     [("unused_option", "ignored by memory stores")],
    /// )
    /// .unwrap();
    /// assert_eq!(storage.url(), "memory://opts");
    /// ```
    pub fn from_url_with_options<K, V>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Storage, StorageError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Ok(Storage::from_opened(open(url, &options)?, options))
    }

    fn from_opened(opened: Opened, options: Vec<(String, String)>) -> Storage {
        Storage {
            inner: Arc::new(Inner {
                store: opened.store,
                url: opened.url,
                base: opened.base,
                options,
            }),
        }
    }

    /// The URL it was opened from (a local directory's as `file:///…/`).
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://u").unwrap();
    /// assert_eq!(storage.url(), "memory://u");
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Writes `bytes` as the object `key`, replacing any.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", vec![1u8, 2, 3]).unwrap();
    /// assert_eq!(storage.get("k").unwrap(), [1, 2, 3]);
    /// ```
    pub fn put(&self, key: &str, bytes: impl Into<Vec<u8>>) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let payload = PutPayload::from(Bytes::from(bytes.into()));
        let store = &self.inner.store;
        block_on(store.put(&path, payload))
            .map(drop)
            .map_err(|e| self.error("put", key, e))
    }

    /// Reads the whole object `key`.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "value").unwrap();
    /// assert_eq!(storage.get("k").unwrap(), b"value");
    /// ```
    pub fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        let bytes = block_on(async { store.get(&path).await?.bytes().await });
        bytes.map(Vec::from).map_err(|e| self.error("get", key, e))
    }

    /// Reads the bytes `range` of the object `key` (an end past the object is cut to it).
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "0123456789").unwrap();
    /// assert_eq!(storage.get_range("k", 2..5).unwrap(), b"234");
    /// assert!(storage.get_range("k", 3..3).unwrap().is_empty());
    /// ```
    pub fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, StorageError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path(key)?;
        let options = GetOptions::default().with_range(Some(range));
        let store = &self.inner.store;
        let bytes = block_on(async { store.get_opts(&path, options).await?.bytes().await });
        bytes
            .map(Vec::from)
            .map_err(|e| self.error("get_range", key, e))
    }

    /// A streaming reader over the object `key`: bytes arrive as it reads them.
    ///
    /// ```
    /// use std::io::BufRead;
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "a\nb\n").unwrap();
    /// let lines: Vec<String> = storage.reader("k").unwrap().lines().map(Result::unwrap).collect();
    /// assert_eq!(lines, ["a", "b"]);
    /// ```
    pub fn reader(&self, key: &str) -> Result<ObjectReader, StorageError> {
        self.open_reader(key, None)
    }

    /// A streaming reader over the bytes `range` of the object `key`.
    ///
    /// ```
    /// use std::io::Read;
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "0123456789").unwrap();
    /// let mut part = String::new();
    /// storage.reader_range("k", 7..10).unwrap().read_to_string(&mut part).unwrap();
    /// assert_eq!(part, "789");
    /// ```
    pub fn reader_range(&self, key: &str, range: Range<u64>) -> Result<ObjectReader, StorageError> {
        if range.is_empty() {
            return Ok(ObjectReader::empty(key));
        }
        self.open_reader(key, Some(range))
    }

    fn open_reader(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ObjectReader, StorageError> {
        let path = self.path(key)?;
        let options = GetOptions::default().with_range(range);
        let store = &self.inner.store;
        let result =
            block_on(store.get_opts(&path, options)).map_err(|e| self.error("read", key, e))?;
        let stream = result.into_stream().map_err(|e| e.to_string()).boxed();
        Ok(ObjectReader::new(key, stream))
    }

    /// A writer that uploads the object `key` in parts as it fills (a multipart upload); the
    /// object appears when [`ObjectWriter::finish`] returns, and not at all if the writer is
    /// dropped unfinished.
    ///
    /// ```
    /// use std::io::Write;
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// let mut writer = storage.writer("big").unwrap();
    /// for _ in 0..1000 {
    ///     writer.write_all(b"0123456789").unwrap();
    /// }
    /// assert!(storage.head("big").is_err());
    /// assert_eq!(writer.finish().unwrap(), 10_000);
    /// assert_eq!(storage.head("big").unwrap().size, 10_000);
    /// ```
    pub fn writer(&self, key: &str) -> Result<ObjectWriter, StorageError> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        let upload =
            block_on(store.put_multipart(&path)).map_err(|e| self.error("writer", key, e))?;
        Ok(ObjectWriter::new(key, self.url(), upload))
    }

    /// What the store knows about the object `key`.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// assert!(storage.head("nothing").unwrap_err().is_not_found());
    /// ```
    pub fn head(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        let meta = block_on(store.head(&path)).map_err(|e| self.error("head", key, e))?;
        Ok(self.info(meta))
    }

    /// Every object whose key starts with the path `prefix` (whole `/`-separated segments:
    /// `logs` lists `logs/a` but not `logs2/a`; `""` lists everything), sorted by key.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// for key in ["b/2", "a/1", "b/1", "bb/1"] {
    ///     storage.put(key, "x").unwrap();
    /// }
    /// let keys: Vec<String> = storage.list("b").unwrap().into_iter().map(|o| o.key).collect();
    /// assert_eq!(keys, ["b/1", "b/2"]);
    /// assert_eq!(storage.list("").unwrap().len(), 4);
    /// ```
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let path = self.path(prefix)?;
        let store = &self.inner.store;
        let prefix_path = (!path.as_ref().is_empty()).then_some(&path);
        let metas: Vec<ObjectMeta> = block_on(store.list(prefix_path).try_collect())
            .map_err(|e| self.error("list", prefix, e))?;
        let mut infos: Vec<ObjectInfo> = metas.into_iter().map(|m| self.info(m)).collect();
        infos.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(infos)
    }

    /// Deletes the object `key`; deleting a missing object succeeds.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("k", "x").unwrap();
    /// storage.delete("k").unwrap();
    /// storage.delete("k").unwrap();
    /// assert!(storage.list("").unwrap().is_empty());
    /// ```
    pub fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let store = &self.inner.store;
        match block_on(store.delete(&path)) {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(self.error("delete", key, e)),
        }
    }

    /// Deletes many objects in as few requests as the store allows (S3 deletes up to 1000
    /// per request); returns how many keys it processed. Missing objects are no error.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// storage.put("a", "x").unwrap();
    /// assert_eq!(storage.delete_many(["a", "never-was"]).unwrap(), 2);
    /// ```
    pub fn delete_many<I, K>(&self, keys: I) -> Result<usize, StorageError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_string()).collect();
        let paths = keys
            .iter()
            .map(|k| self.path(k))
            .collect::<Result<Vec<Path>, StorageError>>()?;
        let store = &self.inner.store;
        let locations = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
        let results: Vec<object_store::Result<Path>> =
            block_on(store.delete_stream(locations).collect());
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error("delete_many", &keys.join(","), e)),
            }
        }
        Ok(keys.len())
    }

    /// The store's path of `key`.
    fn path(&self, key: &str) -> Result<Path, StorageError> {
        let relative = Path::parse(key).map_err(|e| StorageError::InvalidKey {
            key: key.into(),
            reason: e.to_string(),
        })?;
        Ok(self
            .inner
            .base
            .parts()
            .chain(relative.parts())
            .collect::<Path>())
    }

    /// The key of the store's path `path`.
    fn key_of(&self, path: &Path) -> String {
        match path.prefix_match(&self.inner.base) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    fn info(&self, meta: ObjectMeta) -> ObjectInfo {
        ObjectInfo {
            key: self.key_of(&meta.location),
            size: meta.size,
            last_modified: SystemTime::from(meta.last_modified),
            e_tag: meta.e_tag,
        }
    }

    fn error(&self, operation: &'static str, key: &str, e: object_store::Error) -> StorageError {
        StorageError::from_store(operation, key, self.url(), e)
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let option_names: Vec<&str> = self.inner.options.iter().map(|(k, _)| &**k).collect();
        f.debug_struct("Storage")
            .field("url", &self.inner.url)
            .field("options", &option_names)
            .finish()
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Self) -> bool {
        self.inner.url == other.inner.url && self.inner.options == other.inner.options
    }
}

impl Eq for Storage {}

/// How a [`Storage`] travels: its URL and explicit options.
#[derive(Serialize, Deserialize)]
struct StorageSpec {
    url: String,
    options: Vec<(String, String)>,
}

impl Serialize for Storage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StorageSpec {
            url: self.inner.url.clone(),
            options: self.inner.options.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = StorageSpec::deserialize(deserializer)?;
        Storage::from_url_with_options(&spec.url, spec.options).map_err(serde::de::Error::custom)
    }
}
