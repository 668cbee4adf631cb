//! What a pool and its lazy iterators share: the executor, the state, the tasks submitted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{de::DeserializeOwned, Serialize};

use super::handler::Handler;
use super::result::{self, AsyncInner, AsyncResult, PoolError, Source};
use super::task::{run_chunk, Chunk};
use crate::executor::func::FnRef;
use crate::executor::{Executor, Progress, ResponseFuture, Slot, TaskError, TaskStatus};

/// Whether a pool takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Running,
    Closed,
    Stopped,
}

/// What a pool and its lazy iterators share.
pub(crate) struct Shared {
    pub(super) id: u64,
    pub(super) init: Option<FnRef>,
    pub(super) processes: usize,
    pub(super) executor: Mutex<Option<Executor>>,
    pub(super) state: Mutex<State>,
    pub(super) terminated: Arc<AtomicBool>,
    pub(super) progress: Arc<Progress>,
    pub(super) submitted: Mutex<Vec<Arc<Slot>>>,
    pub(super) handler: Arc<Handler>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("state", &*lock(&self.state))
            .finish()
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The executor, if the pool takes this work: new calls need a running pool; the lazy
    /// iterators of earlier calls go on after `close`.
    pub(super) fn executor(&self, new_call: bool) -> Result<Executor, PoolError> {
        match *lock(&self.state) {
            State::Running => {}
            State::Closed if !new_call => {}
            State::Closed => return Err(PoolError::Closed),
            State::Stopped if self.terminated.load(Ordering::SeqCst) => {
                return Err(PoolError::Terminated)
            }
            State::Stopped => return Err(PoolError::Closed),
        }
        lock(&self.executor).clone().ok_or(PoolError::Closed)
    }

    /// Submits one task per group of items, all in one round trip.
    pub(super) fn submit<T, A, R>(
        &self,
        task: T,
        groups: Vec<Vec<A>>,
        new_call: bool,
    ) -> Result<Vec<ResponseFuture<Vec<R>>>, PoolError>
    where
        T: Fn(Chunk<A>) -> Vec<R> + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let executor = self.executor(new_call)?;
        let chunks = groups.into_iter().map(|items| Chunk {
            pool: self.id,
            init: self.init,
            items,
        });
        let futures = executor.map(task, chunks)?;
        self.track(&futures);
        Ok(futures)
    }

    /// Remembers the tasks, for `join`; forgets finished ones as the list grows.
    pub(super) fn track<R>(&self, futures: &[ResponseFuture<R>]) {
        let mut submitted = lock(&self.submitted);
        if submitted.len() >= 1024 && submitted.len() % 1024 < futures.len() {
            submitted.retain(|slot| slot.status() == TaskStatus::Pending);
        }
        submitted.extend(futures.iter().map(|f| f.slot.clone()));
    }

    /// Waits until every task submitted so far has finished.
    pub(super) fn wait_submitted(&self) {
        self.progress.wait_until(None, || {
            let mut submitted = lock(&self.submitted);
            submitted.retain(|slot| slot.status() == TaskStatus::Pending);
            submitted.is_empty()
        });
    }

    /// Stops the workers (failing whatever still runs) and the result handler.
    pub(super) fn shut_down(&self, terminate: bool) {
        if terminate {
            self.terminated.store(true, Ordering::SeqCst);
        }
        *lock(&self.state) = State::Stopped;
        let executor = lock(&self.executor).take();
        drop(executor);
        self.handler.stop();
    }

    pub(super) fn error(&self, error: TaskError) -> PoolError {
        result::pool_error(error, &self.terminated)
    }

    pub(super) fn async_result<T: 'static>(&self, source: Box<dyn Source<T>>) -> AsyncResult<T> {
        AsyncResult::new(AsyncInner::new(
            source,
            self.progress.clone(),
            self.terminated.clone(),
            self.handler.clone(),
        ))
    }

    /// The submitter of `imap` for `F` (a plain function pointer the iterators keep).
    pub(super) fn submit_map<F, A, R>(
        &self,
        groups: Vec<Vec<A>>,
    ) -> Result<Vec<ResponseFuture<Vec<R>>>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.submit(run_chunk::<F, A, R>, groups, false)
    }
}

/// Python's default chunksize for `len` items: about four chunks per process.
pub(super) fn default_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(processes * 4).max(1)
}

/// The items in groups of `size`.
pub(super) fn groups<A>(items: Vec<A>, size: usize) -> Vec<Vec<A>> {
    let mut groups = Vec::with_capacity(items.len().div_ceil(size.max(1)));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        groups.push(items.by_ref().take(size.max(1)).collect());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chunksize_is_pythons() {
        assert_eq!(default_chunksize(0, 4), 1);
        assert_eq!(default_chunksize(16, 4), 1);
        assert_eq!(default_chunksize(17, 4), 2);
        assert_eq!(default_chunksize(1000, 2), 125);
    }

    #[test]
    fn groups_keep_order_and_the_last_one_is_short() {
        assert_eq!(
            groups(vec![1, 2, 3, 4, 5], 2),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert!(groups(Vec::<u8>::new(), 3).is_empty());
    }
}
