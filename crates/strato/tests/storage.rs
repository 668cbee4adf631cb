//! Jobs over datasets through real worker processes (this test binary, re-executed):
//! one reducer for all and one per object, results stored back, storage actions, and no
//! worker left behind.

use std::collections::HashMap;
use std::io::BufRead;

use strato::executor::Executor;
use strato::storage::{
    ActionStats, Dataset, DatasetExecutor, JobError, MergeAction, Partition, ReduceBy,
    ReduceOptions, SortSink, Storage,
};
use strato::sync::Merge;

fn executor() -> Executor {
    Executor::builder()
        .workers(2)
        .build()
        .expect("start an executor")
}

/// Drops the executor and checks that none of its workers survived.
fn shut_down(executor: Executor) {
    let pids = executor.worker_pids();
    drop(executor);
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        let gone = stat.is_empty() || state.starts_with('Z') || state.starts_with('X');
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let mine = format!("STRATO_DRIVER_PID={}", std::process::id());
        let ours = environ.split(|b| *b == 0).any(|v| v == mine.as_bytes());
        assert!(gone || !ours, "worker {pid} outlived its executor");
    }
}

fn words(partition: Partition) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for line in partition.reader().expect("open the partition").lines() {
        for word in line.expect("read a line").split_whitespace() {
            *counts.entry(word.to_string()).or_default() += 1;
        }
    }
    counts
}

fn add_up(parts: Vec<HashMap<String, u64>>) -> HashMap<String, u64> {
    let mut total = HashMap::new();
    for (word, n) in parts.into_iter().flatten() {
        *total.entry(word).or_default() += n;
    }
    total
}

fn corpus(storage: &Storage) -> Vec<(&'static str, String)> {
    let files = vec![
        ("in/a.txt", "red green\nblue red\n".repeat(300)),
        ("in/b.txt", "green\r\ngreen blue\r\n".repeat(200)),
        ("in/empty.txt", String::new()),
        ("in/c.txt", "red".repeat(5) + " tail without newline"),
    ];
    for (key, text) in &files {
        storage.put(key, text.clone()).unwrap();
    }
    files
}

fn count_text(text: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_default() += 1;
    }
    counts
}

#[test]
fn one_reducer_per_object_stores_each_result() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    let files = corpus(&storage);
    let dataset = Dataset::prefix(&storage, "in").chunk_size(1000);
    let options = ReduceOptions::per_object().store_in(&storage, "out");
    let executor = executor();
    let reduced = executor
        .map_reduce_dataset(words, &dataset, add_up, options)
        .unwrap();
    let mut expected_files = files.clone();
    expected_files.sort();
    assert_eq!(reduced.len(), expected_files.len());
    for (job, (key, text)) in reduced.iter().zip(&expected_files) {
        assert_eq!(job.object(), Some(*key));
        assert_eq!(
            job.map_tasks() as u64,
            (text.len() as u64).div_ceil(1000).max(1)
        );
        assert_eq!(job.result().unwrap(), count_text(text));
        let stored_at = format!("out/{key}.json");
        assert_eq!(job.stored_at(), Some(stored_at.as_str()));
        let stored: HashMap<String, u64> =
            serde_json::from_slice(&storage.get(&stored_at).unwrap()).unwrap();
        assert_eq!(stored, count_text(text));
    }
    shut_down(executor);
}

#[test]
fn one_reducer_for_all_sees_every_word_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    let files = corpus(&storage);
    let all: String = files.iter().map(|(_, t)| format!("{t}\n")).collect();
    let executor = executor();
    for dataset in [
        Dataset::prefix(&storage, "in").chunk_size(7),
        Dataset::prefix(&storage, "in").chunk_count(5),
        Dataset::prefix(&storage, "in"),
    ] {
        let reduced = executor
            .map_reduce_dataset(words, &dataset, add_up, ReduceOptions::all())
            .unwrap();
        assert_eq!(reduced.len(), 1);
        assert_eq!(reduced[0].object(), None);
        assert_eq!(reduced[0].stored_at(), None);
        assert_eq!(reduced[0].result().unwrap(), count_text(&all));
        assert_eq!(reduced[0].map_tasks(), dataset.partitions().unwrap().len());
    }
    assert_eq!(ReduceOptions::all().by(), ReduceBy::All);
    shut_down(executor);
}

fn sizes(partition: Partition) -> (u64, u64, u64) {
    (
        partition.part(),
        partition.total_parts(),
        partition.object_size(),
    )
}

#[test]
fn map_dataset_runs_one_task_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    storage.put("x", vec![b'x'; 2500]).unwrap();
    let executor = executor();
    let futures = executor
        .map_dataset(sizes, &Dataset::keys(&storage, ["x"]).chunk_size(1000))
        .unwrap();
    let results = executor.get_result(&futures).unwrap();
    assert_eq!(results, [(0, 3, 2500), (1, 3, 2500), (2, 3, 2500)]);
    let missing = executor.map_dataset(sizes, &Dataset::keys(&storage, ["nope"]));
    assert!(matches!(missing, Err(JobError::Dataset(_))));
    shut_down(executor);
}

fn merge_words((partition, counts): (Partition, MergeAction<String, u64>)) -> ActionStats {
    let mut writer = counts.writer_with_batch(3);
    for (word, n) in words(partition) {
        writer.add(word, n).expect("write to the action");
    }
    writer.finish().expect("finish the writes")
}

#[test]
fn merge_action_counts_without_a_reducer() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    let files = corpus(&storage);
    let all: String = files.iter().map(|(_, t)| format!("{t}\n")).collect();
    let executor = executor();
    let counts = MergeAction::<String, u64>::new(Merge::Add).unwrap();
    let dataset = Dataset::prefix(&storage, "in").chunk_size(100);
    let futures = executor
        .map_dataset_with(merge_words, &dataset, counts.clone())
        .unwrap();
    let sent: ActionStats = executor.get_result(&futures).unwrap().into_iter().sum();
    assert!(sent.bytes_sent > 0 && sent.flushes >= futures.len() as u64 / 2);
    let merged: HashMap<String, u64> = counts.take().unwrap().into_iter().collect();
    assert_eq!(merged, count_text(&all));
    shut_down(executor);
}

/// What a task of the counted-once test writes to.
type Sinks = (
    MergeAction<u64, u64>,
    SortSink<u64>,
    strato::sync::Map<u64, u64>,
);

/// Writes `task` under keys 0..5 in three batches and five times into a sort sink, then, on
/// its first attempt, dies.
fn write_then_die_once((task, (counts, sink, attempts)): (u64, Sinks)) -> u64 {
    let mut writer = counts.writer_with_batch(2);
    let mut sorted = sink.writer();
    for key in 0..5 {
        writer.add(key, task).expect("write to the action");
        sorted.push(task).expect("write to the sink");
    }
    writer.finish().expect("finish the writes");
    sorted.finish().expect("finish the sink");
    attempts.merge([(task, 1)], Merge::Add).unwrap();
    if attempts.get(&task) == Some(1) {
        std::process::exit(9);
    }
    task
}

#[test]
fn a_task_that_dies_after_writing_to_storage_actions_is_counted_once() {
    let executor = Executor::builder()
        .workers(2)
        .max_retries(2)
        .build()
        .expect("start an executor");
    let counts = MergeAction::<u64, u64>::new(Merge::Add).unwrap();
    let sink = SortSink::<u64>::new();
    let attempts = strato::sync::Map::<u64, u64>::new();
    let sinks = (counts.clone(), sink.clone(), attempts.clone());
    let items = (1..=4).map(|task| (task, sinks.clone()));
    let futures = executor.map(write_then_die_once, items).unwrap();
    assert_eq!(executor.get_result(&futures).unwrap(), [1, 2, 3, 4]);
    // Every task ran twice and wrote twice; each batch counted once.
    assert!((1..=4).all(|task| attempts.get(&task) == Some(2)));
    let merged = counts.take().unwrap();
    assert_eq!(merged, (0..5).map(|key| (key, 10)).collect::<Vec<_>>());
    let expected: Vec<u64> = (1..=4).flat_map(|task| [task; 5]).collect();
    assert_eq!(sink.take_sorted().unwrap(), expected);
    shut_down(executor);
}

fn lines_into((partition, sink): (Partition, SortSink<String>)) -> ActionStats {
    let mut writer = sink.writer();
    for line in partition.reader().expect("open").lines() {
        writer.push(line.expect("read")).expect("push");
    }
    writer.finish().expect("finish")
}

#[test]
fn sort_sink_gathers_every_line_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path()).unwrap();
    let text: String = (0..500)
        .map(|i| format!("{:03}\n", (i * 37) % 500))
        .collect();
    storage.put("lines", text.clone()).unwrap();
    let executor = executor();
    let sink = SortSink::<String>::new();
    let dataset = Dataset::keys(&storage, ["lines"]).chunk_count(6);
    let futures = executor
        .map_dataset_with(lines_into, &dataset, sink.clone())
        .unwrap();
    executor.get_result(&futures).unwrap();
    let mut expected: Vec<String> = text.lines().map(String::from).collect();
    expected.sort();
    assert_eq!(sink.take_sorted().unwrap(), expected);
    shut_down(executor);
}
