//! One conformance suite of object semantics, run against every backend (memory, a local
//! directory, a real S3 server), and the checks of partitions shared by the dataset tests.

#![allow(dead_code)]

use std::io::{BufRead, Read, Write};

use strato_storage::{Dataset, Partition, Storage, StorageError};

/// Every storage operation, on an empty `storage`.
pub fn conformance(storage: &Storage) {
    put_get_and_ranges(storage);
    head_and_missing_objects(storage);
    streaming_reads(storage);
    multipart_writes(storage);
    listing_by_prefix(storage);
    deleting(storage);
    handles_travel(storage);
}

fn put_get_and_ranges(storage: &Storage) {
    storage.put("conf/a.txt", "0123456789").unwrap();
    assert_eq!(storage.get("conf/a.txt").unwrap(), b"0123456789");
    assert_eq!(storage.get_range("conf/a.txt", 3..7).unwrap(), b"3456");
    assert_eq!(storage.get_range("conf/a.txt", 8..20).unwrap(), b"89");
    assert!(storage.get_range("conf/a.txt", 5..5).unwrap().is_empty());
    storage.put("conf/a.txt", "replaced").unwrap();
    assert_eq!(storage.get("conf/a.txt").unwrap(), b"replaced");
    storage.put("conf/empty", Vec::new()).unwrap();
    assert_eq!(storage.get("conf/empty").unwrap(), b"");
}

fn head_and_missing_objects(storage: &Storage) {
    let info = storage.head("conf/a.txt").unwrap();
    assert_eq!((info.key.as_str(), info.size), ("conf/a.txt", 8));
    assert!(storage.head("conf/none").unwrap_err().is_not_found());
    assert!(storage.get("conf/none").unwrap_err().is_not_found());
    assert!(matches!(
        storage.get("conf//bad"),
        Err(StorageError::InvalidKey { .. })
    ));
}

fn streaming_reads(storage: &Storage) {
    let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    storage.put("conf/lines.txt", text.clone()).unwrap();
    let lines: Vec<String> = storage
        .reader("conf/lines.txt")
        .unwrap()
        .lines()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lines.len(), 20_000);
    assert_eq!(lines[12_345], "line 12345");
    let mut middle = Vec::new();
    let range = 1000..150_000u64;
    storage
        .reader_range("conf/lines.txt", range.clone())
        .unwrap()
        .read_to_end(&mut middle)
        .unwrap();
    assert_eq!(middle, text.as_bytes()[1000..150_000]);
}

fn multipart_writes(storage: &Storage) {
    let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut writer = storage.writer("conf/big.bin").unwrap();
    for _ in 0..12 {
        writer.write_all(&block).unwrap();
    }
    writer.write_all(b"tail").unwrap();
    assert!(
        storage.head("conf/big.bin").is_err(),
        "visible before finish"
    );
    assert_eq!(writer.finish().unwrap(), 12 * (1 << 20) + 4);
    let info = storage.head("conf/big.bin").unwrap();
    assert_eq!(info.size, 12 * (1 << 20) + 4);
    let end = storage
        .get_range("conf/big.bin", info.size - 6..info.size)
        .unwrap();
    assert_eq!(end, [254, 255, b't', b'a', b'i', b'l']);
    let start = 5 * (1 << 20) - 2;
    let across = storage.get_range("conf/big.bin", start..start + 4).unwrap();
    assert_eq!(across, [254, 255, 0, 1]);

    let mut abandoned = storage.writer("conf/abandoned").unwrap();
    abandoned.write_all(b"never").unwrap();
    drop(abandoned);
    assert!(storage.head("conf/abandoned").unwrap_err().is_not_found());
}

fn listing_by_prefix(storage: &Storage) {
    for key in ["list/x/1", "list/x/2", "list/y/1", "list/xx/1"] {
        storage.put(key, key).unwrap();
    }
    let keys = |prefix: &str| -> Vec<String> {
        let listed = storage.list(prefix).unwrap();
        listed.into_iter().map(|o| o.key).collect()
    };
    assert_eq!(keys("list/x"), ["list/x/1", "list/x/2"]);
    assert_eq!(keys("list").len(), 4);
    assert!(keys("nothing/here").is_empty());
    let sizes: Vec<u64> = storage
        .list("list/y")
        .unwrap()
        .iter()
        .map(|o| o.size)
        .collect();
    assert_eq!(sizes, [8]);
}

fn deleting(storage: &Storage) {
    storage.delete("list/y/1").unwrap();
    storage.delete("list/y/1").unwrap();
    assert!(storage.head("list/y/1").unwrap_err().is_not_found());
    let many: Vec<String> = (0..30).map(|i| format!("bulk/{i}")).collect();
    for key in &many {
        storage.put(key, "x").unwrap();
    }
    assert_eq!(storage.delete_many(&many).unwrap(), 30);
    assert!(storage.list("bulk").unwrap().is_empty());
}

fn handles_travel(storage: &Storage) {
    let json = serde_json::to_string(storage).unwrap();
    let back: Storage = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, storage);
    assert_eq!(back.get("conf/a.txt").unwrap(), b"replaced");
}

/// The bytes each partition reads, in order.
pub fn read_parts(parts: &[Partition]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.read_all().unwrap()).collect()
}

/// Checks that the partitions of one object hand out each of its lines exactly once, whole,
/// each line by the partition whose range holds its first byte.
pub fn assert_lines_once(content: &[u8], parts: &[Partition]) {
    let pieces = read_parts(parts);
    assert_eq!(
        pieces.concat(),
        content,
        "the partitions do not add up to the object"
    );
    let owned: Vec<&[u8]> = pieces.iter().flat_map(|p| lines(p)).collect();
    assert_eq!(owned, lines(content), "lines lost, split or repeated");
    let mut offset = 0;
    for (piece, part) in pieces.iter().zip(parts) {
        let end = offset + piece.len();
        if !piece.is_empty() {
            assert!(
                offset == 0 || content[offset - 1] == b'\n',
                "{part:?} starts mid-line"
            );
            assert!(
                end == content.len() || content[end - 1] == b'\n',
                "{part:?} ends mid-line"
            );
            let inner = piece[..piece.len() - 1].iter().enumerate();
            let starts = inner
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| offset + i + 1);
            for start in std::iter::once(offset).chain(starts) {
                assert!(
                    part.range().contains(&(start as u64)),
                    "{part:?} took another's line"
                );
            }
        }
        offset = end;
    }
}

/// The lines of a byte string, without their `\n` (a last line without one counts).
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        lines.pop();
    }
    lines
}

/// A dataset of one object holding `content`.
pub fn one_object(storage: &Storage, key: &str, content: &[u8]) -> Dataset {
    storage.put(key, content.to_vec()).unwrap();
    Dataset::keys(storage, [key])
}
