//! Following one job through the driver, the state server and the workers with `tracing`.
//!
//! Every process logs through `tracing` with the job id (`job=3fa9c2-M000`) and task id
//! (`task=…`) in its spans' fields: the driver when it submits and receives tasks, the state
//! server for each call (with the connection id) and the tasks it queues, hands out and
//! reports, and each worker for each task it runs. Workers (our processes) log to their own
//! standard error when `RUST_LOG` is set; a driver logs wherever its program's subscriber
//! writes, for instance through [`init_tracing`].

/// Installs a `tracing` subscriber that writes to standard error what `RUST_LOG` selects
/// (`RUST_LOG=strato=debug` follows every job), if `RUST_LOG` is set and the program has no
/// subscriber yet; whether it installed one. Programs with their own subscriber need not call
/// it: strato's events go to whatever subscriber the program installed.
///
/// ```
/// // With RUST_LOG unset this does nothing.
/// std::env::remove_var("RUST_LOG");
/// assert!(!strato::init_tracing());
/// ```
pub fn init_tracing() -> bool {
    use std::io::IsTerminal;
    strato_worker::trace::init_with(std::io::stderr, std::io::stderr().is_terminal())
}
