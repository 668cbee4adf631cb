//! The conformance suite: every built-in object's semantics, run against each backend (an
//! embedded server, a separately spawned `strato serve` process, a private `redis-server`,
//! and a three-master Redis Cluster on loopback), and two tiers of one server: clients on its
//! Unix socket (sharing its arena) alone, and mixed with TCP clients of the same server. A backend is whatever hands out
//! connections; add one line at the bottom for a new backend. `cargo test -- redis` runs
//! the Redis backends alone, `cargo test -- cluster` the cluster.

mod cases;
mod common;

use common::{Backend, Embedded, MixedTiers, Redis, RedisCluster, ServeProcess};

/// Calls `$m!(.., [every case])`: the one list of the suite's cases.
macro_rules! test_suite {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)* [
            atomics, a_deleted_atomic_answers_through_the_server, narrow_atomics_wrap_at_their_width, atomic_flavours_do_not_mix, value_update_is_atomic, array, packed_array, list, map,
            map_merge_is_all_or_nothing, map_merge_once_applies_a_token_once, mutex_excludes, mutex_try_and_timeout,
            mutex_waiters_are_served_in_order, rwlock_readers_share_writers_exclude,
            poison_can_be_read_and_cleared, rwlock_downgrade_lets_readers_in_and_keeps_writers_out,
            reentrant_lock, reentrant_lock_keeps_what_its_owner_changed_inside, semaphore, condvar_notify_one_and_all, condvar_wait_timeout,
            condvar_rejects_a_second_mutex, event, barrier_generations_have_one_leader,
            barrier_timeout_breaks_it, barrier_try_wait, promise, latch,
            channel_fifo_per_sender, channel_disconnects, sync_channel_bounds,
            rendezvous_channel, queue_fifo_and_bound, queue_task_done_and_join, pipe,
            large_items_travel_every_way,
            reference_counting_collects, persistent_objects_survive, delete_wakes_waiters,
            wrong_kind_is_an_error, many_connections_one_counter, large_values,
            a_dead_worker_is_charged_only_for_the_task_it_was_running
        ]);
    };
}

/// One test per case against the backend `$start` builds.
macro_rules! backend {
    ($backend:ident, $start:expr, [$($case:ident),*]) => {
        mod $backend {
            use super::*;
            $(
                #[test]
                fn $case() {
                    let server = $start;
                    cases::$case(&|| server.client());
                }
            )*
        }
    };
}

test_suite!(backend!(embedded, Embedded::start(),));
test_suite!(backend!(two_tier, Embedded::local(),));
test_suite!(backend!(mixed_tiers, MixedTiers::start(),));
test_suite!(backend!(serve_process, ServeProcess::start(),));
test_suite!(backend!(redis, Redis::start(),));
test_suite!(backend!(redis_cluster, RedisCluster::start(),));
