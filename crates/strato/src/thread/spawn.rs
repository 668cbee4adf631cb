//! What a thread body can be, and how each kind travels to its worker.
//!
//! A `fn` item or a closure without captures is zero-sized: the worker only needs to know
//! *which* function, so it travels as the monomorphised task [`run_plain`]. A capturing
//! closure wrapped in [`closure!`](crate::closure) is a value whose captures serialize; it
//! travels as the argument of the monomorphised task [`run_closure`].

use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

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
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run as a strato thread",
    label = "a closure that captures variables must be wrapped in `strato::closure!`; the result must be `Serialize + DeserializeOwned`",
    note = "write `thread::spawn(strato::closure!(move || ...))`: `closure!` sends the captured \
            values to the worker process; a `fn` item or a closure that captures nothing goes as it is",
    note = "the captures, and the value the body returns, must be `Serialize + DeserializeOwned`"
)]
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

#[diagnostic::do_not_recommend]
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

impl<E, F, T> Spawn<T> for Closure<E, F>
where
    E: Serialize + DeserializeOwned + 'static,
    F: FnOnce(E) -> T + Copy + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    fn launch(
        self,
        executor: &Executor,
        header: Header,
        options: TaskOptions,
    ) -> Result<ResponseFuture<T>, TaskError> {
        executor.call_async_with(run_closure::<E, F, T>, (header, self.captures), options)
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

/// The task of a wrapped closure: the body is the type, the captures the argument.
fn run_closure<E, F, T>((header, captures): (Header, E)) -> T
where
    F: FnOnce(E) -> T + Copy + 'static,
{
    let _current = enter(header);
    conjure::<F>()(captures)
}

/// A closure whose captures serialize, made by [`closure!`](crate::closure): a thread body
/// that can run in another process.
///
/// `E` is the captured values, `F` the body: a closure that captures nothing and takes the
/// captured values as its argument, so the worker process makes it from its type alone.
///
/// ```
/// let base = 40;
/// let body = strato::closure!(move || base + 2);
/// assert_eq!(strato::thread::spawn(body).join().unwrap(), 42);
/// ```
#[must_use = "a closure does nothing until it is spawned"]
pub struct Closure<E, F> {
    captures: E,
    body: PhantomData<F>,
}

impl<E, F> Closure<E, F> {
    /// Gives the body's argument the captures' type before the body is type-checked (what
    /// [`closure!`](crate::closure) expands to).
    #[doc(hidden)]
    pub fn __body<T>(_captures: &E, body: F) -> F
    where
        F: FnOnce(E) -> T,
    {
        body
    }

    /// Pairs the captures with the body (what [`closure!`](crate::closure) expands to).
    #[doc(hidden)]
    pub fn __new<T>(captures: E, _body: F) -> Self
    where
        F: FnOnce(E) -> T + Copy + 'static,
    {
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "strato::closure!: the closure uses a variable that `closure!` did not see \
                 (one named only inside a macro it cannot read); name it in plain code in \
                 the closure, e.g. `let value = &value;` as its first line"
            )
        };
        Closure {
            captures,
            body: PhantomData,
        }
    }
}

impl<E: Clone, F> Clone for Closure<E, F> {
    fn clone(&self) -> Self {
        Closure {
            captures: self.captures.clone(),
            body: PhantomData,
        }
    }
}

impl<E: std::fmt::Debug, F> std::fmt::Debug for Closure<E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closure")
            .field("captures", &self.captures)
            .finish_non_exhaustive()
    }
}

/// Wraps a capturing closure so that its captures travel with it to the worker process
/// that runs it: `thread::spawn(closure!(move || …))` where std has
/// `thread::spawn(move || …)`.
///
/// Every captured value must be `Serialize + Deserialize` (serde's `rc` feature is on, so
/// `Arc<T>` captures work); handles of shared objects such as
/// [`sync::Mutex`](crate::sync::Mutex) or [`sync::atomic::AtomicU64`](crate::sync::atomic)
/// travel as references to the same object. Captures move into the closure, `move` or not.
/// A crate needs no dependency but `strato` to use it.
/// [`local::closure!`](crate::local::closure) is the std twin: the bare closure.
///
/// The macro finds the captures by reading the closure's tokens: a lower-case name that
/// the closure does not bind itself and does not call as a function is a capture, and so is
/// a name inside `format!("{name}")` and std's other formatting macros. A variable named
/// only inside another macro it cannot read as expressions is a compile error saying so.
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
///
/// A variable that the closure names only inside a macro whose arguments are not
/// expressions cannot be seen, and the build stops at the check that the body captured
/// nothing (E0080, "`closure!` did not see"):
///
/// ```compile_fail,E0080
/// macro_rules! add { ($a:ident plus $b:ident) => { $a + $b } }
/// let (x, y) = (1, 2);
/// strato::thread::spawn(strato::closure!(move || add!(x plus y))).join().unwrap();
/// ```
///
/// Forgetting `closure!` around a capturing closure is an error that says to use it:
///
/// ```compile_fail,E0277
/// let label = String::from("answer");
/// strato::thread::spawn(move || label.len()).join().unwrap();
/// ```
#[macro_export]
macro_rules! closure {
    ($($closure:tt)+) => {
        $crate::__private::closure_impl!($crate; $($closure)+)
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
