//! The kinds of compute a process can get workers from.

/// Which backend gives an executor its workers (`compute.kind`, `STRATO_COMPUTE`).
///
/// ```
/// use strato_config::ComputeKind;
/// assert_eq!("local".parse::<ComputeKind>().unwrap(), ComputeKind::Local);
/// assert_eq!(ComputeKind::default().to_string(), "local");
/// assert!("cloud".parse::<ComputeKind>().unwrap_err().contains("local"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComputeKind {
    /// Child processes of the driver, on its machine.
    #[default]
    Local,
    /// Processes started by `strato worker --connect` daemons on any number of hosts.
    Hosts,
    /// Invocations of the strato runner function on AWS Lambda (or an emulator of its API).
    Lambda,
}

impl ComputeKind {
    /// Every kind.
    pub const ALL: [ComputeKind; 3] = [ComputeKind::Local, ComputeKind::Hosts, ComputeKind::Lambda];

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            ComputeKind::Local => "local",
            ComputeKind::Hosts => "hosts",
            ComputeKind::Lambda => "lambda",
        }
    }
}

impl std::fmt::Display for ComputeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ComputeKind {
    type Err = String;

    /// A kind by name; the error lists the known names.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ComputeKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = ComputeKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown compute kind `{name}` (known: {})",
                    known.join(", ")
                )
            })
    }
}
