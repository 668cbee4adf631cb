//! strato on AWS Lambda, as Lithops runs there: one generic **runner** function serves every
//! program and every build.
//!
//! - [`Invocation`]: what the driver sends (the state's address and token, the job's board,
//!   the content hash of the driver's executable and where it is stored), and [`Ran`], what
//!   an invocation answers.
//! - [`runner`]: the function's side. It fetches the executable from object storage the first
//!   time (kept in `/tmp` across warm invocations, its hash checked), checks that the state
//!   server answers, and runs the executable as one worker of the job until the job has no
//!   work for it or its deadline is near (it stops taking tasks in time to finish the one it
//!   holds). `strato-lambda-runner` is that function, on `lambda_runtime`.
//! - [`LambdaCompute`]: the driver's side, the `lambda` kind of the compute seam: it keeps up
//!   to one invocation in flight per worker slot with `aws-sdk-lambda`'s `Invoke`, invokes
//!   again when an invocation ended at its deadline or new work came, backs off on
//!   throttling, and reports a failing function's error.
//! - [`package`] and [`deploy`]: the function's zip (`bootstrap` inside) and creating or
//!   updating the function with Lambda's API (`strato lambda package`, `strato lambda
//!   deploy`); [`aws`]: the SDK's configuration from its usual sources.
//! - [`local`]: Lambda on this machine (cargo-lambda's emulator and runner processes), for
//!   the tests, the benchmarks, and trying the backend without an account.
//!
//! ```
//! let invocation: strato_lambda::Invocation = serde_json::from_str(r#"{
//!     "state": "tls://10.0.0.1:7070", "token": "t", "ca_pem": null, "plaintext": false,
//!     "board": "strato.board.1", "ready": "strato.board.1.ready",
//!     "session": "strato.board.1.driver", "worker": "lambda/0",
//!     "exe": {"hash": "ab", "len": 1, "os": "linux", "arch": "x86_64"},
//!     "exe_url": "s3://bucket/strato/exe", "timeout_ms": 60000, "idle_ms": 2000
//! }"#).unwrap();
//! assert_eq!(invocation.worker, "lambda/0");
//! ```

pub mod aws;
mod compute;
pub mod deploy;
mod invocation;
pub mod local;
pub mod package;
pub mod runner;

pub use compute::{LambdaCompute, LambdaError};
pub use invocation::{Invocation, Ran, Stopped};
