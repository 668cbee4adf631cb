//! Bad input against a real `strato serve` process: garbage bytes, truncated, oversized and
//! malformed frames sent over raw TCP sockets, and refused handshakes (token, protocol
//! version, magic). After each bad client the server must still serve a fresh client, and
//! the objects created before it must be intact. Also the `strato` command line: `serve`
//! refusing to listen beyond loopback without a token, and `ping`.

mod common;

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use strato::sync::atomic::AtomicU64;
use strato::sync::{Mutex, Queue};
use strato::{Client, ConnectOptions, Error};
use strato_proto::{
    decode, encode_frame, Blob, Call, Hello, HelloReply, Op, Request, ServerMessage, Wait, MAGIC,
    PROTOCOL_VERSION,
};

use common::{Backend, ServeProcess};

/// Objects made by a well-behaved client before a bad one comes; `intact` checks them.
struct Witness {
    counter: AtomicU64,
    queue: Queue<String>,
}

impl Witness {
    fn new(server: &ServeProcess) -> Witness {
        let client = server.client();
        let counter = AtomicU64::open(&client, "witness-counter", 41).unwrap();
        let queue = Queue::open(&client, "witness-queue", None).unwrap();
        queue.put("kept".to_string());
        Witness { counter, queue }
    }

    /// The old objects are unchanged, and a new client on the server works.
    fn intact(&self, server: &ServeProcess) {
        assert_eq!(self.counter.load(SeqCst), 41, "the counter changed");
        assert_eq!(self.queue.len(), 1, "the queue lost its item");
        let fresh = server.client();
        let counter = AtomicU64::open(&fresh, "witness-counter", 0).unwrap();
        assert_eq!(
            counter.fetch_add(1, SeqCst),
            41,
            "a new client sees the same object"
        );
        assert_eq!(counter.fetch_sub(1, SeqCst), 42);
    }
}

/// A raw socket to `server`; reads give up after 10 s rather than hang the test.
fn raw(server: &ServeProcess) -> TcpStream {
    let address = server.address();
    let stream = TcpStream::connect(address.trim_start_matches("tcp://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn hello(magic: [u8; 4], version: u32, token: Option<&str>) -> Vec<u8> {
    let hello = Hello {
        magic,
        version,
        token: token.map(String::from),
        client: "bad_input test".into(),
        arena: false,
    };
    encode_frame(&hello).unwrap()
}

/// The next frame's payload, or `None` once the server has closed the connection.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if is_close(&e) => return None,
        Err(e) => panic!("the server neither answered nor closed: {e}"),
    }
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut payload).expect("a whole frame");
    Some(payload)
}

fn is_close(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        IoErrorKind::UnexpectedEof | IoErrorKind::ConnectionReset | IoErrorKind::ConnectionAborted
    )
}

/// Asserts the server closes the connection (after at most one last frame, returned).
fn closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let last = read_frame(stream)?;
    assert_eq!(
        read_frame(stream),
        None,
        "the server keeps the connection open"
    );
    Some(last)
}

/// Sends a valid hello and checks the welcome.
fn handshake(stream: &mut TcpStream) -> u64 {
    stream
        .write_all(&hello(MAGIC, PROTOCOL_VERSION, None))
        .unwrap();
    let reply = read_frame(stream).expect("a handshake reply");
    match decode::<HelloReply>(&reply).unwrap() {
        HelloReply::Welcome(welcome) => welcome.max_frame,
        HelloReply::Refusal(r) => panic!("refused: {}", r.reason),
    }
}

/// The refusal of a handshake, which must be followed by the server closing.
fn refusal(stream: &mut TcpStream) -> String {
    let last = closed(stream).expect("a refusal before closing");
    match decode::<HelloReply>(&last).unwrap() {
        HelloReply::Refusal(r) => r.reason,
        HelloReply::Welcome(_) => panic!("a bad handshake was welcomed"),
    }
}

/// After a handshake: the server answers a `Fatal` (reason returned) or just closes.
fn fatal(stream: &mut TcpStream) -> Option<String> {
    let last = closed(stream)?;
    match decode::<ServerMessage>(&last).unwrap() {
        ServerMessage::Fatal(r) => Some(r.reason),
        ServerMessage::Reply(r) => panic!("a reply to a bad frame: {r:?}"),
    }
}

mod frames {
    use super::*;

    #[test]
    fn garbage_before_the_handshake_is_refused() {
        let server = ServeProcess::start();
        let witness = Witness::new(&server);
        let noise: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let garbage: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[0; 4],
            &[0, 0, 0, 3, 0xff, 0xff, 0xff],
            &noise,
        ];
        for bytes in garbage {
            let mut stream = raw(&server);
            stream.write_all(bytes).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            if let Some(last) = closed(&mut stream) {
                assert!(matches!(
                    decode::<HelloReply>(&last),
                    Ok(HelloReply::Refusal(_))
                ));
            }
            witness.intact(&server);
        }
    }

    #[test]
    fn a_truncated_frame_then_close_leaves_the_server_serving() {
        let server = ServeProcess::start();
        let witness = Witness::new(&server);
        let mut stream = raw(&server);
        handshake(&mut stream);
        let frame = encode_frame(&Request {
            id: 1,
            call: Call::Ping,
        })
        .unwrap();
        stream.write_all(&frame[..frame.len() - 1]).unwrap();
        witness.intact(&server);
        stream.shutdown(Shutdown::Write).unwrap();
        if let Some(reason) = fatal(&mut stream) {
            assert!(reason.contains("inside a frame"), "{reason}");
        }
        witness.intact(&server);
    }

    #[test]
    fn a_header_over_the_limit_closes_that_connection() {
        let server = ServeProcess::with_args(&["--max-frame-size", "1024"]);
        let witness = Witness::new(&server);
        let mut stream = raw(&server);
        stream.write_all(&1025u32.to_be_bytes()).unwrap();
        assert!(
            refusal(&mut stream).contains("1024"),
            "before the handshake"
        );
        let mut stream = raw(&server);
        assert_eq!(
            handshake(&mut stream),
            1024,
            "the welcome announces the limit"
        );
        stream.write_all(&(1u32 << 31).to_be_bytes()).unwrap();
        let reason = fatal(&mut stream).expect("a reason");
        assert!(reason.contains("maximum frame size"), "{reason}");
        witness.intact(&server);
    }

    #[test]
    fn a_request_over_the_limit_closes_that_connection() {
        let server = ServeProcess::with_args(&["--max-frame-size", "1024"]);
        let witness = Witness::new(&server);
        let mut stream = raw(&server);
        handshake(&mut stream);
        let put = Op::Put(Blob::from(vec![7u8; 2000]), Wait::Never);
        let call = Call::Op {
            name: "witness-queue".into(),
            op: put,
        };
        stream
            .write_all(&encode_frame(&Request { id: 1, call }).unwrap())
            .unwrap();
        if let Some(reason) = fatal(&mut stream) {
            assert!(reason.contains("1024"), "{reason}");
        }
        witness.intact(&server);
    }

    #[test]
    fn a_malformed_request_closes_that_connection() {
        let server = ServeProcess::start();
        let witness = Witness::new(&server);
        let mut stream = raw(&server);
        handshake(&mut stream);
        stream
            .write_all(
                &encode_frame(&Request {
                    id: 1,
                    call: Call::Ping,
                })
                .unwrap(),
            )
            .unwrap();
        let pong = read_frame(&mut stream).expect("a reply to the ping");
        assert!(matches!(
            decode::<ServerMessage>(&pong),
            Ok(ServerMessage::Reply(_))
        ));
        // Request id 2, then a `Call` variant index no version defines.
        stream.write_all(&[0, 0, 0, 3, 2, 0x7f, 0]).unwrap();
        let reason = fatal(&mut stream).expect("a reason");
        assert!(!reason.is_empty());
        witness.intact(&server);
    }

    /// The server's resident memory, in MiB.
    fn resident_mib(server: &ServeProcess) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            / 1024
    }

    #[test]
    fn an_announced_length_costs_no_memory_until_the_bytes_come() {
        let server = ServeProcess::start();
        let witness = Witness::new(&server);
        let announce = (200u32 << 20).to_be_bytes();
        let streams: Vec<TcpStream> = (0..8)
            .map(|i| {
                let mut stream = raw(&server);
                if i % 2 == 0 {
                    handshake(&mut stream);
                }
                stream.write_all(&announce).unwrap();
                stream
            })
            .collect();
        witness.intact(&server);
        let resident = resident_mib(&server);
        assert!(
            resident < 256,
            "8 headers of 200 MiB made the server hold {resident} MiB"
        );
        drop(streams);
    }

    #[test]
    fn the_client_refuses_to_send_a_request_over_the_servers_limit() {
        let server = ServeProcess::with_args(&["--max-frame-size", "1024"]);
        let client = server.client();
        assert_eq!(client.max_frame(), 1024);
        let queue: Queue<Vec<u8>> = Queue::open(&client, "big", None).unwrap();
        match queue.put_with(vec![1; 2000], Wait::Never) {
            Err(Error::TooLarge { size, max }) => assert!(size > 1024 && max == 1024),
            other => panic!("a put over the limit: {other:?}"),
        }
        // A large one goes out in pieces from where it lies: refused all the same.
        match queue.put_with(vec![1; 100_000], Wait::Never) {
            Err(Error::TooLarge { size, max }) => assert!(size > 100_000 && max == 1024),
            other => panic!("a large put over the limit: {other:?}"),
        }
        assert_eq!(queue.len(), 0, "nothing was sent");
        queue.put(vec![1; 100]);
        assert_eq!(queue.get(), vec![1; 100], "the connection still works");
    }
}

/// Values that outgrow the server's frame limit while a lock is held: the client cannot
/// send them back, and must not leave the lock held for ever.
mod outgrown {
    use strato::sync::{Condvar, RwLock, TryLockError};

    use super::*;

    const PATIENCE: Duration = Duration::from_secs(10);

    fn small_server() -> ServeProcess {
        ServeProcess::with_args(&["--max-frame-size", "1024"])
    }

    #[test]
    fn a_mutex_guard_still_unlocks_and_poisons() {
        let server = small_server();
        let m = Mutex::open(&server.client(), "m", vec![0u8; 10]).unwrap();
        *m.lock().unwrap() = vec![1; 2000];
        let other = Mutex::open(&server.client(), "m", Vec::<u8>::new()).unwrap();
        match other.lock_timeout(PATIENCE) {
            Err(TryLockError::Poisoned(p)) => assert_eq!(*p.into_inner(), vec![0u8; 10]),
            Err(TryLockError::WouldBlock) => panic!("the mutex stayed locked"),
            Ok(_) => panic!("the lost update went unreported"),
        };
    }

    #[test]
    fn a_rwlock_write_guard_still_unlocks_and_poisons() {
        let server = small_server();
        let lock = RwLock::open(&server.client(), "rw", vec![0u8; 10]).unwrap();
        *lock.write().unwrap() = vec![1; 2000];
        let other = RwLock::open(&server.client(), "rw", Vec::<u8>::new()).unwrap();
        match other.write_timeout(PATIENCE) {
            Err(TryLockError::Poisoned(p)) => assert_eq!(*p.into_inner(), vec![0u8; 10]),
            Err(TryLockError::WouldBlock) => panic!("the lock stayed locked"),
            Ok(_) => panic!("the lost update went unreported"),
        };
    }

    #[test]
    fn a_condvar_wait_that_cannot_send_its_value_releases_the_mutex() {
        let server = small_server();
        let client = server.client();
        let m = Mutex::open(&client, "m", vec![0u8; 10]).unwrap();
        let cv = Condvar::open(&client, "cv").unwrap();
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut guard = m.lock().unwrap();
            *guard = vec![1; 2000];
            drop(cv.wait_timeout(guard, PATIENCE));
        }));
        assert!(
            waited.is_err(),
            "the wait cannot happen: it panics, as a lost server would"
        );
        let other = Mutex::open(&server.client(), "m", Vec::<u8>::new()).unwrap();
        match other.lock_timeout(PATIENCE) {
            Err(TryLockError::Poisoned(p)) => assert_eq!(*p.into_inner(), vec![0u8; 10]),
            Err(TryLockError::WouldBlock) => panic!("the mutex stayed locked"),
            Ok(_) => panic!("the failed wait went unreported"),
        };
    }
}

mod handshakes {
    use super::*;

    fn connect(server: &ServeProcess, token: Option<&str>) -> Result<Client, Error> {
        let options = ConnectOptions {
            token: token.map(String::from),
            ..ConnectOptions::default()
        };
        Client::connect_with(&server.address(), options)
    }

    fn refused_reason(result: Result<Client, Error>) -> String {
        match result {
            Err(Error::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let server = ServeProcess::with_args(&["--token", "sesame"]);
        let wrong = refused_reason(connect(&server, Some("sesame!")));
        assert!(wrong.contains("token"), "{wrong}");
        let missing = refused_reason(connect(&server, None));
        assert!(missing.contains("token"), "{missing}");
        let client = connect(&server, Some("sesame")).expect("the right token");
        let counter = AtomicU64::open(&client, "c", 1).unwrap();
        assert_eq!(counter.fetch_add(1, SeqCst), 1);
    }

    #[test]
    fn a_wrong_protocol_version_is_refused_with_the_versions() {
        let server = ServeProcess::start();
        let mut stream = raw(&server);
        stream.write_all(&hello(MAGIC, 999, None)).unwrap();
        let reason = refusal(&mut stream);
        assert!(
            reason.contains("version") && reason.contains("999"),
            "{reason}"
        );
    }

    #[test]
    fn a_hello_of_an_older_layout_is_told_the_versions_not_malformed() {
        // Version 4's hello had no `arena` field: the server must still read its version.
        #[derive(serde::Serialize)]
        struct OldHello {
            magic: [u8; 4],
            version: u32,
            token: Option<String>,
            client: String,
        }
        let old = OldHello {
            magic: MAGIC,
            version: 4,
            token: None,
            client: "strato 4".into(),
        };
        let server = ServeProcess::start();
        let mut stream = raw(&server);
        stream.write_all(&encode_frame(&old).unwrap()).unwrap();
        let reason = refusal(&mut stream);
        assert!(
            reason.contains("version 4") && reason.contains("same strato release"),
            "{reason}"
        );
    }

    #[test]
    fn bad_magic_is_refused() {
        let server = ServeProcess::start();
        let mut stream = raw(&server);
        stream
            .write_all(&hello(*b"HTTP", PROTOCOL_VERSION, None))
            .unwrap();
        let reason = refusal(&mut stream);
        assert!(reason.contains("magic"), "{reason}");
        let witness = Witness::new(&server);
        witness.intact(&server);
    }
}

mod command_line {
    use super::*;

    fn strato(args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strato"));
        command.args(args).env_remove("STRATO_TOKEN");
        command
    }

    /// A process killed when dropped.
    struct Running(std::process::Child);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn serve_beyond_loopback_needs_a_token() {
        let output = strato(&["serve", "--listen", "0.0.0.0:0"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("token"), "{stderr}");
    }

    #[test]
    fn serve_beyond_loopback_with_a_token_starts() {
        let mut command = strato(&["serve", "--listen", "0.0.0.0:0", "--token", "t0k"]);
        let mut running = Running(command.stdout(Stdio::piped()).spawn().unwrap());
        let stdout = running.0.stdout.take().unwrap();
        let line = common::first_line_with(stdout, "listening on ").expect("readiness line");
        let port = line.trim().rsplit(':').next().unwrap().to_string();
        let options = ConnectOptions::default().token("t0k");
        let client = Client::connect_with(&format!("127.0.0.1:{port}"), options).unwrap();
        assert_eq!(client.call(Call::Ping).unwrap(), strato_proto::Answer::Pong);
    }

    #[test]
    fn ping_prints_each_round_trip_and_a_summary() {
        let server = ServeProcess::start();
        let output = strato(&["ping", "--connect", &server.address(), "--count", "3"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{stdout}");
        for (i, line) in lines[..3].iter().enumerate() {
            assert!(
                line.starts_with(&format!("ping {}: ", i + 1)) && line.ends_with("µs"),
                "{line}"
            );
        }
        assert!(
            lines[3].starts_with("3 round trips to ") && lines[3].contains("avg"),
            "{stdout}"
        );
    }

    #[test]
    fn ping_of_a_closed_port_fails_clearly() {
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let output = strato(&["ping", "--connect", &address, "--count", "1"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cannot connect") && stderr.contains(&address),
            "{stderr}"
        );
    }
}
