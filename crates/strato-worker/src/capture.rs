//! What tasks write to standard output and standard error, captured on the worker.
//!
//! A worker redirects its file descriptors 1 and 2 once, at start, to two pipes. A thread
//! reads the pipes as output arrives, **forwards** every byte to where fds 1 and 2 pointed
//! before (for local workers, the driver's terminal: output stays visible as it was), and
//! keeps a copy (the first [`KEEP`] bytes of each stream per task). After each task the worker
//! drains both pipes itself and takes the copies: that output is the task's. Every read
//! happens under the stream's lock, so once the worker has drained a pipe, every byte written
//! before the task ended is in the copy. The cost per task without output is one `poll(2)`
//! that finds both pipes empty (about half a microsecond).
//!
//! Output written by threads a task left running, or by the worker between tasks, counts
//! for the next task the worker runs.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Bytes of each stream kept per task; the rest is forwarded but not kept.
pub(crate) const KEEP: usize = 16 << 10;

/// What one task wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// One redirected stream.
struct Stream {
    /// The read end of its pipe (non-blocking).
    pipe: RawFd,
    /// A copy of the descriptor it had before.
    original: RawFd,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    dropped: u64,
}

struct Capture {
    out: Stream,
    err: Stream,
}

static CAPTURE: OnceLock<Capture> = OnceLock::new();

fn lock(kept: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    kept.lock().unwrap_or_else(|e| e.into_inner())
}

/// Redirects fds 1 and 2 to pipes and starts the thread that forwards them (once).
pub(crate) fn install() -> std::io::Result<()> {
    if CAPTURE.get().is_some() {
        return Ok(());
    }
    let capture = Capture {
        out: Stream::redirect(1)?,
        err: Stream::redirect(2)?,
    };
    if CAPTURE.set(capture).is_err() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("strato-output".into())
        .spawn(forward_loop)?;
    Ok(())
}

/// What the current task wrote since the last call (both streams drained first).
pub(crate) fn take() -> Output {
    let Some(capture) = CAPTURE.get() else {
        return Output::default();
    };
    let _ = std::io::stdout().flush();
    let [out, err] = capture.pending();
    Output {
        stdout: capture.out.take(out),
        stderr: capture.err.take(err),
    }
}

/// Forwards whatever is still in the pipes (before the process exits).
pub(crate) fn flush() {
    if let Some(capture) = CAPTURE.get() {
        let _ = std::io::stdout().flush();
        drop(capture.out.drain());
        drop(capture.err.drain());
    }
}

/// The worker's own standard error, not captured (logs and exit messages).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OriginalStderr;

impl OriginalStderr {
    fn fd() -> RawFd {
        CAPTURE.get().map_or(2, |c| c.err.original)
    }

    /// Whether it is a terminal.
    pub fn is_terminal(self) -> bool {
        // SAFETY: isatty(3) takes a descriptor number and touches no memory.
        unsafe { libc::isatty(Self::fd()) == 1 }
    }
}

impl Write for OriginalStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_fd(Self::fd(), buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Whether each pipe holds unread bytes (or the forwarding thread holds kept ones).
    fn pending(&self) -> [bool; 2] {
        let mut fds = [self.out.pipe, self.err.pipe].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: `fds` is a valid array of pollfd of the length passed.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        let unread = |i: usize| ready < 0 || fds[i].revents != 0;
        [
            unread(0) || self.out.has_kept(),
            unread(1) || self.err.has_kept(),
        ]
    }
}

impl Stream {
    fn has_kept(&self) -> bool {
        let kept = lock(&self.kept);
        !kept.bytes.is_empty() || kept.dropped > 0
    }

    fn redirect(fd: RawFd) -> std::io::Result<Stream> {
        let original = check(
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number; it touches no memory.
            unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) },
        )?;
        let mut ends = [0 as RawFd; 2];
        // SAFETY: `ends` is a valid array of two descriptors for pipe(2) to fill.
        check(unsafe { libc::pipe(ends.as_mut_ptr()) })?;
        let [read, write] = ends;
        // The read end is non-blocking (drained until empty); the write end blocks, so a task
        // writing faster than the thread forwards waits.
        // SAFETY: fcntl, dup2 and close on descriptors this function owns; no memory is touched.
        unsafe {
            check(libc::fcntl(read, libc::F_SETFD, libc::FD_CLOEXEC))?;
            check(libc::fcntl(read, libc::F_SETFL, libc::O_NONBLOCK))?;
            check(libc::dup2(write, fd))?;
            libc::close(write);
        }
        Ok(Stream {
            pipe: read,
            original,
            kept: Mutex::new(Kept::default()),
        })
    }

    /// Reads everything in the pipe now: forwarded, and kept up to [`KEEP`] bytes.
    fn drain(&self) -> MutexGuard<'_, Kept> {
        let mut kept = lock(&self.kept);
        let mut buf = [0u8; 16 << 10];
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(self.pipe, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let bytes = &buf[..n as usize];
            let _ = write_fd(self.original, bytes);
            let room = KEEP.saturating_sub(kept.bytes.len()).min(bytes.len());
            kept.bytes.extend_from_slice(&bytes[..room]);
            kept.dropped += (bytes.len() - room) as u64;
        }
        kept
    }

    /// The kept bytes as text, draining the pipe first if `pending`.
    fn take(&self, pending: bool) -> String {
        if !pending {
            return String::new();
        }
        let mut kept = self.drain();
        if kept.bytes.is_empty() && kept.dropped == 0 {
            return String::new();
        }
        let Kept { bytes, dropped } = std::mem::take(&mut *kept);
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if dropped > 0 {
            text.push_str(&format!("\n[strato: {dropped} more bytes not kept]\n"));
        }
        text
    }
}

/// Waits for output on either pipe and drains it, for ever.
fn forward_loop() {
    let Some(capture) = CAPTURE.get() else {
        return;
    };
    let mut fds = [capture.out.pipe, capture.err.pipe].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // SAFETY: `fds` is a valid array of pollfd of the length passed.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            continue; // EINTR
        }
        if fds[0].revents != 0 {
            drop(capture.out.drain());
        }
        if fds[1].revents != 0 {
            drop(capture.err.drain());
        }
    }
}

fn write_fd(fd: RawFd, mut bytes: &[u8]) -> std::io::Result<usize> {
    let total = bytes.len();
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for reads of its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(total)
}

fn check(result: libc::c_int) -> std::io::Result<libc::c_int> {
    match result {
        -1 => Err(std::io::Error::last_os_error()),
        fd => Ok(fd),
    }
}
