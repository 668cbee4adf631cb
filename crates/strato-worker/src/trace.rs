//! Logging through `tracing`, for drivers and workers alike.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs a `tracing` subscriber writing what `RUST_LOG` selects to `writer` (in colour if
/// `ansi`), if `RUST_LOG` is set and the process has no subscriber yet; whether it installed
/// one.
///
/// ```
/// std::env::remove_var("RUST_LOG");
/// assert!(!strato_worker::trace::init_with(std::io::stderr, false));
/// ```
pub fn init_with<W>(writer: W, ansi: bool) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    if std::env::var_os("RUST_LOG").is_none() {
        return false;
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(writer)
        .with_ansi(ansi)
        .try_init()
        .is_ok()
}
