//! The Redis backend: every object and task board in Redis or Redis Cluster, through
//! [`strato_redis::RedisState`].

use strato_proto::{Address, Answer, Call};

use crate::{Error, StateBackend};

/// Redis's own limit on a value (`proto-max-bulk-len`, 512 MiB by default).
const REDIS_MAX_VALUE: usize = 512 << 20;

/// The state in Redis, seen through the protocol's calls.
pub(crate) struct RedisConnection {
    address: Address,
    state: strato_redis::RedisState,
}

impl RedisConnection {
    /// Connects to the Redis server or cluster at `url`.
    pub fn connect(address: Address, url: &str) -> Result<RedisConnection, Error> {
        let state = strato_redis::RedisState::connect(url).map_err(|e| Error::Connect {
            address: url.into(),
            reason: e.to_string(),
        })?;
        Ok(RedisConnection { address, state })
    }
}

fn lost(e: strato_redis::Failure) -> Error {
    Error::ConnectionLost(e.to_string())
}

impl StateBackend for RedisConnection {
    fn address(&self) -> &Address {
        &self.address
    }

    fn session(&self) -> u64 {
        self.state.session()
    }

    fn max_frame(&self) -> usize {
        REDIS_MAX_VALUE
    }

    fn call(&self, call: Call) -> Result<Answer, Error> {
        self.state.call(call).map_err(lost)
    }

    /// The call runs before this returns; its answer is dropped.
    fn cast(&self, call: Call) -> Result<(), Error> {
        self.state.call(call).map(drop).map_err(lost)
    }

    fn cast_all(&self, calls: Vec<Call>) -> Result<(), Error> {
        self.state.cast_all(calls).map_err(lost)
    }
}
