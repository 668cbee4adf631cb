//! The cases of the conformance suite; each takes `connect`, which opens a new connection
//! to the backend under test. Separate connections stand for separate processes.

#![allow(dead_code)]

mod coordination;
mod data;
mod locks;
mod messaging;
mod tasks;

pub use coordination::*;
pub use data::*;
pub use locks::*;
pub use messaging::*;
pub use tasks::*;

use std::time::Duration;

use strato::Client;

/// Opens a new connection to the backend.
pub type Connect<'a> = &'a dyn Fn() -> Client;

/// Long enough that a thread which should be blocked would have finished by then.
pub const SETTLE: Duration = Duration::from_millis(150);

/// A short timeout for calls meant to time out.
pub const SHORT: Duration = Duration::from_millis(30);

/// A name unique to the calling test.
pub fn name(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// Runs `f` on a thread and returns a receiver that gets its result.
pub fn background<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::sync::mpsc::Receiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Asserts that a background call has not finished within [`SETTLE`] (it is blocked).
pub fn assert_blocked<T: std::fmt::Debug>(rx: &std::sync::mpsc::Receiver<T>, what: &str) {
    if let Ok(value) = rx.recv_timeout(SETTLE) {
        panic!("{what} should block, but returned {value:?}");
    }
}

/// Waits for a background call's result.
pub fn finished<T>(rx: &std::sync::mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} never finished"))
}
