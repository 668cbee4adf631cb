//! Opening a store from a URL: which `object_store` backend, and the key prefix inside it.

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::StorageError;

/// An opened store: the backend, the URL it was opened from, and the prefix every key is
/// under.
pub(crate) struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub url: String,
    pub base: Path,
}

/// Opens `url` with backend `options` (on top of the `AWS_*` environment for S3).
pub(crate) fn open(url: &str, options: &[(String, String)]) -> Result<Opened, StorageError> {
    let parsed = Url::parse(url).map_err(|e| invalid(url, e.to_string()))?;
    match parsed.scheme() {
        "file" => open_local(url, &parsed),
        "memory" => Ok(open_memory(&parsed)),
        "s3" | "s3a" => open_cloud(url, &parsed, options, "s3", cfg!(feature = "s3")),
        "http" | "https" => open_cloud(url, &parsed, options, "http", cfg!(feature = "http")),
        other => Err(invalid(
            url,
            format!("unsupported scheme `{other}` (file, memory, s3, http and https are)"),
        )),
    }
}

fn invalid(url: &str, reason: String) -> StorageError {
    StorageError::InvalidUrl {
        url: url.into(),
        reason,
    }
}

/// A local directory, created if absent; keys are paths below it.
pub(crate) fn open_dir(dir: &FsPath) -> Result<Opened, StorageError> {
    let shown = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| invalid(&shown, e.to_string()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| invalid(&shown, e.to_string()))?;
    let store =
        LocalFileSystem::new_with_prefix(&dir).map_err(|e| invalid(&shown, e.to_string()))?;
    let url = Url::from_directory_path(&dir)
        .map_err(|()| invalid(&shown, "not an absolute directory path".into()))?;
    Ok(Opened {
        store: Arc::new(store),
        url: url.to_string(),
        base: Path::default(),
    })
}

fn open_local(url: &str, parsed: &Url) -> Result<Opened, StorageError> {
    let dir = parsed
        .to_file_path()
        .map_err(|()| invalid(url, "not a local path".into()))?;
    open_dir(&dir)
}

/// Stores of one process by name, so every handle to `memory://name` sees the same objects.
fn memory_stores() -> &'static Mutex<HashMap<String, Weak<InMemory>>> {
    static STORES: std::sync::OnceLock<Mutex<HashMap<String, Weak<InMemory>>>> =
        std::sync::OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

fn open_memory(parsed: &Url) -> Opened {
    static ANONYMOUS: AtomicU64 = AtomicU64::new(0);
    let mut name = format!("{}{}", parsed.host_str().unwrap_or(""), parsed.path());
    if name.trim_matches('/').is_empty() {
        let n = ANONYMOUS.fetch_add(1, Ordering::Relaxed);
        name = format!("anonymous-{}-{n}", std::process::id());
    }
    let mut stores = memory_stores().lock().unwrap_or_else(|e| e.into_inner());
    stores.retain(|_, store| store.strong_count() > 0);
    let store = match stores.get(&name).and_then(Weak::upgrade) {
        Some(store) => store,
        None => {
            let store = Arc::new(InMemory::new());
            stores.insert(name.clone(), Arc::downgrade(&store));
            store
        }
    };
    Opened {
        store,
        url: format!("memory://{name}"),
        base: Path::default(),
    }
}

fn open_cloud(
    url: &str,
    parsed: &Url,
    options: &[(String, String)],
    feature: &'static str,
    enabled: bool,
) -> Result<Opened, StorageError> {
    if !enabled {
        return Err(StorageError::FeatureMissing {
            url: url.into(),
            feature,
        });
    }
    let mut all = environment_options(parsed.scheme());
    if parsed.scheme() == "http" {
        all.push(("allow_http".into(), "true".into()));
    }
    all.extend(options.iter().cloned());
    let (store, base) =
        object_store::parse_url_opts(parsed, all).map_err(|e| invalid(url, e.to_string()))?;
    let base = match parsed.scheme() {
        "http" | "https" => Path::from_url_path(parsed.path()).unwrap_or(base),
        _ => base,
    };
    Ok(Opened {
        store: Arc::from(store),
        url: url.into(),
        base,
    })
}

/// The `AWS_*` variables of this process, as S3 options (how `object_store` names them).
fn environment_options(scheme: &str) -> Vec<(String, String)> {
    if !scheme.starts_with("s3") {
        return Vec::new();
    }
    std::env::vars()
        .filter(|(key, _)| key.starts_with("AWS_"))
        .map(|(key, value)| (key.to_ascii_lowercase(), value))
        .collect()
}
