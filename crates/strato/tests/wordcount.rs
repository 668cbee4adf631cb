//! The `wordcount` and `gen_corpus` examples as a user runs them (`cargo test` builds the
//! examples; this runs their binaries): counts equal a single-threaded count, with a reduce
//! task and with the storage action, over a directory, a file, a `file://` URL and a real
//! S3 server; the task count is the one expected for the chunk size.

#[path = "../../strato-storage/tests/common/s3_server.rs"]
mod s3_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use s3_server::S3Server;

fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let dir = deps
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test -p strato` (which builds the examples)",
        path.display()
    );
    path
}

/// Writes a corpus of `files` files into `dir` with the generator example.
fn generate(dir: &Path, files: u64, bytes: u64, extra: &[&str]) {
    let status = Command::new(example("gen_corpus"))
        .args(["--out", &dir.display().to_string()])
        .args(["--files", &files.to_string(), "--bytes", &bytes.to_string()])
        .args(["--vocabulary", "3000"])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The words of every file below `dir` (or of the file), counted in this thread.
fn count_here(path: &Path) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    let files: Vec<PathBuf> = match path.is_dir() {
        true => std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect(),
        false => vec![path.to_path_buf()],
    };
    for file in files {
        let text = std::fs::read(file).unwrap();
        for word in text
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
        {
            let word = String::from_utf8_lossy(&word.to_ascii_lowercase()).into_owned();
            *counts.entry(word).or_default() += 1;
        }
    }
    counts
}

/// What one wordcount run printed: the counted words in order, and its `tasks=`.
struct Run {
    ranked: Vec<(u64, String)>,
    tasks: u64,
}

fn wordcount(input: &str, args: &[&str], env: &[(&str, String)]) -> Run {
    let output = Command::new(example("wordcount"))
        .args(["--input", input, "--workers", "2"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("FeatureMissing"),
        "the wordcount example was built without S3: build strato's tests with `--features s3` \
         (`cargo test --workspace`, as scripts/test runs it, has it)"
    );
    assert!(
        output.status.success(),
        "wordcount {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("bytes moved:"),
        "no bytes report:\n{stderr}"
    );
    let mut lines: Vec<&str> = stdout.lines().collect();
    let last = lines.pop().unwrap_or_default();
    let tasks = last
        .strip_prefix("tasks=")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tasks= line: {last}"));
    assert!(last.contains(" elapsed="), "{last}");
    let ranked = lines
        .iter()
        .map(|l| {
            let (count, word) = l.split_once(' ').unwrap();
            (count.parse().unwrap(), word.to_string())
        })
        .collect();
    Run { ranked, tasks }
}

/// The single-threaded counts ranked as wordcount ranks them.
fn ranked(counts: HashMap<String, u64>) -> Vec<(u64, String)> {
    let mut ranked: Vec<(u64, String)> = counts.into_iter().map(|(w, c)| (c, w)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked
}

fn expected_parts(path: &Path, chunk: u64) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().div_ceil(chunk).max(1))
        .sum()
}

#[test]
fn wordcount_equals_a_single_threaded_count_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 3, 600_000, &[]);
    let expected = ranked(count_here(dir.path()));
    let input = dir.path().display().to_string();
    let parts = expected_parts(dir.path(), 50_000);
    assert!(
        parts >= 3 * 4,
        "each file of about 200 kB is at least 4 chunks"
    );

    let reduced = wordcount(&input, &["--chunk-size", "50000", "--top", "1000000"], &[]);
    assert_eq!(reduced.ranked, expected);
    assert_eq!(reduced.tasks, parts + 1, "map tasks plus one reduce task");

    let merged = wordcount(
        &input,
        &["--chunk-size", "50000", "--top", "1000000", "--action"],
        &[],
    );
    assert_eq!(merged.ranked, expected);
    assert_eq!(merged.tasks, parts, "map tasks only: no reduce task");
}

#[test]
fn wordcount_of_one_crlf_file_by_url_prints_the_top_words() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 1, 300_000, &["--crlf", "--seed", "7"]);
    let file = dir.path().join("part-0000.txt");
    let expected = ranked(count_here(&file));
    let url = format!("file://{}", dir.path().display());
    let run = wordcount(&url, &["--chunk-size", "7000", "--top", "5"], &[]);
    assert_eq!(run.ranked, expected[..5]);
    assert_eq!(run.tasks, 300_000u64.div_ceil(7000) + 1);
    let by_path = wordcount(
        &file.display().to_string(),
        &["--top", "5", "--action"],
        &[],
    );
    assert_eq!(by_path.ranked, expected[..5]);
    assert_eq!(
        by_path.tasks, 1,
        "one file smaller than the default chunk: one task"
    );
}

#[test]
fn wordcount_over_an_s3_prefix() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 2, 200_000, &[]);
    let expected = ranked(count_here(dir.path()));
    let server = S3Server::start();
    let storage = server.storage("corpus");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        storage.put(&name, std::fs::read(&path).unwrap()).unwrap();
    }
    let url = format!("s3://{}/corpus/", s3_server::BUCKET);
    let env = server.environment();
    for action in [false, true] {
        let mut args = vec!["--chunk-size", "30000", "--top", "1000000"];
        args.extend(action.then_some("--action"));
        let run = wordcount(&url, &args, &env);
        assert_eq!(run.ranked, expected, "action={action}");
        assert_eq!(
            run.tasks,
            expected_parts(dir.path(), 30_000) + u64::from(!action)
        );
    }
}
