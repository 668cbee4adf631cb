//! Where the Redis backend's time goes: Redis's own CPU time per `fetch_add` on the backend
//! beside a native `INCR`, read from `INFO commandstats` of the same server. A script's or a
//! function's time includes the commands it calls, which Redis also counts on their own:
//! only the top-level calls are summed (or, if the backend sent none, every command).

use redis::Connection;
use strato::sync::atomic::{AtomicU64, Ordering};
use strato::Client;

use super::harness::fresh;
use crate::report::Report;

const CALLS: u32 = 500;

/// The commands that run Lua, whose time includes the commands they call.
const SCRIPTS: &[&str] = &[
    "fcall",
    "fcall_ro",
    "evalsha",
    "evalsha_ro",
    "eval",
    "eval_ro",
];

/// Total `usec` per command in `INFO commandstats`.
fn usec_by_command(c: &mut Connection) -> anyhow::Result<Vec<(String, f64)>> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(c)?;
    let parse = |line: &str| {
        let (command, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
        let usec = stats.split(',').find_map(|f| f.strip_prefix("usec="))?;
        Some((command.to_string(), usec.trim().parse().ok()?))
    };
    Ok(info.lines().filter_map(parse).collect())
}

/// Runs [`CALLS`] `fetch_add`s on the backend and as many `INCR`s; returns Redis's µs per
/// call of each.
fn cpu_per_call(url: &str) -> anyhow::Result<(f64, f64)> {
    let counter = AtomicU64::open(&Client::connect(url)?, fresh("cpu").as_str(), 0)?;
    counter.fetch_add(1, Ordering::SeqCst);
    let mut c = redis::Client::open(url)?.get_connection()?;
    redis::cmd("CONFIG").arg("RESETSTAT").exec(&mut c)?;
    for _ in 0..CALLS {
        counter.fetch_add(1, Ordering::SeqCst);
        redis::cmd("INCR").arg("cpu-incr").exec(&mut c)?;
    }
    let (mut scripts, mut others, mut incr) = (0.0, 0.0, 0.0);
    for (command, usec) in usec_by_command(&mut c)? {
        match command.as_str() {
            "incr" => incr += usec,
            "info" | "config|resetstat" => {}
            c if SCRIPTS.contains(&c) => scripts += usec,
            _ => others += usec,
        }
    }
    let backend = if scripts > 0.0 { scripts } else { others };
    Ok((backend / f64::from(CALLS), incr / f64::from(CALLS)))
}

/// Records Redis's CPU per backend `fetch_add` and per native `INCR`.
pub fn run(report: &mut Report, url: &str) -> anyhow::Result<()> {
    let (backend, incr) = cpu_per_call(url)?;
    let note = "Redis CPU per fetch_add on the backend, INFO commandstats";
    report.add("redis_backend_fetch_add_cpu_us", backend, "µs", note);
    let note = "Redis CPU per native INCR, the same server";
    report.add("redis_backend_incr_cpu_us", incr, "µs", note);
    Ok(())
}
