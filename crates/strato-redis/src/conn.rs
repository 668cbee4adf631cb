//! Connections to Redis or Redis Cluster: a pool, because a call that waits holds its
//! connection in `BLPOP` for as long as it waits.

use std::sync::{Mutex, MutexGuard};

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{
    get_slot, MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
};
use redis::{ConnectionLike, RedisResult, Value};

/// A standalone server or a cluster.
enum Engine {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// One connection of either kind.
enum Conn {
    Single(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c.as_mut(),
        }
    }

    fn as_cluster(&mut self) -> Option<&mut ClusterConnection> {
        match self {
            Conn::Single(_) => None,
            Conn::Cluster(c) => Some(c.as_mut()),
        }
    }
}

/// Connections not in use, opened on demand.
pub(crate) struct Pool {
    engine: Engine,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// Connects to `url`, detecting a cluster from the node's `INFO cluster`.
    pub fn open(url: &str) -> RedisResult<Pool> {
        let client = redis::Client::open(url)?;
        let mut first = client.get_connection()?;
        let info: String = redis::cmd("INFO").arg("cluster").query(&mut first)?;
        let (engine, conn) = if info.contains("cluster_enabled:1") {
            let cluster = ClusterClient::new(vec![url])?;
            let conn = Conn::Cluster(Box::new(cluster.get_connection()?));
            (Engine::Cluster(cluster), conn)
        } else {
            (Engine::Single(client), Conn::Single(first))
        };
        Ok(Pool {
            engine,
            idle: Mutex::new(vec![conn]),
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.engine, Engine::Cluster(_))
    }

    /// Runs `f` on a connection of the pool (a new one if none is idle). A connection that
    /// failed is dropped, not returned.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> RedisResult<T> {
        self.with_conn(|conn| f(conn.as_dyn()))
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> RedisResult<T>) -> RedisResult<T> {
        let mut conn = match self.idle().pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&mut conn);
        let broken = result.as_ref().err().is_some_and(|e| {
            e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_unrecoverable_error()
        });
        if !broken {
            self.idle().push(conn);
        }
        result
    }

    /// Runs `cmd` on the node serving `key` (a command the cluster client cannot route by
    /// itself, such as `FCALL`).
    pub fn query_for_key<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &[u8],
    ) -> RedisResult<T> {
        self.with_conn(|conn| match conn.as_cluster() {
            Some(cluster) => {
                let route = Route::new(get_slot(key), SlotAddr::Master);
                let node = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                redis::from_redis_value(&cluster.route_command(cmd, node)?)
            }
            None => cmd.query(conn.as_dyn()),
        })
    }

    /// Sends `cmd` to every master and returns each one's reply.
    pub fn on_masters(&self, cmd: &redis::Cmd) -> RedisResult<Vec<Value>> {
        let mut conn = match self.idle().pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = match &mut conn {
            Conn::Single(c) => cmd.query::<Value>(c).map(|v| vec![v]),
            Conn::Cluster(c) => {
                let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                c.route_command(cmd, all).map(per_node)
            }
        };
        if result.is_ok() {
            self.idle().push(conn);
        }
        result
    }

    fn connect(&self) -> RedisResult<Conn> {
        Ok(match &self.engine {
            Engine::Single(client) => Conn::Single(client.get_connection()?),
            Engine::Cluster(cluster) => Conn::Cluster(Box::new(cluster.get_connection()?)),
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The replies of a command sent to several nodes, without the node names.
fn per_node(value: Value) -> Vec<Value> {
    match value {
        Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
        Value::Array(items) => items,
        other => vec![other],
    }
}
