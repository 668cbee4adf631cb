//! What can go wrong: [`StorageError`] for operations on objects, [`DatasetError`] for
//! discovering and partitioning a dataset.

/// Why a storage operation failed.
///
/// ```
/// use strato_storage::{Storage, StorageError};
///
/// let storage = Storage::from_url("memory://").unwrap();
/// match storage.get("missing") {
///     Err(StorageError::NotFound { key }) => assert_eq!(key, "missing"),
///     other => panic!("expected NotFound, got {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No object has this key.
    #[error("no object `{key}`")]
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// The key cannot name an object (an empty segment, `.` or `..`, a control character).
    #[error("`{key}` is not a valid object key: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL cannot be parsed or names no store.
    #[error("cannot open storage `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme needs a cargo feature this build lacks.
    #[error("storage `{url}` needs strato-storage's `{feature}` feature (this build has not)")]
    FeatureMissing {
        /// The URL given.
        url: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The store cannot do this operation (multipart writes over plain HTTP, say).
    #[error("{operation} is not supported by {store}: {reason}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The store's URL.
        store: String,
        /// The store's explanation.
        reason: String,
    },
    /// The store failed (I/O, network, refused credentials, a server error).
    #[error("{operation} `{key}` failed: {reason}")]
    Backend {
        /// The operation.
        operation: &'static str,
        /// The key it was about.
        key: String,
        /// The store's explanation.
        reason: String,
    },
}

impl StorageError {
    /// Whether the object did not exist.
    ///
    /// ```
    /// let e = strato_storage::StorageError::NotFound { key: "k".into() };
    /// assert!(e.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// Translates an `object_store` error about `key`.
    pub(crate) fn from_store(
        operation: &'static str,
        key: &str,
        store: &str,
        error: object_store::Error,
    ) -> StorageError {
        use object_store::Error as E;
        match error {
            E::NotFound { .. } => StorageError::NotFound { key: key.into() },
            E::InvalidPath { source } => StorageError::InvalidKey {
                key: key.into(),
                reason: source.to_string(),
            },
            E::NotSupported { source } => StorageError::Unsupported {
                operation,
                store: store.into(),
                reason: source.to_string(),
            },
            E::NotImplemented { .. } => StorageError::Unsupported {
                operation,
                store: store.into(),
                reason: "not implemented by this store".into(),
            },
            other => StorageError::Backend {
                operation,
                key: key.into(),
                reason: other.to_string(),
            },
        }
    }
}

/// Why a dataset could not be discovered or partitioned.
///
/// ```
/// use strato_storage::{Dataset, DatasetError};
///
/// let error = Dataset::paths(["/no/such/dir/*.txt"]).partitions().unwrap_err();
/// assert!(matches!(error, DatasetError::NoMatch { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Reaching an object failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A local path or glob matched no file.
    #[error("`{pattern}` matches no file")]
    NoMatch {
        /// The path or glob given.
        pattern: String,
    },
    /// A glob pattern is malformed.
    #[error("`{pattern}` is not a valid glob: {reason}")]
    BadGlob {
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file or directory could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Local {
        /// The path.
        path: String,
        /// The system's explanation.
        reason: String,
    },
    /// A chunk size or count of zero.
    #[error("{what} must be at least 1")]
    ZeroChunk {
        /// `chunk_size` or `chunk_count`.
        what: &'static str,
    },
}
