//! The worker side of strato, under the `strato` facade (as `rayon-core` is under `rayon`).
//!
//! - [`func`]: how a function crosses to another process of the **same binary** (an offset
//!   from a fixed anchor, checked through [`func::binary_id`]).
//! - [`wire`]: what a task carries to its worker and what the worker reports back; large
//!   values travel as [`blob`]s on the state.
//! - [`worker`]: the worker loop a process enters when started in the worker role.
//! - [`compute`]: the [`Compute`] seam through which executors get workers, with its
//!   backends: [`LocalCompute`] (child processes of the driver) and [`HostCompute`]
//!   (workers on `strato worker` daemons, see [`hosts`]).
//! - [`exe`]: executables by content hash, published on the state and cached by hosts.
//! - [`session`]: how a worker anywhere learns that its driver is gone.
//! - [`objects`]: user-defined objects on a standalone `strato serve`, kept by a process of
//!   the user's binary fetched by hash.
//!
//! Users depend on `strato`; this crate is what its executor, `Pool` and `thread` stand on.
//!
//! ```
//! use strato_worker::func::{entry_of, FnRef};
//!
//! fn double(x: u64) -> u64 {
//!     x * 2
//! }
//!
//! // What a driver sends for `double`: a reference valid in every process of this binary.
//! let reference = FnRef::of(entry_of(double));
//! assert_eq!(reference, FnRef::of(entry_of(double)));
//! ```

pub mod blob;
mod board;
mod capture;
pub mod compute;
mod elf;
pub mod exe;
pub mod func;
pub mod hosts;
pub mod objects;
pub mod session;
pub mod trace;
pub mod wire;
pub mod worker;

pub use compute::{Compute, ComputeError, HostCompute, LocalCompute, WorkerSpec};
