//! [`Partition`]: a task's share of a dataset in storage (Lithops' data partitioner).

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use strato::storage::Dataset;

use crate::StratoError;

fn storage_error(e: impl std::fmt::Display) -> PyErr {
    StratoError::new_err(e.to_string())
}

/// A byte range of one object (a local file, a `file://`, `s3://` or `http(s)://` object)
/// that one task reads; text partitions read whole lines. It pickles, so it travels as a
/// task's argument and is read where the task runs.
///
/// ```python
/// from strato import _native
/// parts = _native.Partition.split(["/tmp/corpus"], 1 << 20, None, False)
/// text = parts[0].read()
/// ```
#[pyclass(module = "strato._native", frozen)]
pub struct Partition(strato::storage::Partition);

#[pymethods]
impl Partition {
    /// The partitions of every object under `inputs` (paths, globs, directories or storage
    /// URLs), each object cut into `chunk_size` bytes or `chunk_count` parts (whole if
    /// neither); `binary` ranges are exact, text ones read whole lines.
    #[staticmethod]
    #[pyo3(signature = (inputs, chunk_size=None, chunk_count=None, binary=false))]
    fn split(
        py: Python<'_>,
        inputs: Vec<String>,
        chunk_size: Option<u64>,
        chunk_count: Option<u64>,
        binary: bool,
    ) -> PyResult<Vec<Partition>> {
        let mut dataset: Option<Dataset> = None;
        for input in &inputs {
            let next = Dataset::at(input).map_err(storage_error)?;
            dataset = Some(match dataset {
                Some(dataset) => dataset.and(next),
                None => next,
            });
        }
        let Some(mut dataset) = dataset else {
            return Ok(Vec::new());
        };
        if let Some(bytes) = chunk_size {
            dataset = dataset.chunk_size(bytes);
        }
        if let Some(count) = chunk_count {
            dataset = dataset.chunk_count(count);
        }
        if binary {
            dataset = dataset.binary();
        }
        let parts = py.detach(|| dataset.partitions()).map_err(storage_error)?;
        Ok(parts.into_iter().map(Partition).collect())
    }

    /// The storage's URL (the bucket, for S3).
    #[getter]
    fn storage(&self) -> &str {
        self.0.storage().url()
    }

    /// The object's key in its storage.
    #[getter]
    fn key(&self) -> &str {
        self.0.key()
    }

    /// The object's size in bytes.
    #[getter]
    fn object_size(&self) -> u64 {
        self.0.object_size()
    }

    /// The byte range `(start, end)` it covers.
    #[getter]
    fn range(&self) -> (u64, u64) {
        let range = self.0.range();
        (range.start, range.end)
    }

    /// Its index among its object's partitions.
    #[getter]
    fn part(&self) -> u64 {
        self.0.part()
    }

    /// How many partitions its object has.
    #[getter]
    fn total_parts(&self) -> u64 {
        self.0.total_parts()
    }

    /// Its object's index in the dataset.
    #[getter]
    fn object_index(&self) -> usize {
        self.0.object_index()
    }

    /// Its bytes (for text, its whole lines).
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.0.read_all()).map_err(storage_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Pickles as its JSON description.
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<(Py<PyAny>, (String,))> {
        let json = serde_json::to_string(&slf.get().0).map_err(storage_error)?;
        let rebuild = slf.get_type().getattr("from_json")?.unbind();
        Ok((rebuild, (json,)))
    }

    /// The partition a JSON description names.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Partition> {
        serde_json::from_str(json)
            .map(Partition)
            .map_err(storage_error)
    }

    fn __repr__(&self) -> String {
        let (start, end) = self.range();
        format!(
            "<Partition {}{} [{start}, {end}) part {} of {}>",
            self.storage(),
            self.key(),
            self.part() + 1,
            self.total_parts()
        )
    }
}
