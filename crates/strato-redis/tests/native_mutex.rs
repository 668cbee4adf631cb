//! A mutex on a standalone Redis is a token moved by native commands, not scripts
//! (`src/mutex.rs`): what the scripts guaranteed must still hold — exclusion with the value
//! handed over, a hold of a process that died given back poisoned, a hold taken back that
//! cannot unlock its successor's, a deleted mutex noticed, a name made again as another
//! object left alone.

use std::time::{Duration, Instant};

use strato_proto::{Answer, Blob, Call, ErrorKind, Init, Op, Wait};
use strato_redis::local::LocalRedis;
use strato_redis::RedisState;

mod common;
use common::{assert_refused, calls, op, open, raw, registered, taken_by_the_dead, two};

fn value(n: u64) -> Blob {
    Blob::from(n.to_le_bytes().to_vec())
}

/// Locks `name`: its lease, value and poison flag.
fn lock(state: &RedisState, name: &str, wait: Wait) -> (u64, u64, bool) {
    match op(state, name, Op::Lock(wait)) {
        Answer::Locked {
            lease,
            value,
            poisoned,
        } => (
            lease,
            u64::from_le_bytes(value[..].try_into().unwrap()),
            poisoned,
        ),
        other => panic!("not locked: {other:?}"),
    }
}

fn unlock(state: &RedisState, name: &str, lease: u64, n: Option<u64>) -> Answer {
    let unlock = Op::Unlock {
        lease,
        value: n.map(value),
        poison: false,
    };
    op(state, name, unlock)
}

#[test]
fn redis_a_contended_mutex_hands_over_without_scripts() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "m", Init::Mutex(value(0)));
    open(&b, "m", Init::Mutex(value(0)));
    for state in [&a, &b] {
        // Each process learns the mutex's mode once.
        let (lease, n, _) = lock(state, "m", Wait::Forever);
        assert_eq!(unlock(state, "m", lease, Some(n + 1)), Answer::Done);
    }
    let before = calls(&redis, "fcall");
    std::thread::scope(|s| {
        for state in [&a, &b] {
            s.spawn(move || {
                for _ in 0..100 {
                    let (lease, n, poisoned) = lock(state, "m", Wait::Forever);
                    assert!(!poisoned);
                    assert_eq!(unlock(state, "m", lease, Some(n + 1)), Answer::Done);
                }
            });
        }
    });
    assert_eq!(calls(&redis, "fcall"), before, "no script ran");
    assert!(calls(&redis, "blmove") >= 200);
    let (lease, n, _) = lock(&a, "m", Wait::Never);
    assert_eq!(n, 202, "no increment lost");
    // Unlocked without a value: the value stays.
    assert_eq!(unlock(&a, "m", lease, None), Answer::Done);
    assert_eq!(lock(&b, "m", Wait::Never).1, 202);
}

#[test]
fn redis_try_and_timed_locks_of_a_held_mutex_give_up() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "m", Init::Mutex(value(5)));
    let (lease, n, _) = lock(&a, "m", Wait::Never);
    assert_eq!(n, 5);
    assert_eq!(op(&b, "m", Op::Lock(Wait::Never)), Answer::WouldBlock);
    let start = Instant::now();
    let timed = op(&b, "m", Op::Lock(Wait::Micros(100_000)));
    assert_eq!(timed, Answer::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(unlock(&a, "m", lease, Some(6)), Answer::Done);
    assert_eq!(lock(&b, "m", Wait::Never).1, 6);
}

#[test]
fn redis_a_mutex_held_by_a_process_that_died_comes_back_poisoned() {
    let redis = LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    open(&state, "m", Init::Mutex(value(3)));
    taken_by_the_dead(&redis, "m"); // the token
                                    // The mutex looks held to a lock that does not wait, which gives the token back first.
    let (lease, n, poisoned) = lock(&state, "m", Wait::Never);
    assert_eq!((n, poisoned), (3, true), "the last value stored, poisoned");
    let poison = Op::Poison { clear: true };
    assert_eq!(op(&state, "m", poison), Answer::Bool(true));
    assert_eq!(unlock(&state, "m", lease, None), Answer::Done);
    let (again, n, poisoned) = lock(&state, "m", Wait::Never);
    assert_eq!((n, poisoned), (3, false));
    assert_ne!(again, lease, "a lease names one hold");
    let dead = registered(&redis, "m");
    assert!(!dead.contains(&"999999.1".to_string()), "{dead:?}");
}

#[test]
fn redis_a_hold_taken_back_cannot_unlock_its_successors() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "m", Init::Mutex(value(1)));
    let (stale, _, _) = lock(&a, "m", Wait::Never);
    // a's hold is taken back, as if its presence had lapsed, and b takes the mutex.
    let prefix = strato_redis::key_prefix("m");
    let _: Vec<u8> = redis::cmd("LMOVE")
        .arg(format!("{prefix}g:{}.{stale}", a.session()))
        .arg(format!("{prefix}l"))
        .arg("RIGHT")
        .arg("LEFT")
        .query(&mut raw(&redis))
        .unwrap();
    let (lease, n, _) = lock(&b, "m", Wait::Never);
    assert_eq!(n, 1);
    let refused = unlock(&a, "m", stale, Some(100));
    assert_refused(&refused, ErrorKind::Invalid);
    let poisoned = Op::Unlock {
        lease: stale,
        value: None,
        poison: true,
    };
    assert_refused(&op(&a, "m", poisoned), ErrorKind::Invalid);
    assert_eq!(
        op(&a, "m", Op::Lock(Wait::Never)),
        Answer::WouldBlock,
        "b holds it"
    );
    assert_eq!(unlock(&b, "m", lease, Some(2)), Answer::Done);
    let (_, n, poisoned) = lock(&a, "m", Wait::Never);
    assert_eq!(
        (n, poisoned),
        (2, false),
        "b's value, not a's, and no poison"
    );
}

#[test]
fn redis_a_waiting_lock_hears_that_its_mutex_was_deleted() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "gone", Init::Mutex(value(0)));
    let (lease, _, _) = lock(&a, "gone", Wait::Never);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            (op(&b, "gone", Op::Lock(Wait::Forever)), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200));
        let delete = Call::Delete {
            name: "gone".into(),
        };
        assert_eq!(a.call(delete).unwrap(), Answer::Done);
        let (answer, took) = waiter.join().unwrap();
        assert_refused(&answer, ErrorKind::Deleted);
        assert!(took < Duration::from_secs(5), "noticed within a re-check");
    });
    // The deleted mutex's holder learns it is gone, and nothing is left behind.
    assert_refused(&unlock(&a, "gone", lease, Some(1)), ErrorKind::NotFound);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("strato:{gone}:[mlGg]*")
        .query(&mut raw(&redis))
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn redis_a_name_made_again_is_locked_the_way_it_now_needs() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "m", Init::Mutex(value(1)));
    let (lease, _, _) = lock(&a, "m", Wait::Never); // a knows "m" as a native mutex
    assert_eq!(unlock(&a, "m", lease, None), Answer::Done);
    let delete = Call::Delete { name: "m".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);

    // Made again as a mutex: a's lane registers with the new one.
    open(&b, "m", Init::Mutex(value(7)));
    assert_eq!(lock(&a, "m", Wait::Never).1, 7);
    let lanes = registered(&redis, "m");
    let mine = format!("{}.", a.session());
    assert!(lanes.iter().any(|l| l.starts_with(&mine)), "{lanes:?}");

    // Made again as a queue: refused, and its item is left where it was.
    let delete = Call::Delete { name: "m".into() };
    assert_eq!(b.call(delete).unwrap(), Answer::Done);
    open(&b, "m", Init::Queue { bound: None });
    let item = Blob::from(vec![9u8; 16]);
    assert_eq!(
        op(&b, "m", Op::Put(item.clone(), Wait::Never)),
        Answer::Done
    );
    let refused = op(&a, "m", Op::Lock(Wait::Never));
    assert_refused(&refused, ErrorKind::WrongType);
    assert!(format!("{refused:?}").contains("lock is not an operation of a Queue"));
    assert_eq!(op(&b, "m", Op::Get(Wait::Never)), Answer::Blob(item));
}

#[test]
fn redis_a_lease_names_one_hold_only() {
    let redis = LocalRedis::start().unwrap();
    let (a, b) = two(&redis);
    open(&a, "m", Init::Mutex(value(0)));
    let (first, _, _) = lock(&a, "m", Wait::Never);
    assert_eq!(unlock(&a, "m", first, Some(1)), Answer::Done);
    assert!(
        registered(&redis, "m").is_empty(),
        "an unlock unregisters its lane"
    );
    // Another hold of the same process: a guard still holding the first lease (after a
    // failed condvar wait, say) must not release it.
    let (second, _, _) = lock(&a, "m", Wait::Never);
    assert_ne!(first, second);
    assert_refused(&unlock(&a, "m", first, Some(9)), ErrorKind::Invalid);
    let poisoned = Op::Unlock {
        lease: first,
        value: None,
        poison: true,
    };
    assert_refused(&op(&a, "m", poisoned), ErrorKind::Invalid);
    assert_eq!(
        op(&b, "m", Op::Lock(Wait::Never)),
        Answer::WouldBlock,
        "still held"
    );
    assert_eq!(
        registered(&redis, "m").len(),
        1,
        "b's attempt left no lane behind"
    );
    assert_eq!(unlock(&a, "m", second, None), Answer::Done);
    let (_, n, poisoned) = lock(&b, "m", Wait::Never);
    assert_eq!((n, poisoned), (1, false));
}
