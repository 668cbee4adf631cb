//! Calls that may wait on the Redis backend. Once a call on an object has parked, the next
//! one on it sends its `BLPOP` in the same write as the script call: whatever the script
//! answers (an item at once, a time-out later, an error) must come back through the wake
//! list, exactly as it would without that.

use std::time::{Duration, Instant};

use strato_proto::{Answer, Blob, Call, ErrorKind, Init, Op, Wait};
use strato_redis::local::LocalRedis;
use strato_redis::RedisState;

mod common;
use common::{calls, op, open, raw};

fn item(n: u8) -> Blob {
    Blob::from(vec![n; 32])
}

/// How many `BLPOP`s Redis has run.
fn blpops(redis: &LocalRedis) -> u64 {
    calls(redis, "blpop")
}

/// Parks a get of `getter` on `name` until `putter` puts `n`.
fn parked_get(getter: &RedisState, putter: &RedisState, name: &str, n: u8) {
    std::thread::scope(|s| {
        let get = s.spawn(|| op(getter, name, Op::Get(Wait::Forever)));
        while !parked(putter, name) {
            std::thread::yield_now();
        }
        assert_eq!(
            op(putter, name, Op::Put(item(n), Wait::Never)),
            Answer::Done
        );
        assert_eq!(get.join().unwrap(), Answer::Blob(item(n)));
    });
}

/// A getter and a putter of queue "q", the getter's one get on it parked then woken (so
/// its next waiting call on "q" goes with its `BLPOP`). The queue is bounded: an unbounded
/// queue's gets wait in Redis itself, with no script (`native_queue.rs`).
fn parked_once(redis: &LocalRedis) -> (RedisState, RedisState) {
    let getter = RedisState::connect(&redis.url()).unwrap();
    let putter = RedisState::connect(&redis.url()).unwrap();
    open(&getter, "q", Init::Queue { bound: Some(64) });
    parked_get(&getter, &putter, "q", 1);
    (getter, putter)
}

/// Whether some call is parked on `name`.
fn parked(state: &RedisState, name: &str) -> bool {
    match state.call(Call::Stats).unwrap() {
        Answer::Stats(stats) => stats.parked > 0 && op(state, name, Op::Len) == Answer::Count(0),
        other => panic!("stats answered {other:?}"),
    }
}

#[test]
fn redis_a_call_sent_with_its_wait_is_answered_as_one_sent_alone() {
    let redis = LocalRedis::start().unwrap();
    let (getter, putter) = parked_once(&redis);

    // Parked last time: this get goes with its BLPOP, and an item there already comes
    // back at once through the wake list.
    assert_eq!(
        op(&putter, "q", Op::Put(item(2), Wait::Never)),
        Answer::Done
    );
    let before = blpops(&redis);
    assert_eq!(
        op(&getter, "q", Op::Get(Wait::Forever)),
        Answer::Blob(item(2))
    );
    assert_eq!(blpops(&redis), before + 1, "the get waited with its call");

    // Answered at once: the next get goes alone again, and parks, and is woken.
    parked_get(&getter, &putter, "q", 3);

    // A wait that runs out while sent with the call.
    let answer = op(&getter, "q", Op::Get(Wait::Micros(100_000)));
    assert_eq!(answer, Answer::TimedOut);
    parked_get(&getter, &putter, "q", 4);

    // An error answered through the wake list comes at once, not after a wait.
    let delete = Call::Delete { name: "q".into() };
    assert_eq!(putter.call(delete).unwrap(), Answer::Done);
    let start = Instant::now();
    let answer = op(&getter, "q", Op::Get(Wait::Forever));
    assert!(
        matches!(
            answer,
            Answer::Error {
                kind: ErrorKind::NotFound,
                ..
            }
        ),
        "{answer:?}"
    );
    // A BLPOP left waiting for an answer that never comes would take its whole 2 s.
    assert!(start.elapsed() < Duration::from_millis(1900));
}

#[test]
fn redis_a_call_sent_with_its_wait_survives_a_flushed_library_at_once() {
    let redis = LocalRedis::start().unwrap();
    let (getter, putter) = parked_once(&redis);
    assert_eq!(
        op(&putter, "q", Op::Put(item(2), Wait::Never)),
        Answer::Done
    );

    // The next get goes with its BLPOP; its FCALL fails, so nothing comes to the wake list.
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .exec(&mut raw(&redis))
        .unwrap();
    let start = Instant::now();
    assert_eq!(
        op(&getter, "q", Op::Get(Wait::Forever)),
        Answer::Blob(item(2))
    );
    // The library is loaded again and the call made again after the short first wait,
    // not after a parked call's whole 2 s.
    assert!(start.elapsed() < Duration::from_millis(1900));
}
