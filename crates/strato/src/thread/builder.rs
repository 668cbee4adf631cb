//! [`Builder`]: a thread's settings, as `std::thread::Builder`, plus a timeout.

use std::io;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use super::handle::{Header, JoinHandle};
use super::runtime;
use super::scope::{Scope, ScopedJoinHandle};
use super::spawn::Spawn;
use crate::executor::TaskOptions;

/// Settings of a new thread: its name and, unlike std, how long it may run.
///
/// ```
/// use std::time::Duration;
///
/// let handle = strato::thread::Builder::new()
///     .name("reporter".into())
///     .timeout(Duration::from_secs(30))
///     .spawn(|| "done".to_string())
///     .unwrap();
/// assert_eq!(handle.thread().name(), Some("reporter"));
/// assert_eq!(handle.join().unwrap(), "done");
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until `spawn` is called"]
pub struct Builder {
    name: Option<String>,
    timeout: Option<Duration>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Settings with no name and no timeout.
    ///
    /// ```
    /// let handle = strato::thread::Builder::new().spawn(|| 1).unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread; the body sees it through [`current`](super::current).
    ///
    /// ```
    /// let handle = strato::thread::Builder::new().name("a".into()).spawn(|| ()).unwrap();
    /// assert_eq!(handle.thread().name(), Some("a"));
    /// # handle.join().unwrap();
    /// ```
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Accepted for compatibility with std and ignored: the body runs on its worker's own
    /// stack.
    ///
    /// ```
    /// let handle = strato::thread::Builder::new().stack_size(1 << 20).spawn(|| 2).unwrap();
    /// assert_eq!(handle.join().unwrap(), 2);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Ends the thread if it runs longer than `timeout`: its worker process is restarted
    /// and [`JoinHandle::join`] fails with a [`TaskError::Timeout`](crate::executor::TaskError)
    /// payload. std threads cannot be stopped; these can.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strato::executor::TaskError;
    ///
    /// fn forever() {
    ///     loop {
    ///         std::thread::sleep(Duration::from_secs(1));
    ///     }
    /// }
    ///
    /// let handle = strato::thread::Builder::new()
    ///     .timeout(Duration::from_millis(200))
    ///     .spawn(forever)
    ///     .unwrap();
    /// let error = handle.join().unwrap_err();
    /// assert!(matches!(error.downcast_ref::<TaskError>(), Some(TaskError::Timeout { .. })));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = Some(timeout);
        self
    }

    /// Starts the thread; fails if no worker could be started or the body not sent.
    ///
    /// ```
    /// let handle = strato::thread::Builder::new().spawn(|| 3).unwrap();
    /// assert_eq!(handle.join().unwrap(), 3);
    /// ```
    pub fn spawn<F, T>(self, body: F) -> io::Result<JoinHandle<T>>
    where
        F: Spawn<T>,
        T: Serialize + DeserializeOwned + 'static,
    {
        let lease = runtime::acquire().map_err(io::Error::other)?;
        let header = Header::new(self.name);
        let thread = header.thread();
        let options = TaskOptions {
            timeout: self.timeout,
            max_retries: Some(0),
            ..TaskOptions::default()
        };
        match body.launch(&lease.executor, header, options) {
            Ok(future) => Ok(JoinHandle::new(future, thread, lease)),
            Err(e) => {
                runtime::release(lease);
                Err(io::Error::other(e))
            }
        }
    }

    /// Starts a thread that `scope` joins before it returns, as std's `spawn_scoped`.
    ///
    /// ```
    /// let total = strato::thread::scope(|s| {
    ///     let handle = strato::thread::Builder::new().spawn_scoped(s, || 5).unwrap();
    ///     handle.join().unwrap()
    /// });
    /// assert_eq!(total, 5);
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        body: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: Spawn<T>,
        T: Serialize + DeserializeOwned + 'static,
    {
        let handle = self.spawn(body)?;
        Ok(scope.track(handle))
    }
}
