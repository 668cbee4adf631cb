//! Partitioning: every line of every object reaches exactly one task, whole — for `\n` and
//! `\r\n` text, with and without a final newline, for empty objects and objects smaller than
//! a chunk — and the number of partitions is the number expected.

mod common;

use common::{assert_lines_once, lines, one_object, read_parts};
use proptest::prelude::*;
use strato_storage::{Dataset, Split, Storage};

/// Text of `lines` (each a run of letters and spaces), joined by `newline`, with or without
/// a final one.
fn text(lines: &[String], newline: &str, final_newline: bool) -> Vec<u8> {
    let mut text = lines.join(newline);
    if final_newline && !lines.is_empty() {
        text.push_str(newline);
    }
    text.into_bytes()
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z ]{0,12}",
        1 => "[a-z]{40,300}",
        1 => Just(String::new()),
    ]
}

fn split() -> impl Strategy<Value = Split> {
    prop_oneof![
        (1u64..400).prop_map(Split::ChunkSize),
        (1u64..40).prop_map(Split::ChunkCount),
        Just(Split::Whole),
    ]
}

fn with_split(dataset: Dataset, split: Split) -> Dataset {
    match split {
        Split::ChunkSize(n) => dataset.chunk_size(n),
        Split::ChunkCount(n) => dataset.chunk_count(n),
        _ => dataset,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_line_reaches_exactly_one_partition(
        content in prop::collection::vec(line(), 0..60),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        split in split(),
    ) {
        let bytes = text(&content, if crlf { "\r\n" } else { "\n" }, final_newline);
        let storage = Storage::from_url("memory://").unwrap();
        let parts = with_split(one_object(&storage, "f.txt", &bytes), split).partitions().unwrap();
        prop_assert_eq!(parts.len() as u64, split.parts(bytes.len() as u64));
        assert_lines_once(&bytes, &parts);
    }

    #[test]
    fn binary_partitions_are_exactly_their_ranges(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        split in split(),
    ) {
        let storage = Storage::from_url("memory://").unwrap();
        let dataset = with_split(one_object(&storage, "f.bin", &bytes), split).binary();
        let parts = dataset.partitions().unwrap();
        for (piece, part) in read_parts(&parts).iter().zip(&parts) {
            let range = part.range();
            prop_assert_eq!(&piece[..], &bytes[range.start as usize..range.end as usize]);
        }
    }
}

#[test]
fn an_empty_object_is_one_empty_partition() {
    let storage = Storage::from_url("memory://").unwrap();
    for split in [Split::ChunkSize(10), Split::ChunkCount(4), Split::Whole] {
        let parts = with_split(one_object(&storage, "empty", b""), split)
            .partitions()
            .unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range(), 0..0);
        assert!(parts[0].read_all().unwrap().is_empty());
    }
}

#[test]
fn an_object_smaller_than_a_chunk_is_one_partition() {
    let storage = Storage::from_url("memory://").unwrap();
    let content = b"tiny\nfile\nno final newline";
    let parts = one_object(&storage, "small", content)
        .chunk_size(1 << 20)
        .partitions()
        .unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].read_all().unwrap(), content);
}

#[test]
fn a_line_longer_than_the_lookahead_is_read_to_its_end() {
    let long = "x".repeat(300_000);
    let content = format!("short\n{long}\nafter\n{long}");
    let storage = Storage::from_url("memory://").unwrap();
    let parts = one_object(&storage, "long", content.as_bytes())
        .chunk_size(50_000)
        .partitions()
        .unwrap();
    assert_lines_once(content.as_bytes(), &parts);
    let pieces = read_parts(&parts);
    assert_eq!(
        pieces[0].len(),
        6 + 300_001,
        "the first partition finishes the long line"
    );
}

#[test]
fn task_counts_match_chunk_size_and_count() {
    let storage = Storage::from_url("memory://").unwrap();
    let sizes = [0usize, 1, 99, 100, 101, 1000, 12_345];
    for (i, size) in sizes.iter().enumerate() {
        storage.put(&format!("set/{i}"), vec![b'a'; *size]).unwrap();
    }
    let dataset = Dataset::prefix(&storage, "set");
    let count = |d: Dataset| d.partitions().unwrap().len();
    // one per object, whatever its size
    assert_eq!(count(dataset.clone()), 7);
    // ceil(size / 100), and 1 for the empty object: 1 + 1 + 1 + 1 + 2 + 10 + 124
    assert_eq!(count(dataset.clone().chunk_size(100)), 140);
    // 4 per object, except the empty one (1) and the 1-byte one (1)
    assert_eq!(count(dataset.clone().chunk_count(4)), 1 + 1 + 4 * 5);
    // a chunk larger than every object: one each
    assert_eq!(count(dataset.clone().chunk_size(1 << 30)), 7);
}

#[test]
fn partitions_know_their_place() {
    let storage = Storage::from_url("memory://").unwrap();
    storage.put("a", "1\n2\n3\n4\n").unwrap();
    storage.put("b", "5\n").unwrap();
    let parts = Dataset::keys(&storage, ["a", "b"])
        .chunk_size(4)
        .partitions()
        .unwrap();
    let places: Vec<(&str, u64, u64, usize, u64)> = parts
        .iter()
        .map(|p| {
            (
                p.key(),
                p.part(),
                p.total_parts(),
                p.object_index(),
                p.object_size(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [("a", 0, 2, 0, 8), ("a", 1, 2, 0, 8), ("b", 0, 1, 1, 2)]
    );
    let all: Vec<Vec<u8>> = read_parts(&parts);
    let all_lines: Vec<&[u8]> = all.iter().flat_map(|p| lines(p)).collect();
    assert_eq!(all_lines, [b"1", b"2", b"3", b"4", b"5"]);
}

#[test]
fn local_files_directories_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), "a1\na2\n").unwrap();
    std::fs::write(root.join("sub/b.txt"), "b1\n").unwrap();
    std::fs::write(root.join("sub/deeper/c.log"), "c1\r\nc2").unwrap();

    let keys =
        |d: Dataset| -> Vec<String> { d.objects().unwrap().into_iter().map(|o| o.key).collect() };
    assert_eq!(
        keys(Dataset::paths([root])),
        ["a.txt", "sub/b.txt", "sub/deeper/c.log"]
    );
    assert_eq!(keys(Dataset::paths([root.join("sub/b.txt")])), ["b.txt"]);
    let glob = format!("{}/**/*.txt", root.display());
    assert_eq!(keys(Dataset::paths([glob])), ["a.txt", "sub/b.txt"]);
    let url = format!("file://{}", root.join("sub").display());
    assert_eq!(keys(Dataset::at(&url).unwrap()), ["b.txt", "deeper/c.log"]);

    let parts = Dataset::paths([root]).chunk_size(2).partitions().unwrap();
    let text: Vec<u8> = read_parts(&parts).concat();
    assert_eq!(text, b"a1\na2\nb1\nc1\r\nc2");
    let missing = Dataset::paths([root.join("none/*.txt")]).partitions();
    assert!(missing.is_err());
}
