//! The semantics of atomics (`AtomicI64`, `AtomicU64`, the narrower integers, `AtomicBool`,
//! `AtomicF64`) on a value in memory: the state server applies them to its objects, and the Redis backend to
//! the value it read, before a compare-and-set.

use crate::{Answer, ErrorKind, FetchOp, Op, Scalar};

/// Applies an atomic's operation to `value`; `None` if `op` is not an atomic's.
///
/// ```
/// use strato_proto::{apply_atomic, Answer, FetchOp, Op, Scalar};
/// let mut v = Scalar::U64(5);
/// let answer = apply_atomic(&mut v, &Op::Fetch(FetchOp::Add, Scalar::U64(2)));
/// assert_eq!((answer, v), (Some(Answer::Scalar(Scalar::U64(5))), Scalar::U64(7)));
/// ```
pub fn apply_atomic(value: &mut Scalar, op: &Op) -> Option<Answer> {
    Some(match op {
        Op::Load => Answer::Scalar(*value),
        Op::Store(new) => replace(value, *new).map_or_else(|e| e, |_| Answer::Done),
        Op::Swap(new) => replace(value, *new).unwrap_or_else(|e| e),
        Op::Fetch(fetch, arg) => fetch_update(value, *fetch, *arg),
        Op::CompareExchange { current, new } => compare_exchange(value, *current, *new),
        _ => return None,
    })
}

fn error(kind: ErrorKind, message: String) -> Answer {
    Answer::Error { kind, message }
}

fn same_flavour(a: Scalar, b: Scalar) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

fn flavour_error(have: Scalar, got: Scalar) -> Answer {
    error(
        ErrorKind::WrongType,
        format!("atomic holds {have:?}, operation gave {got:?}"),
    )
}

fn replace(value: &mut Scalar, new: Scalar) -> Result<Answer, Answer> {
    if !same_flavour(*value, new) {
        return Err(flavour_error(*value, new));
    }
    Ok(Answer::Scalar(std::mem::replace(value, new)))
}

fn compare_exchange(value: &mut Scalar, current: Scalar, new: Scalar) -> Answer {
    if !same_flavour(*value, current) || !same_flavour(*value, new) {
        return flavour_error(*value, new);
    }
    let equal = match (*value, current) {
        (Scalar::F64(a), Scalar::F64(b)) => a.to_bits() == b.to_bits(),
        (a, b) => a == b,
    };
    if equal {
        Answer::Exchanged(Ok(std::mem::replace(value, new)))
    } else {
        Answer::Exchanged(Err(*value))
    }
}

fn fetch_update(value: &mut Scalar, op: FetchOp, arg: Scalar) -> Answer {
    let previous = *value;
    let next = match (previous, arg) {
        (Scalar::U64(a), Scalar::U64(b)) => int_op(a, b, op).map(Scalar::U64),
        (Scalar::I64(a), Scalar::I64(b)) => int_op(a, b, op).map(Scalar::I64),
        (Scalar::U32(a), Scalar::U32(b)) => int_op(a, b, op).map(Scalar::U32),
        (Scalar::I32(a), Scalar::I32(b)) => int_op(a, b, op).map(Scalar::I32),
        (Scalar::U16(a), Scalar::U16(b)) => int_op(a, b, op).map(Scalar::U16),
        (Scalar::I16(a), Scalar::I16(b)) => int_op(a, b, op).map(Scalar::I16),
        (Scalar::U8(a), Scalar::U8(b)) => int_op(a, b, op).map(Scalar::U8),
        (Scalar::I8(a), Scalar::I8(b)) => int_op(a, b, op).map(Scalar::I8),
        (Scalar::Bool(a), Scalar::Bool(b)) => bool_op(a, b, op).map(Scalar::Bool),
        (Scalar::F64(a), Scalar::F64(b)) => float_op(a, b, op).map(Scalar::F64),
        _ => return flavour_error(previous, arg),
    };
    match next {
        Some(next) => {
            *value = next;
            Answer::Scalar(previous)
        }
        None => error(
            ErrorKind::Invalid,
            format!("{op:?} is not defined for {previous:?}"),
        ),
    }
}

trait Int: Copy + Ord {
    fn wrapping_add(self, b: Self) -> Self;
    fn wrapping_sub(self, b: Self) -> Self;
    fn and(self, b: Self) -> Self;
    fn or(self, b: Self) -> Self;
    fn xor(self, b: Self) -> Self;
    fn not(self) -> Self;
}

macro_rules! int {
    ($t:ty) => {
        impl Int for $t {
            fn wrapping_add(self, b: Self) -> Self {
                <$t>::wrapping_add(self, b)
            }
            fn wrapping_sub(self, b: Self) -> Self {
                <$t>::wrapping_sub(self, b)
            }
            fn and(self, b: Self) -> Self {
                self & b
            }
            fn or(self, b: Self) -> Self {
                self | b
            }
            fn xor(self, b: Self) -> Self {
                self ^ b
            }
            fn not(self) -> Self {
                !self
            }
        }
    };
}
int!(u64);
int!(i64);
int!(u32);
int!(i32);
int!(u16);
int!(i16);
int!(u8);
int!(i8);

fn int_op<T: Int>(a: T, b: T, op: FetchOp) -> Option<T> {
    Some(match op {
        FetchOp::Add => a.wrapping_add(b),
        FetchOp::Sub => a.wrapping_sub(b),
        FetchOp::And => a.and(b),
        FetchOp::Or => a.or(b),
        FetchOp::Xor => a.xor(b),
        FetchOp::Nand => a.and(b).not(),
        FetchOp::Max => a.max(b),
        FetchOp::Min => a.min(b),
    })
}

fn bool_op(a: bool, b: bool, op: FetchOp) -> Option<bool> {
    match op {
        FetchOp::And => Some(a & b),
        FetchOp::Or => Some(a | b),
        FetchOp::Xor => Some(a ^ b),
        FetchOp::Nand => Some(!(a & b)),
        _ => None,
    }
}

fn float_op(a: f64, b: f64, op: FetchOp) -> Option<f64> {
    match op {
        FetchOp::Add => Some(a + b),
        FetchOp::Sub => Some(a - b),
        FetchOp::Max => Some(a.max(b)),
        FetchOp::Min => Some(a.min(b)),
        _ => None,
    }
}
