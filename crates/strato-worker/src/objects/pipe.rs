//! What goes through the pipe between `strato serve` and the process of the user's binary that
//! hosts its objects: one length-prefixed postcard frame per message, one answer per request.

use std::io::{Read, Write};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The largest frame either side accepts (an object's whole state travels in one).
const MAX_FRAME: usize = 1 << 30;

/// A request of the server to the objects host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToHost {
    /// Build object `id` of `type_name` with the constructor `factory` from `state`.
    Create {
        id: u64,
        type_name: String,
        binary: String,
        factory: i64,
        state: Vec<u8>,
    },
    /// Run `method` of object `id`.
    Invoke {
        id: u64,
        method: String,
        args: Vec<u8>,
    },
    /// The whole value of object `id`.
    Snapshot { id: u64 },
    /// Object `id` is gone from the server; no answer.
    Drop { id: u64 },
}

/// The objects host's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FromHost {
    /// Sent once, first: which binary this process is.
    Hello { binary: String },
    /// The object was built.
    Created,
    /// A method finished with this encoded result, or a snapshot was taken.
    Bytes(Vec<u8>),
    /// A method cannot proceed yet and changed nothing.
    Blocked,
    /// The request failed; the message says why.
    Failed(String),
}

/// Writes one frame.
pub(crate) fn send<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(std::io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a message of {} bytes is over the limit of {MAX_FRAME}",
            body.len()
        )));
    }
    out.write_all(&(body.len() as u32).to_le_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of the stream.
pub(crate) fn receive<T: DeserializeOwned>(input: &mut impl Read) -> std::io::Result<Option<T>> {
    let mut len = [0; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a frame of {len} bytes is over the limit of {MAX_FRAME}"
        )));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("a malformed frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_the_end_is_clean() {
        let mut buf = Vec::new();
        let message = ToHost::Invoke {
            id: 7,
            method: "add".into(),
            args: vec![1, 2, 3],
        };
        send(&mut buf, &message).unwrap();
        let mut input = &buf[..];
        assert_eq!(receive::<ToHost>(&mut input).unwrap(), Some(message));
        assert_eq!(receive::<ToHost>(&mut input).unwrap(), None);
    }

    #[test]
    fn an_oversized_or_malformed_frame_is_an_error() {
        let mut input = &u32::MAX.to_le_bytes()[..];
        let error = receive::<ToHost>(&mut input).unwrap_err();
        assert!(error.to_string().contains("over the limit"), "{error}");
        let mut bad = 3u32.to_le_bytes().to_vec();
        bad.extend([0xff, 0xff, 0xff]);
        let error = receive::<ToHost>(&mut &bad[..]).unwrap_err();
        assert!(error.to_string().contains("malformed"), "{error}");
    }
}
