//! Peer 0 is a real transport; peer 1 is played by the test over raw sockets, so the test
//! sees exactly what goes over each lane and can answer as it likes.
//!
//! - A heartbeat is not held back behind a large message: peer 1 starts reading a snapshot
//!   on the Bulk lane and stops after its first bytes; peer 0 then sends a heartbeat, which
//!   arrives on the Control lane while the snapshot, sent before it, is still far from fully
//!   received. On one connection, which delivers in order, that could not happen.
//! - Replies are paired with requests by id: a reply to no request, or of the wrong kind, or
//!   that does not decode, is counted and never reaches Raft.
//! - A lane whose requests go unanswered for too long is dialed again; one unanswered
//!   request alone does not close it.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Lane, Raw, ReplyFrame, RequestFrame, Role, Shared, WAIT_MAX, bind, identity, quiet_options, start_node,
    wait_until,
};
use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, Reply, Request,
    RequestVoteArgs, RequestVoteReply,
};
use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_node::{RaftNode, Transport};
use raft_tcp::outgoing::SILENCE_MAX;
use raft_tcp::{PeerConfig, TcpStats, TcpTransport};

const SNAPSHOT_LEN: usize = 12 << 20;

/// Accepts peer 0's two lanes on `listener` and authenticates them: (control, bulk).
fn accept_lanes(listener: &TcpListener) -> (Raw, Raw) {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + WAIT_MAX;
    let (mut control, mut bulk) = (None, None);
    while control.is_none() || bulk.is_none() {
        assert!(Instant::now() < deadline, "peer 0 did not dial both lanes");
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                let (raw, hello) = Raw::accept(stream);
                match hello.role {
                    Role::Peer {
                        from: 0,
                        to: 1,
                        lane: Lane::Control,
                    } => control = Some(raw),
                    Role::Peer {
                        from: 0,
                        to: 1,
                        lane: Lane::Bulk,
                    } => bulk = Some(raw),
                    other => panic!("unexpected role {other:?}"),
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (control.expect("control"), bulk.expect("bulk"))
}

/// Peer 0 (quiet: it sends nothing of its own) with its transport shared with the test, and
/// peer 1's listener, played by the test.
struct Pair {
    node: RaftNode,
    tcp: Arc<Mutex<TcpTransport>>,
    stats: Arc<TcpStats>,
    fake: TcpListener,
}

impl Pair {
    fn new() -> Pair {
        let listeners = [bind(), bind()];
        let peers: Vec<String> = listeners.iter().map(|l| common::addr_of(l).to_string()).collect();
        let [own, fake] = listeners;
        let slot: Arc<Mutex<Option<Arc<Mutex<TcpTransport>>>>> = Arc::default();
        let config = PeerConfig {
            me: PeerId(0),
            peers,
            identity: identity(),
        };
        let stats = Arc::new(TcpStats::new());
        let (filled, tcp_stats) = (Arc::clone(&slot), Arc::clone(&stats));
        let (node, _apply) = start_node(0, 2, quiet_options(), move |inbox| {
            let tcp = Arc::new(Mutex::new(TcpTransport::start(config, own, inbox, tcp_stats)?));
            *filled.lock().expect("not poisoned") = Some(Arc::clone(&tcp));
            Ok(Shared(tcp))
        });
        let tcp = slot.lock().expect("not poisoned").clone().expect("started");
        Pair {
            node,
            tcp,
            stats,
            fake,
        }
    }

    fn send(&self, request: Request) {
        self.tcp.lock().expect("not poisoned").send(PeerId(1), request);
    }
}

/// An AppendEntries in `term` after `prev`, with entries `indexes` of `len` bytes each.
fn append(term: u64, prev: u64, indexes: std::ops::RangeInclusive<u64>, len: usize) -> Request {
    Request::AppendEntries(AppendEntriesArgs {
        term: Term(term),
        leader_id: PeerId(0),
        prev_log_index: LogIndex(prev),
        prev_log_term: Term(term),
        entries: indexes
            .map(|index| Entry {
                index: LogIndex(index),
                term: Term(term),
                command: vec![(index % 251) as u8; len].into(),
            })
            .collect(),
        leader_commit: LogIndex(prev),
        round: 0,
    })
}

fn snapshot_request(index: u64, len: usize) -> Request {
    Request::InstallSnapshot(InstallSnapshotArgs {
        term: Term(7),
        leader_id: PeerId(0),
        last_included_index: LogIndex(index),
        last_included_term: Term(7),
        data: vec![(index % 251) as u8; len],
    })
}

fn vote_request(term: u64) -> Request {
    Request::RequestVote(RequestVoteArgs {
        term: Term(term),
        candidate_id: PeerId(0),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer: false,
    })
}

#[test]
fn a_heartbeat_and_a_small_append_pass_a_snapshot_in_flight() {
    let pair = Pair::new();
    let send = |request| pair.send(request);
    let (mut control, mut bulk) = accept_lanes(&pair.fake);

    // A snapshot goes out on the Bulk lane; peer 1 reads its length and a first piece only.
    let data: Vec<u8> = (0..SNAPSHOT_LEN).map(|i| (i % 251) as u8).collect();
    send(Request::InstallSnapshot(InstallSnapshotArgs {
        term: Term(7),
        leader_id: PeerId(0),
        last_included_index: LogIndex(100),
        last_included_term: Term(7),
        data: data.clone(),
    }));
    bulk.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let mut header = [0u8; 4];
    bulk.stream
        .read_exact(&mut header)
        .expect("the snapshot's frame starts");
    let frame_len = u32::from_le_bytes(header) as usize;
    assert!(frame_len > SNAPSHOT_LEN, "a frame of {frame_len} bytes");
    let mut first = vec![0u8; 64 << 10];
    bulk.stream.read_exact(&mut first).expect("its first bytes");

    // Then a heartbeat, on the Control lane: it arrives while the snapshot is unread.
    let sent = Instant::now();
    send(Request::AppendEntries(AppendEntriesArgs {
        term: Term(7),
        leader_id: PeerId(0),
        prev_log_index: LogIndex(100),
        prev_log_term: Term(7),
        entries: Vec::new(),
        leader_commit: LogIndex(100),
        round: 0,
    }));
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let heartbeat: RequestFrame = control.recv().expect("the heartbeat arrives");
    let waited = sent.elapsed();
    match &heartbeat.request {
        Request::AppendEntries(args) => {
            assert!(args.entries.is_empty());
            assert_eq!(args.leader_commit, LogIndex(100));
        }
        other => panic!("a {} instead of the heartbeat", other.name()),
    }
    assert!(waited < Duration::from_secs(1), "the heartbeat took {waited:?}");

    // So does an append of a few small entries (to a follower a little behind).
    let sent = Instant::now();
    send(append(7, 100, 101..=103, 200));
    let small: RequestFrame = control.recv().expect("the small append arrives");
    let waited = sent.elapsed();
    match &small.request {
        Request::AppendEntries(args) => assert_eq!(args.entries.len(), 3),
        other => panic!("a {} instead of the small append", other.name()),
    }
    assert!(
        waited < Duration::from_secs(1),
        "the small append took {waited:?}"
    );

    // The snapshot was in flight all along, and arrives whole once peer 1 reads on.
    let mut rest = vec![0u8; frame_len - first.len()];
    bulk.stream
        .read_exact(&mut rest)
        .expect("the rest of the snapshot");
    first.extend(rest);
    let snapshot: RequestFrame = postcard::from_bytes(&first).expect("decodes");
    match snapshot.request {
        Request::InstallSnapshot(args) => {
            assert_eq!(args.data.len(), SNAPSHOT_LEN);
            assert!(args.data == data, "the snapshot arrived intact");
        }
        other => panic!("a {} instead of the snapshot", other.name()),
    }
}

#[test]
fn replies_are_paired_with_requests_by_id() {
    let pair = Pair::new();
    let (mut control, _bulk) = accept_lanes(&pair.fake);
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    pair.send(vote_request(1));
    let request: RequestFrame = control.recv().expect("the vote request");
    let vote = Reply::RequestVote(RequestVoteReply {
        term: Term(1),
        vote_granted: false,
    });
    // A reply to a request never made.
    control
        .send(&ReplyFrame {
            id: request.id + 100,
            reply: vote.clone(),
        })
        .expect("sent");
    assert!(wait_until(WAIT_MAX, || pair.node.stats().unknown_replies == 1));
    // A reply of another kind than the request's.
    let append = Reply::AppendEntries(AppendEntriesReply {
        term: Term(1),
        outcome: AppendOutcome::StaleTerm,
        round: 0,
    });
    control
        .send(&ReplyFrame {
            id: request.id,
            reply: append,
        })
        .expect("sent");
    assert!(wait_until(WAIT_MAX, || pair.node.stats().decode_failures == 1));
    // Bytes that are no reply at all.
    control.send_bytes(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).expect("sent");
    assert!(wait_until(WAIT_MAX, || pair.node.stats().decode_failures == 2));
    // The request was answered (wrongly) once: a second reply to it is unknown.
    control
        .send(&ReplyFrame {
            id: request.id,
            reply: vote,
        })
        .expect("sent");
    assert!(wait_until(WAIT_MAX, || pair.node.stats().unknown_replies == 2));
    let tcp = pair.stats.snapshot();
    assert_eq!((tcp.unknown_replies, tcp.decode_failures), (2, 2), "{tcp:?}");
    assert_eq!(pair.node.stats().refused.total(), 0);
    // The connection survived all of it: the next request comes on it.
    pair.send(vote_request(2));
    let next: RequestFrame = control.recv().expect("the next request");
    assert!(next.id > request.id);
}

#[test]
fn a_lane_answering_only_garbage_is_dialed_again() {
    let pair = Pair::new();
    let (mut control, _bulk) = accept_lanes(&pair.fake);
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    pair.send(vote_request(1));
    let _unanswered: RequestFrame = control.recv().expect("the first vote request");
    std::thread::sleep(Duration::from_millis(300));
    pair.send(vote_request(2));
    let _also_unanswered: RequestFrame = control.recv().expect("the second vote request");
    let sent = Instant::now();
    // Peer 1 answers neither, and sends frames that are no reply: they are not taken for
    // signs of life. SILENCE_MAX after the second request, peer 0 closes the lane and dials
    // it again.
    let poll = Duration::from_millis(300);
    control.stream.set_read_timeout(Some(poll)).expect("timeout");
    let limit = SILENCE_MAX + Duration::from_secs(3);
    let mut closed = false;
    while !closed && sent.elapsed() < limit {
        let _ = control.send_bytes(&[3, 0, 0, 0, 0xff, 0xff, 0xff]);
        closed = control.closed_within(poll);
    }
    assert!(closed, "the silent lane stayed open");
    let waited = sent.elapsed();
    assert!(waited >= SILENCE_MAX, "closed after {waited:?}");
    assert!(pair.stats.snapshot().decode_failures > 0, "the garbage arrived");
    pair.fake.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + WAIT_MAX;
    let again = loop {
        assert!(Instant::now() < deadline, "the lane was not dialed again");
        if let Ok((stream, _)) = pair.fake.accept() {
            stream.set_nonblocking(false).expect("blocking");
            break Raw::accept(stream).1;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        again.role,
        Role::Peer {
            from: 0,
            to: 1,
            lane: Lane::Control
        }
    );
    assert!(wait_until(WAIT_MAX, || pair.stats.snapshot().connects >= 3));
}

#[test]
fn one_unanswered_request_does_not_close_a_lane() {
    let pair = Pair::new();
    let (mut control, _bulk) = accept_lanes(&pair.fake);
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    pair.send(vote_request(1));
    let first: RequestFrame = control.recv().expect("the vote request");
    // Peer 1 leaves it unanswered (as its gate would a request it refuses), and peer 0
    // sends nothing more for longer than SILENCE_MAX: the lane stays.
    let quiet = SILENCE_MAX + Duration::from_secs(1);
    control.stream.set_read_timeout(Some(quiet)).expect("timeout");
    assert!(!control.closed_within(quiet), "the lane was closed");
    assert_eq!(pair.stats.snapshot().connects, 2, "no lane was dialed again");
    // The next request comes on the same connection.
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    pair.send(vote_request(2));
    let second: RequestFrame = control.recv().expect("the next request");
    assert!(second.id > first.id);
}

#[test]
fn a_reply_frame_over_the_reply_limit_closes_the_lane() {
    let pair = Pair::new();
    let (mut control, _bulk) = accept_lanes(&pair.fake);
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    pair.send(vote_request(1));
    let _request: RequestFrame = control.recv().expect("the vote request");
    // Replies are tiny: one that announces 64 KiB is refused at its length, and the lane
    // closed at once (not after a silence).
    let sent = Instant::now();
    let mut bytes = (64u32 << 10).to_le_bytes().to_vec();
    bytes.extend([0u8; 100]);
    control.send_bytes(&bytes).expect("sent");
    assert!(
        control.closed_within(WAIT_MAX),
        "the lane stayed open after an oversized reply"
    );
    let waited = sent.elapsed();
    assert!(waited < SILENCE_MAX, "closed only after {waited:?}");
    assert!(wait_until(WAIT_MAX, || pair.stats.snapshot().refused_frame == 1));
    assert_eq!(pair.node.stats().decode_failures, 0);
}

/// Reads requests from `lane` until `last` says one is the last expected (at most `max`
/// frames); how many arrived, the last one included.
fn read_until(lane: &mut Raw, max: usize, last: impl Fn(&Request) -> bool) -> usize {
    lane.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    for count in 1..=max {
        let frame: RequestFrame = lane.recv().expect("a request");
        if last(&frame.request) {
            return count;
        }
    }
    panic!("the last request did not arrive among {max}");
}

#[test]
fn a_queued_snapshot_is_replaced_by_a_newer_one() {
    // raft-core sends a follower that needs a snapshot the whole of it every heartbeat. Peer 1
    // reads nothing for a while: the snapshots queued meanwhile replace each other, so
    // peer 1 then gets those already on their way, and the newest, not a backlog.
    let pair = Pair::new();
    let (_control, mut bulk) = accept_lanes(&pair.fake);
    let count = 100;
    for index in 1..=count {
        pair.send(snapshot_request(index, 1 << 20));
    }
    let received = read_until(
        &mut bulk,
        100,
        |request| matches!(request, Request::InstallSnapshot(args) if args.last_included_index == LogIndex(count)),
    );
    assert!(received <= 20, "{received} snapshots of {count} were sent");
    let superseded = pair.stats.snapshot().dropped_superseded;
    assert_eq!(superseded + received as u64, count, "each one sent or superseded");
    assert_eq!(pair.stats.snapshot().dropped_queue_full, 0);
}

#[test]
fn a_slow_bulk_lane_queues_a_bounded_number_of_bytes() {
    // Appends that each carry other entries (none replaces another), 100 MiB in all, to a
    // peer that reads nothing for a while: the queue keeps within its byte budget by dropping
    // the oldest, and the newest is delivered.
    let pair = Pair::new();
    let (_control, mut bulk) = accept_lanes(&pair.fake);
    let count = 400;
    for index in 1..=count {
        pair.send(append(7, index - 1, index..=index, 256 << 10));
    }
    let dropped = pair.stats.snapshot().dropped_queue_full;
    assert!(
        dropped >= 100,
        "only {dropped} requests dropped: {:?}",
        pair.stats.snapshot()
    );
    let received = read_until(
        &mut bulk,
        400,
        |request| matches!(request, Request::AppendEntries(args) if args.prev_log_index == LogIndex(count - 1)),
    );
    assert!(
        received as u64 + dropped <= count,
        "{received} received and {dropped} dropped of {count}"
    );
    assert_eq!(
        pair.stats.snapshot().dropped_superseded,
        0,
        "each carried other entries"
    );
}
