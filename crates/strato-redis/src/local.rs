//! Private Redis servers for tests and benchmarks: a `redis-server` on a Unix socket in a
//! temporary directory, or a Redis Cluster of several masters on loopback ports. Each is
//! ready when started (it has logged so, or the cluster reports `cluster_state:ok`) and is
//! stopped on drop. `redis-server` must be on `PATH` (`scripts/test` installs it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a private Redis could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `redis-server` is missing or could not run.
    #[error("cannot start redis-server ({0}); run scripts/test, which installs it")]
    Spawn(std::io::Error),
    /// It exited before it was ready.
    #[error("redis-server exited before it was ready (see {0})")]
    Exited(PathBuf),
    /// The cluster never formed.
    #[error("the Redis Cluster did not form: {0}")]
    Cluster(String),
    /// A temporary directory could not be made.
    #[error("cannot prepare a directory for redis-server: {0}")]
    Dir(std::io::Error),
}

/// One `redis-server` on a Unix socket.
///
/// ```no_run
/// let redis = strato_redis::local::LocalRedis::start().unwrap();
/// let state = strato_redis::RedisState::connect(&redis.url()).unwrap();
/// assert_eq!(state.call(strato_proto::Call::Ping).unwrap(), strato_proto::Answer::Pong);
/// ```
pub struct LocalRedis {
    node: Node,
    socket: PathBuf,
}

impl LocalRedis {
    /// Starts one.
    pub fn start() -> Result<LocalRedis, StartError> {
        let dir = fresh_dir("redis")?;
        let socket = dir.join("redis.sock");
        let mut args = vec!["--port".to_string(), "0".into(), "--unixsocket".into()];
        args.push(socket.display().to_string());
        let node = Node::start(dir, &args)?;
        Ok(LocalRedis { node, socket })
    }

    /// Its URL, for `STRATO_STATE` or `Client::connect` (`redis+unix:///…`).
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.node.child.id()
    }
}

/// A Redis Cluster of `masters` masters (no replicas) on loopback TCP ports.
pub struct LocalCluster {
    nodes: Vec<Node>,
    /// Each node's client port and cluster-bus port.
    ports: Vec<(u16, u16)>,
}

impl LocalCluster {
    /// Starts the nodes, spreads the 16384 slots across them, and waits for the cluster.
    pub fn start(masters: usize) -> Result<LocalCluster, StartError> {
        let root = fresh_dir("cluster")?;
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for i in 0..masters {
            let dir = root.join(format!("node{i}"));
            std::fs::create_dir_all(&dir).map_err(StartError::Dir)?;
            let (node, port, bus) = start_cluster_node(dir)?;
            nodes.push(node);
            ports.push((port, bus));
        }
        let cluster = LocalCluster { nodes, ports };
        cluster
            .form()
            .map_err(|e| StartError::Cluster(e.to_string()))?;
        Ok(cluster)
    }

    /// The URL of its first node; clients discover the others.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0].0)
    }

    /// The number of masters.
    pub fn masters(&self) -> usize {
        self.nodes.len()
    }

    fn form(&self) -> redis::RedisResult<()> {
        let conns: redis::RedisResult<Vec<redis::Connection>> = self
            .ports
            .iter()
            .map(|(p, _)| redis::Client::open(format!("redis://127.0.0.1:{p}"))?.get_connection())
            .collect();
        let mut conns = conns?;
        let per = 16384 / conns.len();
        for (i, conn) in conns.iter_mut().enumerate() {
            let start = i * per;
            let end = if i + 1 == self.ports.len() {
                16383
            } else {
                start + per - 1
            };
            redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(start)
                .arg(end)
                .exec(conn)?;
        }
        for (port, bus) in &self.ports[1..] {
            let mut meet = redis::cmd("CLUSTER");
            meet.arg("MEET").arg("127.0.0.1").arg(*port).arg(*bus);
            meet.exec(&mut conns[0])?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for conn in conns.iter_mut() {
            loop {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(conn)?;
                let known: i64 = info
                    .lines()
                    .find_map(|l| l.strip_prefix("cluster_known_nodes:")?.trim().parse().ok())
                    .unwrap_or(0);
                if info.contains("cluster_state:ok") && known == self.ports.len() as i64 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err((redis::ErrorKind::IoError, "cluster_state never became ok").into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

/// One `redis-server` process and its directory; killed and removed on drop.
struct Node {
    child: Child,
    dir: PathBuf,
}

impl Node {
    fn start(dir: PathBuf, extra: &[String]) -> Result<Node, StartError> {
        let mut child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(StartError::Spawn)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("eady to accept connections"));
        if !ready {
            let _ = child.wait();
            return Err(StartError::Exited(dir));
        }
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Node { child, dir })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh_dir(what: &str) -> Result<PathBuf, StartError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("strato-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(StartError::Dir)?;
    Ok(dir)
}

/// How often a cluster node is tried on fresh ports before giving up.
const NODE_ATTEMPTS: usize = 10;

/// Starts a cluster-enabled node in `dir`; returns it with its client and bus ports.
///
/// A cluster node cannot listen on port 0 (its peers must be told its ports), so the
/// ports are picked first. Another process can bind a picked port before the node
/// does; the node then exits at start and is tried again on other ports.
fn start_cluster_node(dir: PathBuf) -> Result<(Node, u16, u16), StartError> {
    start_cluster_node_on(dir, spare_port)
}

/// [`start_cluster_node`] with the ports picked by `pick`.
fn start_cluster_node_on(
    dir: PathBuf,
    mut pick: impl FnMut() -> Result<u16, StartError>,
) -> Result<(Node, u16, u16), StartError> {
    let mut last = None;
    for _ in 0..NODE_ATTEMPTS {
        let (port, bus) = (pick()?, pick()?);
        if port == bus {
            continue;
        }
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus.to_string(),
            "--cluster-config-file",
            "nodes.conf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match Node::start(dir.clone(), &args) {
            Ok(node) => return Ok((node, port, bus)),
            Err(StartError::Exited(d)) => {
                // A half-started node may have written its cluster config: start afresh.
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).map_err(StartError::Dir)?;
                last = Some(StartError::Exited(d));
            }
            Err(other) => return Err(other),
        }
    }
    Err(last.unwrap_or(StartError::Exited(dir)))
}

/// The lowest port [`spare_port`] picks.
const SPARE_PORTS_FROM: u16 = 20_000;
/// One past the highest port [`spare_port`] picks: below Linux's default ephemeral range
/// (32768–60999), so no outgoing connection is given it between the pick and the bind.
const SPARE_PORTS_TO: u16 = 32_000;

/// A loopback port outside the ephemeral range that is free right now.
fn spare_port() -> Result<u16, StartError> {
    use std::hash::{BuildHasher, Hasher};
    let mut last = None;
    for _ in 0..64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let span = u64::from(SPARE_PORTS_TO - SPARE_PORTS_FROM);
        let port = SPARE_PORTS_FROM + (hasher.finish() % span) as u16;
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(StartError::Dir(last.expect("tried at least once")))
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Some(root) = self
            .nodes
            .first()
            .and_then(|n| n.dir.parent().map(Path::to_path_buf))
        {
            self.nodes.clear();
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_node_whose_port_is_taken_is_tried_again_on_other_ports() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut picks = vec![taken_port, spare_port().unwrap()].into_iter();
        let dir = fresh_dir("retry").unwrap();
        let (node, port, bus) = start_cluster_node_on(dir, || {
            Ok(picks.next().unwrap_or_else(|| spare_port().unwrap()))
        })
        .expect("the second try starts");
        assert_ne!(port, taken_port, "the node cannot have the taken port");
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection()
            .unwrap();
        let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
        assert_eq!(pong, "PONG");
        assert_ne!(port, bus);
        drop(node);
    }

    #[test]
    fn spare_ports_are_below_the_ephemeral_range() {
        for _ in 0..100 {
            let port = spare_port().unwrap();
            assert!((SPARE_PORTS_FROM..SPARE_PORTS_TO).contains(&port));
        }
    }
}
