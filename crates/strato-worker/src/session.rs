//! The driver's session: how a worker anywhere learns from the state that its driver is gone.
//!
//! The driver holds a lock on a mutex of the state for as long as its executor lives. A
//! worker waits for that lock on the state (parked there, never polling): it gets it only
//! when the driver released it at shutdown or the state released it because the driver's
//! connection closed (a strato server at once, Redis when the driver's presence lapses).
//! Either way the worker exits. No pid is involved, so this works across machines.

use std::sync::Mutex;

use strato_client::{Client, Error};
use strato_proto::{Answer, Blob, Init, Op, Wait};

use crate::board::ObjectRef;

/// The name of the mutex that is held while the driver of `board` lives.
///
/// ```
/// assert_eq!(strato_worker::session::session_name("b"), "b.driver");
/// ```
pub fn session_name(board: &str) -> String {
    format!("{board}.driver")
}

/// A driver's hold on its session: workers of its board exit once it is dropped or the
/// driver dies.
///
/// ```
/// # let server = strato_server::start(Default::default()).unwrap();
/// # let client = strato_client::Client::connect(&server.address().to_string()).unwrap();
/// let session = strato_worker::session::DriverSession::begin(&client, "board.doc").unwrap();
/// drop(session);
/// ```
pub struct DriverSession {
    mutex: ObjectRef,
    lease: Mutex<Option<u64>>,
}

impl DriverSession {
    /// Takes the session of `board`'s driver.
    pub fn begin(client: &Client, board: &str) -> Result<DriverSession, Error> {
        let mutex = ObjectRef::open(client, &session_name(board), Init::Mutex(Blob::default()))?;
        let lease = match mutex.op(Op::Lock(Wait::Forever))? {
            Answer::Locked { lease, .. } => lease,
            other => return Err(Error::Protocol(format!("{other:?}"))),
        };
        Ok(DriverSession {
            mutex,
            lease: Mutex::new(Some(lease)),
        })
    }
}

impl Drop for DriverSession {
    fn drop(&mut self) {
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(lease) = lease {
            let unlock = Op::Unlock {
                lease,
                value: None,
                poison: false,
            };
            let _ = self.mutex.op(unlock);
        }
    }
}

/// Blocks until the driver of the session `name` is gone (its lock could be taken), or the
/// state is unreachable.
pub(crate) fn wait_for_driver_end(client: &Client, name: &str) -> Result<(), Error> {
    let mutex = ObjectRef::open(client, name, Init::Mutex(Blob::default()))?;
    mutex.op(Op::Lock(Wait::Forever)).map(drop)
}
