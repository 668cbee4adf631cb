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
use strato_proto::ByteBuf;

/// An entry point: decodes its input, runs the user's function, encodes the output.
pub(crate) type Entry = fn(&[u8]) -> Result<Vec<u8>, String>;

/// A function reference as it travels: the entry's offset from [`anchor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FnRef(i64);

/// A fixed point of the binary that offsets are measured from.
#[inline(never)]
fn anchor() -> u8 {
    std::hint::black_box(0x5a)
}

fn anchor_address() -> usize {
    anchor as fn() -> u8 as usize
}

/// The offset of a function's address from the anchor (see [`FnRef`]).
pub(crate) fn offset_of(address: usize) -> i64 {
    address.wrapping_sub(anchor_address()) as i64
}

/// The address at `offset` from the anchor in this process.
pub(crate) fn address_at(offset: i64) -> usize {
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
/// result separately (a `Vec<ByteBuf>`), so the driver splits a chunk without knowing `R`.
pub(crate) fn entry_of<F, A, R>(_f: F) -> Entry
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
        outputs.push(ByteBuf::from(output));
    }
    postcard::to_stdvec(&outputs).map_err(|e| e.to_string())
}

/// The one value of a zero-sized function type (a `fn` item or a closure without captures).
pub(crate) fn conjure<F: Copy>() -> F {
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
/// let id = strato::executor::binary_id();
/// assert!(!id.is_empty());
/// assert_eq!(id, strato::executor::binary_id());
/// ```
pub fn binary_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let path = current_exe_path();
        crate::executor::elf::build_id(&path)
            .or_else(|| hash_file(&path))
            .unwrap_or_else(|| format!("unknown-{}", std::process::id()))
    })
}

/// The executable of this process (on Linux, the file it was started from even if it has
/// since been replaced on disk).
pub(crate) fn current_exe_path() -> std::path::PathBuf {
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
        let output: Vec<ByteBuf> = postcard::from_bytes(&resolved(&input).unwrap()).unwrap();
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
