//! The guarantees std's documentation gives for `Mutex`, `Condvar`, `Barrier`, `mpsc` and
//! the atomics, checked against strato's look-alikes on an embedded state server, so that
//! code moved from `std::sync` to `strato::sync` keeps behaving as it did.
//!
//! Each test opens its own server; threads that stand for separate processes get their own
//! connection. Waiting is synchronised on the server's parked-call count, never on sleeps.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc::{Receiver as StdReceiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use strato::sync::mpsc::{channel_in, sync_channel_in, RecvError, SendError};
use strato::sync::{Barrier, Condvar, Mutex, TryLockError};
use strato::Client;

use common::{eventually, parked_count, Backend, Embedded};

/// Runs `f` on a thread; the receiver gets its result (or nothing, if it panicked).
fn background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> StdReceiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(tx.send(f())));
    rx
}

/// The result of a background call, which must come.
fn finished<T>(rx: &StdReceiver<T>, what: &str) -> T {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what} never finished: {e}"))
}

/// Waits until exactly `n` calls are parked on `server`.
fn parked(server: &Embedded, n: u64, what: &str) {
    let observer = server.client();
    eventually(what, || parked_count(&observer) == n);
}

mod mutex {
    use super::*;

    /// A mutex (kept open here) whose holder, on another connection, panicked after
    /// writing `written`.
    fn poisoned_by_a_panic(server: &Embedded, written: u32) -> Mutex<u32> {
        let m = Mutex::open(&server.client(), "m", 0u32).unwrap();
        let holder = server.client();
        let panicked = std::thread::spawn(move || {
            let m = Mutex::open(&holder, "m", 0u32).unwrap();
            let mut guard = m.lock().unwrap();
            *guard = written;
            panic!("the holder panics with the lock held");
        })
        .join();
        assert!(panicked.is_err(), "the holder thread panicked");
        m
    }

    /// Locks `m` in its `Drop`, which runs while the thread unwinds.
    struct LocksOnDrop(Mutex<u32>);

    impl Drop for LocksOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[test]
    fn a_lock_taken_during_unwinding_does_not_poison_as_in_std() {
        let server = Embedded::start();
        let m = Mutex::open(&server.client(), "m", 0u32).unwrap();
        let dropper = LocksOnDrop(Mutex::open(&server.client(), "m", 0u32).unwrap());
        let panicked = std::thread::spawn(move || {
            let _dropper = dropper;
            panic!("unwinds through a Drop that locks");
        })
        .join();
        assert!(panicked.is_err());
        assert!(
            !m.is_poisoned(),
            "std poisons only when a panic began while held"
        );
        assert_eq!(*m.lock().unwrap(), 1);
    }

    #[test]
    fn a_panic_while_locked_poisons_and_the_guard_still_gives_the_value() {
        let server = Embedded::start();
        let m = poisoned_by_a_panic(&server, 41);
        let poisoned = m.lock().expect_err("lock after a panicking holder");
        assert_eq!(
            *poisoned.into_inner(),
            41,
            "the write before the panic is kept"
        );
    }

    #[test]
    fn poison_persists_for_later_lockers() {
        let server = Embedded::start();
        let m = poisoned_by_a_panic(&server, 1);
        *m.lock().unwrap_err().into_inner() = 2;
        let other = Mutex::open(&server.client(), "m", 0u32).unwrap();
        assert_eq!(*other.lock().unwrap_err().into_inner(), 2, "still poisoned");
        match other.try_lock() {
            Err(TryLockError::Poisoned(p)) => assert_eq!(*p.into_inner(), 2),
            other => panic!("try_lock of a poisoned mutex: {other:?}"),
        }
        assert!(m.into_inner().is_err(), "into_inner reports the poison too");
    }

    #[test]
    fn only_a_panic_with_the_lock_held_poisons() {
        let server = Embedded::start();
        let m = Mutex::open(&server.client(), "m", 0u32).unwrap();
        let holder = server.client();
        let joined = std::thread::spawn(move || {
            let m = Mutex::open(&holder, "m", 0u32).unwrap();
            *m.lock().unwrap() += 1;
            panic!("the thread panics after it unlocked");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(*m.lock().expect("not poisoned"), 1);
    }
}

mod condvar {
    use super::*;

    /// A waiter for `value >= goal` on its own connection; returns (value, checks made).
    fn waiter(server: &Embedded, goal: u32) -> StdReceiver<(u32, u32)> {
        let client = server.client();
        background(move || {
            let m = Mutex::open(&client, "m", 0u32).unwrap();
            let cv = Condvar::open(&client, "cv").unwrap();
            let mut checks = 0;
            let guard = cv.wait_while(m.lock().unwrap(), |v| {
                checks += 1;
                *v < goal
            });
            let value = *guard.unwrap();
            (value, checks)
        })
    }

    #[test]
    fn wait_while_returns_only_once_the_condition_holds() {
        let server = Embedded::start();
        let done = waiter(&server, 10);
        let client = server.client();
        let m = Mutex::open(&client, "m", 0u32).unwrap();
        let cv = Condvar::open(&client, "cv").unwrap();
        for step in 1..=10 {
            parked(&server, 1, "the waiter waits again");
            assert!(
                matches!(done.try_recv(), Err(TryRecvError::Empty)),
                "woke early"
            );
            *m.lock().unwrap() = step;
            cv.notify_all();
        }
        assert_eq!(
            finished(&done, "the waiter"),
            (10, 11),
            "woken 10 times, ended once"
        );
    }

    #[test]
    fn notify_one_without_a_change_is_harmless() {
        let server = Embedded::start();
        let done = waiter(&server, 1);
        let client = server.client();
        let m = Mutex::open(&client, "m", 0u32).unwrap();
        let cv = Condvar::open(&client, "cv").unwrap();
        for _ in 0..5 {
            parked(&server, 1, "the waiter waits");
            cv.notify_one();
        }
        parked(&server, 1, "the waiter still waits");
        *m.lock().unwrap() = 1;
        cv.notify_one();
        assert_eq!(finished(&done, "the waiter").0, 1);
    }

    #[test]
    fn wait_timeout_reports_timed_out() {
        let server = Embedded::start();
        let client = server.client();
        let m = Mutex::open(&client, "m", 5u32).unwrap();
        let cv = Condvar::open(&client, "cv").unwrap();
        let limit = Duration::from_millis(50);
        let start = Instant::now();
        let (guard, result) = cv.wait_timeout(m.lock().unwrap(), limit).unwrap();
        assert!(result.timed_out());
        assert!(start.elapsed() >= limit, "returned before the timeout");
        assert_eq!(*guard, 5, "the guard is held again");
        let (guard, result) = cv.wait_timeout_while(guard, limit, |v| *v == 5).unwrap();
        assert!(result.timed_out(), "the condition never changed");
        drop(guard);
    }

    #[test]
    fn a_notified_timed_wait_has_not_timed_out() {
        let server = Embedded::start();
        let client = server.client();
        let timed = background(move || {
            let m = Mutex::open(&client, "m", 0u32).unwrap();
            let cv = Condvar::open(&client, "cv").unwrap();
            let (guard, result) = cv
                .wait_timeout(m.lock().unwrap(), Duration::from_secs(30))
                .unwrap();
            (*guard, result.timed_out())
        });
        parked(&server, 1, "the timed waiter waits");
        let other = server.client();
        let m = Mutex::open(&other, "m", 0u32).unwrap();
        *m.lock().unwrap() = 3;
        Condvar::open(&other, "cv").unwrap().notify_one();
        assert_eq!(finished(&timed, "the timed waiter"), (3, false));
    }
    #[test]
    fn wait_reports_a_mutex_poisoned_while_it_waited() {
        let server = Embedded::start();
        let client = server.client();
        let waiting = background(move || {
            let m = Mutex::open(&client, "m", 0u32).unwrap();
            let cv = Condvar::open(&client, "cv").unwrap();
            let woken = cv.wait(m.lock().unwrap());
            woken.map(|g| *g).map_err(|p| *p.into_inner())
        });
        parked(&server, 1, "the waiter waits");
        let holder = server.client();
        let panicked = std::thread::spawn(move || {
            let m = Mutex::open(&holder, "m", 0u32).unwrap();
            let mut guard = m.lock().unwrap();
            *guard = 8;
            panic!("the holder panics while the waiter waits");
        })
        .join();
        assert!(panicked.is_err());
        Condvar::open(&server.client(), "cv").unwrap().notify_one();
        assert_eq!(
            finished(&waiting, "the waiter"),
            Err(8),
            "wait returns the poison"
        );
    }
}

mod barrier {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use super::*;

    const PARTIES: usize = 4;
    const GENERATIONS: usize = 5;

    /// One party: for each generation, arrives, waits, checks every party arrived.
    fn party(client: Client, arrivals: Arc<AtomicUsize>) -> Vec<bool> {
        let b = Barrier::open(&client, "b", PARTIES).unwrap();
        (1..=GENERATIONS)
            .map(|generation| {
                arrivals.fetch_add(1, SeqCst);
                let leader = b.wait().is_leader();
                let arrived = arrivals.load(SeqCst);
                assert!(arrived >= generation * PARTIES, "left before all arrived");
                leader
            })
            .collect()
    }

    #[test]
    fn exactly_one_leader_per_generation() {
        let server = Embedded::start();
        let arrivals = Arc::new(AtomicUsize::new(0));
        let parties: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (client, arrivals) = (server.client(), arrivals.clone());
                background(move || party(client, arrivals))
            })
            .collect();
        let results: Vec<Vec<bool>> = parties.iter().map(|p| finished(p, "party")).collect();
        for generation in 0..GENERATIONS {
            let leaders = results.iter().filter(|r| r[generation]).count();
            assert_eq!(leaders, 1, "generation {generation}");
        }
    }

    #[test]
    fn a_barrier_is_reusable_and_orders_each_phase() {
        let server = Embedded::start();
        let client = server.client();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let log = log.clone();
            background(move || {
                let b = Barrier::open(&client, "b", 2).unwrap();
                for phase in 0..3 {
                    log.lock().unwrap().push(phase);
                    b.wait();
                    b.wait();
                }
            })
        };
        let b = Barrier::open(&server.client(), "b", 2).unwrap();
        for phase in 0..3 {
            b.wait();
            assert_eq!(
                log.lock().unwrap().last(),
                Some(&phase),
                "phase {phase} written"
            );
            b.wait();
        }
        finished(&writer, "the other party");
    }

    #[test]
    fn a_barrier_of_one_or_zero_never_blocks() {
        let server = Embedded::start();
        for parties in [1, 0] {
            let b = Barrier::open(&server.client(), format!("b{parties}"), parties).unwrap();
            assert!((0..3).all(|_| b.wait().is_leader()), "{parties} parties");
        }
    }
}

mod mpsc {
    use super::*;

    #[test]
    fn each_senders_messages_arrive_in_send_order() {
        let server = Embedded::start();
        let (tx, rx) = channel_in::<(usize, u32)>(&server.client()).unwrap();
        let senders: Vec<_> = (0..4)
            .map(|s| {
                let tx = tx.clone();
                background(move || (0..200).for_each(|i| tx.send((s, i)).unwrap()))
            })
            .collect();
        drop(tx);
        let mut next = [0u32; 4];
        for (s, i) in rx.iter() {
            assert_eq!(i, next[s], "sender {s} out of order");
            next[s] += 1;
        }
        senders.iter().for_each(|s| finished(s, "sender"));
        assert_eq!(next, [200; 4]);
    }

    #[test]
    fn recv_fails_once_senders_are_gone_and_the_queue_is_drained() {
        let server = Embedded::start();
        let (tx, rx) = channel_in::<u8>(&server.client()).unwrap();
        let second = tx.clone();
        tx.send(1).unwrap();
        second.send(2).unwrap();
        drop((tx, second));
        assert_eq!(
            (rx.recv(), rx.recv()),
            (Ok(1), Ok(2)),
            "queued messages first"
        );
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn a_blocked_recv_wakes_when_the_last_sender_drops() {
        let server = Embedded::start();
        let (tx, rx) = channel_in::<u8>(&server.client()).unwrap();
        let receiving = background(move || rx.recv());
        parked(&server, 1, "recv waits");
        drop(tx);
        assert_eq!(finished(&receiving, "recv"), Err(RecvError));
    }

    #[test]
    fn send_gives_the_value_back_once_the_receiver_is_gone() {
        let server = Embedded::start();
        let (tx, rx) = channel_in::<String>(&server.client()).unwrap();
        tx.send("taken".into()).unwrap();
        drop(rx);
        assert_eq!(tx.send("back".into()), Err(SendError("back".to_string())));
        let (tx, rx) = sync_channel_in::<Vec<u8>>(&server.client(), 1).unwrap();
        drop(rx);
        assert_eq!(tx.send(vec![1, 2]), Err(SendError(vec![1, 2])));
    }

    #[test]
    fn iter_ends_on_disconnection() {
        let server = Embedded::start();
        let (tx, rx) = channel_in::<u32>(&server.client()).unwrap();
        assert_eq!(rx.try_iter().count(), 0, "try_iter does not wait");
        let sender = background(move || (0..5).for_each(|i| tx.send(i).unwrap()));
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        finished(&sender, "sender");
        let (tx, rx) = channel_in::<u32>(&server.client()).unwrap();
        tx.send(9).unwrap();
        drop(tx);
        assert_eq!(rx.into_iter().collect::<Vec<_>>(), vec![9], "into_iter too");
    }

    #[test]
    fn sync_channel_blocks_the_send_past_its_bound() {
        let server = Embedded::start();
        let (tx, rx) = sync_channel_in::<u32>(&server.client(), 2).unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let third = background(move || tx.send(3));
        parked(&server, 1, "the third send waits");
        assert!(matches!(third.try_recv(), Err(TryRecvError::Empty)));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(finished(&third, "the third send"), Ok(()));
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn a_zero_bound_channel_hands_over_only_to_a_waiting_receiver() {
        let server = Embedded::start();
        let (tx, rx) = sync_channel_in::<u32>(&server.client(), 0).unwrap();
        let sending = background(move || tx.send(7));
        parked(&server, 1, "the send waits for a receiver");
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(finished(&sending, "the send"), Ok(()));
    }
}

mod atomics {
    use std::sync::atomic as std_atomic;

    use strato::sync::atomic::{AtomicBool, AtomicF64, AtomicI64, AtomicU64};

    use super::*;

    /// Runs each `op` from every start value with every argument on a strato atomic and on
    /// a std one: the previous values and the results must agree.
    macro_rules! same_as_std {
        ($ours:expr, $theirs:expr, $inputs:expr, [$($op:ident),*]) => {
            for &start in $inputs.iter() {
                for &arg in $inputs.iter() {
                    $(
                        $ours.store(start, SeqCst);
                        $theirs.store(start, SeqCst);
                        let what = format!("{}({start:?}, {arg:?})", stringify!($op));
                        assert_eq!($ours.$op(arg, SeqCst), $theirs.$op(arg, SeqCst), "{what}: previous");
                        assert_eq!($ours.load(SeqCst), $theirs.load(SeqCst), "{what}: result");
                    )*
                }
            }
        };
    }

    #[test]
    fn fetch_add_and_sub_wrap_like_std() {
        let server = Embedded::start();
        let client = server.client();
        let u = AtomicU64::open(&client, "u", u64::MAX).unwrap();
        assert_eq!(u.fetch_add(2, SeqCst), u64::MAX);
        assert_eq!(u.load(SeqCst), 1);
        assert_eq!(u.fetch_sub(3, SeqCst), 1);
        assert_eq!(u.load(SeqCst), u64::MAX - 1);
        let i = AtomicI64::open(&client, "i", i64::MAX).unwrap();
        assert_eq!(i.fetch_add(1, SeqCst), i64::MAX);
        assert_eq!(i.load(SeqCst), i64::MIN);
        assert_eq!(i.fetch_sub(1, SeqCst), i64::MIN);
        assert_eq!(i.load(SeqCst), i64::MAX);
    }

    #[test]
    fn u64_fetch_ops_match_std() {
        let server = Embedded::start();
        let ours = AtomicU64::open(&server.client(), "u", 0).unwrap();
        let theirs = std_atomic::AtomicU64::new(0);
        let inputs = [0, 1, 0b1010_0110, 1 << 63, u64::MAX - 1, u64::MAX];
        same_as_std!(
            ours,
            theirs,
            inputs,
            [fetch_add, fetch_sub, fetch_and, fetch_or]
        );
        same_as_std!(
            ours,
            theirs,
            inputs,
            [fetch_xor, fetch_nand, fetch_max, fetch_min, swap]
        );
    }

    #[test]
    fn i64_fetch_ops_match_std() {
        let server = Embedded::start();
        let ours = AtomicI64::open(&server.client(), "i", 0).unwrap();
        let theirs = std_atomic::AtomicI64::new(0);
        let inputs = [i64::MIN, -77, -1, 0, 1, 0x5a5a, i64::MAX];
        same_as_std!(
            ours,
            theirs,
            inputs,
            [fetch_add, fetch_sub, fetch_and, fetch_or]
        );
        same_as_std!(
            ours,
            theirs,
            inputs,
            [fetch_xor, fetch_nand, fetch_max, fetch_min, swap]
        );
    }

    #[test]
    fn bool_ops_match_std() {
        let server = Embedded::start();
        let ours = AtomicBool::open(&server.client(), "b", false).unwrap();
        let theirs = std_atomic::AtomicBool::new(false);
        let inputs = [false, true];
        same_as_std!(
            ours,
            theirs,
            inputs,
            [fetch_and, fetch_or, fetch_xor, fetch_nand, swap]
        );
        for start in inputs {
            ours.store(start, SeqCst);
            theirs.store(start, SeqCst);
            assert_eq!(ours.fetch_not(SeqCst), theirs.fetch_xor(true, SeqCst));
            assert_eq!(ours.load(SeqCst), !start);
        }
    }

    #[test]
    fn compare_exchange_failure_returns_the_actual_value() {
        let server = Embedded::start();
        let client = server.client();
        let u = AtomicU64::open(&client, "u", 5).unwrap();
        assert_eq!(u.compare_exchange(4, 9, SeqCst, SeqCst), Err(5));
        assert_eq!(u.compare_exchange_weak(5, 9, SeqCst, SeqCst), Ok(5));
        assert_eq!(u.load(SeqCst), 9);
        let i = AtomicI64::open(&client, "i", -2).unwrap();
        assert_eq!(i.compare_exchange(2, 0, SeqCst, SeqCst), Err(-2));
        let b = AtomicBool::open(&client, "b", true).unwrap();
        assert_eq!(b.compare_exchange(false, false, SeqCst, SeqCst), Err(true));
        let f = AtomicF64::open(&client, "f", 1.5).unwrap();
        assert_eq!(f.compare_exchange(1.0, 2.0, SeqCst, SeqCst), Err(1.5));
        assert_eq!(
            u.fetch_update(SeqCst, SeqCst, |v| (v < 9).then_some(0)),
            Err(9)
        );
        assert_eq!(u.fetch_update(SeqCst, SeqCst, |v| Some(v + 1)), Ok(9));
        assert_eq!(u.load(SeqCst), 10);
    }

    #[test]
    fn f64_fetch_add_is_atomic_and_rounds_like_f64() {
        let server = Embedded::start();
        let f = AtomicF64::open(&server.client(), "f", 0.1).unwrap();
        assert_eq!(f.fetch_add(0.2, SeqCst), 0.1);
        assert_eq!(
            f.load(SeqCst).to_bits(),
            (0.1f64 + 0.2).to_bits(),
            "same rounding"
        );
        f.store(0.0, SeqCst);
        let adders: Vec<_> = (0..4)
            .map(|_| {
                let mine = AtomicF64::open(&server.client(), "f", 0.0).unwrap();
                background(move || {
                    for _ in 0..50 {
                        mine.fetch_add(0.5, SeqCst);
                    }
                })
            })
            .collect();
        adders.iter().for_each(|a| finished(a, "adder"));
        assert_eq!(f.load(SeqCst), 100.0, "no update lost");
        assert_eq!(f.fetch_max(-1.0, SeqCst), 100.0);
        assert_eq!(f.fetch_min(-1.0, SeqCst), 100.0);
        assert_eq!(f.load(SeqCst), -1.0);
    }
}
