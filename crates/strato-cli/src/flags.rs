//! Command-line flags, parsed by clap, and their validation into settings.

use std::path::PathBuf;
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
    /// List the recent jobs a state server keeps: counts, failures, durations.
    Jobs(JobsArgs),
    /// Print what the tasks of a job wrote to stdout and stderr, and their errors.
    Logs(LogsArgs),
    /// Draw a job's timeline and concurrency histogram as PNG and SVG files.
    Plot(PlotArgs),
    /// Run a worker host: start workers for the drivers of a state server.
    Worker(WorkerArgs),
    /// Package and deploy the runner function for `STRATO_COMPUTE=lambda`.
    #[command(subcommand)]
    Lambda(LambdaCommand),
    /// Print what runs strato on Kubernetes: manifests, or the image's Dockerfile.
    #[command(subcommand)]
    K8s(K8sCommand),
}

/// `strato k8s …`.
#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Print the manifests (YAML for `kubectl apply -f -`): namespace, token Secret,
    /// `strato serve` Deployment and Service, `strato worker` Deployment, NetworkPolicy.
    Manifests(ManifestsArgs),
    /// Print the Dockerfile of the image the manifests run.
    Dockerfile,
}

/// `strato k8s manifests`.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// The image built from `strato k8s dockerfile`.
    #[arg(long)]
    pub image: String,
    /// The namespace.
    #[arg(long, default_value = "strato")]
    pub namespace: String,
    /// Worker pods (scale the Deployment later with `kubectl scale`).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..))]
    pub workers: i32,
    /// Worker slots per pod, also each pod's CPU request.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub slots: u32,
    /// The state server's port.
    #[arg(long, default_value_t = 7070)]
    pub port: u16,
    /// The token (default: a new random one, printed inside the Secret).
    #[arg(long, env = "STRATO_TOKEN")]
    pub token: Option<String>,
    /// A kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) for the Service's DNS name:
    /// the server speaks TLS and hosts check it. Without one, traffic in the cluster is
    /// plain TCP.
    #[arg(long)]
    pub tls_secret: Option<String>,
}

/// `strato lambda …`.
#[derive(Debug, Subcommand)]
pub enum LambdaCommand {
    /// Write the runner function's zip (`bootstrap` inside) for Lambda's provided.al2023.
    Package(PackageArgs),
    /// Create the runner function, or update its code and configuration.
    Deploy(DeployArgs),
}

/// The runner executable to package.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// The runner executable (default: strato-lambda-runner beside this program).
    #[arg(long)]
    pub runner: Option<PathBuf>,
}

/// `strato lambda package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub runner: RunnerArgs,
    /// Where to write the zip.
    #[arg(long, short, default_value = "strato-runner.zip")]
    pub output: PathBuf,
}

/// `strato lambda deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub runner: RunnerArgs,
    /// The function's name.
    #[arg(long, env = "STRATO_LAMBDA_FUNCTION")]
    pub name: String,
    /// The IAM role's ARN the function runs as (needed to create it).
    #[arg(long)]
    pub role: Option<String>,
    /// The function's memory in MB (1,769 MB is one vCPU).
    #[arg(long, default_value_t = 1769, value_parser = clap::value_parser!(i32).range(128..=10240))]
    pub memory: i32,
    /// The function's timeout in seconds; give drivers the same (STRATO_LAMBDA_TIMEOUT).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(i32).range(10..=900))]
    pub timeout: i32,
    /// The region (default: the AWS SDK's, from AWS_REGION or the profile).
    #[arg(long)]
    pub region: Option<String>,
    /// Lambda's endpoint (default: the AWS SDK's, or AWS_ENDPOINT_URL_LAMBDA).
    #[arg(long, env = "STRATO_LAMBDA_ENDPOINT")]
    pub endpoint_url: Option<String>,
}

/// `strato worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The state server, as this host reaches it: tls://HOST:PORT, or HOST:PORT in clear.
    #[arg(long, env = "STRATO_STATE")]
    pub connect: String,
    /// The server's token.
    #[arg(long, env = "STRATO_TOKEN")]
    pub token: Option<String>,
    /// The CA file (PEM) the server's TLS certificate is checked against (default: the
    /// system's CA store); its workers use it too.
    #[arg(long, env = "STRATO_TLS_CA")]
    pub ca: Option<PathBuf>,
    /// Workers to run at once (default: the cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub slots: Option<u32>,
    /// Where fetched executables are kept (default: ~/.cache/strato/exe).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// This host's name in reports (default: the host name and pid).
    #[arg(long)]
    pub name: Option<String>,
    /// The Python that runs Python drivers' workers: it must have the drivers' strato wheel
    /// installed (a venv's `bin/python`, say).
    #[arg(long, env = "STRATO_PYTHON", default_value = "python3")]
    pub python: PathBuf,
}

impl WorkerArgs {
    /// The daemon's options.
    pub fn options(&self) -> strato_worker::hosts::DaemonOptions {
        let mut options = strato_worker::hosts::DaemonOptions::new(&self.connect);
        options.token = self.token.clone();
        options.ca = self.ca.clone();
        if let Some(slots) = self.slots {
            options.slots = slots as usize;
        }
        if let Some(cache) = &self.cache {
            options.cache = cache.clone();
        }
        if let Some(name) = &self.name {
            options.name = name.clone();
        }
        options.python = self.python.clone();
        options
    }
}

/// Which state server to read, for `jobs`, `logs` and `plot`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server: HOST:PORT, tcp://HOST:PORT, unix:/PATH or unix:@NAME.
    #[arg(long, env = "STRATO_STATE")]
    pub connect: String,
    /// The server's token, if it has one.
    #[arg(long, env = "STRATO_TOKEN")]
    pub token: Option<String>,
}

impl ServerArgs {
    /// A connection to the server.
    pub fn client(&self) -> Result<strato_client::Client, strato_client::Error> {
        let options = strato_client::ConnectOptions {
            token: self.token.clone(),
            name: "strato command".into(),
            ..Default::default()
        };
        strato_client::Client::connect_with(&self.connect, options)
    }
}

/// `strato jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Show at most this many jobs, the most recent ones.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub last: u32,
}

/// `strato logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job: its id, the end of its id (`M003`), or `last`.
    pub job: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only the tasks that failed.
    #[arg(long)]
    pub failed: bool,
}

/// `strato plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The job: its id, the end of its id (`M003`), or `last`.
    pub job: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// The directory to write timeline.{png,svg} and histogram.{png,svg} into.
    #[arg(short = 'o', long = "output", default_value = ".")]
    pub output: PathBuf,
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
    /// The server's TLS certificate chain (PEM): with --tls-key, `--listen HOST:PORT`
    /// serves `tls://HOST:PORT`.
    #[arg(long, requires = "tls_key", env = "STRATO_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert", env = "STRATO_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse user-defined objects (`strato::shared!`) instead of running their methods in a
    /// process of the program that defines them, fetched by hash from its driver.
    #[arg(long)]
    pub no_user_objects: bool,
    /// Where executables fetched to host user-defined objects are kept
    /// (default: ~/.cache/strato/exe).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Bytes of shared memory for atomics, which clients on this machine (on a unix:
    /// address) operate on directly; 16 bytes an atomic, pages allocated as used. 0: every
    /// operation goes through the server.
    #[arg(long, default_value_t = strato_server::DEFAULT_ARENA_BYTES)]
    pub arena_bytes: usize,
}

impl ServeArgs {
    /// The server settings these flags ask for.
    pub fn config(&self) -> Result<strato_server::Config, strato_server::TlsError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(strato_server::ServerTls::from_pem_files(cert, key)?),
            _ => None,
        };
        let listen = match (&self.listen, &tls) {
            (Address::Tcp(hostport), Some(_)) => Address::Tls(hostport.clone()),
            (other, _) => other.clone(),
        };
        Ok(strato_server::Config {
            listen: vec![listen],
            token: self.token.clone(),
            max_frame: self.max_frame_size,
            ttl: Duration::from_secs_f64(self.ttl),
            tls,
            arena_bytes: self.arena_bytes,
            ..Default::default()
        })
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
        assert_eq!(args.config().unwrap().ttl, Duration::from_secs(3600));
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
    fn jobs_logs_and_plot_need_a_server() {
        let run = |args: &[&str]| {
            let all = [&["strato"], args].concat();
            Cli::try_parse_from(all)
        };
        // STRATO_STATE may name the server instead; the tests never set it.
        if std::env::var_os("STRATO_STATE").is_none() {
            assert!(run(&["jobs"]).is_err());
        }
        let cli = run(&["jobs", "--connect", "127.0.0.1:7070", "--last", "5"]).unwrap();
        let Command::Jobs(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.server.connect.as_str(), args.last),
            ("127.0.0.1:7070", 5)
        );
        assert!(run(&["jobs", "--connect", "x", "--last", "0"]).is_err());
    }

    #[test]
    fn logs_and_plot_take_a_job() {
        let cli = Cli::try_parse_from(["strato", "logs", "last", "--connect", "a:1", "--failed"]);
        let Command::Logs(args) = cli.unwrap().command else {
            panic!()
        };
        assert_eq!((args.job.as_str(), args.failed), ("last", true));
        assert!(Cli::try_parse_from(["strato", "logs", "--connect", "a:1"]).is_err());
        let cli = Cli::try_parse_from(["strato", "plot", "M000", "--connect", "a:1", "-o", "out"]);
        let Command::Plot(args) = cli.unwrap().command else {
            panic!()
        };
        assert_eq!(
            (args.job.as_str(), args.output),
            ("M000", PathBuf::from("out"))
        );
    }

    #[test]
    fn ping_needs_at_least_one_round() {
        let args = ["strato", "ping", "--connect", "127.0.0.1:1", "--count", "0"];
        assert!(Cli::try_parse_from(args).is_err());
    }
}
