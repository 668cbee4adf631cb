//! Atomics whose value lives on the state server: `std::sync::atomic`'s method names and
//! signatures, every operation linearizable (the `Ordering` arguments are accepted and all
//! behave as `SeqCst`).
//!
//! ```
//! use strato::sync::atomic::{AtomicU64, Ordering};
//!
//! let hits = AtomicU64::new(0);
//! hits.fetch_add(5, Ordering::SeqCst);
//! assert_eq!(hits.load(Ordering::SeqCst), 5);
//! assert_eq!(hits.compare_exchange(5, 7, Ordering::SeqCst, Ordering::SeqCst), Ok(5));
//! ```

pub use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use strato_client::{Client, Error};
use strato_proto::{Answer, FetchOp, Init, Op, Role, Scalar};

use crate::handle::{default_client, expect, unexpected, Handle};
use crate::ObjectName;

fn scalar_of(answer: Answer) -> Result<Scalar, Error> {
    match answer {
        Answer::Scalar(s) => Ok(s),
        other => Err(unexpected(other)),
    }
}

fn exchanged(answer: Answer) -> Result<Result<Scalar, Scalar>, Error> {
    match answer {
        Answer::Exchanged(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

/// Shared code of every atomic: one handle, scalar in, scalar out.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cell(Handle);

impl Cell {
    fn open(client: &Client, name: ObjectName, init: Scalar) -> Result<Cell, Error> {
        Handle::open(client, name, Init::Atomic(init), Role::Handle).map(Cell)
    }

    fn call(&self, op: Op, what: &str) -> Scalar {
        expect(self.0.op(op).and_then(scalar_of), what)
    }

    fn store(&self, value: Scalar) {
        let answer = self.0.op(Op::Store(value)).and_then(|answer| match answer {
            Answer::Done => Ok(()),
            other => Err(unexpected(other)),
        });
        expect(answer, "store")
    }

    fn cas(&self, current: Scalar, new: Scalar) -> Result<Scalar, Scalar> {
        let answer = self.0.op(Op::CompareExchange { current, new });
        expect(answer.and_then(exchanged), "compare_exchange")
    }
}

macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $t:ty, $variant:ident, [$($fetch:ident => $op:ident),*]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub struct $name(Cell);

        impl $name {
            /// A new anonymous atomic on the default state server.
            pub fn new(value: $t) -> Self {
                let client = default_client(concat!(stringify!($name), "::new"));
                expect(Self::open(&client, ObjectName::anonymous(), value), concat!(stringify!($name), "::new"))
            }

            /// Opens the atomic `name` on `client`, creating it with `value` if absent.
            pub fn open(client: &Client, name: impl Into<ObjectName>, value: $t) -> Result<Self, Error> {
                Cell::open(client, name.into(), Scalar::$variant(value)).map($name)
            }

            fn unwrap(scalar: Scalar) -> $t {
                match scalar {
                    Scalar::$variant(v) => v,
                    other => panic!("strato: {} holds {other:?}", stringify!($name)),
                }
            }

            /// Loads the value.
            pub fn load(&self, _order: Ordering) -> $t {
                Self::unwrap(self.0.call(Op::Load, "load"))
            }

            /// Stores a value.
            pub fn store(&self, value: $t, _order: Ordering) {
                self.0.store(Scalar::$variant(value));
            }

            /// Stores a value, returning the previous one.
            pub fn swap(&self, value: $t, _order: Ordering) -> $t {
                Self::unwrap(self.0.call(Op::Swap(Scalar::$variant(value)), "swap"))
            }

            /// Stores `new` if the value is `current`; `Ok(previous)` or `Err(actual)`.
            pub fn compare_exchange(&self, current: $t, new: $t, _success: Ordering, _failure: Ordering) -> Result<$t, $t> {
                self.0
                    .cas(Scalar::$variant(current), Scalar::$variant(new))
                    .map(Self::unwrap)
                    .map_err(Self::unwrap)
            }

            /// As [`Self::compare_exchange`]; it never fails spuriously.
            pub fn compare_exchange_weak(&self, current: $t, new: $t, success: Ordering, failure: Ordering) -> Result<$t, $t> {
                self.compare_exchange(current, new, success, failure)
            }

            /// Applies `f` until the compare-exchange succeeds or `f` returns `None`.
            pub fn fetch_update<F>(&self, set_order: Ordering, fetch_order: Ordering, mut f: F) -> Result<$t, $t>
            where
                F: FnMut($t) -> Option<$t>,
            {
                let mut previous = self.load(fetch_order);
                while let Some(next) = f(previous) {
                    match self.compare_exchange(previous, next, set_order, fetch_order) {
                        Ok(v) => return Ok(v),
                        Err(actual) => previous = actual,
                    }
                }
                Err(previous)
            }

            /// Consumes the handle and returns the value.
            pub fn into_inner(self) -> $t {
                self.load(Ordering::SeqCst)
            }

            /// The object's name on the server.
            pub fn name(&self) -> &str {
                self.0 .0.name()
            }

            $(
                #[doc = concat!("`", stringify!($op), "` the value with `value`, returning the previous value.")]
                pub fn $fetch(&self, value: $t, _order: Ordering) -> $t {
                    Self::unwrap(self.0.call(Op::Fetch(FetchOp::$op, Scalar::$variant(value)), stringify!($fetch)))
                }
            )*
        }
    };
}

atomic!(
    /// A shared `u64` ([`std::sync::atomic::AtomicU64`]'s methods; arithmetic wraps).
    ///
    /// ```
    /// use strato::sync::atomic::{AtomicU64, Ordering};
    /// let a = AtomicU64::new(u64::MAX);
    /// assert_eq!(a.fetch_add(2, Ordering::Relaxed), u64::MAX);
    /// assert_eq!(a.load(Ordering::Relaxed), 1);
    /// ```
    AtomicU64, u64, U64,
    [fetch_add => Add, fetch_sub => Sub, fetch_and => And, fetch_or => Or, fetch_xor => Xor,
     fetch_nand => Nand, fetch_max => Max, fetch_min => Min]
);

atomic!(
    /// A shared `i64` ([`std::sync::atomic::AtomicI64`]'s methods; arithmetic wraps).
    ///
    /// ```
    /// use strato::sync::atomic::{AtomicI64, Ordering};
    /// let a = AtomicI64::new(-1);
    /// assert_eq!(a.fetch_min(-5, Ordering::Relaxed), -1);
    /// assert_eq!(a.load(Ordering::Relaxed), -5);
    /// ```
    AtomicI64, i64, I64,
    [fetch_add => Add, fetch_sub => Sub, fetch_and => And, fetch_or => Or, fetch_xor => Xor,
     fetch_nand => Nand, fetch_max => Max, fetch_min => Min]
);

atomic!(
    /// A shared `bool` ([`std::sync::atomic::AtomicBool`]'s methods).
    ///
    /// ```
    /// use strato::sync::atomic::{AtomicBool, Ordering};
    /// let flag = AtomicBool::new(false);
    /// assert!(!flag.fetch_or(true, Ordering::SeqCst));
    /// assert!(flag.load(Ordering::SeqCst));
    /// ```
    AtomicBool, bool, Bool,
    [fetch_and => And, fetch_or => Or, fetch_xor => Xor, fetch_nand => Nand]
);

atomic!(
    /// A shared `f64`: load, store, swap, compare-exchange (bitwise), and `fetch_add`,
    /// `fetch_sub`, `fetch_max`, `fetch_min` (std has no `AtomicF64`; these follow the
    /// `atomic_float` crate).
    ///
    /// ```
    /// use strato::sync::atomic::{AtomicF64, Ordering};
    /// let sum = AtomicF64::new(0.5);
    /// sum.fetch_add(0.25, Ordering::SeqCst);
    /// assert_eq!(sum.load(Ordering::SeqCst), 0.75);
    /// ```
    AtomicF64, f64, F64,
    [fetch_add => Add, fetch_sub => Sub, fetch_max => Max, fetch_min => Min]
);

impl AtomicBool {
    /// Negates the value, returning the previous one.
    pub fn fetch_not(&self, order: Ordering) -> bool {
        self.fetch_xor(true, order)
    }
}
