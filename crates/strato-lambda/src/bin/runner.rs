//! `strato-lambda-runner`: the one Lambda function every strato program's tasks run in
//! (`bootstrap` in the function's zip, on the `provided.al2023` runtime).
//!
//! Each invocation's payload is an [`Invocation`]: the runner fetches the driver's
//! executable by hash (kept in `/tmp` across warm invocations), and runs it as one worker of
//! the job until the job has no work for it or the deadline is near; it answers a [`Ran`].
//! A failure (an executable it cannot fetch or run, a state server it cannot reach) is the
//! invocation's error, whose message reaches the driver.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use strato_lambda::runner::Runner;
use strato_lambda::{Invocation, Ran};

/// Where the Lambda service (or an emulator) tells a function to poll for invocations.
const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os(RUNTIME_API).is_none() {
        eprintln!(
            "strato-lambda-runner: {RUNTIME_API} is not set: this program is a Lambda \
             function's bootstrap and runs inside AWS Lambda or an emulator of it \
             (`cargo lambda watch`); `strato lambda package` zips it for deployment"
        );
        std::process::exit(2);
    }
    let scratch = std::env::var("STRATO_RUNNER_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("strato-runner"));
    let runner = Runner::new(scratch);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Invocation>| {
        let runner = runner.clone();
        async move { handle(runner, event).await }
    }))
    .await
}

async fn handle(runner: Runner, event: LambdaEvent<Invocation>) -> Result<Ran, Error> {
    let deadline = event.context.deadline();
    let invocation = event.payload;
    let ran = tokio::task::spawn_blocking(move || runner.run(&invocation, Some(deadline)))
        .await
        .map_err(|e| Error::from(e.to_string()))?;
    ran.map_err(|e| Error::from(e.to_string()))
}
