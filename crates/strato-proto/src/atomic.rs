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

impl Scalar {
    /// The flavour's tag, 1 to 10 (0 is no flavour): what an arena slot's header holds.
    ///
    /// ```
    /// use strato_proto::Scalar;
    /// assert_eq!(Scalar::U64(3).tag(), Scalar::U64(9).tag());
    /// assert_ne!(Scalar::U64(3).tag(), Scalar::I64(3).tag());
    /// ```
    pub fn tag(self) -> u8 {
        match self {
            Scalar::I64(_) => 1,
            Scalar::U64(_) => 2,
            Scalar::Bool(_) => 3,
            Scalar::F64(_) => 4,
            Scalar::U32(_) => 5,
            Scalar::I32(_) => 6,
            Scalar::U16(_) => 7,
            Scalar::I16(_) => 8,
            Scalar::U8(_) => 9,
            Scalar::I8(_) => 10,
        }
    }

    /// The value as the 64 bits an arena word holds: the integer's own bits at its width
    /// (zero-extended), a bool as 0 or 1, a float's IEEE bits.
    ///
    /// ```
    /// use strato_proto::Scalar;
    /// let v = Scalar::I16(-2);
    /// assert_eq!(v.to_bits(), 0xfffe);
    /// assert_eq!(Scalar::from_bits(v.tag(), v.to_bits()), Some(v));
    /// ```
    pub fn to_bits(self) -> u64 {
        match self {
            Scalar::I64(v) => v as u64,
            Scalar::U64(v) => v,
            Scalar::Bool(v) => u64::from(v),
            Scalar::F64(v) => v.to_bits(),
            Scalar::U32(v) => u64::from(v),
            Scalar::I32(v) => u64::from(v as u32),
            Scalar::U16(v) => u64::from(v),
            Scalar::I16(v) => u64::from(v as u16),
            Scalar::U8(v) => u64::from(v),
            Scalar::I8(v) => u64::from(v as u8),
        }
    }

    /// The value of flavour `tag` whose bits are `bits` ([`Scalar::to_bits`]); `None` for
    /// an unknown tag.
    pub fn from_bits(tag: u8, bits: u64) -> Option<Scalar> {
        Some(match tag {
            1 => Scalar::I64(bits as i64),
            2 => Scalar::U64(bits),
            3 => Scalar::Bool(bits != 0),
            4 => Scalar::F64(f64::from_bits(bits)),
            5 => Scalar::U32(bits as u32),
            6 => Scalar::I32(bits as u32 as i32),
            7 => Scalar::U16(bits as u16),
            8 => Scalar::I16(bits as u16 as i16),
            9 => Scalar::U8(bits as u8),
            10 => Scalar::I8(bits as u8 as i8),
            _ => return None,
        })
    }
}
