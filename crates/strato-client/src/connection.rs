//! The multiplexed connection: writers share the socket under a lock, one reader thread
//! routes replies to the threads that wait for them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use strato_proto::{
    decode, encode_frame, Address, Answer, Call, FrameDecoder, Hello, HelloReply, Request,
    ServerMessage, DEFAULT_MAX_FRAME, MAGIC, PROTOCOL_VERSION,
};

use crate::stream::Stream;
use crate::Error;

/// How to connect.
///
/// ```
/// let options = strato_client::ConnectOptions::default().token("secret");
/// assert_eq!(options.token.as_deref(), Some("secret"));
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The server's shared secret, if it has one.
    pub token: Option<String>,
    /// How long the connection and handshake may take.
    pub timeout: Duration,
    /// A description of this client for the server's logs.
    pub name: String,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            token: std::env::var("STRATO_TOKEN").ok(),
            timeout: Duration::from_secs(10),
            name: format!("pid {}", std::process::id()),
        }
    }
}

impl ConnectOptions {
    /// Sets the token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// A connection to a state server (or to Redis holding the state); cheap to clone, shared
/// by all threads.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

/// Where the calls go.
#[derive(Clone)]
enum Transport {
    /// A strato state server, over one multiplexed connection.
    Server(Arc<Inner>),
    /// Redis or Redis Cluster, through [`strato_redis::RedisState`].
    Redis(Arc<RedisBackend>),
}

struct RedisBackend {
    address: Address,
    state: strato_redis::RedisState,
}

/// Redis's own limit on a value (`proto-max-bulk-len`, 512 MiB by default).
const REDIS_MAX_VALUE: usize = 512 << 20;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", self.address())
            .field("connection", &self.connection_id())
            .finish()
    }
}

struct Inner {
    address: Address,
    connection: u64,
    max_frame: usize,
    writer: Mutex<Stream>,
    calls: Arc<Calls>,
    next_id: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.writer).shutdown();
    }
}

/// Calls waiting for replies; shared with the reader thread.
#[derive(Default)]
struct Calls {
    table: Mutex<CallTable>,
}

#[derive(Default)]
struct CallTable {
    waiting: HashMap<u64, Arc<Slot>>,
    closed: Option<String>,
}

/// Where one reply is delivered.
#[derive(Default)]
struct Slot {
    answer: Mutex<Option<Result<Answer, Error>>>,
    ready: Condvar,
}

impl Slot {
    fn fill(&self, answer: Result<Answer, Error>) {
        *lock(&self.answer) = Some(answer);
        self.ready.notify_one();
    }

    fn wait(&self) -> Result<Answer, Error> {
        let mut answer = lock(&self.answer);
        loop {
            if let Some(answer) = answer.take() {
                return answer;
            }
            answer = self.ready.wait(answer).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// Connects to `address` (`tcp://host:port`, `host:port`, `unix:/path`, `unix:@name`),
    /// or to Redis (`redis://host:port`, `redis+unix:///path`; a cluster node is detected)
    /// which then holds the state in place of a strato server.
    pub fn connect(address: &str) -> Result<Client, Error> {
        Client::connect_with(address, ConnectOptions::default())
    }

    /// Connects with explicit options.
    pub fn connect_with(address: &str, options: ConnectOptions) -> Result<Client, Error> {
        let parsed: Address =
            address
                .parse()
                .map_err(|e: strato_proto::AddressError| Error::Connect {
                    address: address.into(),
                    reason: e.to_string(),
                })?;
        let fail = |reason: String| Error::Connect {
            address: address.into(),
            reason,
        };
        if let Address::Redis(url) = &parsed {
            let state = strato_redis::RedisState::connect(url).map_err(|e| fail(e.to_string()))?;
            let backend = RedisBackend {
                address: parsed,
                state,
            };
            return Ok(Client {
                transport: Transport::Redis(Arc::new(backend)),
            });
        }
        let mut stream = Stream::connect(&parsed).map_err(|e| fail(e.to_string()))?;
        let welcome = handshake(&mut stream, &options, address)?;
        let reader = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let calls = Arc::new(Calls::default());
        let reader_calls = calls.clone();
        let max_frame = welcome.max_frame as usize;
        std::thread::Builder::new()
            .name("strato-client-reader".into())
            .spawn(move || read_replies(reader, reader_calls, max_frame))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Client {
            transport: Transport::Server(Arc::new(Inner {
                address: parsed,
                connection: welcome.connection,
                max_frame,
                writer: Mutex::new(stream),
                calls,
                next_id: AtomicU64::new(1),
            })),
        })
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        match &self.transport {
            Transport::Server(inner) => &inner.address,
            Transport::Redis(redis) => &redis.address,
        }
    }

    /// This connection's id on the server (with Redis, this process's session).
    pub fn connection_id(&self) -> u64 {
        match &self.transport {
            Transport::Server(inner) => inner.connection,
            Transport::Redis(redis) => redis.state.session(),
        }
    }

    /// The largest frame the server accepts.
    pub fn max_frame(&self) -> usize {
        match &self.transport {
            Transport::Server(inner) => inner.max_frame,
            Transport::Redis(_) => REDIS_MAX_VALUE,
        }
    }

    /// Sends `call` and blocks until its answer. A server-side error answer becomes
    /// [`Error::Server`].
    pub fn call(&self, call: Call) -> Result<Answer, Error> {
        let inner = match &self.transport {
            Transport::Server(inner) => inner,
            Transport::Redis(redis) => return redis.call(call),
        };
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        {
            let mut table = lock(&inner.calls.table);
            if let Some(reason) = &table.closed {
                return Err(Error::ConnectionLost(reason.clone()));
            }
            table.waiting.insert(id, slot.clone());
        }
        if let Err(e) = send(inner, &Request { id, call }) {
            lock(&inner.calls.table).waiting.remove(&id);
            return Err(e);
        }
        match slot.wait()? {
            Answer::Error { kind, message } => Err(Error::Server { kind, message }),
            answer => Ok(answer),
        }
    }

    /// Sends `call` without waiting for (or receiving) an answer. (With Redis, the call
    /// runs before this returns; its answer is dropped.)
    pub fn cast(&self, call: Call) -> Result<(), Error> {
        match &self.transport {
            Transport::Server(inner) => send(inner, &Request { id: 0, call }),
            Transport::Redis(redis) => redis.cast(call),
        }
    }

    /// Sends several calls without waiting for answers, in order and in one write: cheaper
    /// than a [`Client::cast`] each. Nothing is sent if one of them is too large.
    pub fn cast_all(&self, calls: impl IntoIterator<Item = Call>) -> Result<(), Error> {
        let inner = match &self.transport {
            Transport::Server(inner) => inner,
            Transport::Redis(redis) => {
                return redis
                    .state
                    .cast_all(calls)
                    .map_err(|e| Error::ConnectionLost(e.to_string()))
            }
        };
        let mut bytes = Vec::new();
        for call in calls {
            bytes.extend(frame(inner, &Request { id: 0, call })?);
        }
        write(inner, &bytes)
    }
}

impl RedisBackend {
    fn call(&self, call: Call) -> Result<Answer, Error> {
        match self.state.call(call) {
            Ok(Answer::Error { kind, message }) => Err(Error::Server { kind, message }),
            Ok(answer) => Ok(answer),
            Err(e) => Err(Error::ConnectionLost(e.to_string())),
        }
    }

    fn cast(&self, call: Call) -> Result<(), Error> {
        match self.call(call) {
            Err(Error::ConnectionLost(reason)) => Err(Error::ConnectionLost(reason)),
            _ => Ok(()),
        }
    }
}

fn send(inner: &Inner, request: &Request) -> Result<(), Error> {
    let frame = frame(inner, request)?;
    write(inner, &frame)
}

/// Encodes one request, refusing it if the server would.
fn frame(inner: &Inner, request: &Request) -> Result<Vec<u8>, Error> {
    let frame = encode_frame(request).map_err(|e| Error::Codec(e.to_string()))?;
    let size = frame.len() - strato_proto::HEADER_LEN;
    if size > inner.max_frame {
        return Err(Error::TooLarge {
            size,
            max: inner.max_frame,
        });
    }
    Ok(frame)
}

fn write(inner: &Inner, bytes: &[u8]) -> Result<(), Error> {
    let mut writer = lock(&inner.writer);
    writer
        .write_all(bytes)
        .map_err(|e| Error::ConnectionLost(e.to_string()))
}

fn handshake(
    stream: &mut Stream,
    options: &ConnectOptions,
    address: &str,
) -> Result<strato_proto::Welcome, Error> {
    let fail = |reason: String| Error::Connect {
        address: address.into(),
        reason,
    };
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        token: options.token.clone(),
        client: options.name.clone(),
    };
    let frame = encode_frame(&hello).map_err(|e| fail(e.to_string()))?;
    stream.write_all(&frame).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(options.timeout))
        .map_err(|e| fail(e.to_string()))?;
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
    let payload = read_frame(stream, &mut decoder).map_err(fail)?;
    stream
        .set_read_timeout(None)
        .map_err(|e| fail(e.to_string()))?;
    match decode::<HelloReply>(&payload).map_err(|e| fail(e.to_string()))? {
        HelloReply::Welcome(welcome) => Ok(welcome),
        HelloReply::Refusal(refusal) => Err(Error::Refused {
            address: address.into(),
            reason: refusal.reason,
        }),
    }
}

fn read_frame(stream: &mut Stream, decoder: &mut FrameDecoder) -> Result<Vec<u8>, String> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(frame);
        }
        let read = stream.read(decoder.spare(64 << 10));
        decoder.commit(*read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The reader thread: routes each reply to its slot until the connection ends, then fails
/// every call still waiting.
fn read_replies(mut stream: Stream, calls: Arc<Calls>, max_frame: usize) {
    let mut decoder = FrameDecoder::new(max_frame.max(DEFAULT_MAX_FRAME));
    let reason = loop {
        let frame = match read_frame(&mut stream, &mut decoder) {
            Ok(frame) => frame,
            Err(reason) => break reason,
        };
        match decode::<ServerMessage>(&frame) {
            Ok(ServerMessage::Reply(reply)) => deliver(&calls, reply.id, Ok(reply.answer)),
            Ok(ServerMessage::Fatal(refusal)) => {
                break format!("the server closed it: {}", refusal.reason)
            }
            Err(e) => break format!("malformed reply: {e}"),
        }
    };
    let mut table = lock(&calls.table);
    table.closed = Some(reason.clone());
    for (_, slot) in table.waiting.drain() {
        slot.fill(Err(Error::ConnectionLost(reason.clone())));
    }
}

fn deliver(calls: &Calls, id: u64, answer: Result<Answer, Error>) {
    let slot = lock(&calls.table).waiting.remove(&id);
    if let Some(slot) = slot {
        slot.fill(answer);
    }
}
