//! [`AsyncResult`]: the future result of an `apply_async` or `map_async`, with callbacks;
//! and [`PoolError`], why a pool call gave no result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::handler::{Handler, Job};
use crate::executor::{Progress, ResponseFuture, TaskError, TaskStatus};

/// Why a pool call gave no result.
///
/// ```
/// use strato::Pool;
/// use strato::pool::PoolError;
///
/// fn half(x: u32) -> u32 {
///     assert!(x % 2 == 0, "{x} is odd");
///     x / 2
/// }
///
/// let pool = Pool::new(1).unwrap();
/// let error = pool.apply(half, 3).unwrap_err();
/// assert!(error.is_panic());
/// assert_eq!(error.panic_message(), Some("3 is odd"));
/// pool.close();
/// assert_eq!(pool.apply(half, 2), Err(PoolError::Closed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A task failed: it panicked (with the remote message), its worker died on every
    /// attempt, or its data could not travel.
    #[error("pool: {0}")]
    Task(#[from] TaskError),
    /// The pool was closed (or joined): it takes no new work.
    #[error("pool: closed; it takes no new work")]
    Closed,
    /// The pool was terminated (or dropped) before the work finished.
    #[error("pool: terminated before the work finished")]
    Terminated,
    /// `join` was called on a pool neither closed nor terminated.
    #[error("pool: still running; call `close` or `terminate` before `join`")]
    StillRunning,
    /// The result did not arrive within the time given to `get_timeout`.
    #[error("pool: no result within {0:?}")]
    Timeout(Duration),
}

impl PoolError {
    /// Whether a task panicked.
    ///
    /// ```
    /// assert!(!strato::pool::PoolError::Closed.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, PoolError::Task(e) if e.is_panic())
    }

    /// The message of the task's panic (with the worker's ` (at file:line)`), if it panicked.
    ///
    /// ```
    /// assert_eq!(strato::pool::PoolError::Terminated.panic_message(), None);
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            PoolError::Task(TaskError::Panicked { message, .. }) => Some(strip_location(message)),
            _ => None,
        }
    }
}

/// The message without the ` (at file:line)` the worker appends.
fn strip_location(message: &str) -> &str {
    match message.rsplit_once(" (at ") {
        Some((text, location)) if location.ends_with(')') && location.contains(':') => text,
        _ => message,
    }
}

/// Where the outcome of a call comes from: the futures of its chunks.
pub(crate) trait Source<T>: Send + Sync {
    /// `None` while running; `Some(true)` once every chunk succeeded, `Some(false)` as soon
    /// as one failed.
    fn status(&self) -> Option<bool>;
    /// The result, or the error of the first failed chunk (in input order).
    fn gather(&self) -> Result<T, TaskError>;
}

/// Every item of every chunk, in input order (`map_async`).
pub(crate) struct AllItems<R> {
    pub chunks: Vec<ResponseFuture<Vec<R>>>,
}

impl<R: DeserializeOwned> Source<Vec<R>> for AllItems<R> {
    fn status(&self) -> Option<bool> {
        let mut pending = false;
        for chunk in &self.chunks {
            match chunk.status() {
                TaskStatus::Failed => return Some(false),
                TaskStatus::Pending => pending = true,
                TaskStatus::Success => {}
            }
        }
        (!pending).then_some(true)
    }

    fn gather(&self) -> Result<Vec<R>, TaskError> {
        let failed = self
            .chunks
            .iter()
            .find(|c| c.status() == TaskStatus::Failed);
        if let Some(failed) = failed {
            failed.take()?;
        }
        let mut items = Vec::new();
        for chunk in &self.chunks {
            items.extend(chunk.take()?);
        }
        Ok(items)
    }
}

/// The one item of a one-item chunk (`apply_async`).
pub(crate) struct OneItem<R> {
    pub chunk: ResponseFuture<Vec<R>>,
}

impl<R: DeserializeOwned> Source<R> for OneItem<R> {
    fn status(&self) -> Option<bool> {
        match self.chunk.status() {
            TaskStatus::Pending => None,
            status => Some(status == TaskStatus::Success),
        }
    }

    fn gather(&self) -> Result<R, TaskError> {
        self.chunk
            .take()?
            .pop()
            .ok_or_else(|| TaskError::Data("a task returned no result".into()))
    }
}

type OnSuccess<T> = Box<dyn FnOnce(&T) + Send>;
type OnError = Box<dyn FnOnce(&PoolError) + Send>;

struct Callbacks<T> {
    on_success: Vec<OnSuccess<T>>,
    on_error: Vec<OnError>,
    registered: bool,
    delivered: bool,
}

/// What an [`AsyncResult`] and the result handler share.
pub(crate) struct AsyncInner<T> {
    source: Box<dyn Source<T>>,
    progress: Arc<Progress>,
    terminated: Arc<AtomicBool>,
    handler: Arc<Handler>,
    callbacks: Mutex<Callbacks<T>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> AsyncInner<T> {
    pub fn new(
        source: Box<dyn Source<T>>,
        progress: Arc<Progress>,
        terminated: Arc<AtomicBool>,
        handler: Arc<Handler>,
    ) -> Self {
        AsyncInner {
            source,
            progress,
            terminated,
            handler,
            callbacks: Mutex::new(Callbacks {
                on_success: Vec::new(),
                on_error: Vec::new(),
                registered: false,
                delivered: false,
            }),
        }
    }

    fn outcome(&self) -> Result<T, PoolError> {
        self.source
            .gather()
            .map_err(|e| pool_error(e, &self.terminated))
    }

    fn run(&self, on_success: Vec<OnSuccess<T>>, on_error: Vec<OnError>) {
        if on_success.is_empty() && on_error.is_empty() {
            return;
        }
        match self.outcome() {
            Ok(value) => on_success.into_iter().for_each(|f| f(&value)),
            Err(error) => on_error.into_iter().for_each(|f| f(&error)),
        }
    }
}

/// A task's error as the pool reports it: an executor shut down by `terminate` is that.
pub(crate) fn pool_error(error: TaskError, terminated: &AtomicBool) -> PoolError {
    match error {
        TaskError::Executor(_) if terminated.load(Ordering::SeqCst) => PoolError::Terminated,
        other => PoolError::Task(other),
    }
}

impl<T: 'static> Job for AsyncInner<T> {
    fn ready(&self) -> bool {
        self.source.status().is_some()
    }

    fn deliver(&self) {
        let (on_success, on_error) = {
            let mut callbacks = lock(&self.callbacks);
            callbacks.delivered = true;
            let success = std::mem::take(&mut callbacks.on_success);
            (success, std::mem::take(&mut callbacks.on_error))
        };
        self.run(on_success, on_error);
    }
}

/// The future result of [`Pool::apply_async`](super::Pool::apply_async) or
/// [`Pool::map_async`](super::Pool::map_async), as Python's `AsyncResult`; cheap to clone.
///
/// Python's `wait(timeout)` and `get(timeout)` are [`wait_timeout`](Self::wait_timeout)
/// and [`get_timeout`](Self::get_timeout) here; `successful()` is `None` where Python
/// raises (not ready yet).
///
/// ```
/// use std::time::Duration;
///
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
///
/// let pool = strato::Pool::new(2).unwrap();
/// let result = pool.apply_async(cube, 3).unwrap();
/// assert!(result.wait_timeout(Duration::from_secs(30)));
/// assert!(result.ready());
/// assert_eq!(result.successful(), Some(true));
/// assert_eq!(result.get(), Ok(27));
/// assert_eq!(result.get_timeout(Duration::ZERO), Ok(27), "a result can be read again");
/// ```
#[must_use = "an AsyncResult does nothing unless waited for, read, or given callbacks"]
pub struct AsyncResult<T> {
    inner: Arc<AsyncInner<T>>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("successful", &self.inner.source.status())
            .finish()
    }
}

impl<T: 'static> AsyncResult<T> {
    pub(crate) fn new(inner: AsyncInner<T>) -> Self {
        AsyncResult {
            inner: Arc::new(inner),
        }
    }

    /// Whether the call has finished (every task done, or one failed).
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.apply_async(|x: u8| x, 1).unwrap();
    /// result.wait();
    /// assert!(result.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.inner.source.status().is_some()
    }

    /// Whether the call succeeded; `None` while it is not [`ready`](Self::ready) (where
    /// Python raises `ValueError`).
    ///
    /// ```
    /// fn fail(_: u8) -> u8 {
    ///     panic!("no")
    /// }
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.apply_async(fail, 1).unwrap();
    /// result.wait();
    /// assert_eq!(result.successful(), Some(false));
    /// ```
    pub fn successful(&self) -> Option<bool> {
        self.inner.source.status()
    }

    /// Waits until the call has finished.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.map_async(|x: u8| x + 1, [1, 2]).unwrap();
    /// result.wait();
    /// assert_eq!(result.get(), Ok(vec![2, 3]));
    /// ```
    pub fn wait(&self) {
        self.inner.progress.wait_until(None, || self.ready());
    }

    /// Waits at most `timeout`; whether the call has finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.apply_async(|x: u8| x, 5).unwrap();
    /// assert!(result.wait_timeout(Duration::from_secs(30)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.inner
            .progress
            .wait_until(Some(deadline), || self.ready())
    }

    /// Waits for the result; the error of the first failed task (in input order) if one
    /// failed.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// assert_eq!(pool.apply_async(|x: u8| x * 2, 4).unwrap().get(), Ok(8));
    /// ```
    pub fn get(&self) -> Result<T, PoolError> {
        self.wait();
        self.inner.outcome()
    }

    /// Waits at most `timeout` for the result; [`PoolError::Timeout`] if it has not come.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strato::pool::PoolError;
    ///
    /// fn slow(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.apply_async(slow, 2_000).unwrap();
    /// let early = result.get_timeout(Duration::from_millis(10));
    /// assert_eq!(early, Err(PoolError::Timeout(Duration::from_millis(10))));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        match self.wait_timeout(timeout) {
            true => self.inner.outcome(),
            false => Err(PoolError::Timeout(timeout)),
        }
    }

    /// Calls `callback` with the result when the call succeeds, on the pool's result thread
    /// in the driver (at once on this thread if the result was already handed out). Keep
    /// it short: it holds up other callbacks.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let _ = pool
    ///     .apply_async(|x: u32| x + 1, 41)
    ///     .unwrap()
    ///     .callback(move |value| tx.send(*value).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    pub fn callback(self, callback: impl FnOnce(&T) + Send + 'static) -> Self {
        self.add(Some(Box::new(callback)), None);
        self
    }

    /// Calls `callback` with the error when the call fails (a task panicked, its worker was
    /// lost, the pool was terminated), as [`callback`](Self::callback) does with results.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// fn fail(_: u32) -> u32 {
    ///     panic!("bad input")
    /// }
    ///
    /// let pool = strato::Pool::new(1).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let _ = pool
    ///     .apply_async(fail, 1)
    ///     .unwrap()
    ///     .error_callback(move |e| tx.send(e.panic_message().map(str::to_string)).unwrap());
    /// assert_eq!(rx.recv().unwrap().as_deref(), Some("bad input"));
    /// ```
    pub fn error_callback(self, callback: impl FnOnce(&PoolError) + Send + 'static) -> Self {
        self.add(None, Some(Box::new(callback)));
        self
    }

    fn add(&self, on_success: Option<OnSuccess<T>>, on_error: Option<OnError>) {
        let mut callbacks = lock(&self.inner.callbacks);
        callbacks.on_success.extend(on_success);
        callbacks.on_error.extend(on_error);
        if callbacks.delivered {
            let success = std::mem::take(&mut callbacks.on_success);
            let error = std::mem::take(&mut callbacks.on_error);
            drop(callbacks);
            return self.inner.run(success, error);
        }
        if std::mem::replace(&mut callbacks.registered, true) {
            return;
        }
        drop(callbacks);
        if !self.inner.handler.register(self.inner.clone()) {
            self.wait();
            self.inner.deliver();
        }
    }
}
