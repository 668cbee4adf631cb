//! An unbounded queue's puts and gets on a standalone Redis are native commands, not
//! scripts (`src/queue.rs`): what the scripts guaranteed must still hold — an item taken
//! by a process that died comes back, a deleted queue is noticed, a queue made again with
//! a bound keeps it, and `get_many` takes what there is.

use std::time::{Duration, Instant};

use strato_proto::{Answer, Blob, Call, ErrorKind, Init, Op, Wait};
use strato_redis::local::LocalRedis;
use strato_redis::RedisState;

mod common;
use common::{assert_refused, calls, op, open, raw, registered, taken_by_the_dead, two};

fn item(n: u8) -> Blob {
    Blob::from(vec![n; 1024])
}

fn put(state: &RedisState, name: &str, n: u8) {
    assert_eq!(op(state, name, Op::Put(item(n), Wait::Never)), Answer::Done);
}

#[test]
fn redis_an_unbounded_queue_round_trip_runs_no_script() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "ping", Init::Queue { bound: None });
    open(&b, "ping", Init::Queue { bound: None });
    put(&a, "ping", 0); // each process learns the queue's mode once
    assert_eq!(
        op(&b, "ping", Op::Get(Wait::Forever)),
        Answer::Blob(item(0))
    );

    let before = calls(&redis, "fcall");
    std::thread::scope(|s| {
        let getter = s.spawn(|| {
            (1..=50)
                .map(|_| op(&b, "ping", Op::Get(Wait::Forever)))
                .collect::<Vec<_>>()
        });
        for n in 1..=50 {
            put(&a, "ping", n);
        }
        let got = getter.join().unwrap();
        let want: Vec<Answer> = (1..=50).map(|n| Answer::Blob(item(n))).collect();
        assert_eq!(got, want, "every item, in order");
    });
    assert_eq!(calls(&redis, "fcall"), before, "no script ran");
    assert!(calls(&redis, "blmove") > 0);
}

#[test]
fn redis_an_item_taken_by_a_process_that_died_comes_back() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "q", Init::Queue { bound: None });
    put(&state, "q", 9);
    // A getter of a session that is gone took the item into its lane and never
    // acknowledged it: its presence key is missing.
    let lane_list = taken_by_the_dead(&redis, "q");
    let mut raw = raw(&redis);
    // The queue looks empty to a get that does not wait, which gives the lane back first.
    assert_eq!(op(&state, "q", Op::Get(Wait::Never)), Answer::Blob(item(9)));
    let left: bool = redis::cmd("EXISTS")
        .arg(&lane_list)
        .query(&mut raw)
        .unwrap();
    assert!(!left, "the dead lane's list is gone");
    assert_eq!(op(&state, "q", Op::Get(Wait::Never)), Answer::WouldBlock);
}

#[test]
fn redis_a_live_getters_unacknowledged_item_stays_with_it() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "q", Init::Queue { bound: None });
    put(&a, "q", 1);
    assert_eq!(op(&b, "q", Op::Get(Wait::Never)), Answer::Blob(item(1)));
    // b is alive: another getter finding the queue empty must not give b's item back.
    assert_eq!(op(&a, "q", Op::Get(Wait::Never)), Answer::WouldBlock);
    assert_eq!(op(&a, "q", Op::Len), Answer::Count(0));
    // Acknowledged by b's next get (or its heartbeat): no lane keeps an item.
    assert_eq!(op(&b, "q", Op::Get(Wait::Never)), Answer::WouldBlock);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("strato:{q}:g:*")
        .query(&mut raw(&redis))
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn redis_a_waiting_getter_hears_that_its_queue_was_deleted() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "gone", Init::Queue { bound: None });
    std::thread::scope(|s| {
        let getter = s.spawn(|| {
            let start = Instant::now();
            (op(&b, "gone", Op::Get(Wait::Forever)), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200));
        let delete = Call::Delete {
            name: "gone".into(),
        };
        assert_eq!(a.call(delete).unwrap(), Answer::Done);
        let (answer, took) = getter.join().unwrap();
        assert_refused(&answer, ErrorKind::Deleted);
        assert!(took < Duration::from_secs(5), "noticed within a re-check");
    });
    // A put to it now is refused and leaves nothing behind.
    let answer = op(&a, "gone", Op::Put(item(1), Wait::Never));
    assert_refused(&answer, ErrorKind::NotFound);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("strato:{gone}:[mlb]")
        .query(&mut raw(&redis))
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn redis_a_queue_made_again_with_a_bound_keeps_it() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "q", Init::Queue { bound: None });
    put(&a, "q", 1); // a knows "q" as unbounded
    let delete = Call::Delete { name: "q".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);
    open(&b, "q", Init::Queue { bound: Some(1) });
    put(&a, "q", 2);
    assert_eq!(
        op(&a, "q", Op::Put(item(3), Wait::Never)),
        Answer::WouldBlock,
        "the new queue's bound holds"
    );
    assert_eq!(op(&b, "q", Op::Len), Answer::Count(1));
    assert_eq!(op(&b, "q", Op::Get(Wait::Never)), Answer::Blob(item(2)));

    // Made again as another kind: refused, and the list is left as it was.
    let delete = Call::Delete { name: "q".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);
    open(&b, "q", Init::List);
    let answer = op(&a, "q", Op::Put(item(4), Wait::Never));
    assert_refused(&answer, ErrorKind::WrongType);
}

#[test]
fn redis_a_getter_that_knew_a_queue_leaves_what_replaced_it_alone() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "q", Init::Queue { bound: None });
    put(&a, "q", 1);
    assert_eq!(op(&a, "q", Op::Get(Wait::Never)), Answer::Blob(item(1))); // a knows "q"
    let delete = Call::Delete { name: "q".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);
    open(&b, "q", Init::List);
    for n in [7, 8] {
        let answer = op(&b, "q", Op::ListPush(item(n)));
        assert!(!matches!(answer, Answer::Error { .. }), "{answer:?}");
    }
    let answer = op(&a, "q", Op::Get(Wait::Never));
    assert_refused(&answer, ErrorKind::WrongType);
    // The element its get moved went back where it was.
    assert_eq!(op(&b, "q", Op::ListLen), Answer::Count(2));
    assert_eq!(op(&b, "q", Op::ListGet(0)), Answer::Blob(item(7)));
    assert_eq!(op(&b, "q", Op::ListGet(1)), Answer::Blob(item(8)));
}

#[test]
fn redis_a_getter_registers_again_with_a_queue_made_again() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "q", Init::Queue { bound: None });
    put(&a, "q", 1);
    assert_eq!(op(&a, "q", Op::Get(Wait::Never)), Answer::Blob(item(1)));
    let delete = Call::Delete { name: "q".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);
    open(&b, "q", Init::Queue { bound: None });
    put(&b, "q", 2);
    // a's lane was registered with the old queue, within the quarter period in which a
    // does not register it again: the new queue's epoch tells it to.
    assert_eq!(op(&a, "q", Op::Get(Wait::Never)), Answer::Blob(item(2)));
    let lanes = registered(&redis, "q");
    let mine = format!("{}.", a.session());
    assert!(lanes.iter().any(|l| l.starts_with(&mine)), "{lanes:?}");
}

#[test]
fn redis_get_many_takes_what_there_is() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "q", Init::Queue { bound: None });
    for n in 1..=5 {
        put(&state, "q", n);
    }
    let take = |max, wait| op(&state, "q", Op::GetMany { max, wait });
    let blobs = |ns: std::ops::RangeInclusive<u8>| Answer::Blobs(ns.map(item).collect());
    assert_eq!(take(3, Wait::Forever), blobs(1..=3));
    assert_eq!(take(10, Wait::Never), blobs(4..=5));
    assert_eq!(take(10, Wait::Never), Answer::WouldBlock);
    assert_eq!(take(10, Wait::Micros(50_000)), Answer::TimedOut);
    std::thread::scope(|s| {
        let getter = s.spawn(|| take(10, Wait::Forever));
        std::thread::sleep(Duration::from_millis(100));
        put(&state, "q", 6);
        assert_eq!(getter.join().unwrap(), blobs(6..=6));
    });
}
