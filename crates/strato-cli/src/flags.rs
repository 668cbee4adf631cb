//! Command-line flags, parsed by clap, and their validation into settings.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use strato_proto::Address;

/// The cloud as one multicore machine: state server tools.
#[derive(Debug, Parser)]
#[command(name = "strato", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a state server until interrupted.
    Serve(ServeArgs),
    /// Measure round trips to a state server.
    Ping(PingArgs),
}

/// `strato serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: HOST:PORT, tcp://HOST:PORT, unix:/PATH or unix:@NAME (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: Address,
    /// Shared secret clients must present; required when listening beyond loopback.
    #[arg(long, env = "STRATO_TOKEN")]
    pub token: Option<String>,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = strato_proto::DEFAULT_MAX_FRAME)]
    pub max_frame_size: usize,
    /// Seconds an object no live connection references survives unused.
    #[arg(long, default_value_t = 3600.0, value_parser = parse_seconds)]
    pub ttl: f64,
}

impl ServeArgs {
    /// The server settings these flags ask for.
    pub fn config(&self) -> strato_server::Config {
        strato_server::Config {
            listen: vec![self.listen.clone()],
            token: self.token.clone(),
            max_frame: self.max_frame_size,
            ttl: Duration::from_secs_f64(self.ttl),
            ..Default::default()
        }
    }
}

/// `strato ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// The server: HOST:PORT, tcp://HOST:PORT, unix:/PATH or unix:@NAME.
    #[arg(long)]
    pub connect: String,
    /// How many round trips.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// The server's token, if it has one.
    #[arg(long, env = "STRATO_TOKEN")]
    pub token: Option<String>,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_to_loopback_without_token() {
        let cli = Cli::try_parse_from(["strato", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!()
        };
        assert!(args.listen.is_local());
        assert_eq!(args.config().ttl, Duration::from_secs(3600));
    }

    #[test]
    fn ttl_must_be_positive() {
        assert!(Cli::try_parse_from(["strato", "serve", "--ttl", "0"]).is_err());
        assert!(Cli::try_parse_from(["strato", "serve", "--ttl", "0.5"]).is_ok());
    }

    #[test]
    fn listen_rejects_garbage() {
        assert!(Cli::try_parse_from(["strato", "serve", "--listen", "nowhere"]).is_err());
    }

    #[test]
    fn ping_needs_at_least_one_round() {
        let args = ["strato", "ping", "--connect", "127.0.0.1:1", "--count", "0"];
        assert!(Cli::try_parse_from(args).is_err());
    }
}
