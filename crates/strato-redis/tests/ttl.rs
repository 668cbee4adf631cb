//! A program that crashes leaves nothing in Redis for longer than its objects' TTL: every key
//! an operation makes for a non-persistent object (its list, hash, waiters, large items)
//! takes the object's TTL, whichever operation made it.

use strato_proto::{Answer, Blob, Init, Op, Wait};
use strato_redis::local::LocalRedis;
use strato_redis::RedisState;

mod common;
use common::{op, open};

/// Every key of object `name` with the milliseconds it has left (-1: no TTL).
fn ttls(redis: &LocalRedis, name: &str) -> Vec<(String, i64)> {
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let pattern = format!("{}*", strato_redis::key_prefix(name));
    let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut raw).unwrap();
    keys.into_iter()
        .map(|key| {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut raw).unwrap();
            (key, ttl)
        })
        .collect()
}

/// Asserts that object `name` has every key in `suffixes` and that each key it has expires.
fn all_expire(redis: &LocalRedis, name: &str, suffixes: &[&str]) {
    let keys = ttls(redis, name);
    let prefix = strato_redis::key_prefix(name);
    for suffix in suffixes {
        let key = format!("{prefix}{suffix}");
        assert!(
            keys.iter().any(|(k, _)| *k == key),
            "{key} should exist: {keys:?}"
        );
    }
    for (key, ttl) in &keys {
        // -2: the key went between KEYS and PTTL (a handed item acknowledged, say).
        assert!(*ttl > 0 || *ttl == -2, "{key} has no TTL ({ttl}): {keys:?}");
    }
}

#[test]
fn redis_every_key_a_queue_makes_expires() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "q", Init::Queue { bound: None });
    let small = Blob::from(vec![1; 16]);
    let large = Blob::from(vec![2; 1 << 20]);
    assert_eq!(op(&state, "q", Op::Put(small, Wait::Never)), Answer::Done);
    assert_eq!(op(&state, "q", Op::Put(large, Wait::Never)), Answer::Done);
    all_expire(&redis, "q", &["m", "l", "b"]);

    // A getter waiting: on an unbounded queue in Redis itself (its lane registered in
    // "G"), on a bounded one in the waiters list "w".
    for (name, bound, made) in [("parked", None, "G"), ("bounded", Some(8), "w")] {
        open(&state, name, Init::Queue { bound });
        std::thread::scope(|s| {
            let getter = s.spawn(|| {
                let state = RedisState::connect(&redis.url()).unwrap();
                op(&state, name, Op::Get(Wait::Micros(300_000)))
            });
            while !waiting(&redis) {
                std::thread::yield_now();
            }
            all_expire(&redis, name, &["m", made]);
            assert_eq!(getter.join().unwrap(), Answer::TimedOut);
        });
        std::thread::scope(|s| {
            let getter = s.spawn(|| {
                let state = RedisState::connect(&redis.url()).unwrap();
                op(&state, name, Op::Get(Wait::Forever))
            });
            while !waiting(&redis) {
                std::thread::yield_now();
            }
            let item = Blob::from(vec![3; 16]);
            assert_eq!(op(&state, name, Op::Put(item, Wait::Never)), Answer::Done);
            // The item was handed to the waiting getter, and kept until it is acknowledged
            // (unless that happened already): whatever is there expires.
            all_expire(&redis, name, &["m"]);
            assert_eq!(
                getter.join().unwrap(),
                Answer::Blob(Blob::from(vec![3; 16]))
            );
        });
    }
}

/// Whether some client of `redis` waits in a blocking command.
fn waiting(redis: &LocalRedis) -> bool {
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let info: String = redis::cmd("INFO").arg("clients").query(&mut raw).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .is_some_and(|n| n.trim() != "0")
}

#[test]
fn redis_every_key_a_map_or_a_lock_makes_expires() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "map", Init::Map);
    let (k, v) = (Blob::from(vec![1]), Blob::from(vec![2]));
    assert!(matches!(
        op(&state, "map", Op::MapInsert(k, v)),
        Answer::MaybeBlob(None)
    ));
    all_expire(&redis, "map", &["m", "h"]);

    open(&state, "rw", Init::RwLock(Blob::from(vec![0])));
    assert!(matches!(
        op(&state, "rw", Op::ReadLock(Wait::Forever)),
        Answer::Locked { .. }
    ));
    all_expire(&redis, "rw", &["m", "h"]);

    // A native mutex: its token in the holder's lane, then back in its list.
    open(&state, "mutex", Init::Mutex(Blob::from(vec![0])));
    let Answer::Locked { lease, .. } = op(&state, "mutex", Op::Lock(Wait::Forever)) else {
        panic!("locked");
    };
    let lane = format!("g:{}.{lease}", state.session());
    all_expire(&redis, "mutex", &["m", "G", &lane]);
    let unlock = Op::Unlock {
        lease,
        value: Some(Blob::from(vec![1])),
        poison: false,
    };
    assert_eq!(op(&state, "mutex", unlock), Answer::Done);
    all_expire(&redis, "mutex", &["m", "l"]); // the unlock unregistered the lane
}
