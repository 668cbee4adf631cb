//! The runner function's deployment package: the zip Lambda takes, `bootstrap` inside.
//!
//! Lambda's `provided.al2023` runtime starts `bootstrap` from the zip's root. The runner must
//! be a Linux executable for the function's architecture that Amazon Linux 2023 can load: a
//! static (musl) build, or one linked against glibc 2.34 or older (`cargo lambda build`
//! links against an older glibc with zig).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The newest glibc Amazon Linux 2023 (`provided.al2023`) has.
pub const AL2023_GLIBC: GlibcVersion = GlibcVersion(2, 34);

/// The largest zip Lambda takes in a `CreateFunction` or `UpdateFunctionCode` request.
pub const MAX_DIRECT_ZIP: usize = 50 * 1024 * 1024;

/// A function's instruction set, as Lambda names it.
///
/// ```
/// use strato_lambda::package::Architecture;
/// assert_eq!(Architecture::Arm64.lambda_name(), "arm64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// x86-64 (`x86_64`).
    X86_64,
    /// 64-bit ARM, Graviton (`arm64`).
    Arm64,
}

impl Architecture {
    /// The name in Lambda's API.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// A glibc version, as `GLIBC_2.34` names it in an executable's needs.
///
/// ```
/// use strato_lambda::package::GlibcVersion;
/// assert!(GlibcVersion(2, 35) > GlibcVersion(2, 34));
/// assert_eq!(GlibcVersion(2, 34).to_string(), "2.34");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Why a file cannot be the runner function's `bootstrap`.
///
/// ```
/// let error = strato_lambda::package::RunnerBinary::read("/nonexistent/runner".as_ref())
///     .unwrap_err();
/// assert!(error.to_string().contains("/nonexistent/runner"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file cannot be read or the zip written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Not a 64-bit Linux executable for an architecture Lambda has.
    #[error("{path} is not a Lambda executable: {reason}")]
    NotLambdaExecutable {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// Linked against a glibc newer than Amazon Linux 2023's: Lambda could not start it.
    #[error(
        "{path} needs glibc {needs}, newer than Lambda's (Amazon Linux 2023 has {AL2023_GLIBC}): \
         build the runner for Lambda with `cargo lambda build --release -p strato-lambda \
         --bin strato-lambda-runner` (it links against an older glibc) or for a musl target \
         (`--target x86_64-unknown-linux-musl`)"
    )]
    GlibcTooNew {
        /// The file.
        path: PathBuf,
        /// The newest glibc version it asks for.
        needs: GlibcVersion,
    },
    /// Writing the zip failed.
    #[error("cannot write the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// An executable checked to run as Lambda's `bootstrap`.
///
/// ```no_run
/// use strato_lambda::package::RunnerBinary;
/// let runner = RunnerBinary::read("target/release/strato-lambda-runner".as_ref())?;
/// std::fs::write("runner.zip", runner.zip()?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RunnerBinary {
    path: PathBuf,
    bytes: Vec<u8>,
    architecture: Architecture,
    glibc: Option<GlibcVersion>,
}

impl RunnerBinary {
    /// Reads `path` and checks that Lambda can run it: a 64-bit little-endian Linux ELF
    /// executable for x86-64 or arm64 that needs no glibc newer than [`AL2023_GLIBC`].
    pub fn read(path: &Path) -> Result<RunnerBinary, PackageError> {
        let bytes = std::fs::read(path).map_err(|source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let not = |reason: &str| PackageError::NotLambdaExecutable {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        let architecture = elf_architecture(&bytes).map_err(not)?;
        let glibc = newest_glibc(&bytes);
        if let Some(needs) = glibc.filter(|&needs| needs > AL2023_GLIBC) {
            return Err(PackageError::GlibcTooNew {
                path: path.to_path_buf(),
                needs,
            });
        }
        Ok(RunnerBinary {
            path: path.to_path_buf(),
            bytes,
            architecture,
            glibc,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The architecture the function must have.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// The newest glibc version it needs (`None`: static, or no glibc).
    pub fn glibc(&self) -> Option<GlibcVersion> {
        self.glibc
    }

    /// The deployment package: a zip holding the executable as `bootstrap`, mode 0755; the
    /// same bytes for the same executable.
    pub fn zip(&self) -> Result<Vec<u8>, PackageError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            // A fixed time: the same runner gives the same zip, so Lambda's code hash
            // says whether a deploy changed anything.
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o755);
        zip.start_file("bootstrap", options)?;
        zip.write_all(&self.bytes)
            .map_err(|source| PackageError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(zip.finish()?.into_inner())
    }
}

/// The architecture of a 64-bit little-endian ELF executable, or what it is instead.
fn elf_architecture(bytes: &[u8]) -> Result<Architecture, &'static str> {
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file (Lambda runs Linux executables)");
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("not a 64-bit little-endian ELF file");
    }
    let half = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    if !matches!(half(16), ET_EXEC | ET_DYN) {
        return Err("an ELF file but not an executable");
    }
    match half(18) {
        EM_X86_64 => Ok(Architecture::X86_64),
        EM_AARCH64 => Ok(Architecture::Arm64),
        _ => Err("an executable for an architecture Lambda does not have (x86_64, arm64)"),
    }
}

/// The newest `GLIBC_2.N` version an executable names (its dynamic symbols' versions).
fn newest_glibc(bytes: &[u8]) -> Option<GlibcVersion> {
    const TAG: &[u8] = b"GLIBC_";
    memchr::memmem::find_iter(bytes, TAG)
        .filter_map(|at| parse_version(&bytes[at + TAG.len()..]))
        .max()
}

/// `2.34` (then a NUL) at the start of `bytes`.
fn parse_version(bytes: &[u8]) -> Option<GlibcVersion> {
    let end = bytes.iter().take(12).position(|&b| b == 0)?;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    let (major, minor) = text.split_once('.')?;
    let minor = minor.split('.').next()?;
    Some(GlibcVersion(major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_glibc_named_wins_and_private_tags_are_ignored() {
        let bytes = b"xxGLIBC_2.17\0GLIBC_PRIVATE\0GLIBC_2.34\0GLIBC_2.2.5\0";
        assert_eq!(newest_glibc(bytes), Some(GlibcVersion(2, 34)));
        assert_eq!(newest_glibc(b"static"), None);
    }

    #[test]
    fn only_64_bit_linux_executables_for_lambdas_architectures_pass() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[16] = 3;
        elf[18] = 183;
        assert_eq!(elf_architecture(&elf), Ok(Architecture::Arm64));
        elf[18] = 40; // 32-bit ARM
        assert!(elf_architecture(&elf).is_err());
        elf[18] = 62;
        elf[16] = 1; // a relocatable object
        assert!(elf_architecture(&elf).is_err());
        assert!(elf_architecture(b"#!/bin/sh\necho not elf").is_err());
    }
}
