//! Finding the objects behind local paths, globs and URLs.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::dataset::{head, DataObject};
use crate::{DatasetError, Storage};

/// The files behind each path (a file, a directory, a glob), in order, each path's sorted.
pub(crate) fn discover_paths(paths: &[String]) -> Result<Vec<DataObject>, DatasetError> {
    let mut objects = Vec::new();
    for path in paths {
        objects.extend(discover_path(path)?);
    }
    Ok(objects)
}

fn discover_path(pattern: &str) -> Result<Vec<DataObject>, DatasetError> {
    let path = Path::new(pattern);
    let (root, files) = if is_glob(pattern) {
        (glob_root(path), expand_glob(pattern)?)
    } else if path.is_dir() {
        (path.to_path_buf(), walk(path)?)
    } else if path.is_file() {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        (
            parent.unwrap_or(Path::new(".")).to_path_buf(),
            vec![path.to_path_buf()],
        )
    } else {
        return Err(DatasetError::NoMatch {
            pattern: pattern.into(),
        });
    };
    if files.is_empty() && is_glob(pattern) {
        return Err(DatasetError::NoMatch {
            pattern: pattern.into(),
        });
    }
    objects_below(&root, files)
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The leading directories of a glob that hold no wildcard.
fn glob_root(pattern: &Path) -> PathBuf {
    let fixed: PathBuf = pattern
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    match fixed.as_os_str().is_empty() {
        true => PathBuf::from("."),
        false => fixed,
    }
}

fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, DatasetError> {
    let matches = glob::glob(pattern).map_err(|e| DatasetError::BadGlob {
        pattern: pattern.into(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    for entry in matches {
        let path = entry.map_err(|e| local_error(e.path(), e.error()))?;
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Every file below `dir`, sorted.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| local_error(&dir, &e))?;
        for entry in entries {
            let path = entry.map_err(|e| local_error(&dir, &e))?.path();
            match path.is_dir() {
                true => pending.push(path),
                false => files.push(path),
            }
        }
    }
    files.sort();
    Ok(files)
}

fn local_error(path: &Path, error: &std::io::Error) -> DatasetError {
    DatasetError::Local {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

/// The files as objects of a local storage rooted at `root`.
fn objects_below(root: &Path, files: Vec<PathBuf>) -> Result<Vec<DataObject>, DatasetError> {
    let root = root.canonicalize().map_err(|e| local_error(root, &e))?;
    let storage = Storage::local(&root)?;
    let mut objects = Vec::with_capacity(files.len());
    for file in files {
        let absolute = file.canonicalize().map_err(|e| local_error(&file, &e))?;
        let size = std::fs::metadata(&absolute)
            .map_err(|e| local_error(&absolute, &e))?
            .len();
        objects.push(DataObject {
            storage: storage.clone(),
            key: relative_key(&root, &absolute),
            size,
        });
    }
    Ok(objects)
}

/// `file`'s key below `root` (its `/`-joined components).
fn relative_key(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The object behind each URL (its size asked with a `HEAD`).
pub(crate) fn discover_urls(urls: &[String]) -> Result<Vec<DataObject>, DatasetError> {
    let mut stores: HashMap<String, Storage> = HashMap::new();
    let mut objects = Vec::with_capacity(urls.len());
    for url in urls {
        let (root, key) = split_url(url)?;
        let storage = match stores.get(&root) {
            Some(storage) => storage.clone(),
            None => {
                let storage = Storage::from_url(&root)?;
                stores.insert(root, storage.clone());
                storage
            }
        };
        objects.push(head(&storage, &key)?);
    }
    Ok(objects)
}

/// A URL as its store's root (`scheme://authority/`) and the object's key there.
fn split_url(url: &str) -> Result<(String, String), DatasetError> {
    let parsed = url::Url::parse(url).map_err(|e| crate::StorageError::InvalidUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    if parsed.scheme() == "file" {
        let path = parsed
            .to_file_path()
            .map_err(|()| crate::StorageError::InvalidUrl {
                url: url.into(),
                reason: "not a local path".into(),
            })?;
        let root = path.parent().unwrap_or(Path::new("/"));
        let root = url::Url::from_directory_path(root)
            .map_or_else(|()| "file:///".into(), |u| u.to_string());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        return Ok((root, name.unwrap_or_default()));
    }
    let root = format!("{}/", &parsed[..url::Position::BeforePath]);
    let key = percent_decode(parsed.path().trim_start_matches('/'));
    Ok((root, key))
}

fn percent_decode(path: &str) -> String {
    object_store::path::Path::from_url_path(path)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| path.to_string())
}
