//! Listening, the handshake, and each connection's read and write loops.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use strato_proto::arena::Arena;
use strato_proto::pipe::SPIN;
use strato_proto::{
    decode, encode_frame, encode_frame_into, encode_frame_split, Address, FrameDecoder, Hello,
    HelloReply, Refusal, Request, ServerMessage, Welcome, DEFAULT_MAX_FRAME, MAGIC,
    PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, oneshot};

use crate::objects::CustomFactory;
use crate::shards::{shard_count, Table, Timer};
use crate::table::{ConnId, Factory, Outgoing, Relay};

/// How a server listens and what it allows.
///
/// ```
/// let config = strato_server::Config {
///     listen: vec!["tcp://127.0.0.1:0".parse().unwrap()],
///     ..Default::default()
/// };
/// assert_eq!(config.max_frame, 256 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<Address>,
    /// The shared secret every client must present; required beyond loopback.
    pub token: Option<String>,
    /// The largest frame accepted, in bytes.
    pub max_frame: usize,
    /// How long an object no live connection references survives unused.
    pub ttl: Duration,
    /// How long a new connection may take to say hello.
    pub handshake_timeout: Duration,
    /// The certificate `tls://` listeners present; required to listen on one.
    pub tls: Option<crate::ServerTls>,
    /// Makes user-defined objects; `None` refuses them (a server that does not run the
    /// user's binary cannot run their methods).
    pub custom: Option<Arc<dyn CustomFactory>>,
    /// The size of the shared-memory arena that holds atomics' values for clients on this
    /// machine (two-tier state, docs/two-tier.md); its pages are allocated as they are
    /// used. 0 keeps every value in the server's heap, reached only through the server.
    pub arena_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![Address::Tcp("127.0.0.1:0".into())],
            token: None,
            max_frame: DEFAULT_MAX_FRAME,
            ttl: Duration::from_secs(3600),
            handshake_timeout: Duration::from_secs(10),
            tls: None,
            custom: None,
            arena_bytes: DEFAULT_ARENA_BYTES,
        }
    }
}

/// The arena's default size: room for four million atomics (16 bytes each), of which only
/// the pages in use take memory.
pub const DEFAULT_ARENA_BYTES: usize = 64 << 20;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding an address failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: Address,
        /// The cause.
        source: std::io::Error,
    },
    /// A non-loopback address without a token.
    #[error("refusing to listen on {0} without a token: pass --token (or listen on loopback)")]
    Insecure(Address),
    /// The runtime could not start.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
}

struct Shared {
    table: Table,
    config: Config,
    arena: Option<Arc<Arena>>,
}

impl Shared {
    /// Starts the timers `timers` (each expires its parked call when it runs out).
    fn start_timers(self: &Arc<Self>, timers: Vec<Timer>) {
        for timer in timers {
            let shared = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timer.after).await;
                let more = shared.table.expire(timer);
                shared.start_timers(more);
            });
        }
    }
}

/// A server running on its own thread; dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    addresses: Vec<Address>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The first address it listens on, with the actual port.
    pub fn address(&self) -> &Address {
        &self.addresses[0]
    }

    /// Every address it listens on.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// Stops the server and waits for its thread; every connection closes.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts a server on a thread of this process (the embedded mode) and returns once it
/// listens.
///
/// ```
/// let server = strato_server::start(Default::default()).unwrap();
/// assert!(server.address().to_string().starts_with("tcp://127.0.0.1:"));
/// ```
pub fn start(config: Config) -> Result<ServerHandle, ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(embedded_threads())
        .thread_name("strato-server")
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("strato-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let on_ready = |addrs: Vec<Address>| drop(ready_tx.send(Ok(addrs)));
                let served = tokio::select! {
                    result = run(config, on_ready) => result,
                    _ = stop_rx => Ok(()),
                };
                if let Err(e) = served {
                    tracing::error!("state server stopped: {e}");
                }
            });
            runtime.shutdown_background();
        })
        .map_err(ServerError::Runtime)?;
    let addresses = match ready_rx.recv() {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(start_failure(thread)),
    };
    Ok(ServerHandle {
        addresses,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// How many threads the embedded server ([`start`]) runs: `STRATO_SERVER_THREADS` if set,
/// else half the machine's cores, at least one. The embedded server shares its machine with
/// the program and its local workers; on 2 cores one thread answered a 1 KiB queue round
/// trip between two workers in 65 µs where two took 74–94 µs (every reply to another
/// connection woke the other thread), with the same throughput over 16 connections
/// (docs/benchmarks.md).
///
/// ```
/// assert!(strato_server::embedded_threads() >= 1);
/// ```
pub fn embedded_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    threads_for(
        std::env::var("STRATO_SERVER_THREADS").ok().as_deref(),
        cores,
    )
}

fn threads_for(setting: Option<&str>, cores: usize) -> usize {
    match setting.and_then(|s| s.trim().parse::<usize>().ok()) {
        Some(threads) if threads > 0 => threads,
        _ => (cores / 2).max(1),
    }
}

#[cfg(test)]
mod threads {
    #[test]
    fn half_the_cores_unless_set() {
        use super::threads_for;
        assert_eq!(threads_for(None, 2), 1);
        assert_eq!(threads_for(None, 1), 1);
        assert_eq!(threads_for(None, 16), 8);
        assert_eq!(threads_for(Some("3"), 2), 3);
        assert_eq!(threads_for(Some("0"), 8), 4, "0 is not a thread count");
        assert_eq!(threads_for(Some("many"), 8), 4);
    }
}

/// The error of a server thread that ended before it listened.
fn start_failure(thread: std::thread::JoinHandle<()>) -> ServerError {
    let _ = thread.join();
    ServerError::Runtime(std::io::Error::other(
        "the server stopped before it listened (see the log)",
    ))
}

/// Serves until the future is dropped; calls `on_ready` with the bound addresses once it
/// listens.
pub async fn run(config: Config, on_ready: impl FnOnce(Vec<Address>)) -> Result<(), ServerError> {
    if config.token.is_none() {
        if let Some(open) = config.listen.iter().find(|a| !a.is_local()) {
            return Err(ServerError::Insecure(open.clone()));
        }
    }
    raise_descriptor_limit();
    let mut listeners = Vec::new();
    for address in &config.listen {
        listeners.push(Listener::bind(address, config.tls.as_ref()).await?);
    }
    let bound = listeners.iter().map(|l| l.address.clone()).collect();
    let arena = make_arena(config.arena_bytes);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let factory = Factory(config.custom.clone());
    let table = Table::new(shard_count(cores), factory, arena.clone());
    let shared = Arc::new(Shared {
        table,
        config,
        arena,
    });
    tokio::spawn(sweep_loop(shared.clone()));
    let mut accepts = tokio::task::JoinSet::new();
    for listener in listeners {
        accepts.spawn(listener.accept_loop(shared.clone()));
    }
    on_ready(bound);
    while accepts.join_next().await.is_some() {}
    Ok(())
}

/// Raises this process's soft limit on open descriptors to its hard limit: the server holds
/// a socket per connection and two per pipe direction, for every process it serves.
fn raise_descriptor_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the limit on open descriptors: {e}");
        }
    }
}

/// The shared-memory arena, unless disabled (0 bytes) or the system refuses one; without
/// it, every client goes through the server, as remote ones always do.
fn make_arena(bytes: usize) -> Option<Arc<Arena>> {
    if bytes == 0 {
        return None;
    }
    match Arena::create(bytes) {
        Ok(arena) => Some(Arc::new(arena)),
        Err(e) => {
            tracing::warn!("no shared-memory arena ({e}): local clients go through the server");
            None
        }
    }
}

async fn sweep_loop(shared: Arc<Shared>) {
    let period = (shared.config.ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        shared.table.sweep(shared.config.ttl);
    }
}

enum Socket {
    Tcp(tokio::net::TcpListener),
    Tls(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
    Unix(tokio::net::UnixListener),
}

struct Listener {
    socket: Socket,
    address: Address,
}

impl Listener {
    async fn bind(
        address: &Address,
        tls: Option<&crate::ServerTls>,
    ) -> Result<Listener, ServerError> {
        let fail = |source| ServerError::Bind {
            address: address.clone(),
            source,
        };
        let (socket, address) = match address {
            Address::Tcp(hostport) => {
                let listener = tokio::net::TcpListener::bind(hostport)
                    .await
                    .map_err(fail)?;
                let actual = listener.local_addr().map_err(fail)?;
                (Socket::Tcp(listener), Address::Tcp(actual.to_string()))
            }
            Address::Tls(hostport) => {
                let Some(tls) = tls else {
                    let why =
                        "a tls:// listener needs a certificate and key (--tls-cert, --tls-key)";
                    return Err(fail(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        why,
                    )));
                };
                let listener = tokio::net::TcpListener::bind(hostport)
                    .await
                    .map_err(fail)?;
                let actual = listener.local_addr().map_err(fail)?;
                let socket = Socket::Tls(listener, tls.acceptor.clone());
                (socket, Address::Tls(actual.to_string()))
            }
            Address::Unix(path) => {
                let listener = tokio::net::UnixListener::bind(path).map_err(fail)?;
                (Socket::Unix(listener), address.clone())
            }
            Address::Abstract(name) => (
                Socket::Unix(bind_abstract(name).map_err(fail)?),
                address.clone(),
            ),
            Address::Redis(_) => {
                let why = "a strato server cannot listen on a Redis URL";
                return Err(fail(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    why,
                )));
            }
        };
        Ok(Listener { socket, address })
    }

    async fn accept_loop(self, shared: Arc<Shared>) {
        loop {
            let accepted = match &self.socket {
                Socket::Tcp(l) => l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    let _ = strato_proto::end_when_unheard(&s);
                    tokio::spawn(serve_connection(shared.clone(), s, None))
                }),
                Socket::Tls(l, acceptor) => l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    let _ = strato_proto::end_when_unheard(&s);
                    tokio::spawn(serve_tls(shared.clone(), acceptor.clone(), s))
                }),
                Socket::Unix(l) => l.accept().await.map(|(s, _)| {
                    strato_proto::pipe::room_for_large_messages(&s);
                    // A second descriptor of the socket, to send the arena's on.
                    let local = s.as_fd().try_clone_to_owned().ok();
                    tokio::spawn(serve_connection(shared.clone(), s, local))
                }),
            };
            if let Err(e) = accepted {
                tracing::warn!("accept on {} failed: {e}", self.address);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn bind_abstract(name: &str) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
}

#[cfg(not(target_os = "linux"))]
fn bind_abstract(_name: &str) -> std::io::Result<tokio::net::UnixListener> {
    Err(std::io::Error::other(
        "abstract sockets exist only on Linux",
    ))
}

/// One TLS connection: its handshake (bounded like the hello), then as any other.
async fn serve_tls(
    shared: Arc<Shared>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) {
    let limit = shared.config.handshake_timeout;
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_connection(shared, tls, None).await,
        Ok(Err(e)) => tracing::debug!("a TLS handshake failed: {e}"),
        Err(_) => tracing::debug!("a TLS handshake took longer than {limit:?}"),
    }
}

/// One connection from hello to close. `local` is the socket's descriptor when it is a
/// Unix socket, whose peer shares this machine and may receive the arena.
async fn serve_connection<S>(shared: Arc<Shared>, stream: S, local: Option<OwnedFd>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = FrameDecoder::new(shared.config.max_frame);
    let hello = match handshake(&shared, &mut reader, &mut decoder).await {
        Ok(hello) => hello,
        Err(reason) => {
            tracing::info!("refused a connection: {reason}");
            let _ = write_message(&mut writer, &HelloReply::Refusal(Refusal { reason })).await;
            return;
        }
    };
    let (out, outgoing) = mpsc::unbounded_channel::<Outgoing>();
    let fatal = out.clone();
    // A second descriptor of the socket, for the writer to attach pipes' ends with.
    let attach_on = local.as_ref().and_then(|fd| fd.try_clone().ok());
    let conn = shared.table.connect(out);
    let arena = shared.arena.as_ref().filter(|_| hello.arena);
    let welcome = Welcome {
        version: PROTOCOL_VERSION,
        connection: u64::from(conn),
        max_frame: shared.config.max_frame as u64,
        arena: arena.filter(|_| local.is_some()).map(|a| a.len() as u64),
    };
    if welcome_client(&mut writer, &welcome, local, arena)
        .await
        .is_err()
    {
        let timers = shared.table.disconnect(conn);
        shared.start_timers(timers);
        return;
    }
    let writing = tokio::spawn(write_loop(writer, outgoing, attach_on));
    // Dropped when the connection closes: ends its pipes' receives that did not begin.
    let (open, closed) = tokio::sync::watch::channel(());
    let connection = Connection { conn, closed };
    if let Err(reason) = read_loop(&shared, &connection, &mut reader, &mut decoder).await {
        tracing::info!(conn, "closing a connection: {reason}");
        let _ = fatal.send(ServerMessage::Fatal(Refusal { reason }).into());
    }
    drop(fatal);
    drop(open);
    let timers = shared.table.disconnect(conn);
    shared.start_timers(timers);
    let _ = writing.await;
}

/// Sends the welcome; with the arena's descriptor attached when the client asked for it
/// on a Unix socket (a client that finds no descriptor goes on without the arena).
async fn welcome_client<W: AsyncWrite + Unpin>(
    writer: &mut W,
    welcome: &Welcome,
    local: Option<OwnedFd>,
    arena: Option<&Arc<Arena>>,
) -> std::io::Result<()> {
    let reply = HelloReply::Welcome(welcome.clone());
    let (Some(socket), Some(arena), Some(_)) = (local, arena, welcome.arena) else {
        return write_message(writer, &reply).await;
    };
    let frame = encode_frame(&reply).map_err(std::io::Error::other)?;
    let descriptor = arena.descriptor().as_fd();
    let sent = match strato_proto::arena::send_with_descriptor(socket.as_fd(), &frame, descriptor) {
        Ok(sent) => sent,
        Err(e) => {
            tracing::debug!("could not send the arena's descriptor: {e}");
            0
        }
    };
    writer.write_all(&frame[sent..]).await?;
    writer.flush().await
}

/// The start of every [`Hello`], whatever the client's version: read first, so that a
/// client of another version is told so rather than that its hello is malformed.
#[derive(serde::Deserialize)]
struct HelloHead {
    magic: [u8; 4],
    version: u32,
}

async fn handshake<R: AsyncRead + Unpin>(
    shared: &Shared,
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<Hello, String> {
    let limit = shared.config.handshake_timeout;
    let frame = match tokio::time::timeout(limit, read_frame(reader, decoder)).await {
        Ok(Ok(Some(frame))) => frame,
        Ok(Ok(None)) => return Err("closed before the handshake".into()),
        Ok(Err(e)) => return Err(format!("bad handshake: {e}")),
        Err(_) => return Err(format!("no handshake within {limit:?}")),
    };
    let head: HelloHead = decode(&frame).map_err(|e| format!("malformed handshake: {e}"))?;
    check_version(&head)?;
    let hello: Hello = decode(&frame).map_err(|e| format!("malformed handshake: {e}"))?;
    check_token(&hello, shared.config.token.as_deref())?;
    Ok(hello)
}

fn check_version(head: &HelloHead) -> Result<(), String> {
    if head.magic != MAGIC {
        return Err("not a strato client (bad magic bytes)".into());
    }
    if head.version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version mismatch: client speaks version {}, this server speaks version \
             {PROTOCOL_VERSION}; use a client and server of the same strato release",
            head.version
        ));
    }
    Ok(())
}

fn check_token(hello: &Hello, token: Option<&str>) -> Result<(), String> {
    match (token, hello.token.as_deref()) {
        (Some(_), None) => Err("this server requires a token".into()),
        (Some(want), Some(got)) if !same_secret(want, got) => Err("invalid token".into()),
        _ => Ok(()),
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Reads until one whole frame is decoded; `None` on a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<Option<Vec<u8>>, String> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(Some(frame));
        }
        if fill(reader, decoder).await? == 0 {
            return Ok(None);
        }
    }
}

/// Reads what has arrived into the decoder, through a bounded chunk: the buffer grows with
/// the bytes a peer actually sends, never with the length its header merely announces.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<usize, String> {
    let n = reader
        .read(decoder.spare(64 << 10))
        .await
        .map_err(|e| e.to_string())?;
    decoder.commit(n);
    Ok(n)
}

/// [`fill`], but for up to [`SPIN`] (a pipe receiver's spin, about one wake-up's cost) the
/// task yields and reads again instead of waiting to be woken. The runtime polls its sockets
/// between turns, so a request that arrives meanwhile, on this connection or another, is read
/// without waking the server's thread: in a ping-pong between two clients, each hop then
/// wakes one process instead of two (docs/benchmarks.md, "The server polls before it
/// sleeps").
async fn fill_soon<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<usize, String> {
    let until = std::time::Instant::now() + SPIN;
    loop {
        if let Some(read) =
            std::future::poll_fn(|cx| Poll::Ready(try_fill(cx, reader, decoder))).await
        {
            return read;
        }
        if std::time::Instant::now() >= until {
            return fill(reader, decoder).await;
        }
        tokio::task::yield_now().await;
    }
}

/// One attempt at [`fill`]: `None` if nothing has arrived.
fn try_fill<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Option<Result<usize, String>> {
    let mut buf = ReadBuf::new(decoder.spare(64 << 10));
    let Poll::Ready(read) = Pin::new(reader).poll_read(cx, &mut buf) else {
        return None;
    };
    let n = buf.filled().len();
    Some(match read {
        Ok(()) => {
            decoder.commit(n);
            Ok(n)
        }
        Err(e) => Err(e.to_string()),
    })
}

/// A connection as its requests' handlers see it.
struct Connection {
    conn: ConnId,
    /// Changes (fails) once the connection closed.
    closed: tokio::sync::watch::Receiver<()>,
}

/// Handles requests until the peer closes (Ok) or sends something invalid (Err: the reason).
async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Arc<Shared>,
    connection: &Connection,
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<(), String> {
    loop {
        while let Some(request) = decoder
            .decode_next::<Request>()
            .map_err(|e| e.to_string())?
        {
            dispatch(shared, connection, request);
        }
        if fill_soon(reader, decoder).await? == 0 {
            return match decoder.buffered() {
                0 => Ok(()),
                n => Err(format!(
                    "connection closed inside a frame ({n} bytes pending)"
                )),
            };
        }
    }
}

fn dispatch(shared: &Arc<Shared>, connection: &Connection, request: Request) {
    let (relay, timers) = shared.table.handle(connection.conn, request);
    if let Some(relay) = relay {
        tokio::spawn(run_relay(relay, connection.closed.clone()));
    }
    shared.start_timers(timers);
}

/// Sends or receives on a pipe's socket for a remote client, and answers it; a receive
/// that has not begun when the connection closes is dropped (the message stays for
/// another receiver).
async fn run_relay(relay: Relay, mut closed: tokio::sync::watch::Receiver<()>) {
    let Relay {
        caller,
        out,
        sockets,
        op,
    } = relay;
    let answer = match op {
        strato_proto::Op::Send(message, _) => Some(sockets.send(message).await),
        strato_proto::Op::Recv(wait) => {
            let gone = async move {
                let _ = closed.changed().await;
            };
            sockets.recv(wait, gone).await
        }
        _ => None,
    };
    if let Some(answer) = answer {
        let reply = strato_proto::Reply {
            id: caller.req,
            answer,
        };
        let _ = out.send(ServerMessage::Reply(reply).into());
    }
}

/// Writes what the table sends a connection: each message encoded here, outside the table's
/// lock, straight into a batch of up to 256 KiB that goes out in one write. A message with
/// a descriptor goes on its own, with the descriptor attached through `attach_on` (the
/// socket's own descriptor; `None` where it is not a Unix socket, and then the message
/// says that none came).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    attach_on: Option<OwnedFd>,
) {
    let mut batch = Vec::new();
    let mut pending = None;
    loop {
        let next = match pending.take() {
            Some(next) => next,
            None => match outgoing.recv().await {
                Some(next) => next,
                None => break,
            },
        };
        if let Some(descriptor) = next.descriptor {
            let sent = send_attached(&mut writer, next.message, descriptor, attach_on.as_ref());
            if sent.await.is_err() {
                return;
            }
            continue;
        }
        if let Some(large) = large_blob(&next.message) {
            if write_split(&mut writer, &next.message, large)
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        append(&next.message, &mut batch);
        while batch.len() < BATCH {
            match outgoing.try_recv() {
                Ok(next) if next.descriptor.is_some() || large_blob(&next.message).is_some() => {
                    pending = Some(next);
                    break;
                }
                Ok(next) => append(&next.message, &mut batch),
                Err(_) => break,
            }
        }
        let written = writer.write_all(&batch).await;
        // Keep a buffer that holds a 1 MiB reply (its pages stay faulted in), not the
        // largest reply ever sent.
        if batch.capacity() > KEPT {
            batch = Vec::new();
        } else {
            batch.clear();
        }
        // A TLS stream may keep the end of what was written in its session until flushed.
        if written.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// Writes one message with `descriptor` attached to its first bytes. If it cannot be
/// attached, the message goes without it, its answer saying so (`Attached { descriptor:
/// false }`): the client then uses the pipe through the server.
async fn send_attached<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: ServerMessage,
    descriptor: OwnedFd,
    attach_on: Option<&OwnedFd>,
) -> std::io::Result<()> {
    let frame = encode_frame(&message).map_err(std::io::Error::other)?;
    let mut sent = 0;
    if let Some(socket) = attach_on {
        // The socket is non-blocking: a full buffer is retried for a while (the client is
        // reading: it waits for this answer).
        for _ in 0..1000 {
            match strato_proto::arena::send_with_descriptor(
                socket.as_fd(),
                &frame,
                descriptor.as_fd(),
            ) {
                Ok(n) => {
                    sent = n;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => {
                    tracing::debug!("could not attach a pipe's descriptor: {e}");
                    break;
                }
            }
        }
    }
    if sent == 0 {
        let ServerMessage::Reply(mut reply) = message else {
            return writer.write_all(&frame).await;
        };
        reply.answer = strato_proto::Answer::Attached { descriptor: false };
        return write_message(writer, &ServerMessage::Reply(reply)).await;
    }
    writer.write_all(&frame[sent..]).await?;
    writer.flush().await
}

/// The value a reply carries when it is large enough to be written from where it lies
/// rather than copied into the batch (a 1 MiB item would be, once per hop).
fn large_blob(message: &ServerMessage) -> Option<&[u8]> {
    match message {
        ServerMessage::Reply(strato_proto::Reply {
            answer: strato_proto::Answer::Blob(blob),
            ..
        }) if blob.len() >= strato_proto::SPLIT_AT => Some(blob),
        _ => None,
    }
}

/// Writes `message` with its `large` value straight from the message: the frame's head,
/// the value and the frame's tail in vectored writes.
async fn write_split<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &ServerMessage,
    large: &[u8],
) -> std::io::Result<()> {
    let Some(split) = encode_frame_split(message, large).map_err(std::io::Error::other)? else {
        return write_message(writer, message).await;
    };
    let mut pieces = split.pieces();
    let mut left = &mut pieces[..];
    while !left.is_empty() {
        let written = writer.write_vectored(left).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut left, written);
    }
    writer.flush().await
}

/// How many bytes of frames a connection's writer gathers before it writes.
const BATCH: usize = 256 << 10;
/// The largest write buffer a connection keeps between writes.
const KEPT: usize = 2 << 20;

fn append(message: &ServerMessage, batch: &mut Vec<u8>) {
    if let Err(e) = encode_frame_into(message, batch) {
        tracing::error!("cannot encode a message for a client: {e}");
    }
}

async fn write_message<W: AsyncWrite + Unpin, T: serde::Serialize>(
    writer: &mut W,
    message: &T,
) -> std::io::Result<()> {
    let frame = encode_frame(message).map_err(std::io::Error::other)?;
    writer.write_all(&frame).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fill_soon_reads_what_arrives_during_its_spin_and_after_it() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
        client.write_all(b"now").await.unwrap();
        assert_eq!(fill_soon(&mut server, &mut decoder).await, Ok(3));
        let late = tokio::spawn(async move {
            tokio::time::sleep(SPIN * 20).await;
            client.write_all(b"later").await.unwrap();
            client
        });
        assert_eq!(fill_soon(&mut server, &mut decoder).await, Ok(5));
        assert_eq!(decoder.buffered(), 8);
        drop(late.await.unwrap());
        assert_eq!(
            fill_soon(&mut server, &mut decoder).await,
            Ok(0),
            "end of stream"
        );
    }
}
