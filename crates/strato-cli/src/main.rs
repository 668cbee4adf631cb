//! `strato`: run and probe state servers, and see what jobs did.
//!
//! ```text
//! strato serve --listen 127.0.0.1:0            # prints "listening on tcp://127.0.0.1:PORT"
//! strato serve --listen 0.0.0.0:7070 --token S # beyond loopback a token is required
//! strato ping --connect tcp://127.0.0.1:7070 --count 5
//! strato jobs --connect tcp://127.0.0.1:7070   # recent jobs: counts, failures, durations
//! strato logs last --connect …                 # what the last job's tasks printed
//! strato plot M003 --connect … -o plots/       # timeline and histogram, PNG and SVG
//! strato worker --connect tcp://10.0.0.1:7070 --token S --slots 8   # a worker host
//! strato lambda package -o runner.zip          # the runner function's zip
//! strato lambda deploy --name strato-runner --role arn:aws:iam::…:role/…
//! strato k8s manifests --image registry/strato:0.1.0 | kubectl apply -f -
//! ```

mod flags;
mod jobs;
mod k8s;
mod lambda;
mod logs;
mod ping;
mod plot;
mod serve;
mod worker;

use clap::Parser;

fn main() -> std::process::ExitCode {
    strato_proto::heap::keep_large_buffers();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result = match flags::Cli::parse().command {
        flags::Command::Serve(args) => serve::run(args),
        flags::Command::Ping(args) => ping::run(args),
        flags::Command::Jobs(args) => jobs::run(args),
        flags::Command::Logs(args) => logs::run(args),
        flags::Command::Plot(args) => plot::run(args),
        flags::Command::Worker(args) => worker::run(args),
        flags::Command::Lambda(command) => lambda::run(command),
        flags::Command::K8s(command) => k8s::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
