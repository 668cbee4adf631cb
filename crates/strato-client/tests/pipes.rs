//! A pipe's direction with a local end (a client on the server's Unix socket, on the
//! socket the server made for the pipe) and a remote end (a TCP client, whose sends and
//! receives the server does on the same socket): one stream, whoever uses it.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use strato_client::{Client, LocalPipe};
use strato_proto::{
    encode_frame, Address, Answer, Blob, Call, Hello, Init, Op, Request, Role, Wait, MAGIC,
    PROTOCOL_VERSION,
};

/// A server on an abstract Unix socket and on TCP, with a client on each.
struct Tiers {
    server: strato_server::ServerHandle,
    local: Client,
    remote: Client,
}

fn tiers(tag: &str) -> Tiers {
    let unix = format!("strato-test-pipes-{tag}-{}", std::process::id());
    let server = strato_server::start(strato_server::Config {
        listen: vec![
            Address::Abstract(unix),
            "tcp://127.0.0.1:0".parse().unwrap(),
        ],
        ..Default::default()
    })
    .unwrap();
    let local = Client::connect(&server.addresses()[0].to_string()).unwrap();
    let remote = Client::connect(&server.addresses()[1].to_string()).unwrap();
    Tiers {
        server,
        local,
        remote,
    }
}

fn open(client: &Client, name: &str, role: Role) {
    let open = Call::Open {
        name: name.into(),
        init: Init::Pipe,
        persistent: false,
        role,
    };
    assert_eq!(client.call(open).unwrap(), Answer::Done);
}

fn release(client: &Client, name: &str, role: Role) {
    let release = Call::Release {
        name: name.into(),
        role,
    };
    client.call(release).unwrap();
}

fn op(client: &Client, name: &str, op: Op) -> Answer {
    let call = Call::Op {
        name: name.into(),
        op,
    };
    client.call(call).unwrap()
}

fn attached(client: &Client, name: &str, role: Role) -> LocalPipe {
    client
        .attach(name, role)
        .unwrap()
        .expect("a client on the Unix socket gets the pipe's end")
}

/// Messages of every size up to 1 MiB, each telling its index.
fn messages() -> Vec<Vec<u8>> {
    (0..40u32)
        .map(|i| {
            let len = [0, 1, 7, 1 << 10, 200 << 10, 1 << 20][i as usize % 6];
            let mut m = vec![(i % 251) as u8; len.max(4)];
            m[..4].copy_from_slice(&i.to_le_bytes());
            m
        })
        .collect()
}

fn blob(bytes: &[u8]) -> Answer {
    Answer::Blob(Blob::from(bytes.to_vec()))
}

#[test]
fn a_client_on_the_unix_socket_gets_the_end_and_a_tcp_client_does_not() {
    let t = tiers("attach");
    open(&t.local, "p", Role::Sender);
    open(&t.remote, "p", Role::Receiver);
    assert!(t.local.attach("p", Role::Sender).unwrap().is_some());
    assert!(t.remote.attach("p", Role::Receiver).unwrap().is_none());
    // Not a pipe: no descriptor, and the caller goes on through the server.
    let atomic = Call::Open {
        name: "n".into(),
        init: Init::Atomic(strato_proto::Scalar::U64(0)),
        persistent: false,
        role: Role::Handle,
    };
    t.local.call(atomic).unwrap();
    assert!(t.local.attach("n", Role::Sender).unwrap().is_none());
    drop(t.server);
}

#[test]
fn a_local_sender_and_a_remote_receiver_share_one_stream_in_order() {
    let t = tiers("l2r");
    open(&t.local, "p", Role::Sender);
    open(&t.remote, "p", Role::Receiver);
    let tx = attached(&t.local, "p", Role::Sender);
    let sent = messages();
    let sender = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            for m in &sent {
                assert_eq!(tx.send(m).unwrap(), Answer::Done);
            }
        })
    };
    for m in &sent {
        assert_eq!(op(&t.remote, "p", Op::Recv(Wait::Forever)), blob(m));
    }
    sender.join().unwrap();
}

#[test]
fn a_remote_sender_and_a_local_receiver_share_one_stream_in_order() {
    let t = tiers("r2l");
    open(&t.remote, "p", Role::Sender);
    open(&t.local, "p", Role::Receiver);
    let rx = attached(&t.local, "p", Role::Receiver);
    let sent = messages();
    let sender = {
        let (sent, remote) = (sent.clone(), t.remote.clone());
        std::thread::spawn(move || {
            for m in sent {
                let send = Op::Send(Blob::from(m), Wait::Forever);
                assert_eq!(op(&remote, "p", send), Answer::Done);
            }
        })
    };
    for m in &sent {
        assert_eq!(rx.recv(Wait::Forever).unwrap(), blob(m));
    }
    sender.join().unwrap();
}

#[test]
fn the_last_sender_gone_ends_the_stream_after_its_messages_for_both_tiers() {
    let t = tiers("eof");
    open(&t.local, "p", Role::Sender);
    open(&t.local, "p", Role::Receiver);
    open(&t.remote, "p", Role::Receiver);
    let tx = attached(&t.local, "p", Role::Sender);
    let rx = attached(&t.local, "p", Role::Receiver);
    for m in [b"one", b"two"] {
        assert_eq!(tx.send(m).unwrap(), Answer::Done);
    }
    release(&t.local, "p", Role::Sender);
    assert_eq!(op(&t.remote, "p", Op::Recv(Wait::Forever)), blob(b"one"));
    assert_eq!(rx.recv(Wait::Forever).unwrap(), blob(b"two"));
    assert_eq!(rx.recv(Wait::Forever).unwrap(), Answer::Disconnected);
    let end = op(&t.remote, "p", Op::Recv(Wait::Forever));
    assert_eq!(end, Answer::Disconnected);
}

#[test]
fn a_send_with_no_receiver_left_is_disconnected_for_both_tiers() {
    let t = tiers("epipe");
    open(&t.local, "p", Role::Sender);
    open(&t.remote, "p", Role::Sender);
    open(&t.local, "p", Role::Receiver);
    let tx = attached(&t.local, "p", Role::Sender);
    release(&t.local, "p", Role::Receiver);
    assert_eq!(tx.send(b"lost").unwrap(), Answer::Disconnected);
    let send = Op::Send(Blob::from(b"lost".to_vec()), Wait::Forever);
    assert_eq!(op(&t.remote, "p", send), Answer::Disconnected);
}

#[test]
fn receives_that_must_not_wait_or_wait_briefly_say_so_in_both_tiers() {
    let t = tiers("waits");
    open(&t.local, "p", Role::Sender);
    open(&t.local, "p", Role::Receiver);
    open(&t.remote, "p", Role::Receiver);
    let rx = attached(&t.local, "p", Role::Receiver);
    assert_eq!(rx.recv(Wait::Never).unwrap(), Answer::WouldBlock);
    assert_eq!(rx.recv(Wait::Micros(20_000)).unwrap(), Answer::TimedOut);
    assert_eq!(
        op(&t.remote, "p", Op::Recv(Wait::Never)),
        Answer::WouldBlock
    );
    let brief = op(&t.remote, "p", Op::Recv(Wait::Micros(20_000)));
    assert_eq!(brief, Answer::TimedOut);
    // A message sent is there at once for a receive that does not wait.
    let send = Op::Send(Blob::from(b"now".to_vec()), Wait::Forever);
    assert_eq!(op(&t.local, "p", send), Answer::Done);
    assert_eq!(op(&t.remote, "p", Op::Recv(Wait::Never)), blob(b"now"));
    // A pipe does not count its messages.
    let len = Call::Op {
        name: "p".into(),
        op: Op::Len,
    };
    let refused = t.remote.call(len).unwrap_err().to_string();
    assert!(refused.contains("not an operation of a pipe"), "{refused}");
}

/// A raw TCP connection that says hello, opens `name` as a receiver and parks a receive.
fn park_a_raw_receive(address: &Address, name: &str) -> std::net::TcpStream {
    let Address::Tcp(hostport) = address else {
        panic!("a TCP address")
    };
    let mut socket = std::net::TcpStream::connect(hostport).unwrap();
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        token: None,
        client: "pipes test".into(),
        arena: false,
    };
    socket.write_all(&encode_frame(&hello).unwrap()).unwrap();
    let calls = [
        Call::Open {
            name: name.into(),
            init: Init::Pipe,
            persistent: false,
            role: Role::Receiver,
        },
        Call::Op {
            name: name.into(),
            op: Op::Recv(Wait::Forever),
        },
    ];
    for (id, call) in calls.into_iter().enumerate() {
        let request = Request {
            id: id as u64 + 1,
            call,
        };
        socket.write_all(&encode_frame(&request).unwrap()).unwrap();
    }
    socket
}

#[test]
fn a_remote_receive_whose_connection_closed_takes_no_message() {
    let t = tiers("gone");
    open(&t.local, "p", Role::Sender);
    open(&t.local, "p", Role::Receiver);
    let connections = |client: &Client| match client.call(Call::Stats).unwrap() {
        Answer::Stats(stats) => stats.connections,
        other => panic!("{other:?}"),
    };
    let before = connections(&t.local);
    let mut raw = park_a_raw_receive(&t.server.addresses()[1], "p");
    // The welcome and the open's answer have come: the receive is in the server.
    let mut some = [0u8; 1];
    raw.read_exact(&mut some).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while connections(&t.local) == before && Instant::now() < deadline {
        std::thread::yield_now();
    }
    drop(raw);
    while connections(&t.local) > before && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(connections(&t.local), before, "the raw connection closed");
    let tx = attached(&t.local, "p", Role::Sender);
    let rx = attached(&t.local, "p", Role::Receiver);
    assert_eq!(tx.send(b"kept").unwrap(), Answer::Done);
    let ten_seconds = Wait::Micros(10_000_000);
    assert_eq!(rx.recv(ten_seconds).unwrap(), blob(b"kept"));
}
