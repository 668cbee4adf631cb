//! Many threads on one connection: whichever caller reads the socket hands every other
//! caller its reply, and hands the reading over when its own reply has come, so no caller is
//! left waiting for a reply nobody reads.

use std::sync::{Arc, Barrier};

use strato_client::Client;
use strato_proto::{Answer, Blob, Call, Init, Op, Role, Wait};

fn queue(client: &Client, name: &str) {
    let open = Call::Open {
        name: name.into(),
        init: Init::Queue { bound: None },
        persistent: false,
        role: Role::Handle,
    };
    client.call(open).unwrap();
}

fn op(name: &str, op: Op) -> Call {
    Call::Op {
        name: name.into(),
        op,
    }
}

#[test]
fn callers_blocked_on_one_connection_get_every_reply_and_pings_go_through() {
    let server = strato_server::start(Default::default()).unwrap();
    let client = Client::connect(&server.address().to_string()).unwrap();
    let other = Client::connect(&server.address().to_string()).unwrap();
    let names: Vec<String> = (0..4).map(|i| format!("q{i}")).collect();
    names.iter().for_each(|name| queue(&client, name));
    let started = Arc::new(Barrier::new(names.len() + 1));
    // Four callers park on empty queues (one of them reads the socket meanwhile).
    let getters: Vec<_> = names
        .iter()
        .map(|name| {
            let (client, name, started) = (client.clone(), name.clone(), started.clone());
            std::thread::spawn(move || {
                started.wait();
                client.call(op(&name, Op::Get(Wait::Forever))).unwrap()
            })
        })
        .collect();
    started.wait();
    // Other callers' replies come through whoever reads.
    let pingers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                (0..200).for_each(|_| assert_eq!(client.call(Call::Ping).unwrap(), Answer::Pong))
            })
        })
        .collect();
    pingers.into_iter().for_each(|p| p.join().unwrap());
    // Each parked caller is answered, in whatever order the items come.
    for (i, name) in names.iter().enumerate().rev() {
        let item = Blob::from(vec![i as u8]);
        other.call(op(name, Op::Put(item, Wait::Never))).unwrap();
    }
    for (i, getter) in getters.into_iter().enumerate() {
        let answer = getter.join().unwrap();
        assert_eq!(answer, Answer::Blob(Blob::from(vec![i as u8])));
    }
    assert_eq!(client.call(Call::Ping).unwrap(), Answer::Pong);
}

fn parked(client: &Client) -> u64 {
    match client.call(Call::Stats).unwrap() {
        Answer::Stats(stats) => stats.parked,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lost_connection_fails_every_waiting_caller() {
    let server = strato_server::start(Default::default()).unwrap();
    let client = Client::connect(&server.address().to_string()).unwrap();
    queue(&client, "q");
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || client.call(op("q", Op::Get(Wait::Forever))))
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while parked(&client) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiters never parked"
        );
        std::thread::yield_now();
    }
    server.shutdown();
    for waiter in waiters {
        let error = waiter.join().unwrap().unwrap_err();
        assert!(
            matches!(error, strato_client::Error::ConnectionLost(_)),
            "{error}"
        );
    }
    assert!(client.call(Call::Ping).is_err());
}
