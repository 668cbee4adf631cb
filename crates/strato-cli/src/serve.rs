//! `strato serve`: a state server in the foreground.

use std::io::Write;
use std::sync::Arc;

use strato_proto::Address;
use strato_worker::exe::ExeCache;
use strato_worker::objects::HostedObjects;

use crate::flags::ServeArgs;

/// Serves until Ctrl-C; prints `listening on <addr>` once ready.
///
/// Unless `--no-user-objects`, it also listens on a private abstract socket, through which
/// its own request loop fetches the executables that host user-defined objects.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut config = args.config()?;
    let objects = (!args.no_user_objects).then(|| {
        let hosted = Arc::new(HostedObjects::default());
        config.custom = Some(hosted.clone());
        let private = Address::Abstract(format!("strato-serve-{}", std::process::id()));
        config.listen.push(private.clone());
        (hosted, private)
    });
    let cache = ExeCache::new(args.cache.clone().unwrap_or_else(ExeCache::default_dir));
    let token = args.token.clone();
    runtime.block_on(async {
        let announce = |addresses: Vec<Address>| {
            if let Some((hosted, private)) = objects {
                serve_object_requests(hosted, &private, token, cache);
            }
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

/// Starts the loop that starts objects hosts, connected to this server at `private`, and
/// returns once it takes requests (so a driver never finds the server without it).
fn serve_object_requests(
    hosted: Arc<HostedObjects>,
    private: &Address,
    token: Option<String>,
    cache: ExeCache,
) {
    let address = private.to_string();
    let (started, ready) = std::sync::mpsc::channel();
    // The server runs on this runtime's worker threads; connect from a thread of its own.
    std::thread::spawn(move || {
        let options = strato_client::ConnectOptions {
            token,
            name: "strato serve: objects hosts".into(),
            ..Default::default()
        };
        let outcome = strato_client::Client::connect_with(&address, options)
            .and_then(|client| hosted.serve_requests(client, cache))
            .map(drop);
        let _ = started.send(outcome);
    });
    match ready.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("strato serve: user-defined objects are unavailable: {e}"),
        Err(_) => eprintln!("strato serve: user-defined objects are unavailable: no answer"),
    }
}
