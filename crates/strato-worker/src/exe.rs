//! Executables by content: a driver publishes its own executable on the state once per build
//! (chunks in a map named after its SHA-256), a host fetches it by that hash, checks it,
//! caches it on disk and runs it in the worker role.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, Op};

use crate::board::ObjectRef;

/// Bytes per chunk of a published executable.
const CHUNK: usize = 8 << 20;
/// The key of the map entry saying how long the executable is (written last).
const LEN_KEY: &[u8] = b"len";

/// An executable as a host needs to know it: its hash, size and platform.
///
/// ```
/// let exe = strato_worker::exe::ExeRef::current().unwrap();
/// assert_eq!(exe.hash.len(), 64);
/// assert_eq!(exe.os, std::env::consts::OS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExeRef {
    /// SHA-256 of its bytes, in hex.
    pub hash: String,
    /// Its size in bytes.
    pub len: u64,
    /// The OS it was built for (`std::env::consts::OS`).
    pub os: String,
    /// The architecture it was built for (`std::env::consts::ARCH`).
    pub arch: String,
    /// The program's file name, for its workers' process titles (`pi [strato worker 0]`).
    #[serde(default)]
    pub name: String,
}

impl ExeRef {
    /// The running executable (hashed once per process).
    pub fn current() -> std::io::Result<ExeRef> {
        static CURRENT: OnceLock<Result<ExeRef, String>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let path = crate::func::current_exe_path();
                let (hash, len) = hash_file(&path).map_err(|e| e.to_string())?;
                Ok(ExeRef {
                    hash,
                    len,
                    os: std::env::consts::OS.into(),
                    arch: std::env::consts::ARCH.into(),
                    name: crate::worker::program_name(),
                })
            })
            .clone()
            .map_err(std::io::Error::other)
    }

    /// Why this host cannot run it, if it cannot.
    ///
    /// ```
    /// let mut exe = strato_worker::exe::ExeRef::current().unwrap();
    /// assert!(exe.unrunnable_here().is_none());
    /// exe.arch = "sparc".into();
    /// assert!(exe.unrunnable_here().unwrap().contains("sparc"));
    /// ```
    pub fn unrunnable_here(&self) -> Option<String> {
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        (self.os != os || self.arch != arch).then(|| {
            format!(
                "the driver's executable is for {}/{}, this host runs {os}/{arch}",
                self.os, self.arch
            )
        })
    }

    /// The map on the state that holds it.
    fn object(&self) -> String {
        format!("strato.exe.{}", self.hash)
    }
}

/// SHA-256 (hex) and length of a file.
///
/// ```
/// let file = std::env::temp_dir().join(format!("strato-hash-{}", std::process::id()));
/// std::fs::write(&file, b"abc").unwrap();
/// let (hash, len) = strato_worker::exe::hash_file(&file).unwrap();
/// assert_eq!((&hash[..8], len), ("ba7816bf", 3));
/// # std::fs::remove_file(file).unwrap();
/// ```
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(index: u64) -> Blob {
    Blob::from(index.to_be_bytes().to_vec())
}

/// The running executable, published on the state (once: a build already there is not sent
/// again). The returned reference keeps it there while it is held.
pub(crate) fn publish(client: &Client, exe: &ExeRef) -> Result<ObjectRef, Error> {
    let map = ObjectRef::open(client, &exe.object(), Init::Map)?;
    if let Answer::Bool(true) = map.op(Op::MapContains(Blob::from(LEN_KEY.to_vec())))? {
        return Ok(map);
    }
    let path = crate::func::current_exe_path();
    let mut file = std::fs::File::open(path).map_err(|e| Error::Codec(e.to_string()))?;
    let mut index = 0;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        (&mut file)
            .take(CHUNK as u64)
            .read_to_end(&mut chunk)
            .map_err(|e| Error::Codec(e.to_string()))?;
        if chunk.is_empty() {
            break;
        }
        map.op(Op::MapInsert(key(index), Blob::from(chunk)))?;
        index += 1;
    }
    let len = Blob::from(exe.len.to_be_bytes().to_vec());
    map.op(Op::MapInsert(Blob::from(LEN_KEY.to_vec()), len))?;
    Ok(map)
}

/// Why a host could not get an executable.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The state has no executable of that hash (its driver is gone, or never published).
    #[error("executable {0} is not published on the state server (has its driver ended?)")]
    Missing(String),
    /// The bytes fetched do not have the hash they were asked by.
    #[error("executable {hash}: the fetched bytes hash to {got}")]
    Corrupt {
        /// The hash asked for.
        hash: String,
        /// The hash of what arrived.
        got: String,
    },
    /// The state could not be reached.
    #[error("cannot fetch executable: {0}")]
    State(#[from] Error),
    /// The cache could not be written.
    #[error("cannot cache executable: {0}")]
    Cache(#[from] std::io::Error),
}

/// Where a host keeps fetched executables, each checked against its hash before every use.
///
/// ```
/// let cache = strato_worker::exe::ExeCache::new(std::env::temp_dir().join("strato-doc-cache"));
/// assert!(cache.dir().ends_with("strato-doc-cache"));
/// ```
///
/// A hash is checked again only when the file may have changed since this process last
/// checked it: its inode, size, modification or status-change time differ (any write or
/// `chmod` moves the status-change time, which no user can set back).
#[derive(Debug, Clone)]
pub struct ExeCache {
    dir: PathBuf,
    /// What each executable's file looked like when its hash was last checked.
    verified: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Stamp>>>,
}

/// What identifies one state of a file: inode, size, and modification and status-change
/// times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// How a cached executable was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obtained {
    /// It was in the cache and its hash checked.
    Cached,
    /// It was fetched from the state.
    Fetched,
    /// A cached copy did not match its hash; it was fetched again.
    Replaced,
}

impl ExeCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> ExeCache {
        ExeCache {
            dir: dir.into(),
            verified: Default::default(),
        }
    }

    /// Whether `path` holds `hash`: remembered if the file did not change since it was
    /// checked, else hashed (and remembered).
    fn holds(&self, path: &Path, hash: &str) -> bool {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = Stamp::of(path);
        if stamp.is_some() && verified.get(hash) == stamp.as_ref() {
            return true;
        }
        let holds = hash_file(path).is_ok_and(|(actual, _)| actual == hash);
        match (holds, stamp) {
            (true, Some(stamp)) => verified.insert(hash.to_string(), stamp),
            _ => verified.remove(hash),
        };
        holds
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default place: `$XDG_CACHE_HOME/strato/exe`, else `~/.cache/strato/exe`, else
    /// under the temporary directory.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("strato").join("exe")
    }

    /// The path of `exe` in the cache, if it is there and holds the right bytes.
    ///
    /// ```
    /// let cache = strato_worker::exe::ExeCache::new(std::env::temp_dir().join("strato-doc-lookup"));
    /// let exe = strato_worker::exe::ExeRef::current().unwrap();
    /// assert!(cache.lookup(&exe).is_none() || cache.lookup(&exe).unwrap().exists());
    /// ```
    pub fn lookup(&self, exe: &ExeRef) -> Option<PathBuf> {
        let path = self.dir.join(&exe.hash);
        (path.exists() && self.holds(&path, &exe.hash)).then_some(path)
    }

    /// Stores `bytes`, fetched from elsewhere (object storage), as `exe`, after checking them
    /// against its hash; the cached file's path.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("strato-doc-insert-{}", std::process::id()));
    /// let cache = strato_worker::exe::ExeCache::new(&dir);
    /// let mut exe = strato_worker::exe::ExeRef::current().unwrap();
    /// exe.hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into();
    /// assert!(cache.insert(&exe, b"abc").unwrap().exists());
    /// assert!(cache.insert(&exe, b"abd").is_err());
    /// # std::fs::remove_dir_all(dir).unwrap();
    /// ```
    pub fn insert(&self, exe: &ExeRef, bytes: &[u8]) -> Result<PathBuf, FetchError> {
        std::fs::create_dir_all(&self.dir)?;
        let got = hex(&Sha256::digest(bytes));
        if got != exe.hash {
            let hash = exe.hash.clone();
            return Err(FetchError::Corrupt { hash, got });
        }
        let partial = self
            .dir
            .join(format!("{}.{}.part", exe.hash, std::process::id()));
        std::fs::write(&partial, bytes)?;
        make_executable(&partial)?;
        let path = self.dir.join(&exe.hash);
        std::fs::rename(&partial, &path)?;
        self.holds(&path, &exe.hash);
        Ok(path)
    }

    /// The path of `exe` in the cache, fetched from the state if absent or damaged.
    pub fn obtain(&self, client: &Client, exe: &ExeRef) -> Result<(PathBuf, Obtained), FetchError> {
        let path = self.dir.join(&exe.hash);
        let had = path.exists();
        if had && self.holds(&path, &exe.hash) {
            return Ok((path, Obtained::Cached));
        }
        self.fetch(client, exe, &path)?;
        self.holds(&path, &exe.hash);
        Ok((
            path,
            if had {
                Obtained::Replaced
            } else {
                Obtained::Fetched
            },
        ))
    }

    fn fetch(&self, client: &Client, exe: &ExeRef, path: &Path) -> Result<(), FetchError> {
        std::fs::create_dir_all(&self.dir)?;
        let map = ObjectRef::open(client, &exe.object(), Init::Map)?;
        let missing = || FetchError::Missing(exe.hash.clone());
        match map.op(Op::MapGet(Blob::from(LEN_KEY.to_vec())))? {
            Answer::MaybeBlob(Some(_)) => {}
            _ => return Err(missing()),
        }
        let partial = self
            .dir
            .join(format!("{}.{}.part", exe.hash, std::process::id()));
        let mut file = std::fs::File::create(&partial)?;
        for index in 0..exe.len.div_ceil(CHUNK as u64) {
            let chunk = match map.op(Op::MapGet(key(index)))? {
                Answer::MaybeBlob(Some(chunk)) => chunk,
                _ => return Err(missing()),
            };
            file.write_all(&chunk)?;
        }
        drop(file);
        let (got, _) = hash_file(&partial)?;
        if got != exe.hash {
            let _ = std::fs::remove_file(&partial);
            let hash = exe.hash.clone();
            return Err(FetchError::Corrupt { hash, got });
        }
        make_executable(&partial)?;
        std::fs::rename(&partial, path)?;
        Ok(())
    }
}

fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Makes a child started from a cached executable die with this process (a host is one unit:
/// killing the daemon, or the server, kills what it started).
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and calls only prctl(2),
    // which is async-signal-safe, takes integers and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_file_is_hashed_again_once_it_changed_even_with_its_old_times() {
        let dir = std::env::temp_dir().join(format!("strato-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("exe");
        std::fs::write(&file, b"abc").unwrap();
        let (hash, _) = hash_file(&file).unwrap();
        let cache = ExeCache::new(&dir);
        assert!(cache.holds(&file, &hash));
        assert!(cache.holds(&file, &hash), "remembered");
        // Same size, same modification time, other bytes: the status-change time moved.
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&file, b"abd").unwrap();
        let handle = std::fs::File::options().write(true).open(&file).unwrap();
        handle.set_modified(modified).unwrap();
        assert!(!cache.holds(&file, &hash));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
