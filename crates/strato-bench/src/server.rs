//! The state server's throughput: 16 connections, each doing `fetch_add` on an object of
//! its own, beside Redis `INCR` from 16 connections (each on a key of its own), both over a
//! Unix socket.

use std::time::Instant;

use strato::Client;
use strato_proto::{Answer, Call, FetchOp, Init, Op, Role, Scalar};

use crate::report::Report;
use strato_redis::local::LocalRedis;

/// Connections in both runs.
const CONNECTIONS: usize = 16;

/// `ops` fetch_adds on an atomic of its own over a connection of its own.
fn strato_client(address: &str, me: usize, ops: u32) -> anyhow::Result<()> {
    let client = Client::connect(address)?;
    let name = format!("bench.server.{me}");
    client.call(Call::Open {
        name: name.clone(),
        init: Init::Atomic(Scalar::U64(0)),
        persistent: false,
        role: Role::Handle,
    })?;
    for _ in 0..ops {
        let answer = client.call(Call::Op {
            name: name.clone(),
            op: Op::Fetch(FetchOp::Add, Scalar::U64(1)),
        })?;
        anyhow::ensure!(matches!(answer, Answer::Scalar(_)), "{answer:?}");
    }
    Ok(())
}

/// `ops` INCRs on a key of its own over a connection of its own.
fn redis_client(url: &str, me: usize, ops: u32) -> anyhow::Result<()> {
    let mut redis = redis::Client::open(url)?.get_connection()?;
    let key = format!("bench.server.{me}");
    for _ in 0..ops {
        let _: i64 = redis::cmd("INCR").arg(&key).query(&mut redis)?;
    }
    Ok(())
}

/// Total operations per second of [`CONNECTIONS`] threads running `client`.
fn ops_per_s(
    client: fn(&str, usize, u32) -> anyhow::Result<()>,
    address: &str,
    ops: u32,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|me| scope.spawn(move || client(address, me, ops)))
            .collect();
        threads
            .into_iter()
            .try_for_each(|t| t.join().expect("a client thread panicked"))
    })?;
    Ok((CONNECTIONS as f64 * f64::from(ops)) / start.elapsed().as_secs_f64())
}

/// Measures `server_ops_per_s` and `server_ops_per_s_redis`.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let ops = if quick { 500 } else { 20_000 };
    // A Unix socket, as Redis's; the calls are the server's to run (raw calls never use the
    // shared-memory tier).
    let name = format!("strato-bench-server-{}", std::process::id());
    let server = strato_server::start(strato_server::Config {
        listen: vec![strato_proto::Address::Abstract(name)],
        ..Default::default()
    })?;
    let strato = ops_per_s(strato_client, &server.address().to_string(), ops)?;
    drop(server);
    let redis = LocalRedis::start()?;
    let baseline = ops_per_s(redis_client, &redis.url(), ops)?;
    report.add(
        "server_ops_per_s",
        strato,
        "1/s",
        "16 connections, fetch_add on an object each",
    );
    report.add(
        "server_ops_per_s_redis",
        baseline,
        "1/s",
        "16 connections, INCR on a key each",
    );
    report.add(
        "server_ops_ratio_redis",
        strato / baseline,
        "×",
        "target ≥ 1",
    );
    Ok(())
}
