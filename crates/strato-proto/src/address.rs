//! Where a state server listens or a client connects: `tcp://host:port`, `unix:/path`,
//! (Linux) `unix:@name` for an abstract socket that leaves no file behind, or a Redis URL
//! (`redis://host:port`, `redis+unix:///path`) when Redis holds the state instead.

use std::fmt;
use std::str::FromStr;

/// A state server address.
///
/// ```
/// use strato_proto::Address;
/// let a: Address = "tcp://127.0.0.1:7000".parse().unwrap();
/// assert_eq!(a.to_string(), "tcp://127.0.0.1:7000");
/// let b: Address = "127.0.0.1:0".parse().unwrap();
/// assert_eq!(b, Address::Tcp("127.0.0.1:0".into()));
/// let c: Address = "unix:@strato-test".parse().unwrap();
/// assert!(c.is_local());
/// let d: Address = "redis://127.0.0.1:6379".parse().unwrap();
/// assert_eq!(d, Address::Redis("redis://127.0.0.1:6379".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `host:port` over TCP.
    Tcp(String),
    /// `host:port` over TCP with TLS (`tls://host:port`): the server proves its name with a
    /// certificate, and everything sent, the token first, is encrypted.
    Tls(String),
    /// A Unix socket at this path.
    Unix(String),
    /// A Linux abstract Unix socket of this name.
    Abstract(String),
    /// A Redis server or cluster (the whole URL): the state lives in Redis, no strato server.
    Redis(String),
}

/// An address that could not be parsed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid address `{0}`: expected tcp://HOST:PORT, HOST:PORT, tls://HOST:PORT, unix:/PATH, \
     unix:@NAME, redis://HOST:PORT or redis+unix:///PATH"
)]
pub struct AddressError(pub String);

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || AddressError(text.to_string());
        let redis = ["redis://", "rediss://", "redis+unix://"];
        if redis.iter().any(|scheme| text.starts_with(scheme)) {
            return Ok(Address::Redis(text.to_string()));
        }
        if let Some(name) = text.strip_prefix("unix:@") {
            return non_empty(name).map(Address::Abstract).ok_or_else(bad);
        }
        if let Some(path) = text.strip_prefix("unix://").or(text.strip_prefix("unix:")) {
            return non_empty(path).map(Address::Unix).ok_or_else(bad);
        }
        if let Some(hostport) = text.strip_prefix("tls://") {
            return valid_hostport(hostport).map(Address::Tls).ok_or_else(bad);
        }
        let hostport = text.strip_prefix("tcp://").unwrap_or(text);
        valid_hostport(hostport).map(Address::Tcp).ok_or_else(bad)
    }
}

fn valid_hostport(hostport: &str) -> Option<String> {
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Some(hostport.to_string())
        }
        _ => None,
    }
}

/// Whether the host of `host:port` is this machine.
fn is_loopback(hostport: &str) -> bool {
    let host = hostport.rsplit_once(':').map_or("", |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hostport) => write!(f, "tcp://{hostport}"),
            Address::Tls(hostport) => write!(f, "tls://{hostport}"),
            Address::Unix(path) => write!(f, "unix:{path}"),
            Address::Abstract(name) => write!(f, "unix:@{name}"),
            Address::Redis(url) => f.write_str(url),
        }
    }
}

impl Address {
    /// Whether only this machine can reach it (a Unix socket or a loopback TCP address).
    pub fn is_local(&self) -> bool {
        match self {
            Address::Tcp(hostport) | Address::Tls(hostport) => is_loopback(hostport),
            Address::Unix(_) | Address::Abstract(_) => true,
            Address::Redis(url) => {
                let rest = url.split_once("://").map_or("", |(_, rest)| rest);
                rest.starts_with('/')
                    || ["localhost", "127.", "[::1]"]
                        .iter()
                        .any(|host| rest.starts_with(host) || rest.contains(&format!("@{host}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_addresses_parse_print_and_know_loopback() {
        let remote: Address = "tls://10.0.0.1:7070".parse().unwrap();
        assert_eq!(remote, Address::Tls("10.0.0.1:7070".into()));
        assert_eq!(remote.to_string(), "tls://10.0.0.1:7070");
        assert!(!remote.is_local());
        assert!("tls://127.0.0.1:1".parse::<Address>().unwrap().is_local());
        assert!("tls://nohost".parse::<Address>().is_err());
        assert!("tls://:7070".parse::<Address>().is_err());
    }
}
