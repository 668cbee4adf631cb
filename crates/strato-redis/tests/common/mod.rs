//! What the Redis backend's tests share: opening an object and running an operation on it
//! through a [`RedisState`], as a state server's client would.

use strato_proto::{Answer, Call, Init, Op, Role};
use strato_redis::RedisState;

/// Opens (creating if needed) the non-persistent object `name` as `init`.
pub fn open(state: &RedisState, name: &str, init: Init) {
    let open = Call::Open {
        name: name.into(),
        init,
        persistent: false,
        role: Role::Handle,
    };
    assert_eq!(state.call(open).unwrap(), Answer::Done);
}

/// Runs `op` on object `name`.
pub fn op(state: &RedisState, name: &str, op: Op) -> Answer {
    let call = Call::Op {
        name: name.into(),
        op,
    };
    state.call(call).unwrap()
}
