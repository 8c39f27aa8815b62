//! Every way a connection is refused before anything reaches Raft, each counted by the peer
//! that refused it; and a connection authenticated as one peer cannot speak for another.
//!
//! Each test dials peer 0 of a three-peer cluster (its peers unreachable, its elections far
//! off) with a raw socket that writes the wire format by hand.

mod common;

use std::time::{Duration, Instant};

use common::{
    CLUSTER, Hello, Lane, Raw, ReplyFrame, RequestFrame, Role, SECRET, WAIT_MAX, lone_peer, wait_until,
};
use raft_core::message::{Reply, Request, RequestVoteArgs};
use raft_core::{LogIndex, PeerId, Refusal, Term};
use raft_node::RaftNode;
use raft_tcp::{
    FRAME_MAX, HANDSHAKE_TIMEOUT, HELLO_TIMEOUT, PEER_HANDSHAKES_EXTRA, TcpStats, TcpStatsSnapshot,
};

const CLOSE_MAX: Duration = Duration::from_secs(6);

fn peer_role(from: u32) -> Role {
    Role::Peer {
        from,
        to: 0,
        lane: Lane::Control,
    }
}

/// The refusal was counted (by `field`), the connection closed, and nothing reached Raft.
fn assert_refused(
    node: &RaftNode,
    stats: &TcpStats,
    raw: &mut Raw,
    field: fn(&TcpStatsSnapshot) -> u64,
    what: &str,
) {
    assert!(raw.closed_within(CLOSE_MAX), "{what}: the connection stayed open");
    assert!(
        wait_until(WAIT_MAX, || field(&stats.snapshot()) == 1),
        "{what}: not counted: {:?}",
        stats.snapshot()
    );
    let tcp = stats.snapshot();
    assert_eq!(tcp.refused_total(), 1, "{what}: one refusal only: {tcp:?}");
    assert_eq!(tcp.accepted, 0, "{what}: {tcp:?}");
    let raft = node.stats();
    assert_eq!(raft.decode_failures, 0, "{what}: {raft:?}");
    assert_eq!(raft.refused.total(), 0, "{what}: {raft:?}");
    assert_eq!(raft.unknown_replies, 0, "{what}: {raft:?}");
}

/// Sends a Hello and expects a `Challenge::Refused` whose reason contains `words`.
fn refused_hello(addr: &str, hello: &Hello, words: &str) -> Raw {
    let mut raw = Raw::connect(addr);
    let (_, verdict) = raw.handshake(hello, SECRET).expect("the acceptor answers");
    let reason = verdict.expect_err("refused");
    assert!(reason.contains(words), "reason {reason:?} lacks {words:?}");
    raw
}

#[test]
fn a_wrong_secret_is_refused() {
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    let (verified, verdict) = raw
        .handshake(
            &Hello::new(CLUSTER, peer_role(1)),
            b"not-the-secret-of-this-cluster",
        )
        .expect("the acceptor answers");
    assert!(
        !verified,
        "the acceptor's proof does not verify under another secret"
    );
    let reason = verdict.expect_err("refused");
    assert!(reason.contains("authentication failed"), "{reason}");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_auth, "wrong secret");
}

#[test]
fn another_cluster_is_refused() {
    let (node, stats, addr) = lone_peer();
    let hello = Hello::new("another-cluster", peer_role(1));
    let mut raw = refused_hello(&addr, &hello, "another cluster");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_cluster, "wrong cluster id");
}

#[test]
fn an_unknown_peer_id_is_refused() {
    let (node, stats, addr) = lone_peer();
    let mut raw = refused_hello(&addr, &Hello::new(CLUSTER, peer_role(3)), "unknown peer 3");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_peer, "unknown peer");
}

#[test]
fn a_dialer_claiming_to_be_the_acceptor_is_refused() {
    let (node, stats, addr) = lone_peer();
    let mut raw = refused_hello(&addr, &Hello::new(CLUSTER, peer_role(0)), "this peer itself");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_peer, "self");
}

#[test]
fn a_dialer_meaning_another_peer_is_refused() {
    let (node, stats, addr) = lone_peer();
    let role = Role::Peer {
        from: 1,
        to: 2,
        lane: Lane::Bulk,
    };
    let mut raw = refused_hello(&addr, &Hello::new(CLUSTER, role), "not peer 2");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_peer, "misdirected");
}

#[test]
fn a_client_on_the_peer_port_is_refused() {
    let (node, stats, addr) = lone_peer();
    let mut raw = refused_hello(&addr, &Hello::new(CLUSTER, Role::Client), "client");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_peer, "client");
}

#[test]
fn an_old_protocol_version_is_refused() {
    let (node, stats, addr) = lone_peer();
    let hello = Hello {
        version: 0,
        ..Hello::new(CLUSTER, peer_role(1))
    };
    let mut raw = refused_hello(&addr, &hello, "protocol version 0");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_version, "old version");
}

#[test]
fn a_frame_over_the_limit_is_refused_before_the_handshake() {
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    let len = u32::try_from(FRAME_MAX + 1).expect("fits");
    raw.send_bytes(&len.to_le_bytes()).expect("sent");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_frame, "oversized frame");
}

#[test]
fn garbage_instead_of_a_hello_is_refused() {
    // Text: its first four bytes read as a length of half a gigabyte.
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sent");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_frame, "http");
    // A well-formed frame of random bytes: no magic.
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    raw.send_bytes(&[12, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8])
        .expect("sent");
    assert_refused(&node, &stats, &mut raw, |s| s.refused_handshake, "garbage frame");
}

#[test]
fn an_authenticated_peer_sending_a_frame_over_the_limit_is_cut_off() {
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    let (verified, verdict) = raw
        .handshake(&Hello::new(CLUSTER, peer_role(1)), SECRET)
        .expect("handshake");
    assert!(verified && verdict.is_ok(), "accepted with the right secret");
    let len = u32::try_from(FRAME_MAX + 1).expect("fits");
    raw.send_bytes(&len.to_le_bytes()).expect("sent");
    assert!(raw.closed_within(CLOSE_MAX), "the connection stayed open");
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_frame == 1));
    assert_eq!(stats.snapshot().accepted, 1);
    assert_eq!(node.stats().decode_failures, 0);
}

/// A vote request on a connection authenticated as peer 1.
fn vote(raw: &mut Raw, id: u64, term: u64, candidate: u32) {
    let request = Request::RequestVote(RequestVoteArgs {
        term: Term(term),
        candidate_id: PeerId(candidate),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer: false,
    });
    raw.send(&RequestFrame { id, request }).expect("sent");
}

#[test]
fn the_sender_is_the_peer_the_connection_proved_to_be() {
    let (node, stats, addr) = lone_peer();
    let mut raw = Raw::connect(&addr);
    let (verified, verdict) = raw
        .handshake(&Hello::new(CLUSTER, peer_role(1)), SECRET)
        .expect("handshake");
    assert!(verified && verdict.is_ok(), "accepted as peer 1");
    assert!(wait_until(WAIT_MAX, || stats.snapshot().accepted == 1));

    // Authenticated as peer 1, it asks for a vote for peer 2 in a high term.
    vote(&mut raw, 1, 1000, 2);
    assert!(
        wait_until(WAIT_MAX, || node.stats().refused.count(Refusal::Impersonation)
            == 1),
        "the gate did not refuse it: {:?}",
        node.stats()
    );
    assert!(
        node.get_state().0 < Term(1000),
        "the refused request moved the term"
    );

    // The same connection, speaking for itself, is answered (and only that request is).
    vote(&mut raw, 2, 1000, 1);
    raw.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let reply: ReplyFrame = raw.recv().expect("a reply");
    assert_eq!(reply.id, 2, "the refused request got no reply");
    match reply.reply {
        Reply::RequestVote(answer) => {
            assert!(answer.vote_granted, "peer 1 gets the vote: {answer:?}");
            assert_eq!(answer.term, Term(1000));
        }
        other => panic!("a {} answered a vote request", other.name()),
    }
    assert_eq!(node.stats().refused.total(), 1);
    assert_eq!(stats.snapshot().refused_total(), 0);
}

#[test]
fn two_transports_with_different_secrets_refuse_each_other() {
    let listeners = [common::bind(), common::bind()];
    let addrs: Vec<String> = listeners.iter().map(|l| common::addr_of(l).to_string()).collect();
    let [l0, l1] = listeners;
    let other = common::identity_of(CLUSTER, b"a-different-secret-of-16+-bytes");
    let (node0, _a0, stats0) =
        common::tcp_node(0, addrs.clone(), l0, common::identity(), common::quiet_options());
    let (node1, _a1, stats1) = common::tcp_node(1, addrs, l1, other, common::quiet_options());
    // Each refuses the other twice over: as acceptor (the dialer's proof) and as dialer (the
    // acceptor's proof), on both lanes.
    for (i, stats) in [&stats0, &stats1].into_iter().enumerate() {
        assert!(
            wait_until(WAIT_MAX, || stats.snapshot().refused_auth >= 4),
            "peer {i}: {:?}",
            stats.snapshot()
        );
        let tcp = stats.snapshot();
        assert_eq!(tcp.accepted, 0, "peer {i}: {tcp:?}");
        assert_eq!(tcp.connects, 0, "peer {i}: {tcp:?}");
        assert_eq!(tcp.refused_total(), tcp.refused_auth, "peer {i}: {tcp:?}");
    }
    for node in [&node0, &node1] {
        assert_eq!(node.stats().decode_failures, 0);
        assert_eq!(node.stats().refused.total(), 0);
    }
}

#[test]
fn a_recorded_handshake_does_not_replay() {
    let (node, stats, addr) = lone_peer();
    let hello = Hello::new(CLUSTER, peer_role(1));
    let hello_frame = common::frame_of(&hello);
    // A genuine dialer's handshake, recorded.
    let mut genuine = Raw::connect(&addr);
    genuine.send_bytes(&hello_frame).expect("sent");
    let common::Challenge::Proceed { nonce, .. } = genuine.recv().expect("challenge") else {
        panic!("refused");
    };
    let recorded = common::proof(SECRET, common::DIALER_LABEL, &hello_frame[4..], &nonce);
    genuine
        .send(&common::Response::Proof { proof: recorded })
        .expect("sent");
    assert!(matches!(
        genuine.recv().expect("verdict"),
        common::Verdict::Accepted
    ));
    drop(genuine);
    // Someone without the secret replays it, byte for byte: the acceptor's fresh nonce
    // makes the recorded proof worthless.
    let mut replay = Raw::connect(&addr);
    replay.send_bytes(&hello_frame).expect("sent");
    let common::Challenge::Proceed { nonce: fresh, .. } = replay.recv().expect("challenge") else {
        panic!("refused");
    };
    assert_ne!(fresh, nonce, "nonces are fresh");
    replay
        .send(&common::Response::Proof { proof: recorded })
        .expect("sent");
    assert!(matches!(
        replay.recv().expect("verdict"),
        common::Verdict::Refused { .. }
    ));
    assert!(replay.closed_within(CLOSE_MAX));
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_auth == 1));
    assert_eq!(stats.snapshot().accepted, 1, "only the genuine dialer");
    assert_eq!(node.stats().refused.total(), 0);
}

#[test]
fn a_dialer_trickling_its_proof_is_cut_off_at_the_handshake_deadline() {
    let (node, stats, addr) = lone_peer();
    let started = Instant::now();
    let mut raw = Raw::connect(&addr);
    raw.send(&Hello::new(CLUSTER, peer_role(1))).expect("sent");
    let common::Challenge::Proceed { .. } = raw.recv().expect("challenge") else {
        panic!("refused");
    };
    // One byte of the response just before the deadline, then nothing: a read timeout set
    // once per frame would wait a whole timeout more after that byte.
    std::thread::sleep(
        (started + HANDSHAKE_TIMEOUT - Duration::from_millis(300)).saturating_duration_since(Instant::now()),
    );
    raw.send_bytes(&[40]).expect("sent");
    raw.stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT + Duration::from_secs(3)))
        .expect("timeout");
    assert!(
        raw.closed_within(HANDSHAKE_TIMEOUT + Duration::from_secs(3)),
        "the trickling dialer was not cut off"
    );
    let waited = started.elapsed();
    assert!(
        waited < HANDSHAKE_TIMEOUT + Duration::from_millis(500),
        "cut off after {waited:?}, past the deadline of {HANDSHAKE_TIMEOUT:?}"
    );
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_handshake == 1));
    assert_eq!(stats.snapshot().accepted, 0);
    assert_eq!(node.stats().refused.total(), 0);
}

#[test]
fn a_stranger_that_says_nothing_is_cut_off_at_the_hello_deadline() {
    let (node, stats, addr) = lone_peer();
    let started = Instant::now();
    let mut raw = Raw::connect(&addr);
    raw.stream
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT + Duration::from_secs(1)))
        .expect("timeout");
    assert!(
        raw.closed_within(HANDSHAKE_TIMEOUT + Duration::from_secs(1)),
        "the silent stranger was not cut off"
    );
    let waited = started.elapsed();
    assert!(
        waited + Duration::from_millis(100) >= HELLO_TIMEOUT
            && waited < HELLO_TIMEOUT + Duration::from_millis(500),
        "cut off after {waited:?}; the Hello deadline is {HELLO_TIMEOUT:?}"
    );
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_handshake == 1));
    assert_eq!(node.stats().refused.total(), 0);
}

#[test]
fn strangers_holding_every_handshake_place_do_not_keep_a_peer_out() {
    let (node, stats, addr) = lone_peer();
    // Peer 1's Control lane is up before the flood.
    let mut control = Raw::connect(&addr);
    let (verified, verdict) = control
        .handshake(&Hello::new(CLUSTER, peer_role(1)), SECRET)
        .expect("handshake");
    assert!(verified && verdict.is_ok());
    // Strangers open many connections and say nothing, holding every handshake place (and,
    // before the budgets were split, every place).
    let flood = 64;
    let handshake_places = 2 * 2 + PEER_HANDSHAKES_EXTRA as u64; // two lanes of each other peer, and some
    let strangers: Vec<Raw> = (0..flood).map(|_| Raw::connect(&addr)).collect();
    let started = Instant::now();
    assert!(
        wait_until(WAIT_MAX, || {
            let tcp = stats.snapshot();
            tcp.evicted_handshakes + tcp.refused_busy >= flood - handshake_places
        }),
        "the flood was not taken in: {:?}",
        stats.snapshot()
    );
    // Peer 1 dials its Bulk lane (its Control lane redialed would be the same): it gets in,
    // well before the strangers' Hello deadline would have freed their places.
    let mut bulk = Raw::connect(&addr);
    let role = Role::Peer {
        from: 1,
        to: 0,
        lane: Lane::Bulk,
    };
    let (verified, verdict) = bulk
        .handshake(&Hello::new(CLUSTER, role), SECRET)
        .expect("the peer's handshake is answered");
    assert!(verified && verdict.is_ok(), "the peer was refused: {verdict:?}");
    assert!(started.elapsed() < HELLO_TIMEOUT, "too slow to prove anything");
    assert!(wait_until(WAIT_MAX, || stats.snapshot().accepted == 2));
    // The lane that was up before the flood still works.
    vote(&mut control, 1, 5, 1);
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let reply: ReplyFrame = control.recv().expect("a reply on the old lane");
    assert_eq!(reply.id, 1);
    assert_eq!(node.stats().refused.total(), 0);
    drop(strangers);
}
