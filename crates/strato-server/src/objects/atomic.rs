//! Atomics: `AtomicI64`, `AtomicU64`, `AtomicBool`, `AtomicF64` (semantics in
//! [`strato_proto::apply_atomic`]).

use strato_proto::{Op, Scalar};

use super::Step;

pub(crate) fn apply(value: &mut Scalar, op: &Op) -> Step {
    match strato_proto::apply_atomic(value, op) {
        Some(answer) => Step::Done(answer),
        None => super::wrong_op(strato_proto::Kind::Atomic, op),
    }
}
