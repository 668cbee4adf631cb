//! Handles: references to server objects that are cheap to clone and travel between
//! processes (serializing one keeps the object alive until a process deserializes it).

use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Call, Init, Op, Role, Wait};

/// The name under which an object is shared, and whether it outlives its handles.
///
/// Objects are reference-counted: when the last handle of every process is dropped, a
/// non-persistent object is deleted. A persistent one stays until deleted explicitly.
///
/// ```
/// use strato::ObjectName;
/// let plain: ObjectName = "hits".into();
/// assert!(!plain.is_persistent());
/// assert!(ObjectName::persistent("totals").is_persistent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    name: String,
    persistent: bool,
}

impl ObjectName {
    /// A reference-counted object of this name.
    pub fn new(name: impl Into<String>) -> Self {
        ObjectName {
            name: name.into(),
            persistent: false,
        }
    }

    /// An object of this name that survives until deleted.
    pub fn persistent(name: impl Into<String>) -> Self {
        ObjectName {
            name: name.into(),
            persistent: true,
        }
    }

    /// A fresh name no other object has.
    pub fn anonymous() -> Self {
        ObjectName::new(format!("anon-{}", crate::context::unique_suffix()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether the object outlives its handles.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }
}

impl From<&str> for ObjectName {
    fn from(name: &str) -> Self {
        ObjectName::new(name)
    }
}

impl From<String> for ObjectName {
    fn from(name: String) -> Self {
        ObjectName::new(name)
    }
}

/// A reference to one server object in one role.
#[derive(Clone)]
pub(crate) struct Handle {
    inner: Arc<HandleRef>,
}

struct HandleRef {
    client: Client,
    name: String,
    role: Role,
}

impl Drop for HandleRef {
    fn drop(&mut self) {
        let release = Call::Release {
            name: std::mem::take(&mut self.name),
            role: self.role,
        };
        let _ = self.client.cast(release);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner.name)
    }
}

impl Handle {
    /// Opens (creating if absent) `name`, taking a reference in `role`.
    pub fn open(
        client: &Client,
        name: ObjectName,
        init: Init,
        role: Role,
    ) -> Result<Handle, Error> {
        client.call(Call::Open {
            name: name.name.clone(),
            init,
            persistent: name.persistent,
            role,
        })?;
        Ok(Handle::attach(client.clone(), name.name, role))
    }

    fn attach(client: Client, name: String, role: Role) -> Handle {
        Handle {
            inner: Arc::new(HandleRef { client, name, role }),
        }
    }

    /// The same object in another role (a receiver's sender, say).
    pub fn open_role(&self, init: Init, role: Role) -> Result<Handle, Error> {
        Handle::open(&self.inner.client, ObjectName::new(self.name()), init, role)
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The role it holds.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The connection it uses.
    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Runs `op` on the object.
    pub fn op(&self, op: Op) -> Result<Answer, Error> {
        self.inner.client.call(Call::Op {
            name: self.inner.name.clone(),
            op,
        })
    }

    /// Deletes the object for everyone.
    pub fn delete(&self) -> Result<(), Error> {
        self.inner.client.call(Call::Delete {
            name: self.inner.name.clone(),
        })?;
        Ok(())
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lend = Call::Lend {
            name: self.inner.name.clone(),
            role: self.inner.role,
        };
        self.inner
            .client
            .cast(lend)
            .map_err(serde::ser::Error::custom)?;
        (&self.inner.name, self.inner.role).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (name, role) = <(String, Role)>::deserialize(deserializer)?;
        let client = crate::client().map_err(serde::de::Error::custom)?;
        let adopt = Call::Adopt {
            name: name.clone(),
            role,
        };
        client.cast(adopt).map_err(serde::de::Error::custom)?;
        Ok(Handle::attach(client, name, role))
    }
}

/// Encodes a user value for the server.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Blob, Error> {
    postcard::to_stdvec(value)
        .map(Blob::from)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// Decodes a user value from the server; a large byte buffer in it (a [`crate::Bytes`])
/// shares the blob's memory instead of being copied out of it.
pub(crate) fn decode<T: DeserializeOwned>(blob: &Blob) -> Result<T, Error> {
    // A blob too small to hold a shared one is decoded without setting up the sharing.
    if blob.len() < strato_proto::SHARED_BLOB_MIN {
        return postcard::from_bytes(blob).map_err(|e| Error::Codec(e.to_string()));
    }
    strato_proto::decode_shared(blob.bytes()).map_err(|e| match e {
        strato_proto::FrameError::Malformed(why) => Error::Codec(why),
        other => Error::Codec(other.to_string()),
    })
}

/// The error for an answer a call does not expect.
pub(crate) fn unexpected(answer: Answer) -> Error {
    Error::Protocol(format!("{answer:?}"))
}

/// A timeout as the wire's wait mode.
pub(crate) fn within(timeout: Duration) -> Wait {
    Wait::Micros(u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX))
}

/// Unwraps the result of a call whose std counterpart cannot fail; a lost state server is
/// as fatal to it as a lost memory bus to std.
pub(crate) fn expect<T>(result: Result<T, Error>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("strato: {what} failed: {e}"),
    }
}

/// The default client, or a panic saying why there is none.
pub(crate) fn default_client(what: &str) -> Client {
    expect(crate::client(), what)
}
