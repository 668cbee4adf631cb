//! mpsc channels, queues, pipes.

use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError, TrySendError};

use strato_proto::Call;

use strato::sync::mpsc::{channel_in, sync_channel_in, SendTimeoutError};
use strato::sync::{pipe_in, Queue};

use super::{assert_blocked, background, finished, name, Connect, SHORT};

pub fn channel_fifo_per_sender(connect: Connect) {
    let (tx, rx) = channel_in::<(u8, u32)>(&connect()).unwrap();
    let senders: Vec<_> = (0..3u8)
        .map(|s| {
            let tx = tx.clone();
            background(move || (0..100).for_each(|i| tx.send((s, i)).unwrap()))
        })
        .collect();
    drop(tx);
    senders.iter().for_each(|s| finished(s, "sender"));
    let mut next = [0u32; 3];
    for (s, i) in rx.iter() {
        assert_eq!(
            i, next[s as usize],
            "messages of one sender arrive in order"
        );
        next[s as usize] += 1;
    }
    assert_eq!(next, [100; 3], "iter ends when every sender is gone");
}

pub fn channel_disconnects(connect: Connect) {
    let (tx, rx) = channel_in::<u8>(&connect()).unwrap();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    tx.send(1).unwrap();
    let receiving = background(move || (rx.recv(), rx.recv()));
    let observer = connect();
    super::super::common::eventually("the second recv parks", || {
        super::super::common::parked_count(&observer) == 1
    });
    drop(tx);
    let (first, second) = finished(&receiving, "recv after disconnect");
    assert_eq!(first, Ok(1), "queued messages are still delivered");
    assert!(second.is_err(), "then recv reports disconnection");

    let (tx, rx) = channel_in::<String>(&connect()).unwrap();
    drop(rx);
    let refused = tx.send("kept".into()).unwrap_err();
    assert_eq!(refused.0, "kept", "a failed send returns the message");
}

pub fn sync_channel_bounds(connect: Connect) {
    let (tx, rx) = sync_channel_in::<u32>(&connect(), 2).unwrap();
    tx.send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(tx.send_timeout(3, SHORT), Err(SendTimeoutError::Timeout(3)));
    let sender = {
        let tx = tx.clone();
        background(move || tx.send(3))
    };
    assert_blocked(&sender, "send to a full channel");
    assert_eq!(rx.recv(), Ok(1));
    finished(&sender, "send after room").unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![2, 3]);
    drop(rx);
    assert_eq!(tx.try_send(4), Err(TrySendError::Disconnected(4)));
}

pub fn rendezvous_channel(connect: Connect) {
    let (tx, rx) = sync_channel_in::<u8>(&connect(), 0).unwrap();
    assert_eq!(
        tx.try_send(1),
        Err(TrySendError::Full(1)),
        "no receiver waits"
    );
    let sender = {
        let tx = tx.clone();
        background(move || tx.send(7))
    };
    assert_blocked(&sender, "rendezvous send without a receiver");
    assert_eq!(rx.recv(), Ok(7));
    finished(&sender, "send after the receiver came").unwrap();
}

pub fn queue_fifo_and_bound(connect: Connect) {
    let key = name("queue");
    let q: Queue<u32> = Queue::open(&connect(), key.as_str(), Some(3)).unwrap();
    let other: Queue<u32> = Queue::open(&connect(), key.as_str(), Some(3)).unwrap();
    assert_eq!(q.try_get(), None);
    assert_eq!(q.get_timeout(SHORT), None);
    (0..3).for_each(|i| q.put(i));
    assert_eq!(q.try_put(9), Err(9));
    assert_eq!(q.put_timeout(9, SHORT), Err(9));
    let putter = background(move || other.put(3));
    assert_blocked(&putter, "put to a full queue");
    assert_eq!(q.get(), 0);
    finished(&putter, "put after room");
    assert_eq!((0..3).map(|_| q.get()).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(q.is_empty());
}

pub fn queue_task_done_and_join(connect: Connect) {
    let key = name("joinable");
    let q: Queue<u8> = Queue::open(&connect(), key.as_str(), None).unwrap();
    let other: Queue<u8> = Queue::open(&connect(), key.as_str(), None).unwrap();
    assert!(q.try_join(), "nothing put yet");
    q.put(1);
    q.put(2);
    let joiner = background(move || other.join());
    q.get();
    q.task_done();
    assert_blocked(&joiner, "join with one item unfinished");
    assert!(!q.join_timeout(SHORT));
    q.get();
    q.task_done();
    finished(&joiner, "join after all done");
    let too_many = std::panic::catch_unwind(|| q.task_done());
    assert!(
        too_many.is_err(),
        "task_done without an item is an error, as in Python"
    );
}

pub fn pipe(connect: Connect) {
    let client = connect();
    let (left, right) = pipe_in::<String>(&client).unwrap();
    left.send("ping".into()).unwrap();
    assert_eq!(right.recv(), Ok("ping".to_string()));
    assert_eq!(left.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(left.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    let big = "x".repeat(1 << 20);
    let echo = {
        let right = right;
        background(move || {
            let got: String = right.recv().unwrap();
            right.send(got).unwrap();
            right.send("last".into()).unwrap();
        })
    };
    left.send(big.clone()).unwrap();
    assert_eq!(left.recv().unwrap().len(), big.len());
    finished(&echo, "the echoing end");
    // The other end is gone: what it sent is still received, then the end of the pipe.
    assert_eq!(left.recv(), Ok("last".to_string()));
    assert_eq!(left.recv(), Err(RecvError));
    assert_eq!(left.try_recv(), Err(TryRecvError::Disconnected));
    client.call(Call::Ping).unwrap();
    assert!(left.send("nobody".into()).is_err());
}
