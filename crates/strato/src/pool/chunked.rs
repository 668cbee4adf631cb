//! [`Chunked`]: a pool's `map`-like calls with a chosen chunksize.

use serde::{de::DeserializeOwned, Serialize};

use super::{AsyncResult, Pool, PoolError, StarFn};

/// A pool's `map`-like calls with a chosen chunksize; made by [`Pool::chunksize`].
///
/// ```
/// let pool = strato::Pool::new(2).unwrap();
/// let one_task_each = pool.chunksize(1);
/// assert_eq!(one_task_each.map(|x: u8| x, [7, 8]).unwrap(), vec![7, 8]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chunked<'a> {
    pub(super) pool: &'a Pool,
    pub(super) chunksize: usize,
}

impl Chunked<'_> {
    /// [`Pool::map`] with this chunksize.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// assert_eq!(pool.chunksize(2).map(|x: u8| x + 1, [1, 2, 3]).unwrap(), vec![2, 3, 4]);
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)?.get()
    }

    /// [`Pool::map_async`] with this chunksize.
    ///
    /// ```
    /// let pool = strato::Pool::new(2).unwrap();
    /// let result = pool.chunksize(5).map_async(|x: u8| x, 0..10).unwrap();
    /// assert_eq!(result.get().unwrap().len(), 10);
    /// ```
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let items = items.into_iter().collect();
        self.pool.map_async_sized(f, items, Some(self.chunksize))
    }

    /// [`Pool::starmap`] with this chunksize.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// let sums = pool.chunksize(1).starmap(|a: u8, b: u8| a + b, [(1, 1), (2, 2)]).unwrap();
    /// assert_eq!(sums, vec![2, 4]);
    /// ```
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, Output = R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.starmap_async(f, items)?.get()
    }

    /// [`Pool::starmap_async`] with this chunksize.
    ///
    /// ```
    /// let pool = strato::Pool::new(1).unwrap();
    /// let result = pool.chunksize(3).starmap_async(|a: u8, b: u8| a * b, [(2, 3)]).unwrap();
    /// assert_eq!(result.get(), Ok(vec![6]));
    /// ```
    pub fn starmap_async<F, Args, R, I>(
        &self,
        f: F,
        items: I,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: StarFn<Args, Output = R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = Args>,
    {
        let items = items.into_iter().collect();
        self.pool
            .starmap_async_sized(f, items, Some(self.chunksize))
    }
}
