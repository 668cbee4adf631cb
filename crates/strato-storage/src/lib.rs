//! # strato-storage: object storage and datasets for strato
//!
//! A blocking wrapper over the [`object_store`](https://docs.rs/object_store) crate, and the
//! data partitioner of Lithops: a job over a dataset gets one task per byte range, and text
//! ranges are aligned on lines. Users reach it as `strato::storage`.
//!
//! ```
//! use std::io::BufRead;
//! use strato_storage::{Dataset, Storage};
//!
//! let storage = Storage::from_url("memory://").unwrap();
//! storage.put("corpus/a.txt", "the cat\nthe dog\n").unwrap();
//! storage.put("corpus/b.txt", "a bird\n").unwrap();
//!
//! let partitions = Dataset::prefix(&storage, "corpus").chunk_size(8).partitions().unwrap();
//! assert_eq!(partitions.len(), 2 + 1);
//! let mut lines = Vec::new();
//! for partition in &partitions {
//!     lines.extend(partition.reader().unwrap().lines().map(Result::unwrap));
//! }
//! assert_eq!(lines, ["the cat", "the dog", "a bird"]);
//! ```
//!
//! ## Contents
//!
//! | item | what |
//! |---|---|
//! | [`Storage`] | `put`, `get`, `get_range`, streaming [`reader`](Storage::reader), multipart [`writer`](Storage::writer), `head`, `list`, `delete`, `delete_many` on `file://`, `memory://`, `s3://` (feature `s3`), `http(s)://` (feature `http`, read-only) |
//! | [`Dataset`] | keys, a prefix, local paths and globs, or URLs; cut by `chunk_size` or `chunk_count` |
//! | [`Partition`] | one task's share: a reader over its byte range (whole lines for text), its part number, its object's key and size |
//! | [`Split`] | the arithmetic of cutting one object |
//!
//! ## Blocking, from any thread
//!
//! Every call blocks the calling thread, as task code expects. Behind it runs one small
//! tokio runtime per process; a caller that is itself inside a tokio runtime is served on a
//! helper thread, so nothing nests.

mod aligned;
mod dataset;
mod discover;
mod error;
mod io;
mod open;
mod partition;
mod runtime;
mod split;
mod storage;

pub use aligned::PartitionReader;
pub use dataset::{DataObject, Dataset};
pub use error::{DatasetError, StorageError};
pub use io::{ObjectReader, ObjectWriter};
pub use partition::Partition;
pub use split::Split;
pub use storage::{ObjectInfo, Storage, STORAGE_ENV};
