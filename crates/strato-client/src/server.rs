//! The strato state server backend: one multiplexed connection per process. Writers share
//! the socket under a lock; one reader thread routes replies to the threads that wait for them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use strato_proto::{
    decode, encode_frame, Address, Answer, Call, FrameDecoder, Hello, HelloReply, Request,
    ServerMessage, DEFAULT_MAX_FRAME, MAGIC, PROTOCOL_VERSION,
};

use crate::stream::Stream;
use crate::{ConnectOptions, Error, StateBackend};

/// A connection to a strato state server (`strato serve` or an embedded one).
pub(crate) struct ServerConnection {
    address: Address,
    connection: u64,
    max_frame: usize,
    writer: Mutex<Stream>,
    calls: Arc<Calls>,
    next_id: AtomicU64,
}

impl Drop for ServerConnection {
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

impl ServerConnection {
    /// Connects and shakes hands; starts the reader thread.
    pub fn connect(address: Address, options: &ConnectOptions) -> Result<ServerConnection, Error> {
        let text = address.to_string();
        let fail = |reason: String| Error::Connect {
            address: text.clone(),
            reason,
        };
        let mut stream = Stream::connect(&address, options).map_err(|e| fail(e.to_string()))?;
        let welcome = handshake(&mut stream, options, &text)?;
        let reader = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let calls = Arc::new(Calls::default());
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
            writer: Mutex::new(stream),
            calls,
            next_id: AtomicU64::new(1),
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
        let mut bytes = Vec::new();
        for call in calls {
            bytes.extend(frame(self, &Request { id: 0, call })?);
        }
        write(self, &bytes)
    }
}

fn send(inner: &ServerConnection, request: &Request) -> Result<(), Error> {
    let frame = frame(inner, request)?;
    write(inner, &frame)
}

/// Encodes one request, refusing it if the server would.
fn frame(inner: &ServerConnection, request: &Request) -> Result<Vec<u8>, Error> {
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

fn write(inner: &ServerConnection, bytes: &[u8]) -> Result<(), Error> {
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
