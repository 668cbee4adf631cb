//! The small tokio runtime behind the blocking API: one per process, started on first use.
//!
//! Callers are ordinary threads (task code, a `main`), so every operation blocks on the
//! runtime. A caller already inside some tokio runtime cannot block on another one on its own
//! thread (tokio panics), so its operation runs on a short-lived helper thread instead.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strato-storage")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("strato-storage: cannot start its tokio runtime: {e}"))
    })
}

/// Runs `future` to completion, from any thread.
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if Handle::try_current().is_err() {
        return runtime().block_on(future);
    }
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| runtime().block_on(future));
        match helper.join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Enters the runtime's context (for calls that spawn onto it without blocking).
pub(crate) fn enter() -> tokio::runtime::EnterGuard<'static> {
    runtime().enter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_from_a_plain_thread() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    #[test]
    fn blocks_from_inside_another_runtime() {
        let outer = Builder::new_current_thread().build().unwrap();
        let value = outer.block_on(async { block_on(async { 8 }) });
        assert_eq!(value, 8);
    }
}
