//! Reading `strato.toml` and the environment into checked settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ComputeKind;

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "STRATO_CONFIG";
/// The file looked for in the current directory when `STRATO_CONFIG` is unset.
pub const CONFIG_FILE: &str = "strato.toml";

/// The storage URL schemes `storage.url` accepts.
const STORAGE_SCHEMES: [&str; 5] = ["file", "memory", "s3", "http", "https"];

/// Where a process finds its state, compute and storage (see the [crate] docs).
///
/// ```
/// let settings = strato_config::Settings::parse("[state]\naddress = \"tcp://127.0.0.1:7070\"\n", "x.toml").unwrap();
/// assert_eq!(settings.state.address.as_deref(), Some("tcp://127.0.0.1:7070"));
/// assert_eq!(settings.compute.kind, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The state: `[state]`.
    pub state: StateSettings,
    /// The compute: `[compute]`.
    pub compute: ComputeSettings,
    /// The object storage: `[storage]`.
    pub storage: StorageSettings,
    /// `[lambda]`: the runner function `compute.kind = "lambda"` invokes.
    pub lambda: LambdaSettings,
    /// The file the settings came from, if any.
    pub file: Option<PathBuf>,
}

/// `[state]`: where the objects and task boards live.
///
/// ```
/// let state = strato_config::StateSettings::default();
/// assert!(state.address.is_none() && state.token.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StateSettings {
    /// `embedded`, `tls://host:port`, `tcp://host:port`, `unix:/path`, `unix:@name` or
    /// `redis://…`
    /// (`STRATO_STATE`).
    pub address: Option<String>,
    /// The state server's shared secret (`STRATO_TOKEN`).
    pub token: Option<String>,
    /// The CA file (PEM) a `tls://` server's certificate is checked against; unset, the
    /// system's CA store (`STRATO_TLS_CA`).
    pub ca: Option<String>,
}

/// `[compute]`: where the workers run.
///
/// ```
/// let compute = strato_config::ComputeSettings::default();
/// assert!(compute.kind.is_none() && compute.workers.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComputeSettings {
    /// The backend (`STRATO_COMPUTE`).
    pub kind: Option<ComputeKind>,
    /// Worker slots per executor (`STRATO_WORKERS`).
    pub workers: Option<usize>,
}

/// `[storage]`: the object storage of datasets and stored results.
///
/// ```
/// assert!(strato_config::StorageSettings::default().url.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StorageSettings {
    /// `file:///dir`, `memory://name`, `s3://bucket/prefix`, `http(s)://host/prefix`
    /// (`STRATO_STORAGE`).
    pub url: Option<String>,
}

/// `[lambda]`: the runner function the `lambda` compute kind invokes.
///
/// ```
/// let toml = "[lambda]\nfunction = \"strato-runner\"\ntimeout = 120\n";
/// let settings = strato_config::Settings::parse(toml, "strato.toml").unwrap();
/// assert_eq!(settings.lambda.function.as_deref(), Some("strato-runner"));
/// assert_eq!(settings.lambda.timeout, Some(120));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LambdaSettings {
    /// The function's name or ARN (`STRATO_LAMBDA_FUNCTION`).
    pub function: Option<String>,
    /// Lambda's endpoint, for an emulator or another partition (`STRATO_LAMBDA_ENDPOINT`,
    /// else the SDK's `AWS_ENDPOINT_URL_LAMBDA`).
    pub endpoint_url: Option<String>,
    /// The region (else the SDK's `AWS_REGION`).
    pub region: Option<String>,
    /// The function's configured timeout in seconds (`STRATO_LAMBDA_TIMEOUT`): an
    /// invocation stops taking tasks in time to finish before it.
    pub timeout: Option<u64>,
    /// The state's address as the function reaches it, if not `state.address`
    /// (`STRATO_LAMBDA_STATE`).
    pub state: Option<String>,
}

/// The file as written, before its values are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    state: StateSettings,
    #[serde(default)]
    compute: RawCompute,
    #[serde(default)]
    storage: StorageSettings,
    #[serde(default)]
    lambda: LambdaSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompute {
    kind: Option<String>,
    workers: Option<i64>,
}

/// Why the settings cannot be used.
///
/// ```
/// let error = strato_config::Settings::parse("[compute]\nworkers = 0\n", "my.toml").unwrap_err();
/// assert_eq!(error.to_string(), "`compute.workers` in my.toml: 0 is not a number of workers (at least 1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        reason: String,
    },
    /// The file is not valid TOML for these settings (an unknown key, a wrong type).
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, naming the key and its line.
        reason: String,
    },
    /// A value is not one the key accepts.
    #[error("`{key}` in {origin}: {reason}")]
    BadValue {
        /// The key (`compute.kind`).
        key: &'static str,
        /// The file or the environment variable it came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Settings {
    /// The settings of this process: `strato.toml` (see [`Settings::file_path`]) overridden
    /// by the environment.
    ///
    /// ```
    /// let settings = strato_config::Settings::load().unwrap();
    /// # let _ = settings;
    /// ```
    pub fn load() -> Result<Settings, ConfigError> {
        let mut settings = match Settings::file_path() {
            Some(path) => Settings::read(&path)?,
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    /// The configuration file of this process: `STRATO_CONFIG` if set, else `strato.toml` in
    /// the current directory if it exists.
    ///
    /// ```
    /// std::env::set_var("STRATO_CONFIG", "/etc/strato/cluster.toml");
    /// assert_eq!(strato_config::Settings::file_path().unwrap().to_str(), Some("/etc/strato/cluster.toml"));
    /// # std::env::remove_var("STRATO_CONFIG");
    /// ```
    pub fn file_path() -> Option<PathBuf> {
        match std::env::var_os(CONFIG_ENV) {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => Some(PathBuf::from(CONFIG_FILE)).filter(|p| p.is_file()),
        }
    }

    /// The settings in the file at `path` (no environment).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("strato.toml");
    /// std::fs::write(&path, "[storage]\nurl = \"memory://x\"\n").unwrap();
    /// let settings = strato_config::Settings::read(&path).unwrap();
    /// assert_eq!(settings.storage.url.as_deref(), Some("memory://x"));
    /// ```
    pub fn read(path: &Path) -> Result<Settings, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        let mut settings = Settings::parse(&text, &name)?;
        settings.file = Some(path.to_path_buf());
        Ok(settings)
    }

    /// The settings in `text`, which came from the file `name` (for messages).
    pub fn parse(text: &str, name: &str) -> Result<Settings, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: name.to_string(),
            reason: e.to_string().trim_end().to_string(),
        })?;
        let origin = || name.to_string();
        let settings = Settings {
            compute: ComputeSettings {
                kind: raw.compute.kind.map(|k| kind(&k, origin())).transpose()?,
                workers: raw
                    .compute
                    .workers
                    .map(|w| workers(w, origin()))
                    .transpose()?,
            },
            state: raw.state,
            storage: raw.storage,
            lambda: raw.lambda,
            file: None,
        };
        settings.check(origin)?;
        Ok(settings)
    }

    /// Overrides the settings with the environment's, read through `var`.
    ///
    /// ```
    /// let mut settings = strato_config::Settings::default();
    /// let env = |name: &str| (name == "STRATO_WORKERS").then(|| "3".to_string());
    /// settings.apply_env(env).unwrap();
    /// assert_eq!(settings.compute.workers, Some(3));
    /// ```
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(address) = set("STRATO_STATE") {
            check_state(&address, "STRATO_STATE".into())?;
            self.state.address = Some(address);
        }
        if let Some(token) = set("STRATO_TOKEN") {
            self.state.token = Some(token);
        }
        if let Some(ca) = set("STRATO_TLS_CA") {
            self.state.ca = Some(ca);
        }
        if let Some(name) = set("STRATO_COMPUTE") {
            self.compute.kind = Some(kind(&name, "STRATO_COMPUTE".into())?);
        }
        if let Some(count) = set("STRATO_WORKERS") {
            let count = count.parse::<i64>().map_err(|e| ConfigError::BadValue {
                key: "compute.workers",
                origin: "STRATO_WORKERS".into(),
                reason: format!("`{count}` is not a number: {e}"),
            })?;
            self.compute.workers = Some(workers(count, "STRATO_WORKERS".into())?);
        }
        if let Some(url) = set("STRATO_STORAGE") {
            check_storage(&url, "STRATO_STORAGE".into())?;
            self.storage.url = Some(url);
        }
        self.apply_lambda_env(&set)
    }

    fn apply_lambda_env(
        &mut self,
        set: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let lambda = &mut self.lambda;
        if let Some(function) = set("STRATO_LAMBDA_FUNCTION") {
            lambda.function = Some(function);
        }
        if let Some(url) = set("STRATO_LAMBDA_ENDPOINT").or_else(|| set("AWS_ENDPOINT_URL_LAMBDA"))
        {
            lambda.endpoint_url = Some(url);
        }
        if lambda.region.is_none() {
            lambda.region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"));
        }
        if let Some(timeout) = set("STRATO_LAMBDA_TIMEOUT") {
            let seconds = timeout.parse().ok().filter(|s| *s > 0);
            lambda.timeout = Some(seconds.ok_or_else(|| ConfigError::BadValue {
                key: "lambda.timeout",
                origin: "STRATO_LAMBDA_TIMEOUT".into(),
                reason: format!("`{timeout}` is not a number of seconds (at least 1)"),
            })?);
        }
        if let Some(state) = set("STRATO_LAMBDA_STATE") {
            check_state(&state, "STRATO_LAMBDA_STATE".into())?;
            lambda.state = Some(state);
        }
        Ok(())
    }

    /// The state address to connect to, `None` for the embedded server.
    ///
    /// ```
    /// let mut settings = strato_config::Settings::default();
    /// assert_eq!(settings.state_address(), None);
    /// settings.state.address = Some("embedded".into());
    /// assert_eq!(settings.state_address(), None);
    /// ```
    pub fn state_address(&self) -> Option<&str> {
        self.state.address.as_deref().filter(|a| *a != "embedded")
    }

    fn check(&self, origin: impl Fn() -> String) -> Result<(), ConfigError> {
        if let Some(address) = &self.state.address {
            check_state(address, origin())?;
        }
        if let Some(url) = &self.storage.url {
            check_storage(url, origin())?;
        }
        Ok(())
    }
}

fn kind(name: &str, origin: String) -> Result<ComputeKind, ConfigError> {
    name.parse().map_err(|reason| ConfigError::BadValue {
        key: "compute.kind",
        origin,
        reason,
    })
}

fn workers(count: i64, origin: String) -> Result<usize, ConfigError> {
    match usize::try_from(count) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(ConfigError::BadValue {
            key: "compute.workers",
            origin,
            reason: format!("{count} is not a number of workers (at least 1)"),
        }),
    }
}

fn check_state(address: &str, origin: String) -> Result<(), ConfigError> {
    if address == "embedded" {
        return Ok(());
    }
    address
        .parse::<strato_proto::Address>()
        .map(drop)
        .map_err(|e| ConfigError::BadValue {
            key: "state.address",
            origin,
            reason: e.to_string(),
        })
}

fn check_storage(url: &str, origin: String) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(scheme) if STORAGE_SCHEMES.contains(&scheme) => Ok(()),
        _ => Err(ConfigError::BadValue {
            key: "storage.url",
            origin,
            reason: format!(
                "`{url}` is not a storage URL (schemes: {})",
                STORAGE_SCHEMES.join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn a_full_file_parses() {
        let text = r#"
            [state]
            address = "redis://127.0.0.1:6379"
            token = "t"
            [compute]
            kind = "local"
            workers = 3
            [storage]
            url = "s3://bucket/prefix"
        "#;
        let settings = Settings::parse(text, "f.toml").unwrap();
        assert_eq!(settings.state.token.as_deref(), Some("t"));
        assert_eq!(settings.compute.kind, Some(ComputeKind::Local));
        assert_eq!(settings.storage.url.as_deref(), Some("s3://bucket/prefix"));
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        for text in [
            "[stat]\naddress = \"x\"\n",
            "[state]\nadress = \"x\"\n",
            "x = 1\n",
        ] {
            let error = Settings::parse(text, "/etc/strato.toml")
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("/etc/strato.toml: "), "{error}");
            assert!(error.contains("unknown field"), "{error}");
        }
    }

    #[test]
    fn bad_values_name_their_key_and_origin() {
        let cases = [
            (
                "[compute]\nkind = \"cloud\"\n",
                "`compute.kind` in f.toml: unknown compute kind",
            ),
            (
                "[state]\naddress = \"ftp://x\"\n",
                "`state.address` in f.toml",
            ),
            ("[storage]\nurl = \"/tmp\"\n", "`storage.url` in f.toml"),
            ("[compute]\nworkers = -2\n", "`compute.workers` in f.toml"),
            ("[compute]\nworkers = \"many\"\n", "f.toml: "),
        ];
        for (text, expected) in cases {
            let error = Settings::parse(text, "f.toml").unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut settings = Settings::parse("[compute]\nworkers = 2\n", "f.toml").unwrap();
        let vars = [
            ("STRATO_WORKERS", "5"),
            ("STRATO_STATE", "tcp://127.0.0.1:9"),
        ];
        settings.apply_env(env(&vars)).unwrap();
        assert_eq!(settings.compute.workers, Some(5));
        assert_eq!(settings.state_address(), Some("tcp://127.0.0.1:9"));
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let mut settings = Settings::default();
        let error = settings
            .apply_env(env(&[("STRATO_COMPUTE", "cloud")]))
            .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("`compute.kind` in STRATO_COMPUTE"));
        let error = settings
            .apply_env(env(&[("STRATO_WORKERS", "x")]))
            .unwrap_err();
        assert!(error.to_string().contains("STRATO_WORKERS"));
    }

    #[test]
    fn a_missing_file_named_by_the_variable_is_an_error() {
        let error = Settings::read(Path::new("/nonexistent/strato.toml")).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/strato.toml"));
    }
}
