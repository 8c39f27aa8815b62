//! Seeded fuzzing of everything that decodes bytes from the network: the frame reader, the
//! handshake messages and the frames that follow the handshake. Random and mutated inputs
//! must never panic, never yield a body over the limit, and never make the reader hold more
//! than the bytes that arrived (one chunk, or twice what arrived) nor more than
//! [`FRAME_MAX`].

use raft_core::message::{AppendEntriesArgs, Reply, Request, RequestVoteArgs, RequestVoteReply};
use raft_core::{Entry, LogIndex, PeerId, Term};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::frame::{self, ClientFrame, FrameError, FrameReader, ReplyFrame, RequestFrame};
use crate::handshake::{self, Challenge, Hello, Lane, MAGIC, Response, Role, Verdict};
use crate::{FRAME_MAX, PROTOCOL_VERSION};

const SEED: u64 = 0x5eed_2024;
const ROUNDS: usize = 20_000;
const CHUNK: usize = 64 << 10;

/// Valid frames of every kind this crate reads, to mutate.
fn valid_frames() -> Vec<Vec<u8>> {
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster_id: "fuzz".to_string(),
        role: Role::Peer {
            from: 1,
            to: 0,
            lane: Lane::Bulk,
        },
        nonce: [7; 32],
    };
    let vote = Request::RequestVote(RequestVoteArgs {
        term: Term(3),
        candidate_id: PeerId(1),
        last_log_index: LogIndex(2),
        last_log_term: Term(1),
        transfer: false,
    });
    let append = Request::AppendEntries(AppendEntriesArgs {
        term: Term(3),
        leader_id: PeerId(1),
        prev_log_index: LogIndex(1),
        prev_log_term: Term(1),
        entries: vec![Entry {
            index: LogIndex(2),
            term: Term(3),
            command: b"x=1".to_vec().into(),
        }],
        leader_commit: LogIndex(1),
        round: 0,
    });
    let reply = Reply::RequestVote(RequestVoteReply {
        term: Term(3),
        vote_granted: true,
    });
    vec![
        frame::encode(&hello).unwrap(),
        frame::encode(&Challenge::Proceed {
            nonce: [1; 32],
            proof: [2; 32],
        })
        .unwrap(),
        frame::encode(&Challenge::Refused {
            reason: "no".to_string(),
        })
        .unwrap(),
        frame::encode(&Response::Proof { proof: [3; 32] }).unwrap(),
        frame::encode(&Verdict::Accepted).unwrap(),
        frame::encode(&RequestFrame {
            id: 9,
            request: &vote,
        })
        .unwrap(),
        frame::encode(&RequestFrame {
            id: 10,
            request: &append,
        })
        .unwrap(),
        frame::encode(&ReplyFrame { id: 9, reply: &reply }).unwrap(),
        frame::encode(&ClientFrame {
            id: 4,
            payload: b"get k".to_vec(),
        })
        .unwrap(),
    ]
}

/// Random bytes, a mutated valid frame, or a few frames glued together and mutated.
fn input(rng: &mut SmallRng, valid: &[Vec<u8>]) -> Vec<u8> {
    match rng.random_range(0..4) {
        0 => {
            let len = rng.random_range(0..256);
            (0..len).map(|_| rng.random()).collect()
        }
        1 => {
            // A header announcing anything, over a short random body.
            let mut bytes = rng.random::<u32>().to_le_bytes().to_vec();
            let len = rng.random_range(0..128);
            bytes.extend((0..len).map(|_| rng.random::<u8>()));
            bytes
        }
        _ => {
            let mut bytes = Vec::new();
            for _ in 0..rng.random_range(1..4) {
                bytes.extend_from_slice(&valid[rng.random_range(0..valid.len())]);
            }
            mutate(rng, &mut bytes);
            bytes
        }
    }
}

/// Flips bits, overwrites, truncates or inserts, a few times.
fn mutate(rng: &mut SmallRng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..5) {
        if bytes.is_empty() {
            bytes.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..4) {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes[at] = rng.random(),
            2 => bytes.truncate(at),
            _ => bytes.insert(at, rng.random()),
        }
    }
}

/// Decodes `body` as every message type; none may panic.
fn decode_all(body: &[u8]) {
    let _ = handshake::parse_hello(body, "fuzz");
    let _ = frame::decode::<Challenge>(body);
    let _ = frame::decode::<Response>(body);
    let _ = frame::decode::<Verdict>(body);
    let _ = frame::decode::<RequestFrame<Request>>(body);
    let _ = frame::decode::<ReplyFrame<Reply>>(body);
    let _ = frame::decode::<ClientFrame<Vec<u8>>>(body);
}

#[test]
fn random_and_mutated_bytes_never_panic_nor_overallocate() {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let valid = valid_frames();
    let mut frames_read = 0usize;
    let mut too_large = 0usize;
    for _ in 0..ROUNDS {
        let bytes = input(&mut rng, &valid);
        let mut reader = FrameReader::new(&bytes[..]);
        // Each frame takes at least its 4-byte header, so this loop ends.
        for _ in 0..=bytes.len() / 4 {
            match reader.read_frame() {
                Ok(body) => {
                    assert!(body.len() <= FRAME_MAX);
                    assert!(body.len() <= bytes.len());
                    frames_read += 1;
                    decode_all(&body);
                }
                Err(e) => {
                    too_large += usize::from(matches!(e, FrameError::TooLarge { .. }));
                    break;
                }
            }
            let held = reader.buffered_capacity();
            assert!(held <= FRAME_MAX);
            assert!(
                held <= CHUNK.max(2 * bytes.len()),
                "{held} bytes held for {} read",
                bytes.len()
            );
        }
        assert!(reader.buffered_capacity() <= CHUNK.max(2 * bytes.len()));
        // The raw bytes as a body, too: a decoder sees every prefix shape.
        decode_all(&bytes);
    }
    // The inputs reached the decoders and the limit, not only the first error.
    assert!(frames_read > ROUNDS / 4, "only {frames_read} frames read");
    assert!(too_large > ROUNDS / 10, "only {too_large} oversized lengths seen");
}

#[test]
fn mutated_hellos_are_refused_or_read_as_they_were_sent() {
    let mut rng = SmallRng::seed_from_u64(SEED ^ 1);
    let valid = valid_frames();
    let hello_body = &valid[0][4..];
    let original = handshake::parse_hello(hello_body, "fuzz").unwrap();
    assert!(handshake::parse_hello(hello_body, "other").is_err());
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        let mut body = hello_body.to_vec();
        mutate(&mut rng, &mut body);
        match handshake::parse_hello(&body, "fuzz") {
            Ok(hello) => {
                // Only the parts a mutation may change without breaking the shape differ;
                // the checked ones never do.
                assert_eq!(hello.magic, MAGIC);
                assert_eq!(hello.version, PROTOCOL_VERSION);
                assert_eq!(hello.cluster_id, original.cluster_id);
                accepted += 1;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        refused > 0 && accepted > 0,
        "accepted {accepted}, refused {refused}"
    );
}
