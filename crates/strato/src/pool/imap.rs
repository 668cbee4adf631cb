//! Lazy iteration over a pool: [`Imap`] (input order) and [`ImapUnordered`] (completion
//! order). Both keep a bounded window of chunks in flight and pull more input only as
//! results are consumed, so an endless input works and a consumer that stops early leaves
//! the rest of the input untouched.

use std::collections::VecDeque;
use std::iter::Fuse;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::result::PoolError;
use super::Shared;
use crate::executor::{ResponseFuture, TaskError};

/// Submits chunks of items to a pool; made for one function by `Pool::imap*`.
pub(crate) type Submit<A, R> =
    fn(&Shared, Vec<Vec<A>>) -> Result<Vec<ResponseFuture<Vec<R>>>, PoolError>;

/// A chunk in flight and how many items it holds.
struct InFlight<R> {
    future: ResponseFuture<Vec<R>>,
    size: usize,
}

/// The engine of both iterators: what is in flight, where more input comes from, and the
/// results ready to yield.
struct Feed<I: Iterator, R> {
    shared: Arc<Shared>,
    submit: Submit<I::Item, R>,
    input: Fuse<I>,
    chunksize: usize,
    window: usize,
    in_flight: VecDeque<InFlight<R>>,
    ready: VecDeque<Result<R, PoolError>>,
    /// Why no more input can be submitted; yielded once the chunks in flight are out.
    failure: Option<PoolError>,
    broken: bool,
}

impl<I: Iterator, R: DeserializeOwned> Feed<I, R> {
    /// Starts with a first window of chunks.
    fn start(
        shared: Arc<Shared>,
        submit: Submit<I::Item, R>,
        input: I,
        chunksize: usize,
    ) -> Result<Self, PoolError> {
        let window = 2 * shared.processes;
        let mut feed = Feed {
            shared,
            submit,
            input: input.fuse(),
            chunksize: chunksize.max(1),
            window,
            in_flight: VecDeque::new(),
            ready: VecDeque::new(),
            failure: None,
            broken: false,
        };
        feed.try_top_up()?;
        Ok(feed)
    }

    /// The next result: of the oldest chunk (`ordered`) or of the first to finish.
    fn next_item(&mut self, ordered: bool) -> Option<Result<R, PoolError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            self.top_up();
            let next = match ordered {
                true => self.in_flight.pop_front(),
                false => self.next_finished(),
            };
            let Some(chunk) = next else {
                return self.failure.take().map(Err);
            };
            let outcomes = self.outcomes(chunk.future.result(), chunk.size);
            self.ready.extend(outcomes);
        }
    }

    /// Refills the window once it is half empty, in one submission; on failure, keeps the
    /// error for the end and submits nothing more.
    fn top_up(&mut self) {
        if let Err(e) = self.try_top_up() {
            self.broken = true;
            self.failure = Some(e);
        }
    }

    fn try_top_up(&mut self) -> Result<(), PoolError> {
        if self.broken || self.in_flight.len() > self.window / 2 {
            return Ok(());
        }
        let wanted = self.window - self.in_flight.len();
        let groups: Vec<Vec<I::Item>> = (0..wanted)
            .map_while(|_| {
                let group: Vec<I::Item> = (&mut self.input).take(self.chunksize).collect();
                (!group.is_empty()).then_some(group)
            })
            .collect();
        if groups.is_empty() {
            return Ok(());
        }
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let futures = (self.submit)(&self.shared, groups)?;
        let chunks = futures.into_iter().zip(sizes);
        self.in_flight
            .extend(chunks.map(|(future, size)| InFlight { future, size }));
        Ok(())
    }

    /// Waits for any chunk in flight to finish and takes it out.
    fn next_finished(&mut self) -> Option<InFlight<R>> {
        if self.in_flight.is_empty() {
            return None;
        }
        let in_flight = &self.in_flight;
        let progress = self.shared.progress.clone();
        progress.wait_until(None, || in_flight.iter().any(|c| c.future.done()));
        let index = self.in_flight.iter().position(|c| c.future.done())?;
        self.in_flight.remove(index)
    }

    /// One outcome per item of a finished chunk.
    fn outcomes(&self, chunk: Result<Vec<R>, TaskError>, size: usize) -> Vec<Result<R, PoolError>> {
        match chunk {
            Ok(values) => values.into_iter().map(Ok).collect(),
            Err(e) => {
                let error = self.shared.error(e);
                (0..size).map(|_| Err(error.clone())).collect()
            }
        }
    }
}

/// The results of [`Pool::imap`](super::Pool::imap), in input order. Lazy: at most
/// `2 × processes` chunks are in flight; more input is pulled as results are consumed.
///
/// A failed chunk yields its error once for each of its items. If more work cannot be
/// submitted (the pool was joined or terminated), the iterator yields the chunks already in
/// flight, then that error once, and ends.
///
/// ```
/// let pool = strato::Pool::new(2).unwrap();
/// let squares: Vec<u64> = pool
///     .imap(|x: u64| x * x, 1.., 4)
///     .unwrap()
///     .take(5)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(squares, vec![1, 4, 9, 16, 25]);
/// ```
#[must_use = "iterators are lazy: nothing is computed beyond the first window until consumed"]
pub struct Imap<I: Iterator, R> {
    feed: Feed<I, R>,
}

impl<I: Iterator, R: DeserializeOwned> Imap<I, R> {
    pub(crate) fn start(
        shared: Arc<Shared>,
        submit: Submit<I::Item, R>,
        input: I,
        chunksize: usize,
    ) -> Result<Self, PoolError> {
        Feed::start(shared, submit, input, chunksize).map(|feed| Imap { feed })
    }
}

impl<I: Iterator, R: DeserializeOwned> Iterator for Imap<I, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.feed.next_item(true)
    }
}

impl<I: Iterator, R> std::fmt::Debug for Imap<I, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imap")
            .field("chunks_in_flight", &self.feed.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// The results of [`Pool::imap_unordered`](super::Pool::imap_unordered), in the order the
/// chunks finish. Lazy like [`Imap`].
///
/// ```
/// let pool = strato::Pool::new(2).unwrap();
/// let mut doubled: Vec<u32> = pool
///     .imap_unordered(|x: u32| x * 2, 0..10, 3)
///     .unwrap()
///     .map(Result::unwrap)
///     .collect();
/// doubled.sort();
/// assert_eq!(doubled, (0..10).map(|x| x * 2).collect::<Vec<_>>());
/// ```
#[must_use = "iterators are lazy: nothing is computed beyond the first window until consumed"]
pub struct ImapUnordered<I: Iterator, R> {
    feed: Feed<I, R>,
}

impl<I: Iterator, R: DeserializeOwned> ImapUnordered<I, R> {
    pub(crate) fn start(
        shared: Arc<Shared>,
        submit: Submit<I::Item, R>,
        input: I,
        chunksize: usize,
    ) -> Result<Self, PoolError> {
        Feed::start(shared, submit, input, chunksize).map(|feed| ImapUnordered { feed })
    }
}

impl<I: Iterator, R: DeserializeOwned> Iterator for ImapUnordered<I, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.feed.next_item(false)
    }
}

impl<I: Iterator, R> std::fmt::Debug for ImapUnordered<I, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("chunks_in_flight", &self.feed.in_flight.len())
            .finish_non_exhaustive()
    }
}
