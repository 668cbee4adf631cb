//! The object table, in shards: each object lives in the shard its name hashes to, and a
//! call locks only that shard, so calls on objects of different shards run on different
//! cores at once. Replies are encoded by each connection's writer, outside every lock.
//!
//! Every shard knows every connection (to answer it, and to clean up after it there). What
//! one call does to an object of another shard — a task's report delivered to its driver's
//! reply queue, a notified condvar waiter parked on its mutex — comes back from the first
//! shard as a [`FollowUp`] and runs under the other shard's lock once the first is
//! released: no thread ever holds two shard locks, so there is no lock order to keep.
//!
//! A condvar wait spans its condvar and its mutex. It runs in three steps that keep `std`'s
//! guarantee that a notification sent after the wait began is not lost: the caller's hold
//! is checked (mutex's shard); the caller is enlisted on the condvar (condvar's shard), from
//! when a notification parks it on the mutex to take it again; the hold is released
//! (mutex's shard). A notification between the last two finds the caller still holding the
//! mutex, and its re-acquisition simply waits for the release.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strato_proto::arena::Arena;
use strato_proto::{Answer, Call, Op, Request, ServerStats};
use tokio::sync::mpsc::UnboundedSender;

use crate::slots::Slots;
use crate::table::{ConnId, Factory, FollowUp, Outgoing, Relay, State, WaiterId};

/// A parked call's timeout: which shard it waits in, which call, after how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    pub shard: usize,
    pub waiter: WaiterId,
    pub after: Duration,
}

/// Every object, connection and parked call of one server, in shards.
#[derive(Debug)]
pub(crate) struct Table {
    shards: Box<[Mutex<State>]>,
    /// Connections open, for picking the id of a new one.
    conns: Mutex<Conns>,
    /// Picks a name's shard; seeded apart from each shard's own index, so that the names
    /// of one shard still spread over its index.
    hasher: hashbrown::DefaultHashBuilder,
}

#[derive(Debug, Default)]
struct Conns {
    open: HashSet<ConnId>,
    last: ConnId,
}

/// How many shards a server has on a machine of `cores` cores: four per core, a power of
/// two, at most 64. More shards than threads keep two busy objects apart more often; each
/// costs a few hundred bytes and half a chunk of the catalog on average.
///
/// ```ignore
/// assert_eq!(shard_count(2), 8);
/// ```
pub(crate) fn shard_count(cores: usize) -> usize {
    (cores.max(1) * 4).next_power_of_two().min(64)
}

impl Table {
    /// A table of `count` shards whose user-defined objects `factory` makes, keeping
    /// atomics in `arena` (each shard in a range of its slots) when there is one.
    pub fn new(count: usize, factory: Factory, arena: Option<Arc<Arena>>) -> Table {
        let count = count.max(1);
        let shards = (0..count)
            .map(|i| {
                let state = State::with_factory(factory.clone());
                let state = match &arena {
                    Some(arena) => state.with_slots(slots_of(arena, i, count)),
                    None => state,
                };
                Mutex::new(state)
            })
            .collect();
        Table {
            shards,
            conns: Mutex::default(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, State> {
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard of object `name`.
    fn shard_of(&self, name: &str) -> usize {
        (self.hasher.hash_one(name) as usize) % self.shards.len()
    }

    /// Registers a new connection, whose replies go to `out`, with every shard.
    pub fn connect(&self, out: UnboundedSender<Outgoing>) -> ConnId {
        let conn = {
            let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            // Ids count from 1 (0 stands for references in flight) and wrap after 2³² − 1
            // connections, skipping any still open.
            loop {
                conns.last = conns.last.wrapping_add(1);
                let id = conns.last;
                if id != 0 && conns.open.insert(id) {
                    break id;
                }
            }
        };
        for index in 0..self.shards.len() {
            self.shard(index).register(conn, out.clone());
        }
        conn
    }

    /// A connection closed: each shard cleans up after it (parked calls, holds, references),
    /// then what that left for other shards runs.
    pub fn disconnect(&self, conn: ConnId) -> Vec<Timer> {
        let mut follow_ups = Vec::new();
        for index in 0..self.shards.len() {
            let mut shard = self.shard(index);
            shard.disconnect(conn);
            follow_ups.extend(shard.take_follow_ups());
        }
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .remove(&conn);
        self.follow(follow_ups)
    }

    /// Handles one request of `conn`: a pipe's send or receive comes back to run outside
    /// the table, with the timers the call asked for.
    pub fn handle(&self, conn: ConnId, request: Request) -> (Option<Relay>, Vec<Timer>) {
        let caller = WaiterId {
            conn,
            req: request.id,
        };
        let index = match request.call {
            Call::Stats => {
                let stats = Answer::Stats(self.stats());
                self.shard(0).reply(caller, stats);
                return (None, Vec::new());
            }
            Call::Op {
                name,
                op:
                    Op::CondWait {
                        mutex,
                        lease,
                        value,
                        wait,
                    },
            } => {
                let wait = CondWait {
                    caller,
                    condvar: name,
                    mutex,
                    lease,
                    value,
                    wait,
                };
                return (None, self.cond_wait(wait));
            }
            Call::Ping => 0,
            Call::Open { ref name, .. }
            | Call::Release { ref name, .. }
            | Call::Lend { ref name, .. }
            | Call::Adopt { ref name, .. }
            | Call::Delete { ref name }
            | Call::Exists { ref name }
            | Call::Op { ref name, .. } => self.shard_of(name),
        };
        let (relay, timers, follow_ups) = {
            let mut shard = self.shard(index);
            let relay = shard.handle(conn, request);
            (relay, shard.take_timers(), shard.take_follow_ups())
        };
        let mut timers = in_shard(index, timers);
        timers.extend(self.follow(follow_ups));
        (relay, timers)
    }

    /// A parked call's timeout ran out.
    pub fn expire(&self, timer: Timer) -> Vec<Timer> {
        let follow_ups = {
            let mut shard = self.shard(timer.shard);
            shard.expire(timer.waiter);
            shard.take_follow_ups()
        };
        self.follow(follow_ups)
    }

    /// Deletes objects unused for `ttl` that no live connection references, shard by shard.
    pub fn sweep(&self, ttl: Duration) {
        for index in 0..self.shards.len() {
            self.shard(index).sweep(ttl);
        }
    }

    fn stats(&self) -> ServerStats {
        let mut total = ServerStats::default();
        for index in 0..self.shards.len() {
            let shard = self.shard(index).stats();
            total.objects += shard.objects;
            total.parked += shard.parked;
            total.connections = shard.connections;
        }
        total
    }

    /// Runs what calls left for other shards (and what that leaves, in turn); returns the
    /// timers asked for on the way.
    fn follow(&self, follow_ups: Vec<FollowUp>) -> Vec<Timer> {
        let mut follow_ups = std::collections::VecDeque::from(follow_ups);
        let mut timers = Vec::new();
        while let Some(follow_up) = follow_ups.pop_front() {
            let name = match &follow_up {
                FollowUp::Deliver((queue, _)) => queue.as_str(),
                FollowUp::Reacquire { mutex, .. } => mutex.as_str(),
            };
            let index = self.shard_of(name);
            let mut shard = self.shard(index);
            match follow_up {
                FollowUp::Deliver(delivery) => shard.deliver(delivery),
                FollowUp::Reacquire {
                    id,
                    mutex,
                    timed_out,
                } => shard.reacquire(id, &mutex, timed_out),
            }
            timers.extend(in_shard(index, shard.take_timers()));
            follow_ups.extend(shard.take_follow_ups());
        }
        timers
    }

    /// A condvar wait, in the three steps the module's docs describe.
    fn cond_wait(&self, wait: CondWait) -> Vec<Timer> {
        let CondWait {
            caller,
            condvar,
            mutex,
            lease,
            value,
            wait,
        } = wait;
        let mutex_shard = self.shard_of(&mutex);
        let condvar_shard = self.shard_of(&condvar);
        let held = self.shard(mutex_shard).check_hold(caller, &mutex, lease);
        if let Err(answer) = held {
            self.shard(mutex_shard).reply(caller, answer);
            return Vec::new();
        }
        let (enlisted, timers) = {
            let mut shard = self.shard(condvar_shard);
            let enlisted = shard.enlist(caller, &condvar, &mutex, wait);
            if let Err(answer) = &enlisted {
                shard.reply(caller, answer.clone());
            }
            (enlisted, in_shard(condvar_shard, shard.take_timers()))
        };
        if enlisted.is_err() {
            return Vec::new();
        }
        let (released, mut follow_ups) = {
            let mut shard = self.shard(mutex_shard);
            let released = shard.release_for_wait(caller, &mutex, lease, value, wait);
            (released, shard.take_follow_ups())
        };
        if let Err(answer) = released {
            // The mutex went meanwhile: the caller leaves the condvar and hears why, unless
            // a notification already moved it on (that answers it).
            let mut shard = self.shard(condvar_shard);
            if shard.withdraw(caller) || wait == strato_proto::Wait::Never {
                shard.reply(caller, answer);
            }
            follow_ups.extend(shard.take_follow_ups());
        }
        let mut all = timers;
        all.extend(self.follow(follow_ups));
        all
    }
}

/// A condvar wait's parts.
struct CondWait {
    caller: WaiterId,
    condvar: String,
    mutex: String,
    lease: u64,
    value: Option<strato_proto::Blob>,
    wait: strato_proto::Wait,
}

fn in_shard(shard: usize, timers: Vec<(WaiterId, Duration)>) -> Vec<Timer> {
    timers
        .into_iter()
        .map(|(waiter, after)| Timer {
            shard,
            waiter,
            after,
        })
        .collect()
}

/// Shard `index` of `count`'s range of the arena's slots: every slot in one range, the
/// ranges differing by one slot at most. An atomic whose shard's range is full lives in the
/// server's heap, reached through the server, as when the whole arena is.
fn slots_of(arena: &Arc<Arena>, index: usize, count: usize) -> Slots {
    let bound = |i: usize| (u64::from(arena.slots()) * i as u64 / count as u64) as u32;
    Slots::range(arena.clone(), bound(index), bound(index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strato_proto::{Blob, Init, Reply, Role, ServerMessage, Wait};
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    /// A connection of `table` and what it is sent.
    struct Client {
        conn: ConnId,
        inbox: UnboundedReceiver<Outgoing>,
        next: u64,
    }

    impl Client {
        fn connect(table: &Table) -> Client {
            let (out, inbox) = unbounded_channel();
            let conn = table.connect(out);
            Client {
                conn,
                inbox,
                next: 0,
            }
        }

        /// Sends `call`; its request id and the timers it asked for.
        fn send(&mut self, table: &Table, call: Call) -> (u64, Vec<Timer>) {
            self.next += 1;
            let request = Request {
                id: self.next,
                call,
            };
            let (_, timers) = table.handle(self.conn, request);
            (self.next, timers)
        }

        /// The answer already sent to request `id`, if any (and none to another).
        fn answered(&mut self, id: u64) -> Option<Answer> {
            let message = self.inbox.try_recv().ok()?.message;
            match message {
                ServerMessage::Reply(Reply { id: got, answer }) if got == id => Some(answer),
                other => panic!("expected the answer to {id}, got {other:?}"),
            }
        }

        fn call(&mut self, table: &Table, call: Call) -> Answer {
            let (id, _) = self.send(table, call);
            self.answered(id).expect("answered at once")
        }

        fn op(&mut self, table: &Table, name: &str, op: Op) -> Answer {
            let name = name.to_string();
            self.call(table, Call::Op { name, op })
        }

        fn open(&mut self, table: &Table, name: &str, init: Init) {
            let open = Call::Open {
                name: name.into(),
                init,
                persistent: false,
                role: Role::Handle,
            };
            assert_eq!(self.call(table, open), Answer::Done);
        }

        fn lock(&mut self, table: &Table, mutex: &str) -> (u64, Blob) {
            match self.op(table, mutex, Op::Lock(Wait::Never)) {
                Answer::Locked { lease, value, .. } => (lease, value),
                other => panic!("not locked: {other:?}"),
            }
        }

        fn unlock(&mut self, table: &Table, mutex: &str, lease: u64, value: u8) {
            let unlock = Op::Unlock {
                lease,
                value: Some(Blob::from(vec![value])),
                poison: false,
            };
            assert_eq!(self.op(table, mutex, unlock), Answer::Done);
        }

        fn cond_wait(
            &mut self,
            table: &Table,
            cv: &str,
            mutex: &str,
            lease: u64,
            wait: Wait,
        ) -> (u64, Vec<Timer>) {
            let op = Op::CondWait {
                mutex: mutex.into(),
                lease,
                value: Some(Blob::from(vec![1])),
                wait,
            };
            self.send(
                table,
                Call::Op {
                    name: cv.into(),
                    op,
                },
            )
        }
    }

    /// A name of `table`'s shard `shard` (or of another shard than `shard`).
    fn name_in(table: &Table, prefix: &str, shard: usize, same: bool) -> String {
        (0..)
            .map(|i| format!("{prefix}-{i}"))
            .find(|name| (table.shard_of(name) == shard) == same)
            .unwrap()
    }

    /// A condvar and its mutex, in one shard or two.
    fn objects(table: &Table, a: &mut Client, same_shard: bool) -> (String, String) {
        let mutex = name_in(table, "mutex", 0, true);
        let cv = name_in(table, "cv", 0, same_shard);
        a.open(table, &mutex, Init::Mutex(Blob::from(vec![0])));
        a.open(table, &cv, Init::Condvar);
        (cv, mutex)
    }

    #[test]
    fn a_notified_condvar_waiter_takes_its_mutex_again_in_any_shard() {
        for same_shard in [true, false] {
            let table = Table::new(8, Factory::default(), None);
            let (mut a, mut b) = (Client::connect(&table), Client::connect(&table));
            let (cv, mutex) = objects(&table, &mut a, same_shard);
            let (lease, _) = a.lock(&table, &mutex);
            let (waiting, _) = a.cond_wait(&table, &cv, &mutex, lease, Wait::Forever);
            assert_eq!(a.answered(waiting), None, "parked on the condvar");
            // The wait released the mutex with the waiter's value.
            let (held, value) = b.lock(&table, &mutex);
            assert_eq!(value[..], [1]);
            assert_eq!(b.op(&table, &cv, Op::NotifyOne), Answer::Done);
            assert_eq!(a.answered(waiting), None, "waits for the mutex b holds");
            b.unlock(&table, &mutex, held, 2);
            let woken = a.answered(waiting).expect("woken once b unlocked");
            assert!(
                matches!(&woken, Answer::Woken { value, timed_out: false, .. } if value[..] == [2]),
                "{woken:?} (same shard: {same_shard})"
            );
        }
    }

    #[test]
    fn a_timed_out_condvar_waiter_takes_its_mutex_again_in_any_shard() {
        for same_shard in [true, false] {
            let table = Table::new(8, Factory::default(), None);
            let mut a = Client::connect(&table);
            let (cv, mutex) = objects(&table, &mut a, same_shard);
            let (lease, _) = a.lock(&table, &mutex);
            let (waiting, timers) = a.cond_wait(&table, &cv, &mutex, lease, Wait::Micros(10));
            assert_eq!(timers.len(), 1);
            assert_eq!(a.answered(waiting), None);
            assert!(table.expire(timers[0]).is_empty());
            let woken = a.answered(waiting).expect("timed out");
            assert!(
                matches!(
                    woken,
                    Answer::Woken {
                        timed_out: true,
                        ..
                    }
                ),
                "{woken:?} (same shard: {same_shard})"
            );
        }
    }

    #[test]
    fn a_condvar_waiter_whose_connection_closed_is_not_given_the_mutex() {
        let table = Table::new(8, Factory::default(), None);
        let (mut a, mut b) = (Client::connect(&table), Client::connect(&table));
        let (cv, mutex) = objects(&table, &mut b, false);
        let (lease, _) = a.lock(&table, &mutex);
        let (_, _) = a.cond_wait(&table, &cv, &mutex, lease, Wait::Forever);
        assert!(table.disconnect(a.conn).is_empty());
        assert_eq!(b.op(&table, &cv, Op::NotifyAll), Answer::Done);
        let (held, _) = b.lock(&table, &mutex);
        b.unlock(&table, &mutex, held, 3);
        assert!(
            matches!(b.call(&table, Call::Stats), Answer::Stats(s) if s.parked == 0 && s.connections == 1)
        );
    }

    #[test]
    fn one_pass_answers_every_parked_call_that_can_proceed() {
        let table = Table::new(8, Factory::default(), None);
        let mut clients: Vec<Client> = (0..4).map(|_| Client::connect(&table)).collect();
        let init = Init::Semaphore {
            permits: 0,
            bound: None,
        };
        clients[0].open(&table, "permits", init);
        let acquire = |n| Call::Op {
            name: "permits".into(),
            op: Op::Acquire(n, Wait::Forever),
        };
        let wants = [3, 1, 1];
        let waiting: Vec<u64> = clients[..3]
            .iter_mut()
            .zip(wants)
            .map(|(client, n)| client.send(&table, acquire(n)).0)
            .collect();
        assert!(waiting
            .iter()
            .zip(&mut clients)
            .all(|(id, c)| c.answered(*id).is_none()));
        let release = Op::Release(2);
        assert_eq!(clients[3].op(&table, "permits", release), Answer::Done);
        let answered: Vec<bool> = waiting
            .iter()
            .zip(&mut clients)
            .map(|(id, client)| client.answered(*id).is_some())
            .collect();
        assert_eq!(
            answered,
            [false, true, true],
            "the two calls of one permit, past the first"
        );
    }

    #[test]
    fn a_writer_that_times_out_lets_the_readers_queued_behind_it_in() {
        let table = Table::new(8, Factory::default(), None);
        let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(&table)).collect();
        clients[0].open(&table, "rw", Init::RwLock(Blob::from(vec![0])));
        let read = clients[0].op(&table, "rw", Op::ReadLock(Wait::Never));
        assert!(matches!(read, Answer::Locked { .. }), "{read:?}");
        let call = |op| Call::Op {
            name: "rw".into(),
            op,
        };
        let (writer, timers) = clients[1].send(&table, call(Op::WriteLock(Wait::Micros(10))));
        let (reader, _) = clients[2].send(&table, call(Op::ReadLock(Wait::Forever)));
        assert_eq!(
            clients[2].answered(reader),
            None,
            "queued behind the writer"
        );
        assert_eq!(timers.len(), 1);
        assert!(table.expire(timers[0]).is_empty());
        assert_eq!(clients[1].answered(writer), Some(Answer::TimedOut));
        let let_in = clients[2].answered(reader);
        assert!(matches!(let_in, Some(Answer::Locked { .. })), "{let_in:?}");
    }

    #[test]
    fn a_condvar_wait_on_no_condvar_is_not_found() {
        let table = Table::new(8, Factory::default(), None);
        let mut a = Client::connect(&table);
        a.open(&table, "m", Init::Mutex(Blob::from(vec![0])));
        let (lease, _) = a.lock(&table, "m");
        let (waiting, _) = a.cond_wait(&table, "no-such-cv", "m", lease, Wait::Forever);
        let refused = a.answered(waiting);
        assert!(
            matches!(
                &refused,
                Some(Answer::Error {
                    kind: strato_proto::ErrorKind::NotFound,
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn a_condvar_wait_without_the_mutex_is_refused_and_parks_nothing() {
        let table = Table::new(8, Factory::default(), None);
        let mut a = Client::connect(&table);
        let (cv, mutex) = objects(&table, &mut a, false);
        let (waiting, _) = a.cond_wait(&table, &cv, &mutex, 99, Wait::Forever);
        let refused = a.answered(waiting);
        assert!(matches!(refused, Some(Answer::Error { .. })), "{refused:?}");
        assert!(matches!(a.call(&table, Call::Stats), Answer::Stats(s) if s.parked == 0));
    }

    #[test]
    fn shards_are_four_per_core_a_power_of_two() {
        assert_eq!(shard_count(0), 4);
        assert_eq!(shard_count(1), 4);
        assert_eq!(shard_count(2), 8);
        assert_eq!(shard_count(3), 16);
        assert_eq!(shard_count(64), 64);
    }

    #[test]
    fn the_shards_share_every_slot_of_the_arena() {
        let arena = Arc::new(Arena::create(10 * strato_proto::arena::SLOT_BYTES).unwrap());
        let mut firsts = Vec::new();
        for index in 0..4 {
            let mut slots = slots_of(&arena, index, 4);
            let mut got = 0;
            while let Some(shared) = slots.allocate(strato_proto::Scalar::U64(0)) {
                firsts.extend((got == 0).then_some(shared.slot().index));
                got += 1;
            }
            assert!((2..=3).contains(&got), "shard {index}: {got} slots");
        }
        assert_eq!(firsts, vec![0, 2, 5, 7]);
    }

    #[test]
    fn names_spread_over_the_shards() {
        let table = Table::new(8, Factory::default(), None);
        let mut per_shard = [0usize; 8];
        for i in 0..8000 {
            per_shard[table.shard_of(&format!("object-{i}"))] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 700), "{per_shard:?}");
    }
}
