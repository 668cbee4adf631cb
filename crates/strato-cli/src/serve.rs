//! `strato serve`: a state server in the foreground.

use std::io::Write;

use crate::flags::ServeArgs;

/// Serves until Ctrl-C; prints `listening on <addr>` once ready.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = args.config()?;
    runtime.block_on(async {
        let announce = |addresses: Vec<strato_proto::Address>| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {}", addresses[0]);
            let _ = out.flush();
        };
        tokio::select! {
            served = strato_server::run(config, announce) => Ok(served?),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
