//! What a thread body can be, and how each kind travels to its worker.
//!
//! A `fn` item or a closure without captures is zero-sized: the worker only needs to know
//! *which* function, so it travels as the monomorphised task [`run_plain`]. A capturing
//! closure wrapped in [`closure!`](crate::closure) is a value whose captures serialize; it
//! travels as the argument of the monomorphised task [`run_closure`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::handle::{enter, Header};
use crate::executor::func::conjure;
use crate::executor::{Executor, ResponseFuture, TaskError, TaskOptions};

/// A thread body that can run in another process: a `fn` item, a closure without
/// captures, or a capturing closure wrapped in [`closure!`](crate::closure).
///
/// ```
/// fn answer() -> u32 {
///     42
/// }
///
/// let label = String::from("answer");
/// let plain = strato::thread::spawn(answer);
/// let captured = strato::thread::spawn(strato::closure!(move || format!("{}!", label)));
/// assert_eq!(plain.join().unwrap(), 42);
/// assert_eq!(captured.join().unwrap(), "answer!");
/// ```
pub trait Spawn<T>: Sized {
    /// Submits the body as one task.
    #[doc(hidden)]
    fn launch(
        self,
        executor: &Executor,
        header: Header,
        options: TaskOptions,
    ) -> Result<ResponseFuture<T>, TaskError>;
}

impl<F, T> Spawn<T> for F
where
    F: FnOnce() -> T + Copy + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    fn launch(
        self,
        executor: &Executor,
        header: Header,
        options: TaskOptions,
    ) -> Result<ResponseFuture<T>, TaskError> {
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "strato::thread: this closure captures variables; wrap it in \
                 `strato::closure!(move || ...)` so that its captures travel with it"
            )
        };
        executor.call_async_with(run_plain::<F, T>, header, options)
    }
}

impl<C, T> Spawn<T> for Closure<C>
where
    C: serde_closure::traits::FnOnce<(), Output = T> + Serialize + DeserializeOwned + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    fn launch(
        self,
        executor: &Executor,
        header: Header,
        options: TaskOptions,
    ) -> Result<ResponseFuture<T>, TaskError> {
        executor.call_async_with(run_closure::<C, T>, (header, self), options)
    }
}

/// The task of a zero-sized body: the function is the type, the argument only the header.
fn run_plain<F, T>(header: Header) -> T
where
    F: FnOnce() -> T + Copy + 'static,
{
    let _current = enter(header);
    conjure::<F>()()
}

/// The task of a wrapped closure: the closure's captures are the argument.
fn run_closure<C, T>((header, closure): (Header, Closure<C>)) -> T
where
    C: serde_closure::traits::FnOnce<(), Output = T>,
{
    let _current = enter(header);
    closure.0.call_once(())
}

/// A closure whose captures serialize, made by [`closure!`](crate::closure): a thread body
/// that can run in another process.
///
/// ```
/// let base = 40;
/// let body = strato::closure!(move || base + 2);
/// assert_eq!(strato::thread::spawn(body).join().unwrap(), 42);
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
#[must_use = "a closure does nothing until it is spawned"]
pub struct Closure<C>(C);

impl<C> Closure<C> {
    /// Wraps a closure made by `serde_closure::FnOnce!` (what [`closure!`](crate::closure)
    /// expands to).
    #[doc(hidden)]
    pub fn __wrap(closure: C) -> Self {
        Closure(closure)
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Closure<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Wraps a capturing closure so that its captures travel with it to the worker process
/// that runs it: `thread::spawn(closure!(move || …))` where std has
/// `thread::spawn(move || …)`.
///
/// Every captured value must be `Serialize + Deserialize` (serde's `rc` feature is on, so
/// `Arc<T>` captures work); handles of shared objects such as
/// [`sync::Mutex`](crate::sync::Mutex) or [`sync::atomic::AtomicU64`](crate::sync::atomic)
/// travel as references to the same object. The expansion names the `serde_closure`
/// crate, so a crate that uses this macro lists `serde_closure = "0.3"` among its
/// dependencies. [`local::closure!`](crate::local::closure) is the std twin: the bare
/// closure.
///
/// The macro finds the captures by reading the closure's tokens, so it cannot see a
/// variable named only inside a format string: write `format!("{}", name)`, not
/// `format!("{name}")` (the latter fails to compile with a complaint about `Copy`).
///
/// ```
/// use strato::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use strato::{closure, thread};
///
/// let hits = Arc::new(AtomicU64::new(0));
/// let handles: Vec<_> = (0..2)
///     .map(|i| {
///         let hits = hits.clone();
///         thread::spawn(closure!(move || hits.fetch_add(i + 1, Ordering::SeqCst)))
///     })
///     .collect();
/// handles.into_iter().for_each(|h| drop(h.join().unwrap()));
/// assert_eq!(hits.load(Ordering::SeqCst), 3);
/// ```
#[macro_export]
macro_rules! closure {
    ($($closure:tt)+) => {
        $crate::thread::Closure::__wrap($crate::__private::serde_closure::FnOnce!($($closure)+))
    };
}

/// The std twin of [`closure!`]: expands to the bare closure. Reached as
/// [`strato::local::closure`](crate::local::closure).
#[doc(hidden)]
#[macro_export]
macro_rules! __closure_local {
    ($($closure:tt)+) => {
        $($closure)+
    };
}
