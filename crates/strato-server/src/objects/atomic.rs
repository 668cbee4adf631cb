//! Atomics: `AtomicI64`, `AtomicU64`, `AtomicBool`, `AtomicF64` (semantics in
//! [`strato_proto::apply_atomic`]). An atomic's value is a word of the shared-memory arena
//! when there is room (local clients then operate on it directly), else in the heap.

use strato_proto::arena::Arena;
use strato_proto::{Op, Scalar};

use super::Step;
use crate::slots::SharedAtomic;

/// Where an atomic's value lives.
#[derive(Debug)]
pub(crate) enum AtomicCell {
    /// In the server's heap: only the server reaches it.
    Heap(Scalar),
    /// In the arena, shared with local clients.
    Shared(SharedAtomic),
}

impl AtomicCell {
    /// The value's flavour tag ([`Scalar::tag`]).
    pub fn tag(&self) -> u8 {
        match self {
            AtomicCell::Heap(v) => v.tag(),
            AtomicCell::Shared(shared) => shared.slot().tag,
        }
    }

    /// Runs `op`; a shared atomic's runs on `arena`, the one its slot is in.
    pub fn apply(&mut self, op: &Op, arena: Option<&Arena>) -> Step {
        let answer = match (self, arena) {
            (AtomicCell::Heap(value), _) => strato_proto::apply_atomic(value, op),
            (AtomicCell::Shared(shared), Some(arena)) => shared.apply(arena, op),
            (AtomicCell::Shared(_), None) => {
                let why = "an atomic in the arena, on a server without one";
                return Step::Done(super::error(strato_proto::ErrorKind::Unsupported, why));
            }
        };
        match answer {
            Some(answer) => Step::Done(answer),
            None => super::wrong_op(strato_proto::Kind::Atomic, op),
        }
    }
}
