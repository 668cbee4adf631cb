//! [`Blob`]: the bytes of a value in a message, shared rather than copied where they can be.
//!
//! A blob is a [`bytes::Bytes`]: cloning one shares its memory. A large blob decoded from a
//! frame that was read into a buffer of its own ([`crate::FrameDecoder`] reads frames of
//! [`SHARED_BLOB_MIN`] bytes or more so) is a slice of that buffer, not a copy of it: the
//! 1 MiB value of a put is copied by no one between the socket and the queue that keeps it
//! (docs/benchmarks.md counts the copies).

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Blobs this long or longer, decoded from a shared frame ([`decode_shared`]), are slices of
/// it; shorter ones are copied, so that a small value never keeps a large frame alive.
pub const SHARED_BLOB_MIN: usize = 64 << 10;

/// An opaque serialized value (a user's `T`, encoded by the client), or any bytes.
///
/// ```
/// use strato_proto::Blob;
/// let blob = Blob::from(vec![1u8, 2, 3]);
/// assert_eq!(blob.len(), 3);
/// assert_eq!(&blob[..], &[1, 2, 3]);
/// let shared = blob.clone(); // the same memory, counted
/// assert_eq!(shared.into_vec(), vec![1, 2, 3]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blob(Bytes);

impl Blob {
    /// An empty blob.
    pub fn new() -> Blob {
        Blob(Bytes::new())
    }

    /// Its bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Its bytes as a vector (without a copy when nothing else shares them).
    pub fn into_vec(self) -> Vec<u8> {
        Vec::from(self.0)
    }

    /// Its bytes as a [`bytes::Bytes`], sharing its memory.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Its bytes as the [`bytes::Bytes`] it holds (to [`decode_shared`] from).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Blob {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0[..], f)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        // A vector with spare capacity would take a second allocation (its sharing count):
        // a small one gives its spare room back instead (a large one is not moved).
        if bytes.len() < SHARED_BLOB_MIN {
            return Blob(Bytes::from(bytes.into_boxed_slice()));
        }
        Blob(Bytes::from(bytes))
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Blob {
        Blob(Bytes::copy_from_slice(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for Blob {
    fn from(bytes: &[u8; N]) -> Blob {
        Blob(Bytes::copy_from_slice(bytes))
    }
}

impl From<Bytes> for Blob {
    fn from(bytes: Bytes) -> Blob {
        Blob(bytes)
    }
}

impl PartialEq<[u8]> for Blob {
    fn eq(&self, other: &[u8]) -> bool {
        self.0[..] == *other
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        deserializer.deserialize_bytes(BlobVisitor)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Blob, E> {
        Ok(shared_slice(bytes).unwrap_or_else(|| Blob::from(bytes)))
    }

    fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Blob, E> {
        Ok(Blob::from(bytes))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Blob, E> {
        Ok(Blob::from(text.as_bytes()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(Blob::from(bytes))
    }
}

thread_local! {
    /// The frame [`decode_shared`] is decoding on this thread.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// `bytes` as a slice of the frame being decoded, if they lie in it and are long enough.
fn shared_slice(bytes: &[u8]) -> Option<Blob> {
    if bytes.len() < SHARED_BLOB_MIN {
        return None;
    }
    SOURCE.with(|source| {
        let source = source.borrow();
        let frame = source.as_ref()?;
        let (start, end) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let (at, to) = (
            bytes.as_ptr() as usize,
            bytes.as_ptr() as usize + bytes.len(),
        );
        (start <= at && to <= end).then(|| Blob(frame.slice_ref(bytes)))
    })
}

/// Decodes a `T` from `payload`, its large blobs sharing `payload`'s memory rather than
/// copying it.
///
/// ```
/// use strato_proto::{decode_shared, Blob};
/// let value = Blob::from(vec![7u8; 100_000]);
/// let payload = bytes::Bytes::from(postcard::to_stdvec(&("put", &value)).unwrap());
/// let (_, blob): (String, Blob) = decode_shared(&payload).unwrap();
/// assert_eq!(blob, value);
/// let inside = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
/// assert!(inside.contains(&(blob.as_ptr() as usize)), "a slice of the payload");
/// ```
pub fn decode_shared<T: serde::de::DeserializeOwned>(
    payload: &Bytes,
) -> Result<T, crate::FrameError> {
    let previous = SOURCE.with(|source| source.replace(Some(payload.clone())));
    let decoded = crate::decode(payload);
    SOURCE.with(|source| *source.borrow_mut() = previous);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(blob: &Blob, payload: &Bytes) -> bool {
        let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
        range.contains(&(blob.as_ptr() as usize))
    }

    fn payload_of(value: &impl Serialize) -> Bytes {
        Bytes::from(postcard::to_stdvec(value).unwrap())
    }

    #[test]
    fn small_blobs_are_copied_and_large_ones_shared() {
        let small = Blob::from(vec![1u8; SHARED_BLOB_MIN - 1]);
        let large = Blob::from(vec![2u8; SHARED_BLOB_MIN]);
        let payload = payload_of(&(&small, &large));
        let (got_small, got_large): (Blob, Blob) = decode_shared(&payload).unwrap();
        assert_eq!((&got_small, &got_large), (&small, &large));
        assert!(
            !inside(&got_small, &payload),
            "a small blob keeps no frame alive"
        );
        assert!(inside(&got_large, &payload));
    }

    #[test]
    fn a_value_inside_a_shared_blob_shares_it_too() {
        let user_value = Blob::from(vec![3u8; 200_000]);
        let outer = Blob::from(postcard::to_stdvec(&user_value).unwrap());
        let frame = payload_of(&("put", &outer));
        let (_, got_outer): (String, Blob) = decode_shared(&frame).unwrap();
        let got: Blob = decode_shared(got_outer.bytes()).unwrap();
        assert_eq!(got, user_value);
        assert!(inside(&got, &frame), "decoded twice, copied never");
    }

    #[test]
    fn a_plain_decode_after_a_shared_one_copies() {
        let large = Blob::from(vec![4u8; 100_000]);
        let payload = payload_of(&large);
        let _: Blob = decode_shared(&payload).unwrap();
        let copied: Blob = crate::decode(&payload).unwrap();
        assert_eq!(copied, large);
        assert!(!inside(&copied, &payload), "no frame is left as the source");
    }

    #[test]
    fn blobs_compare_and_convert_like_byte_vectors() {
        let blob = Blob::from(&[1u8, 2]);
        assert_eq!(blob, Blob::from(vec![1, 2]));
        assert!(Blob::from(vec![1]) < blob);
        assert_eq!(format!("{blob:?}"), "[1, 2]");
        assert_eq!(*blob, [1, 2][..]);
        assert_eq!(Blob::new().into_vec(), Vec::<u8>::new());
    }
}
