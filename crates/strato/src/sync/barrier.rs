//! `Barrier`: std's cyclic barrier, parked on the server.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, Init, Op, Role, Wait};

use crate::handle::{default_client, expect, unexpected, within, Handle};
use crate::ObjectName;

/// Lets `n` parties (threads or processes) wait for each other; reusable after each
/// generation. Exactly one party per generation is the leader.
///
/// Unlike std's, a strato barrier can **break**: when a waiting party times out or its
/// process dies, every party waiting then (and every later one) gets
/// [`BarrierError::Broken`], as Python's `threading.Barrier` does.
///
/// ```
/// use std::sync::Arc;
/// use strato::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         std::thread::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = threads.into_iter().filter(|_| true).map(|t| t.join().unwrap()).filter(|l| *l).count();
/// assert_eq!(leaders, 1);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Barrier {
    handle: Handle,
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one party of each generation.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

/// Why a barrier wait did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BarrierError {
    /// A party timed out or died; the barrier stays broken.
    #[error("the barrier is broken (a party timed out or died)")]
    Broken,
    /// This wait's timeout ran out (which breaks the barrier for the others).
    #[error("the barrier wait timed out")]
    TimedOut,
    /// `try_wait` would have had to wait.
    #[error("the barrier wait would block")]
    WouldBlock,
}

impl Barrier {
    /// A new anonymous barrier of `n` parties on the default state server.
    pub fn new(n: usize) -> Self {
        let client = default_client("Barrier::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), n),
            "Barrier::new",
        )
    }

    /// Opens the barrier `name` on `client`, creating it for `n` parties if absent.
    pub fn open(client: &Client, name: impl Into<ObjectName>, n: usize) -> Result<Self, Error> {
        let handle = Handle::open(client, name.into(), Init::Barrier(n as u64), Role::Handle)?;
        Ok(Barrier { handle })
    }

    /// Blocks until all parties have arrived.
    ///
    /// # Panics
    /// If the barrier is broken; use [`Barrier::wait_timeout`] to handle that.
    pub fn wait(&self) -> BarrierWaitResult {
        match expect(self.wait_with(Wait::Forever), "Barrier::wait") {
            Ok(result) => result,
            Err(e) => panic!("strato: Barrier::wait: {e}"),
        }
    }

    /// Passes only if this arrival completes the generation; otherwise does not arrive.
    pub fn try_wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        expect(self.wait_with(Wait::Never), "Barrier::try_wait")
    }

    /// Waits at most `timeout`; timing out breaks the barrier.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        expect(self.wait_with(within(timeout)), "Barrier::wait_timeout")
    }

    fn wait_with(&self, wait: Wait) -> Result<Result<BarrierWaitResult, BarrierError>, Error> {
        Ok(match self.handle.op(Op::BarrierWait(wait))? {
            Answer::Passed { leader } => Ok(BarrierWaitResult(leader)),
            Answer::Broken => Err(BarrierError::Broken),
            Answer::TimedOut => Err(BarrierError::TimedOut),
            Answer::WouldBlock => Err(BarrierError::WouldBlock),
            other => return Err(unexpected(other)),
        })
    }
}
