//! The S3 backend against a real S3-compatible server, `s3s-fs`, one per test (see
//! `common/s3_server.rs`). Nothing here is mocked and nothing skips: without the server
//! binary the tests fail and say how to install it.

mod common;
#[path = "common/s3_server.rs"]
mod s3_server;

use common::{assert_lines_once, conformance};
use s3_server::S3Server;
use strato_storage::{Dataset, Storage, StorageError};

#[test]
fn s3_storage_conforms() {
    let server = S3Server::start();
    conformance(&server.storage("conformance"));
}

#[test]
fn s3_prefix_scopes_keys() {
    let server = S3Server::start();
    let scoped = server.storage("team/a");
    scoped.put("x.txt", "in a").unwrap();
    let root = server.storage("");
    assert_eq!(root.get("team/a/x.txt").unwrap(), b"in a");
    let keys: Vec<String> = scoped
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["x.txt"]);
}

#[test]
fn s3_dataset_partitions_are_line_aligned() {
    let server = S3Server::start();
    let storage = server.storage("data");
    let objects: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let newline = if i % 2 == 0 { "\n" } else { "\r\n" };
            (0..2000 * i)
                .map(|n| format!("object {i} line {n}{newline}"))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    for (i, bytes) in objects.iter().enumerate() {
        storage
            .put(&format!("corpus/{i}.txt"), bytes.clone())
            .unwrap();
    }
    let dataset = Dataset::prefix(&storage, "corpus").chunk_size(10_000);
    let parts = dataset.partitions().unwrap();
    let expected: u64 = objects
        .iter()
        .map(|o| (o.len() as u64).div_ceil(10_000).max(1))
        .sum();
    assert_eq!(parts.len() as u64, expected);
    for (i, bytes) in objects.iter().enumerate() {
        let own: Vec<_> = parts
            .iter()
            .filter(|p| p.object_index() == i)
            .cloned()
            .collect();
        assert_lines_once(bytes, &own);
    }
}

#[test]
fn s3_handle_travels_with_its_options() {
    let server = S3Server::start();
    let storage = server.storage("travel");
    storage.put("k", "v").unwrap();
    let json = serde_json::to_string(&storage).unwrap();
    assert!(json.contains("s3://strato-test/travel"));
    let back: Storage = serde_json::from_str(&json).unwrap();
    assert_eq!(back.get("k").unwrap(), b"v");
}

#[test]
fn s3_wrong_secret_is_refused() {
    let server = S3Server::start();
    let storage = server.storage_with_secret("x", "not-the-secret").unwrap();
    let error = storage.put("k", "v").unwrap_err();
    assert!(matches!(error, StorageError::Backend { .. }), "{error:?}");
}
