//! [`Reference`]: this process's reference to a named object on the state, in one role.

use pyo3::prelude::*;
use std::sync::OnceLock;

use strato::{Client, LocalWord, ObjectName};
use strato_proto::{Answer, Call, Init, Op, Role, Wait};

use crate::{client, engine_error, interruptible, wait_in_slices, waited, StratoError};

/// A reference this process holds to the object `name`, in `role`, released on drop.
pub(crate) struct Reference {
    client: Client,
    name: String,
    role: Role,
    /// An atomic's word or an array's items in the state server's arena, located at the
    /// first such operation when this process is on the server's machine (two-tier state).
    local: OnceLock<Option<LocalWord>>,
}

impl Reference {
    /// Opens (creating from `init` if absent) the object `name`; a fresh name if None.
    pub(crate) fn open(
        py: Python<'_>,
        name: Option<String>,
        init: Init,
        role: Role,
    ) -> PyResult<Reference> {
        let client = client()?;
        let name = name.unwrap_or_else(|| format!("py-{}", ObjectName::anonymous().as_str()));
        let open = Call::Open {
            name: name.clone(),
            init,
            persistent: false,
            role,
        };
        py.detach(|| client.call(open)).map_err(engine_error)?;
        Ok(Reference::new(client, name, role))
    }

    fn new(client: Client, name: String, role: Role) -> Reference {
        Reference {
            client,
            name,
            role,
            local: OnceLock::new(),
        }
    }

    /// Runs an atomic's or an array's operation on the object's words in shared memory, if
    /// this process has them; `None` when the engine must answer (another operation, a
    /// remote process, a deleted object).
    fn local_answer(&self, py: Python<'_>, op: &Op) -> Option<PyResult<Answer>> {
        let local = matches!(
            op,
            Op::Load
                | Op::Store(_)
                | Op::Swap(_)
                | Op::Fetch(..)
                | Op::CompareExchange { .. }
                | Op::ArrayLen
                | Op::ArrayGet(_)
                | Op::ArraySet(..)
                | Op::ArrayGetRange(..)
                | Op::ArraySetRange(..)
        );
        if !local {
            return None;
        }
        let word = self
            .local
            .get_or_init(|| py.detach(|| self.client.locate(&self.name)).ok().flatten());
        Some(match word.as_ref()?.apply(op)? {
            Ok(answer) => Ok(answer),
            Err(strato::Error::Server { kind, message }) => Err(StratoError::new_err(format!(
                "{}: {kind:?}: {message}",
                self.name
            ))),
            Err(e) => Err(engine_error(e)),
        })
    }

    /// Takes the reference in `role` that another process lent.
    pub(crate) fn adopt(py: Python<'_>, name: String, role: Role) -> PyResult<Reference> {
        let client = client()?;
        let adopt = Call::Adopt {
            name: name.clone(),
            role,
        };
        py.detach(|| client.call(adopt)).map_err(engine_error)?;
        Ok(Reference::new(client, name, role))
    }

    /// Counts a reference in flight (a pickled handle), so the object lives until the
    /// receiver adopts it (or the TTL collects it). Returns the name.
    pub(crate) fn lend(&self, py: Python<'_>) -> PyResult<String> {
        let lend = Call::Lend {
            name: self.name.clone(),
            role: self.role,
        };
        py.detach(|| self.client.call(lend)).map_err(engine_error)?;
        Ok(self.name.clone())
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The role it holds.
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// The connection it uses.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// One operation on the object; an engine error becomes [`StratoError`].
    pub(crate) fn op(&self, py: Python<'_>, op: Op) -> PyResult<Answer> {
        if let Some(answer) = self.local_answer(py, &op) {
            return answer;
        }
        let call = Call::Op {
            name: self.name.clone(),
            op,
        };
        let answer = py.detach(|| self.client.call(call)).map_err(engine_error)?;
        match answer {
            Answer::Error { kind, message } => Err(StratoError::new_err(format!(
                "{}: {kind:?}: {message}",
                self.name
            ))),
            answer => Ok(answer),
        }
    }

    /// One operation sent without waiting for its answer (the connection keeps the order
    /// of this process's calls, so a later call of this process sees its effect).
    pub(crate) fn cast(&self, py: Python<'_>, op: Op) -> PyResult<()> {
        if let Some(answer) = self.local_answer(py, &op) {
            return answer.map(drop);
        }
        let call = Call::Op {
            name: self.name.clone(),
            op,
        };
        py.detach(|| self.client.cast(call)).map_err(engine_error)
    }

    /// One operation that cannot fail for this caller, sent with (`answered`) or without
    /// waiting for the engine's answer (see [`Reference::cast`]).
    pub(crate) fn apply(&self, py: Python<'_>, op: Op, answered: bool) -> PyResult<()> {
        if answered {
            self.op(py, op).map(drop)
        } else {
            self.cast(py, op)
        }
    }

    /// One operation that waits in one piece (a barrier's, whose timeout breaks it), on a
    /// thread of its own so that Ctrl-C interrupts the caller (see [`interruptible`]).
    pub(crate) fn op_interruptible(&self, py: Python<'_>, op: Op) -> PyResult<Answer> {
        let (client, name) = (self.client.clone(), self.name.clone());
        let call = Call::Op {
            name: name.clone(),
            op,
        };
        match interruptible(py, "strato-wait", move || client.call(call))? {
            Ok(Answer::Error { kind, message }) => {
                Err(StratoError::new_err(format!("{name}: {kind:?}: {message}")))
            }
            Ok(answer) => Ok(answer),
            Err(e) => Err(engine_error(e)),
        }
    }

    /// Runs an operation that may wait (see [`wait_in_slices`]); `None` if it timed out.
    pub(crate) fn blocking(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
        make: impl Fn(Wait) -> Op,
    ) -> PyResult<Option<Answer>> {
        wait_in_slices(py, block, timeout, |wait| {
            self.op(py, make(wait)).map(waited)
        })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let release = Call::Release {
            name: std::mem::take(&mut self.name),
            role: self.role,
        };
        let _ = self.client.call(release);
    }
}
