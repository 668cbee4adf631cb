//! The runner binary outside Lambda. (The runner inside an emulated Lambda is tested from
//! the facade: `crates/strato/tests/lambda.rs`; this file also makes `cargo test` build the
//! binary those tests start.)

use std::process::Command;

#[test]
fn the_lambda_runner_started_outside_lambda_says_where_it_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_strato-lambda-runner"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("start strato-lambda-runner");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo lambda watch"), "{stderr}");
}
