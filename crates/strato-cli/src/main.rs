//! `strato`: run and probe state servers.
//!
//! ```text
//! strato serve --listen 127.0.0.1:0            # prints "listening on tcp://127.0.0.1:PORT"
//! strato serve --listen 0.0.0.0:7070 --token S # beyond loopback a token is required
//! strato ping --connect tcp://127.0.0.1:7070 --count 5
//! ```

mod flags;
mod ping;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result = match flags::Cli::parse().command {
        flags::Command::Serve(args) => serve::run(args),
        flags::Command::Ping(args) => ping::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
