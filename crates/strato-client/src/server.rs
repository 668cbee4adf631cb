//! The strato state server backend: one multiplexed connection per process. Writers share
//! the socket under a lock; one reader thread routes replies to the threads that wait for them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use strato_proto::{
    encode_frame, encode_frame_into, Address, Answer, Call, FrameDecoder, Hello, HelloReply,
    Request, ServerMessage, DEFAULT_MAX_FRAME, MAGIC, PROTOCOL_VERSION,
};

use crate::stream::Stream;
use crate::{ConnectOptions, Error, LocalArena, StateBackend};

/// A connection to a strato state server (`strato serve` or an embedded one).
pub(crate) struct ServerConnection {
    address: Address,
    connection: u64,
    max_frame: usize,
    writer: Mutex<Writer>,
    calls: Arc<Calls>,
    next_id: AtomicU64,
    arena: Option<Arc<LocalArena>>,
}

impl Drop for ServerConnection {
    fn drop(&mut self) {
        lock(&self.writer).stream.shutdown();
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
    /// The arena this connection mapped, closed with the connection.
    arena: Option<Arc<LocalArena>>,
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

impl ServerConnection {
    /// Connects and shakes hands; starts the reader thread.
    pub fn connect(address: Address, options: &ConnectOptions) -> Result<ServerConnection, Error> {
        let text = address.to_string();
        let fail = |reason: String| Error::Connect {
            address: text.clone(),
            reason,
        };
        let mut stream = Stream::connect(&address, options).map_err(|e| fail(e.to_string()))?;
        let (welcome, arena) = handshake(&mut stream, options, &text)?;
        let reader = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let calls = Arc::new(Calls::default());
        lock(&calls.table).arena = arena.clone();
        let reader_calls = calls.clone();
        let max_frame = welcome.max_frame as usize;
        std::thread::Builder::new()
            .name("strato-client-reader".into())
            .spawn(move || read_replies(reader, reader_calls, max_frame))
            .map_err(|e| fail(e.to_string()))?;
        Ok(ServerConnection {
            address,
            connection: welcome.connection,
            max_frame,
            writer: Mutex::new(Writer {
                stream,
                buffer: Vec::new(),
            }),
            calls,
            next_id: AtomicU64::new(1),
            arena,
        })
    }
}

impl StateBackend for ServerConnection {
    fn address(&self) -> &Address {
        &self.address
    }

    fn session(&self) -> u64 {
        self.connection
    }

    fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn call(&self, call: Call) -> Result<Answer, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        {
            let mut table = lock(&self.calls.table);
            if let Some(reason) = &table.closed {
                return Err(Error::ConnectionLost(reason.clone()));
            }
            table.waiting.insert(id, slot.clone());
        }
        if let Err(e) = send(self, &Request { id, call }) {
            lock(&self.calls.table).waiting.remove(&id);
            return Err(e);
        }
        slot.wait()
    }

    fn cast(&self, call: Call) -> Result<(), Error> {
        send(self, &Request { id: 0, call })
    }

    fn cast_all(&self, calls: Vec<Call>) -> Result<(), Error> {
        let requests: Vec<Request> = calls
            .into_iter()
            .map(|call| Request { id: 0, call })
            .collect();
        send_all(self, &requests)
    }

    fn arena(&self) -> Option<&Arc<LocalArena>> {
        self.arena.as_ref()
    }
}

fn send(inner: &ServerConnection, request: &Request) -> Result<(), Error> {
    send_all(inner, std::slice::from_ref(request))
}

/// Encodes the requests into the connection's write buffer (kept from call to call, so a
/// large payload finds its pages already there) and writes them in one go; refuses any the
/// server would refuse, sending none.
fn send_all(inner: &ServerConnection, requests: &[Request]) -> Result<(), Error> {
    let mut writer = lock(&inner.writer);
    let Writer { stream, buffer } = &mut *writer;
    buffer.clear();
    for request in requests {
        let start = buffer.len();
        encode_frame_into(request, buffer).map_err(|e| Error::Codec(e.to_string()))?;
        let size = buffer.len() - start - strato_proto::HEADER_LEN;
        if size > inner.max_frame {
            buffer.clear();
            return Err(Error::TooLarge {
                size,
                max: inner.max_frame,
            });
        }
    }
    let written = stream.write_all(buffer);
    if buffer.capacity() > KEPT_BUFFER {
        *buffer = Vec::new();
    }
    written.map_err(|e| Error::ConnectionLost(e.to_string()))
}

/// The largest write buffer a connection keeps between calls: one that holds a 1 MiB value.
const KEPT_BUFFER: usize = 2 << 20;

/// The writing half of a connection and its reusable buffer.
struct Writer {
    stream: Stream,
    buffer: Vec<u8>,
}

/// Says hello and reads the welcome; on a Unix socket, asks for the server's arena and maps
/// it if its descriptor came (any failure there leaves this connection remote-only).
fn handshake(
    stream: &mut Stream,
    options: &ConnectOptions,
    address: &str,
) -> Result<(strato_proto::Welcome, Option<Arc<LocalArena>>), Error> {
    let fail = |reason: String| Error::Connect {
        address: address.into(),
        reason,
    };
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        token: options.token.clone(),
        client: options.name.clone(),
        arena: options.two_tier && matches!(stream, Stream::Unix(_)),
    };
    let frame = encode_frame(&hello).map_err(|e| fail(e.to_string()))?;
    stream.write_all(&frame).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(options.timeout))
        .map_err(|e| fail(e.to_string()))?;
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
    let mut descriptor = None;
    let reply = read_welcome(stream, &mut decoder, &mut descriptor).map_err(fail)?;
    stream
        .set_read_timeout(None)
        .map_err(|e| fail(e.to_string()))?;
    match reply {
        HelloReply::Welcome(welcome) => {
            let arena = map_arena(&welcome, descriptor);
            Ok((welcome, arena))
        }
        HelloReply::Refusal(refusal) => Err(Error::Refused {
            address: address.into(),
            reason: refusal.reason,
        }),
    }
}

/// The server's answer to the hello, with the descriptor that came with it, if any.
fn read_welcome(
    stream: &mut Stream,
    decoder: &mut FrameDecoder,
    descriptor: &mut Option<std::os::fd::OwnedFd>,
) -> Result<HelloReply, String> {
    let Stream::Unix(socket) = stream else {
        return read_message(stream, decoder, FrameDecoder::decode_next::<HelloReply>);
    };
    use std::os::fd::AsFd;
    loop {
        match decoder.decode_next::<HelloReply>() {
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let spare = decoder.spare(64 << 10);
        let (n, fd) = strato_proto::arena::recv_with_descriptor(socket.as_fd(), spare)
            .map_err(|e| e.to_string())?;
        decoder.commit(n);
        if fd.is_some() {
            *descriptor = fd;
        }
        if n == 0 {
            return Err("the server closed the connection".into());
        }
    }
}

/// Maps the arena the welcome announced, from the descriptor that came with it.
fn map_arena(
    welcome: &strato_proto::Welcome,
    descriptor: Option<std::os::fd::OwnedFd>,
) -> Option<Arc<LocalArena>> {
    let (Some(len), Some(fd)) = (welcome.arena, descriptor) else {
        return None;
    };
    let len = usize::try_from(len).ok()?;
    match strato_proto::arena::Arena::map(fd, len) {
        Ok(map) => Some(Arc::new(LocalArena::new(map))),
        Err(e) => {
            eprintln!(
                "strato: cannot map the state server's arena ({e}); atomics go through the server"
            );
            None
        }
    }
}

/// The next message from the server, decoded by `next` (a [`FrameDecoder::decode_next`])
/// where it was read, without a copy of the frame first.
fn read_message<T>(
    stream: &mut Stream,
    decoder: &mut FrameDecoder,
    next: fn(&mut FrameDecoder) -> Result<Option<T>, strato_proto::FrameError>,
) -> Result<T, String> {
    loop {
        match next(decoder) {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(strato_proto::FrameError::Malformed(e)) => {
                return Err(format!("malformed reply: {e}"))
            }
            Err(e) => return Err(e.to_string()),
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
        let message = match read_message(
            &mut stream,
            &mut decoder,
            FrameDecoder::decode_next::<ServerMessage>,
        ) {
            Ok(message) => message,
            Err(reason) => break reason,
        };
        match message {
            ServerMessage::Reply(reply) => deliver(&calls, reply.id, Ok(reply.answer)),
            ServerMessage::Fatal(refusal) => {
                break format!("the server closed it: {}", refusal.reason)
            }
        }
    };
    let mut table = lock(&calls.table);
    if let Some(arena) = &table.arena {
        arena.close();
    }
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
