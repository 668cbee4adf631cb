//! [`RedisState`]: the state server's calls, answered by Redis.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strato_proto::{Answer, Call, ErrorKind, Role, ServerStats, Wait};

use crate::conn::Pool;
use crate::items;
use crate::reply::Reply;
use crate::Failure;

/// How often a process beats for the task boards it works on.
pub(crate) const BEAT: Duration = Duration::from_millis(500);

/// A worker whose session has not beaten for this long is dead; its tasks are requeued.
pub(crate) const LEASE: Duration = Duration::from_secs(3);

/// How often a parked call checks on itself: that it is still queued (its presence may have
/// lapsed on a loaded machine) and that the holders it waits for are alive.
const RECHECK: Duration = Duration::from_secs(2);

/// The longest a `BLPOP` sent with its call waits before the caller looks again (with a
/// plain `BLPOP`): if the call failed (a lost library, a script error), nothing comes to
/// the wake list, and the caller learns of the failure only when that wait ends.
const FIRST_WAIT: Duration = Duration::from_millis(100);

/// At most this many objects are remembered as ones this process's calls park on.
const PARKS_ON_MAX: usize = 1024;

/// How long a process that waits on, or holds a lock of, an object stays present there
/// without renewing (`STRATO_REDIS_PRESENCE_MS`): after that it counts as dead to it.
const DEFAULT_PRESENCE: Duration = Duration::from_secs(10);

/// The backstop for objects a crashed program left behind (Lithops uses one hour).
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The Lua of every object: one Redis Functions library, named after a hash of its code so
/// that programs of different strato versions can share a Redis.
pub(crate) struct Library {
    /// The function to `FCALL` (also the library's name).
    pub name: String,
    /// The code to `FUNCTION LOAD`.
    pub code: String,
}

pub(crate) fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let body = concat!(
            include_str!("lua/common.lua"),
            include_str!("lua/data.lua"),
            include_str!("lua/locks.lua"),
            include_str!("lua/coord.lua"),
            include_str!("lua/messaging.lua"),
            include_str!("lua/tasks.lua"),
            include_str!("lua/dispatch.lua"),
        );
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(body, &mut hasher);
        let name = format!("strato_{:016x}", std::hash::Hasher::finish(&hasher));
        let code = format!(
            "#!lua name={name}\n{}",
            body.replace("FUNCTION_NAME", &name)
        );
        Library { name, code }
    })
}

/// The state of a strato program kept in Redis (or Redis Cluster) instead of a strato state
/// server: it answers the same [`Call`]s with the same [`Answer`]s.
///
/// Cheap to share behind an `Arc`; every thread may call at once (each call that waits
/// holds a pooled connection).
///
/// ```no_run
/// use strato_proto::{Answer, Call};
/// let state = strato_redis::RedisState::connect("redis://127.0.0.1:6379").unwrap();
/// assert_eq!(state.call(Call::Ping).unwrap(), Answer::Pong);
/// ```
pub struct RedisState {
    shared: Arc<Shared>,
}

/// What the heartbeat thread shares with the handle.
pub(crate) struct Shared {
    pub url: String,
    pub pool: Pool,
    pub session: u64,
    tickets: AtomicU64,
    /// References this process holds, per object and role: released when it ends.
    refs: Mutex<HashMap<(String, Role), u64>>,
    /// Task boards this process works for (it beats for them), with its binary.
    boards: Mutex<HashMap<String, String>>,
    /// Objects this process waits on or holds a lock of, with how many such calls: it
    /// renews its presence on them.
    involved: Mutex<HashMap<String, u64>>,
    /// When this process last looked for dead workers, per board.
    pub(crate) reaped: Mutex<HashMap<String, Instant>>,
    /// Items handed to this process's parked gets, not yet acknowledged: (object, ticket).
    acks: Mutex<Vec<(String, String)>>,
    /// Objects on which this process's last call that could wait did wait: its next such
    /// call sends its `BLPOP` with it (see [`Shared::call_and_wait`]).
    parks_on: Mutex<HashSet<String>>,
    /// What this process learned of the queues it used (see `queue.rs`).
    pub(crate) modes: Mutex<HashMap<String, crate::queue::Mode>>,
    /// The lanes of its native gets and locks.
    pub(crate) lanes: Mutex<crate::queue::Lanes>,
    /// Lanes of native locks whose answers were lost, which may hold a mutex's token.
    pub(crate) stranded: Mutex<Vec<crate::queue::LaneKeys>>,
    pub(crate) ttl: Duration,
    /// How long this process counts as alive to an object it waits on or holds without
    /// renewing its presence there.
    pub(crate) presence: Duration,
    stop: Mutex<bool>,
    stopped: Condvar,
}

impl RedisState {
    /// Connects to `url` (`redis://host:port`, `redis+unix:///path`); a node of a Redis
    /// Cluster is detected and the cluster used.
    pub fn connect(url: &str) -> Result<RedisState, Failure> {
        let fail = |e: redis::RedisError| Failure::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let pool = Pool::open(url).map_err(fail)?;
        ensure_library(&pool).map_err(|e| Failure::Connect {
            url: url.to_string(),
            reason: match e.to_string().to_lowercase().contains("unknown command") {
                true => format!("Redis 7 or newer is needed (for Redis Functions): {e}"),
                false => e.to_string(),
            },
        })?;
        let session: u64 = pool
            .with(|c| redis::cmd("INCR").arg("strato:sessions").query(c))
            .map_err(fail)?;
        let shared = Arc::new(Shared {
            url: url.to_string(),
            pool,
            session,
            tickets: AtomicU64::new(0),
            refs: Mutex::default(),
            boards: Mutex::default(),
            involved: Mutex::default(),
            acks: Mutex::default(),
            parks_on: Mutex::default(),
            modes: Mutex::default(),
            stranded: Mutex::default(),
            lanes: Mutex::default(),
            reaped: Mutex::default(),
            ttl: duration_from_env("STRATO_REDIS_TTL_SECS", 1000, DEFAULT_TTL),
            presence: duration_from_env("STRATO_REDIS_PRESENCE_MS", 1, DEFAULT_PRESENCE),
            stop: Mutex::new(false),
            stopped: Condvar::new(),
        });
        let beating = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("strato-redis-beat".into())
            .spawn(move || heartbeat(beating))
            .map_err(|e| Failure::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(RedisState { shared })
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// This process's session: it stands where a state server's connection id would.
    pub fn session(&self) -> u64 {
        self.shared.session
    }

    /// Whether the server is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.shared.pool.is_cluster()
    }

    /// Runs `calls` in order, dropping their answers (a state server's `cast`); several
    /// finished tasks of one board in a row are reported in one call.
    pub fn cast_all(&self, calls: impl IntoIterator<Item = Call>) -> Result<(), Failure> {
        let mut finished: Vec<(u64, u32, strato_proto::Blob)> = Vec::new();
        let mut board = String::new();
        for call in calls {
            match call {
                Call::Op {
                    name,
                    op:
                        strato_proto::Op::TaskFinish {
                            id,
                            attempt,
                            result,
                        },
                } if finished.is_empty() || name == board => {
                    board = name;
                    finished.push((id, attempt, result));
                }
                other => {
                    if !finished.is_empty() {
                        self.shared
                            .task_finish_many(&board, std::mem::take(&mut finished))?;
                    }
                    self.call(other)?;
                }
            }
        }
        if !finished.is_empty() {
            self.shared.task_finish_many(&board, finished)?;
        }
        Ok(())
    }

    /// Answers `call` as a state server would. Errors of the object (not found, wrong
    /// kind, …) are [`Answer::Error`]s; a failure to reach Redis is a [`Failure`].
    pub fn call(&self, call: Call) -> Result<Answer, Failure> {
        let s = &self.shared;
        match call {
            Call::Ping => s.ping(),
            Call::Open {
                name,
                init,
                persistent,
                role,
            } => s.open(name, init, persistent, role),
            Call::Release { name, role } => s.release(name, role),
            Call::Lend { name, role } => s.answer(&name, "lend", Wait::Never, vec![letter(role)]),
            Call::Adopt { name, role } => {
                let answer = s.answer(&name, "adopt", Wait::Never, vec![letter(role)])?;
                if answer == Answer::Done {
                    *s.refs().entry((name, role)).or_default() += 1;
                }
                Ok(answer)
            }
            Call::Delete { name } => {
                s.forget_mode(&name);
                s.answer(&name, "delete", Wait::Never, vec![])
            }
            Call::Exists { name } => s.answer(&name, "exists", Wait::Never, vec![]),
            Call::Stats => s.stats(),
            Call::Op { name, op } => s.op(name, op),
        }
    }
}

impl Drop for RedisState {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.stopped.notify_all();
        self.shared.leave();
    }
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("url", &self.shared.url)
            .field("session", &self.shared.session)
            .finish()
    }
}

/// A role's letter in the scripts' reference counts.
pub(crate) fn letter(role: Role) -> Vec<u8> {
    match role {
        Role::Handle => b"h".to_vec(),
        Role::Sender => b"s".to_vec(),
        Role::Receiver => b"r".to_vec(),
    }
}

/// A duration from the environment variable `name`, in units of `millis` milliseconds.
fn duration_from_env(name: &str, millis: u64, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(default, |n| Duration::from_millis(n * millis))
}

/// Loads the library on the masters unless every one has it already (loading compiles it:
/// not something to do on every connect).
fn ensure_library(pool: &Pool) -> redis::RedisResult<()> {
    let mut list = redis::cmd("FUNCTION");
    list.arg("LIST").arg("LIBRARYNAME").arg(&library().name);
    let listed = pool.on_masters(&list)?;
    let everywhere = listed
        .iter()
        .all(|v| matches!(v, redis::Value::Array(libs) if !libs.is_empty()));
    match everywhere {
        true => Ok(()),
        false => load_library(pool),
    }
}

/// Loads the library on every master (again, if it is there already).
fn load_library(pool: &Pool) -> redis::RedisResult<()> {
    let mut load = redis::cmd("FUNCTION");
    load.arg("LOAD").arg("REPLACE").arg(&library().code);
    pool.on_masters(&load).map(drop)
}

/// When a wait of `wait` ends, if it does.
pub(crate) fn deadline(wait: Wait) -> Option<Instant> {
    match wait {
        Wait::Micros(us) => Some(Instant::now() + Duration::from_micros(us)),
        Wait::Never => Some(Instant::now()),
        Wait::Forever => None,
    }
}

/// Milliseconds since the epoch (deadlines are compared across processes).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Beats for the boards this process works on, and keeps the objects it references alive
/// past their TTL, until the handle is dropped.
fn heartbeat(shared: Weak<Shared>) {
    let mut beats = 0u64;
    loop {
        let Some(s) = shared.upgrade() else { return };
        {
            let stop = s.stop.lock().unwrap_or_else(|e| e.into_inner());
            let period = BEAT.min(s.presence / 4);
            let (stop, _) = s
                .stopped
                .wait_timeout_while(stop, period, |stop| !*stop)
                .unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
        }
        s.beat();
        beats += 1;
        if BEAT.min(s.presence / 4) * beats as u32 >= s.ttl / 4 {
            beats = 0;
            s.touch_all();
        }
    }
}

impl Shared {
    fn ping(&self) -> Result<Answer, Failure> {
        let _: String = self
            .pool
            .with(|c| redis::cmd("PING").query(c))
            .map_err(lost)?;
        Ok(Answer::Pong)
    }

    pub(crate) fn refs(&self) -> MutexGuard<'_, HashMap<(String, Role), u64>> {
        self.refs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn boards(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.boards.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn acks(&self) -> MutexGuard<'_, Vec<(String, String)>> {
        self.acks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pending acknowledgements for `name`, to travel with the next get on it.
    pub(crate) fn take_acks(&self, name: &str) -> Vec<Vec<u8>> {
        let mut acks = self.acks();
        let mut mine = Vec::new();
        acks.retain(|(object, ticket)| {
            let keep = object != name;
            if !keep {
                mine.push(ticket.clone().into_bytes());
            }
            keep
        });
        mine
    }

    /// Acknowledges the items handed to this process, so none is given back.
    fn send_acks(&self) {
        let pending: Vec<(String, String)> = self.acks().drain(..).collect();
        let mut by_object: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for (name, ticket) in pending {
            by_object.entry(name).or_default().push(ticket.into_bytes());
        }
        for (name, tickets) in by_object {
            if let Err(e) = self.script(&name, "ack", "", &tickets) {
                tracing::warn!(object = name, error = %e, "acknowledging handed items failed");
            }
        }
    }

    /// Counts one more (or one fewer) call of this process waiting on or holding `name`.
    pub(crate) fn involve(&self, name: &str, more: bool) {
        let mut involved = self.involved.lock().unwrap_or_else(|e| e.into_inner());
        let n = involved.entry(name.to_string()).or_default();
        match more {
            true => *n += 1,
            false => *n = n.saturating_sub(1),
        }
        if *n == 0 {
            involved.remove(name);
        }
    }

    pub(crate) fn ttl_ms(&self) -> Vec<u8> {
        self.ttl.as_millis().to_string().into_bytes()
    }

    /// A ticket unique to this call among all processes.
    pub(crate) fn ticket(&self) -> String {
        let n = self.tickets.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.session)
    }

    /// Runs the script's `op` on object `name` with `ticket` ("" never waits).
    pub(crate) fn script(
        &self,
        name: &str,
        op: &str,
        ticket: &str,
        args: &[Vec<u8>],
    ) -> Result<Reply, Failure> {
        let (fcall, key) = self.fcall(name, op, ticket, args, false);
        let called = self.pool.query_for_key::<Vec<u8>>(&fcall, key.as_bytes());
        let bytes = match called {
            Err(e) if missing_library(&e) => {
                // The server restarted or failed over: load the library again.
                load_library(&self.pool).map_err(lost)?;
                self.pool
                    .query_for_key(&fcall, key.as_bytes())
                    .map_err(lost)?
            }
            other => other.map_err(lost)?,
        };
        Reply::decode(&bytes).map_err(Failure::Protocol)
    }

    /// The `FCALL` of `op` on object `name`, and the key that routes it. With `via_wake`
    /// the script puts any answer but "parked" on the ticket's wake list (replying `P`),
    /// for a `BLPOP` sent right behind it.
    pub(crate) fn fcall(
        &self,
        name: &str,
        op: &str,
        ticket: &str,
        args: &[Vec<u8>],
        via_wake: bool,
    ) -> (redis::Cmd, String) {
        let meta = format!("{}m", crate::keys::prefix(name));
        let mut fcall = redis::cmd("FCALL");
        fcall
            .arg(&library().name)
            .arg(1)
            .arg(&meta)
            .arg(op)
            .arg(ticket)
            .arg(self.session)
            .arg(self.presence.as_millis() as u64)
            .arg(if via_wake { "w" } else { "" });
        for a in args {
            fcall.arg(a.as_slice());
        }
        (fcall, meta)
    }

    /// Runs the script's `op` with `ticket` and, in the same write, waits in `BLPOP` on the
    /// ticket's wake list until `until` or at most [`FIRST_WAIT`]: one round trip whether the
    /// call is answered at once or parked and woken soon. Returns whether the call parked
    /// (its items, if any, were handed over and must be acknowledged) and what the wait
    /// took, if anything; `None` if Redis had lost the library (the call never ran: it is to
    /// be made alone, which loads the library again). A standalone Redis only (the cluster
    /// client sends one command at a time).
    fn script_and_wait(
        &self,
        name: &str,
        op: &str,
        ticket: &str,
        args: &[Vec<u8>],
        until: Option<Instant>,
    ) -> Result<Option<SentTogether>, Failure> {
        let (fcall, _) = self.fcall(name, op, ticket, args, true);
        let wake = format!("{}k:{ticket}", crate::keys::prefix(name));
        let mut pipe = redis::pipe();
        pipe.add_command(fcall)
            .cmd("BLPOP")
            .arg(&wake)
            .arg(blpop_seconds(until).min(FIRST_WAIT.as_secs_f64()));
        type Both = (Vec<u8>, Option<(Vec<u8>, Vec<u8>)>);
        let called = self.pool.with(|c| pipe.query::<Both>(c));
        let (reply, woken) = match called {
            Ok(both) => both,
            Err(e) => {
                self.parks_on().remove(name);
                return match missing_library(&e) {
                    true => Ok(None),
                    false => Err(lost(e)),
                };
            }
        };
        let woken = woken.map(|(_, payload)| payload);
        match reply.as_slice() {
            b"P" if woken.is_some() => Ok(Some((false, woken))),
            b"P" => Err(Failure::Protocol(format!(
                "the answer to `{op}` on `{name}` was not on its wake list"
            ))),
            b"Q" => Ok(Some((true, woken))),
            other => Err(Failure::Protocol(format!(
                "`{op}` on `{name}` answered {:?} instead of P or Q",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    /// Runs `op`, waiting per `wait` if it cannot proceed. The items of a put or a send
    /// (all of `args`) go to the scripts tagged, the large ones stored beside them first;
    /// the items a get or a receive takes come back as they were put.
    pub(crate) fn run(
        &self,
        name: &str,
        op: &str,
        wait: Wait,
        args: Vec<Vec<u8>>,
    ) -> Result<Reply, Failure> {
        let takes_items = matches!(op, "get" | "get_many" | "recv");
        let gives_items = matches!(op, "put" | "send" | "put_many");
        let mut args = args;
        let stored = match gives_items {
            true => self.store_items(name, &mut args, None)?,
            false => Vec::new(),
        };
        if takes_items {
            args.extend(self.take_acks(name));
        }
        let reply = self.run_script(name, op, wait, &args, takes_items)?;
        if gives_items {
            self.forget_unput(name, &reply, &stored);
        }
        match takes_items && matches!(reply.tag, b'B' | b'S') {
            true => self.take_items(name, reply),
            false => Ok(reply),
        }
    }

    /// Tags each item for the scripts; a large one is stored in the object's item hash
    /// first and replaced by its reference. Returns the stored ones' positions and fields.
    /// With `ttl` (milliseconds), the hash gets that TTL in the same write if it has none
    /// (a caller that knows the object is not persistent: no crash can then leave the hash
    /// without one).
    pub(crate) fn store_items(
        &self,
        name: &str,
        items: &mut [Vec<u8>],
        ttl: Option<u64>,
    ) -> Result<Vec<(usize, String)>, Failure> {
        let mut stored = Vec::new();
        for (at, item) in items.iter_mut().enumerate() {
            match items::inline(std::mem::take(item)) {
                Ok(tagged) => *item = tagged,
                Err(large) => {
                    let (hash, field) = (items::item_hash(name), self.ticket());
                    let mut hset = redis::cmd("HSET");
                    hset.arg(&hash).arg(&field).arg(large);
                    match ttl {
                        None => self
                            .pool
                            .query_for_key::<()>(&hset, hash.as_bytes())
                            .map_err(lost)?,
                        Some(ttl) => {
                            let mut pipe = redis::pipe();
                            pipe.add_command(hset).ignore();
                            pipe.cmd("PEXPIRE").arg(&hash).arg(ttl).arg("NX").ignore();
                            self.pool.with(|c| pipe.query::<()>(c)).map_err(lost)?
                        }
                    }
                    *item = items::reference(&field);
                    stored.push((at, field));
                }
            }
        }
        Ok(stored)
    }

    /// Deletes the stored items a put or send did not leave with the object: all of them
    /// unless it was done, those past the count a `put_many` put.
    pub(crate) fn forget_unput(&self, name: &str, reply: &Reply, stored: &[(usize, String)]) {
        let kept = match reply.tag {
            b'D' => return,
            b'C' => reply.number::<usize>(0).unwrap_or(0),
            _ => 0,
        };
        let unput: Vec<&String> = stored
            .iter()
            .filter(|(at, _)| *at >= kept)
            .map(|(_, field)| field)
            .collect();
        if unput.is_empty() {
            return;
        }
        let hash = items::item_hash(name);
        let mut hdel = redis::cmd("HDEL");
        hdel.arg(&hash).arg(unput);
        if let Err(e) = self.pool.query_for_key::<()>(&hdel, hash.as_bytes()) {
            tracing::warn!(object = name, error = %e, "deleting refused large items failed");
        }
    }

    /// The items of a get's reply as they were put: inline ones untagged, stored ones read
    /// from the item hash (one `HMGET`) and their deletion queued with the acknowledgements.
    pub(crate) fn take_items(&self, name: &str, mut reply: Reply) -> Result<Reply, Failure> {
        let parsed = std::mem::take(&mut reply.fields)
            .into_iter()
            .map(items::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let fields: Vec<&String> = parsed
            .iter()
            .filter_map(|item| match item {
                items::Item::Stored(field) => Some(field),
                items::Item::Inline(_) => None,
            })
            .collect();
        let mut read = match fields.is_empty() {
            true => Vec::new(),
            false => {
                let hash = items::item_hash(name);
                let mut hmget = redis::cmd("HMGET");
                hmget.arg(&hash).arg(&fields);
                let values: Vec<Option<Vec<u8>>> = self
                    .pool
                    .query_for_key(&hmget, hash.as_bytes())
                    .map_err(lost)?;
                values
            }
        }
        .into_iter();
        for item in parsed {
            let value = match item {
                items::Item::Inline(value) => value,
                items::Item::Stored(field) => {
                    let value = read.next().flatten().ok_or_else(|| {
                        Failure::Protocol(format!(
                            "a large item of `{name}` is missing from Redis (field {field})"
                        ))
                    })?;
                    self.acks()
                        .push((name.to_string(), items::release_ack(&field)));
                    value
                }
            };
            reply.fields.push(value);
        }
        Ok(reply)
    }

    /// Calls the script until it answers, parking the caller while it must wait.
    pub(crate) fn run_script(
        &self,
        name: &str,
        op: &str,
        wait: Wait,
        args: &[Vec<u8>],
        takes_items: bool,
    ) -> Result<Reply, Failure> {
        let until = deadline(wait);
        loop {
            let answered = match wait {
                Wait::Never => Some(self.script(name, op, "", args)?),
                _ => self.call_and_park(name, op, args, until, takes_items)?,
            };
            if let Some(reply) = answered {
                return Ok(reply);
            }
        }
    }

    /// Runs a call that may wait, with a new ticket: its answer, or `None` if it was dropped
    /// from the queue while parked and must be made again. Items handed to it while it was
    /// parked are queued for acknowledgement.
    fn call_and_park(
        &self,
        name: &str,
        op: &str,
        args: &[Vec<u8>],
        until: Option<Instant>,
        takes_items: bool,
    ) -> Result<Option<Reply>, Failure> {
        let ticket = self.ticket();
        self.involve(name, true);
        let answered = self.call_and_wait(name, op, &ticket, args, until);
        self.involve(name, false);
        let (parked, reply) = answered?;
        let handed = reply.as_ref().is_some_and(|r| matches!(r.tag, b'B' | b'S'));
        if parked && takes_items && handed {
            self.acks().push((name.to_string(), ticket));
        }
        Ok(reply)
    }

    /// [`Self::call_and_park`]'s call and wait: whether it parked, and its answer (`None`:
    /// dropped from the queue).
    ///
    /// A parked call waits in `BLPOP` after the script's answer. Where the last such call on
    /// the object parked (a consumer that keeps finding its queue empty, a contended lock),
    /// the `BLPOP` goes in the same write as the call, saving a round trip, and an answer
    /// given at once comes through the wake list too. Elsewhere (an uncontended lock) that
    /// would cost Redis more than the round trip it saves, so the call goes alone.
    fn call_and_wait(
        &self,
        name: &str,
        op: &str,
        ticket: &str,
        args: &[Vec<u8>],
        until: Option<Instant>,
    ) -> Result<(bool, Option<Reply>), Failure> {
        let together = !self.pool.is_cluster() && self.parks_on().contains(name);
        let sent_together = match together {
            true => self.script_and_wait(name, op, ticket, args, until)?,
            false => None,
        };
        // What the first `BLPOP` took, if one went with the call.
        let (parked, first_wait) = match sent_together {
            Some((parked, woken)) => (parked, Some(woken)),
            None => {
                let reply = self.script(name, op, ticket, args)?;
                if reply.tag != b'Q' {
                    self.parks_on().remove(name);
                    return Ok((false, Some(reply)));
                }
                (true, None)
            }
        };
        let mut parks_on = self.parks_on();
        match parked {
            true if parks_on.len() >= PARKS_ON_MAX && !parks_on.contains(name) => {
                parks_on.clear(); // a process that waits once on each of many objects
                parks_on.insert(name.to_string())
            }
            true => parks_on.insert(name.to_string()),
            false => parks_on.remove(name),
        };
        drop(parks_on);
        match (parked, first_wait) {
            (false, woken) => Reply::decode(&woken.flatten().unwrap_or_default())
                .map(|reply| (false, Some(reply)))
                .map_err(Failure::Protocol),
            (true, woken) => Ok((true, self.wait_for_answer(name, ticket, until, woken)?)),
        }
    }

    fn parks_on(&self) -> MutexGuard<'_, HashSet<String>> {
        self.parks_on.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits in `BLPOP` on the ticket's wake list until `until` (`None`: no limit), checking
    /// on the call every [`RECHECK`]. When the wait runs out the ticket is cancelled (or,
    /// answered meanwhile, its answer taken). `None` if the call was dropped from the queue
    /// (this process looked dead) and must be made again.
    pub(crate) fn park(
        &self,
        name: &str,
        ticket: &str,
        until: Option<Instant>,
    ) -> Result<Option<Reply>, Failure> {
        self.involve(name, true);
        let parked = self.wait_for_answer(name, ticket, until, None);
        self.involve(name, false);
        parked
    }

    /// [`Self::park`]'s wait; `woken` is what a first `BLPOP` already took (sent with the
    /// call, waiting at most [`FIRST_WAIT`]), if one was made.
    fn wait_for_answer(
        &self,
        name: &str,
        ticket: &str,
        until: Option<Instant>,
        mut woken: Option<Option<Vec<u8>>>,
    ) -> Result<Option<Reply>, Failure> {
        let key = format!("{}k:{ticket}", crate::keys::prefix(name));
        let mut first_was_short = woken.is_some();
        loop {
            let payload = match woken.take() {
                Some(payload) => payload,
                None => self
                    .pool
                    .with(|c| {
                        redis::cmd("BLPOP")
                            .arg(&key)
                            .arg(blpop_seconds(until))
                            .query::<Option<(Vec<u8>, Vec<u8>)>>(c)
                    })
                    .map_err(lost)?
                    .map(|(_, payload)| payload),
            };
            if let Some(payload) = payload {
                return Reply::decode(&payload).map(Some).map_err(Failure::Protocol);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return self.script(name, "cancel", ticket, &[]).map(Some);
            }
            if std::mem::take(&mut first_was_short) {
                continue; // checks on itself after a whole RECHECK, as any parked call
            }
            let check = self.script(name, "recheck", ticket, &[])?;
            match check.tag {
                b'Q' => continue,
                b'W' => return Ok(None),
                _ => return Ok(Some(check)),
            }
        }
    }

    /// Runs `op` and turns its reply into an answer.
    pub(crate) fn answer(
        &self,
        name: &str,
        op: &str,
        wait: Wait,
        args: Vec<Vec<u8>>,
    ) -> Result<Answer, Failure> {
        self.run(name, op, wait, args)?
            .answer()
            .map_err(Failure::Protocol)
    }

    fn release(&self, name: String, role: Role) -> Result<Answer, Failure> {
        {
            let mut refs = self.refs();
            if let Some(n) = refs.get_mut(&(name.clone(), role)) {
                *n -= 1;
                if *n == 0 {
                    refs.remove(&(name.clone(), role));
                }
            }
        }
        self.answer(&name, "release", Wait::Never, vec![letter(role)])
    }

    fn stats(&self) -> Result<Answer, Failure> {
        let keys = self
            .pool
            .on_masters(redis::cmd("KEYS").arg("strato:{*}:m"))
            .map_err(lost)?;
        let objects = keys
            .iter()
            .map(|v| match v {
                redis::Value::Array(items) => items.len() as u64,
                _ => 0,
            })
            .sum();
        let infos = self
            .pool
            .on_masters(redis::cmd("INFO").arg("clients"))
            .map_err(lost)?;
        let field = |name: &str| -> u64 {
            infos
                .iter()
                .filter_map(|v| redis::from_redis_value::<String>(v).ok())
                .flat_map(|text| {
                    text.lines()
                        .filter_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                        .collect::<Vec<_>>()
                })
                .sum()
        };
        Ok(Answer::Stats(ServerStats {
            objects,
            connections: field("connected_clients:"),
            parked: field("blocked_clients:"),
        }))
    }

    /// Beats for every board this process works on, and renews its presence on the objects
    /// it waits on or holds.
    fn beat(&self) {
        self.send_acks();
        self.give_back_stranded();
        let involved: Vec<String> = {
            let involved = self.involved.lock().unwrap_or_else(|e| e.into_inner());
            involved.keys().cloned().collect()
        };
        for name in involved {
            if let Err(e) = self.script(&name, "present", "", &[]) {
                tracing::warn!(object = name, error = %e, "heartbeat failed");
            }
        }
        let boards: Vec<String> = self.boards().keys().cloned().collect();
        let deadline = (now_ms() + LEASE.as_millis() as u64)
            .to_string()
            .into_bytes();
        for board in boards {
            if let Err(e) = self.script(&board, "task_beat", "", std::slice::from_ref(&deadline)) {
                tracing::warn!(board, error = %e, "heartbeat failed");
            }
        }
    }

    /// Pushes back the TTL of every object this process references.
    fn touch_all(&self) {
        let names: HashSet<String> = self.refs().keys().map(|(n, _)| n.clone()).collect();
        for name in names {
            let _ = self.script(&name, "touch", "", &[self.ttl_ms()]);
        }
    }

    /// The process is done: its references are released and its tasks handed back.
    fn leave(&self) {
        self.send_acks();
        let boards: Vec<String> = self.boards().drain().map(|(board, _)| board).collect();
        for board in boards {
            let _ = self.leave_board(&board);
        }
        let refs: Vec<((String, Role), u64)> = self.refs().drain().collect();
        for ((name, role), n) in refs {
            for _ in 0..n {
                let _ = self.script(&name, "release", "", &[letter(role)]);
            }
        }
    }

    /// Answers an error of this backend.
    pub(crate) fn refuse(kind: ErrorKind, message: impl Into<String>) -> Answer {
        Answer::Error {
            kind,
            message: message.into(),
        }
    }
}

/// What a call sent with its `BLPOP` came to: whether it parked, and what that `BLPOP`
/// took (the answer, if the call did not park).
type SentTogether = (bool, Option<Vec<u8>>);

/// How long one `BLPOP` of a parked call waits: until `until`, at most [`RECHECK`].
pub(crate) fn blpop_seconds(until: Option<Instant>) -> f64 {
    let left = until.map_or(RECHECK, |u| u.saturating_duration_since(Instant::now()));
    left.min(RECHECK).as_secs_f64().max(0.001)
}

/// Whether Redis lost the library (it restarted, or a replica took over).
fn missing_library(e: &redis::RedisError) -> bool {
    e.to_string().contains("Function not found")
}

/// A Redis error on an established connection.
pub(crate) fn lost(e: redis::RedisError) -> Failure {
    Failure::Lost(e.to_string())
}
