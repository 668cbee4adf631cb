//! `strato k8s manifests` and `strato k8s dockerfile`.

use std::io::Read;

use anyhow::Context;

use crate::flags::{K8sCommand, ManifestsArgs};

/// Runs one `strato k8s` command.
pub fn run(command: K8sCommand) -> anyhow::Result<()> {
    match command {
        K8sCommand::Manifests(args) => manifests(args),
        K8sCommand::Dockerfile => {
            print!("{}", strato_k8s::DOCKERFILE);
            Ok(())
        }
    }
}

fn manifests(args: ManifestsArgs) -> anyhow::Result<()> {
    let token = match args.token {
        Some(token) => token,
        None => random_token()?,
    };
    let mut cluster = strato_k8s::Cluster::new(args.image, token);
    cluster.namespace = args.namespace;
    cluster.workers = args.workers;
    cluster.slots = args.slots;
    cluster.port = args.port;
    cluster.tls_secret = args.tls_secret;
    print!(
        "{}",
        strato_k8s::Manifests::for_cluster(&cluster).to_yaml()?
    );
    Ok(())
}

/// 32 random bytes from the kernel, as hex.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a token: pass --token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
