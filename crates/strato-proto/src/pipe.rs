//! One direction of a `Pipe` as a stream socket: the messages' framing, and the blocking
//! send and receive that processes on the state server's machine use on it directly
//! (docs/two-tier.md, "Pipes on one host").
//!
//! The server makes a socket pair per direction and keeps both ends: it hands a copy of
//! the sending end to each local sender that asks ([`crate::Op::Attach`]) and of the
//! receiving end to each local receiver, and it sends and receives on them itself for
//! remote clients. So there is one stream per direction, whoever uses it, and the kernel's
//! buffer is the only copy of a message in flight. When the last sender is gone, the server
//! shuts the stream down for writing and a receiver reads the end of the stream after the
//! last message, as a `multiprocessing` `Connection` does.
//!
//! A message is an 8-byte header (its length, then the length xor [`CHECK`], both 32-bit
//! little-endian) and its bytes. The check word detects a stream broken by two processes
//! writing one end at once, which `multiprocessing` leaves undefined.
//!
//! ```
//! use strato_proto::pipe;
//!
//! let (tx, rx) = pipe::socket_pair().unwrap();
//! pipe::send_message(&tx, b"hello").unwrap();
//! assert!(pipe::readable(&rx, Some(std::time::Duration::ZERO)).unwrap());
//! assert_eq!(pipe::recv_message(&rx, 1 << 20).unwrap().as_deref(), Some(&b"hello"[..]));
//! drop(tx);
//! assert_eq!(pipe::recv_message(&rx, 1 << 20).unwrap(), None);
//! ```

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags};

/// The length of a message's header.
pub const HEADER_LEN: usize = 8;

/// Xored with the length into the header's second word.
pub const CHECK: u32 = 0x5354_5250;

/// A connected pair of Unix stream sockets (close-on-exec): what one sends, the other
/// receives.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// The send buffer asked for on Unix sockets that carry large messages.
pub const LOCAL_SEND_BUFFER: usize = 2 << 20;

/// Asks for a send buffer of [`LOCAL_SEND_BUFFER`] on a Unix stream socket, as far as the
/// system allows (`net.core.wmem_max` caps it; nothing changes where that is lower). With
/// the default (about 200 KiB) a 1 MiB message crosses in five turns, each waking the
/// reader and then the writer again; with room for it, one write and one read.
///
/// ```
/// let (a, _b) = strato_proto::pipe::socket_pair().unwrap();
/// strato_proto::pipe::room_for_large_messages(&a);
/// let size = rustix::net::sockopt::socket_send_buffer_size(&a).unwrap();
/// assert!(size >= 200 << 10);
/// ```
pub fn room_for_large_messages(socket: &impl std::os::fd::AsFd) {
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, LOCAL_SEND_BUFFER);
}

/// The header of a message of `len` bytes; an error past 4 GiB.
pub fn header(len: usize) -> io::Result<[u8; HEADER_LEN]> {
    let len = u32::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a pipe message is at most 4 GiB",
        )
    })?;
    let mut header = [0; HEADER_LEN];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&(len ^ CHECK).to_le_bytes());
    Ok(header)
}

/// The length a header announces; an error if its check word does not match, or if the
/// length is above `max_len`.
pub fn message_len(header: &[u8; HEADER_LEN], max_len: usize) -> io::Result<usize> {
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let len = word(0);
    if word(4) != len ^ CHECK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the pipe's stream is corrupt (were two processes using one end at once?)",
        ));
    }
    if len as usize > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a pipe message of {len} bytes is over the limit of {max_len}"),
        ));
    }
    Ok(len as usize)
}

/// Sends one message, blocking while the socket's buffer is full. A receiving end that is
/// gone is [`io::ErrorKind::BrokenPipe`] (never a `SIGPIPE`).
pub fn send_message(socket: impl AsFd, payload: &[u8]) -> io::Result<()> {
    let header = header(payload.len())?;
    let total = HEADER_LEN + payload.len();
    let mut sent = 0;
    while sent < total {
        let slices = unsent(&header, payload, sent);
        match rustix::net::sendmsg(
            socket.as_fd(),
            &slices,
            &mut Default::default(),
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => sent += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What is left of a message after `sent` of its bytes went out.
pub fn unsent<'a>(
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
    sent: usize,
) -> [IoSlice<'a>; 2] {
    let header_sent = sent.min(HEADER_LEN);
    let payload_sent = sent - header_sent;
    [
        IoSlice::new(&header[header_sent..]),
        IoSlice::new(&payload[payload_sent..]),
    ]
}

/// Receives one message, blocking until it is whole; `None` at the end of the stream (every
/// sender gone and every message read). A stream that ends inside a message, or a message
/// longer than `max_len`, is an error.
pub fn recv_message(socket: impl AsFd, max_len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER_LEN];
    let got = recv_exact(socket.as_fd(), &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(cut_short());
    }
    let len = message_len(&header, max_len)?;
    let mut payload = Vec::with_capacity(len);
    while payload.len() < len {
        let want = len - payload.len();
        let spare = &mut payload.spare_capacity_mut()[..want];
        match rustix::net::recv(socket.as_fd(), spare, RecvFlags::WAITALL) {
            Ok((([], _), _)) => return Err(cut_short()),
            Ok(((filled, _), _)) => {
                let n = filled.len();
                // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
                unsafe { payload.set_len(payload.len() + n) };
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(payload))
}

/// Fills `buf` unless the stream ends first; the bytes read (0: it had ended).
fn recv_exact(socket: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match rustix::net::recv(socket, &mut buf[got..], RecvFlags::WAITALL) {
            Ok((0, _)) => break,
            Ok((n, _)) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

/// The error of a stream that ended inside a message.
pub fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the pipe's stream ended inside a message",
    )
}

/// Whether a message (or the end of the stream) is there to read, waiting at most
/// `timeout` (forever if `None`). A signal ends the wait early with
/// [`io::ErrorKind::Interrupted`], so that a caller can run its handlers.
pub fn readable(socket: impl AsFd, timeout: Option<Duration>) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&socket, PollFlags::IN)];
    let limit = timeout.map(|t| Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: t.subsec_nanos() as _,
    });
    Ok(poll(&mut fds, limit.as_ref())? > 0)
}

/// How long a receiver polls a quiet socket before it sleeps: about what one wake-up of a
/// sleeping process costs on a small VM, so polling never costs more than twice what
/// sleeping would, and a reply that comes within it is taken without a wake-up.
pub const SPIN: Duration = Duration::from_micros(50);

/// Polls `socket` until it is readable or `spin` has passed, without sleeping; whether it
/// became readable.
///
/// ```
/// let (a, b) = strato_proto::pipe::socket_pair().unwrap();
/// let quiet = std::time::Duration::from_micros(10);
/// assert!(!strato_proto::pipe::spin_until_readable(&b, quiet));
/// strato_proto::pipe::send_message(&a, b"x").unwrap();
/// assert!(strato_proto::pipe::spin_until_readable(&b, quiet));
/// ```
pub fn spin_until_readable(socket: impl AsFd, spin: Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        match readable(&socket, Some(Duration::ZERO)) {
            Ok(true) => return true,
            Ok(false) if start.elapsed() < spin => std::hint::spin_loop(),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_order_and_size() {
        let (tx, rx) = socket_pair().unwrap();
        let big = vec![7u8; 3 << 20];
        let sender = std::thread::spawn(move || {
            send_message(&tx, b"").unwrap();
            send_message(&tx, &big).unwrap();
            send_message(&tx, b"last").unwrap();
        });
        assert_eq!(recv_message(&rx, 4 << 20).unwrap(), Some(vec![]));
        let got = recv_message(&rx, 4 << 20).unwrap().unwrap();
        assert!(got.len() == 3 << 20 && got.iter().all(|b| *b == 7));
        assert_eq!(recv_message(&rx, 4 << 20).unwrap(), Some(b"last".to_vec()));
        sender.join().unwrap();
        assert_eq!(recv_message(&rx, 4 << 20).unwrap(), None);
    }

    #[test]
    fn a_corrupt_or_oversized_header_is_an_error_not_a_message() {
        let (tx, rx) = socket_pair().unwrap();
        rustix::net::send(&tx, &[1, 0, 0, 0, 9, 9, 9, 9], SendFlags::empty()).unwrap();
        let err = recv_message(&rx, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        send_message(&tx, &[0; 100]).unwrap();
        let err = recv_message(&rx, 10).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
    }

    #[test]
    fn a_stream_cut_inside_a_message_is_an_error() {
        let (tx, rx) = socket_pair().unwrap();
        let header = header(10).unwrap();
        rustix::net::send(&tx, &header, SendFlags::empty()).unwrap();
        rustix::net::send(&tx, b"abc", SendFlags::empty()).unwrap();
        drop(tx);
        let err = recv_message(&rx, 1 << 20).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_send_to_a_closed_receiver_is_a_broken_pipe() {
        let (tx, rx) = socket_pair().unwrap();
        assert!(!readable(&rx, Some(Duration::from_millis(1))).unwrap());
        drop(rx);
        let err = send_message(&tx, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
