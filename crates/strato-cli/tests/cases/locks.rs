//! Mutex, RwLock, ReentrantLock, Semaphore, Condvar.

use std::sync::{Arc, TryLockError};

use strato::sync::{Condvar, Mutex, ReentrantLock, RwLock, RwLockWriteGuard, Semaphore};
use strato::ErrorKind;

use super::{assert_blocked, background, finished, name, Connect, SHORT};

pub fn mutex_excludes(connect: Connect) {
    let key = name("mutex");
    let m = Mutex::open(&connect(), key.as_str(), (0u32, 0u32)).unwrap();
    // Every handle is open before any thread starts: a thread that finished and dropped the
    // only handle would let the mutex be collected, and the next open make a new one.
    let handles: Vec<_> = (0..4)
        .map(|_| Mutex::open(&connect(), key.as_str(), (0u32, 0u32)).unwrap())
        .collect();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|m| {
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let mut g = m.lock().unwrap();
                    let (inside, total) = *g;
                    assert_eq!(inside, 0, "two holders at once");
                    *g = (1, total);
                    *g = (0, total + 1);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*m.lock().unwrap(), (0, 100));
}

pub fn mutex_try_and_timeout(connect: Connect) {
    let key = name("try");
    let m = Mutex::open(&connect(), key.as_str(), 5u8).unwrap();
    let other = Mutex::open(&connect(), key.as_str(), 0u8).unwrap();
    let guard = m.lock().unwrap();
    assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(matches!(
        other.lock_timeout(SHORT),
        Err(TryLockError::WouldBlock)
    ));
    let waiter = background(move || *other.lock().unwrap());
    assert_blocked(&waiter, "lock of a held mutex");
    drop(guard);
    assert_eq!(finished(&waiter, "lock after release"), 5);
    assert_eq!(*m.try_lock().unwrap(), 5);
}

pub fn mutex_waiters_are_served_in_order(connect: Connect) {
    let key = name("order");
    let m = Mutex::open(&connect(), key.as_str(), Vec::<u32>::new()).unwrap();
    let guard = m.lock().unwrap();
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mine = Mutex::open(&connect(), key.as_str(), Vec::<u32>::new()).unwrap();
        let c = connect();
        waiters.push(background(move || mine.lock().unwrap().push(i)));
        // Each waiter is parked before the next one asks.
        super::super::common::eventually("waiter parked", || {
            super::super::common::parked_count(&c) == i as u64 + 1
        });
    }
    drop(guard);
    waiters.iter().for_each(|w| finished(w, "waiter"));
    assert_eq!(*m.lock().unwrap(), vec![0, 1, 2], "FIFO hand-over");
}

pub fn rwlock_readers_share_writers_exclude(connect: Connect) {
    let key = name("rw");
    let lock = RwLock::open(&connect(), key.as_str(), 1u32).unwrap();
    let other = Arc::new(RwLock::open(&connect(), key.as_str(), 0u32).unwrap());
    let r1 = lock.read().unwrap();
    let r2 = other.try_read().unwrap();
    assert_eq!(*r1 + *r2, 2);
    assert!(matches!(other.try_write(), Err(TryLockError::WouldBlock)));
    let writer = {
        let other = other.clone();
        background(move || *other.write().unwrap() += 10)
    };
    assert_blocked(&writer, "write while read-locked");
    // A reader arriving after a waiting writer queues behind it.
    assert!(matches!(
        lock.read_timeout(SHORT),
        Err(TryLockError::WouldBlock)
    ));
    drop((r1, r2));
    finished(&writer, "writer");
    assert_eq!(*lock.read().unwrap(), 11);
    let w = lock.write().unwrap();
    assert!(matches!(
        other.read_timeout(SHORT),
        Err(TryLockError::WouldBlock)
    ));
    drop(w);
}

pub fn poison_can_be_read_and_cleared(connect: Connect) {
    let m = Mutex::open(&connect(), name("poisoned-mutex"), 0u32).unwrap();
    let rw = RwLock::open(&connect(), name("poisoned-rw"), 0u32).unwrap();
    assert!(!m.is_poisoned() && !rw.is_poisoned());
    let (m2, rw2) = (
        Mutex::open(&connect(), name("poisoned-mutex"), 0u32).unwrap(),
        RwLock::open(&connect(), name("poisoned-rw"), 0u32).unwrap(),
    );
    let panicked = std::thread::spawn(move || {
        let _m = m2.lock().unwrap();
        let _w = rw2.write().unwrap();
        panic!("holders panic");
    })
    .join();
    assert!(panicked.is_err());
    assert!(m.is_poisoned() && rw.is_poisoned());
    let held = m.lock().unwrap_err().into_inner();
    assert!(m.is_poisoned(), "read without waiting for the lock");
    drop(held);
    m.clear_poison();
    rw.clear_poison();
    assert!(!m.is_poisoned() && !rw.is_poisoned());
    assert!(m.lock().is_ok() && rw.read().is_ok());
}

pub fn rwlock_downgrade_lets_readers_in_and_keeps_writers_out(connect: Connect) {
    let key = name("downgrade");
    let lock = RwLock::open(&connect(), key.as_str(), 1u32).unwrap();
    let other = RwLock::open(&connect(), key.as_str(), 0u32).unwrap();
    let mut write = lock.write().unwrap();
    *write = 5;
    let read = RwLockWriteGuard::downgrade(write);
    assert_eq!(*read, 5);
    assert_eq!(
        *other.try_read().unwrap(),
        5,
        "the write is stored and readers share"
    );
    assert!(matches!(other.try_write(), Err(TryLockError::WouldBlock)));
    drop(read);
    *other.try_write().unwrap() += 1;
    assert_eq!(lock.into_inner().unwrap(), 6);
}

pub fn reentrant_lock_keeps_what_its_owner_changed_inside(connect: Connect) {
    use std::cell::{Cell, RefCell};
    let key = name("reentrant-cell");
    let lock = ReentrantLock::open(&connect(), key.as_str(), RefCell::new(vec![1u32])).unwrap();
    {
        let outer = lock.lock();
        outer.borrow_mut().push(2);
        let inner = lock.lock();
        assert_eq!(*inner.borrow(), vec![1, 2], "nested guards share the value");
        inner.borrow_mut().push(3);
    }
    let other =
        ReentrantLock::<RefCell<Vec<u32>>>::open(&connect(), key.as_str(), RefCell::default())
            .unwrap();
    assert_eq!(
        *other.lock().borrow(),
        vec![1, 2, 3],
        "stored when released"
    );

    let counter =
        ReentrantLock::open(&connect(), name("reentrant-count"), Cell::new(0u64)).unwrap();
    for _ in 0..3 {
        let guard = counter.lock();
        guard.set(guard.get() + 1);
    }
    assert_eq!(counter.lock().get(), 3);
}

pub fn reentrant_lock(connect: Connect) {
    let key = name("reentrant");
    let lock = ReentrantLock::open(&connect(), key.as_str(), "v".to_string()).unwrap();
    let outer = lock.lock();
    let inner = lock.try_lock().expect("the owner re-enters");
    let other = ReentrantLock::<String>::open(&connect(), key.as_str(), String::new()).unwrap();
    let waiter = background(move || other.lock().clone());
    assert_blocked(&waiter, "another thread's lock");
    drop(inner);
    assert_blocked(&waiter, "lock still held once");
    drop(outer);
    assert_eq!(finished(&waiter, "lock after full release"), "v");
}

pub fn semaphore(connect: Connect) {
    let key = name("sem");
    let sem = Semaphore::open(&connect(), key.as_str(), 1, Some(1)).unwrap();
    let other = Semaphore::open(&connect(), key.as_str(), 1, Some(1)).unwrap();
    let err = sem.release().unwrap_err();
    assert_eq!(
        err.server_kind(),
        Some(ErrorKind::Overflow),
        "bounded: {err}"
    );
    sem.acquire();
    assert!(!sem.try_acquire());
    assert!(!sem.acquire_timeout(SHORT));
    let waiter = background(move || other.acquire());
    assert_blocked(&waiter, "acquire with no permit");
    sem.release().unwrap();
    finished(&waiter, "acquire after release");
    assert_eq!(sem.available_permits(), 0);
    let unbounded = Semaphore::open(&connect(), name("unbounded"), 0, None).unwrap();
    unbounded.release().unwrap();
    unbounded.release().unwrap();
    assert_eq!(unbounded.available_permits(), 2);
}

pub fn condvar_notify_one_and_all(connect: Connect) {
    let (mkey, ckey) = (name("cv-mutex"), name("cv"));
    let open = || {
        let c = connect();
        let m = Mutex::open(&c, mkey.as_str(), 0u32).unwrap();
        let cv = Condvar::open(&c, ckey.as_str()).unwrap();
        (m, cv)
    };
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (m, cv) = open();
            background(move || {
                let g = cv.wait_while(m.lock().unwrap(), |go| *go == 0).unwrap();
                *g
            })
        })
        .collect();
    let (m, cv) = open();
    let c = connect();
    super::super::common::eventually("three waiters parked", || {
        super::super::common::parked_count(&c) == 3
    });
    // notify_one without a state change: exactly one wakes, re-checks, waits again.
    cv.notify_one();
    super::super::common::eventually("the woken waiter parks again", || {
        super::super::common::parked_count(&c) == 3
    });
    *m.lock().unwrap() = 7;
    cv.notify_all();
    for w in &waiters {
        assert_eq!(finished(w, "waiter after notify_all"), 7);
    }
}

pub fn condvar_wait_timeout(connect: Connect) {
    let c = connect();
    let m = Mutex::open(&c, name("cvt-mutex"), 1u8).unwrap();
    let cv = Condvar::open(&c, name("cvt")).unwrap();
    let mut g = m.lock().unwrap();
    *g = 2;
    let (g, timeout) = cv.wait_timeout(g, SHORT).unwrap();
    assert!(timeout.timed_out());
    assert_eq!(
        *g, 2,
        "the guard is held again, with the value written before the wait"
    );
    let (g, timeout) = cv.wait_timeout_while(g, SHORT, |v| *v == 2).unwrap();
    assert!(timeout.timed_out());
    drop(g);
    assert!(
        m.try_lock().is_ok(),
        "the mutex is free after the guard drops"
    );
}

pub fn condvar_rejects_a_second_mutex(connect: Connect) {
    let c = connect();
    let first = Mutex::open(&c, name("cv2-a"), 0u8).unwrap();
    let second = Mutex::open(&c, name("cv2-b"), 0u8).unwrap();
    let cv = Condvar::open(&c, name("cv2")).unwrap();
    let _ = cv.wait_timeout(first.lock().unwrap(), SHORT).unwrap();
    let misuse = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cv.wait_timeout(second.lock().unwrap(), SHORT);
    }));
    assert!(
        misuse.is_err(),
        "std panics when a condvar is used with two mutexes"
    );
}
