//! The shared-memory arena of two-tier state (docs/two-tier.md): the words where a state
//! server keeps its atomics and arrays of fixed-size items, mapped by the server and by clients on its machine, so that a
//! local client runs an atomic's operation with the CPU's own instruction on the one copy
//! every participant uses.
//!
//! The arena is a `memfd` of [`Slot`]s of two 64-bit words each: a header (the value's
//! [`Scalar`] flavour and a deleted flag) and the value's bits. The server creates it and
//! hands its descriptor to local clients after their `Hello`; remote clients' operations
//! are run by the server on the same word, with the same function, [`apply_to_word`].
//! An array takes a run of slots ([`array_slots`], [`Arena::init_array`]): a header, a
//! sequence word that makes each read and write of it happen at one instant, and its items.
//!
//! ```
//! use strato_proto::arena::{Arena, Slot};
//! use strato_proto::{Answer, FetchOp, Op, Scalar};
//!
//! let server = Arena::create(1 << 12).unwrap();
//! let slot = Slot { index: 3, tag: Scalar::U64(0).tag() };
//! server.init(slot, Scalar::U64(40));
//! // A client maps the same memory (in another process, from the descriptor it was sent).
//! let client = Arena::map(server.descriptor().try_clone().unwrap(), server.len()).unwrap();
//! let add = Op::Fetch(FetchOp::Add, Scalar::U64(2));
//! assert_eq!(client.apply(slot, &add), Some(Answer::Scalar(Scalar::U64(40))));
//! assert_eq!(server.apply(slot, &Op::Load), Some(Answer::Scalar(Scalar::U64(42))));
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::{apply_atomic, Answer, Op, Scalar};

mod array;
pub use array::{array_slots, ARRAY_TAG};

/// Bytes per slot: a header word and a value word.
pub const SLOT_BYTES: usize = 16;

/// The header bit that marks a deleted object: a local client seeing it goes to the server,
/// which answers as it does for any deleted object.
const DELETED: u64 = 1 << 8;

/// Where one object's words are in the arena, and the flavour of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The slot's number; its header is at byte `index * SLOT_BYTES`.
    pub index: u32,
    /// The value's flavour ([`Scalar::tag`]).
    pub tag: u8,
}

/// A mapping of an arena: the server's own, or a client's of the descriptor it was sent.
#[derive(Debug)]
pub struct Arena {
    base: NonNull<AtomicU64>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is shared memory that is only ever accessed through `AtomicU64`s
// (`word`), which are `Sync`; the pointer stays valid until `Drop` unmaps it, and `Drop`
// needs `&mut self`, so no reference into it outlives the mapping.
unsafe impl Send for Arena {}
// SAFETY: as for `Send`: every access is an atomic operation.
unsafe impl Sync for Arena {}

impl Arena {
    /// A new arena of `len` bytes (rounded down to whole slots), zeroed, in a `memfd` whose
    /// pages are allocated as they are touched.
    pub fn create(len: usize) -> std::io::Result<Arena> {
        let fd = rustix::fs::memfd_create("strato-arena", rustix::fs::MemfdFlags::CLOEXEC)?;
        let len = len / SLOT_BYTES * SLOT_BYTES;
        rustix::fs::ftruncate(&fd, len as u64)?;
        Arena::map(fd, len)
    }

    /// Maps the arena of `fd`, `len` bytes long (as its server said).
    pub fn map(fd: OwnedFd, len: usize) -> std::io::Result<Arena> {
        let size = rustix::fs::fstat(&fd)?.st_size;
        if len == 0 || !len.is_multiple_of(SLOT_BYTES) || size < len as i64 {
            let why = format!("an arena of {len} bytes does not fit its file of {size} bytes");
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
        }
        use rustix::mm::{mmap, MapFlags, ProtFlags};
        // SAFETY: a fresh shared mapping of a file we hold, at an address the kernel picks;
        // nothing else is mapped there, and the file is at least `len` bytes long.
        let base = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )?
        };
        let base = NonNull::new(base.cast::<AtomicU64>())
            .ok_or_else(|| std::io::Error::other("mmap answered a null address for the arena"))?;
        Ok(Arena { base, len, fd })
    }

    /// The arena's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no slots (never, for a mapped arena).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many slots it holds.
    pub fn slots(&self) -> u32 {
        (self.len / SLOT_BYTES).min(u32::MAX as usize) as u32
    }

    /// The descriptor of its memory, to send to a local client.
    pub fn descriptor(&self) -> &OwnedFd {
        &self.fd
    }

    /// Word `n` of the arena; `None` past its end.
    fn word(&self, n: usize) -> Option<&AtomicU64> {
        if n >= self.len / 8 {
            return None;
        }
        // SAFETY: `n` is within the mapping, which is 8-aligned (page-aligned) and lives as
        // long as `self`; the memory is only ever accessed atomically.
        Some(unsafe { &*self.base.as_ptr().add(n) })
    }

    fn words(&self, slot: Slot) -> Option<(&AtomicU64, &AtomicU64)> {
        let first = slot.index as usize * 2;
        Some((self.word(first)?, self.word(first + 1)?))
    }

    /// Makes `slot` hold `value`, live (the server, when it gives the slot to an object).
    pub fn init(&self, slot: Slot, value: Scalar) {
        if let Some((header, word)) = self.words(slot) {
            word.store(value.to_bits(), Ordering::SeqCst);
            header.store(u64::from(value.tag()), Ordering::SeqCst);
        }
    }

    /// Adds `delta` to the 64-bit integer in `slot` (wrapping, as `u64` and `i64` add),
    /// answering the previous bits: the hot path of `fetch_add`, without an [`Op`] or an
    /// [`Answer`]. `None` if the slot is deleted or not a 64-bit integer's.
    ///
    /// ```
    /// use strato_proto::arena::{Arena, Slot};
    /// use strato_proto::Scalar;
    /// let arena = Arena::create(4096).unwrap();
    /// let slot = Slot { index: 0, tag: Scalar::U64(0).tag() };
    /// arena.init(slot, Scalar::U64(5));
    /// assert_eq!(arena.fetch_add(slot, 2), Some(5));
    /// assert_eq!(arena.fetch_add(slot, u64::MAX), Some(7)); // minus one
    /// ```
    #[inline]
    pub fn fetch_add(&self, slot: Slot, delta: u64) -> Option<u64> {
        let integer = slot.tag == Scalar::U64(0).tag() || slot.tag == Scalar::I64(0).tag();
        let (header, word) = self.words(slot).filter(|_| integer)?;
        if header.load(Ordering::SeqCst) != u64::from(slot.tag) {
            return None;
        }
        Some(word.fetch_add(delta, Ordering::SeqCst))
    }

    /// Marks `slot` deleted: local clients then take their calls to the server.
    pub fn mark_deleted(&self, slot: Slot) {
        if let Some((header, _)) = self.words(slot) {
            header.fetch_or(DELETED, Ordering::SeqCst);
        }
    }

    /// Runs an atomic's operation on `slot`, or an array's on an array's slot
    /// ([`ARRAY_TAG`]); `None` if the slot is deleted, is not of the flavour `slot` says,
    /// or `op` is not its object's (the caller asks the server).
    pub fn apply(&self, slot: Slot, op: &Op) -> Option<Answer> {
        if slot.tag == ARRAY_TAG {
            return array::apply(self, slot, op);
        }
        let (header, word) = self.words(slot)?;
        if header.load(Ordering::SeqCst) != u64::from(slot.tag) {
            return None;
        }
        apply_to_word(word, slot.tag, op)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of this length; `&mut self` means no reference
        // into it is alive.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Sends `bytes` on the Unix socket `socket` with the descriptor `fd` attached
/// (`SCM_RIGHTS`), without blocking; answers how many bytes went (the rest is the caller's
/// to write as usual).
pub fn send_with_descriptor(
    socket: std::os::fd::BorrowedFd<'_>,
    bytes: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room to attach a descriptor"));
    }
    let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    let sent = rustix::net::sendmsg(socket, &[std::io::IoSlice::new(bytes)], &mut control, flags)?;
    Ok(sent)
}

/// Reads from the Unix socket `socket` into `buf`, with the descriptor the peer attached,
/// if any (close-on-exec; any beyond the first are closed).
pub fn recv_with_descriptor(
    socket: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let flags = RecvFlags::CMSG_CLOEXEC;
    let received = rustix::net::recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(buf)],
        &mut control,
        flags,
    )?;
    let mut descriptor = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                descriptor.get_or_insert(fd);
            }
        }
    }
    Ok((received.bytes, descriptor))
}

/// Runs an atomic's operation on the bits of a value of flavour `tag` in `word`, as
/// [`apply_atomic`] does on a [`Scalar`]: one hardware atomic (a load, a swap, or a
/// compare-and-swap loop), so it is linearizable against every other caller of this
/// function on the same word, in any process. `None` if `op` is not an atomic's or `tag`
/// is no flavour.
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// use strato_proto::{arena::apply_to_word, Answer, FetchOp, Op, Scalar};
/// let word = AtomicU64::new(Scalar::I8(127).to_bits());
/// let tag = Scalar::I8(0).tag();
/// let add = Op::Fetch(FetchOp::Add, Scalar::I8(1));
/// assert_eq!(apply_to_word(&word, tag, &add), Some(Answer::Scalar(Scalar::I8(127))));
/// assert_eq!(apply_to_word(&word, tag, &Op::Load), Some(Answer::Scalar(Scalar::I8(-128))));
/// ```
pub fn apply_to_word(word: &AtomicU64, tag: u8, op: &Op) -> Option<Answer> {
    let decode = |bits| Scalar::from_bits(tag, bits);
    match op {
        Op::Load => return Some(Answer::Scalar(decode(word.load(Ordering::SeqCst))?)),
        Op::Fetch(crate::FetchOp::Add, Scalar::U64(n)) if tag == Scalar::U64(0).tag() => {
            let previous = word.fetch_add(*n, Ordering::SeqCst);
            return Some(Answer::Scalar(Scalar::U64(previous)));
        }
        Op::Fetch(crate::FetchOp::Add, Scalar::I64(n)) if tag == Scalar::I64(0).tag() => {
            let previous = word.fetch_add(*n as u64, Ordering::SeqCst);
            return Some(Answer::Scalar(Scalar::I64(previous as i64)));
        }
        _ => {}
    }
    let mut current = word.load(Ordering::SeqCst);
    loop {
        let mut value = decode(current)?;
        let answer = apply_atomic(&mut value, op)?;
        let next = value.to_bits();
        // An error, a failed exchange or a store of the same bits changes nothing: the
        // operation takes effect at the load.
        if next == current || matches!(answer, Answer::Error { .. }) {
            return Some(answer);
        }
        match word.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return Some(answer),
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FetchOp;

    fn arena_with(value: Scalar) -> (Arena, Slot) {
        let arena = Arena::create(4096).unwrap();
        let slot = Slot {
            index: 1,
            tag: value.tag(),
        };
        arena.init(slot, value);
        (arena, slot)
    }

    #[test]
    fn a_deleted_slot_is_left_to_the_server() {
        let (arena, slot) = arena_with(Scalar::U64(1));
        assert!(arena.apply(slot, &Op::Load).is_some());
        arena.mark_deleted(slot);
        assert_eq!(arena.apply(slot, &Op::Load), None);
    }

    #[test]
    fn the_add_path_wraps_and_leaves_deleted_or_narrow_slots_to_the_server() {
        let (arena, slot) = arena_with(Scalar::I64(-1));
        assert_eq!(arena.fetch_add(slot, 1), Some(u64::MAX));
        assert_eq!(
            arena.apply(slot, &Op::Load),
            Some(Answer::Scalar(Scalar::I64(0)))
        );
        arena.mark_deleted(slot);
        assert_eq!(arena.fetch_add(slot, 1), None);
        let (arena, narrow) = arena_with(Scalar::U32(1));
        assert_eq!(
            arena.fetch_add(narrow, 1),
            None,
            "a u32 wraps at its own width"
        );
    }

    #[test]
    fn a_slot_of_another_flavour_is_left_to_the_server() {
        let (arena, slot) = arena_with(Scalar::U64(1));
        let wrong = Slot {
            tag: Scalar::I32(0).tag(),
            ..slot
        };
        assert_eq!(arena.apply(wrong, &Op::Load), None);
    }

    #[test]
    fn a_slot_past_the_end_is_refused_not_read() {
        let (arena, _) = arena_with(Scalar::U64(1));
        let far = Slot {
            index: arena.slots(),
            tag: Scalar::U64(0).tag(),
        };
        assert_eq!(arena.apply(far, &Op::Load), None);
    }

    #[test]
    fn a_wrong_flavour_operation_answers_the_servers_error_and_changes_nothing() {
        let (arena, slot) = arena_with(Scalar::U64(7));
        let answer = arena.apply(slot, &Op::Store(Scalar::Bool(true))).unwrap();
        assert!(matches!(answer, Answer::Error { .. }), "{answer:?}");
        assert_eq!(
            arena.apply(slot, &Op::Load),
            Some(Answer::Scalar(Scalar::U64(7)))
        );
    }

    #[test]
    fn two_mappings_see_one_word_under_contention() {
        let (server, slot) = arena_with(Scalar::U64(0));
        let client = Arena::map(server.descriptor().try_clone().unwrap(), server.len()).unwrap();
        let add = Op::Fetch(FetchOp::Add, Scalar::U64(1));
        let max = Op::Fetch(FetchOp::Max, Scalar::U64(0));
        std::thread::scope(|s| {
            for arena in [&server, &client, &server, &client] {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        arena.apply(slot, &add).unwrap();
                        arena.apply(slot, &max).unwrap();
                    }
                });
            }
        });
        assert_eq!(
            server.apply(slot, &Op::Load),
            Some(Answer::Scalar(Scalar::U64(40_000)))
        );
    }

    #[test]
    fn a_descriptor_travels_over_a_unix_socket() {
        use std::io::Read;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (server, slot) = arena_with(Scalar::U64(5));
        let sent = send_with_descriptor(a.as_fd(), b"hello", server.descriptor().as_fd()).unwrap();
        assert_eq!(sent, 5);
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_descriptor(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let client = Arena::map(fd.unwrap(), server.len()).unwrap();
        assert_eq!(
            client.apply(slot, &Op::Load),
            Some(Answer::Scalar(Scalar::U64(5)))
        );
        // Bytes without a descriptor read as plain bytes.
        std::io::Write::write_all(&mut &a, b"more").unwrap();
        let (n, fd) = recv_with_descriptor(b.as_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..n], fd.is_none()), (&b"more"[..], true));
        drop(a);
        assert_eq!(b.read(&mut buf).unwrap(), 0);
    }

    proptest::proptest! {
        #[test]
        fn the_word_agrees_with_apply_atomic(start: i16, args in proptest::collection::vec((0u8..10, proptest::prelude::any::<i16>()), 1..20)) {
            let ops = [FetchOp::Add, FetchOp::Sub, FetchOp::And, FetchOp::Or, FetchOp::Xor,
                       FetchOp::Nand, FetchOp::Max, FetchOp::Min];
            let word = AtomicU64::new(Scalar::I16(start).to_bits());
            let mut model = Scalar::I16(start);
            for (which, arg) in args {
                let op = match which {
                    8 => Op::Swap(Scalar::I16(arg)),
                    9 => Op::CompareExchange { current: Scalar::I16(arg), new: Scalar::I16(arg / 2) },
                    n => Op::Fetch(ops[n as usize], Scalar::I16(arg)),
                };
                let want = apply_atomic(&mut model, &op);
                proptest::prop_assert_eq!(apply_to_word(&word, model.tag(), &op), want);
            }
            proptest::prop_assert_eq!(Scalar::from_bits(model.tag(), word.load(Ordering::SeqCst)), Some(model));
        }
    }
}
