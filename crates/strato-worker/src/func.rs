//! Function references: how a plain `fn` item or a closure that captures nothing crosses
//! to another process of the **same binary**.
//!
//! Such a function has a zero-sized type, so all a worker needs is *which* function to run.
//! The driver sends the address of an entry point monomorphised for that function (see
//! [`entry_of`]), as an offset from a fixed anchor in the binary; address-space randomisation
//! shifts the whole image, so the offset resolves in every process of the identical
//! executable. Workers prove they run that executable ([`binary_id`]) before taking tasks.

use std::sync::OnceLock;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_proto::Blob;

/// An entry point: decodes its input, runs the user's function, encodes the output (see
/// [`entry_of`]).
pub type Entry = fn(&[u8]) -> Result<Vec<u8>, String>;

/// A function reference as it travels: the entry's offset from a fixed anchor of the binary.
///
/// ```
/// use strato_worker::func::{entry_of, FnRef};
/// let square = |x: u64| x * x;
/// let reference = FnRef::of(entry_of(square));
/// // SAFETY: made in this very process.
/// let entry = unsafe { reference.resolve() };
/// let input = postcard::to_stdvec(&vec![3u64]).unwrap();
/// assert!(entry(&input).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnRef(i64);

/// A fixed point of the binary that offsets are measured from.
#[inline(never)]
fn anchor() -> u8 {
    std::hint::black_box(0x5a)
}

fn anchor_address() -> usize {
    anchor as fn() -> u8 as usize
}

/// The offset of a function's address from the anchor (see [`FnRef`]).
///
/// ```
/// use strato_worker::func::{address_at, offset_of};
/// let address = offset_of as fn(usize) -> i64 as usize;
/// assert_eq!(address_at(offset_of(address)), address);
/// ```
pub fn offset_of(address: usize) -> i64 {
    address.wrapping_sub(anchor_address()) as i64
}

/// The address at `offset` from the anchor in this process (the inverse of [`offset_of`]).
pub fn address_at(offset: i64) -> usize {
    anchor_address().wrapping_add(offset as usize)
}

impl FnRef {
    /// The reference to `entry`.
    pub fn of(entry: Entry) -> FnRef {
        FnRef(offset_of(entry as usize))
    }

    /// The entry this reference names.
    ///
    /// # Safety
    ///
    /// The reference must have been made by [`FnRef::of`] in a process running the identical
    /// executable (checked through [`binary_id`] when a worker joins a task board).
    pub unsafe fn resolve(self) -> Entry {
        let address = address_at(self.0);
        // SAFETY: by the caller's guarantee `address` is where `FnRef::of` found an `Entry`
        // in an identical image, shifted by the same load offset as `anchor`.
        unsafe { std::mem::transmute::<usize, Entry>(address) }
    }
}

/// The entry point that runs `F` on each item of a chunk (a `Vec<A>`) and encodes each
/// result separately (a `Vec<Blob>`), so the driver splits a chunk without knowing `R`.
///
/// ```
/// use strato_worker::func::entry_of;
/// let entry = entry_of(|s: String| s.len());
/// let output = entry(&postcard::to_stdvec(&vec!["abc".to_string()]).unwrap()).unwrap();
/// let lengths: Vec<strato_proto::Blob> = postcard::from_bytes(&output).unwrap();
/// assert_eq!(postcard::from_bytes::<usize>(&lengths[0]).unwrap(), 3);
/// ```
pub fn entry_of<F, A, R>(_f: F) -> Entry
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "strato: a task must be a `fn` item or a closure that captures nothing; pass the \
             data it needs as the argument (or wrap a capturing closure as the docs explain)"
        )
    };
    run_chunk::<F, A, R>
}

fn run_chunk<F, A, R>(input: &[u8]) -> Result<Vec<u8>, String>
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    let f = conjure::<F>();
    let items: Vec<A> = postcard::from_bytes(input)
        .map_err(|e| format!("cannot decode the task's argument: {e}"))?;
    let mut outputs = Vec::with_capacity(items.len());
    for item in items {
        let output = postcard::to_stdvec(&f(item))
            .map_err(|e| format!("cannot encode the task's result: {e}"))?;
        outputs.push(Blob::from(output));
    }
    postcard::to_stdvec(&outputs).map_err(|e| e.to_string())
}

/// The one value of a zero-sized function type (a `fn` item or a closure without captures).
///
/// ```
/// fn seven() -> u32 { 7 }
/// fn call<F: Fn() -> u32 + Copy>(_: F) -> u32 { strato_worker::func::conjure::<F>()() }
/// assert_eq!(call(seven), 7);
/// ```
pub fn conjure<F: Copy>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0) };
    // SAFETY: `F` is zero-sized (asserted above), so no byte of it can be invalid, and it is
    // `Copy`, so it has no drop glue. `entry_of` only accepts `Fn` types, and the zero-sized
    // `Fn` types are `fn` items and closures without captures, whose single value carries no
    // data: the value made here is the very function the driver passed.
    unsafe { std::mem::zeroed() }
}

/// The identity of the running executable: its GNU build id when it has one (a hash of its
/// contents, written by the linker), else a hash of the file's bytes.
///
/// ```
/// let id = strato_worker::func::binary_id();
/// assert!(!id.is_empty());
/// assert_eq!(id, strato_worker::func::binary_id());
/// ```
pub fn binary_id() -> &'static str {
    BINARY_ID.get_or_init(|| {
        let path = current_exe_path();
        crate::elf::build_id(&path)
            .or_else(|| hash_file(&path))
            .unwrap_or_else(|| format!("unknown-{}", std::process::id()))
    })
}

static BINARY_ID: OnceLock<String> = OnceLock::new();

/// Makes [`binary_id`] the identity of the file at `path` (with `prefix` before it) instead
/// of the executable's: for code loaded as a library into an interpreter (Python's
/// `strato._native`), where function references are measured within the library and the
/// interpreter alone says nothing of them. Call it before the first `binary_id`; false if the
/// identity was fixed already or the file cannot be read.
///
/// ```
/// let path = strato_worker::func::current_exe_path();
/// assert!(strato_worker::func::identify_by_file("lib:", &path));
/// assert!(strato_worker::func::binary_id().starts_with("lib:"));
/// ```
pub fn identify_by_file(prefix: &str, path: &std::path::Path) -> bool {
    let Some(id) = file_identity(prefix, path) else {
        return false;
    };
    BINARY_ID.set(id).is_ok()
}

/// The identity [`identify_by_file`] would give: `prefix` and the file's build id (else a
/// hash of its bytes); `None` if the file cannot be read.
///
/// ```
/// let path = strato_worker::func::current_exe_path();
/// let id = strato_worker::func::file_identity("lib:", &path).unwrap();
/// assert_eq!(Some(id), strato_worker::func::file_identity("lib:", &path));
/// assert!(strato_worker::func::file_identity("lib:", "/nonexistent".as_ref()).is_none());
/// ```
pub fn file_identity(prefix: &str, path: &std::path::Path) -> Option<String> {
    let id = crate::elf::build_id(path).or_else(|| hash_file(path))?;
    Some(format!("{prefix}{id}"))
}

/// The executable of this process (on Linux, the file it was started from even if it has
/// since been replaced on disk).
///
/// ```
/// assert!(strato_worker::func::current_exe_path().exists());
/// ```
pub fn current_exe_path() -> std::path::PathBuf {
    let proc_self = std::path::PathBuf::from("/proc/self/exe");
    if proc_self.exists() {
        return proc_self;
    }
    std::env::current_exe().unwrap_or(proc_self)
}

fn hash_file(path: &std::path::Path) -> Option<String> {
    use std::hash::Hasher;
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.write(&buf[..n]);
    }
    Some(format!("sip-{:016x}", hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        x * 2
    }

    #[test]
    fn a_reference_resolves_to_its_entry() {
        let entry = entry_of(double);
        // SAFETY: made by `FnRef::of` in this very process.
        let resolved = unsafe { FnRef::of(entry).resolve() };
        let input = postcard::to_stdvec(&vec![1u64, 20]).unwrap();
        let output: Vec<Blob> = postcard::from_bytes(&resolved(&input).unwrap()).unwrap();
        let values: Vec<u64> = output
            .iter()
            .map(|b| postcard::from_bytes(b).unwrap())
            .collect();
        assert_eq!(values, vec![2, 40]);
    }

    #[test]
    fn closures_without_captures_are_references_too() {
        let entry = entry_of(|s: String| s.len());
        let input = postcard::to_stdvec(&vec!["abc".to_string()]).unwrap();
        assert!(entry(&input).is_ok());
        assert_ne!(FnRef::of(entry), FnRef::of(entry_of(double)));
    }

    #[test]
    fn a_bad_argument_is_an_error_not_a_crash() {
        let entry = entry_of(double);
        assert!(entry(&[0xff, 0xff, 0xff]).unwrap_err().contains("argument"));
    }
}
