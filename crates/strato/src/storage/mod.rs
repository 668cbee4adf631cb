//! Object storage and data-parallel jobs over it: Lithops' datasets and Glider's storage
//! actions.
//!
//! - [`Storage`] is a blocking handle to a local directory (the default), `memory://`, S3
//!   (feature `s3`) or an HTTP server (feature `http`): `put`, `get`, `get_range`, streaming
//!   reads, multipart writes, `head`, `list`, `delete`, `delete_many`.
//! - A [`Dataset`] names objects (keys, a prefix, local paths and globs, URLs) and cuts them
//!   into [`Partition`]s by `chunk_size` or `chunk_count`; text partitions are aligned on
//!   lines, so every line reaches exactly one task.
//! - [`DatasetExecutor`] runs `map` and `map_reduce` over a dataset on an
//!   [`Executor`](crate::executor::Executor): one task per partition, one reducer for all or
//!   one per object, results stored back to storage on request.
//! - Storage actions are objects on the state server that tasks stream writes into and the
//!   driver reads once: [`MergeAction`] folds keyed values (a word count with no reduce
//!   task), [`SortSink`] gathers items and sorts them on the server.
//!
//! ```
//! use std::collections::HashMap;
//! use std::io::BufRead;
//! use strato::executor::Executor;
//! use strato::storage::{ActionStats, Dataset, DatasetExecutor, MergeAction, Partition, Storage};
//! use strato::sync::Merge;
//!
//! fn count_words((part, counts): (Partition, MergeAction<String, u64>)) -> ActionStats {
//!     let mut writer = counts.writer();
//!     for line in part.reader().unwrap().lines() {
//!         for word in line.unwrap().split_whitespace() {
//!             writer.add(word.to_ascii_lowercase(), 1).unwrap();
//!         }
//!     }
//!     writer.finish().unwrap()
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::local(dir.path()).unwrap();
//! storage.put("a.txt", "the cat\nThe dog\n").unwrap();
//! storage.put("b.txt", "a dog\n").unwrap();
//!
//! let executor = Executor::builder().workers(2).build().unwrap();
//! let counts = MergeAction::<String, u64>::new(Merge::Add).unwrap();
//! let dataset = Dataset::prefix(&storage, "").chunk_size(8);
//! let futures = executor.map_dataset_with(count_words, &dataset, counts.clone()).unwrap();
//! executor.get_result(&futures).unwrap();
//! let counts: HashMap<String, u64> = counts.read().into_iter().collect();
//! assert_eq!((counts["the"], counts["dog"], counts["a"]), (2, 2, 1));
//! ```

mod actions;
mod jobs;
mod sink;

pub use actions::{ActionError, ActionStats, ActionValue, MergeAction, MergeWriter};
pub use jobs::{DatasetExecutor, JobError, ReduceBy, ReduceOptions, Reduced};
pub use sink::{SinkItem, SinkWriter, SortSink};
pub use strato_storage::{
    DataObject, Dataset, DatasetError, ObjectInfo, ObjectReader, ObjectWriter, Partition,
    PartitionReader, Split, Storage, StorageError, STORAGE_ENV,
};
