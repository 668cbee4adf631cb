//! A mutex's lock and unlock in native commands, on a standalone Redis.
//!
//! Two threads handing a scripted mutex back and forth cost Redis two `FCALL`s per hand-over,
//! about 2.6 × a raw `BLPOP`/`LPUSH` token (docs/benchmarks.md). Here the mutex *is* such a
//! token, and its value travels in it:
//!
//! - **the token**: while the mutex is free, its value is the one element of the list
//!   `<prefix>l`; while it is held, it is the one element of the holder's lane
//!   `<prefix>g:<session>.<n>`, a list of the holder's own, registered in `<prefix>G`. The
//!   lane's number is the hold's lease, used for no other hold of the process, so a stale
//!   lease names nothing. The poison flag stays in the meta hash.
//! - **lock**: in one write, the session made present (when due: a quarter of the presence
//!   period at a time), the lane registered, `BLMOVE` of the token from the list into the
//!   lane, then `HMGET` of the kind, persistence, epoch and poison flag. Redis serves
//!   blocked callers first come, first served, and runs the `HMGET` once the token came.
//!   A wait lasts at most 2 s (and a quarter of the presence period); a lock that finds no
//!   token runs the `reclaim` script, which unregisters its lane and gives back the token
//!   of a holder whose session is no longer present, poisoned, as the scripts' lock does,
//!   then waits again, behind those that came meanwhile: waiters are served in order within
//!   those 2 s, not across them. A lock whose answer is lost (the connection failed) may
//!   have moved the token: the heartbeat moves it back.
//! - **unlock**: `MULTI`, the new value put in the lane in place of the token (`RPUSHX`,
//!   `LPOP`: nothing if the lane is empty), `LMOVE` of the token back to the list, `HDEL`
//!   of the lane's registration, `EXEC`.
//!   A holder whose hold was taken back (its presence lapsed) moves nothing and is told it
//!   does not hold the lock; its value does not overwrite the next holder's. The unlock of
//!   a holder that panicked runs the `poison_unlock` script instead, which sets the poison
//!   flag only if the caller still holds the mutex.
//! - If the `HMGET` shows that the object is gone, or is another object now (another kind,
//!   another epoch), the token goes back and the call is made again the way the object now
//!   needs.
//!
//! A mutex made by a client of a Redis Cluster keeps the scripts (`lock`, `unlock` in
//! locks.lua); so does everything else a mutex does (`is_poisoned`, `clear_poison`), and
//! a condvar's wait uses these same calls to release and retake its mutex.

use std::time::Instant;

use strato_proto::{Answer, Blob, ErrorKind, Wait};

use crate::keys::prefix;
use crate::queue::{gone, LaneKeys, Mode};
use crate::state::{deadline, lost, Shared};
use crate::Failure;

/// What one native take of the token came to.
enum Taken {
    /// The mutex was there; its token (value) came, with the poison flag.
    Token { value: Vec<u8>, poisoned: bool },
    /// The mutex was there; its wait ran out.
    Nothing,
    /// The object is no longer this native mutex.
    Changed,
    /// The object is gone.
    Gone,
}

/// The object's kind, native flag, persistence, epoch and poison flag, as a native lock
/// read them (one `HMGET` of those fields).
struct Found {
    kind: Option<String>,
    native: Option<String>,
    persist: Option<String>,
    epoch: Option<String>,
    poison: Option<String>,
}

impl redis::FromRedisValue for Found {
    fn from_redis_value(value: &redis::Value) -> redis::RedisResult<Found> {
        let (kind, native, persist, epoch, poison) =
            redis::FromRedisValue::from_redis_value(value)?;
        Ok(Found {
            kind,
            native,
            persist,
            epoch,
            poison,
        })
    }
}

impl Found {
    /// Whether it is still the native mutex that `mode` describes.
    fn is(&self, mode: &Mode) -> bool {
        let epoch = self.epoch.as_deref().and_then(|e| e.parse().ok());
        self.kind.as_deref() == Some("Mutex")
            && self.native.as_deref() == Some("1")
            && epoch == Some(mode.epoch)
    }
}

impl Shared {
    /// Locks mutex `name`: natively on a standalone Redis, else by the script.
    pub(crate) fn mutex_lock(&self, name: &str, wait: Wait) -> Result<Answer, Failure> {
        let mode = match self.mode(name, "mutex_mode", "lock")? {
            Ok(mode) if mode.native => mode,
            Ok(_) => return self.answer(name, "lock", wait, vec![]),
            Err(refusal) => return Ok(refusal),
        };
        let lane = self.lanes().take();
        let locked = self.lock_on_lane(name, mode, lane, wait);
        match &locked {
            // The lane's number is the hold's lease: never used again, so that a stale
            // lease (a guard's after its condvar wait failed) names no other hold.
            Ok(Some(Answer::Locked { .. })) => {}
            Ok(_) => self.lanes().free(lane),
            // The lane may hold the token (the move ran, its answer was lost): the
            // heartbeat moves it back.
            Err(_) => self.strand(name, lane),
        }
        match locked? {
            Some(answer) => Ok(answer),
            // No longer this native mutex: asked again, the way it now needs.
            None => self.mutex_lock(name, wait),
        }
    }

    /// Unlocks the hold `lease` of mutex `name`, storing `value` if given and the poison
    /// flag if asked: natively if the mutex is native, else by the script.
    pub(crate) fn mutex_unlock(
        &self,
        name: &str,
        lease: u64,
        value: Option<Blob>,
        poison: bool,
    ) -> Result<Answer, Failure> {
        let mode = match self.mode(name, "mutex_mode", "unlock")? {
            Ok(mode) if mode.native => mode,
            Ok(_) => {
                let args = crate::ops::unlock_args(lease, value, poison);
                return self.answer(name, "unlock", Wait::Never, args);
            }
            Err(refusal) => return Ok(refusal),
        };
        if poison {
            return self.poison_unlock(name, lease, value);
        }
        let prefix = prefix(name);
        let (meta, free) = (format!("{prefix}m"), format!("{prefix}l"));
        let list = format!("{prefix}g:{}.{lease}", self.session);
        let lane = format!("{}.{lease}", self.session);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HGET").arg(&meta).arg("kind");
        if let Some(value) = &value {
            // The new value goes behind the token, which then leaves: nothing happens in
            // a lane that no longer holds it.
            pipe.cmd("RPUSHX").arg(&list).arg(&value[..]).ignore();
            pipe.cmd("LPOP").arg(&list).ignore();
        }
        pipe.cmd("LMOVE")
            .arg(&list)
            .arg(&free)
            .arg("RIGHT")
            .arg("LEFT");
        pipe.cmd("HDEL")
            .arg(format!("{prefix}G"))
            .arg(&lane)
            .ignore();
        if !mode.persistent {
            // After the move, which may have made the list again.
            let ttl = self.ttl.as_millis() as u64;
            pipe.cmd("PEXPIRE").arg(&free).arg(ttl).arg("NX").ignore();
        }
        let (kind, moved): (Option<String>, Option<Vec<u8>>) =
            self.pool.with(|c| pipe.query(c)).map_err(lost)?;
        if moved.is_some() {
            return Ok(Answer::Done);
        }
        self.forget_mode(name);
        Ok(match kind {
            None => gone(name, false),
            Some(_) => Shared::refuse(
                ErrorKind::Invalid,
                "unlock: the caller does not hold this lock (lease unknown)",
            ),
        })
    }

    /// The unlock of a holder that panicked: a script, which poisons the mutex only if the
    /// caller still holds it (rare, so the one unlock that pays for a script).
    fn poison_unlock(
        &self,
        name: &str,
        lease: u64,
        value: Option<Blob>,
    ) -> Result<Answer, Failure> {
        let args = [
            format!("{}.{lease}", self.session).into_bytes(),
            vec![if value.is_some() { b'1' } else { b'0' }],
            value.map(|v| v.into_vec()).unwrap_or_default(),
        ];
        let reply = self.script(name, "poison_unlock", "", &args)?;
        let answer = reply.answer().map_err(Failure::Protocol)?;
        if answer != Answer::Done {
            self.forget_mode(name);
        }
        Ok(answer)
    }

    /// Lane `lane` of mutex `name` may hold the token of a lock whose answer was lost: the
    /// heartbeat moves it back ([`Self::give_back_stranded`]).
    fn strand(&self, name: &str, lane: u32) {
        let keys = LaneKeys::new(self.session, name, lane);
        self.stranded().push(keys);
    }

    /// Moves back the tokens of the locks whose answers were lost; those it cannot reach
    /// stay for the next heartbeat.
    pub(crate) fn give_back_stranded(&self) {
        let stranded: Vec<LaneKeys> = self.stranded().drain(..).collect();
        for keys in stranded {
            let mut pipe = redis::pipe();
            pipe.cmd("LMOVE")
                .arg(&keys.list)
                .arg(format!("{}l", keys.prefix))
                .arg("RIGHT")
                .arg("LEFT")
                .ignore();
            pipe.cmd("HDEL")
                .arg(format!("{}G", keys.prefix))
                .arg(&keys.lane)
                .ignore();
            if self.pool.with(|c| pipe.query::<()>(c)).is_err() {
                self.stranded().push(keys);
            }
        }
    }

    fn stranded(&self) -> std::sync::MutexGuard<'_, Vec<LaneKeys>> {
        self.stranded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A native lock on lane `lane`: its answer, or `None` if the object turned out to be
    /// no longer this native mutex (the token, if it came, went back).
    fn lock_on_lane(
        &self,
        name: &str,
        mode: Mode,
        lane: u32,
        wait: Wait,
    ) -> Result<Option<Answer>, Failure> {
        let until = deadline(wait);
        let keys = LaneKeys::new(self.session, name, lane);
        let mut waited = false;
        loop {
            match self.take_token(name, mode, &keys, wait, until)? {
                Taken::Token { value, poisoned } => {
                    return Ok(Some(Answer::Locked {
                        lease: u64::from(keys.number),
                        value: Blob::from(value),
                        poisoned,
                    }))
                }
                Taken::Nothing => {}
                Taken::Changed => return Ok(None),
                Taken::Gone => return Ok(Some(gone(name, waited || wait != Wait::Never))),
            }
            // The lane, which got nothing, leaves the registry; it is registered again
            // with the next move.
            let lane = [keys.lane.clone().into_bytes()];
            if let Some(answer) = self.give_back(name, "reclaim", &lane, wait, until, waited)? {
                return Ok(Some(answer));
            }
            waited = true;
        }
    }

    /// One write: the session present and the lane registered (when due), the move of the
    /// token into the lane (waiting for it unless `wait` is `Never`), then the object's kind,
    /// persistence, epoch and poison flag read. The token goes back if the object is no
    /// longer this native mutex.
    fn take_token(
        &self,
        name: &str,
        mode: Mode,
        keys: &LaneKeys,
        wait: Wait,
        until: Option<Instant>,
    ) -> Result<Taken, Failure> {
        let LaneKeys { prefix, list, .. } = keys;
        let (meta, registry) = (format!("{prefix}m"), format!("{prefix}G"));
        let ttl = self.ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        // The session present (when due: a quarter of the presence period at a time; a
        // holder stays present through the heartbeat, which takes over before it lapses),
        // then the lane registered: every hold has a lane of its own.
        if self.renew_lane(name, 0) {
            let presence = self.presence.as_millis() as u64;
            pipe.cmd("SET")
                .arg(format!("{prefix}p:{}", self.session))
                .arg(1)
                .arg("PX")
                .arg(presence)
                .ignore();
        }
        pipe.cmd("HSET")
            .arg(&registry)
            .arg(&keys.lane)
            .arg(1)
            .ignore();
        if !mode.persistent {
            pipe.cmd("PEXPIRE")
                .arg(&registry)
                .arg(ttl)
                .arg("NX")
                .ignore();
        }
        self.move_into_lane(&mut pipe, keys, wait, until);
        // After the move: the poison flag as the new holder finds it.
        pipe.cmd("HMGET")
            .arg(&meta)
            .arg("kind")
            .arg("native")
            .arg("persist")
            .arg("epoch")
            .arg("poison");
        if !mode.persistent {
            pipe.cmd("PEXPIRE").arg(list).arg(ttl).arg("NX").ignore();
        }
        let (token, found): (Option<Vec<u8>>, Found) =
            self.pool.with(|c| pipe.query(c)).map_err(lost)?;
        if found.is(&mode) {
            let persistent = found.persist.as_deref() == Some("1");
            if persistent != mode.persistent {
                self.correct_ttls(name, persistent, &[list, &registry])?;
            }
            return Ok(match token {
                Some(value) => Taken::Token {
                    value,
                    poisoned: found.poison.as_deref() == Some("1"),
                },
                None => Taken::Nothing,
            });
        }
        // Deleted, or made again as something else: the token goes back.
        self.forget_mode(name);
        if token.is_some() {
            let persistent = found.persist.as_deref() == Some("1");
            self.move_back(keys, found.kind.is_none() || !persistent)?;
        }
        Ok(match found.kind {
            None => Taken::Gone,
            Some(_) => Taken::Changed,
        })
    }
}
