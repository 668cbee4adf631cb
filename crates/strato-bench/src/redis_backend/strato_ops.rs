//! The operations through strato handles, on whichever backend `connect` reaches.

use strato::sync::atomic::{AtomicU64, Ordering};
use strato::sync::{Barrier, Mutex, Queue};
use strato::{Bytes, Client};

use super::harness::{fresh, parties, ping_pong, timed, warm_up};

/// Opens a new connection to the backend under test.
pub type Connect<'a> = &'a dyn Fn() -> anyhow::Result<Client>;

/// One party's two queues: where it puts, where it gets.
fn queues(client: &Client, name: &str) -> anyhow::Result<(Queue<Bytes>, Queue<Bytes>)> {
    let to = Queue::open(client, format!("{name}-to"), None)?;
    let from = Queue::open(client, format!("{name}-from"), None)?;
    Ok((to, from))
}

/// Median µs of a `size`-byte ping-pong through two `Queue`s.
pub fn queue_rtt(connect: Connect, size: usize, rounds: u32) -> anyhow::Result<f64> {
    let name = fresh("queue");
    let (to, from) = queues(&connect()?, &name)?;
    let (their_to, their_from) = queues(&connect()?, &name)?;
    let message = Bytes::from(vec![7u8; size]);
    let ping = || {
        to.put(message.clone());
        assert_eq!(from.get().len(), size);
    };
    Ok(ping_pong(rounds, ping, || their_from.put(their_to.get())))
}

/// Wall ms of `threads` × `rounds` `fetch_add`s on one `AtomicU64`.
pub fn counter_ms(connect: Connect, threads: usize, rounds: u32) -> anyhow::Result<f64> {
    let name = fresh("counter");
    let open = || Ok(AtomicU64::open(&connect()?, name.as_str(), 0)?);
    let total = open()?;
    let micros = timed(parties(threads, open)?, rounds, |counter, n| {
        for _ in 0..n {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let expected = threads as u64 * u64::from(warm_up(rounds) + rounds);
    anyhow::ensure!(total.load(Ordering::SeqCst) == expected, "lost increments");
    Ok(micros / 1e3)
}

/// µs per lock/unlock of one `Mutex`, `threads` threads × `rounds` each.
pub fn mutex_us(connect: Connect, threads: usize, rounds: u32) -> anyhow::Result<f64> {
    let name = fresh("mutex");
    let open = || Ok(Mutex::open(&connect()?, name.as_str(), 0u64)?);
    let micros = timed(parties(threads, open)?, rounds, |mutex, n| {
        (0..n).for_each(|_| drop(mutex.lock().expect("not poisoned")));
    });
    Ok(micros / (threads as f64 * f64::from(rounds)))
}

/// µs per crossing of a `Barrier` of `n` parties, `rounds` crossings.
pub fn barrier_us(connect: Connect, n: usize, rounds: u32) -> anyhow::Result<f64> {
    let name = fresh("barrier");
    let open = || Ok(Barrier::open(&connect()?, name.as_str(), n)?);
    let micros = timed(parties(n, open)?, rounds, |barrier, rounds| {
        for _ in 0..rounds {
            let _ = barrier.wait();
        }
    });
    Ok(micros / f64::from(rounds))
}
