//! A Rust program and a Python process on one state, sharing a `Barrier` and two `Queue`s
//! by name (`python/tests/test_interop.py` runs it against `strato.Barrier` and
//! `strato.Queue`).
//!
//! ```sh
//! STRATO_STATE=tcp://127.0.0.1:PORT cargo run --example interop -- NAME
//! ```
//!
//! It meets the Python side at the barrier `NAME.barrier` (2 parties), puts a greeting
//! (a `String`) into `NAME.to_python`, and prints what comes back on `NAME.to_rust`.

use std::time::Duration;

use strato::sync::{Barrier, Queue};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).ok_or("usage: interop NAME")?;
    let client = strato::client()?;
    let barrier = Barrier::open(&client, format!("{name}.barrier"), 2)?;
    let to_python: Queue<String> = Queue::open(&client, format!("{name}.to_python"), None)?;
    let to_rust: Queue<String> = Queue::open(&client, format!("{name}.to_rust"), None)?;
    let leader = barrier.wait_timeout(Duration::from_secs(60))?.is_leader();
    to_python.put(format!("hello from rust (leader: {leader})"));
    let reply = to_rust
        .get_timeout(Duration::from_secs(60))
        .ok_or("no reply from python")?;
    println!("rust got: {reply}");
    Ok(())
}
