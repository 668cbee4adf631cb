//! Length-prefixed framing: `u32` big-endian length, then the payload.

use serde::{de::DeserializeOwned, Serialize};

/// Bytes in a frame header (the big-endian `u32` payload length).
pub const HEADER_LEN: usize = 4;

/// The default largest payload a peer accepts: 256 MiB.
pub const DEFAULT_MAX_FRAME: usize = 256 << 20;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The announced or actual payload length exceeds the limit.
    #[error("frame of {size} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// Payload length in bytes.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The payload is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes `message` as one complete frame (header and payload).
///
/// ```
/// let frame = strato_proto::encode_frame(&42u32).unwrap();
/// assert_eq!(&frame[..4], &[0, 0, 0, 1]);
/// ```
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = Vec::new();
    encode_frame_into(message, &mut frame)?;
    Ok(frame)
}

/// Appends `message` as one complete frame to `buffer`, which keeps what it held: so a
/// writer batches frames into one buffer without a copy per frame. On error `buffer` is as
/// it was.
///
/// ```
/// let mut batch = strato_proto::encode_frame(&1u32).unwrap();
/// strato_proto::encode_frame_into(&"hi", &mut batch).unwrap();
/// assert_eq!(batch, [0, 0, 0, 1, 1, 0, 0, 0, 3, 2, b'h', b'i']);
/// ```
pub fn encode_frame_into<T: Serialize>(
    message: &T,
    buffer: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; HEADER_LEN]);
    if let Err(e) = postcard::to_extend(message, Appender(buffer)) {
        buffer.truncate(start);
        return Err(FrameError::Malformed(e.to_string()));
    }
    let len = buffer.len() - start - HEADER_LEN;
    let Ok(len32) = u32::try_from(len) else {
        buffer.truncate(start);
        return Err(FrameError::TooLarge {
            size: len,
            max: u32::MAX as usize,
        });
    };
    buffer[start..start + HEADER_LEN].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// A frame in three pieces, so that a large byte string inside the message is written from
/// where it lies rather than copied into the frame: `head` (the frame's header and the
/// encoding before the string's bytes), `large` (the bytes), `tail` (the encoding after).
/// Written one after the other they are exactly [`encode_frame`]'s bytes.
#[derive(Debug)]
pub struct SplitFrame<'a> {
    /// The header and the encoding up to the large string's bytes.
    pub head: Vec<u8>,
    /// The large string's bytes.
    pub large: &'a [u8],
    /// The encoding after them.
    pub tail: Vec<u8>,
}

impl SplitFrame<'_> {
    /// The three pieces, in order, for a vectored write.
    pub fn pieces(&self) -> [std::io::IoSlice<'_>; 3] {
        [
            std::io::IoSlice::new(&self.head),
            std::io::IoSlice::new(self.large),
            std::io::IoSlice::new(&self.tail),
        ]
    }

    /// The payload's length (what the frame's header announces).
    pub fn payload_len(&self) -> usize {
        self.head.len() - HEADER_LEN + self.large.len() + self.tail.len()
    }
}

/// Values of at least this many bytes are worth a [`SplitFrame`]: below it, copying them
/// into a batch costs less than the extra pieces of a write.
pub const SPLIT_AT: usize = 64 << 10;

/// Encodes `message`, which holds `large` (a byte string it serializes in one piece, such as
/// a [`crate::Blob`]), as a [`SplitFrame`]; `None` if its encoding does not pass `large`
/// through in one piece (then use [`encode_frame`]).
///
/// ```
/// let blob = strato_proto::Blob::from(vec![7u8; 100]);
/// let message = (1u8, &blob, 2u8);
/// let split = strato_proto::encode_frame_split(&message, &blob).unwrap().unwrap();
/// let joined = [&split.head[..], split.large, &split.tail[..]].concat();
/// assert_eq!(joined, strato_proto::encode_frame(&message).unwrap());
/// assert_eq!(split.head.len() + split.tail.len(), 4 + 3);
/// ```
pub fn encode_frame_split<'a, T: Serialize>(
    message: &T,
    large: &'a [u8],
) -> Result<Option<SplitFrame<'a>>, FrameError> {
    let flavor = SplitFlavor {
        head: vec![0; HEADER_LEN],
        tail: Vec::new(),
        large: (large.as_ptr(), large.len()),
        passed: false,
    };
    let done = postcard::serialize_with_flavor::<T, SplitFlavor, SplitFlavor>(message, flavor)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if !done.passed {
        return Ok(None);
    }
    let mut split = SplitFrame {
        head: done.head,
        large,
        tail: done.tail,
    };
    let len = split.payload_len();
    let len32 = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        size: len,
        max: u32::MAX as usize,
    })?;
    split.head[..HEADER_LEN].copy_from_slice(&len32.to_be_bytes());
    Ok(Some(split))
}

/// The postcard output behind [`encode_frame_split`]: bytes go to `head` until the large
/// string passes (recognised by its address and length, never read here), then to `tail`.
struct SplitFlavor {
    head: Vec<u8>,
    tail: Vec<u8>,
    large: (*const u8, usize),
    passed: bool,
}

impl SplitFlavor {
    fn current(&mut self) -> &mut Vec<u8> {
        match self.passed {
            false => &mut self.head,
            true => &mut self.tail,
        }
    }
}

impl postcard::ser_flavors::Flavor for SplitFlavor {
    type Output = SplitFlavor;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.current().push(byte);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if !self.passed && (data.as_ptr(), data.len()) == self.large {
            self.passed = true;
            return Ok(());
        }
        self.current().extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<SplitFlavor> {
        Ok(self)
    }
}

/// Lets postcard append to a borrowed buffer (it takes its output by value).
struct Appender<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Appender<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}

/// Decodes one payload into a message.
///
/// ```
/// let frame = strato_proto::encode_frame(&"hi").unwrap();
/// let text: String = strato_proto::decode(&frame[4..]).unwrap();
/// assert_eq!(text, "hi");
/// ```
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    postcard::from_bytes(payload).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// A streaming frame decoder: feed it bytes as they arrive, take whole payloads out.
///
/// It never allocates for a frame larger than its maximum: the header alone is enough to
/// refuse it. Small frames are read into one buffer, reused from frame to frame; a frame
/// of [`SPLIT_AT`] bytes or more that has not arrived whole is read into a buffer of its
/// own, and its large blobs are decoded as slices of that buffer, not copies
/// ([`crate::decode_shared`]).
///
/// ```
/// use strato_proto::FrameDecoder;
/// let mut decoder = FrameDecoder::new(16);
/// decoder.extend(&[0, 0, 0, 2, b'o']);
/// assert_eq!(decoder.next_frame(), Ok(None));
/// decoder.extend(&[b'k']);
/// assert_eq!(decoder.next_frame(), Ok(Some(b"ok".to_vec())));
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    /// Received bytes live in `buf[start..filled]`; `buf[filled..]` is zeroed room for reads.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    max: usize,
    /// The large frame being read into a buffer of its own, if any.
    large: Option<LargeFrame>,
}

/// A large frame's payload as it arrives: `buf[..filled]` of `len` bytes. The buffer
/// reserves `len` bytes at once (address space, not memory) and grows as bytes arrive.
#[derive(Debug)]
struct LargeFrame {
    buf: Vec<u8>,
    filled: usize,
    len: usize,
}

impl LargeFrame {
    /// Room for the next read: up to [`MAX_READ`] of the bytes still to come.
    fn room(&mut self) -> &mut [u8] {
        let want = (self.len - self.filled).min(MAX_READ);
        if self.buf.len() < self.filled + want {
            self.buf.resize(self.filled + want, 0);
        }
        &mut self.buf[self.filled..]
    }
}

/// A whole payload: in the shared buffer, or in a buffer of its own.
enum Payload<'a> {
    Buffered(&'a [u8]),
    Own(Vec<u8>),
}

/// The most room [`FrameDecoder::spare`] adds in one go, so that memory grows with the bytes
/// that actually arrive, not with the length a peer announces.
const MAX_READ: usize = 1 << 20;

impl FrameDecoder {
    /// A decoder that refuses payloads longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            filled: 0,
            max,
            large: None,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.spare(rest.len());
            let n = room.len().min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            self.commit(n);
            rest = &rest[n..];
        }
    }

    /// A writable tail of at least `min` bytes for a reader to fill (while a large frame
    /// arrives, the room left in its buffer, which may be less); keep what was read with
    /// [`FrameDecoder::commit`]. The room is reused from read to read.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        self.begin_large_frame();
        if self.arriving().is_some() {
            return self.large.as_mut().expect("arriving").room();
        }
        let want = min.max(self.wanted().min(MAX_READ));
        if self.buf.len() - self.filled < want {
            self.compact();
        }
        if self.buf.len() - self.filled < want {
            self.buf.resize(self.filled + want, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Keeps `count` bytes written at the start of the last [`FrameDecoder::spare`].
    pub fn commit(&mut self, count: usize) {
        match self.arriving() {
            Some(large) => large.filled = (large.filled + count).min(large.buf.len()),
            None => self.filled = (self.filled + count).min(self.buf.len()),
        }
    }

    /// The large frame still arriving, if any (bytes after a whole one go to the shared
    /// buffer: it is taken first).
    fn arriving(&mut self) -> Option<&mut LargeFrame> {
        self.large.as_mut().filter(|large| large.filled < large.len)
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        let large = self.large.as_ref().map_or(0, |l| HEADER_LEN + l.filled);
        self.filled - self.start + large
    }

    /// The next complete payload, `Ok(None)` if more bytes are needed, or an error if the
    /// announced length is over the limit (the stream cannot be resynchronised after that).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.take(|payload| match payload {
            Payload::Buffered(bytes) => bytes.to_vec(),
            Payload::Own(bytes) => bytes,
        })
    }

    /// The next complete frame decoded as a `T` straight from the decoder's buffer (no copy
    /// of the payload first; a large frame's large blobs share its buffer): `Ok(None)` if
    /// more bytes are needed. A payload that is not a `T` is consumed and reported as
    /// [`FrameError::Malformed`].
    ///
    /// ```
    /// use strato_proto::{encode_frame, FrameDecoder};
    /// let mut decoder = FrameDecoder::new(64);
    /// decoder.extend(&encode_frame(&(7u32, "seven")).unwrap());
    /// decoder.extend(&[0, 0, 0, 1, 0xff]);
    /// assert_eq!(decoder.decode_next::<(u32, String)>(), Ok(Some((7, "seven".into()))));
    /// assert!(decoder.decode_next::<(u32, String)>().is_err());
    /// assert_eq!(decoder.decode_next::<(u32, String)>(), Ok(None));
    /// ```
    pub fn decode_next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        self.take(|payload| match payload {
            Payload::Buffered(bytes) => decode::<T>(bytes),
            Payload::Own(bytes) => crate::decode_shared::<T>(&bytes::Bytes::from(bytes)),
        })?
        .transpose()
    }

    /// Passes the next complete payload, in place, to `read` and consumes it.
    fn take<T>(&mut self, read: impl FnOnce(Payload<'_>) -> T) -> Result<Option<T>, FrameError> {
        if let Some(large) = &self.large {
            if large.filled < large.len {
                return Ok(None);
            }
            let large = self.large.take().expect("a large frame");
            return Ok(Some(read(Payload::Own(large.buf))));
        }
        let Some(len) = self.announced_len() else {
            return Ok(None);
        };
        if len > self.max {
            return Err(FrameError::TooLarge {
                size: len,
                max: self.max,
            });
        }
        let begin = self.start + HEADER_LEN;
        if self.filled < begin + len {
            return Ok(None);
        }
        let value = read(Payload::Buffered(&self.buf[begin..begin + len]));
        self.start = begin + len;
        if self.start == self.filled {
            (self.start, self.filled) = (0, 0);
        }
        Ok(Some(value))
    }

    /// If the next frame is large, allowed and not all here, moves what arrived of it into
    /// a buffer of its own, where the rest will be read.
    fn begin_large_frame(&mut self) {
        if self.large.is_some() {
            return;
        }
        let Some(len) = self.announced_len() else {
            return;
        };
        let begin = self.start + HEADER_LEN;
        if len < SPLIT_AT || len > self.max || self.filled >= begin + len {
            return;
        }
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&self.buf[begin..self.filled]);
        let filled = buf.len();
        (self.start, self.filled) = (0, 0);
        self.large = Some(LargeFrame { buf, filled, len });
    }

    fn announced_len(&self) -> Option<usize> {
        let header = self.buf[..self.filled].get(self.start..self.start + HEADER_LEN)?;
        Some(u32::from_be_bytes(header.try_into().ok()?) as usize)
    }

    /// How many more bytes the current frame needs (a read-size hint).
    fn wanted(&self) -> usize {
        match self.announced_len() {
            Some(len) if len <= self.max => (HEADER_LEN + len).saturating_sub(self.buffered()),
            _ => HEADER_LEN,
        }
    }

    /// Moves the unread bytes to the front.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
    }
}
