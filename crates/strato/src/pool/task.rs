//! What a pool's task runs on its worker: a chunk of items through the user's function,
//! after the pool's initializer (once per worker process and pool).

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::executor::func::{conjure, Entry, FnRef};

/// One task of a pool: its items, and what the worker must have run before them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Chunk<A> {
    /// The pool, for the per-process record of initializers run.
    pub pool: u64,
    /// The pool's initializer, if it has one.
    pub init: Option<FnRef>,
    /// The items.
    pub items: Vec<A>,
}

/// Fails to compile, with a hint, when `F` is not a `fn` item or capture-free closure.
pub(crate) const fn assert_zero_sized<F>() {
    assert!(
        std::mem::size_of::<F>() == 0,
        "strato::Pool: the function must be a `fn` item or a closure that captures nothing; \
         pass what it needs as its argument"
    );
}

/// The task of `map`-like calls: `f` on every item of the chunk.
pub(crate) fn run_chunk<F, A, R>(chunk: Chunk<A>) -> Vec<R>
where
    F: Fn(A) -> R + Copy + 'static,
{
    initialize(chunk.pool, chunk.init);
    chunk.items.into_iter().map(conjure::<F>()).collect()
}

/// The task of `starmap`: `f` on every tuple of the chunk, spread over its arguments.
pub(crate) fn run_star_chunk<F, Args, R>(chunk: Chunk<Args>) -> Vec<R>
where
    F: StarFn<Args, Output = R>,
{
    initialize(chunk.pool, chunk.init);
    let f = conjure::<F>();
    chunk.items.into_iter().map(|args| f.apply(args)).collect()
}

/// A function called with the fields of a tuple as its arguments (Python's `f(*args)`), as
/// [`Pool::starmap`](super::Pool::starmap) does; implemented for functions of 1 to 4
/// arguments that are `fn` items or closures without captures.
///
/// ```
/// use strato::pool::StarFn;
///
/// fn add(a: u32, b: u32) -> u32 {
///     a + b
/// }
///
/// assert_eq!(add.apply((2, 3)), 5);
/// ```
pub trait StarFn<Args>: Copy + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function with the tuple's fields as its arguments.
    ///
    /// ```
    /// use strato::pool::StarFn;
    ///
    /// let join = |a: String, b: char, c: u8| format!("{a}{b}{c}");
    /// assert_eq!(join.apply(("x".to_string(), '-', 1)), "x-1");
    /// ```
    fn apply(&self, args: Args) -> Self::Output;
}

macro_rules! star_fn {
    ($($arg:ident),+) => {
        impl<Func, Out, $($arg),+> StarFn<($($arg,)+)> for Func
        where
            Func: Fn($($arg),+) -> Out + Copy + 'static,
        {
            type Output = Out;

            #[allow(non_snake_case)]
            fn apply(&self, ($($arg,)+): ($($arg,)+)) -> Out {
                self($($arg),+)
            }
        }
    };
}

star_fn!(A);
star_fn!(A, B);
star_fn!(A, B, C);
star_fn!(A, B, C, D);

/// The pools whose initializer ran in this process.
static INITIALIZED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn initialized() -> MutexGuard<'static, Vec<u64>> {
    INITIALIZED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the initializer of `pool` unless it already ran in this process. A panicking
/// initializer fails the task (and runs again before the next one).
fn initialize(pool: u64, init: Option<FnRef>) {
    let Some(init) = init else {
        return;
    };
    let mut done = initialized();
    if done.contains(&pool) {
        return;
    }
    // SAFETY: the reference was made by `FnRef::of` in the driver, and this worker joined
    // the pool's task board only after the server checked it runs the driver's binary.
    let entry = unsafe { init.resolve() };
    if let Err(message) = entry(&[]) {
        panic!("the pool's initializer failed: {message}");
    }
    done.push(pool);
}

/// The entry that runs an initializer `I` (a zero-sized `fn()`).
pub(crate) fn init_entry<I>(_: I) -> Entry
where
    I: Fn() + Copy + 'static,
{
    const { assert_zero_sized::<I>() };
    run_init::<I>
}

fn run_init<I>(_: &[u8]) -> Result<Vec<u8>, String>
where
    I: Fn() + Copy + 'static,
{
    conjure::<I>()();
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add3(a: u8, b: u8, c: u8) -> u8 {
        a + b + c
    }

    #[test]
    fn star_functions_spread_tuples() {
        assert_eq!(add3.apply((1, 2, 3)), 6);
        assert_eq!((|x: u8| x * 2).apply((4,)), 8);
    }

    #[test]
    fn chunks_map_their_items_in_order() {
        let chunk = Chunk {
            pool: 1,
            init: None,
            items: vec![1u32, 2, 3],
        };
        let run = chunk_fn(|x: u32| x + 1);
        assert_eq!(run(chunk), vec![2, 3, 4]);
    }

    /// Names `F` for `run_chunk` in a test (a closure's type cannot be written).
    fn chunk_fn<F: Fn(u32) -> u32 + Copy + 'static>(_: F) -> impl Fn(Chunk<u32>) -> Vec<u32> {
        run_chunk::<F, u32, u32>
    }
}
