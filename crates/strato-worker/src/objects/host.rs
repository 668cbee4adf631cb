//! The objects host: a process of the user's binary, started by `strato serve` with
//! `STRATO_ROLE=objects`, that keeps the user-defined objects of that binary and runs their
//! methods when the server asks, over its stdin and stdout.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter};

use strato_server::{CustomFactory, CustomObject, Invoked};

use super::pipe::{receive, send, FromHost, ToHost};
use crate::func::binary_id;
use crate::worker::ROLE_ENV;

/// The role that makes a process an objects host.
pub(crate) const OBJECTS_ROLE: &str = "objects";

/// Becomes an objects host (and never returns) if this process was started as one, building
/// objects with `factory` (the facade's, which knows the user's types). In any other process
/// it does nothing.
///
/// ```
/// # #[derive(Debug)] struct NoTypes;
/// # impl strato_server::CustomFactory for NoTypes {
/// #     fn create(&self, _: &str, _: &str, _: i64, _: &[u8])
/// #         -> Result<Box<dyn strato_server::CustomObject>, String> { Err("none".into()) }
/// # }
/// strato_worker::objects::enter_if_objects_host(&NoTypes);
/// ```
pub fn enter_if_objects_host(factory: &dyn CustomFactory) {
    if std::env::var_os(ROLE_ENV).is_some_and(|role| role == OBJECTS_ROLE) {
        std::env::remove_var(ROLE_ENV);
        let code = match serve(factory) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("strato objects host (pid {}): {e}", std::process::id());
                1
            }
        };
        std::process::exit(code);
    }
}

/// Answers the server's requests until it closes the pipe.
fn serve(factory: &dyn CustomFactory) -> std::io::Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let binary = binary_id().to_string();
    send(&mut output, &FromHost::Hello { binary })?;
    let mut objects: HashMap<u64, Box<dyn CustomObject>> = HashMap::new();
    while let Some(request) = receive::<ToHost>(&mut input)? {
        if let Some(answer) = answer(factory, &mut objects, request) {
            send(&mut output, &answer)?;
        }
    }
    Ok(())
}

/// What one request does to `objects`, and its answer (none for `Drop`).
fn answer(
    factory: &dyn CustomFactory,
    objects: &mut HashMap<u64, Box<dyn CustomObject>>,
    request: ToHost,
) -> Option<FromHost> {
    let missing = |id| FromHost::Failed(format!("the objects host has no object {id}"));
    Some(match request {
        ToHost::Create {
            id,
            type_name,
            binary,
            factory: constructor,
            state,
        } => match factory.create(&type_name, &binary, constructor, &state) {
            Ok(object) => {
                objects.insert(id, object);
                FromHost::Created
            }
            Err(message) => FromHost::Failed(message),
        },
        ToHost::Invoke { id, method, args } => match objects.get_mut(&id) {
            Some(object) => match object.invoke(&method, &args) {
                Invoked::Done(bytes) => FromHost::Bytes(bytes),
                Invoked::Blocked => FromHost::Blocked,
                Invoked::Failed(message) => FromHost::Failed(message),
            },
            None => missing(id),
        },
        ToHost::Snapshot { id } => match objects.get(&id) {
            Some(object) => match object.snapshot() {
                Ok(bytes) => FromHost::Bytes(bytes),
                Err(message) => FromHost::Failed(message),
            },
            None => missing(id),
        },
        ToHost::Drop { id } => {
            objects.remove(&id);
            return None;
        }
    })
}
