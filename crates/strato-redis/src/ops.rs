//! Each protocol operation as a script call (or, where Lua cannot compute it, a read and a
//! compare-and-set from the client).

use strato_proto::{apply_atomic, Answer, Blob, ErrorKind, FetchOp, Init, Op, Role, Scalar, Wait};

use crate::reply::scalar_parts;
use crate::state::{letter, Shared};
use crate::Failure;

fn text(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn bytes(blob: &Blob) -> Vec<u8> {
    blob.to_vec()
}

fn bound(b: Option<u64>) -> Vec<u8> {
    b.map_or_else(Vec::new, text)
}

fn scalar_args(value: Scalar) -> Vec<Vec<u8>> {
    let (flavour, bits) = scalar_parts(value);
    vec![text(flavour), text(bits)]
}

fn unsupported(what: &str) -> Answer {
    Shared::refuse(
        ErrorKind::Unsupported,
        format!(
            "{what}: user-defined shared objects run their methods inside a strato state \
             server, which Redis cannot do; use the embedded server or `strato serve` for them"
        ),
    )
}

/// The script's arguments that create an object of `init`; a mutex is `native` (see
/// mutex.rs) when made by a client of a standalone Redis.
fn init_args(init: &Init, native: bool) -> Vec<Vec<u8>> {
    match init {
        Init::Atomic(value) => scalar_args(*value),
        Init::Mutex(b) => vec![bytes(b), text(u8::from(native))],
        Init::Value(b) | Init::RwLock(b) | Init::ReentrantLock(b) => vec![bytes(b)],
        Init::Array(items) => std::iter::once(Vec::new())
            .chain(items.iter().map(bytes))
            .collect(),
        Init::PackedArray { item_bytes, packed } => {
            let size = (*item_bytes as usize).max(1);
            std::iter::once(text(item_bytes))
                .chain(packed.chunks(size).map(<[u8]>::to_vec))
                .collect()
        }
        Init::Semaphore { permits, bound: b } => vec![text(permits), bound(*b)],
        Init::Barrier(n) | Init::Latch(n) => vec![text(n)],
        Init::Channel { bound: b } | Init::Queue { bound: b } => vec![bound(*b)],
        Init::Pipe => vec![bound(None)],
        Init::TaskBoard { binary } => vec![text(binary)],
        Init::Map
        | Init::List
        | Init::Condvar
        | Init::Event
        | Init::Future
        | Init::Custom { .. } => vec![],
    }
}

impl Shared {
    pub(crate) fn open(
        &self,
        name: String,
        init: Init,
        persistent: bool,
        role: Role,
    ) -> Result<Answer, Failure> {
        if let Init::Custom { type_name, .. } = &init {
            return Ok(unsupported(&format!("`{name}` is a {type_name}")));
        }
        if let Err(why) = init.check() {
            return Ok(Shared::refuse(ErrorKind::BadValue, why));
        }
        let mut args = vec![
            text(format!("{:?}", init.kind())),
            text(u8::from(persistent)),
            letter(role),
            self.ttl_ms(),
        ];
        args.extend(init_args(&init, !self.pool.is_cluster()));
        let answer = self.answer(&name, "open", Wait::Never, args)?;
        if answer == Answer::Done {
            *self.refs().entry((name, role)).or_default() += 1;
        }
        Ok(answer)
    }

    /// Runs `op` on object `name`, keeping count of the locks this process holds (it stays
    /// present on their objects while it holds them).
    pub(crate) fn op(&self, name: String, op: Op) -> Result<Answer, Failure> {
        let takes = matches!(
            op,
            Op::Lock(_) | Op::ReadLock(_) | Op::WriteLock(_) | Op::ReentrantLock { .. }
        );
        let gives = matches!(
            op,
            Op::Unlock { .. }
                | Op::ReadUnlock { .. }
                | Op::WriteUnlock { .. }
                | Op::ReentrantUnlock { .. }
        );
        let answer = self.apply(&name, op)?;
        if (takes && matches!(answer, Answer::Locked { .. })) || gives {
            self.involve(&name, takes);
        }
        Ok(answer)
    }

    fn apply(&self, name: &str, op: Op) -> Result<Answer, Failure> {
        let n = name;
        let never = Wait::Never;
        match op {
            Op::Load => self.answer(n, "load", never, vec![]),
            Op::Store(v) => self.atomic_store(n, v),
            Op::Fetch(
                fetch @ (FetchOp::Add | FetchOp::Sub),
                v @ (Scalar::I64(_) | Scalar::U64(_)),
            ) => self.fetch_add(n, fetch, v),
            op @ (Op::Swap(_) | Op::Fetch(..) | Op::CompareExchange { .. }) => {
                self.atomic_update(n, &op)
            }
            Op::ValueGet => self.answer(n, "vget", never, vec![]),
            Op::ValueSet(v) => self.answer(n, "vset", never, vec![bytes(&v)]),
            Op::ValueCompareSet { version, value } => {
                self.answer(n, "vcas", never, vec![text(version), bytes(&value)])
            }
            Op::ArrayLen | Op::ListLen => self.answer(n, "alen", never, vec![]),
            Op::ArrayGet(i) | Op::ListGet(i) => self.answer(n, "aget", never, vec![text(i)]),
            Op::ArraySet(i, v) | Op::ListSet(i, v) => {
                self.answer(n, "aset", never, vec![text(i), bytes(&v)])
            }
            Op::ArrayGetRange(s, e) => self.answer(n, "arange", never, vec![text(s), text(e)]),
            Op::ArraySetRange(s, items) => {
                let mut args = vec![text(s)];
                args.extend(items.iter().map(bytes));
                self.answer(n, "asetrange", never, args)
            }
            Op::ListPush(v) => self.answer(n, "lpush", never, vec![bytes(&v)]),
            Op::ListExtend(items) => {
                self.answer(n, "lpush", never, items.iter().map(bytes).collect())
            }
            Op::ListPop => self.answer(n, "lpop", never, vec![]),
            Op::ListRange(s, e) => self.answer(n, "lrange", never, vec![text(s), text(e)]),
            Op::MapGet(k) => self.answer(n, "mget", never, vec![bytes(&k)]),
            Op::MapInsert(k, v) => self.answer(n, "minsert", never, vec![bytes(&k), bytes(&v)]),
            Op::MapRemove(k) => self.answer(n, "mremove", never, vec![bytes(&k)]),
            Op::MapContains(k) => self.answer(n, "mcontains", never, vec![bytes(&k)]),
            Op::MapLen => self.answer(n, "mlen", never, vec![]),
            Op::MapKeys => {
                let mut answer = self.answer(n, "mkeys", never, vec![])?;
                if let Answer::Blobs(keys) = &mut answer {
                    keys.sort();
                }
                Ok(answer)
            }
            Op::MapEntries => self.answer(n, "mentries", never, vec![]),
            Op::MapClear => self.answer(n, "mclear", never, vec![]),
            Op::MapMerge(pairs, merge) => self.map_merge(n, None, &pairs, merge),
            Op::MapMergeOnce { once, pairs, merge } => {
                self.map_merge(n, Some(&once), &pairs, merge)
            }
            Op::Lock(w) => self.mutex_lock(n, w),
            Op::Unlock {
                lease,
                value,
                poison,
            } => self.mutex_unlock(n, lease, value, poison),
            Op::WriteUnlock {
                lease,
                value,
                poison,
            } => self.answer(n, "wunlock", never, unlock_args(lease, value, poison)),
            Op::Poison { clear } => self.answer(n, "poison", never, vec![text(u8::from(clear))]),
            Op::Downgrade { lease, value } => {
                let mut args = unlock_args(lease, value, false);
                args.truncate(3);
                self.answer(n, "downgrade", never, args)
            }
            Op::ReadLock(w) => self.answer(n, "rlock", w, vec![]),
            Op::WriteLock(w) => self.answer(n, "wlock", w, vec![]),
            Op::ReadUnlock { lease } => self.answer(n, "runlock", never, vec![text(lease)]),
            Op::ReentrantLock { owner, wait } => {
                self.answer(n, "rlock_enter", wait, vec![text(owner)])
            }
            Op::ReentrantUnlock { owner, value } => {
                let given = value.is_some();
                let value = value.as_ref().map(bytes).unwrap_or_default();
                let args = vec![text(owner), text(u8::from(given)), value];
                self.answer(n, "rlock_exit", never, args)
            }
            Op::Acquire(k, w) => self.answer(n, "acquire", w, vec![text(k)]),
            Op::Release(k) => self.answer(n, "sem_release", never, vec![text(k)]),
            Op::Available => self.answer(n, "available", never, vec![]),
            Op::CondWait {
                mutex,
                lease,
                value,
                wait,
            } => self.cond_wait(n, &mutex, lease, value, wait),
            Op::NotifyOne => self.answer(n, "notify_one", never, vec![]),
            Op::NotifyAll => self.answer(n, "notify_all", never, vec![]),
            Op::EventSet => self.answer(n, "ev_set", never, vec![]),
            Op::EventClear => self.answer(n, "ev_clear", never, vec![]),
            Op::EventIsSet => self.answer(n, "ev_is_set", never, vec![]),
            Op::EventWait(w) => self.answer(n, "ev_wait", w, vec![]),
            Op::BarrierWait(w) => self.answer(n, "bar_wait", w, vec![]),
            Op::FutureSet(v) => self.answer(n, "fut_set", never, vec![bytes(&v)]),
            Op::FutureGet(w) => self.answer(n, "fut_get", w, vec![]),
            Op::FutureIsSet => self.answer(n, "fut_is_set", never, vec![]),
            Op::CountDown => self.answer(n, "count_down", never, vec![]),
            Op::LatchCount => self.answer(n, "latch_count", never, vec![]),
            Op::LatchWait(w) => self.answer(n, "latch_wait", w, vec![]),
            Op::Send(v, w) => self.answer(n, "send", w, vec![v.into_vec()]),
            Op::Recv(w) => self.answer(n, "recv", w, vec![]),
            Op::Put(v, w) => self.queue_put(n, v.into_vec(), w),
            Op::Get(w) => self.queue_get(n, None, w),
            Op::GetMany { max, wait } => self.queue_get(n, Some(u64::from(max)), wait),
            Op::Len => self.answer(n, "len", never, vec![]),
            Op::TaskDone => self.answer(n, "task_done", never, vec![]),
            Op::Join(w) => self.answer(n, "join", w, vec![]),
            Op::Invoke { .. } | Op::Snapshot => Ok(unsupported(&format!("`{n}`"))),
            Op::Locate | Op::Attach(_) => Ok(Shared::refuse(
                ErrorKind::Unsupported,
                format!("`{n}` has no place in shared memory: Redis holds it"),
            )),
            Op::TaskJoin { binary } => self.task_join(n, binary),
            Op::TaskSubmit(specs) => self.task_submit(n, &specs),
            Op::TaskTake { max, wait } => self.task_take(n, max, wait),
            Op::TaskFinish {
                id,
                attempt,
                result,
            } => self.task_finish(n, id, attempt, result),
            Op::TaskCounts => self.answer(n, "task_counts", never, vec![]),
            Op::TaskStart { id } => self.answer(n, "task_start", never, vec![text(id)]),
        }
    }

    /// Stores in one script, which checks the flavour.
    fn atomic_store(&self, name: &str, value: Scalar) -> Result<Answer, Failure> {
        self.answer(name, "store", Wait::Never, scalar_args(value))
    }

    /// Adds in one script (`HINCRBY` on the value's bits wraps like the integer would,
    /// except at i64 overflow, which falls back to a compare-and-set).
    fn fetch_add(&self, name: &str, fetch: FetchOp, value: Scalar) -> Result<Answer, Failure> {
        let (flavour, bits) = scalar_parts(value);
        let delta = match fetch {
            FetchOp::Sub => bits.wrapping_neg(),
            _ => bits,
        };
        let args = vec![text(delta), text(flavour)];
        let answer = self.answer(name, "add", Wait::Never, args)?;
        match answer {
            Answer::Scalar(Scalar::I64(new)) if matches!(value, Scalar::I64(_)) => {
                Ok(Answer::Scalar(Scalar::I64(new.wrapping_sub(delta))))
            }
            Answer::Scalar(Scalar::U64(new)) if matches!(value, Scalar::U64(_)) => Ok(
                Answer::Scalar(Scalar::U64((new as i64).wrapping_sub(delta) as u64)),
            ),
            Answer::Scalar(_) | Answer::WouldBlock => {
                // Overflowed i64, or another flavour than the argument's: let the shared
                // semantics decide (they wrap, or report the mismatch).
                self.atomic_update(name, &Op::Fetch(fetch, value))
            }
            other => Ok(other),
        }
    }

    /// Read, apply the atomic's semantics here, compare-and-set; again on a conflict.
    fn atomic_update(&self, name: &str, op: &Op) -> Result<Answer, Failure> {
        loop {
            let mut value = match self.answer(name, "load", Wait::Never, vec![])? {
                Answer::Scalar(v) => v,
                other => return Ok(other),
            };
            let before = scalar_parts(value).1;
            let answer = apply_atomic(&mut value, op).unwrap_or(Answer::Done);
            let after = scalar_parts(value).1;
            if before == after || matches!(answer, Answer::Error { .. }) {
                return Ok(answer);
            }
            let cas = self.answer(name, "cas", Wait::Never, vec![text(before), text(after)])?;
            match cas {
                Answer::Exchanged(Ok(_)) => return Ok(answer),
                Answer::Exchanged(Err(_)) => continue,
                other => return Ok(other),
            }
        }
    }

    /// Reads the keys' values and the map's version, merges here, and writes the result if
    /// the map did not change meanwhile; again if it did. With `once`, a merge of that token
    /// applied before answers `Bool(false)` and changes nothing.
    fn map_merge(
        &self,
        name: &str,
        once: Option<&Blob>,
        pairs: &[(Blob, Blob)],
        merge: strato_proto::MergeOp,
    ) -> Result<Answer, Failure> {
        // Prefixed, so that an empty token is a token, not "none".
        let token = once.map_or_else(Vec::new, |t| [b"t", &t[..]].concat());
        loop {
            let mut keys = vec![token.clone()];
            keys.extend(pairs.iter().map(|(k, _)| bytes(k)));
            let read = self.run(name, "mread", Wait::Never, keys)?;
            if read.tag != b'S' {
                return read.answer().map_err(Failure::Protocol);
            }
            let version = read.fields.first().cloned().unwrap_or_default();
            let mut merged: std::collections::BTreeMap<&Blob, Blob> = Default::default();
            for (i, (key, new)) in pairs.iter().enumerate() {
                let stored = read.fields.get(i + 1).and_then(|f| match f.split_first() {
                    Some((b'1', value)) => Some(Blob::from(value.to_vec())),
                    _ => None,
                });
                let existing = merged.get(key).cloned().or(stored);
                let value = match existing {
                    None => new.clone(),
                    Some(old) => match merge.apply(&old, new) {
                        Ok(v) => v,
                        Err(message) => return Ok(Shared::refuse(ErrorKind::BadValue, message)),
                    },
                };
                merged.insert(key, value);
            }
            let mut args = vec![version, token.clone()];
            for (k, v) in merged {
                args.push(bytes(k));
                args.push(bytes(&v));
            }
            match self.answer(name, "mwrite", Wait::Never, args)? {
                Answer::WouldBlock => continue,
                other => return Ok(other),
            }
        }
    }

    /// Enlist on the condvar, release the mutex, wait for a notification, take the mutex
    /// again: three objects' worth of calls, safe because a notification sent before the
    /// wait begins is kept in the waiter's list.
    fn cond_wait(
        &self,
        condvar: &str,
        mutex: &str,
        lease: u64,
        value: Option<Blob>,
        wait: Wait,
    ) -> Result<Answer, Failure> {
        let ticket = self.ticket();
        let enlisted = self.script(condvar, "cv_enlist", &ticket, &[text(mutex)])?;
        if enlisted.tag != b'Q' {
            return enlisted.answer().map_err(Failure::Protocol);
        }
        let unlocked = self.mutex_unlock(mutex, lease, value, false)?;
        if unlocked != Answer::Done {
            let cancelled = self.script(condvar, "cancel", &ticket, &[])?;
            if cancelled.tag == b'D' {
                // A notification chose this call before it left: it goes to another.
                self.answer(condvar, "notify_one", Wait::Never, vec![])?;
            }
            return Ok(unlocked);
        }
        let woken = match self.park(condvar, &ticket, crate::state::deadline(wait))? {
            Some(reply) => reply.answer().map_err(Failure::Protocol)?,
            None => Answer::Done, // dropped from the queue: a spurious wake-up
        };
        let timed_out = match woken {
            Answer::Done => false,
            Answer::TimedOut => true,
            other => return Ok(other),
        };
        match self.mutex_lock(mutex, Wait::Forever)? {
            Answer::Locked {
                lease,
                value,
                poisoned,
            } => Ok(Answer::Woken {
                lease,
                value,
                poisoned,
                timed_out,
            }),
            other => Ok(other),
        }
    }
}

pub(crate) fn unlock_args(lease: u64, value: Option<Blob>, poison: bool) -> Vec<Vec<u8>> {
    let given = value.is_some();
    vec![
        text(lease),
        text(u8::from(given)),
        value.as_ref().map(bytes).unwrap_or_default(),
        text(u8::from(poison)),
    ]
}
