//! User-defined objects on a standalone `strato serve`.
//!
//! A `strato::shared!` type's methods are code of the user's binary, so only a process of
//! that binary can run them. The embedded server is one. `strato serve` is not, so it keeps
//! each binary's objects in an **objects host**: a process of that binary, fetched by hash
//! like a worker host fetches it ([`crate::exe`]), started in the `objects` role, holding the
//! objects and running their methods when the server asks over a pipe. The server's objects
//! are proxies; every call still goes through the server, one at a time per object, so the
//! objects stay linearizable.
//!
//! The first time a driver creates such an object and the server answers that it cannot,
//! the driver asks for an objects host ([`request_host`]): it publishes its executable and
//! puts an [`ObjectsRequest`] on the queue [`OBJECTS_QUEUE`]; the server's request loop
//! ([`HostedObjects::serve_requests`]) fetches the executable, starts the host, checks that
//! it is the binary asked for, and answers on the request's future.

mod host;
mod pipe;
mod supervisor;

use serde::{Deserialize, Serialize};
use strato_client::{Client, Error, ErrorKind};
use strato_proto::{Answer, Blob, Call, Init, Op, Wait};

use crate::board::ObjectRef;
use crate::exe::{publish, ExeRef};

pub use host::enter_if_objects_host;
pub use supervisor::HostedObjects;

/// The queue where drivers ask a `strato serve` for objects hosts; it exists only on a server
/// that can start them.
pub const OBJECTS_QUEUE: &str = "strato.objects";

/// How long a driver waits for an objects host (a first fetch of a large executable over a
/// slow link included).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A driver's request for an objects host.
///
/// ```
/// let request = strato_worker::objects::ObjectsRequest {
///     binary: "b1".into(),
///     exe: strato_worker::exe::ExeRef::current().unwrap(),
///     reply: "strato.objects.reply.1".into(),
/// };
/// assert_eq!(request.binary, "b1");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectsRequest {
    /// The binary identity its objects name (`func::binary_id`).
    pub binary: String,
    /// Its executable, published on the state.
    pub exe: ExeRef,
    /// The future the answer (`Result<(), String>`) is set on.
    pub reply: String,
}

/// Asks the state server behind `client` to host the user-defined objects of this binary,
/// and waits until it does: `Ok(false)` if the server cannot start objects hosts at all
/// (Redis, a bare embedded server, `strato serve --no-user-objects`); an
/// [`ErrorKind::Unsupported`] error says why one could not start.
///
/// ```no_run
/// let client = strato_client::Client::connect("tcp://127.0.0.1:7070").unwrap();
/// assert!(strato_worker::objects::request_host(&client).unwrap());
/// ```
pub fn request_host(client: &Client) -> Result<bool, Error> {
    let exists = client.call(Call::Exists {
        name: OBJECTS_QUEUE.into(),
    })?;
    if exists != Answer::Bool(true) {
        return Ok(false);
    }
    let exe = ExeRef::current().map_err(|e| Error::Codec(e.to_string()))?;
    // Held until the answer: the server fetches the executable meanwhile.
    let _published = publish(client, &exe)?;
    let reply = reply_name();
    let future = ObjectRef::open(client, &reply, Init::Future)?;
    let request = ObjectsRequest {
        binary: crate::func::binary_id().to_string(),
        exe,
        reply,
    };
    let queue = ObjectRef::open(client, OBJECTS_QUEUE, Init::Queue { bound: None })?;
    let bytes = postcard::to_stdvec(&request).map_err(|e| Error::Codec(e.to_string()))?;
    queue.op(Op::Put(Blob::from(bytes), Wait::Forever))?;
    let wait = Wait::Micros(REQUEST_TIMEOUT.as_micros() as u64);
    match future.op(Op::FutureGet(wait))? {
        Answer::Blob(answer) => match postcard::from_bytes::<Result<(), String>>(&answer) {
            Ok(Ok(())) => Ok(true),
            Ok(Err(reason)) => Err(unsupported(&format!(
                "the state server cannot host this program's user-defined objects: {reason}"
            ))),
            Err(e) => Err(Error::Codec(e.to_string())),
        },
        _ => Err(unsupported(&format!(
            "the state server did not start a host for this program's user-defined objects \
             within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

/// A name for the answer's future, unique to this process and call.
fn reply_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "strato.objects.reply.{}.{nanos:x}.{count}",
        std::process::id()
    )
}

fn unsupported(message: &str) -> Error {
    Error::Server {
        kind: ErrorKind::Unsupported,
        message: message.to_string(),
    }
}
