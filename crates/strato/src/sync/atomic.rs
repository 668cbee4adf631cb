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

/// Shared code of every atomic: one handle, scalar in, scalar out. On the state server's
/// machine the value's word is located once per handle and operated on here (two-tier
/// state, docs/two-tier.md); otherwise, and whenever the word says the server must answer
/// (the object was deleted), the operation is a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cell(
    Handle,
    #[serde(skip)] std::sync::OnceLock<Option<strato_client::LocalWord>>,
);

impl Cell {
    fn open(client: &Client, name: ObjectName, init: Scalar) -> Result<Cell, Error> {
        Handle::open(client, name, Init::Atomic(init), Role::Handle).map(Cell::of)
    }

    fn of(handle: Handle) -> Cell {
        Cell(handle, std::sync::OnceLock::new())
    }

    /// The local word, located on first use (`None`: this process goes to the server).
    fn local(&self) -> &Option<strato_client::LocalWord> {
        self.1.get_or_init(|| {
            let handle = &self.0;
            handle.client().locate(handle.name()).ok().flatten()
        })
    }

    /// Runs `op` on the local word if there is one, else through the server.
    fn op(&self, op: Op) -> Result<Answer, Error> {
        if let Some(answer) = self.local().as_ref().and_then(|word| word.apply(&op)) {
            return answer;
        }
        self.0.op(op)
    }

    /// A `fetch_*`: a 64-bit integer add (or subtract) on a local word takes the word's own
    /// path, with no [`Op`] or [`Answer`] built; everything else runs as [`Self::op`].
    fn fetch(&self, fetch: FetchOp, value: Scalar, what: &str) -> Scalar {
        let delta = match (fetch, value) {
            (FetchOp::Add, Scalar::U64(n)) => Some(n),
            (FetchOp::Add, Scalar::I64(n)) => Some(n as u64),
            (FetchOp::Sub, Scalar::U64(n)) => Some(n.wrapping_neg()),
            (FetchOp::Sub, Scalar::I64(n)) => Some((n as u64).wrapping_neg()),
            _ => None,
        };
        let local = || self.local().as_ref()?.fetch_add(value.tag(), delta?);
        match local().and_then(|bits| Scalar::from_bits(value.tag(), bits)) {
            Some(previous) => previous,
            None => self.call(Op::Fetch(fetch, value), what),
        }
    }

    fn call(&self, op: Op, what: &str) -> Scalar {
        expect(self.op(op).and_then(scalar_of), what)
    }

    fn store(&self, value: Scalar) {
        let answer = self.op(Op::Store(value)).and_then(|answer| match answer {
            Answer::Done => Ok(()),
            other => Err(unexpected(other)),
        });
        expect(answer, "store")
    }

    fn cas(&self, current: Scalar, new: Scalar) -> Result<Scalar, Scalar> {
        let answer = self.op(Op::CompareExchange { current, new });
        expect(answer.and_then(exchanged), "compare_exchange")
    }
}

/// A value type of an atomic and the [`Scalar`] it travels as.
trait Wire: Copy + std::fmt::Debug {
    fn scalar(self) -> Scalar;
    fn from_scalar(scalar: Scalar) -> Option<Self>;
}

macro_rules! wire {
    ($($t:ty => $variant:ident),*) => {$(
        impl Wire for $t {
            fn scalar(self) -> Scalar {
                Scalar::$variant(self)
            }
            fn from_scalar(scalar: Scalar) -> Option<Self> {
                match scalar {
                    Scalar::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

wire!(u64 => U64, i64 => I64, bool => Bool, f64 => F64, u32 => U32, i32 => I32,
      u16 => U16, i16 => I16, u8 => U8, i8 => I8);

// `usize` and `isize` are 64 bits wide wherever strato runs: they travel as `u64` and `i64`
// (so they wrap where std's do, and keep the Redis backend's one-script add).
#[cfg(target_pointer_width = "64")]
impl Wire for usize {
    fn scalar(self) -> Scalar {
        Scalar::U64(self as u64)
    }
    fn from_scalar(scalar: Scalar) -> Option<Self> {
        u64::from_scalar(scalar).map(|v| v as usize)
    }
}

#[cfg(target_pointer_width = "64")]
impl Wire for isize {
    fn scalar(self) -> Scalar {
        Scalar::I64(self as i64)
    }
    fn from_scalar(scalar: Scalar) -> Option<Self> {
        i64::from_scalar(scalar).map(|v| v as isize)
    }
}

macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $t:ty, [$($fetch:ident => $op:ident),*]) => {
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
                Cell::open(client, name.into(), value.scalar()).map($name)
            }

            fn unwrap(scalar: Scalar) -> $t {
                <$t as Wire>::from_scalar(scalar)
                    .unwrap_or_else(|| panic!("strato: {} holds {scalar:?}", stringify!($name)))
            }

            /// Loads the value.
            pub fn load(&self, _order: Ordering) -> $t {
                Self::unwrap(self.0.call(Op::Load, "load"))
            }

            /// Stores a value.
            pub fn store(&self, value: $t, _order: Ordering) {
                self.0.store(value.scalar());
            }

            /// Stores a value, returning the previous one.
            pub fn swap(&self, value: $t, _order: Ordering) -> $t {
                Self::unwrap(self.0.call(Op::Swap(value.scalar()), "swap"))
            }

            /// Stores `new` if the value is `current`; `Ok(previous)` or `Err(actual)`.
            pub fn compare_exchange(&self, current: $t, new: $t, _success: Ordering, _failure: Ordering) -> Result<$t, $t> {
                self.0
                    .cas(current.scalar(), new.scalar())
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

            /// Applies `f` to the value until the compare-exchange succeeds, returning the
            /// previous value (std's `update`): `f` may run more than once, its result is
            /// stored once.
            pub fn update(&self, set_order: Ordering, fetch_order: Ordering, mut f: impl FnMut($t) -> $t) -> $t {
                match self.fetch_update(set_order, fetch_order, |v| Some(f(v))) {
                    Ok(previous) | Err(previous) => previous,
                }
            }

            /// As [`Self::fetch_update`] (std's `try_update`, its newer name).
            pub fn try_update(&self, set_order: Ordering, fetch_order: Ordering, f: impl FnMut($t) -> Option<$t>) -> Result<$t, $t> {
                self.fetch_update(set_order, fetch_order, f)
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
                    Self::unwrap(self.0.fetch(FetchOp::$op, value.scalar(), stringify!($fetch)))
                }
            )*
        }

        impl From<$t> for $name {
            /// A new anonymous atomic holding `value` ([`Self::new`]).
            fn from(value: $t) -> Self {
                Self::new(value)
            }
        }

        impl Default for $name {
            /// A new anonymous atomic holding the type's default ([`Self::new`]).
            fn default() -> Self {
                Self::new(<$t>::default())
            }
        }
    };
}

/// An integer atomic: std's method set, arithmetic wrapping at the type's width.
macro_rules! integer_atomic {
    ($name:ident, $t:ty, $std:literal, $example:literal) => {
        atomic!(
            #[doc = concat!("A shared `", stringify!($t), "` ([`std::sync::atomic::", $std, "`]'s methods; arithmetic wraps at its width).")]
            ///
            /// ```
            #[doc = $example]
            /// ```
            $name, $t,
            [fetch_add => Add, fetch_sub => Sub, fetch_and => And, fetch_or => Or, fetch_xor => Xor,
             fetch_nand => Nand, fetch_max => Max, fetch_min => Min]
        );
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
    AtomicU64, u64,
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
    AtomicI64, i64,
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
    AtomicBool, bool,
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
    AtomicF64, f64,
    [fetch_add => Add, fetch_sub => Sub, fetch_max => Max, fetch_min => Min]
);

impl AtomicBool {
    /// Negates the value, returning the previous one.
    pub fn fetch_not(&self, order: Ordering) -> bool {
        self.fetch_xor(true, order)
    }
}

integer_atomic!(
    AtomicUsize,
    usize,
    "AtomicUsize",
    "use strato::sync::atomic::{AtomicUsize, Ordering};
let next = AtomicUsize::new(0);
assert_eq!(next.fetch_add(1, Ordering::Relaxed), 0);
assert_eq!(next.fetch_sub(2, Ordering::Relaxed), 1);
assert_eq!(next.load(Ordering::Relaxed), usize::MAX);"
);

integer_atomic!(
    AtomicIsize,
    isize,
    "AtomicIsize",
    "use strato::sync::atomic::{AtomicIsize, Ordering};
let balance = AtomicIsize::new(-3);
assert_eq!(balance.fetch_max(4, Ordering::SeqCst), -3);
assert_eq!(balance.into_inner(), 4);"
);

integer_atomic!(
    AtomicU32,
    u32,
    "AtomicU32",
    "use strato::sync::atomic::{AtomicU32, Ordering};
let a = AtomicU32::new(u32::MAX);
assert_eq!(a.fetch_add(2, Ordering::Relaxed), u32::MAX);
assert_eq!(a.load(Ordering::Relaxed), 1);"
);

integer_atomic!(
    AtomicI32,
    i32,
    "AtomicI32",
    "use strato::sync::atomic::{AtomicI32, Ordering};
let a = AtomicI32::new(i32::MAX);
assert_eq!(a.fetch_add(1, Ordering::Relaxed), i32::MAX);
assert_eq!(a.load(Ordering::Relaxed), i32::MIN);"
);

integer_atomic!(
    AtomicU16,
    u16,
    "AtomicU16",
    "use strato::sync::atomic::{AtomicU16, Ordering};
let a = AtomicU16::new(0);
assert_eq!(a.fetch_sub(1, Ordering::Relaxed), 0);
assert_eq!(a.fetch_min(7, Ordering::Relaxed), u16::MAX);
assert_eq!(a.load(Ordering::Relaxed), 7);"
);

integer_atomic!(
    AtomicI16,
    i16,
    "AtomicI16",
    "use strato::sync::atomic::{AtomicI16, Ordering};
let a = AtomicI16::new(i16::MIN);
assert_eq!(a.fetch_sub(1, Ordering::Relaxed), i16::MIN);
assert_eq!(a.load(Ordering::Relaxed), i16::MAX);"
);

integer_atomic!(
    AtomicU8,
    u8,
    "AtomicU8",
    "use strato::sync::atomic::{AtomicU8, Ordering};
let a = AtomicU8::new(0b1100);
assert_eq!(a.fetch_nand(0b1010, Ordering::Relaxed), 0b1100);
assert_eq!(a.load(Ordering::Relaxed), 0b1111_0111);
assert_eq!(a.compare_exchange(0b1111_0111, 1, Ordering::SeqCst, Ordering::SeqCst), Ok(0b1111_0111));"
);

integer_atomic!(
    AtomicI8,
    i8,
    "AtomicI8",
    "use strato::sync::atomic::{AtomicI8, Ordering};
let a = AtomicI8::new(100);
assert_eq!(a.fetch_add(100, Ordering::Relaxed), 100);
assert_eq!(a.load(Ordering::Relaxed), -56);
assert_eq!(a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_mul(2)), Ok(-56));
assert_eq!(a.update(Ordering::SeqCst, Ordering::SeqCst, |v| v + 1), -112);
assert_eq!(a.try_update(Ordering::SeqCst, Ordering::SeqCst, |_| None), Err(-111));
assert_eq!(a.load(Ordering::Relaxed), -111);"
);
