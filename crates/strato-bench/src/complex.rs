//! Complex operations (Crucial): 8 clients call a server-side method that does 10,000
//! multiplications on one of 800 objects, beside the same operation as a Redis Lua script.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use strato::executor::Executor;

use crate::report::Report;
use strato_redis::local::LocalRedis;

/// One object: a number transformed by each call.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cell {
    value: f64,
}

impl Cell {
    fn work(&mut self, multiplications: u32) -> f64 {
        let mut x = self.value;
        for _ in 0..multiplications {
            x = x * 1.000_001 + 1e-9;
        }
        self.value = x;
        x
    }
}

strato::shared! {
    /// A cell whose `work` runs on the state server.
    pub struct CellRef(Cell);
    impl {
        fn work(&mut self, multiplications: u32) -> f64;
    }
}

const OBJECTS: usize = 800;
const MULTIPLICATIONS: u32 = 10_000;

fn client((cells, me, calls): (Vec<CellRef>, usize, usize)) -> f64 {
    (0..calls)
        .map(|i| cells[(i * 7 + me * 101) % cells.len()].work(MULTIPLICATIONS))
        .sum()
}

const SCRIPT: &str = "local x = tonumber(redis.call('GET', KEYS[1]) or '1') \
    for i = 1, tonumber(ARGV[1]) do x = x * 1.000001 + 1e-9 end \
    redis.call('SET', KEYS[1], tostring(x)) return tostring(x)";

fn redis_client((url, me, calls): (String, usize, usize)) -> f64 {
    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query(&mut redis)
        .unwrap();
    (0..calls)
        .map(|i| {
            let key = format!("cell{}", (i * 7 + me * 101) % OBJECTS);
            let x: String = redis::cmd("EVALSHA")
                .arg(&sha)
                .arg(1)
                .arg(key)
                .arg(MULTIPLICATIONS)
                .query(&mut redis)
                .unwrap();
            x.parse::<f64>().unwrap_or(0.0)
        })
        .sum()
}

fn calls_per_s<F, A>(executor: &Executor, f: F, args: Vec<A>, calls: usize) -> anyhow::Result<f64>
where
    F: Fn(A) -> f64 + Copy + 'static,
    A: Serialize + serde::de::DeserializeOwned + 'static,
{
    let clients = args.len();
    let start = Instant::now();
    let futures = executor.map(f, args)?;
    executor.get_result(&futures)?;
    Ok((clients * calls) as f64 / start.elapsed().as_secs_f64())
}

/// Measures `complex_op_per_s` and its Redis Lua baseline.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let executor = Executor::builder().workers(2).build()?;
    executor.ensure_workers(8)?;
    let calls = if quick { 200 } else { 2_000 };
    let cells: Vec<CellRef> = (0..OBJECTS)
        .map(|_| CellRef::new(Cell { value: 1.0 }))
        .collect();
    let args = (0..8).map(|me| (cells.clone(), me, calls)).collect();
    let strato = calls_per_s(&executor, client, args, calls)?;
    let redis = LocalRedis::start()?;
    let args = (0..8).map(|me| (redis.url(), me, calls)).collect();
    let baseline = calls_per_s(&executor, redis_client, args, calls)?;
    report.add(
        "complex_op_per_s",
        strato,
        "1/s",
        "8 clients, server-side method of 10,000 multiplications, 800 objects",
    );
    report.add(
        "complex_op_per_s_redis_lua",
        baseline,
        "1/s",
        "the same as a Redis Lua script",
    );
    report.add(
        "complex_op_ratio_redis",
        strato / baseline,
        "×",
        "target ≥ 3",
    );
    Ok(())
}
