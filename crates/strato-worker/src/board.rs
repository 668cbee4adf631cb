//! The objects a worker uses, opened by name: its task board, the shutdown event, the ready
//! latch. A reference is released when dropped.

use strato_client::{Client, Error};
use strato_proto::{Answer, Call, Init, Op, Role};

/// A reference to one server object, taken as a plain handle.
pub(crate) struct ObjectRef {
    client: Client,
    name: String,
}

impl ObjectRef {
    /// Opens (creating if absent) the object `name`.
    pub fn open(client: &Client, name: &str, init: Init) -> Result<ObjectRef, Error> {
        client.call(Call::Open {
            name: name.to_string(),
            init,
            persistent: false,
            role: Role::Handle,
        })?;
        Ok(ObjectRef {
            client: client.clone(),
            name: name.to_string(),
        })
    }

    /// A reference this connection already holds (adopted), released when dropped.
    pub fn attach(client: &Client, name: &str) -> ObjectRef {
        ObjectRef {
            client: client.clone(),
            name: name.to_string(),
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection it uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `op` on the object.
    pub fn op(&self, op: Op) -> Result<Answer, Error> {
        self.client.call(Call::Op {
            name: self.name.clone(),
            op,
        })
    }

    /// Runs several operations without waiting for answers, sent in one write.
    pub fn cast_all(&self, ops: Vec<Op>) -> Result<(), Error> {
        let calls = ops.into_iter().map(|op| Call::Op {
            name: self.name.clone(),
            op,
        });
        self.client.cast_all(calls)
    }
}

impl Drop for ObjectRef {
    fn drop(&mut self) {
        let release = Call::Release {
            name: std::mem::take(&mut self.name),
            role: Role::Handle,
        };
        let _ = self.client.cast(release);
    }
}
