//! `strato::thread` against real worker processes (this test binary, re-executed): the
//! promises of `std::thread` that a remote thread can keep — join gives the value or the
//! panic, names, `current`, scoped threads, detached threads running on — plus captured
//! handles, timeouts, lost workers, concurrency (threads meeting at a barrier), nesting,
//! and no worker process outliving the program.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strato::executor::TaskError;
use strato::sync::atomic::{AtomicU64, Ordering};
use strato::sync::mpsc::{channel, Sender};
use strato::sync::{Arc, Barrier, Event, Mutex};
use strato::{closure, thread};

fn forty_two() -> u64 {
    42
}

#[test]
fn join_returns_the_value_of_a_fn_and_of_a_closure_without_captures() {
    assert_eq!(thread::spawn(forty_two).join().unwrap(), 42);
    let text = thread::spawn(|| "hello".repeat(2)).join().unwrap();
    assert_eq!(text, "hellohello");
    let pid = thread::spawn(std::process::id).join().unwrap();
    assert_ne!(pid, std::process::id(), "the body ran in a worker process");
}

fn fails_with_a_literal() -> u32 {
    panic!("the literal message")
}

#[test]
fn a_panicking_thread_joins_as_err_with_its_message() {
    let error = thread::spawn(fails_with_a_literal).join().unwrap_err();
    let message = error.downcast_ref::<String>().expect("a String payload");
    assert_eq!(message, "the literal message");

    let code = 7;
    let error = thread::spawn(closure!(move || {
        assert!(code == 0, "code {}", code);
        code
    }))
    .join()
    .unwrap_err();
    assert_eq!(
        error.downcast_ref::<String>().map(String::as_str),
        Some("code 7")
    );
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

#[test]
fn closure_finds_captures_in_format_strings_struct_shorthand_and_loops_and_takes_many() {
    let (name, width, x) = (String::from("pi"), 6usize, 3i64);
    let values: Vec<i64> = (1..=18).collect();
    let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r] = values.try_into().unwrap();
    let handle = thread::spawn(closure!(move || {
        let mut total = 0;
        for value in [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r] {
            total += value;
        }
        let point = Point { x, y: total };
        (format!("{name:>width$}|{}", point.y), point)
    }));
    let (text, point) = handle.join().unwrap();
    assert_eq!(text, "    pi|171");
    assert_eq!(point, Point { x: 3, y: 171 });
}

#[test]
fn the_builder_names_the_thread_and_the_body_sees_its_own_thread() {
    let handle = thread::Builder::new()
        .name("accountant".into())
        .spawn(|| {
            let me = thread::current();
            (me.name().map(str::to_string), me.id())
        })
        .unwrap();
    assert_eq!(handle.thread().name(), Some("accountant"));
    let id = handle.thread().id();
    let (name, seen_id) = handle.join().unwrap();
    assert_eq!(name.as_deref(), Some("accountant"));
    assert_eq!(seen_id, id);
    assert_ne!(id, thread::current().id());
}

fn sleep_for_a_minute() {
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_thread_over_its_timeout_is_ended_and_joins_as_timeout() {
    let started = Instant::now();
    let handle = thread::Builder::new()
        .timeout(Duration::from_millis(300))
        .spawn(sleep_for_a_minute)
        .unwrap();
    let error = handle.join().unwrap_err();
    match error.downcast_ref::<TaskError>() {
        Some(TaskError::Timeout { after }) => assert_eq!(*after, Duration::from_millis(300)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn abort_the_process() {
    std::process::abort();
}

#[test]
fn a_thread_whose_process_dies_joins_as_worker_lost_and_is_not_run_again() {
    let error = thread::spawn(abort_the_process).join().unwrap_err();
    assert_eq!(
        error.downcast_ref::<TaskError>(),
        Some(&TaskError::WorkerLost { attempts: 1 })
    );
}

#[test]
fn captured_handles_are_references_to_the_same_objects() {
    let counter = Arc::new(AtomicU64::new(0));
    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (counter, names) = (counter.clone(), names.clone());
            thread::spawn(closure!(move || {
                counter.fetch_add(i + 1, Ordering::SeqCst);
                names.lock().unwrap().push(format!("t{}", i));
                std::process::id()
            }))
        })
        .collect();
    let pids: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(counter.load(Ordering::SeqCst), 1 + 2 + 3 + 4);
    let mut names = names.lock().unwrap().clone();
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3"]);
    assert!(pids.iter().all(|pid| *pid != std::process::id()));
}

#[test]
fn threads_run_at_once_so_they_can_meet_at_a_barrier() {
    let parties = 5;
    let barrier = Arc::new(Barrier::new(parties));
    let handles: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(closure!(move || {
                let met = barrier.wait_timeout(Duration::from_secs(8)).is_ok();
                (met, std::process::id())
            }))
        })
        .collect();
    let outcomes: Vec<(bool, u32)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outcomes.iter().all(|(met, _)| *met), "{outcomes:?}");
    let mut pids: Vec<u32> = outcomes.iter().map(|(_, pid)| *pid).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(
        pids.len(),
        parties,
        "each running thread has its own process"
    );
}

#[test]
fn is_finished_turns_true_once_the_body_has_ended() {
    let go = Event::new();
    let handle = {
        let go = go.clone();
        thread::spawn(closure!(move || go.wait_timeout(Duration::from_secs(8))))
    };
    assert!(!handle.is_finished(), "the body waits for the event");
    go.set();
    let deadline = Instant::now() + Duration::from_secs(8);
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the thread never finished");
        std::thread::yield_now();
    }
    assert!(handle.join().unwrap(), "the body saw the event");
}

#[test]
fn a_detached_thread_runs_to_its_end() {
    let done = Event::new();
    let go = Event::new();
    {
        let (done, go) = (done.clone(), go.clone());
        drop(thread::spawn(closure!(move || {
            if go.wait_timeout(Duration::from_secs(8)) {
                done.set();
            }
        })));
    }
    go.set();
    assert!(
        done.wait_timeout(Duration::from_secs(8)),
        "the detached thread ran on"
    );
}

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn scope_joins_every_thread_and_gives_their_results() {
    let counter = Arc::new(AtomicU64::new(0));
    let total = thread::scope(|s| {
        for _ in 0..3 {
            let counter = counter.clone();
            s.spawn(closure!(move || counter.fetch_add(1, Ordering::SeqCst)));
        }
        let four = 4;
        let joined = s.spawn(closure!(move || square(four)));
        joined.join().unwrap()
    });
    assert_eq!(total, 16);
    assert_eq!(
        counter.load(Ordering::SeqCst),
        3,
        "the scope waited for its unjoined threads"
    );
}

#[test]
fn scope_panics_when_a_thread_nobody_joined_panicked() {
    let outcome = std::panic::catch_unwind(|| {
        thread::scope(|s| {
            s.spawn(fails_with_a_literal);
        })
    });
    assert!(outcome.is_err());
    let joined_by_hand = thread::scope(|s| s.spawn(fails_with_a_literal).join().is_err());
    assert!(
        joined_by_hand,
        "a failure joined by hand does not panic the scope"
    );
}

/// Spawns two threads from inside a thread; they meet at a barrier, so each needs a worker.
fn spawn_two_that_meet() -> Vec<u32> {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(closure!(move || {
                barrier.wait_timeout(Duration::from_secs(8)).unwrap();
                std::process::id()
            }))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_thread_can_spawn_threads_of_its_own() {
    let handle = thread::spawn(spawn_two_that_meet);
    let parent = handle.thread().id();
    let pids = handle.join().unwrap();
    assert_eq!(pids.len(), 2);
    assert_ne!(pids[0], pids[1]);
    assert_ne!(thread::current().id(), parent);
}

const DRIVER_ENV: &str = "STRATO_TEST_THREAD_DRIVER";

/// Blocks until the program ends, after reporting its process.
fn block_forever(pids: Sender<u32>) {
    pids.send(std::process::id()).unwrap();
    Event::new().wait();
}

/// A driver (this binary, re-run by the test below) that leaves threads of every kind behind:
/// finished (its worker idles warm), detached and blocked, and blocked inside a nested thread.
#[test]
fn driver() {
    if std::env::var_os(DRIVER_ENV).is_none() {
        return;
    }
    let (pids, reported) = channel::<u32>();
    let blocked = pids.clone();
    drop(thread::spawn(closure!(move || block_forever(blocked))));
    drop(thread::spawn(closure!(move || {
        let inner = pids.clone();
        let handle = thread::spawn(closure!(move || block_forever(inner)));
        pids.send(std::process::id()).unwrap();
        handle.join().unwrap();
    })));
    let timeout = Duration::from_secs(8);
    let mut listed: Vec<String> = (0..3)
        .map(|_| reported.recv_timeout(timeout).unwrap().to_string())
        .collect();
    // Every other worker is busy: this one is new, and idles warm once the thread ends.
    let idle = thread::spawn(std::process::id).join().unwrap();
    listed.insert(0, idle.to_string());
    println!("\nWORKERS {}", listed.join(" "));
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !stat.is_empty() && !state.starts_with('Z') && !state.starts_with('X')
}

#[test]
fn no_worker_outlives_the_program() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "driver", "--nocapture", "--test-threads=1"])
        .env(DRIVER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("WORKERS ")))
        .expect("the driver reports its workers");
    std::thread::spawn(move || lines.for_each(drop));
    let pids: Vec<u32> = line[8..]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 4, "three workers and a nested one: {pids:?}");
    assert!(child.wait().unwrap().success());
    assert!(
        !alive(pids[0]),
        "an idle worker is stopped before the program ends"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "workers {pids:?} outlived their program"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

mod on_redis;

/// Every test above, unchanged, with the state in Redis instead of a strato server.
#[test]
fn redis_runs_the_thread_suite() {
    on_redis::run_suite_on_redis();
}
