//! Property tests of the frame decoder: any split of valid frames decodes to the same
//! messages, and arbitrary bytes never panic.

use proptest::prelude::*;
use strato_proto::{
    decode, encode_frame, encode_frame_split, Answer, Blob, Call, FrameDecoder, FrameError, Op,
    Reply, Request, ServerMessage, Wait, HEADER_LEN,
};

fn request(id: u64, payload: Vec<u8>) -> Request {
    Request {
        id,
        call: Call::Op {
            name: format!("q{id}"),
            op: Op::Put(payload.into(), Wait::Micros(id)),
        },
    }
}

proptest! {
    #[test]
    fn frames_survive_any_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8),
        cuts in prop::collection::vec(1usize..64, 1..40),
    ) {
        let sent: Vec<Request> = payloads.into_iter().enumerate()
            .map(|(i, p)| request(i as u64, p)).collect();
        let stream: Vec<u8> = sent.iter().flat_map(|r| encode_frame(r).unwrap()).collect();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut received = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (head, tail) = rest.split_at((*cut).min(rest.len()));
            decoder.extend(head);
            rest = tail;
            while let Some(frame) = decoder.next_frame().unwrap() {
                received.push(decode::<Request>(&frame).unwrap());
            }
        }
        prop_assert_eq!(received, sent);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut decoder = FrameDecoder::new(512);
        decoder.extend(&bytes);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => { let _ = decode::<Request>(&frame); }
                Ok(None) => break,
                Err(FrameError::TooLarge { size, max }) => { prop_assert!(size > max); break; }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn spare_and_commit_match_extend(
        payload in prop::collection::vec(any::<u8>(), 0..5000),
        chunk in 1usize..700,
    ) {
        let frame = encode_frame(&request(1, payload)).unwrap();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut got = None;
        for piece in frame.chunks(chunk) {
            let spare = decoder.spare(piece.len());
            spare[..piece.len()].copy_from_slice(piece);
            decoder.commit(piece.len());
            if let Some(f) = decoder.next_frame().unwrap() { got = Some(f); }
        }
        prop_assert_eq!(got.map(|f| f.len()), Some(frame.len() - HEADER_LEN));
    }
}

#[test]
fn oversized_header_is_refused_before_the_payload_arrives() {
    let mut decoder = FrameDecoder::new(1024);
    decoder.extend(&(1u32 << 30).to_be_bytes());
    assert_eq!(
        decoder.next_frame(),
        Err(FrameError::TooLarge {
            size: 1 << 30,
            max: 1024
        })
    );
}

#[test]
fn truncated_payload_is_not_a_frame() {
    let frame = encode_frame(&request(3, vec![1; 100])).unwrap();
    let mut decoder = FrameDecoder::new(1024);
    decoder.extend(&frame[..frame.len() - 1]);
    assert_eq!(decoder.next_frame(), Ok(None));
}

proptest! {
    /// A frame split around its large blob is the whole frame, byte for byte, whatever the
    /// blob's size and the fields around it: a put sent by a client, a reply sent by the
    /// server.
    #[test]
    fn a_split_frame_is_the_whole_frame(
        len in 1usize..200_000,
        id in any::<u64>(),
        micros in any::<u64>(),
        name in "[a-z]{0,40}",
    ) {
        let blob = Blob::from(vec![5u8; len]);
        let request = Request {
            id,
            call: Call::Op { name, op: Op::Put(blob.clone(), Wait::Micros(micros)) },
        };
        let Call::Op { op: Op::Put(inside, _), .. } = &request.call else { unreachable!() };
        let split = encode_frame_split(&request, inside).unwrap().unwrap();
        let joined = [&split.head[..], split.large, &split.tail[..]].concat();
        prop_assert_eq!(joined, encode_frame(&request).unwrap());

        let reply = ServerMessage::Reply(Reply { id, answer: Answer::Blob(blob) });
        let ServerMessage::Reply(Reply { answer: Answer::Blob(inside), .. }) = &reply else {
            unreachable!()
        };
        let split = encode_frame_split(&reply, inside).unwrap().unwrap();
        let joined = [&split.head[..], split.large, &split.tail[..]].concat();
        prop_assert_eq!(joined, encode_frame(&reply).unwrap());
    }
}

#[test]
fn a_blob_the_message_does_not_hold_is_not_split_out() {
    let held = Blob::from(vec![1u8; 100]);
    let other = Blob::from(vec![1u8; 100]);
    assert!(encode_frame_split(&(&held, 1u8), &other).unwrap().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Frames of any size, large ones read into buffers of their own, decode to the same
    /// messages in order, whether fed by `extend` or by `spare` and `commit` (as sockets
    /// are read).
    #[test]
    fn large_and_small_frames_survive_any_split(
        sizes in prop::collection::vec(prop_oneof![0usize..300, 60_000usize..200_000], 1..5),
        cuts in prop::collection::vec(1usize..150_000, 1..20),
        by_spare in any::<bool>(),
    ) {
        let sent: Vec<Request> = sizes.iter().enumerate()
            .map(|(i, &n)| request(i as u64, vec![i as u8; n])).collect();
        let stream: Vec<u8> = sent.iter().flat_map(|r| encode_frame(r).unwrap()).collect();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut received = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let mut n = (*cut).min(rest.len());
            if by_spare {
                let room = decoder.spare(n);
                n = n.min(room.len());
                room[..n].copy_from_slice(&rest[..n]);
                decoder.commit(n);
            } else {
                decoder.extend(&rest[..n]);
            }
            rest = &rest[n..];
            while let Some(request) = decoder.decode_next::<Request>().unwrap() {
                received.push(request);
            }
        }
        prop_assert_eq!(received, sent);
        prop_assert_eq!(decoder.buffered(), 0);
    }
}

/// The large blob of a frame read in pieces is a slice of the buffer the frame was read
/// into, not a copy of it.
#[test]
fn a_large_blob_is_decoded_where_it_was_read() {
    let frame = encode_frame(&request(9, vec![3; 300_000])).unwrap();
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.extend(&frame[..1000]);
    let mut read_into = Vec::new();
    let mut rest = &frame[1000..];
    while !rest.is_empty() {
        let room = decoder.spare(rest.len());
        let n = room.len().min(rest.len());
        read_into.push(room.as_ptr() as usize..room.as_ptr() as usize + n);
        room[..n].copy_from_slice(&rest[..n]);
        decoder.commit(n);
        rest = &rest[n..];
    }
    let got = decoder.decode_next::<Request>().unwrap().unwrap();
    let Call::Op {
        op: Op::Put(blob, _),
        ..
    } = &got.call
    else {
        panic!("a put")
    };
    assert_eq!(blob.len(), 300_000);
    let end = blob.as_ptr() as usize + blob.len() - 1;
    assert!(
        read_into.iter().any(|r| r.contains(&end)),
        "the blob's last byte is where the socket's bytes were read"
    );
    assert_eq!(decoder.buffered(), 0);
}

/// A connection that ends inside a large frame leaves bytes pending, and a large frame
/// that is not a valid message is reported and consumed.
#[test]
fn a_cut_or_malformed_large_frame_is_seen() {
    let frame = encode_frame(&request(1, vec![0; 100_000])).unwrap();
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.extend(&frame[..50_000]);
    assert_eq!(decoder.decode_next::<Request>(), Ok(None));
    assert!(decoder.buffered() >= 50_000);

    let mut garbage = (100_000u32).to_be_bytes().to_vec();
    garbage.extend(std::iter::repeat_n(0xff, 100_000));
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.extend(&garbage[..10]);
    decoder.extend(&garbage[10..]);
    decoder.extend(&encode_frame(&request(2, vec![1])).unwrap());
    assert!(matches!(
        decoder.decode_next::<Request>(),
        Err(FrameError::Malformed(_))
    ));
    assert_eq!(
        decoder.decode_next::<Request>(),
        Ok(Some(request(2, vec![1])))
    );
}
