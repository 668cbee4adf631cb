//! Jobs over datasets: `map` and `map_reduce` with one task per partition, one reducer for
//! all or one per object, and reduced results stored back to storage on request.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_storage::{Dataset, DatasetError, Partition, Storage};

use crate::executor::func::conjure;
use crate::executor::{Executor, ResponseFuture, TaskError, TaskStats};

/// Why a dataset job failed.
///
/// ```
/// use strato::storage::JobError;
/// let e = JobError::Store { key: "out/result.json".into(), reason: "disk full".into() };
/// assert!(e.to_string().contains("out/result.json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The dataset could not be discovered or partitioned.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A task failed (or could not be submitted).
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The reducer computed its result but could not store it.
    #[error("cannot store the result at `{key}`: {reason}")]
    Store {
        /// Where it was to go.
        key: String,
        /// Why it could not.
        reason: String,
    },
}

/// Which map results one reducer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReduceBy {
    /// One reducer for the whole dataset.
    #[default]
    All,
    /// One reducer per object, given that object's partitions' results (Lithops'
    /// `obj_reduce_by_key`).
    Object,
}

/// How [`DatasetExecutor::map_reduce_dataset`] reduces, and whether it stores the results.
///
/// ```
/// use strato::storage::{ReduceBy, ReduceOptions, Storage};
/// let storage = Storage::from_url("memory://").unwrap();
/// let options = ReduceOptions::per_object().store_in(&storage, "results");
/// assert_eq!(options.by(), ReduceBy::Object);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReduceOptions {
    by: ReduceBy,
    store: Option<(Storage, String)>,
}

impl ReduceOptions {
    /// One reducer for the whole dataset (the default).
    ///
    /// ```
    /// assert_eq!(strato::storage::ReduceOptions::all().by(), strato::storage::ReduceBy::All);
    /// ```
    pub fn all() -> ReduceOptions {
        ReduceOptions::default()
    }

    /// One reducer per object.
    ///
    /// ```
    /// use strato::storage::{ReduceBy, ReduceOptions};
    /// assert_eq!(ReduceOptions::per_object().by(), ReduceBy::Object);
    /// ```
    pub fn per_object() -> ReduceOptions {
        ReduceOptions {
            by: ReduceBy::Object,
            store: None,
        }
    }

    /// Has each reducer store its result as JSON in `storage`: at `<prefix>/result.json`
    /// for one reducer, `<prefix>/<object key>.json` for one per object.
    ///
    /// ```
    /// # let storage = strato::storage::Storage::from_url("memory://").unwrap();
    /// let options = strato::storage::ReduceOptions::all().store_in(&storage, "out");
    /// # let _ = options;
    /// ```
    pub fn store_in(mut self, storage: &Storage, prefix: &str) -> ReduceOptions {
        self.store = Some((storage.clone(), prefix.trim_matches('/').to_string()));
        self
    }

    /// Which results one reducer receives.
    ///
    /// ```
    /// assert_eq!(strato::storage::ReduceOptions::default().by(), strato::storage::ReduceBy::All);
    /// ```
    pub fn by(&self) -> ReduceBy {
        self.by
    }

    fn target(&self, object: Option<&str>) -> Option<Target> {
        let (storage, prefix) = self.store.as_ref()?;
        let name = object.map_or_else(|| "result.json".to_string(), |key| format!("{key}.json"));
        let key = match prefix.is_empty() {
            true => name,
            false => format!("{prefix}/{name}"),
        };
        Some(Target {
            storage: storage.clone(),
            key,
        })
    }
}

/// Where a reducer stores its result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Target {
    storage: Storage,
    key: String,
}

/// A map task's argument: its partition, and (for the first of a reducer's partitions) where
/// that reducer stores its result.
#[derive(Serialize, Deserialize)]
struct MapInput {
    partition: Partition,
    target: Option<Target>,
}

/// A map task's result on its way to the reducer.
#[derive(Serialize, Deserialize)]
struct MapOutput<R> {
    value: R,
    target: Option<Target>,
}

fn map_step<F, R>(input: MapInput) -> MapOutput<R>
where
    F: Fn(Partition) -> R + Copy + 'static,
{
    MapOutput {
        value: conjure::<F>()(input.partition),
        target: input.target,
    }
}

fn reduce_step<G, R, S>(outputs: Vec<MapOutput<R>>) -> Result<S, String>
where
    G: Fn(Vec<R>) -> S + Copy + 'static,
    S: Serialize,
{
    let target = outputs.iter().find_map(|o| o.target.clone());
    let result = conjure::<G>()(outputs.into_iter().map(|o| o.value).collect());
    if let Some(target) = target {
        let json = serde_json::to_vec(&result).map_err(|e| e.to_string())?;
        target
            .storage
            .put(&target.key, json)
            .map_err(|e| e.to_string())?;
    }
    Ok(result)
}

/// One reduction of a dataset job: which object it covers, where its result is stored, and
/// the future of the reduce task.
///
/// ```
/// use strato::executor::Executor;
/// use strato::storage::{Dataset, DatasetExecutor, Partition, ReduceOptions, Storage};
///
/// fn size(partition: Partition) -> u64 {
///     partition.read_all().unwrap().len() as u64
/// }
///
/// fn total(sizes: Vec<u64>) -> u64 {
///     sizes.iter().sum()
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let storage = Storage::local(dir.path()).unwrap();
/// storage.put("in/a.txt", "12\n34\n56\n").unwrap();
/// let dataset = Dataset::prefix(&storage, "in").chunk_count(3);
/// let options = ReduceOptions::all().store_in(&storage, "out");
/// let executor = Executor::builder().workers(1).build().unwrap();
/// let reduced = executor.map_reduce_dataset(size, &dataset, total, options).unwrap();
/// let job = &reduced[0];
/// assert_eq!(job.result().unwrap(), 9);
/// assert_eq!((job.object(), job.map_tasks()), (None, 3));
/// assert_eq!(job.stored_at(), Some("out/result.json"));
/// assert_eq!(storage.get("out/result.json").unwrap(), b"9");
/// assert!(job.stats().unwrap().bytes_in > 0);
/// ```
#[must_use = "a reduction does nothing unless its result is read"]
pub struct Reduced<S> {
    object: Option<String>,
    stored_at: Option<String>,
    map_tasks: usize,
    future: ResponseFuture<Result<S, String>>,
}

impl<S: DeserializeOwned> Reduced<S> {
    /// The object it reduced (`None`: the whole dataset).
    ///
    /// ```
    /// # use strato::storage::*;
    /// # fn one(p: Partition) -> u64 { p.object_size() }
    /// # fn sum(v: Vec<u64>) -> u64 { v.iter().sum() }
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let storage = Storage::local(dir.path()).unwrap();
    /// # storage.put("a", "xy").unwrap();
    /// # let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// # let dataset = Dataset::keys(&storage, ["a"]);
    /// let options = ReduceOptions::per_object();
    /// let reduced = executor.map_reduce_dataset(one, &dataset, sum, options).unwrap();
    /// assert_eq!(reduced[0].object(), Some("a"));
    /// ```
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// How many map tasks (partitions) feed it.
    ///
    /// ```
    /// # use strato::storage::*;
    /// # fn one(p: Partition) -> u64 { p.object_size() }
    /// # fn sum(v: Vec<u64>) -> u64 { v.iter().sum() }
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let storage = Storage::local(dir.path()).unwrap();
    /// # storage.put("a", "xy").unwrap();
    /// # let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// # let dataset = Dataset::keys(&storage, ["a"]);
    /// let reduced = executor.map_reduce_dataset(one, &dataset, sum, ReduceOptions::all()).unwrap();
    /// assert_eq!(reduced[0].map_tasks(), 1);
    /// ```
    pub fn map_tasks(&self) -> usize {
        self.map_tasks
    }

    /// The key its result is stored at, when storing was asked for.
    ///
    /// ```
    /// # use strato::storage::*;
    /// # fn one(p: Partition) -> u64 { p.object_size() }
    /// # fn sum(v: Vec<u64>) -> u64 { v.iter().sum() }
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let storage = Storage::local(dir.path()).unwrap();
    /// # storage.put("a", "xy").unwrap();
    /// # let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// # let dataset = Dataset::keys(&storage, ["a"]);
    /// let options = ReduceOptions::all().store_in(&storage, "results");
    /// let reduced = executor.map_reduce_dataset(one, &dataset, sum, options).unwrap();
    /// assert_eq!(reduced[0].stored_at(), Some("results/result.json"));
    /// ```
    pub fn stored_at(&self) -> Option<&str> {
        self.stored_at.as_deref()
    }

    /// Waits for the reducer and returns its result.
    ///
    /// ```
    /// # use strato::storage::*;
    /// # fn one(p: Partition) -> u64 { p.object_size() }
    /// # fn sum(v: Vec<u64>) -> u64 { v.iter().sum() }
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let storage = Storage::local(dir.path()).unwrap();
    /// # storage.put("a", "xy").unwrap();
    /// # let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// # let dataset = Dataset::keys(&storage, ["a"]);
    /// let reduced = executor.map_reduce_dataset(one, &dataset, sum, ReduceOptions::all()).unwrap();
    /// assert_eq!(reduced[0].result().unwrap(), 2);
    /// ```
    pub fn result(&self) -> Result<S, JobError> {
        self.future.result()?.map_err(|reason| JobError::Store {
            key: self.stored_at.clone().unwrap_or_default(),
            reason,
        })
    }

    /// The reduce task's measurements (its `bytes_in` are the map results it received),
    /// once it finished.
    ///
    /// ```
    /// # use strato::storage::*;
    /// # fn one(p: Partition) -> u64 { p.object_size() }
    /// # fn sum(v: Vec<u64>) -> u64 { v.iter().sum() }
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let storage = Storage::local(dir.path()).unwrap();
    /// # storage.put("a", "xy").unwrap();
    /// # let executor = strato::executor::Executor::builder().workers(1).build().unwrap();
    /// # let dataset = Dataset::keys(&storage, ["a"]);
    /// let reduced = executor.map_reduce_dataset(one, &dataset, sum, ReduceOptions::all()).unwrap();
    /// reduced[0].result().unwrap();
    /// assert!(reduced[0].stats().unwrap().bytes_out > 0);
    /// ```
    pub fn stats(&self) -> Option<TaskStats> {
        self.future.stats()
    }
}

impl<S> std::fmt::Debug for Reduced<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reduced")
            .field("object", &self.object)
            .field("stored_at", &self.stored_at)
            .field("map_tasks", &self.map_tasks)
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::executor::Executor {}
}

/// Jobs over a [`Dataset`], one task per [`Partition`] (Lithops' `map` and `map_reduce` over
/// object storage). Implemented by [`Executor`].
///
/// ```
/// use std::io::BufRead;
/// use strato::executor::Executor;
/// use strato::storage::{Dataset, DatasetExecutor, Partition, ReduceOptions, Storage};
///
/// fn count_lines(partition: Partition) -> u64 {
///     partition.reader().unwrap().lines().count() as u64
/// }
///
/// fn total(counts: Vec<u64>) -> u64 {
///     counts.iter().sum()
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let storage = Storage::local(dir.path()).unwrap();
/// storage.put("a.txt", "1\n2\n3\n").unwrap();
/// storage.put("b.txt", "4\n5\n").unwrap();
/// let dataset = Dataset::prefix(&storage, "").chunk_size(2);
///
/// let executor = Executor::builder().workers(2).build().unwrap();
/// let futures = executor.map_dataset(count_lines, &dataset).unwrap();
/// assert_eq!(futures.len(), 3 + 2);
///
/// let per_object = executor
///     .map_reduce_dataset(count_lines, &dataset, total, ReduceOptions::per_object())
///     .unwrap();
/// let counts: Vec<(String, u64)> = per_object
///     .iter()
///     .map(|r| (r.object().unwrap().to_string(), r.result().unwrap()))
///     .collect();
/// assert_eq!(counts, [("a.txt".to_string(), 3), ("b.txt".to_string(), 2)]);
/// ```
pub trait DatasetExecutor: sealed::Sealed {
    /// Runs `f` on every partition of `dataset`, one task each; futures in partition order.
    fn map_dataset<F, R>(
        &self,
        f: F,
        dataset: &Dataset,
    ) -> Result<Vec<ResponseFuture<R>>, JobError>
    where
        F: Fn(Partition) -> R + Copy + 'static,
        R: Serialize + DeserializeOwned + 'static;

    /// [`DatasetExecutor::map_dataset`] where every task also receives `shared` (a handle
    /// to a storage action, say): `f((partition, shared))`.
    fn map_dataset_with<F, E, R>(
        &self,
        f: F,
        dataset: &Dataset,
        shared: E,
    ) -> Result<Vec<ResponseFuture<R>>, JobError>
    where
        F: Fn((Partition, E)) -> R + Copy + 'static,
        E: Clone + Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static;

    /// Maps `map_fn` over the partitions, then runs `reduce_fn` on the results — once for
    /// the whole dataset, or once per object — each reduction as one more task receiving its
    /// results in partition order. Returns one [`Reduced`] per reducer (per object in
    /// dataset order).
    fn map_reduce_dataset<F, G, R, S>(
        &self,
        map_fn: F,
        dataset: &Dataset,
        reduce_fn: G,
        options: ReduceOptions,
    ) -> Result<Vec<Reduced<S>>, JobError>
    where
        F: Fn(Partition) -> R + Copy + 'static,
        G: Fn(Vec<R>) -> S + Copy + 'static,
        R: Serialize + DeserializeOwned + 'static,
        S: Serialize + DeserializeOwned + 'static;
}

impl DatasetExecutor for Executor {
    fn map_dataset<F, R>(&self, f: F, dataset: &Dataset) -> Result<Vec<ResponseFuture<R>>, JobError>
    where
        F: Fn(Partition) -> R + Copy + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        Ok(self.map(f, dataset.partitions()?)?)
    }

    fn map_dataset_with<F, E, R>(
        &self,
        f: F,
        dataset: &Dataset,
        shared: E,
    ) -> Result<Vec<ResponseFuture<R>>, JobError>
    where
        F: Fn((Partition, E)) -> R + Copy + 'static,
        E: Clone + Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let items = dataset
            .partitions()?
            .into_iter()
            .map(|p| (p, shared.clone()));
        Ok(self.map(f, items)?)
    }

    fn map_reduce_dataset<F, G, R, S>(
        &self,
        _map_fn: F,
        dataset: &Dataset,
        _reduce_fn: G,
        options: ReduceOptions,
    ) -> Result<Vec<Reduced<S>>, JobError>
    where
        F: Fn(Partition) -> R + Copy + 'static,
        G: Fn(Vec<R>) -> S + Copy + 'static,
        R: Serialize + DeserializeOwned + 'static,
        S: Serialize + DeserializeOwned + 'static,
    {
        let groups = group(dataset.partitions()?, options.by);
        let mut reduced = Vec::with_capacity(groups.len());
        for (object, partitions) in groups {
            let target = options
                .target(object.as_deref())
                .filter(|_| !partitions.is_empty());
            let stored_at = target.as_ref().map(|t| t.key.clone());
            let map_tasks = partitions.len();
            let inputs = with_target(partitions, target);
            let future = self.map_reduce(map_step::<F, R>, inputs, reduce_step::<G, R, S>)?;
            reduced.push(Reduced {
                object,
                stored_at,
                map_tasks,
                future,
            });
        }
        Ok(reduced)
    }
}

/// The partitions of each reducer: all in one group, or one group per object.
fn group(partitions: Vec<Partition>, by: ReduceBy) -> Vec<(Option<String>, Vec<Partition>)> {
    if by == ReduceBy::All {
        return vec![(None, partitions)];
    }
    let mut groups: Vec<(Option<String>, Vec<Partition>)> = Vec::new();
    let mut current = None;
    for partition in partitions {
        if current != Some(partition.object_index()) {
            current = Some(partition.object_index());
            groups.push((Some(partition.key().to_string()), Vec::new()));
        }
        if let Some((_, members)) = groups.last_mut() {
            members.push(partition);
        }
    }
    groups
}

/// The map inputs of one reducer; the first carries where the reducer stores its result.
fn with_target(partitions: Vec<Partition>, target: Option<Target>) -> Vec<MapInput> {
    let mut target = target;
    partitions
        .into_iter()
        .map(|partition| MapInput {
            partition,
            target: target.take(),
        })
        .collect()
}
