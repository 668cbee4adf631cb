//! The process's default connection: the state server every `new()` uses.
//!
//! The first use reads `state.address` in `strato.toml`, overridden by `STRATO_STATE`: an
//! address (`tcp://host:port`, `unix:/path`, `unix:@name`, `redis://…`) connects there
//! (with `state.token` or `STRATO_TOKEN`); unset or `embedded` starts a state server on a
//! thread of this process, listening on a private Unix socket that child processes can reach
//! through [`state_address`].

use std::sync::{Mutex, OnceLock};

use strato_client::{Client, Error};
use strato_server::ServerHandle;

/// The environment variable that selects the state server.
pub const STATE_ENV: &str = "STRATO_STATE";

static DEFAULT: OnceLock<Result<Client, Error>> = OnceLock::new();
static EMBEDDED: Mutex<Option<ServerHandle>> = Mutex::new(None);

/// The process's default client, connecting (or starting the embedded server) on first use.
///
/// ```
/// let client = strato::client().unwrap();
/// assert!(strato::state_address().is_some());
/// # drop(client);
/// ```
pub fn client() -> Result<Client, Error> {
    DEFAULT.get_or_init(connect_default).clone()
}

/// Makes `client` the process's default, if none was chosen yet; returns whether it was
/// taken.
///
/// ```
/// let server = strato_server::start(Default::default()).unwrap();
/// let client = strato::Client::connect(&server.address().to_string()).unwrap();
/// let taken = strato::set_client(client);
/// # let _ = taken;
/// ```
pub fn set_client(client: Client) -> bool {
    DEFAULT.set(Ok(client)).is_ok()
}

/// The address of the default state server, once connected: what to hand a child process
/// in `STRATO_STATE` so that it shares this process's objects.
pub fn state_address() -> Option<String> {
    match DEFAULT.get() {
        Some(Ok(client)) => Some(client.address().to_string()),
        _ => None,
    }
}

fn connect_default() -> Result<Client, Error> {
    let settings = strato_config::Settings::load().map_err(|e| Error::Connect {
        address: "(configuration)".into(),
        reason: e.to_string(),
    })?;
    let Some(address) = settings.state_address() else {
        return start_embedded();
    };
    let mut options = strato_client::ConnectOptions::default();
    if let Some(token) = &settings.state.token {
        options.token = Some(token.clone());
    }
    if let Some(ca) = &settings.state.ca {
        options.ca = Some(ca.into());
    }
    Client::connect_with(address, options)
}

fn start_embedded() -> Result<Client, Error> {
    let name = format!("strato-{}-{}", std::process::id(), unique_suffix());
    let config = strato_server::Config {
        listen: vec![strato_proto::Address::Abstract(name)],
        custom: Some(std::sync::Arc::new(crate::shared::UserTypes)),
        ..Default::default()
    };
    let server = strato_server::start(config).map_err(|e| Error::Connect {
        address: "embedded".into(),
        reason: e.to_string(),
    })?;
    let client = Client::connect(&server.address().to_string())?;
    *EMBEDDED.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
    Ok(client)
}

/// A suffix unique to this process and moment.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
