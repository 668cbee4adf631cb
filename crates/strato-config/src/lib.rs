//! Where a strato process finds its state, its compute and its storage.
//!
//! Three layers, each overriding the one before:
//!
//! 1. `strato.toml`, read from the file `STRATO_CONFIG` names, else from the current
//!    directory if one is there;
//! 2. the environment: `STRATO_STATE`, `STRATO_TOKEN`, `STRATO_TLS_CA`, `STRATO_COMPUTE`,
//!    `STRATO_WORKERS`, `STRATO_STORAGE`;
//! 3. the builders in code (`ExecutorBuilder`, `Client::connect`), which take their defaults
//!    from here.
//!
//! ```toml
//! [state]
//! address = "tls://10.0.0.1:7070"   # embedded (default) | tls://… | tcp://… | unix:… | redis://…
//! token = "a-long-random-secret"
//! ca = "/etc/strato/ca.pem"           # the CA of the server's certificate (default: the system's)
//!
//! [compute]
//! kind = "local"                      # local (default) | hosts
//! workers = 8                         # worker slots per executor (default: the cores)
//!
//! [storage]
//! url = "s3://bucket/prefix"          # file://… | memory://… | s3://… | http(s)://…
//! ```
//!
//! Unknown keys and bad values are errors that name the key and the file (or the variable).
//!
//! ```
//! use strato_config::Settings;
//!
//! let settings = Settings::parse("[compute]\nkind = \"local\"\nworkers = 4\n", "strato.toml").unwrap();
//! assert_eq!(settings.compute.workers, Some(4));
//!
//! let error = Settings::parse("[compute]\nworkerz = 4\n", "strato.toml").unwrap_err();
//! assert!(error.to_string().contains("workerz") && error.to_string().contains("strato.toml"));
//! ```

mod kinds;
mod settings;

pub use kinds::ComputeKind;
pub use settings::{
    ComputeSettings, ConfigError, LambdaSettings, Settings, StateSettings, StorageSettings,
    CONFIG_ENV, CONFIG_FILE,
};
