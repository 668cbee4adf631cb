//! The differential property test: random sequences of operations on atomics of every
//! width, values, maps, lists and queues, run on the strato server and on Redis, which must
//! give the same answer to every call (errors compared by kind, not by message). It found
//! that Redis's one-script add changed an atomic of another width instead of refusing it.

mod common;

use common::{Backend, Embedded, Redis};
use proptest::prelude::*;
use strato::Client;
use strato_proto::{Answer, Blob, Call, FetchOp, Init, Op, Role, Scalar, Wait};

/// The objects each sequence works on: (kind tag, how it is created).
fn objects() -> Vec<(&'static str, Init)> {
    vec![
        ("u64", Init::Atomic(Scalar::U64(0))),
        ("i8", Init::Atomic(Scalar::I8(0))),
        ("u16", Init::Atomic(Scalar::U16(0))),
        ("value", Init::Value(blob(0))),
        ("map", Init::Map),
        ("list", Init::List),
        ("queue", Init::Queue { bound: Some(3) }),
    ]
}

fn blob(n: u8) -> Blob {
    Blob::from(vec![n])
}

/// A scalar of the flavour of object `object` (or of another, to provoke WrongType).
fn scalar(object: usize, n: i64) -> Scalar {
    match object {
        0 => Scalar::U64(n as u64),
        1 => Scalar::I8(n as i8),
        2 => Scalar::U16(n as u16),
        _ => Scalar::I64(n),
    }
}

fn fetch_op() -> impl Strategy<Value = FetchOp> {
    prop_oneof![
        Just(FetchOp::Add),
        Just(FetchOp::Sub),
        Just(FetchOp::And),
        Just(FetchOp::Or),
        Just(FetchOp::Xor),
        Just(FetchOp::Nand),
        Just(FetchOp::Max),
        Just(FetchOp::Min),
    ]
}

/// One call: which object, and the operation.
fn step() -> impl Strategy<Value = (usize, Op)> {
    let atomic = (0usize..3, any::<i64>(), fetch_op(), 0u8..4).prop_map(|(o, n, f, pick)| {
        let op = match pick {
            0 => Op::Fetch(f, scalar(o, n)),
            1 => Op::Store(scalar(o, n)),
            2 => Op::CompareExchange {
                current: scalar(o, n % 3),
                new: scalar(o, n),
            },
            _ => Op::Load,
        };
        (o, op)
    });
    let wrong_flavour =
        (0usize..3, any::<i64>()).prop_map(|(o, n)| (o, Op::Fetch(FetchOp::Add, scalar(3, n))));
    let value = (0u8..4, any::<bool>()).prop_map(|(n, set)| {
        (
            3,
            if set {
                Op::ValueSet(blob(n))
            } else {
                Op::ValueGet
            },
        )
    });
    let map = (0u8..4, 0u8..4, 0u8..6).prop_map(|(k, v, pick)| {
        let op = match pick {
            0 => Op::MapInsert(blob(k), blob(v)),
            1 => Op::MapGet(blob(k)),
            2 => Op::MapRemove(blob(k)),
            3 => Op::MapContains(blob(k)),
            4 => Op::MapLen,
            _ => Op::MapKeys,
        };
        (4, op)
    });
    let list = (0u8..4, 0u64..5, 0u8..5).prop_map(|(v, i, pick)| {
        let op = match pick {
            0 => Op::ListPush(blob(v)),
            1 => Op::ListPop,
            2 => Op::ListGet(i),
            3 => Op::ListSet(i, blob(v)),
            _ => Op::ListLen,
        };
        (5, op)
    });
    let queue = (0u8..4, any::<bool>()).prop_map(|(v, put)| {
        let op = if put {
            Op::Put(blob(v), Wait::Never)
        } else {
            Op::Get(Wait::Never)
        };
        (6, op)
    });
    prop_oneof![atomic, wrong_flavour, value, map, list, queue]
}

/// An answer as compared: errors by kind only (messages differ between backends).
fn comparable(answer: Answer) -> Answer {
    match answer {
        Answer::Error { kind, .. } => Answer::Error {
            kind,
            message: String::new(),
        },
        other => other,
    }
}

fn run(client: &Client, prefix: &str, steps: &[(usize, Op)]) -> Vec<Answer> {
    let names: Vec<String> = objects()
        .iter()
        .map(|(tag, _)| format!("{prefix}-{tag}"))
        .collect();
    for ((_, init), name) in objects().into_iter().zip(&names) {
        let open = Call::Open {
            name: name.clone(),
            init,
            persistent: false,
            role: Role::Handle,
        };
        client.call(open).expect("open");
    }
    steps
        .iter()
        .map(|(object, op)| {
            let call = Call::Op {
                name: names[*object].clone(),
                op: op.clone(),
            };
            comparable(client.backend().call(call).expect("reach the backend"))
        })
        .collect()
}

#[test]
fn the_strato_server_and_redis_answer_every_call_alike() {
    let server = Embedded::start();
    let redis = Redis::start();
    let (on_server, on_redis) = (server.client(), redis.client());
    let case = std::sync::atomic::AtomicU32::new(0);
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in prop::collection::vec(step(), 1..40))| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("diff-{}-{n}", std::process::id());
        let expected = run(&on_server, &prefix, &steps);
        let got = run(&on_redis, &prefix, &steps);
        for (i, (a, b)) in expected.iter().zip(&got).enumerate() {
            prop_assert_eq!(a, b, "call {} of {:?}", i, steps);
        }
    });
}
