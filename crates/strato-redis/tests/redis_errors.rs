//! What a user sees when the Redis URL is wrong: a clear error at connect, never a hang.

use std::io::{Read, Write};
use std::net::TcpListener;

use strato_proto::{Answer, Call, ErrorKind, Init, Op, Role};
use strato_redis::{Failure, RedisState};

#[test]
fn redis_nothing_listening_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let error = RedisState::connect(&url).unwrap_err();
    assert!(matches!(error, Failure::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
}

#[test]
fn redis_a_server_that_is_not_redis_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut buf = [0u8; 256];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let error = RedisState::connect(&format!("redis://127.0.0.1:{port}")).unwrap_err();
    assert!(matches!(error, Failure::Connect { .. }), "{error:?}");
}

#[test]
fn redis_a_malformed_url_is_a_connect_error() {
    let error = RedisState::connect("redis://").unwrap_err();
    assert!(matches!(error, Failure::Connect { .. }), "{error:?}");
}

#[test]
fn redis_ops_on_missing_or_other_objects_are_typed_errors() {
    let redis = strato_redis::local::LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    let missing = Call::Op {
        name: "nowhere".into(),
        op: Op::Load,
    };
    assert!(matches!(
        state.call(missing).unwrap(),
        Answer::Error {
            kind: ErrorKind::NotFound,
            ..
        }
    ));
    let open = Call::Open {
        name: "q".into(),
        init: Init::Queue { bound: None },
        persistent: false,
        role: Role::Handle,
    };
    assert_eq!(state.call(open).unwrap(), Answer::Done);
    let wrong = Call::Op {
        name: "q".into(),
        op: Op::Lock(strato_proto::Wait::Never),
    };
    match state.call(wrong).unwrap() {
        Answer::Error { kind, message } => {
            assert_eq!(kind, ErrorKind::WrongType);
            assert!(message.contains("Queue"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn redis_a_server_restart_reloads_the_library() {
    let redis = strato_redis::local::LocalRedis::start().unwrap();
    let state = RedisState::connect(&redis.url()).unwrap();
    let flush = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .and_then(|mut c| redis::cmd("FUNCTION").arg("FLUSH").exec(&mut c));
    flush.unwrap();
    let exists = Call::Exists { name: "x".into() };
    assert_eq!(state.call(exists).unwrap(), Answer::Bool(false));
}
