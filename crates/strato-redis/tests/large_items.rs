//! Large queue and channel items on the Redis backend live beside the scripts, in the
//! object's item hash (`<prefix>b`): they come back whole, and none is left behind once
//! taken, refused, or its object deleted.

use strato_proto::{Answer, Blob, Call, Init, Op, Role, Wait};
use strato_redis::local::LocalRedis;
use strato_redis::RedisState;

mod common;
use common::{op, open};

const LARGE: usize = 1 << 20;

fn item(seed: u8) -> Blob {
    Blob::from((0..LARGE).map(|i| (i as u8) ^ seed).collect::<Vec<u8>>())
}

/// How many large items object `name` keeps beside its scripts, and whether their hash
/// exists at all.
fn stored(redis: &LocalRedis, name: &str) -> (u64, bool) {
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let hash = format!("{}b", strato_redis::key_prefix(name));
    let count: u64 = redis::cmd("HLEN").arg(&hash).query(&mut raw).unwrap();
    let exists: bool = redis::cmd("EXISTS").arg(&hash).query(&mut raw).unwrap();
    (count, exists)
}

#[test]
fn redis_large_items_are_stored_beside_the_scripts_and_deleted_once_taken() {
    let redis = LocalRedis::start().unwrap();
    let keeper = RedisState::connect(&redis.url()).unwrap();
    open(&keeper, "q", Init::Queue { bound: None });
    {
        let worker = RedisState::connect(&redis.url()).unwrap();
        open(&worker, "q", Init::Queue { bound: None });
        for seed in [1, 2] {
            assert_eq!(
                op(&worker, "q", Op::Put(item(seed), Wait::Never)),
                Answer::Done
            );
        }
        assert_eq!(
            op(&worker, "q", Op::Put(Blob::from(vec![3]), Wait::Never)),
            Answer::Done
        );
        assert_eq!(
            stored(&redis, "q"),
            (2, true),
            "the two large items, not the small one"
        );
        assert_eq!(
            op(&worker, "q", Op::Get(Wait::Never)),
            Answer::Blob(item(1))
        );
        assert_eq!(
            op(&worker, "q", Op::Get(Wait::Never)),
            Answer::Blob(item(2))
        );
        assert_eq!(
            stored(&redis, "q").0,
            1,
            "the second get acknowledged the first item, deleting it"
        );
        assert_eq!(
            op(&worker, "q", Op::Get(Wait::Never)),
            Answer::Blob(Blob::from(vec![3]))
        );
    }
    assert_eq!(
        stored(&redis, "q"),
        (0, false),
        "a process acknowledges what it took as it leaves"
    );
}

#[test]
fn redis_a_refused_large_item_is_not_kept() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "full", Init::Queue { bound: Some(1) });
    assert_eq!(
        op(&state, "full", Op::Put(Blob::from(vec![0]), Wait::Never)),
        Answer::Done
    );
    assert_eq!(
        op(&state, "full", Op::Put(item(1), Wait::Never)),
        Answer::WouldBlock
    );
    let timeout = Wait::Micros(50_000);
    assert_eq!(
        op(&state, "full", Op::Put(item(2), timeout)),
        Answer::TimedOut
    );
    assert_eq!(stored(&redis, "full"), (0, false));
}

#[test]
fn redis_a_deleted_queue_takes_its_large_items_with_it() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "gone", Init::Queue { bound: None });
    assert_eq!(
        op(&state, "gone", Op::Put(item(1), Wait::Never)),
        Answer::Done
    );
    assert_eq!(stored(&redis, "gone"), (1, true));
    let release = Call::Release {
        name: "gone".into(),
        role: Role::Handle,
    };
    assert_eq!(state.call(release).unwrap(), Answer::Done);
    assert_eq!(stored(&redis, "gone"), (0, false));
}
