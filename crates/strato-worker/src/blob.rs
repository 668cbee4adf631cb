//! Large values on the state: arguments and results over the inline limit travel as chunked
//! blobs (a list of chunks on the state server or in Redis), never as files on one machine's
//! disk, so a worker anywhere can read its argument and the driver its result.
//!
//! A driver's argument blob lives while the driver holds its [`StoredBlob`] (until the task's
//! report arrived). A worker's result blob is *lent* (counted as a reference in flight, as a
//! handle sent in a message) and the worker lets go of it; the driver adopts it, reads it and
//! drops it. A blob nobody adopts is collected by the state's TTL.

use strato_client::{Client, Error};
use strato_proto::{Answer, Blob as Bytes, Call, Init, Op, Role};

use crate::board::ObjectRef;

/// Bytes per chunk.
const CHUNK: usize = 8 << 20;

/// A blob written to the state, alive while this is held.
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let client = strato_client::Client::connect(&server.address().to_string()).unwrap();
/// use strato_worker::blob;
/// let data = vec![7u8; 20 << 20];
/// let stored = blob::put(&client, "doc.blob", &data).unwrap();
/// assert_eq!(blob::get(&client, "doc.blob", data.len() as u64).unwrap(), data);
/// drop(stored);
/// ```
pub struct StoredBlob {
    object: ObjectRef,
    name: String,
}

impl StoredBlob {
    /// The blob's name on the state.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lets go of the blob, leaving it to whoever [`adopt`]s it.
    pub fn lend(self) -> Result<(), Error> {
        self.object.client().call(Call::Lend {
            name: self.name.clone(),
            role: Role::Handle,
        })?;
        Ok(())
    }
}

/// Writes `bytes` as the blob `name`.
pub fn put(client: &Client, name: &str, bytes: &[u8]) -> Result<StoredBlob, Error> {
    let object = ObjectRef::open(client, name, Init::List)?;
    for chunk in bytes.chunks(CHUNK) {
        object.op(Op::ListPush(Bytes::from(chunk.to_vec())))?;
    }
    Ok(StoredBlob {
        object,
        name: name.to_string(),
    })
}

/// Reads the blob `name`, which must hold `len` bytes.
pub fn get(client: &Client, name: &str, len: u64) -> Result<Vec<u8>, Error> {
    let object = ObjectRef::open(client, name, Init::List)?;
    read(&object, name, len)
}

/// Reads a blob that was lent (see [`StoredBlob::lend`]) and lets it be collected.
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let client = strato_client::Client::connect(&server.address().to_string()).unwrap();
/// use strato_worker::blob;
/// blob::put(&client, "doc.result", b"abc").unwrap().lend().unwrap();
/// assert_eq!(blob::adopt(&client, "doc.result", 3).unwrap(), b"abc");
/// ```
pub fn adopt(client: &Client, name: &str, len: u64) -> Result<Vec<u8>, Error> {
    client.call(Call::Adopt {
        name: name.to_string(),
        role: Role::Handle,
    })?;
    let object = ObjectRef::attach(client, name);
    read(&object, name, len)
}

fn read(object: &ObjectRef, name: &str, len: u64) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(len as usize);
    for index in 0..len.div_ceil(CHUNK as u64) {
        match object.op(Op::ListGet(index)) {
            Ok(Answer::Blob(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(other) => return Err(Error::Protocol(format!("{other:?}"))),
            Err(e) => return Err(missing(name, e)),
        }
    }
    if bytes.len() as u64 != len {
        let reason = format!("blob {name} holds {} bytes, not {len}", bytes.len());
        return Err(Error::Protocol(reason));
    }
    Ok(bytes)
}

fn missing(name: &str, e: Error) -> Error {
    match e {
        Error::Server { kind, message } => Error::Server {
            kind,
            message: format!(
                "blob {name} is missing or short (was its writer's data lost?): {message}"
            ),
        },
        other => other,
    }
}
