//! Atomics and shared data.

use std::sync::atomic::Ordering::SeqCst;

use strato::sync::atomic::{
    AtomicBool, AtomicF64, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16,
    AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
use strato::sync::{Array, List, Map, Merge, Value};
use strato::ErrorKind;

use super::{name, Connect};

/// An atomic deleted under a handle that operates on it in shared memory (two tiers): the
/// handle then goes through the server, which answers as for any deleted object, and never
/// touches a word the server may give to another object; a new object of the same name is
/// the one the old handle reaches, as a remote handle would.
pub fn a_deleted_atomic_answers_through_the_server(connect: Connect) {
    let c = connect();
    let key = name("deleted-atomic");
    let a = AtomicU64::open(&c, key.as_str(), 1).unwrap();
    assert_eq!(a.fetch_add(1, SeqCst), 1);
    c.call(strato_proto::Call::Delete { name: key.clone() })
        .unwrap();
    let other = AtomicU64::open(&connect(), name("bystander"), 100).unwrap();
    let lost = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.fetch_add(1, SeqCst)));
    assert!(lost.is_err(), "an operation on a deleted atomic fails");
    assert_eq!(
        other.load(SeqCst),
        100,
        "another object's word is untouched"
    );
    let again = AtomicU64::open(&connect(), key.as_str(), 7).unwrap();
    assert_eq!(
        a.fetch_add(1, SeqCst),
        7,
        "the old handle reaches the new object"
    );
    assert_eq!(again.load(SeqCst), 8);
    assert_eq!(other.load(SeqCst), 100);
}

pub fn atomics(connect: Connect) {
    let c = connect();
    let u = AtomicU64::open(&c, name("u"), 10).unwrap();
    assert_eq!(u.fetch_add(5, SeqCst), 10);
    assert_eq!(u.fetch_sub(20, SeqCst), 15);
    assert_eq!(u.load(SeqCst), u64::MAX - 4, "fetch_sub wraps like std");
    u.store(0b1100, SeqCst);
    assert_eq!(u.fetch_and(0b1010, SeqCst), 0b1100);
    assert_eq!(u.fetch_or(0b0001, SeqCst), 0b1000);
    assert_eq!(u.fetch_xor(0b1111, SeqCst), 0b1001);
    assert_eq!(u.fetch_nand(0b0110, SeqCst), 0b0110);
    assert_eq!(u.load(SeqCst), !0b0110);
    assert_eq!(u.swap(7, SeqCst), !0b0110);
    assert_eq!(u.fetch_max(3, SeqCst), 7);
    assert_eq!(u.fetch_min(3, SeqCst), 7);
    assert_eq!(u.compare_exchange(3, 9, SeqCst, SeqCst), Ok(3));
    assert_eq!(u.compare_exchange(3, 1, SeqCst, SeqCst), Err(9));
    assert_eq!(u.fetch_update(SeqCst, SeqCst, |v| Some(v * 2)), Ok(9));
    assert_eq!(u.fetch_update(SeqCst, SeqCst, |_| None), Err(18));

    let i = AtomicI64::open(&c, name("i"), -3).unwrap();
    assert_eq!(i.fetch_add(i64::MAX, SeqCst), -3);
    assert_eq!(i.fetch_min(-100, SeqCst), i64::MAX - 3);
    assert_eq!(i.into_inner(), -100);

    let b = AtomicBool::open(&c, name("b"), false).unwrap();
    assert!(!b.fetch_or(true, SeqCst));
    assert!(b.fetch_not(SeqCst));
    assert_eq!(b.compare_exchange(false, true, SeqCst, SeqCst), Ok(false));
    assert!(b.load(SeqCst));

    let f = AtomicF64::open(&c, name("f"), 1.5).unwrap();
    assert_eq!(f.fetch_add(2.25, SeqCst), 1.5);
    assert_eq!(f.fetch_max(10.0, SeqCst), 3.75);
    assert_eq!(f.compare_exchange(10.0, -0.5, SeqCst, SeqCst), Ok(10.0));
    assert_eq!(f.load(SeqCst), -0.5);
}

pub fn narrow_atomics_wrap_at_their_width(connect: Connect) {
    let c = connect();
    let u8 = AtomicU8::open(&c, name("u8"), 250).unwrap();
    assert_eq!(u8.fetch_add(10, SeqCst), 250);
    assert_eq!(u8.load(SeqCst), 4, "wraps at 256");
    assert_eq!(u8.fetch_max(200, SeqCst), 4);
    assert_eq!(u8.compare_exchange(200, 1, SeqCst, SeqCst), Ok(200));
    assert_eq!(u8.fetch_nand(0, SeqCst), 1);
    assert_eq!(u8.load(SeqCst), u8::MAX);

    let i8 = AtomicI8::open(&c, name("i8"), -128).unwrap();
    assert_eq!(i8.fetch_sub(1, SeqCst), -128);
    assert_eq!(i8.fetch_min(-5, SeqCst), 127);
    assert_eq!(i8.swap(3, SeqCst), -5);

    let u16 = AtomicU16::open(&c, name("u16"), 0).unwrap();
    assert_eq!(u16.fetch_sub(1, SeqCst), 0);
    assert_eq!(u16.fetch_xor(0xff00, SeqCst), u16::MAX);
    assert_eq!(u16.load(SeqCst), 0x00ff);

    let i16 = AtomicI16::open(&c, name("i16"), i16::MAX).unwrap();
    assert_eq!(i16.fetch_add(2, SeqCst), i16::MAX);
    assert_eq!(i16.into_inner(), i16::MIN + 1);

    let u32 = AtomicU32::open(&c, name("u32"), u32::MAX - 1).unwrap();
    assert_eq!(u32.fetch_add(3, SeqCst), u32::MAX - 1);
    assert_eq!(u32.fetch_or(0x8000_0000, SeqCst), 1);
    assert_eq!(u32.load(SeqCst), 0x8000_0001);

    let i32 = AtomicI32::open(&c, name("i32"), i32::MIN).unwrap();
    assert_eq!(
        i32.fetch_update(SeqCst, SeqCst, |v| v.checked_add(5)),
        Ok(i32::MIN)
    );
    assert_eq!(i32.fetch_sub(10, SeqCst), i32::MIN + 5);
    assert_eq!(i32.load(SeqCst), i32::MAX - 4);

    let usize = AtomicUsize::open(&c, name("usize"), 1).unwrap();
    assert_eq!(usize.fetch_sub(2, SeqCst), 1);
    assert_eq!(usize.load(SeqCst), usize::MAX);
    let isize = AtomicIsize::open(&c, name("isize"), isize::MAX).unwrap();
    assert_eq!(isize.fetch_add(1, SeqCst), isize::MAX);
    assert_eq!(isize.load(SeqCst), isize::MIN);

    // The same name opened as another width is another type.
    let err = AtomicU16::open(&c, name("u8"), 0).unwrap_err();
    assert_eq!(err.server_kind(), Some(ErrorKind::WrongType), "{err}");
}

pub fn atomic_flavours_do_not_mix(connect: Connect) {
    let c = connect();
    let _u = AtomicU64::open(&c, name("flavour"), 1).unwrap();
    let err = AtomicI64::open(&c, name("flavour"), 1).unwrap_err();
    assert_eq!(err.server_kind(), Some(ErrorKind::WrongType), "{err}");
}

pub fn value_update_is_atomic(connect: Connect) {
    let key = name("value");
    let value = Value::open(&connect(), key.as_str(), (0u32, String::new())).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let v =
                Value::<(u32, String)>::open(&connect(), key.as_str(), (0, String::new())).unwrap();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    v.update(|(n, last)| {
                        *n += 1;
                        *last = format!("t{t}");
                    });
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(value.get().0, 100);
    value.set((1, "x".into()));
    assert_eq!(value.get(), (1, "x".to_string()));
}

pub fn array(connect: Connect) {
    let a = Array::open(&connect(), name("array"), vec![0i32; 5]).unwrap();
    assert_eq!(a.len(), 5);
    a.set(4, 40);
    a.set_range(1, &[10, 20]);
    assert_eq!(a.to_vec(), vec![0, 10, 20, 0, 40]);
    assert_eq!(a.get_range(1..3), vec![10, 20]);
    assert_eq!(a.get(5), None);
    let past_end = std::panic::catch_unwind(|| a.set(5, 1));
    assert!(
        past_end.is_err(),
        "set past the end panics like slice indexing"
    );
}

pub fn list(connect: Connect) {
    let l = List::open(&connect(), name("list")).unwrap();
    assert!(l.is_empty());
    l.push(1u8);
    l.extend([2, 3, 4]);
    l.set(0, 9);
    assert_eq!(l.get(0), Some(9));
    assert_eq!(l.get(10), None);
    assert_eq!(l.pop(), Some(4));
    assert_eq!(l.range(1..100), vec![2, 3]);
    assert_eq!(l.to_vec(), vec![9, 2, 3]);
    assert_eq!(l.len(), 3);
}

pub fn map(connect: Connect) {
    let m: Map<String, Vec<u8>> = Map::open(&connect(), name("map")).unwrap();
    assert_eq!(m.insert("a".into(), vec![1]), None);
    assert_eq!(m.insert("a".into(), vec![2]), Some(vec![1]));
    m.insert("b".into(), vec![]);
    assert!(m.contains_key(&"b".into()));
    assert_eq!(m.keys(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(m.remove(&"b".into()), Some(vec![]));
    assert_eq!(m.entries(), vec![("a".to_string(), vec![2])]);
    assert_eq!(m.len(), 1);
    m.clear();
    assert!(m.is_empty());
    assert_eq!(m.get(&"a".into()), None);
}

pub fn map_merge_is_all_or_nothing(connect: Connect) {
    let c = connect();
    let counts: Map<String, i64> = Map::open(&c, name("merge")).unwrap();
    counts
        .merge(
            [("x".into(), 2), ("y".into(), -1), ("x".into(), 3)],
            Merge::Add,
        )
        .unwrap();
    assert_eq!(counts.get(&"x".into()), Some(5));
    counts.merge([("y".into(), 7)], Merge::Max).unwrap();
    assert_eq!(counts.get(&"y".into()), Some(7));
    // The same object seen with string values: an addition cannot apply, so nothing does.
    let strings: Map<String, String> = Map::open(&c, name("merge")).unwrap();
    strings.insert("s".into(), "text".into());
    let err = counts
        .merge([("x".into(), 1), ("s".into(), 1)], Merge::Add)
        .unwrap_err();
    assert_eq!(err.server_kind(), Some(ErrorKind::BadValue), "{err}");
    assert_eq!(
        counts.get(&"x".into()),
        Some(5),
        "a failed merge changes nothing"
    );
}

/// A merge tagged with a once-token (a task's batch) is applied once, however often it comes.
pub fn map_merge_once_applies_a_token_once(connect: Connect) {
    use strato_proto::{Answer, Blob, Call, MergeOp, Op};
    let c = connect();
    let counts: Map<String, u64> = Map::open(&c, name("once")).unwrap();
    let pair = |key: &str, n: u64| {
        let key = postcard::to_stdvec(&key.to_string()).unwrap();
        (
            Blob::from(key),
            Blob::from(postcard::to_stdvec(&n).unwrap()),
        )
    };
    let merge_once = |token: &[u8], n: u64| {
        let op = Op::MapMergeOnce {
            once: Blob::from(token.to_vec()),
            pairs: vec![pair("x", n)],
            merge: MergeOp::AddU64,
        };
        c.call(Call::Op {
            name: name("once"),
            op,
        })
        .unwrap()
    };
    assert_eq!(merge_once(b"task-1/0/0", 2), Answer::Bool(true));
    assert_eq!(
        merge_once(b"task-1/0/0", 2),
        Answer::Bool(false),
        "a duplicate"
    );
    assert_eq!(merge_once(b"task-2/0/0", 3), Answer::Bool(true));
    assert_eq!(
        merge_once(b"", 1),
        Answer::Bool(true),
        "an empty token is a token"
    );
    assert_eq!(merge_once(b"", 1), Answer::Bool(false));
    assert_eq!(counts.get(&"x".into()), Some(6));
    // A plain merge still counts every time.
    counts.merge([("x".into(), 1)], Merge::Add).unwrap();
    counts.merge([("x".into(), 1)], Merge::Add).unwrap();
    assert_eq!(counts.get(&"x".into()), Some(8));
}

/// One process's handle on an array of fixed-size items, as the Python front has it: its
/// operations run on the arena's words when this connection located them (a client on the
/// server's Unix socket), else go to the backend as calls.
struct PackedHandle {
    client: strato::Client,
    name: String,
    local: Option<strato::LocalWord>,
}

impl PackedHandle {
    fn open(client: strato::Client, name: &str, items: &[u32]) -> PackedHandle {
        let open = strato_proto::Call::Open {
            name: name.into(),
            init: packed_init(items),
            persistent: false,
            role: strato_proto::Role::Handle,
        };
        assert_eq!(client.call(open).unwrap(), strato_proto::Answer::Done);
        let local = client.locate(name).unwrap();
        PackedHandle {
            client,
            name: name.into(),
            local,
        }
    }

    fn op(&self, op: strato_proto::Op) -> Result<strato_proto::Answer, strato::Error> {
        if let Some(answer) = self.local.as_ref().and_then(|word| word.apply(&op)) {
            return answer;
        }
        let call = strato_proto::Call::Op {
            name: self.name.clone(),
            op,
        };
        self.client.call(call)
    }

    fn items(&self, start: u64, end: u64) -> Vec<u32> {
        match self.op(strato_proto::Op::ArrayGetRange(start, end)) {
            Ok(strato_proto::Answer::Blobs(items)) => items.iter().map(u32_of).collect(),
            other => panic!("a range: {other:?}"),
        }
    }
}

fn packed_init(items: &[u32]) -> strato_proto::Init {
    strato_proto::Init::PackedArray {
        item_bytes: 4,
        packed: items
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect::<Vec<u8>>()
            .into(),
    }
}

fn item4(v: u32) -> strato_proto::Blob {
    v.to_ne_bytes().to_vec().into()
}

fn u32_of(blob: &strato_proto::Blob) -> u32 {
    u32::from_ne_bytes(blob.as_slice().try_into().expect("a 4-byte item"))
}

fn error_kind(answer: Result<strato_proto::Answer, strato::Error>) -> strato_proto::ErrorKind {
    match answer {
        Err(strato::Error::Server { kind, .. }) | Ok(strato_proto::Answer::Error { kind, .. }) => {
            kind
        }
        other => panic!("an error answer: {other:?}"),
    }
}

/// An array of fixed-size items (Python's `multiprocessing.Array`): items and ranges read
/// and written by two connections (on `mixed_tiers`, one in the arena and one over TCP),
/// each range at one instant; bad indices, sizes and initial items refused alike
/// everywhere; a deleted array answered by the backend, and a new one reached.
pub fn packed_array(connect: Connect) {
    use strato_proto::{Answer, ErrorKind, Op};
    let key = name("packed");
    let a = PackedHandle::open(connect(), &key, &[1, 2, 3, 4]);
    let b = PackedHandle::open(connect(), &key, &[9, 9]);
    assert_eq!(
        b.op(Op::ArrayLen).unwrap(),
        Answer::Count(4),
        "the first open made it"
    );
    assert_eq!(a.op(Op::ArraySet(1, item4(20))).unwrap(), Answer::Done);
    assert_eq!(b.op(Op::ArrayGet(1)).unwrap(), Answer::Blob(item4(20)));
    let set = Op::ArraySetRange(2, vec![item4(30), item4(40)]);
    assert_eq!(b.op(set).unwrap(), Answer::Done);
    assert_eq!(a.items(0, 4), vec![1, 20, 30, 40]);
    assert_eq!(a.items(4, 4), Vec::<u32>::new());

    assert_eq!(error_kind(a.op(Op::ArrayGet(4))), ErrorKind::OutOfBounds);
    assert_eq!(
        error_kind(b.op(Op::ArrayGetRange(3, 5))),
        ErrorKind::OutOfBounds
    );
    let past = Op::ArraySetRange(3, vec![item4(0), item4(0)]);
    assert_eq!(error_kind(a.op(past)), ErrorKind::OutOfBounds);
    let short = Op::ArraySet(0, vec![1, 2].into());
    assert_eq!(error_kind(b.op(short)), ErrorKind::BadValue);
    let one_short = Op::ArraySetRange(0, vec![item4(7), vec![1].into()]);
    assert_eq!(error_kind(a.op(one_short)), ErrorKind::BadValue);
    assert_eq!(
        b.items(0, 4),
        vec![1, 20, 30, 40],
        "refused writes change nothing"
    );
    for target in [key.clone(), name("packed-new")] {
        let torn = strato_proto::Call::Open {
            name: target,
            init: strato_proto::Init::PackedArray {
                item_bytes: 4,
                packed: vec![0; 6].into(),
            },
            persistent: false,
            role: strato_proto::Role::Handle,
        };
        assert_eq!(error_kind(a.client.call(torn)), ErrorKind::BadValue);
    }

    // Whole-range writers on both connections, readers checking that no range is torn
    // (from a range of equal items on).
    let zeros = Op::ArraySetRange(0, vec![item4(0); 4]);
    assert_eq!(a.op(zeros).unwrap(), Answer::Done);
    let writers: Vec<_> = [(a.client.clone(), 1u32), (b.client.clone(), 2)]
        .into_iter()
        .map(|(client, w)| {
            let handle = PackedHandle::open(client, &key, &[0; 4]);
            super::background(move || {
                for round in 0..150 {
                    let all = vec![item4(w * 1_000 + round); 4];
                    assert_eq!(handle.op(Op::ArraySetRange(0, all)).unwrap(), Answer::Done);
                }
            })
        })
        .collect();
    for _ in 0..150 {
        for reader in [&a, &b] {
            let items = reader.items(0, 4);
            assert!(
                items.iter().all(|&v| v == items[0]),
                "a torn range: {items:?}"
            );
        }
    }
    for writer in &writers {
        super::finished(writer, "writer");
    }

    a.client
        .call(strato_proto::Call::Delete { name: key.clone() })
        .unwrap();
    assert_eq!(error_kind(b.op(Op::ArrayLen)), ErrorKind::NotFound);
    let _again = PackedHandle::open(connect(), &key, &[5, 6]);
    assert_eq!(
        a.items(0, 2),
        vec![5, 6],
        "the old handle reaches the new array"
    );
}
