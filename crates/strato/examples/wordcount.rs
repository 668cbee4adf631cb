//! Word count over a multi-file text corpus, Lithops-style: one task per chunk of the input,
//! then either one reduce task (the default) or a storage action that merges the counts on
//! the state server as the tasks stream them (`--action`, Glider-style: no reduce task).
//!
//! Words are the whitespace-separated tokens, ASCII-lowercased. Prints the `--top` words as
//! `<count> <word>` (count descending, then word ascending), then `tasks=<n> elapsed=<s>`
//! (`n`: map tasks, plus the reduce task without `--action`). The bytes each way moves go to
//! stderr.
//!
//! ```text
//! cargo run --release -p strato --example gen_corpus -- --out /tmp/corpus
//! cargo run --release -p strato --example wordcount -- --input /tmp/corpus --top 5
//! cargo run --release -p strato --example wordcount -- --input /tmp/corpus --top 5 --action
//! cargo run --release -p strato --features s3 --example wordcount -- --input s3://bucket/corpus/
//! ```

use std::collections::HashMap;
use std::io::BufRead;
use std::time::Instant;

use clap::Parser;
use strato::executor::Executor;
use strato::storage::{
    ActionStats, Dataset, DatasetExecutor, MergeAction, Partition, ReduceOptions,
};
use strato::sync::Merge;

/// Counts the words of a corpus on worker processes.
#[derive(Debug, Parser)]
struct Args {
    /// A file, a directory, a glob, or a storage URL (`s3://bucket/prefix/`, `file:///dir`,
    /// `http://host/file.txt`).
    #[arg(long)]
    input: String,
    /// Bytes per task (each file is cut into chunks of this size, on line boundaries).
    #[arg(long, default_value_t = 16 << 20)]
    chunk_size: u64,
    /// How many of the most frequent words to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Merge the counts in a storage action on the state server instead of a reduce task.
    #[arg(long)]
    action: bool,
    /// Local worker processes (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

type Counts = HashMap<String, u64>;

/// Calls `add(word)` for each word of the partition's lines.
fn for_each_word(
    partition: &Partition,
    mut add: impl FnMut(String) -> Result<(), String>,
) -> Result<(), String> {
    let mut reader = partition.reader().map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?
            == 0
        {
            return Ok(());
        }
        for token in line
            .split(u8::is_ascii_whitespace)
            .filter(|t| !t.is_empty())
        {
            add(String::from_utf8_lossy(&token.to_ascii_lowercase()).into_owned())?;
        }
    }
}

/// Map task: the counts of one partition.
fn count_partition(partition: Partition) -> Result<Counts, String> {
    let mut counts = Counts::new();
    for_each_word(&partition, |word| {
        *counts.entry(word).or_default() += 1;
        Ok(())
    })?;
    Ok(counts)
}

/// Reduce task: the sum of every partition's counts.
fn merge_counts(parts: Vec<Result<Counts, String>>) -> Result<Counts, String> {
    let mut total = Counts::new();
    for counts in parts {
        for (word, n) in counts? {
            *total.entry(word).or_default() += n;
        }
    }
    Ok(total)
}

/// Map task with the storage action: streams the partition's words into the merge.
fn count_into(
    (partition, counts): (Partition, MergeAction<String, u64>),
) -> Result<ActionStats, String> {
    let mut writer = counts.writer();
    for_each_word(&partition, |word| {
        writer.add(word, 1).map_err(|e| e.to_string())
    })?;
    writer.finish().map_err(|e| e.to_string())
}

/// Runs the job with a reduce task; returns the counts and the number of tasks.
fn with_reduce(
    executor: &Executor,
    dataset: &Dataset,
) -> Result<(Counts, usize), Box<dyn std::error::Error>> {
    let reduced = executor.map_reduce_dataset(
        count_partition,
        dataset,
        merge_counts,
        ReduceOptions::all(),
    )?;
    let job = &reduced[0];
    let counts = job.result()??;
    if let Some(stats) = job.stats() {
        eprintln!(
            "bytes moved: map results to the reduce task {} (through the driver), reduced result to the driver {}",
            stats.bytes_in, stats.bytes_out
        );
    }
    Ok((counts, job.map_tasks() + 1))
}

/// Runs the job with the merge action; returns the counts and the number of tasks.
fn with_action(
    executor: &Executor,
    dataset: &Dataset,
) -> Result<(Counts, usize), Box<dyn std::error::Error>> {
    let action = MergeAction::<String, u64>::new(Merge::Add)?;
    let futures = executor.map_dataset_with(count_into, dataset, action.clone())?;
    let mut sent = ActionStats::default();
    for result in executor.get_result(&futures)? {
        sent = sent + result?;
    }
    let results: u64 = futures
        .iter()
        .filter_map(|f| f.stats())
        .map(|s| s.bytes_out)
        .sum();
    let merged = action.take()?;
    let read = postcard_len(&merged);
    eprintln!(
        "bytes moved: writes to the merge action {}, map task results {results}, merged result read once {read}",
        sent.bytes_sent
    );
    Ok((merged.into_iter().collect(), futures.len()))
}

/// The encoded size of the merged entries (as they come from the server).
fn postcard_len(entries: &[(String, u64)]) -> usize {
    postcard::to_stdvec(entries).map_or(0, |bytes| bytes.len())
}

fn top(counts: Counts, n: usize) -> Vec<(u64, String)> {
    let mut ranked: Vec<(u64, String)> = counts.into_iter().map(|(w, c)| (c, w)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.truncate(n);
    ranked
}

fn main() -> std::process::ExitCode {
    strato::init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let dataset = Dataset::at(&args.input)?.chunk_size(args.chunk_size);
    let executor = match args.workers {
        Some(n) => Executor::builder().workers(n).build()?,
        None => Executor::new()?,
    };
    let (counts, tasks) = match args.action {
        true => with_action(&executor, &dataset)?,
        false => with_reduce(&executor, &dataset)?,
    };
    for (count, word) in top(counts, args.top) {
        println!("{count} {word}");
    }
    println!(
        "tasks={tasks} elapsed={:.3}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
