//! The differential property test: random sequences of calls from two connections, on
//! atomics of three widths, a value, a map, a list, an array of fixed-size items, a bounded
//! queue, a mutex, a rwlock, a
//! re-entrant lock, a semaphore, an event, a latch, a future, a barrier, a sync channel and a
//! task board with its reply queue, run on the strato server (over TCP, and over a Unix
//! socket with one connection's atomics and array operated on in the shared arena), on Redis and on a
//! Redis Cluster, which must give the same answer to every call (errors compared by kind, not by
//! message; lock leases, which each backend numbers its own way, by presence). Blocking calls
//! never wait, so the answers cannot depend on timing.
//!
//! It found that Redis's one-script add changed an atomic of another width instead of
//! refusing it.

mod common;

use std::collections::HashMap;

use common::{open, Backend, Embedded, Redis, RedisCluster};
use proptest::prelude::*;
use strato::Client;
use strato_proto::{Answer, Blob, Call, FetchOp, Init, Op, Role, Scalar, TaskSpec, Wait};

/// The objects every sequence works on, by index in [`objects`].
mod object {
    pub const U64: usize = 0;
    pub const I8: usize = 1;
    pub const U16: usize = 2;
    pub const VALUE: usize = 3;
    pub const MAP: usize = 4;
    pub const LIST: usize = 5;
    pub const QUEUE: usize = 6;
    pub const MUTEX: usize = 7;
    pub const RWLOCK: usize = 8;
    pub const REENTRANT: usize = 9;
    pub const SEMAPHORE: usize = 10;
    pub const EVENT: usize = 11;
    pub const LATCH: usize = 12;
    pub const FUTURE: usize = 13;
    pub const BARRIER: usize = 14;
    pub const CHANNEL: usize = 15;
    pub const BOARD: usize = 16;
    pub const REPLIES: usize = 17;
    pub const ARRAY: usize = 18;
}

/// The binary the task board belongs to.
const BINARY: &str = "differential";

/// (tag, how it is created), in the order of [`object`].
fn objects() -> Vec<(&'static str, Init)> {
    vec![
        ("u64", Init::Atomic(Scalar::U64(0))),
        ("i8", Init::Atomic(Scalar::I8(0))),
        ("u16", Init::Atomic(Scalar::U16(0))),
        ("value", Init::Value(blob(0))),
        ("map", Init::Map),
        ("list", Init::List),
        ("queue", Init::Queue { bound: Some(3) }),
        ("mutex", Init::Mutex(blob(0))),
        ("rwlock", Init::RwLock(blob(0))),
        ("reentrant", Init::ReentrantLock(blob(0))),
        (
            "semaphore",
            Init::Semaphore {
                permits: 2,
                bound: Some(3),
            },
        ),
        ("event", Init::Event),
        ("latch", Init::Latch(2)),
        ("future", Init::Future),
        ("barrier", Init::Barrier(2)),
        ("channel", Init::Channel { bound: Some(2) }),
        (
            "board",
            Init::TaskBoard {
                binary: BINARY.into(),
            },
        ),
        ("replies", Init::Queue { bound: None }),
        (
            "array",
            Init::PackedArray {
                item_bytes: 2,
                packed: Blob::from(vec![1, 0, 2, 0, 3, 0]),
            },
        ),
    ]
}

fn blob(n: u8) -> Blob {
    Blob::from(vec![n])
}

/// One step of a sequence, from connection `conn` (0 or 1).
#[derive(Debug, Clone)]
enum Step {
    /// An operation that needs nothing from earlier answers.
    Op { conn: usize, object: usize, op: Op },
    /// Gives back the connection's newest lease on a lock (an unknown lease if it holds
    /// none), in the way `how` says.
    Unlock {
        conn: usize,
        object: usize,
        how: Unlock,
    },
    /// Queues one new task (ids count up from 0 in each sequence).
    Submit { max_retries: u32 },
    /// Marks or finishes task `task` (an index into the tasks submitted so far, wrapped).
    Task { conn: usize, task: u8, act: TaskAct },
    /// Drops the connection's reference to the channel in `role`.
    Release { conn: usize, role: Role },
}

#[derive(Debug, Clone)]
enum Unlock {
    Mutex { value: Option<u8>, poison: bool },
    Read,
    Write { value: Option<u8>, poison: bool },
    Downgrade { value: Option<u8> },
}

#[derive(Debug, Clone)]
enum TaskAct {
    Start,
    Finish { attempt: u32, result: u8 },
}

/// A scalar of the flavour of atomic `object` (or of another, to provoke WrongType).
fn scalar(object: usize, n: i64) -> Scalar {
    match object {
        object::U64 => Scalar::U64(n as u64),
        object::I8 => Scalar::I8(n as i8),
        object::U16 => Scalar::U16(n as u16),
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

/// An operation on `object` from either connection.
fn on(object: usize, ops: impl Strategy<Value = Op>) -> impl Strategy<Value = Step> {
    (0usize..2, ops).prop_map(move |(conn, op)| Step::Op { conn, object, op })
}

fn atomics() -> impl Strategy<Value = Step> {
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
        Step::Op {
            conn: 0,
            object: o,
            op,
        }
    });
    let wrong_flavour = (0usize..3, any::<i64>()).prop_map(|(o, n)| Step::Op {
        conn: 1,
        object: o,
        op: Op::Fetch(FetchOp::Add, scalar(object::VALUE, n)),
    });
    prop_oneof![3 => atomic, 1 => wrong_flavour]
}

fn data() -> impl Strategy<Value = Step> {
    let value = (0u8..4, any::<bool>()).prop_map(|(n, set)| {
        if set {
            Op::ValueSet(blob(n))
        } else {
            Op::ValueGet
        }
    });
    let map = (0u8..4, 0u8..4, 0u8..6).prop_map(|(k, v, pick)| match pick {
        0 => Op::MapInsert(blob(k), blob(v)),
        1 => Op::MapGet(blob(k)),
        2 => Op::MapRemove(blob(k)),
        3 => Op::MapContains(blob(k)),
        4 => Op::MapLen,
        _ => Op::MapKeys,
    });
    let list = (0u8..4, 0u64..5, 0u8..5).prop_map(|(v, i, pick)| match pick {
        0 => Op::ListPush(blob(v)),
        1 => Op::ListPop,
        2 => Op::ListGet(i),
        3 => Op::ListSet(i, blob(v)),
        _ => Op::ListLen,
    });
    let queue = (0u8..4, 0u8..3).prop_map(|(v, pick)| match pick {
        0 => Op::Put(blob(v), Wait::Never),
        1 => Op::Get(Wait::Never),
        _ => Op::Len,
    });
    // Items of two bytes, sometimes of one or three (refused), on an array of three.
    let item = |n: u8, size: usize| Blob::from(vec![n; size]);
    let array =
        (0u8..4, 0u64..5, 0u64..5, 1usize..4, 0u8..6).prop_map(move |(v, i, j, size, pick)| {
            match pick {
                0 => Op::ArrayGet(i),
                1 => Op::ArraySet(i, item(v, if v == 0 { size } else { 2 })),
                2 => Op::ArrayGetRange(i, j),
                3 => Op::ArraySetRange(i, (0..j % 3).map(|k| item(v + k as u8, 2)).collect()),
                4 => Op::ArraySetRange(i, vec![item(v, 2), item(v, size)]),
                _ => Op::ArrayLen,
            }
        });
    prop_oneof![
        on(object::VALUE, value),
        on(object::MAP, map),
        on(object::LIST, list),
        on(object::QUEUE, queue),
        on(object::ARRAY, array),
    ]
}

fn value_change() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(0u8..4)
}

fn locks() -> impl Strategy<Value = Step> {
    let mutex = prop_oneof![
        Just(Op::Lock(Wait::Never)),
        any::<bool>().prop_map(|clear| Op::Poison { clear }),
    ];
    let mutex_unlock =
        (0usize..2, value_change(), prop::bool::weighted(0.2)).prop_map(|(conn, value, poison)| {
            Step::Unlock {
                conn,
                object: object::MUTEX,
                how: Unlock::Mutex { value, poison },
            }
        });
    let rwlock = prop_oneof![
        Just(Op::ReadLock(Wait::Never)),
        Just(Op::WriteLock(Wait::Never)),
        any::<bool>().prop_map(|clear| Op::Poison { clear }),
    ];
    let rwlock_unlock = (0usize..2, 0u8..3, value_change(), prop::bool::weighted(0.2)).prop_map(
        |(conn, pick, value, poison)| Step::Unlock {
            conn,
            object: object::RWLOCK,
            how: match pick {
                0 => Unlock::Read,
                1 => Unlock::Write { value, poison },
                _ => Unlock::Downgrade { value },
            },
        },
    );
    let reentrant = (0u64..2, any::<bool>(), value_change()).prop_map(|(owner, lock, value)| {
        if lock {
            Op::ReentrantLock {
                owner,
                wait: Wait::Never,
            }
        } else {
            Op::ReentrantUnlock {
                owner,
                value: value.map(blob),
            }
        }
    });
    prop_oneof![
        on(object::MUTEX, mutex),
        mutex_unlock,
        on(object::RWLOCK, rwlock),
        rwlock_unlock,
        on(object::REENTRANT, reentrant),
    ]
}

fn coordination() -> impl Strategy<Value = Step> {
    let semaphore = (0u64..3, 0u8..3).prop_map(|(n, pick)| match pick {
        0 => Op::Acquire(n, Wait::Never),
        1 => Op::Release(n),
        _ => Op::Available,
    });
    let event = (0u8..4).prop_map(|pick| match pick {
        0 => Op::EventSet,
        1 => Op::EventClear,
        2 => Op::EventIsSet,
        _ => Op::EventWait(Wait::Never),
    });
    let latch = (0u8..3).prop_map(|pick| match pick {
        0 => Op::CountDown,
        1 => Op::LatchCount,
        _ => Op::LatchWait(Wait::Never),
    });
    let future = (0u8..4, 0u8..3).prop_map(|(v, pick)| match pick {
        0 => Op::FutureSet(blob(v)),
        1 => Op::FutureGet(Wait::Never),
        _ => Op::FutureIsSet,
    });
    prop_oneof![
        on(object::SEMAPHORE, semaphore),
        on(object::EVENT, event),
        on(object::LATCH, latch),
        on(object::FUTURE, future),
        on(object::BARRIER, Just(Op::BarrierWait(Wait::Never))),
    ]
}

fn channel() -> impl Strategy<Value = Step> {
    let ops = (0u8..4, 0u8..3).prop_map(|(v, pick)| match pick {
        0 => Op::Send(blob(v), Wait::Never),
        1 => Op::Recv(Wait::Never),
        _ => Op::Len,
    });
    let release = prop_oneof![
        Just(Step::Release {
            conn: 0,
            role: Role::Sender
        }),
        Just(Step::Release {
            conn: 1,
            role: Role::Receiver
        }),
    ];
    prop_oneof![6 => on(object::CHANNEL, ops), 1 => release]
}

fn tasks() -> impl Strategy<Value = Step> {
    let board = (any::<bool>(), 1u32..4, 0u8..3).prop_map(|(right, max, pick)| match pick {
        0 => Op::TaskJoin {
            binary: if right { BINARY } else { "another" }.into(),
        },
        1 => Op::TaskTake {
            max,
            wait: Wait::Never,
        },
        _ => Op::TaskCounts,
    });
    let act = prop_oneof![
        Just(TaskAct::Start),
        (0u32..2, 0u8..4).prop_map(|(attempt, result)| TaskAct::Finish { attempt, result }),
    ];
    prop_oneof![
        on(object::BOARD, board),
        (0u32..2).prop_map(|max_retries| Step::Submit { max_retries }),
        (0usize..2, any::<u8>(), act).prop_map(|(conn, task, act)| Step::Task { conn, task, act }),
        on(object::REPLIES, Just(Op::Get(Wait::Never))),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => atomics(),
        2 => data(),
        2 => locks(),
        2 => coordination(),
        1 => channel(),
        3 => tasks(),
    ]
}

/// An answer as compared: errors by kind only (messages differ between backends), and a
/// lease by its presence (each backend numbers them its own way).
fn comparable(answer: Answer) -> Answer {
    match answer {
        Answer::Error { kind, .. } => Answer::Error {
            kind,
            message: String::new(),
        },
        Answer::Locked {
            value, poisoned, ..
        } => Answer::Locked {
            lease: 0,
            value,
            poisoned,
        },
        other => other,
    }
}

/// One sequence on one backend: its two connections, the objects' names, and the leases
/// and tasks earlier answers gave.
struct Run<'a> {
    clients: [&'a Client; 2],
    names: Vec<String>,
    /// Connection 0's words of the atomics in its server's arena, where it has one (two
    /// tiers): its atomics' operations run there, connection 1's through the server.
    local: HashMap<usize, strato::LocalWord>,
    leases: HashMap<(usize, usize), Vec<u64>>,
    submitted: u64,
}

impl<'a> Run<'a> {
    fn open(clients: [&'a Client; 2], prefix: &str) -> Run<'a> {
        let names: Vec<String> = objects()
            .iter()
            .map(|(tag, _)| format!("{prefix}-{tag}"))
            .collect();
        for (conn, client) in clients.iter().enumerate() {
            for ((_, init), name) in objects().into_iter().zip(&names) {
                open(client, name, init.clone(), Role::Handle);
            }
            let end = [Role::Sender, Role::Receiver][conn];
            open(
                client,
                &names[object::CHANNEL],
                objects()[object::CHANNEL].1.clone(),
                end,
            );
        }
        // Connection 1 is a worker of the board; connection 0 joins only if a step says so.
        let join = Call::Op {
            name: names[object::BOARD].clone(),
            op: Op::TaskJoin {
                binary: BINARY.into(),
            },
        };
        assert_eq!(clients[1].backend().call(join).unwrap(), Answer::Done);
        let local = [object::U64, object::I8, object::U16, object::ARRAY]
            .into_iter()
            .filter_map(|shared| {
                let word = clients[0].locate(&names[shared]).expect("locate");
                word.map(|word| (shared, word))
            })
            .collect();
        Run {
            clients,
            names,
            local,
            leases: HashMap::new(),
            submitted: 0,
        }
    }

    fn call(&self, conn: usize, call: Call) -> Answer {
        comparable(
            self.clients[conn]
                .backend()
                .call(call)
                .expect("reach the backend"),
        )
    }

    fn op(&self, conn: usize, object: usize, op: Op) -> Answer {
        let word = self.local.get(&object).filter(|_| conn == 0);
        if let Some(answer) = word.and_then(|word| word.apply(&op)) {
            return comparable(match answer {
                Ok(answer) => answer,
                Err(strato::Error::Server { kind, message }) => Answer::Error { kind, message },
                Err(e) => panic!("a local operation failed: {e}"),
            });
        }
        let name = self.names[object].clone();
        self.call(conn, Call::Op { name, op })
    }

    fn step(&mut self, step: &Step) -> Answer {
        match step.clone() {
            Step::Op { conn, object, op } => self.lease_taking_op(conn, object, op),
            Step::Unlock { conn, object, how } => self.unlock(conn, object, how),
            Step::Submit { max_retries } => {
                let spec = TaskSpec {
                    id: self.submitted,
                    reply_to: self.names[object::REPLIES].clone(),
                    max_retries,
                    body: blob(self.submitted as u8),
                };
                self.submitted += 1;
                self.op(0, object::BOARD, Op::TaskSubmit(vec![spec]))
            }
            Step::Task { conn, task, act } => {
                let id = u64::from(task) % self.submitted.max(1);
                let op = match act {
                    TaskAct::Start => Op::TaskStart { id },
                    TaskAct::Finish { attempt, result } => Op::TaskFinish {
                        id,
                        attempt,
                        result: blob(result),
                    },
                };
                self.op(conn, object::BOARD, op)
            }
            Step::Release { conn, role } => {
                let name = self.names[object::CHANNEL].clone();
                self.call(conn, Call::Release { name, role })
            }
        }
    }

    /// An operation; a lock it grants is remembered for a later [`Step::Unlock`].
    fn lease_taking_op(&mut self, conn: usize, object: usize, op: Op) -> Answer {
        let name = self.names[object].clone();
        let raw = self.clients[conn]
            .backend()
            .call(Call::Op { name, op })
            .expect("reach the backend");
        if let Answer::Locked { lease, .. } = &raw {
            self.leases.entry((conn, object)).or_default().push(*lease);
        }
        comparable(raw)
    }

    fn unlock(&mut self, conn: usize, object: usize, how: Unlock) -> Answer {
        const UNKNOWN_LEASE: u64 = 987_654_321;
        let held = self.leases.entry((conn, object)).or_default();
        let lease = held.last().copied().unwrap_or(UNKNOWN_LEASE);
        let (op, ends_the_lease) = match how {
            Unlock::Mutex { value, poison } => (
                Op::Unlock {
                    lease,
                    value: value.map(blob),
                    poison,
                },
                true,
            ),
            Unlock::Read => (Op::ReadUnlock { lease }, true),
            Unlock::Write { value, poison } => (
                Op::WriteUnlock {
                    lease,
                    value: value.map(blob),
                    poison,
                },
                true,
            ),
            Unlock::Downgrade { value } => (
                Op::Downgrade {
                    lease,
                    value: value.map(blob),
                },
                false,
            ),
        };
        let answer = self.op(conn, object, op);
        if ends_the_lease && answer == Answer::Done {
            self.leases.entry((conn, object)).or_default().pop();
        }
        answer
    }
}

/// The backends compared, each with two connections; the first is the reference.
struct Backends {
    _servers: Vec<Box<dyn Backend>>,
    clients: Vec<(&'static str, [Client; 2])>,
}

impl Backends {
    fn start() -> Backends {
        let servers: Vec<(&'static str, Box<dyn Backend>)> = vec![
            ("strato server", Box::new(Embedded::start())),
            ("strato server, two tiers", Box::new(Embedded::local())),
            ("Redis", Box::new(Redis::start())),
            ("Redis Cluster", Box::new(RedisCluster::start())),
        ];
        let clients = servers
            .iter()
            .map(|(label, server)| (*label, [server.client(), server.client()]))
            .collect();
        Backends {
            _servers: servers.into_iter().map(|(_, server)| server).collect(),
            clients,
        }
    }
}

#[test]
fn the_strato_server_redis_and_a_redis_cluster_answer_every_call_alike() {
    let backends = Backends::start();
    let case = std::sync::atomic::AtomicU32::new(0);
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in prop::collection::vec(step(), 1..60))| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("diff-{}-{n}", std::process::id());
        let answers: Vec<(&str, Vec<Answer>)> = backends
            .clients
            .iter()
            .map(|(label, [a, b])| {
                let mut run = Run::open([a, b], &prefix);
                (*label, steps.iter().map(|step| run.step(step)).collect())
            })
            .collect();
        let (reference, expected) = &answers[0];
        for (label, got) in &answers[1..] {
            for (i, (a, b)) in expected.iter().zip(got).enumerate() {
                prop_assert_eq!(
                    a, b, "call {} ({:?}): {} and {} differ; the sequence: {:?}",
                    i, steps[i], reference, label, steps
                );
            }
        }
    });
}
