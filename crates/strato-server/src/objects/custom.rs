//! User-defined objects: values of the user's own types whose methods run here, one call at a
//! time per object (so every object is linearizable), next to the data.
//!
//! The server itself knows no user type. A process that embeds the server (and so runs the
//! user's binary) passes a [`CustomFactory`] in its [`crate::Config`]; the factory turns an
//! [`Init::Custom`](strato_proto::Init::Custom) into a live [`CustomObject`].

use strato_proto::{Answer, Blob, ErrorKind, Kind, Op};

use super::{error, wrong_op, Step};

/// What one method call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoked {
    /// It finished with this encoded result.
    Done(Vec<u8>),
    /// It cannot proceed yet and changed nothing: try again when the object changes.
    Blocked,
    /// It failed (a panic, or arguments it could not decode).
    Failed(String),
}

/// A live user-defined object.
///
/// ```
/// use strato_server::{CustomObject, Invoked};
///
/// #[derive(Debug, Default)]
/// struct Counter(u64);
///
/// impl CustomObject for Counter {
///     fn type_name(&self) -> &str { "Counter" }
///     fn invoke(&mut self, method: &str, _args: &[u8]) -> Invoked {
///         match method {
///             "bump" => { self.0 += 1; Invoked::Done(self.0.to_le_bytes().to_vec()) }
///             other => Invoked::Failed(format!("no method {other}")),
///         }
///     }
///     fn snapshot(&self) -> Result<Vec<u8>, String> { Ok(self.0.to_le_bytes().to_vec()) }
/// }
///
/// let mut counter = Counter::default();
/// assert_eq!(counter.invoke("bump", &[]), Invoked::Done(1u64.to_le_bytes().to_vec()));
/// ```
pub trait CustomObject: Send + std::fmt::Debug {
    /// The type's name (as in [`Init::Custom`](strato_proto::Init::Custom)).
    fn type_name(&self) -> &str;
    /// Runs one method.
    fn invoke(&mut self, method: &str, args: &[u8]) -> Invoked;
    /// The whole value, serialized.
    fn snapshot(&self) -> Result<Vec<u8>, String>;
}

/// Makes user-defined objects: supplied by a process that embeds the server.
pub trait CustomFactory: Send + Sync + std::fmt::Debug {
    /// Builds an object of `type_name` from its serialized `state`, using the constructor
    /// `factory` of the binary `binary`; an error if this process cannot.
    fn create(
        &self,
        type_name: &str,
        binary: &str,
        factory: i64,
        state: &[u8],
    ) -> Result<Box<dyn CustomObject>, String>;
}

/// Runs the custom-object operations on `object`.
pub(crate) fn apply(object: &mut dyn CustomObject, op: &Op) -> Step {
    match op {
        Op::Invoke { method, args, .. } => match object.invoke(method, args) {
            Invoked::Done(result) => Step::Done(Answer::Blob(Blob::from(result))),
            Invoked::Blocked => Step::Blocked,
            Invoked::Failed(message) => Step::Done(error(ErrorKind::MethodFailed, message)),
        },
        Op::Snapshot => Step::Done(match object.snapshot() {
            Ok(bytes) => Answer::Blob(Blob::from(bytes)),
            Err(message) => error(ErrorKind::MethodFailed, message),
        }),
        other => wrong_op(Kind::Custom, other),
    }
}
