//! Making a process a worker before its `main` runs.
//!
//! On Linux a constructor in `.init_array` enters the worker loop before `main`, so test
//! harnesses, benchmarks and examples become workers with no code of their own; elsewhere the
//! program calls [`crate::init`] first thing in `main`.

/// Runs before `main` in every binary that links strato (Linux, via `.init_array`), unless
/// the `worker-hook` feature is off (a library loaded into an interpreter enters the worker
/// loop itself, with the interpreter ready).
#[cfg(all(target_os = "linux", feature = "worker-hook"))]
#[used]
#[link_section = ".init_array"]
static WORKER_HOOK: extern "C" fn() = worker_hook;

#[cfg(all(target_os = "linux", feature = "worker-hook"))]
extern "C" fn worker_hook() {
    strato_proto::heap::keep_large_buffers();
    enter_if_worker();
}

/// Makes sure the constructor above is linked into a binary that uses executors.
pub(crate) fn keep_hook() {
    #[cfg(all(target_os = "linux", feature = "worker-hook"))]
    std::hint::black_box(&WORKER_HOOK);
}

/// Becomes a worker or an objects host (and never returns) if this process was started as
/// one; a worker's connection becomes the process's default client.
pub(crate) fn enter_if_worker() {
    strato_worker::objects::enter_if_objects_host(&crate::shared::UserTypes);
    strato_worker::worker::enter_if_worker(|client| {
        crate::set_client(client);
    });
}
