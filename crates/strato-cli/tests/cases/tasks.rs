//! The task board, over the protocol's calls: what a driver and its workers see.

use strato::Client;
use strato_proto::{Answer, Blob, Call, Init, Op, Role, TaskOutcome, TaskReport, TaskSpec, Wait};

use super::{name, Connect};

fn open(client: &Client, name: &str, init: Init) {
    super::super::common::open(client, name, init, Role::Handle);
}

fn op(client: &Client, name: &str, op: Op) -> Answer {
    client
        .call(Call::Op {
            name: name.into(),
            op,
        })
        .unwrap()
}

/// A worker on its own connection, joined to `board`.
fn worker(connect: Connect, board: &str) -> Client {
    let client = connect();
    open(&client, board, Init::TaskBoard { binary: "b".into() });
    let join = op(&client, board, Op::TaskJoin { binary: "b".into() });
    assert_eq!(join, Answer::Done);
    client
}

/// Takes one task; its id and attempt.
fn take(client: &Client, board: &str) -> (u64, u32) {
    let take = Op::TaskTake {
        max: 1,
        wait: Wait::Micros(5_000_000),
    };
    match op(client, board, take) {
        Answer::Tasks(grants) if grants.len() == 1 => (grants[0].id, grants[0].attempt),
        other => panic!("take: {other:?}"),
    }
}

pub fn a_dead_worker_is_charged_only_for_the_task_it_was_running(connect: Connect) {
    let (board, replies) = (name("charged-board"), name("charged-replies"));
    let driver = connect();
    open(&driver, &board, Init::TaskBoard { binary: "b".into() });
    open(&driver, &replies, Init::Queue { bound: None });
    let spec = |id| TaskSpec {
        id,
        reply_to: replies.clone(),
        max_retries: 0,
        body: Blob::from(vec![id as u8]),
    };
    op(
        &driver,
        &board,
        Op::TaskSubmit(vec![spec(1), spec(2), spec(3)]),
    );

    // One worker holds all three and runs the second when it dies.
    let doomed = worker(connect, &board);
    let mut held: Vec<(u64, u32)> = (0..3).map(|_| take(&doomed, &board)).collect();
    held.sort_unstable();
    assert_eq!(held, vec![(1, 0), (2, 0), (3, 0)]);
    assert_eq!(op(&doomed, &board, Op::TaskStart { id: 2 }), Answer::Done);
    drop(doomed);

    // The running task had no retries: reported lost. The others run again, uncharged.
    let report = match op(&driver, &replies, Op::Get(Wait::Micros(10_000_000))) {
        Answer::Blob(bytes) => postcard::from_bytes::<TaskReport>(&bytes).unwrap(),
        other => panic!("no report: {other:?}"),
    };
    assert_eq!((report.id, report.outcome), (2, TaskOutcome::Lost));
    let next = worker(connect, &board);
    let mut again = vec![take(&next, &board), take(&next, &board)];
    again.sort_unstable();
    assert_eq!(again, vec![(1, 1), (3, 1)], "queued again as new attempts");
    let counts = op(&driver, &board, Op::TaskCounts);
    assert!(
        matches!(
            counts,
            Answer::TaskCounts {
                pending: 0,
                leased: 2,
                ..
            }
        ),
        "{counts:?}"
    );
    assert_eq!(
        op(&driver, &replies, Op::Get(Wait::Never)),
        Answer::WouldBlock
    );
}
