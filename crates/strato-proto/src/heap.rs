//! The C heap's policy for the large buffers messages pass through.
//!
//! glibc's `malloc` serves a large block from a fresh `mmap` or from the top of its heap,
//! and gives the memory back to the kernel as soon as the block is freed. A process that
//! passes 1 MiB messages allocates and frees such blocks a few times per message, and every
//! time the kernel maps the pages in again: measured on a 1 MiB `Queue` round trip between
//! two workers, about 1,000 page faults and 3.6 ms of the 5.4 ms it took (docs/benchmarks.md).
//! [`keep_large_buffers`] tells `malloc` to keep such memory for reuse instead.

/// Blocks up to this size come from the heap, not from an `mmap` of their own: messages of a
/// few MiB. Larger blocks (a growing result vector) keep their own mapping, which `realloc`
/// moves without a copy: with 32 MiB here a million-task map's driver peaked 18 MB higher
/// (`map_1m_driver_peak_mb` 306 → 324 MB), with 4 MiB 4 MB higher.
pub const MMAP_THRESHOLD: usize = 4 << 20;

/// Free memory at the top of the heap is given back to the kernel once it exceeds this.
pub const TRIM_THRESHOLD: usize = 16 << 20;

/// The environment variable that, set to `0`, leaves `malloc`'s policy as it was.
pub const TUNING_ENV: &str = "STRATO_MALLOC_TUNING";

/// Sets glibc `malloc`'s mmap threshold to [`MMAP_THRESHOLD`] and its trim threshold to
/// [`TRIM_THRESHOLD`], so that the large buffers of messages are reused rather than mapped
/// and faulted in anew each time; a process holds on to up to that much freed memory.
///
/// It does nothing, and says so by returning `false`, where the C library is not glibc,
/// where [`TUNING_ENV`] is `0`, or where the environment already sets `malloc`'s tunables
/// (`GLIBC_TUNABLES` with a `glibc.malloc.` entry, or the older `MALLOC_*_` variables):
/// the user's own choice wins. strato calls it first thing in every process it starts and
/// in every program that links it.
///
/// ```
/// let tuned = strato_proto::heap::keep_large_buffers();
/// assert_eq!(tuned, cfg!(all(target_os = "linux", target_env = "gnu"))
///     && std::env::var_os("GLIBC_TUNABLES").is_none()
///     && std::env::var_os(strato_proto::heap::TUNING_ENV).is_none());
/// ```
pub fn keep_large_buffers() -> bool {
    if !wanted(|name| std::env::var_os(name)) {
        return false;
    }
    set_thresholds()
}

/// Whether the environment (read through `var`) leaves the policy to strato.
fn wanted(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    if var(TUNING_ENV).is_some_and(|value| value == "0") {
        return false;
    }
    let tunables = var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.to_string_lossy().contains("glibc.malloc.") {
        return false;
    }
    ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
        .iter()
        .all(|name| var(name).is_none())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> bool {
    // SAFETY: `mallopt` only changes the allocator's parameters under its own lock; it is
    // safe to call at any time, from any thread, with any value (a refused value returns 0).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_users_own_malloc_settings_win() {
        assert!(wanted(env(&[])));
        assert!(wanted(env(&[(TUNING_ENV, "1")])));
        assert!(wanted(env(&[("GLIBC_TUNABLES", "glibc.pthread.rseq=0")])));
        assert!(!wanted(env(&[(TUNING_ENV, "0")])));
        assert!(!wanted(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=1"
        )])));
        assert!(!wanted(env(&[("MALLOC_TRIM_THRESHOLD_", "1")])));
        assert!(!wanted(env(&[("MALLOC_MMAP_THRESHOLD_", "1")])));
    }

    /// After tuning, three 1 MiB blocks freed and allocated again (as a message's buffers
    /// are) reuse their pages: a round faults a handful of pages, where glibc's default
    /// gives the freed top of the heap back and faults all 768 of them in again.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_large_buffers_are_reused_without_page_faults() {
        assert!(set_thresholds());
        let rounds = 20;
        let before = minor_faults();
        for round in 0..rounds {
            let blocks: Vec<Vec<u8>> = (0..3).map(|_| vec![round as u8; 1 << 20]).collect();
            std::hint::black_box(&blocks);
        }
        let per_round = (minor_faults() - before) / rounds;
        assert!(
            per_round < 128,
            "{per_round} page faults per round of 3 MiB"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn minor_faults() -> libc::c_long {
        // SAFETY: `getrusage` fills the zeroed struct it is given and reads nothing else.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
            usage.ru_minflt
        }
    }
}
