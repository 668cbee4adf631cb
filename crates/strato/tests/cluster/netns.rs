//! Test hosts as network namespaces joined by veth pairs to a bridge (which lives in a
//! namespace of its own, so the machine's own network is never touched). Needs root and
//! `ip` (iproute2); [`Net::create`] says why when it cannot be used.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The namespaces of one test, removed when dropped.
pub struct Net {
    tag: String,
    hosts: Vec<String>,
}

/// The subnet the test hosts share (inside the test's own namespaces only).
const SUBNET: &str = "10.213.7";

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

impl Net {
    /// Namespaces for `hosts` (their names), each with one address on a shared bridge; an
    /// error saying why if network namespaces cannot be made here.
    pub fn create(hosts: &[&str]) -> Result<Net, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            tag,
            hosts: Vec::new(),
        };
        let bridge_ns = net.bridge_ns();
        ip(&["netns", "add", &bridge_ns])?;
        ip(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge_ns, "link", "set", "br0", "up"])?;
        for (index, host) in hosts.iter().enumerate() {
            net.add_host(host, index + 1)?;
        }
        Ok(net)
    }

    fn bridge_ns(&self) -> String {
        format!("stb{}", self.tag)
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("st{}{}", host, self.tag)
    }

    /// The bridge's end of `host`'s link.
    fn port(&self, host: &str) -> String {
        format!("p{}", self.index(host))
    }

    fn index(&self, host: &str) -> usize {
        self.hosts
            .iter()
            .position(|h| h == host)
            .expect("a host of this net")
            + 1
    }

    fn add_host(&mut self, host: &str, index: usize) -> Result<(), String> {
        self.hosts.push(host.to_string());
        let ns = self.ns(host);
        let bridge_ns = self.bridge_ns();
        let port = self.port(host);
        let inner = format!("v{}{}", index, self.tag);
        ip(&["netns", "add", &ns])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &inner,
        ])?;
        ip(&["-n", &ns, "link", "set", &inner, "netns", &bridge_ns])?;
        ip(&["-n", &bridge_ns, "link", "set", &inner, "name", &port])?;
        ip(&["-n", &bridge_ns, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &bridge_ns, "link", "set", &port, "up"])?;
        let address = format!("{}/24", self.address(host));
        ip(&["-n", &ns, "addr", "add", &address, "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])
    }

    /// `host`'s address.
    pub fn address(&self, host: &str) -> String {
        format!("{SUBNET}.{}", self.index(host))
    }

    /// The command prefix that runs a program on `host`.
    pub fn on(&self, host: &str) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.ns(host)]
    }

    /// Cuts (`false`) or heals (`true`) `host`'s link.
    pub fn link(&self, host: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.bridge_ns(),
            "link",
            "set",
            &self.port(host),
            state,
        ])
        .unwrap();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &self.ns(host)]);
        }
        let _ = ip(&["netns", "del", &self.bridge_ns()]);
    }
}

/// A CA made for one test, and a server certificate it signed for an IP address.
pub struct TestCa {
    /// The CA's certificate (PEM file).
    pub ca: std::path::PathBuf,
    /// The server's certificate (PEM file).
    pub cert: std::path::PathBuf,
    /// The server's key (PEM file).
    pub key: std::path::PathBuf,
}

impl TestCa {
    /// Makes the CA and a certificate for `ip` in `dir`.
    pub fn make(dir: &std::path::Path, ip: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::IpAddress(ip.parse().unwrap())];
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let files = TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, ca_cert.pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }
}
