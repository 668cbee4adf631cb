//! The wire protocol between strato clients and the state server.
//!
//! A connection carries **frames**: a 4-byte big-endian length followed by that many bytes of
//! [postcard]-encoded payload. The first frame a client sends is a [`Hello`]; the server
//! answers with a [`Welcome`] or a [`Refusal`] and closes. After that the client sends
//! [`Request`]s and the server sends [`Reply`]s. Every request carries an id, so one
//! connection multiplexes many in-flight and parked calls; replies may come in any order.
//!
//! ```
//! use strato_proto::{encode_frame, FrameDecoder, Request, Call, DEFAULT_MAX_FRAME};
//!
//! let bytes = encode_frame(&Request { id: 7, call: Call::Ping }).unwrap();
//! let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
//! decoder.extend(&bytes);
//! let payload = decoder.next_frame().unwrap().unwrap();
//! let request: Request = strato_proto::decode(&payload).unwrap();
//! assert_eq!(request.id, 7);
//! ```

mod address;
pub mod arena;
pub mod array;
mod atomic;
mod blob;
mod frame;
pub mod heap;
mod liveness;
mod message;
pub mod pipe;
mod task;

pub use address::{Address, AddressError};
pub use atomic::apply_atomic;
pub use blob::{decode_shared, SHARED_BLOB_MIN};
pub use frame::{
    decode, encode_frame, encode_frame_into, encode_frame_split, FrameDecoder, FrameError,
    SplitFrame, DEFAULT_MAX_FRAME, HEADER_LEN, SPLIT_AT,
};
pub use liveness::{
    end_when_unheard, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_RETRIES, UNACKED_LIMIT,
};
pub use message::*;
pub use task::{TaskGrant, TaskOutcome, TaskReport, TaskSpec};

/// The protocol version this build speaks; the handshake refuses any other.
pub const PROTOCOL_VERSION: u32 = 7;

/// The magic bytes that open every [`Hello`], so that a stray client of another protocol is
/// told apart from a strato client of another version.
pub const MAGIC: [u8; 4] = *b"STRT";
