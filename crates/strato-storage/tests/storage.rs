//! The storage conformance suite on the backends that need no server: memory and a local
//! directory (the S3 run is in `s3.rs`).

mod common;

use strato_storage::{Storage, StorageError};

#[test]
fn memory_store_conforms() {
    common::conformance(&Storage::from_url("memory://").unwrap());
}

#[test]
fn local_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    common::conformance(&Storage::local(dir.path()).unwrap());
}

#[test]
fn file_url_is_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let by_path = Storage::local(dir.path()).unwrap();
    by_path.put("x/y.txt", "shared").unwrap();
    let by_url = Storage::from_url(&format!("file://{}", dir.path().display())).unwrap();
    assert_eq!(by_url.get("x/y.txt").unwrap(), b"shared");
    assert_eq!(
        std::fs::read(dir.path().join("x/y.txt")).unwrap(),
        b"shared"
    );
}

#[test]
fn named_memory_stores_are_shared_in_a_process() {
    let a = Storage::from_url("memory://named-for-test").unwrap();
    let b = Storage::from_url("memory://named-for-test").unwrap();
    a.put("k", "v").unwrap();
    assert_eq!(b.get("k").unwrap(), b"v");
    let anonymous = Storage::from_url("memory://").unwrap();
    assert!(anonymous.get("k").unwrap_err().is_not_found());
}

#[test]
fn bad_urls_say_why() {
    assert!(matches!(
        Storage::from_url("not a url"),
        Err(StorageError::InvalidUrl { .. })
    ));
    assert!(matches!(
        Storage::from_url("gopher://x/"),
        Err(StorageError::InvalidUrl { .. })
    ));
}

#[test]
fn a_blocking_call_inside_an_async_runtime_does_not_panic() {
    let storage = Storage::from_url("memory://").unwrap();
    storage.put("k", "v").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let value = runtime.block_on(async { storage.get("k").unwrap() });
    assert_eq!(value, b"v");
}
