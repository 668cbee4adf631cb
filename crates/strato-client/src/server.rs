//! The strato state server backend: one multiplexed connection per process. Writers share
//! the socket under a lock. Replies are read by the callers themselves, one at a time (the
//! *leader*, who holds the reading half): it routes every reply it reads to the thread that
//! waits for it, and when its own has come it hands the reading over to a thread still
//! waiting. A lone caller thus reads its own reply, with no other thread woken in between.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use strato_proto::{
    encode_frame, encode_frame_into, encode_frame_split, Address, Answer, Call, FrameDecoder,
    Hello, HelloReply, Op, Request, ServerMessage, DEFAULT_MAX_FRAME, MAGIC, PROTOCOL_VERSION,
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

/// Calls waiting for replies, and the reading half of the socket, which one of them holds
/// at a time.
struct Calls {
    table: Mutex<CallTable>,
    reading: Mutex<ReadSide>,
}

/// The socket's reading half and what was read of it but not yet decoded.
struct ReadSide {
    stream: Stream,
    decoder: FrameDecoder,
    /// Descriptors that came with the bytes read (pipes' ends), oldest first, each for the
    /// next `Attached { descriptor: true }` reply decoded.
    descriptors: VecDeque<OwnedFd>,
}

#[derive(Default)]
struct CallTable {
    waiting: HashMap<u64, Arc<Slot>>,
    closed: Option<String>,
    /// The arena this connection mapped, closed with the connection.
    arena: Option<Arc<LocalArena>>,
    /// Descriptors that came with replies, by request id, until their callers take them.
    attached: HashMap<u64, OwnedFd>,
}

/// Where one reply is delivered.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    answer: Option<Result<Answer, Error>>,
    /// The leader stopped reading: this caller should try to take over.
    nudged: bool,
}

/// What a waiting caller was woken for.
enum Woken {
    Answered(Result<Answer, Error>),
    Nudged,
}

impl Slot {
    fn fill(&self, answer: Result<Answer, Error>) {
        lock(&self.state).answer = Some(answer);
        self.ready.notify_one();
    }

    fn nudge(&self) {
        lock(&self.state).nudged = true;
        self.ready.notify_one();
    }

    fn take(&self) -> Option<Result<Answer, Error>> {
        lock(&self.state).answer.take()
    }

    fn has_answer(&self) -> bool {
        lock(&self.state).answer.is_some()
    }

    /// Sleeps until answered or nudged.
    fn sleep(&self) -> Woken {
        let mut state = lock(&self.state);
        loop {
            if let Some(answer) = state.answer.take() {
                return Woken::Answered(answer);
            }
            if std::mem::take(&mut state.nudged) {
                return Woken::Nudged;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ServerConnection {
    /// Connects and shakes hands.
    pub fn connect(address: Address, options: &ConnectOptions) -> Result<ServerConnection, Error> {
        let text = address.to_string();
        let fail = |reason: String| Error::Connect {
            address: text.clone(),
            reason,
        };
        let mut stream = Stream::connect(&address, options).map_err(|e| fail(e.to_string()))?;
        let (welcome, arena) = handshake(&mut stream, options, &text)?;
        let reader = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let max_frame = welcome.max_frame as usize;
        let calls = Arc::new(Calls {
            table: Mutex::new(CallTable {
                arena: arena.clone(),
                ..CallTable::default()
            }),
            reading: Mutex::new(ReadSide {
                stream: reader,
                decoder: FrameDecoder::new(max_frame.max(DEFAULT_MAX_FRAME)),
                descriptors: VecDeque::new(),
            }),
        });
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
        self.call_numbered(call).map(|(_, answer)| answer)
    }

    fn call_attached(&self, call: Call) -> Result<(Answer, Option<OwnedFd>), Error> {
        let (id, answer) = self.call_numbered(call)?;
        let descriptor = lock(&self.calls.table).attached.remove(&id);
        Ok((answer, descriptor))
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

impl ServerConnection {
    /// Sends `call` and waits for its answer; the request's id with it.
    fn call_numbered(&self, call: Call) -> Result<(u64, Answer), Error> {
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
        self.calls.wait(&slot).map(|answer| (id, answer))
    }
}

fn send(inner: &ServerConnection, request: &Request) -> Result<(), Error> {
    match large_blob(request) {
        Some(large) => send_split(inner, request, large),
        None => send_all(inner, std::slice::from_ref(request)),
    }
}

/// The value a request carries when it is large enough to be written from where it lies
/// rather than copied into the write buffer (a put of a 1 MiB item, say).
fn large_blob(request: &Request) -> Option<&[u8]> {
    let Call::Op { op, .. } = &request.call else {
        return None;
    };
    match op {
        Op::Put(blob, _) | Op::Send(blob, _) if blob.len() >= strato_proto::SPLIT_AT => Some(blob),
        _ => None,
    }
}

/// Writes `request` with its `large` value straight from the request: the frame's head,
/// the value and the frame's tail in vectored writes.
fn send_split(inner: &ServerConnection, request: &Request, large: &[u8]) -> Result<(), Error> {
    let codec = |e: strato_proto::FrameError| Error::Codec(e.to_string());
    let Some(split) = encode_frame_split(request, large).map_err(codec)? else {
        return send_all(inner, std::slice::from_ref(request));
    };
    let size = split.payload_len();
    if size > inner.max_frame {
        return Err(Error::TooLarge {
            size,
            max: inner.max_frame,
        });
    }
    let mut pieces = split.pieces();
    let mut left = &mut pieces[..];
    let mut writer = lock(&inner.writer);
    while !left.is_empty() {
        match writer.stream.write_vectored(left) {
            Ok(0) => return Err(Error::ConnectionLost("the socket took no bytes".into())),
            Ok(written) => std::io::IoSlice::advance_slices(&mut left, written),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::ConnectionLost(e.to_string())),
        }
    }
    Ok(())
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
        let (n, fd) = match strato_proto::arena::recv_with_descriptor(socket.as_fd(), spare) {
            Ok(received) => received,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
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
    read_message_with(stream, decoder, next, &mut VecDeque::new())
}

/// As [`read_message`], keeping the descriptors that come with the bytes (on a Unix
/// socket) in `descriptors`.
fn read_message_with<T>(
    stream: &mut Stream,
    decoder: &mut FrameDecoder,
    next: fn(&mut FrameDecoder) -> Result<Option<T>, strato_proto::FrameError>,
    descriptors: &mut VecDeque<OwnedFd>,
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
        let read = read_some(stream, decoder.spare(64 << 10), descriptors);
        decoder.commit(*read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(_) => {}
            // A signal handler ran (Python's, for Ctrl-C): the connection is fine.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Reads what has arrived; on a Unix socket, with any descriptor attached to it.
fn read_some(
    stream: &mut Stream,
    buf: &mut [u8],
    descriptors: &mut VecDeque<OwnedFd>,
) -> std::io::Result<usize> {
    let Stream::Unix(socket) = stream else {
        return stream.read(buf);
    };
    use std::os::fd::AsFd;
    let (n, descriptor) = strato_proto::arena::recv_with_descriptor(socket.as_fd(), buf)?;
    descriptors.extend(descriptor);
    Ok(n)
}

impl Calls {
    /// Waits for `slot`'s answer: reads replies itself while no other caller does (leads),
    /// else sleeps until its answer comes or the leader hands the reading over.
    fn wait(&self, slot: &Slot) -> Result<Answer, Error> {
        loop {
            if let Some(answer) = slot.take() {
                return answer;
            }
            let reading = match self.reading.try_lock() {
                Ok(reading) => Some(reading),
                // A leader panicked: the socket and decoder are intact, go on reading.
                Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(mut reading) = reading {
                self.lead(&mut reading, slot);
                drop(reading);
                self.hand_over();
                continue;
            }
            if let Woken::Answered(answer) = slot.sleep() {
                return answer;
            }
        }
    }

    /// Reads and routes replies until `own` is answered or the connection ends.
    fn lead(&self, reading: &mut ReadSide, own: &Slot) {
        let ReadSide {
            stream,
            decoder,
            descriptors,
        } = reading;
        while !own.has_answer() {
            let next = FrameDecoder::decode_next::<ServerMessage>;
            match read_message_with(stream, decoder, next, descriptors) {
                Ok(ServerMessage::Reply(mut reply)) => {
                    if reply.answer == (Answer::Attached { descriptor: true }) {
                        match descriptors.pop_front() {
                            Some(fd) => drop(lock(&self.table).attached.insert(reply.id, fd)),
                            None => reply.answer = Answer::Attached { descriptor: false },
                        }
                    }
                    deliver(self, reply.id, Ok(reply.answer))
                }
                Ok(ServerMessage::Fatal(refusal)) => {
                    return self.close(format!("the server closed it: {}", refusal.reason))
                }
                Err(reason) => return self.close(reason),
            }
        }
    }

    /// Wakes a caller still waiting to read in the leader's place.
    fn hand_over(&self) {
        let next = lock(&self.table).waiting.values().next().cloned();
        if let Some(next) = next {
            next.nudge();
        }
    }

    /// The connection ended: every waiting call fails, and so does every later one; the
    /// arena's words are no longer touched.
    fn close(&self, reason: String) {
        let mut table = lock(&self.table);
        if let Some(arena) = &table.arena {
            arena.close();
        }
        table.closed = Some(reason.clone());
        for (_, slot) in table.waiting.drain() {
            slot.fill(Err(Error::ConnectionLost(reason.clone())));
        }
    }
}

fn deliver(calls: &Calls, id: u64, answer: Result<Answer, Error>) {
    let slot = lock(&calls.table).waiting.remove(&id);
    if let Some(slot) = slot {
        slot.fill(answer);
    }
}
