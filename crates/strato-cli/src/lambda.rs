//! `strato lambda package` and `strato lambda deploy`: the runner function of
//! `STRATO_COMPUTE=lambda`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use strato_lambda::package::RunnerBinary;

use crate::flags::{DeployArgs, LambdaCommand, PackageArgs, RunnerArgs};

/// Runs one `strato lambda` command.
pub fn run(command: LambdaCommand) -> anyhow::Result<()> {
    match command {
        LambdaCommand::Package(args) => package(args),
        LambdaCommand::Deploy(args) => deploy(args),
    }
}

/// Writes the zip; prints what is in it.
fn package(args: PackageArgs) -> anyhow::Result<()> {
    let runner = read_runner(&args.runner)?;
    let zip = runner.zip()?;
    std::fs::write(&args.output, &zip)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "wrote {} ({} bytes): bootstrap = {}",
        args.output.display(),
        zip.len(),
        describe(&runner)
    );
    Ok(())
}

/// Packages the runner and creates or updates the function.
fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let runner = read_runner(&args.runner)?;
    let mut deployment = strato_lambda::deploy::Deployment::new(&args.name, runner.zip()?);
    deployment.role = args.role.clone();
    deployment.architecture = runner.architecture();
    deployment.memory_mb = args.memory;
    deployment.timeout_s = args.timeout;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deployed = runtime.block_on(async {
        let config = strato_lambda::aws::sdk_config(args.region.clone()).await;
        let client = strato_lambda::aws::lambda_client(
            &config,
            args.endpoint_url.as_deref(),
            Duration::from_secs(600),
            true,
        );
        strato_lambda::deploy::deploy(&client, &deployment).await
    })?;
    println!("{deployed}: bootstrap = {}", describe(&runner));
    println!(
        "drivers use it with STRATO_COMPUTE=lambda STRATO_LAMBDA_FUNCTION={} \
         STRATO_LAMBDA_TIMEOUT={}",
        args.name, args.timeout
    );
    Ok(())
}

fn read_runner(args: &RunnerArgs) -> anyhow::Result<RunnerBinary> {
    let path = match &args.runner {
        Some(path) => path.clone(),
        None => beside_this_program()?,
    };
    Ok(RunnerBinary::read(&path)?)
}

/// `strato-lambda-runner` in this program's directory, where `cargo build` and
/// `cargo install` put it.
fn beside_this_program() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("strato-lambda-runner");
    anyhow::ensure!(
        path.is_file(),
        "no runner at {}: build it (`cargo build --release -p strato-lambda`, or \
         `cargo lambda build --release -p strato-lambda` for Lambda's glibc) or pass --runner",
        path.display()
    );
    Ok(path)
}

fn describe(runner: &RunnerBinary) -> String {
    let glibc = match runner.glibc() {
        Some(version) => format!("glibc {version}"),
        None => "static".into(),
    };
    format!(
        "{} ({}, {glibc})",
        runner.path().display(),
        runner.architecture().lambda_name()
    )
}
