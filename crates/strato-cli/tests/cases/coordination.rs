//! Event, Barrier, Promise, CountDownLatch; references, deletion, kinds, many connections.

use std::collections::HashSet;
use std::sync::atomic::Ordering::SeqCst;

use strato::sync::atomic::AtomicU64;
use strato::sync::{Barrier, BarrierError, CountDownLatch, Event, Promise, Queue};
use strato::{ErrorKind, ObjectName};
use strato_proto::{Call, Wait};

use super::super::common::{eventually, exists, object_count};
use super::{assert_blocked, background, finished, name, Connect, SHORT};

pub fn event(connect: Connect) {
    let key = name("event");
    let e = Event::open(&connect(), key.as_str()).unwrap();
    let other = Event::open(&connect(), key.as_str()).unwrap();
    assert!(!e.is_set() && !e.try_wait());
    assert!(!e.wait_timeout(SHORT));
    let waiter = background(move || other.wait());
    assert_blocked(&waiter, "wait on a clear event");
    e.set();
    finished(&waiter, "wait after set");
    assert!(e.try_wait());
    e.clear();
    assert!(!e.is_set());
}

pub fn barrier_generations_have_one_leader(connect: Connect) {
    let key = name("barrier");
    let parties: Vec<_> = (0..3)
        .map(|_| {
            let b = Barrier::open(&connect(), key.as_str(), 3).unwrap();
            background(move || (0..4).map(|_| b.wait().is_leader()).collect::<Vec<_>>())
        })
        .collect();
    let results: Vec<Vec<bool>> = parties.iter().map(|p| finished(p, "party")).collect();
    for generation in 0..4 {
        let leaders = results.iter().filter(|r| r[generation]).count();
        assert_eq!(leaders, 1, "generation {generation} has exactly one leader");
    }
}

pub fn barrier_timeout_breaks_it(connect: Connect) {
    let key = name("broken");
    let patient = Barrier::open(&connect(), key.as_str(), 3).unwrap();
    let hasty = Barrier::open(&connect(), key.as_str(), 3).unwrap();
    let waiting = background(move || patient.wait_timeout(std::time::Duration::from_secs(30)));
    assert_blocked(&waiting, "barrier with one of three parties");
    assert_eq!(hasty.wait_timeout(SHORT), Err(BarrierError::TimedOut));
    assert_eq!(
        finished(&waiting, "the other party"),
        Err(BarrierError::Broken)
    );
    assert_eq!(
        hasty.wait_timeout(SHORT),
        Err(BarrierError::Broken),
        "it stays broken"
    );
}

pub fn barrier_try_wait(connect: Connect) {
    let key = name("trywait");
    let a = Barrier::open(&connect(), key.as_str(), 2).unwrap();
    let b = Barrier::open(&connect(), key.as_str(), 2).unwrap();
    assert_eq!(
        a.try_wait(),
        Err(BarrierError::WouldBlock),
        "try_wait does not arrive"
    );
    let waiting = background(move || a.wait().is_leader());
    assert_blocked(&waiting, "one of two parties");
    assert!(
        b.try_wait().unwrap().is_leader(),
        "the completing party leads"
    );
    assert!(!finished(&waiting, "first party"));
}

pub fn promise(connect: Connect) {
    let key = name("promise");
    let p: Promise<Vec<String>> = Promise::open(&connect(), key.as_str()).unwrap();
    let other: Promise<Vec<String>> = Promise::open(&connect(), key.as_str()).unwrap();
    assert!(!p.is_set());
    assert_eq!(p.get_timeout(SHORT), None);
    let getter = background(move || other.get());
    assert_blocked(&getter, "get of an unset promise");
    p.set(vec!["x".into()]).unwrap();
    assert_eq!(finished(&getter, "get after set"), vec!["x".to_string()]);
    assert_eq!(p.set(vec![]), Err(vec![]), "set once");
    assert_eq!(p.try_get(), Some(vec!["x".to_string()]));
}

pub fn latch(connect: Connect) {
    let key = name("latch");
    let l = CountDownLatch::open(&connect(), key.as_str(), 2).unwrap();
    let other = CountDownLatch::open(&connect(), key.as_str(), 2).unwrap();
    let waiter = background(move || other.wait());
    l.count_down();
    assert_blocked(&waiter, "latch at 1");
    assert!(!l.wait_timeout(SHORT));
    l.count_down();
    finished(&waiter, "latch at 0");
    l.count_down();
    assert_eq!(l.count(), 0, "never below zero");
}

pub fn reference_counting_collects(connect: Connect) {
    let (a, b, observer) = (connect(), connect(), connect());
    let key = name("refcount");
    let first = AtomicU64::open(&a, key.as_str(), 1).unwrap();
    let second = AtomicU64::open(&b, key.as_str(), 99).unwrap();
    assert_eq!(
        second.load(SeqCst),
        1,
        "opening an existing object keeps its value"
    );
    drop(first);
    assert!(exists(&observer, &key), "one handle is left");
    drop(second);
    eventually("the object is collected", || !exists(&observer, &key));
}

pub fn persistent_objects_survive(connect: Connect) {
    let observer = connect();
    let key = name("persistent");
    let handle = AtomicU64::open(&connect(), ObjectName::persistent(key.as_str()), 5).unwrap();
    drop(handle);
    let again = AtomicU64::open(&connect(), key.as_str(), 0).unwrap();
    assert_eq!(
        again.load(SeqCst),
        5,
        "a persistent object outlives its handles"
    );
    observer.call(Call::Delete { name: key.clone() }).unwrap();
    assert!(!exists(&observer, &key));
}

pub fn delete_wakes_waiters(connect: Connect) {
    let c = connect();
    let key = name("deleted");
    let q: Queue<u8> = Queue::open(&connect(), key.as_str(), None).unwrap();
    let getter = background(move || q.get_with(Wait::Forever).map_err(|e| e.server_kind()));
    assert_blocked(&getter, "get on an empty queue");
    c.call(Call::Delete { name: key.clone() }).unwrap();
    assert_eq!(
        finished(&getter, "parked get"),
        Err(Some(ErrorKind::Deleted))
    );
    let err = c.call(Call::Delete { name: key }).unwrap_err();
    assert_eq!(err.server_kind(), Some(ErrorKind::NotFound));
}

pub fn wrong_kind_is_an_error(connect: Connect) {
    let c = connect();
    let key = name("kind");
    let _q: Queue<u8> = Queue::open(&c, key.as_str(), None).unwrap();
    let err = Event::open(&c, key.as_str()).unwrap_err();
    assert_eq!(err.server_kind(), Some(ErrorKind::WrongType));
    assert!(err.to_string().contains("Queue"), "{err}");
    let op = Call::Op {
        name: key,
        op: strato_proto::Op::Load,
    };
    assert_eq!(
        c.call(op).unwrap_err().server_kind(),
        Some(ErrorKind::WrongType)
    );
}

pub fn many_connections_one_counter(connect: Connect) {
    let key = name("counter");
    // Every handle is open before any thread starts (see `mutex_excludes`).
    let counters: Vec<_> = (0..8)
        .map(|_| AtomicU64::open(&connect(), key.as_str(), 0).unwrap())
        .collect();
    let workers: Vec<_> = counters
        .into_iter()
        .map(|counter| {
            background(move || {
                (0..100)
                    .map(|_| counter.fetch_add(1, SeqCst))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let seen: Vec<u64> = workers.iter().flat_map(|w| finished(w, "worker")).collect();
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        800,
        "every fetch_add saw a distinct previous value"
    );
    assert_eq!(distinct.iter().max(), Some(&799));
    let before = object_count(&connect());
    assert!(before <= 1, "only the counter is alive: {before}");
}

pub fn large_values(connect: Connect) {
    let q: Queue<Vec<u8>> = Queue::open(&connect(), name("large"), None).unwrap();
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
    q.put(big.clone());
    assert_eq!(q.get(), big);
}
