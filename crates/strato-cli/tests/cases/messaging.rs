//! mpsc channels, queues, pipes.

use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError, TrySendError};

use strato_proto::{Answer, Call, Op, Wait};

use strato::sync::mpsc::{channel_in, sync_channel_in, SendTimeoutError};
use strato::sync::{pipe_in, Queue};
use strato::Bytes;

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

/// Items large enough that the Redis backend stores them beside its scripts (64 KiB and
/// up), mixed with small ones, every way an item travels: taken at once, handed to a
/// parked getter, several at once, refused by a full queue, through a rendezvous channel.
pub fn large_items_travel_every_way(connect: Connect) {
    let large = |seed: u8| {
        Bytes::from(
            (0..256 << 10)
                .map(|i| (i as u8) ^ seed)
                .collect::<Vec<u8>>(),
        )
    };
    let small = |seed: u8| Bytes::from(vec![seed; 10]);
    let key = name("large-items");
    let q: Queue<Bytes> = Queue::open(&connect(), key.as_str(), None).unwrap();
    q.put(small(1));
    q.put(large(2));
    q.put(small(3));
    assert_eq!(q.get(), small(1));
    assert_eq!(q.get(), large(2), "taken at once");
    assert_eq!(q.get(), small(3));

    let getter = {
        let q: Queue<Bytes> = Queue::open(&connect(), key.as_str(), None).unwrap();
        background(move || (q.get(), q.get()))
    };
    let observer = connect();
    super::super::common::eventually("the get parks", || {
        super::super::common::parked_count(&observer) == 1
    });
    q.put(large(4));
    q.put(large(5));
    assert_eq!(
        finished(&getter, "gets of large items"),
        (large(4), large(5)),
        "handed over"
    );

    let client = connect();
    q.put(large(6));
    q.put(small(7));
    let many = client
        .call(Call::Op {
            name: key.clone(),
            op: Op::GetMany {
                max: 8,
                wait: Wait::Never,
            },
        })
        .unwrap();
    let Answer::Blobs(items) = many else {
        panic!("get_many answered {many:?}")
    };
    let items: Vec<Bytes> = items
        .iter()
        .map(|b| postcard::from_bytes(b).unwrap())
        .collect();
    assert_eq!(items, vec![large(6), small(7)], "several at once");

    let full: Queue<Bytes> = Queue::open(&connect(), name("large-full").as_str(), Some(1)).unwrap();
    full.put(small(8));
    assert_eq!(
        full.put_timeout(large(9), SHORT),
        Err(large(9)),
        "a full queue gives it back"
    );
    assert_eq!(full.try_put(large(9)), Err(large(9)));
    assert_eq!(full.get(), small(8));
    assert!(full.is_empty(), "nothing of the refused items stayed");

    let (tx, rx) = sync_channel_in::<Bytes>(&connect(), 0).unwrap();
    let sender = background(move || tx.send(large(10)));
    assert_blocked(&sender, "rendezvous send of a large item");
    assert_eq!(rx.recv(), Ok(large(10)));
    finished(&sender, "send after the receiver came").unwrap();
}
