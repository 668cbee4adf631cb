//! An unbounded queue's puts and gets in native commands, on a standalone Redis.
//!
//! A script costs Redis about 25–35 µs of CPU per `FCALL` on the machines measured, a
//! native command 15–20 µs (docs/benchmarks.md), so a queue round trip of two scripts per
//! hop stayed near 3 × raw `LPUSH`/`BLPOP`. Here an unbounded queue's hot path takes no
//! script:
//!
//! - **put**: `MULTI`, `HMGET` of the kind, bound, persistence and epoch (to notice, in the
//!   same transaction, an object deleted or made again), `RPUSH` of the tagged item,
//!   `HINCRBY` of the unfinished count (for `join`), the TTL for a non-persistent queue,
//!   `EXEC`: one round trip. Nothing else can be parked on the queue: its getters wait in
//!   Redis itself (below), which wakes them on the push.
//! - **get**: in one write, the acknowledgements of the items this process took earlier
//!   (`LPOP` of each from the lane it was moved to), the lane's presence renewed and the
//!   lane registered (once a quarter of the presence period), the same `HMGET`, then
//!   `BLMOVE` from the queue into the lane's list. A lane is a list of this process's own,
//!   one per get in flight. An item sits there until it is acknowledged, by the next get or
//!   the heartbeat, so a process that dies with an item in flight leaves it in its lane,
//!   from which it goes back to the front of the queue once the lane's presence lapses (the
//!   scripts' `recover_lanes`, run by any getter that finds the queue empty, and by `len`).
//!   A wait lasts at most a quarter of the presence period, so an item that comes at its
//!   end still has half a period of presence for its acknowledgement. Items are
//!   acknowledged only once handed over whole (a large one read from the item hash).
//! - If the `HMGET` shows that the object is gone, or is no longer this unbounded queue
//!   (another kind, a bound, another epoch: made again since), what was moved goes back to
//!   the front and the call is made again the way the object now needs.
//! - A get that finds nothing (its wait ran out, or every 2 s of a longer one) runs the
//!   `regive` script: dead lanes come back, and a queue deleted meanwhile is noticed.
//!
//! Everything else a queue does (`put_many`, `len`, `task_done`, `join`, the items after
//! the first of a `get_many`) and every bounded queue stay on the scripts; so does every
//! queue on a Redis Cluster, whose client sends one command at a time. A process learns
//! once whether a queue is unbounded and persistent, and its epoch (the `mode` script),
//! and forgets it when it finds the queue deleted or changed.

use std::collections::HashMap;
use std::sync::MutexGuard;
use std::time::Instant;

use strato_proto::{Answer, ErrorKind, Wait};

use crate::keys::prefix;
use crate::reply::Reply;
use crate::state::{blpop_seconds, deadline, lost, Shared};
use crate::Failure;

/// At most this many queues' modes are remembered.
const MODES_MAX: usize = 4096;

/// What a process knows of a queue or a mutex.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// Its hot operations are native (an unbounded queue or a mutex, on a standalone Redis).
    pub(crate) native: bool,
    /// Its keys have no TTL.
    pub(crate) persistent: bool,
    /// When it was made (Redis's clock, µs): another object of the same name has another.
    pub(crate) epoch: u64,
    /// The script that told it (`mode` for a queue, `mutex_mode` for a mutex): the kind it
    /// is known as.
    learnt_by: &'static str,
}

/// The lanes of this process's gets: each get in flight has one, reused afterwards.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    free: Vec<u32>,
    made: u32,
    /// When each lane was last registered and made present on each queue: that is
    /// renewed once a quarter of the presence period has passed, not on every get.
    renewed: HashMap<(String, u32), Instant>,
}

impl Lanes {
    /// A lane not in use: a freed one, or a new one.
    pub(crate) fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.made += 1;
            self.made
        })
    }

    /// Lane `lane` is no longer in use.
    pub(crate) fn free(&mut self, lane: u32) {
        self.free.push(lane);
    }
}

/// What one native move came to.
enum Moved {
    /// The queue was there; this item moved.
    Item(Vec<u8>),
    /// The queue was there and empty.
    Nothing,
    /// The object is no longer an unbounded queue.
    Changed,
    /// The object is gone.
    Gone,
}

/// The object's kind, bound, persistence and epoch, as a native call read them (one
/// `HMGET` of those four fields).
struct Found {
    kind: Option<String>,
    bound: Option<String>,
    persist: Option<String>,
    epoch: Option<String>,
}

impl redis::FromRedisValue for Found {
    fn from_redis_value(value: &redis::Value) -> redis::RedisResult<Found> {
        let (kind, bound, persist, epoch) = redis::FromRedisValue::from_redis_value(value)?;
        Ok(Found {
            kind,
            bound,
            persist,
            epoch,
        })
    }
}

impl Found {
    fn epoch(&self) -> u64 {
        self.epoch
            .as_deref()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0)
    }

    fn is_native_queue(&self) -> bool {
        self.kind.as_deref() == Some("Queue") && self.bound.as_deref() == Some("")
    }

    fn persistent(&self) -> bool {
        self.persist.as_deref() == Some("1")
    }
}

/// A refusal of script `script` as one of operation `op` ("mode is not an operation of a
/// List" becomes "get is not …").
fn as_op(answer: Answer, script: &str, op: &str) -> Answer {
    match answer {
        Answer::Error { kind, message } => Answer::Error {
            kind,
            message: match message.strip_prefix(script) {
                Some(rest) if rest.starts_with(" is not") => format!("{op}{rest}"),
                _ => message,
            },
        },
        other => other,
    }
}

/// The refusal of a get whose queue is gone: deleted while it waited, or never there.
pub(crate) fn gone(name: &str, waited: bool) -> Answer {
    match waited {
        true => {
            let why = format!("object `{name}` was deleted while the call waited");
            Shared::refuse(ErrorKind::Deleted, why)
        }
        false => Shared::refuse(ErrorKind::NotFound, format!("no object named `{name}`")),
    }
}

/// The keys of a lane of this process on an object: a native get's (where taken items
/// wait for their acknowledgement) or a native lock's (where the token stays while held).
pub(crate) struct LaneKeys {
    /// The lane's number in this process (a lock's lease).
    pub(crate) number: u32,
    pub(crate) prefix: String,
    /// `<session>.<n>`: the lane, as registered in `<prefix>G`.
    pub(crate) lane: String,
    /// The lane's list.
    pub(crate) list: String,
}

impl LaneKeys {
    /// Lane `number` of session `session` on object `name`.
    pub(crate) fn new(session: u64, name: &str, number: u32) -> LaneKeys {
        let prefix = prefix(name);
        let lane = format!("{session}.{number}");
        LaneKeys {
            number,
            list: format!("{prefix}g:{lane}"),
            lane,
            prefix,
        }
    }
}

impl Shared {
    fn modes(&self) -> MutexGuard<'_, HashMap<String, Mode>> {
        self.modes.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lanes(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets what it knew of queue `name` (deleted, or found to be something else).
    pub(crate) fn forget_mode(&self, name: &str) {
        self.modes().remove(name);
        self.lanes().renewed.retain(|(queue, _), _| queue != name);
    }

    /// Whether lane `number`'s registration and presence on queue `name` are due for
    /// renewal; if so, they count as renewed from now.
    pub(crate) fn renew_lane(&self, name: &str, number: u32) -> bool {
        let mut lanes = self.lanes();
        let key = (name.to_string(), number);
        if lanes
            .renewed
            .get(&key)
            .is_some_and(|at| at.elapsed() < self.presence / 4)
        {
            return false;
        }
        if lanes.renewed.len() >= MODES_MAX {
            lanes.renewed.clear();
        }
        lanes.renewed.insert(key, Instant::now());
        true
    }

    /// The mode of object `name` as script `learn` (`mode` for a queue, `mutex_mode` for a
    /// mutex) tells it, or the answer refusing it (no such object, another kind).
    /// A refusal names `op`, the caller's operation.
    pub(crate) fn mode(
        &self,
        name: &str,
        learn: &'static str,
        op: &str,
    ) -> Result<Result<Mode, Answer>, Failure> {
        if self.pool.is_cluster() {
            return Ok(Ok(Mode {
                native: false,
                persistent: true,
                epoch: 0,
                learnt_by: learn,
            }));
        }
        if let Some(mode) = self.modes().get(name).filter(|m| m.learnt_by == learn) {
            return Ok(Ok(*mode));
        }
        let reply = self.script(name, learn, "", &[])?;
        if reply.tag != b'M' {
            return reply
                .answer()
                .map(|a| Err(as_op(a, learn, op)))
                .map_err(Failure::Protocol);
        }
        let mode = Mode {
            native: reply.flag(0).map_err(Failure::Protocol)?,
            persistent: reply.flag(1).map_err(Failure::Protocol)?,
            epoch: reply.number(2).map_err(Failure::Protocol)?,
            learnt_by: learn,
        };
        let mut modes = self.modes();
        if modes.len() >= MODES_MAX {
            modes.clear();
        }
        modes.insert(name.to_string(), mode);
        Ok(Ok(mode))
    }

    /// Puts `item` on queue `name`: natively if it is unbounded, else by the script.
    pub(crate) fn queue_put(
        &self,
        name: &str,
        item: Vec<u8>,
        wait: Wait,
    ) -> Result<Answer, Failure> {
        let mode = match self.mode(name, "mode", "put")? {
            Ok(mode) if mode.native => mode,
            Ok(_) => return self.answer(name, "put", wait, vec![item]),
            Err(refusal) => return Ok(refusal),
        };
        let mut items = vec![item];
        let ttl = (!mode.persistent).then_some(self.ttl.as_millis() as u64);
        // A large item's hash gets its TTL in the same write as the item.
        let stored = self.store_items(name, &mut items, ttl)?;
        let tagged = items.pop().unwrap_or_default();
        let prefix = prefix(name);
        let (meta, list) = (format!("{prefix}m"), format!("{prefix}l"));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HMGET")
            .arg(&meta)
            .arg("kind")
            .arg("bound")
            .arg("persist")
            .arg("epoch")
            .cmd("RPUSH")
            .arg(&list)
            .arg(&tagged)
            .ignore()
            .cmd("HINCRBY")
            .arg(&meta)
            .arg("unfinished")
            .arg(1)
            .ignore();
        if let Some(ttl) = ttl {
            pipe.cmd("PEXPIRE").arg(&list).arg(ttl).arg("NX").ignore();
        }
        let items = format!("{prefix}b");
        let mut written = vec![&list];
        if !stored.is_empty() {
            written.push(&items);
        }
        let (found,): (Found,) = self.pool.with(|c| pipe.query(c)).map_err(lost)?;
        if found.is_native_queue() {
            if found.persistent() != mode.persistent {
                self.correct_ttls(name, found.persistent(), &written)?;
            }
            if found.epoch() != mode.epoch {
                self.forget_mode(name); // another queue of the name: learnt again
            }
            return Ok(Answer::Done);
        }
        self.forget_mode(name);
        self.put_back(name, tagged, &stored, found.kind.as_deref(), wait)
    }

    /// A native put found no unbounded queue named `name` (`kind` is what it found): it
    /// takes its item back, then answers as the script would, or has the script put it (a
    /// queue made again with a bound).
    fn put_back(
        &self,
        name: &str,
        tagged: Vec<u8>,
        stored: &[(usize, String)],
        kind: Option<&str>,
        wait: Wait,
    ) -> Result<Answer, Failure> {
        let back = self.script(name, "unput", "", std::slice::from_ref(&tagged))?;
        let removed = back.flag(0).map_err(Failure::Protocol)?;
        let refused = Reply {
            tag: b'E',
            fields: Vec::new(),
        };
        match kind {
            Some("Queue") if !removed => Ok(Answer::Done), // a getter took it already
            Some("Queue") => {
                let reply = self.run_script(name, "put", wait, &[tagged], false)?;
                self.forget_unput(name, &reply, stored);
                reply.answer().map_err(Failure::Protocol)
            }
            None => {
                self.forget_unput(name, &refused, stored);
                Ok(gone(name, false))
            }
            Some(other) => {
                self.forget_unput(name, &refused, stored);
                let why = format!("put is not an operation of a {other}");
                Ok(Shared::refuse(ErrorKind::WrongType, why))
            }
        }
    }

    /// Takes one item (`many: None`) or up to `many` items from queue `name`: natively if it
    /// is unbounded, else by the script.
    pub(crate) fn queue_get(
        &self,
        name: &str,
        many: Option<u64>,
        wait: Wait,
    ) -> Result<Answer, Failure> {
        let mode = match self.mode(name, "mode", "get")? {
            Ok(mode) if mode.native => mode,
            Ok(_) => {
                return match many {
                    Some(max) => self.answer(name, "get_many", wait, vec![text(max)]),
                    None => self.answer(name, "get", wait, vec![]),
                }
            }
            Err(refusal) => return Ok(refusal),
        };
        let lane = self.lanes().take();
        let got = self.get_on_lane(name, mode, lane, many, wait);
        // A lane whose get failed may hold an item it never answered: it is not used
        // again, so its presence lapses and the item goes back to the queue.
        if got.is_ok() {
            self.lanes().free(lane);
        }
        match got? {
            Some(answer) => Ok(answer),
            // No longer an unbounded queue: asked again, the way it now needs.
            None => self.queue_get(name, many, wait),
        }
    }

    /// A native get on lane `lane`: its answer, or `None` if the object turned out to be no
    /// longer an unbounded queue (what was moved went back).
    fn get_on_lane(
        &self,
        name: &str,
        mode: Mode,
        lane: u32,
        many: Option<u64>,
        wait: Wait,
    ) -> Result<Option<Answer>, Failure> {
        let until = deadline(wait);
        let keys = LaneKeys::new(self.session, name, lane);
        let mut waited = false;
        loop {
            let moved = match self.move_item(name, mode, &keys, wait, until)? {
                Moved::Item(item) => Some(item),
                Moved::Nothing => None,
                Moved::Changed => return Ok(None),
                Moved::Gone => return Ok(Some(gone(name, waited || wait != Wait::Never))),
            };
            if let Some(first) = moved {
                let mut items = vec![first];
                if let Some(max) = many.filter(|max| *max > 1) {
                    items.extend(self.take_more(name, &keys.lane, max - 1)?);
                }
                let count = items.len();
                let tag = if many.is_some() { b'S' } else { b'B' };
                let reply = self.take_items(name, Reply { tag, fields: items })?;
                // Acknowledged only once handed over whole: until then the items stay in
                // the lane, which goes back to the queue if this get fails.
                let ack = (name.to_string(), format!("g:{}", keys.lane));
                self.acks().extend(std::iter::repeat_n(ack, count));
                return reply.answer().map(Some).map_err(Failure::Protocol);
            }
            if let Some(answer) = self.give_back(name, "regive", &[], wait, until, waited)? {
                return Ok(Some(answer));
            }
            waited = true;
        }
    }

    /// A native move found nothing: script `script` (with `args`) gives back what dead
    /// processes held (items, a mutex's token). Answers the call's final answer (the wait
    /// is over, the object gone or changed) or `None`: move again.
    pub(crate) fn give_back(
        &self,
        name: &str,
        script: &str,
        args: &[Vec<u8>],
        wait: Wait,
        until: Option<Instant>,
        waited: bool,
    ) -> Result<Option<Answer>, Failure> {
        let check = self.script(name, script, "", args)?;
        if check.tag != b'C' {
            self.forget_mode(name);
            return match check.answer().map_err(Failure::Protocol)? {
                Answer::Error {
                    kind: ErrorKind::NotFound,
                    ..
                } => Ok(Some(gone(name, waited || wait != Wait::Never))),
                answer => Ok(Some(answer)),
            };
        }
        let back: u64 = check.number(0).map_err(Failure::Protocol)?;
        if back == 0 && until.is_some_and(|u| Instant::now() >= u) {
            return Ok(Some(match wait {
                Wait::Never => Answer::WouldBlock,
                _ => Answer::TimedOut,
            }));
        }
        Ok(None)
    }

    /// `get_many`'s items after its first: up to `max` more, moved to the lane by a script
    /// (none if it fails: the first is answered alone).
    fn take_more(&self, name: &str, lane: &str, max: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let more = self.script(name, "take", "", &[text(lane), text(max)])?;
        match more.tag {
            b'S' => Ok(more.fields),
            _ => {
                self.forget_mode(name);
                Ok(Vec::new())
            }
        }
    }

    /// One write: the acknowledgements due; the lane present (when due: a quarter of the
    /// presence period at a time) and registered; the object's kind, bound and persistence
    /// read; then the move of one item into the lane, waiting for it unless `wait` is
    /// `Never`. What was moved goes back if the object is no longer an unbounded queue.
    fn move_item(
        &self,
        name: &str,
        mode: Mode,
        keys: &LaneKeys,
        wait: Wait,
        until: Option<Instant>,
    ) -> Result<Moved, Failure> {
        let LaneKeys {
            prefix, lane, list, ..
        } = keys;
        let (meta, registry) = (format!("{prefix}m"), format!("{prefix}G"));
        let ttl = self.ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        self.acknowledge(&mut pipe, name, prefix);
        self.renew_in(&mut pipe, name, mode, keys, lane);
        pipe.cmd("HMGET")
            .arg(&meta)
            .arg("kind")
            .arg("bound")
            .arg("persist")
            .arg("epoch");
        // The lane's presence, renewed at the latest a quarter period before the move, keeps
        // half a period after an item comes, for its acknowledgement (a heartbeat at most a
        // quarter period away).
        self.move_into_lane(&mut pipe, keys, wait, until);
        if !mode.persistent {
            // After the move, which may have made the lane's list.
            pipe.cmd("PEXPIRE").arg(list).arg(ttl).arg("NX").ignore();
        }
        let (found, item): (Found, Option<Vec<u8>>) =
            self.pool.with(|c| pipe.query(c)).map_err(lost)?;
        // A queue made again since this process learnt it has no registration of this lane
        // (the registry went with the old one): treated as changed, and learnt again.
        if found.is_native_queue() && found.epoch() == mode.epoch {
            if found.persistent() != mode.persistent {
                self.correct_ttls(name, found.persistent(), &[list, &registry])?;
            }
            return Ok(match item {
                Some(item) => Moved::Item(item),
                None => Moved::Nothing,
            });
        }
        // Deleted, or made again as something else: what was moved goes back.
        self.forget_mode(name);
        if item.is_some() {
            self.move_back(keys, found.kind.is_none() || !found.persistent())?;
        }
        Ok(match found.kind {
            None => Moved::Gone,
            Some(_) => Moved::Changed,
        })
    }

    /// Adds to `pipe`, when due (a quarter of the presence period at a time), the presence
    /// key `<prefix>p:<present>` renewed (the lane's, or the session's), then the lane
    /// registered: a lane found registered but absent is given back.
    pub(crate) fn renew_in(
        &self,
        pipe: &mut redis::Pipeline,
        name: &str,
        mode: Mode,
        keys: &LaneKeys,
        present: &str,
    ) {
        if !self.renew_lane(name, keys.number) {
            return;
        }
        let presence = self.presence.as_millis() as u64;
        let prefix = &keys.prefix;
        pipe.cmd("SET")
            .arg(format!("{prefix}p:{present}"))
            .arg(1)
            .arg("PX")
            .arg(presence)
            .ignore();
        let registry = format!("{prefix}G");
        pipe.cmd("HSET")
            .arg(&registry)
            .arg(&keys.lane)
            .arg(1)
            .ignore();
        if !mode.persistent {
            let ttl = self.ttl.as_millis() as u64;
            pipe.cmd("PEXPIRE")
                .arg(&registry)
                .arg(ttl)
                .arg("NX")
                .ignore();
        }
    }

    /// Adds to `pipe` the move of the first element of the object's list to the end of the
    /// lane's, waiting for one unless `wait` is `Never`, at most a quarter of the presence
    /// period (and 2 s) before the caller looks again.
    pub(crate) fn move_into_lane(
        &self,
        pipe: &mut redis::Pipeline,
        keys: &LaneKeys,
        wait: Wait,
        until: Option<Instant>,
    ) {
        match wait {
            Wait::Never => pipe.cmd("LMOVE"),
            _ => pipe.cmd("BLMOVE"),
        }
        .arg(format!("{}l", keys.prefix))
        .arg(&keys.list)
        .arg("LEFT")
        .arg("RIGHT");
        if wait != Wait::Never {
            let seconds = blpop_seconds(until).min(self.presence.as_secs_f64() / 4.0);
            pipe.arg(seconds.max(0.001));
        }
    }

    /// Moves the last element of the lane's list back to the front of the object's list: an
    /// item or a token taken from an object that turned out to be another. With `expire`
    /// (the object is not persistent, or gone), the list gets the TTL it may have lost.
    pub(crate) fn move_back(&self, keys: &LaneKeys, expire: bool) -> Result<(), Failure> {
        let list = format!("{}l", keys.prefix);
        let mut pipe = redis::pipe();
        pipe.cmd("LMOVE")
            .arg(&keys.list)
            .arg(&list)
            .arg("RIGHT")
            .arg("LEFT")
            .ignore();
        if expire {
            let ttl = self.ttl.as_millis() as u64;
            pipe.cmd("PEXPIRE").arg(&list).arg(ttl).arg("NX").ignore();
        }
        self.pool.with(|c| pipe.query::<()>(c)).map_err(lost)
    }

    /// A cached mode had the queue's persistence wrong: the TTLs just set (or not) on
    /// `keys` are made right, and the mode forgotten.
    pub(crate) fn correct_ttls(
        &self,
        name: &str,
        persistent: bool,
        keys: &[&String],
    ) -> Result<(), Failure> {
        self.forget_mode(name);
        let mut pipe = redis::pipe();
        for key in keys {
            match persistent {
                true => pipe.cmd("PERSIST").arg(*key).ignore(),
                false => pipe
                    .cmd("PEXPIRE")
                    .arg(*key)
                    .arg(self.ttl.as_millis() as u64)
                    .arg("NX")
                    .ignore(),
            };
        }
        self.pool.with(|c| pipe.query::<()>(c)).map_err(lost)
    }

    /// Adds to `pipe` the acknowledgements due on queue `name`: each item taken from a lane
    /// is popped from it, each large item read is deleted.
    fn acknowledge(&self, pipe: &mut redis::Pipeline, name: &str, prefix: &str) {
        for ack in self.take_acks(name) {
            match (ack.strip_prefix(b"g:"), ack.strip_prefix(b"b:")) {
                (Some(lane), _) => {
                    let list = [prefix.as_bytes(), b"g:", lane].concat();
                    pipe.cmd("LPOP").arg(list).ignore();
                }
                (_, Some(field)) => {
                    pipe.cmd("HDEL")
                        .arg(format!("{prefix}b"))
                        .arg(field)
                        .ignore();
                }
                _ => {
                    // A scripted hand-over's ticket (not made on a native queue): the
                    // heartbeat's script acknowledges it.
                    let ticket = String::from_utf8_lossy(&ack).into_owned();
                    self.acks().push((name.to_string(), ticket));
                }
            }
        }
    }
}

fn text(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
}
