//! `strato.toml` and the `STRATO_*` environment select the state and the compute; the
//! builder overrides both. One test: the settings are the process's, read at each build.

use strato::executor::{ComputeKind, Executor};

fn square(x: u64) -> u64 {
    x * x
}

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("strato.toml");
    std::fs::write(&path, text).unwrap();
    std::env::set_var("STRATO_CONFIG", &path);
    path
}

#[test]
fn the_file_then_the_environment_then_the_builder_decide() {
    std::env::remove_var("STRATO_STATE");
    std::env::remove_var("STRATO_WORKERS");
    let dir = tempfile::tempdir().unwrap();
    let server = strato_server::start(strato_server::Config {
        listen: vec!["tcp://127.0.0.1:0".parse().unwrap()],
        ..Default::default()
    })
    .unwrap();
    let address = server.address().to_string();

    // The file chooses the state server and the number of workers.
    let text =
        format!("[state]\naddress = \"{address}\"\n[compute]\nkind = \"local\"\nworkers = 3\n");
    write_config(dir.path(), &text);
    let executor = Executor::new().unwrap();
    assert_eq!(strato::state_address().as_deref(), Some(address.as_str()));
    assert_eq!(executor.worker_count(), 3);
    assert_eq!(executor.compute_kind(), Some(ComputeKind::Local));
    let futures = executor.map(square, 1..=4).unwrap();
    assert_eq!(executor.get_result(&futures).unwrap(), [1, 4, 9, 16]);
    drop(executor);

    // The environment overrides the file, the builder overrides both.
    std::env::set_var("STRATO_WORKERS", "1");
    assert_eq!(Executor::new().unwrap().worker_count(), 1);
    let built = Executor::builder().workers(2).build().unwrap();
    assert_eq!(built.worker_count(), 2);
    drop(built);
    std::env::remove_var("STRATO_WORKERS");

    // Bad values and unknown keys name the key and the file.
    let path = write_config(dir.path(), "[compute]\nkind = \"cloud\"\n");
    let error = Executor::new().unwrap_err().to_string();
    assert!(error.contains("`compute.kind`"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
    write_config(dir.path(), "[compute]\nslots = 2\n");
    let error = Executor::new().unwrap_err().to_string();
    assert!(error.contains("unknown field `slots`"), "{error}");
    std::env::set_var("STRATO_CONFIG", dir.path().join("missing.toml"));
    let error = Executor::new().unwrap_err().to_string();
    assert!(error.contains("missing.toml"), "{error}");
    std::env::remove_var("STRATO_CONFIG");
}
