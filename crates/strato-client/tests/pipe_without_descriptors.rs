//! A server out of descriptors still makes a pipe: one without its own socket, kept as a
//! channel, whose ends go through the server. (A test binary of its own: it lowers the
//! whole process's limit on open descriptors.)

use strato_client::Client;
use strato_proto::{Address, Answer, Blob, Call, Init, Op, Role, Wait};

/// The number the next descriptor opened would get: the lowest free one.
fn lowest_free_descriptor() -> usize {
    use std::os::fd::AsRawFd;
    std::fs::File::open("/dev/null").unwrap().as_raw_fd() as usize
}

/// Sets this process's soft limit on open descriptors.
fn limit_descriptors(soft: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = Some(soft as u64);
    setrlimit(Resource::Nofile, limit).unwrap();
}

fn call(client: &Client, name: &str, op: Op) -> Answer {
    let call = Call::Op {
        name: name.into(),
        op,
    };
    client.call(call).unwrap()
}

#[test]
fn a_pipe_made_without_free_descriptors_goes_through_the_server() {
    let unix = format!("strato-test-pipe-nofile-{}", std::process::id());
    let server = strato_server::start(strato_server::Config {
        listen: vec![Address::Abstract(unix)],
        ..Default::default()
    })
    .unwrap();
    let client = Client::connect(&server.address().to_string()).unwrap();
    // A descriptor's number must be below the limit: none can be opened now.
    let open = lowest_free_descriptor();
    limit_descriptors(open);
    let opened: Vec<_> = [Role::Sender, Role::Receiver]
        .into_iter()
        .map(|role| {
            let open = Call::Open {
                name: "p".into(),
                init: Init::Pipe,
                persistent: false,
                role,
            };
            client.call(open)
        })
        .collect();
    limit_descriptors(open + 1000);
    for answer in opened {
        assert_eq!(answer.unwrap(), Answer::Done);
    }
    assert!(client.attach("p", Role::Sender).unwrap().is_none());
    let send = Op::Send(Blob::from(b"via the server".to_vec()), Wait::Forever);
    assert_eq!(call(&client, "p", send), Answer::Done);
    let got = call(&client, "p", Op::Recv(Wait::Forever));
    assert_eq!(got, Answer::Blob(Blob::from(b"via the server".to_vec())));
}
