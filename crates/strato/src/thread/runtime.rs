//! Where threads run: each running thread has a worker process of its own.
//!
//! Threads may block on each other (a barrier, a channel, a condition variable), so two of
//! them must never queue behind one another on one worker. Each spawn therefore leases an
//! executor with exactly one worker; a thread that ends returns it to a process-wide list of
//! idle ones (at most [`MAX_IDLE`]), which the next spawn reuses warm. The first spawn
//! starts the state server if the process has none. At exit, the idle executors are stopped
//! (their workers exit); the workers of threads still running exit when the program's
//! state server goes away, as std's threads end with their process.

use std::sync::{Arc, Mutex, MutexGuard, Once, TryLockError};

use crate::executor::{Executor, ExecutorError, Slot, TaskStatus};

/// Idle workers kept warm for the next spawns.
const MAX_IDLE: usize = 16;

static IDLE: Mutex<Vec<Executor>> = Mutex::new(Vec::new());

fn idle() -> MutexGuard<'static, Vec<Executor>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// An executor with one worker, lent to one thread.
pub(crate) struct Lease {
    pub executor: Executor,
}

/// An idle executor, or a new one.
pub(crate) fn acquire() -> Result<Lease, ExecutorError> {
    if let Some(executor) = idle().pop() {
        return Ok(Lease { executor });
    }
    stop_idle_at_exit();
    let executor = Executor::builder()
        .workers(1)
        .max_retries(0)
        .own_workers()
        .build()?;
    Ok(Lease { executor })
}

/// Returns a lease whose thread has ended.
pub(crate) fn release(lease: Lease) {
    let mut idle = idle();
    if idle.len() < MAX_IDLE {
        idle.push(lease.executor);
        return;
    }
    drop(idle);
    drop(lease);
}

/// Returns the lease once the thread whose outcome lands in `slot` has ended.
pub(crate) fn detach(lease: Lease, slot: Arc<Slot>) {
    if slot.status() != TaskStatus::Pending {
        return release(lease);
    }
    let waiter = std::thread::Builder::new()
        .name("strato-detached".into())
        .spawn(move || {
            let progress = lease.executor.progress();
            progress.wait_until(None, || slot.status() != TaskStatus::Pending);
            release(lease);
        });
    if let Err(e) = waiter {
        tracing::warn!("cannot watch a detached thread ({e}); its worker stops now");
    }
}

/// Stops the idle executors when the process exits (once registered).
fn stop_idle_at_exit() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `stop_idle` is an `extern "C" fn()` that never unwinds (a panic inside it
        // aborts at the `extern "C"` boundary); atexit only stores the pointer.
        let failed = unsafe { libc::atexit(stop_idle) } != 0;
        if failed {
            tracing::warn!(
                "cannot register the exit hook; idle thread workers end with the state server"
            );
        }
    });
}

extern "C" fn stop_idle() {
    // `try_lock`: a thread that held the list when `exit` was called never releases it.
    let executors = match IDLE.try_lock() {
        Ok(mut idle) => std::mem::take(&mut *idle),
        Err(TryLockError::Poisoned(idle)) => std::mem::take(&mut *idle.into_inner()),
        Err(TryLockError::WouldBlock) => return,
    };
    drop(executors);
}
