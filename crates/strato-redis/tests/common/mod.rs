//! What the Redis backend's tests share: opening an object and running an operation on it
//! through a [`RedisState`], as a state server's client would.

use strato_proto::{Answer, Call, ErrorKind, Init, Op, Role};
use strato_redis::local::LocalRedis;
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

// Not every test file uses every helper below.

/// Two processes' views of `redis`, each with its own session.
#[allow(dead_code)]
pub fn two(redis: &LocalRedis) -> (RedisState, RedisState) {
    let connect = || RedisState::connect(&redis.url()).unwrap();
    (connect(), connect())
}

/// A plain connection to `redis`, beside the backend's.
#[allow(dead_code)]
pub fn raw(redis: &LocalRedis) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// How many times Redis ran `command` (from `INFO commandstats`).
#[allow(dead_code)]
pub fn calls(redis: &LocalRedis, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut raw(redis))
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Asserts that `answer` refuses with an error of `kind`.
#[allow(dead_code)]
pub fn assert_refused(answer: &Answer, kind: ErrorKind) {
    assert!(
        matches!(answer, Answer::Error { kind: k, .. } if *k == kind),
        "expected a {kind:?} error, got {answer:?}"
    );
}

/// Moves the first element of object `name`'s list (a queue's item, a mutex's token) into
/// a registered lane of a session that is not present, as a process that died leaves it;
/// answers the lane's list.
#[allow(dead_code)]
pub fn taken_by_the_dead(redis: &LocalRedis, name: &str) -> String {
    let prefix = strato_redis::key_prefix(name);
    let lane_list = format!("{prefix}g:999999.1");
    let mut raw = raw(redis);
    let _: Vec<u8> = redis::cmd("LMOVE")
        .arg(format!("{prefix}l"))
        .arg(&lane_list)
        .arg("LEFT")
        .arg("RIGHT")
        .query(&mut raw)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{prefix}G"))
        .arg("999999.1")
        .arg(1)
        .query(&mut raw)
        .unwrap();
    lane_list
}

/// The lanes registered on object `name` (its `<prefix>G` hash).
#[allow(dead_code)]
pub fn registered(redis: &LocalRedis, name: &str) -> Vec<String> {
    redis::cmd("HKEYS")
        .arg(format!("{}G", strato_redis::key_prefix(name)))
        .query(&mut raw(redis))
        .unwrap()
}
