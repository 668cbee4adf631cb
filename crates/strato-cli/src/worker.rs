//! `strato worker`: a worker host daemon.

use std::io::Write;

use crate::flags::WorkerArgs;

/// Serves the hosts board until refused; prints `strato worker: host NAME ready …` on
/// standard output each time it joined (the readiness signal tests wait for).
pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let daemon = strato_worker::hosts::Daemon::new(args.options());
    daemon.run(|options| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "strato worker: host {} ready on {} with {} slots",
            options.name, options.connect, options.slots
        );
        let _ = out.flush();
    })?;
    Ok(())
}
