//! `strato::Pool` against real worker processes (this test binary, re-executed): every
//! method of Python's `multiprocessing.Pool`, including the ones Lithops gets wrong — `imap`
//! is lazy, `error_callback` is called, `terminate` stops the workers — and no worker
//! process outliving its pool.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use strato::pool::PoolError;
use strato::sync::atomic::{AtomicU64, Ordering};
use strato::sync::Event;
use strato::Pool;

const WAIT: Duration = Duration::from_secs(8);

fn pool(processes: usize) -> Pool {
    Pool::new(processes).expect("start a pool")
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !stat.is_empty() && !state.starts_with('Z') && !state.starts_with('X')
}

/// Workers started by this test process that are still alive.
fn my_workers() -> Vec<u32> {
    let marker = format!("STRATO_DRIVER_PID={}", std::process::id());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            alive(*pid) && environ.split(|b| *b == 0).any(|v| v == marker.as_bytes())
        })
        .collect()
}

/// Checks that none of `pids` (a pool's workers) is alive any more.
fn assert_stopped(pids: &[u32]) {
    assert!(!pids.is_empty(), "the pool had workers");
    let left: Vec<u32> = my_workers()
        .into_iter()
        .filter(|p| pids.contains(p))
        .collect();
    assert!(left.is_empty(), "workers {left:?} outlived their pool");
}

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn map_gives_results_in_input_order_with_any_chunksize() {
    let pool = pool(2);
    let expected: Vec<u64> = (0..1000).map(square).collect();
    assert_eq!(pool.map(square, 0..1000).unwrap(), expected);
    assert_eq!(pool.chunksize(7).map(square, 0..1000).unwrap(), expected);
    assert_eq!(pool.chunksize(5000).map(square, 0..1000).unwrap(), expected);
    assert_eq!(pool.map(square, Vec::new()).unwrap(), Vec::<u64>::new());
    let pids = pool.worker_pids();
    drop(pool);
    assert_stopped(&pids);
}

/// Waits for the gate (at most `WAIT`), then returns `x`.
fn gated((gate, x): (Event, u32)) -> u32 {
    assert!(gate.wait_timeout(WAIT), "the gate never opened");
    x
}

#[test]
fn map_async_is_ready_only_once_every_task_is_done() {
    let pool = pool(2);
    let gate = Event::new();
    let items: Vec<(Event, u32)> = (0..6).map(|x| (gate.clone(), x)).collect();
    let result = pool.map_async(gated, items).unwrap();
    assert!(!result.ready());
    assert_eq!(result.successful(), None);
    assert!(!result.wait_timeout(Duration::from_millis(50)));
    let waited = Duration::from_millis(50);
    assert_eq!(result.get_timeout(waited), Err(PoolError::Timeout(waited)));
    gate.set();
    assert_eq!(result.get(), Ok(vec![0, 1, 2, 3, 4, 5]));
    assert!(result.ready());
    assert_eq!(result.successful(), Some(true));
    assert_eq!(
        result.get(),
        Ok(vec![0, 1, 2, 3, 4, 5]),
        "get can be repeated"
    );
}

fn fail_on_two(x: u64) -> u64 {
    if x == 2 {
        panic!("two is not allowed");
    }
    x
}

#[test]
fn apply_runs_one_call_and_a_panic_carries_its_message() {
    let pool = pool(1);
    assert_eq!(pool.apply(square, 12).unwrap(), 144);
    let error = pool.apply(fail_on_two, 2).unwrap_err();
    assert!(error.is_panic(), "{error:?}");
    assert_eq!(error.panic_message(), Some("two is not allowed"));
    let error = pool.map(fail_on_two, 0..5).unwrap_err();
    assert_eq!(error.panic_message(), Some("two is not allowed"));
    let outcomes: Vec<_> = pool.imap(fail_on_two, 1..4, 1).unwrap().collect();
    assert_eq!(outcomes[0], Ok(1));
    assert!(outcomes[1].as_ref().is_err_and(PoolError::is_panic));
    assert_eq!(outcomes[2], Ok(3));
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn describe(name: String, count: u32, flag: bool) -> String {
    format!("{name}:{count}:{flag}")
}

#[test]
fn starmap_spreads_each_tuple_over_the_arguments() {
    let pool = pool(2);
    let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, 100 * i)).collect();
    let sums = pool.starmap(add, pairs).unwrap();
    assert_eq!(sums, (0..50).map(|i| 101 * i).collect::<Vec<u64>>());
    let triples = vec![("a".to_string(), 1, true), ("b".to_string(), 2, false)];
    let described = pool
        .starmap_async(describe, triples)
        .unwrap()
        .get()
        .unwrap();
    assert_eq!(described, ["a:1:true", "b:2:false"]);
    let chunked = pool.chunksize(3).starmap(add, [(1, 1), (2, 2)]).unwrap();
    assert_eq!(chunked, vec![2, 4]);
}

/// Slower for smaller inputs, so that later items finish first.
fn slower_when_small(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis((10 - x) * 15));
    x
}

#[test]
fn imap_yields_in_input_order_even_when_later_items_finish_first() {
    let pool = pool(2);
    let results: Vec<u64> = pool
        .imap(slower_when_small, 0..10, 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..10).collect::<Vec<u64>>());
}

#[test]
fn imap_is_lazy_a_consumer_that_stops_early_does_not_force_the_input() {
    let pool = pool(2);
    for chunksize in [1, 3] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let counted = (0u64..100_000).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let first: Vec<u64> = pool
            .imap(square, counted, chunksize)
            .unwrap()
            .take(5)
            .map(Result::unwrap)
            .collect();
        assert_eq!(first, vec![0, 1, 4, 9, 16]);
        let pulled = pulled.load(Ordering::SeqCst);
        let window = 2 * pool.processes() * chunksize;
        assert!(
            pulled <= 5 + window,
            "imap pulled {pulled} items to give 5 (chunksize {chunksize})"
        );
    }
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let endless = (0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut unordered = pool.imap_unordered(square, endless, 2).unwrap();
    for _ in 0..5 {
        unordered.next().unwrap().unwrap();
    }
    assert!(pulled.load(Ordering::SeqCst) <= 5 + 2 * pool.processes() * 2);
}

#[test]
fn imap_unordered_yields_every_result_exactly_once() {
    let pool = pool(2);
    let mut results: Vec<u64> = pool
        .imap_unordered(square, 0..300, 7)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    results.sort();
    assert_eq!(results, (0..300).map(square).collect::<Vec<u64>>());
}

/// Item 0 waits for the gate; the others return at once.
fn first_waits((gate, x): (Event, u32)) -> u32 {
    if x == 0 {
        assert!(gate.wait_timeout(WAIT), "the gate never opened");
    }
    x
}

#[test]
fn imap_unordered_yields_in_completion_order() {
    let pool = pool(2);
    let gate = Event::new();
    let items = vec![(gate.clone(), 0), (gate.clone(), 1)];
    let mut results = pool.imap_unordered(first_waits, items, 1).unwrap();
    assert_eq!(results.next(), Some(Ok(1)), "item 1 finished first");
    gate.set();
    assert_eq!(results.next(), Some(Ok(0)));
    assert_eq!(results.next(), None);
}

fn fail(_: u64) -> u64 {
    panic!("failed on purpose")
}

#[derive(Debug, PartialEq)]
enum Called {
    Value(u64, String),
    Values(Vec<u64>),
    Error(Option<String>),
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_string()
}

#[test]
fn callbacks_and_error_callbacks_are_called_in_the_driver() {
    let pool = pool(2);
    let (tx, rx) = mpsc::channel();
    let (ok, err) = (tx.clone(), tx.clone());
    let _ = pool
        .apply_async(square, 7)
        .unwrap()
        .callback(move |v| ok.send(Called::Value(*v, thread_name())).unwrap())
        .error_callback(move |_| panic!("error_callback called on success"));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Called::Value(49, "strato-pool-results".into())
    );
    let _ = pool
        .apply_async(fail, 1)
        .unwrap()
        .callback(|_| panic!("callback called on failure"))
        .error_callback(move |e| {
            let message = e.panic_message().map(str::to_string);
            err.send(Called::Error(message)).unwrap()
        });
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Called::Error(Some("failed on purpose".into()))
    );
    let values = tx.clone();
    let _ = pool
        .map_async(square, 1..=3)
        .unwrap()
        .callback(move |v| values.send(Called::Values(v.clone())).unwrap());
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Called::Values(vec![1, 4, 9])
    );
    pool.close();
    pool.join().unwrap();
    assert!(rx.try_recv().is_err(), "no callback ran twice or wrongly");
}

#[test]
fn a_callback_added_after_the_result_arrived_still_runs() {
    let pool = pool(1);
    let result = pool.apply_async(square, 3).unwrap();
    assert_eq!(result.get(), Ok(9));
    let (tx, rx) = mpsc::channel();
    let first = tx.clone();
    let result = result.callback(move |v| first.send(*v).unwrap());
    assert_eq!(rx.recv_timeout(WAIT), Ok(9));
    let _ = result.callback(move |v| tx.send(*v + 1).unwrap());
    assert_eq!(rx.recv_timeout(WAIT), Ok(10));
}

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    x * x
}

#[test]
fn close_refuses_new_work_and_join_waits_for_all_of_it_and_its_callbacks() {
    let pool = pool(2);
    assert_eq!(pool.join(), Err(PoolError::StillRunning));
    let called = Arc::new(AtomicBool::new(false));
    let flag = called.clone();
    let result = pool
        .map_async(slow_square, 0..20)
        .unwrap()
        .callback(move |_| flag.store(true, Ordering::SeqCst));
    let async_result = pool.apply_async(slow_square, 5).unwrap();
    let endless = pool.imap(square, 0.., 1).unwrap();
    pool.close();
    assert_eq!(pool.apply(square, 1), Err(PoolError::Closed));
    assert_eq!(pool.map(square, 0..3), Err(PoolError::Closed));
    assert!(pool.apply_async(square, 1).is_err());
    assert!(pool.imap(square, 0..3, 1).is_err());
    let pids = pool.worker_pids();
    pool.join().unwrap();
    assert!(result.ready() && async_result.ready(), "join waited");
    assert!(
        called.load(Ordering::SeqCst),
        "join waited for the callback"
    );
    assert_eq!(async_result.get(), Ok(25));
    assert_stopped(&pids);
    let rest: Vec<_> = endless.collect();
    assert!(rest.len() <= 2 * pool.processes() + 1, "{rest:?}");
    assert_eq!(rest.last(), Some(&Err(PoolError::Closed)));
}

#[test]
fn terminate_fails_pending_results_calls_their_error_callbacks_and_stops_workers() {
    let pool = pool(2);
    let mut endless = pool.imap(square, 0.., 1).unwrap();
    assert_eq!(endless.next(), Some(Ok(0)));
    let never = Event::new();
    let items: Vec<(Event, u32)> = (0..4).map(|x| (never.clone(), x)).collect();
    let (tx, rx) = mpsc::channel();
    let pending = pool
        .map_async(gated, items)
        .unwrap()
        .error_callback(move |e| tx.send(e.clone()).unwrap());
    let pids = pool.worker_pids();
    let started = Instant::now();
    pool.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "terminate is prompt"
    );
    assert_stopped(&pids);
    assert_eq!(pending.get(), Err(PoolError::Terminated));
    assert_eq!(rx.recv_timeout(WAIT), Ok(PoolError::Terminated));
    assert_eq!(pool.apply(square, 2), Err(PoolError::Terminated));
    let rest: Vec<_> = endless.collect();
    assert!(rest.len() <= 2 * pool.processes() + 1, "{rest:?}");
    assert!(rest
        .iter()
        .all(|r| r.is_ok() || r == &Err(PoolError::Terminated)));
    assert_eq!(pool.join(), Ok(()), "join after terminate returns");
}

/// Runs of the initializer in this process.
static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

/// The initializer: counts its runs in this process and in a counter shared by the pool.
fn count_init() {
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
    let driver = std::env::var("STRATO_DRIVER_PID").unwrap_or_default();
    let client = strato::client().unwrap();
    let shared = AtomicU64::open(&client, format!("pool-init-{driver}"), 0).unwrap();
    shared.fetch_add(1, Ordering::SeqCst);
}

/// The worker's process id and how often its initializer ran when the task started.
fn init_runs_seen(_: u32) -> (u32, u32) {
    std::thread::sleep(Duration::from_millis(5));
    (std::process::id(), INIT_RUNS.load(Ordering::SeqCst))
}

#[test]
fn the_initializer_runs_once_in_each_worker_before_its_first_task() {
    let client = strato::client().unwrap();
    let name = format!("pool-init-{}", std::process::id());
    let total = AtomicU64::open(&client, name, 0).unwrap();
    let pool = Pool::builder()
        .processes(2)
        .initializer(count_init)
        .build()
        .unwrap();
    let seen = pool.chunksize(1).map(init_runs_seen, 0..40).unwrap();
    assert!(seen.iter().all(|(_, runs)| *runs == 1), "{seen:?}");
    let mut pids: Vec<u32> = seen.iter().map(|(pid, _)| *pid).collect();
    pids.sort();
    pids.dedup();
    assert!((1..=2).contains(&pids.len()));
    assert_eq!(total.load(Ordering::SeqCst), pids.len() as u64);
    assert_eq!(INIT_RUNS.load(Ordering::SeqCst), 0, "not in the driver");
}

mod on_redis;

/// Every test above, unchanged, with the state in Redis instead of a strato server.
#[test]
fn redis_runs_the_pool_suite() {
    on_redis::run_suite_on_redis();
}
