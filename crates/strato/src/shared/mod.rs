//! User-defined shared objects (Crucial's `@Shared`): values of your own types that live on
//! the state server, whose methods **run on the server**, one call at a time per object.
//!
//! A k-means step can then call `centroids.update(local_sums)` once per task instead of
//! shipping the whole state back and forth, and a method that cannot proceed yet (it returns
//! `None`) waits on the server until the object changes — a user-defined monitor or barrier.
//!
//! Declare the handle with [`shared!`](macro@crate::shared): it lists the methods the handle
//! exposes; `wait fn` marks a method that returns `Option<R>` and waits while it is `None`.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Tally {
//!     total: u64,
//! }
//!
//! impl Tally {
//!     fn add(&mut self, n: u64) -> u64 {
//!         self.total += n;
//!         self.total
//!     }
//!     fn at_least(&mut self, n: u64) -> Option<u64> {
//!         (self.total >= n).then_some(self.total)
//!     }
//! }
//!
//! strato::shared! {
//!     /// A tally whose additions run on the state server.
//!     pub struct TallyRef(Tally);
//!     impl {
//!         fn add(&mut self, n: u64) -> u64;
//!         wait fn at_least(&mut self, n: u64) -> u64;
//!     }
//! }
//!
//! let tally = TallyRef::new(Tally { total: 0 });
//! assert_eq!(tally.add(5), 5);
//! assert_eq!(tally.at_least(3), 5);
//! assert_eq!(tally.get().total, 5);
//! ```
//!
//! Only a process of **your binary** can run your methods. The embedded server (the default)
//! is one. A standalone `strato serve` starts one on the first such object of your program:
//! an objects host, your executable fetched by its hash, holding your objects and running
//! their methods as the server asks (see [`strato_worker::objects`]). Redis cannot, and says
//! so. A method
//! that panics fails the call with the panic's message (the caller panics too, as it would
//! have locally); changes it made before panicking stay, as with a poisoned mutex's value.

mod local;
mod macros;

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use strato_client::{Client, Error, ErrorKind};
use strato_proto::{Answer, Init, Op, Role, Wait};
use strato_server::{CustomFactory, CustomObject, Invoked};

use crate::executor::func::{address_at, binary_id, offset_of};
use crate::handle::{decode, default_client, encode, expect, unexpected, within, Handle};
use crate::ObjectName;

pub use local::LocalShared;

/// A type whose methods can run on the state server: implemented by
/// [`shared!`](macro@crate::shared), which dispatches `method` to the type's own method.
pub trait Shared: Serialize + DeserializeOwned + Send + 'static {
    /// Runs `method` on encoded `args`: `Ok(Some(result))` encoded, `Ok(None)` when it cannot
    /// proceed yet (it must then have changed nothing), `Err` when there is no such method or
    /// the arguments do not decode.
    fn invoke(&mut self, method: &str, args: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// A handle to a `T` on the state server (usually wrapped by a [`shared!`](macro@crate::shared)
/// handle). Cheap to clone; serializable, so tasks can receive it.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedObject<T> {
    handle: Handle,
    #[serde(skip)]
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedObject<T> {
    fn clone(&self) -> Self {
        SharedObject {
            handle: self.handle.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for SharedObject<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedObject")
            .field("type", &std::any::type_name::<T>())
            .field("name", &self.handle.name())
            .finish()
    }
}

impl<T: Shared> SharedObject<T> {
    /// Puts `value` on the default state server as a new anonymous object.
    pub fn new(value: T) -> Self {
        let client = default_client("SharedObject::new");
        expect(
            Self::open(&client, ObjectName::anonymous(), value),
            "SharedObject::new",
        )
    }

    /// Opens the object `name` on `client`, creating it from `value` if absent.
    ///
    /// On a standalone `strato serve` the first object of this program asks the server to
    /// start an objects host (see [`strato_worker::objects`]), which can take as long as
    /// fetching this executable.
    pub fn open(client: &Client, name: impl Into<ObjectName>, value: T) -> Result<Self, Error> {
        crate::executor::hook::keep_hook();
        let init = Init::Custom {
            type_name: std::any::type_name::<T>().to_string(),
            binary: binary_id().to_string(),
            factory: offset_of(make_object::<T> as Make as usize),
            state: encode(&value)?,
        };
        let name = name.into();
        let handle = match Handle::open(client, name.clone(), init.clone(), Role::Handle) {
            Err(refused) if refused.server_kind() == Some(ErrorKind::Unsupported) => {
                if !strato_worker::objects::request_host(client)? {
                    return Err(refused);
                }
                Handle::open(client, name, init, Role::Handle)?
            }
            opened => opened?,
        };
        Ok(SharedObject {
            handle,
            _value: PhantomData,
        })
    }

    /// Runs `method` with `args` on the server, waiting per `wait` while it cannot proceed;
    /// `Ok(None)` if it did not proceed in time.
    pub fn invoke<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
        wait: Wait,
    ) -> Result<Option<R>, Error> {
        let op = Op::Invoke {
            method: method.to_string(),
            args: encode(args)?,
            wait,
        };
        match self.handle.op(op)? {
            Answer::Blob(bytes) => decode(&bytes).map(Some),
            Answer::WouldBlock | Answer::TimedOut => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Runs `method`, waiting as long as it takes; a failure of the method (or of the state
    /// server) panics here, as the method would have panicked locally.
    pub fn call<A: Serialize, R: DeserializeOwned>(&self, method: &str, args: &A) -> R {
        let what = format!("method `{method}` of {}", std::any::type_name::<T>());
        let result = expect(self.invoke(method, args, Wait::Forever), &what);
        result.unwrap_or_else(|| panic!("strato: {what} returned without a result"))
    }

    /// Runs `method` only if it can proceed now.
    pub fn try_call<A: Serialize, R: DeserializeOwned>(&self, method: &str, args: &A) -> Option<R> {
        expect(self.invoke(method, args, Wait::Never), method)
    }

    /// Runs `method`, waiting at most `timeout` for it to be able to proceed.
    pub fn call_timeout<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
        timeout: Duration,
    ) -> Option<R> {
        expect(self.invoke(method, args, within(timeout)), method)
    }

    /// A copy of the whole value.
    pub fn get(&self) -> T {
        let snapshot = self
            .handle
            .op(Op::Snapshot)
            .and_then(|answer| match answer {
                Answer::Blob(bytes) => decode(&bytes),
                other => Err(unexpected(other)),
            });
        expect(snapshot, "SharedObject::get")
    }

    /// The object's name on the server.
    pub fn name(&self) -> &str {
        self.handle.name()
    }
}

/// Builds a live object from its serialized value: one monomorphised per type, referenced
/// from `Init::Custom` like a task's function.
type Make = fn(&[u8]) -> Result<Box<dyn CustomObject>, String>;

fn make_object<T: Shared>(state: &[u8]) -> Result<Box<dyn CustomObject>, String> {
    let value: T = postcard::from_bytes(state)
        .map_err(|e| format!("cannot decode a {}: {e}", std::any::type_name::<T>()))?;
    Ok(Box::new(UserObject { value }))
}

/// The factory of the embedded state server, which runs the user's binary.
#[derive(Debug)]
pub(crate) struct UserTypes;

impl CustomFactory for UserTypes {
    fn create(
        &self,
        type_name: &str,
        binary: &str,
        factory: i64,
        state: &[u8],
    ) -> Result<Box<dyn CustomObject>, String> {
        if binary != binary_id() {
            return Err(format!(
                "`{type_name}` is defined by binary {binary}, but this state server runs binary \
                 {}: user-defined objects need a server running the program that defines them",
                binary_id()
            ));
        }
        // SAFETY: `factory` was made by `offset_of(make_object::<T> as Make)` in a process of
        // this very binary (checked just above).
        let make = unsafe { std::mem::transmute::<usize, Make>(address_at(factory)) };
        make(state)
    }
}

/// A user's value living in the server.
struct UserObject<T> {
    value: T,
}

impl<T> std::fmt::Debug for UserObject<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserObject<{}>", std::any::type_name::<T>())
    }
}

impl<T: Shared> CustomObject for UserObject<T> {
    fn type_name(&self) -> &str {
        std::any::type_name::<T>()
    }

    fn invoke(&mut self, method: &str, args: &[u8]) -> Invoked {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.value.invoke(method, args))) {
            Ok(Ok(Some(result))) => Invoked::Done(result),
            Ok(Ok(None)) => Invoked::Blocked,
            Ok(Err(message)) => Invoked::Failed(message),
            Err(panic) => Invoked::Failed(format!(
                "method `{method}` panicked: {}",
                panic_text(&*panic)
            )),
        }
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        postcard::to_stdvec(&self.value).map_err(|e| e.to_string())
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => text.to_string(),
        (_, Some(text)) => text.clone(),
        _ => "a panic with a non-text payload".into(),
    }
}

/// Decodes a method's arguments (for [`shared!`](macro@crate::shared)).
#[doc(hidden)]
pub fn decode_args<A: DeserializeOwned>(method: &str, args: &[u8]) -> Result<A, String> {
    postcard::from_bytes(args).map_err(|e| format!("bad arguments for `{method}`: {e}"))
}

/// Encodes a method's result (for [`shared!`](macro@crate::shared)).
#[doc(hidden)]
pub fn encode_result<R: Serialize>(method: &str, result: &R) -> Result<Option<Vec<u8>>, String> {
    postcard::to_stdvec(result)
        .map(Some)
        .map_err(|e| format!("cannot encode the result of `{method}`: {e}"))
}
