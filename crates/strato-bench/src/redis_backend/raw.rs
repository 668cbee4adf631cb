//! The nearest raw Redis commands: `LPUSH`/`BLPOP` lists for queues, `INCR` for the counter,
//! a one-token list for the mutex (`BLPOP` locks, `LPUSH` unlocks), and for the barrier an
//! `INCR` per crossing whose last arrival `RPUSH`es a token for each party in `BLPOP`.

use redis::Connection;

use super::harness::{fresh, parties, ping_pong, timed, warm_up};

fn connection(url: &str) -> anyhow::Result<Connection> {
    Ok(redis::Client::open(url)?.get_connection()?)
}

fn lpush(c: &mut Connection, key: &str, value: &[u8]) {
    redis::cmd("LPUSH")
        .arg(key)
        .arg(value)
        .exec(c)
        .expect("LPUSH");
}

fn blpop(c: &mut Connection, key: &str) -> Vec<u8> {
    let (_, value): (String, Vec<u8>) =
        redis::cmd("BLPOP").arg(key).arg(0).query(c).expect("BLPOP");
    value
}

/// Median µs of a `size`-byte ping-pong through two lists.
pub fn queue_rtt(url: &str, size: usize, rounds: u32) -> anyhow::Result<f64> {
    let name = fresh("queue");
    let (to, from) = (format!("{name}-to"), format!("{name}-from"));
    let (mut mine, mut theirs) = (connection(url)?, connection(url)?);
    let message = vec![7u8; size];
    let ping = || {
        lpush(&mut mine, &to, &message);
        assert_eq!(blpop(&mut mine, &from).len(), size);
    };
    let pong = || {
        let message = blpop(&mut theirs, &to);
        lpush(&mut theirs, &from, &message);
    };
    Ok(ping_pong(rounds, ping, pong))
}

/// Wall ms of `threads` × `rounds` `INCR`s of one key.
pub fn counter_ms(url: &str, threads: usize, rounds: u32) -> anyhow::Result<f64> {
    let key = fresh("counter");
    let micros = timed(parties(threads, || connection(url))?, rounds, |c, n| {
        for _ in 0..n {
            redis::cmd("INCR").arg(&key).exec(c).expect("INCR");
        }
    });
    let total: u64 = redis::cmd("GET").arg(&key).query(&mut connection(url)?)?;
    anyhow::ensure!(
        total == threads as u64 * u64::from(warm_up(rounds) + rounds),
        "lost increments"
    );
    Ok(micros / 1e3)
}

/// µs per lock/unlock of a one-token list, `threads` threads × `rounds` each.
pub fn mutex_us(url: &str, threads: usize, rounds: u32) -> anyhow::Result<f64> {
    let key = fresh("mutex");
    lpush(&mut connection(url)?, &key, b"token");
    let micros = timed(parties(threads, || connection(url))?, rounds, |c, n| {
        for _ in 0..n {
            let token = blpop(c, &key);
            lpush(c, &key, &token);
        }
    });
    Ok(micros / (threads as f64 * f64::from(rounds)))
}

/// One party of the barrier: its connection and the crossings it has made.
struct Party {
    connection: Connection,
    crossed: u64,
}

impl Party {
    /// Arrives; the last of `n` releases the others, who wait in `BLPOP`.
    fn wait(&mut self, key: &str, n: usize) {
        self.crossed += 1;
        let count = format!("{key}-{}", self.crossed);
        let go = format!("{count}-go");
        let c = &mut self.connection;
        let arrived: usize = redis::cmd("INCR").arg(&count).query(c).expect("INCR");
        if arrived == n {
            let mut release = redis::cmd("RPUSH");
            release.arg(&go);
            for _ in 1..n {
                release.arg("go");
            }
            release.exec(c).expect("RPUSH");
        } else {
            blpop(c, &go);
        }
    }
}

/// µs per crossing of that barrier of `n` parties, `rounds` crossings.
pub fn barrier_us(url: &str, n: usize, rounds: u32) -> anyhow::Result<f64> {
    let key = fresh("barrier");
    let open = || {
        let connection = connection(url)?;
        Ok(Party {
            connection,
            crossed: 0,
        })
    };
    let micros = timed(parties(n, open)?, rounds, |party, rounds| {
        (0..rounds).for_each(|_| party.wait(&key, n));
    });
    Ok(micros / f64::from(rounds))
}
