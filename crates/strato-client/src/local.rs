//! The local tier (docs/two-tier.md): a client on the state server's machine maps the
//! server's shared-memory arena and runs atomics' operations on their words itself, with
//! the same instructions the server runs for remote clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strato_proto::arena::{Arena, Slot};
use strato_proto::{Answer, Op};

use crate::Error;

/// A connection's mapping of its server's arena.
#[derive(Debug)]
pub struct LocalArena {
    map: Arena,
    open: AtomicBool,
}

impl LocalArena {
    pub(crate) fn new(map: Arena) -> LocalArena {
        LocalArena {
            map,
            open: AtomicBool::new(true),
        }
    }

    /// The connection ended: the server may give its located slots to other objects, so
    /// the words are not touched again (calls go to the server, which reports the loss).
    pub(crate) fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }
}

/// One object's word in the arena, located through this process's connection.
///
/// ```
/// # let server = strato_server::start(strato_server::Config {
/// #     listen: vec![strato_proto::Address::Abstract(format!("strato-doc-local-{}", std::process::id()))],
/// #     ..Default::default()
/// # }).unwrap();
/// use strato_client::Client;
/// use strato_proto::{Answer, Call, FetchOp, Init, Op, Role, Scalar};
///
/// let client = Client::connect(&server.address().to_string()).unwrap();
/// let open = Call::Open { name: "hits".into(), init: Init::Atomic(Scalar::U64(0)), persistent: false, role: Role::Handle };
/// client.call(open).unwrap();
/// let word = client.locate("hits").unwrap().expect("a Unix socket client maps the arena");
/// let add = Op::Fetch(FetchOp::Add, Scalar::U64(1));
/// assert_eq!(word.apply(&add).unwrap().unwrap(), Answer::Scalar(Scalar::U64(0)));
/// // The server sees the same word.
/// let load = Call::Op { name: "hits".into(), op: Op::Load };
/// assert_eq!(client.call(load).unwrap(), Answer::Scalar(Scalar::U64(1)));
/// ```
#[derive(Debug, Clone)]
pub struct LocalWord {
    arena: Arc<LocalArena>,
    slot: Slot,
}

impl LocalWord {
    pub(crate) fn new(arena: Arc<LocalArena>, slot: Slot) -> LocalWord {
        LocalWord { arena, slot }
    }

    /// Runs an atomic's operation on the word, answering as the server would (an error
    /// answer is [`Error::Server`]); `None` when the server must answer instead: the object
    /// was deleted, the connection ended, or `op` is not an atomic's.
    pub fn apply(&self, op: &Op) -> Option<Result<Answer, Error>> {
        if !self.arena.open.load(Ordering::SeqCst) {
            return None;
        }
        self.arena
            .map
            .apply(self.slot, op)
            .map(crate::error::server_error)
    }
}
