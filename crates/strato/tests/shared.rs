//! User-defined shared objects: methods run on the state server (the driver's embedded one),
//! one at a time per object, may wait for a condition, fail cleanly, travel to tasks; and the
//! same declaration works over a local mutex.

use serde::{Deserialize, Serialize};
use strato::executor::Executor;
use strato::ErrorKind;

/// A monitor with a counter, the pid of the process that ran the last method, and a log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Board {
    count: u64,
    ran_in: u32,
    log: Vec<String>,
}

impl Board {
    fn add(&mut self, n: u64) -> u64 {
        self.count += n;
        self.ran_in = std::process::id();
        self.count
    }

    fn note(&mut self, text: String, times: u32) -> usize {
        for _ in 0..times {
            self.log.push(text.clone());
        }
        self.log.len()
    }

    fn at_least(&mut self, n: u64) -> Option<u64> {
        (self.count >= n).then_some(self.count)
    }

    fn explode(&mut self) -> u64 {
        self.count += 1000;
        panic!("the board exploded at {}", self.count)
    }
}

strato::shared! {
    /// The board, on the state server.
    pub struct BoardRef(Board);
    impl {
        fn add(&mut self, n: u64) -> u64;
        fn note(&mut self, text: String, times: u32) -> usize;
        wait fn at_least(&mut self, n: u64) -> u64;
        fn explode(&mut self) -> u64;
    }
}

mod twin {
    use super::Board;
    use strato::local::shared;

    shared! {
        /// The board, behind a local mutex.
        pub struct BoardRef(Board);
        impl {
            fn add(&mut self, n: u64) -> u64;
            wait fn at_least(&mut self, n: u64) -> u64;
        }
    }
}

fn executor() -> Executor {
    Executor::builder().workers(2).build().unwrap()
}

#[test]
fn methods_run_on_the_server_not_in_the_caller() {
    let board = BoardRef::new(Board::default());
    assert_eq!(board.add(2), 2);
    assert_eq!(board.note("hi".into(), 3), 3);
    let value = board.get();
    assert_eq!((value.count, value.log.len()), (2, 3));
    // The embedded server runs in this process; a task's call runs here too, not in the worker.
    let executor = executor();
    let from_task = executor.call_async(add_from_task, board.clone()).unwrap();
    let worker_pid = from_task.result().unwrap();
    assert_ne!(worker_pid, std::process::id());
    assert_eq!(board.get().ran_in, std::process::id(), "ran on the server");
    assert_eq!(board.get().count, 3);
}

fn add_from_task(board: BoardRef) -> u32 {
    board.add(1);
    std::process::id()
}

fn add_many(board: BoardRef) -> u64 {
    (0..50).map(|_| board.add(1)).max().unwrap_or(0)
}

#[test]
fn concurrent_calls_from_many_processes_are_linearizable() {
    let board = BoardRef::new(Board::default());
    let executor = executor();
    let futures = executor.map(add_many, vec![board.clone(); 8]).unwrap();
    let maxima = executor.get_result(&futures).unwrap();
    assert_eq!(board.get().count, 400, "no update was lost");
    assert_eq!(maxima.iter().max(), Some(&400));
}

fn wait_for_ten(board: BoardRef) -> u64 {
    board.at_least(10)
}

#[test]
fn a_waiting_method_waits_on_the_server_until_the_object_changes() {
    let board = BoardRef::new(Board::default());
    let executor = executor();
    let waiting = executor.call_async(wait_for_ten, board.clone()).unwrap();
    assert!(waiting
        .result_timeout(std::time::Duration::from_millis(200))
        .is_none());
    board.add(4);
    board.add(7);
    assert_eq!(waiting.result(), Ok(11));
}

#[test]
fn a_panicking_method_fails_the_call_and_the_object_lives_on() {
    let board = BoardRef::new(Board::default());
    let boom = {
        let board = board.clone();
        std::thread::spawn(move || board.explode()).join()
    };
    let message = *boom.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("the board exploded at 1000"), "{message}");
    assert_eq!(
        board.add(1),
        1001,
        "changes before the panic stay, as in a poisoned mutex"
    );
}

#[test]
fn try_call_and_call_timeout_do_not_wait_long() {
    let client = strato::client().unwrap();
    let object =
        strato::shared::SharedObject::open(&client, "try-board", Board::default()).unwrap();
    assert_eq!(object.try_call::<_, u64>("at_least", &(1u64,)), None);
    let short = std::time::Duration::from_millis(20);
    assert_eq!(
        object.call_timeout::<_, u64>("at_least", &(1u64,), short),
        None
    );
    assert_eq!(object.call::<_, u64>("add", &(5u64,)), 5);
    assert_eq!(object.try_call::<_, u64>("at_least", &(1u64,)), Some(5));
    let unknown = object.invoke::<_, u64>("fly", &(), strato_proto::Wait::Never);
    assert_eq!(
        unknown.unwrap_err().server_kind(),
        Some(ErrorKind::MethodFailed)
    );
}

#[test]
fn a_server_that_does_not_run_this_binary_refuses_user_types() {
    let server = strato_server::start(strato_server::Config::default()).unwrap();
    let client = strato::Client::connect(&server.address().to_string()).unwrap();
    let refused = BoardRef::open(&client, "elsewhere", Board::default()).unwrap_err();
    assert_eq!(refused.server_kind(), Some(ErrorKind::Unsupported));
    assert!(
        refused.to_string().contains("embedded state server"),
        "{refused}"
    );
}

#[test]
fn redis_refuses_user_types_with_a_clear_error() {
    let redis = strato_redis::local::LocalRedis::start().unwrap();
    let client = strato::Client::connect(&redis.url()).unwrap();
    let refused = BoardRef::open(&client, "in-redis", Board::default()).unwrap_err();
    assert_eq!(refused.server_kind(), Some(ErrorKind::Unsupported));
    assert!(refused.to_string().contains("Redis cannot"), "{refused}");
}

#[test]
fn the_local_twin_has_the_same_methods() {
    let board = twin::BoardRef::new(Board::default());
    let waiter = {
        let board = board.clone();
        std::thread::spawn(move || board.at_least(3))
    };
    board.add(1);
    board.add(2);
    assert_eq!(waiter.join().unwrap(), 3);
    assert_eq!(board.get().count, 3);
}
