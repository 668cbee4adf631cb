//! Python workers on a host: the host's interpreter running `python -m strato._worker` in a
//! directory holding the driver's main script.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::PythonProgram;

/// The host's Python, and the identities it was found to have.
pub(crate) struct PythonHost {
    python: PathBuf,
    /// Identities of strato's native module this Python was checked to have.
    verified: Mutex<HashSet<String>>,
}

impl PythonHost {
    pub(crate) fn new(python: PathBuf) -> PythonHost {
        PythonHost {
            python,
            verified: Mutex::default(),
        }
    }

    /// The command of one worker of `program`, or why this host cannot run it. `cache` is
    /// where the workers' directories are made.
    pub(crate) fn command(&self, program: &PythonProgram, cache: &Path) -> Result<Command, String> {
        self.check(&program.identity, cache)?;
        let dir = workdir(program, &cache.join("python"))?;
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "strato._worker"])
            .current_dir(&dir)
            .envs(program.env.iter().map(|(k, v)| (k, v)));
        Ok(command)
    }

    /// Whether this host's Python has strato's native module of `identity`: asked once
    /// per identity (a later refusal, say after the host's wheel changed, is caught by the
    /// task board when the worker joins).
    fn check(&self, identity: &str, cache: &Path) -> Result<(), String> {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.contains(identity) {
            return Ok(());
        }
        let found = self.identity(cache)?;
        if found != identity {
            return Err(format!(
                "this host's Python ({}) has another build of strato ({found}, where the \
                 driver's is {identity}): install the driver's strato wheel there, under the \
                 same Python version",
                self.python.display()
            ));
        }
        verified.insert(found);
        Ok(())
    }

    /// What `strato._native.identity()` says in this host's Python.
    fn identity(&self, cache: &Path) -> Result<String, String> {
        std::fs::create_dir_all(cache).map_err(|e| format!("cannot make {cache:?}: {e}"))?;
        let output = Command::new(&self.python)
            .args(["-c", "import strato._native as n; print(n.identity())"])
            .current_dir(cache)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "this host cannot run Python tasks: cannot start {} ({e}); give the \
                     daemon a Python with strato installed: strato worker --python PATH",
                    self.python.display()
                )
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or("").trim().to_string();
            return Err(format!(
                "this host cannot run Python tasks: {} cannot import strato ({last}); install \
                 the driver's strato wheel there, or point the daemon at a Python that has it: \
                 strato worker --python PATH",
                self.python.display()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

/// The directory holding `program`'s files (made once per set of files, under `root`).
fn workdir(program: &PythonProgram, root: &Path) -> Result<PathBuf, String> {
    let mut hasher = Sha256::new();
    for (name, bytes) in &program.files {
        check_name(name)?;
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let digest: String = hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = root.join(digest);
    if dir.is_dir() {
        return Ok(dir);
    }
    let io = |e: std::io::Error| format!("cannot write the driver's files under {root:?}: {e}");
    let partial = root.join(format!(".{}.{}", std::process::id(), unique()));
    std::fs::create_dir_all(&partial).map_err(io)?;
    for (name, bytes) in &program.files {
        std::fs::write(partial.join(name), bytes).map_err(io)?;
    }
    // Another worker may have made it meanwhile: its copy holds the same files.
    if std::fs::rename(&partial, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    dir.is_dir()
        .then_some(dir)
        .ok_or_else(|| format!("cannot make the workers' directory under {root:?}"))
}

/// A plain file name: no directories, nothing hidden.
fn check_name(name: &str) -> Result<(), String> {
    let plain =
        !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0');
    plain
        .then_some(())
        .ok_or_else(|| format!("the driver sent a file with an unusable name: {name:?}"))
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(files: &[(&str, &str)]) -> PythonProgram {
        PythonProgram {
            identity: "python3.11:x".into(),
            files: files
                .iter()
                .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec()))
                .collect(),
            env: vec![],
        }
    }

    #[test]
    fn the_same_files_share_one_directory_and_other_files_get_another() {
        let root = tempfile::tempdir().unwrap();
        let a = workdir(&program(&[("main.py", "print(1)")]), root.path()).unwrap();
        let again = workdir(&program(&[("main.py", "print(1)")]), root.path()).unwrap();
        let b = workdir(&program(&[("main.py", "print(2)")]), root.path()).unwrap();
        assert_eq!(a, again);
        assert_ne!(a, b);
        assert_eq!(std::fs::read(a.join("main.py")).unwrap(), b"print(1)");
        assert_eq!(std::fs::read(b.join("main.py")).unwrap(), b"print(2)");
    }

    #[test]
    fn file_names_that_would_leave_the_directory_are_refused() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["../evil.py", "/etc/passwd", ".hidden", "", "a/b.py"] {
            let error = workdir(&program(&[(bad, "x")]), root.path()).unwrap_err();
            assert!(error.contains("unusable name"), "{bad}: {error}");
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_python_without_strato_is_refused_with_the_import_error() {
        let root = tempfile::tempdir().unwrap();
        let host = PythonHost::new("/usr/bin/python3".into());
        let error = host.check("python3.11:x", root.path()).unwrap_err();
        assert!(error.contains("cannot import strato"), "{error}");
        assert!(error.contains("strato worker --python"), "{error}");
        let host = PythonHost::new("/nonexistent/python".into());
        let error = host.check("python3.11:x", root.path()).unwrap_err();
        assert!(
            error.contains("cannot start /nonexistent/python"),
            "{error}"
        );
    }
}
