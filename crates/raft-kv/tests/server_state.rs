//! One server's decisions through `ServerState`: a request on a follower, the term rule, a
//! displaced request, when a snapshot is due, the duplicate table across a restore, and
//! reads that skip the log (ReadIndex).

use raft_core::{LogIndex, ReadError, ReadId, ReadMode, Term};
use raft_kv::{
    Admitted, ClientId, Command, KvOp, KvStore, PENDING_REQUESTS_MAX, RaftPeer, ReadBehind, Reply, RequestId,
    RestoreError, Rsm, Seq, ServerState, WrongLeader,
};

/// A Raft peer as the server sees it: `start` places every command at `place` (`None`: not
/// the leader), `read` answers `read`; what the server asked is recorded.
struct Peer {
    place: Option<(u64, u64)>,
    reads_ready: bool,
    read: Result<(), ReadError>,
    started: Vec<Vec<u8>>,
    reads: Vec<ReadId>,
}

impl Peer {
    /// A leader that places commands at `place` and is ready to read or not.
    fn leader(place: (u64, u64), reads_ready: bool) -> Peer {
        Peer {
            place: Some(place),
            reads_ready,
            read: Ok(()),
            started: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// A follower: it refuses both.
    fn follower() -> Peer {
        Peer {
            place: None,
            reads_ready: false,
            read: Err(ReadError::NotLeader { leader_hint: None }),
            started: Vec::new(),
            reads: Vec::new(),
        }
    }
}

impl RaftPeer for Peer {
    fn start(&mut self, commands: Vec<Vec<u8>>) -> Option<(LogIndex, Term)> {
        self.started.extend(commands);
        self.place.map(|(index, term)| (LogIndex(index), Term(term)))
    }

    fn reads_ready(&mut self) -> bool {
        self.reads_ready
    }

    fn read(&mut self, id: ReadId) -> Result<(), ReadError> {
        self.reads.push(id);
        self.read
    }
}

fn append(client: u64, seq: u64, key: &str, value: &str) -> Command<KvOp> {
    Command {
        client_id: ClientId(client),
        seq: Seq(seq),
        op: KvOp::Append {
            key: key.into(),
            value: value.into(),
        },
    }
}

fn get(client: u64, seq: u64, key: &str) -> Command<KvOp> {
    Command {
        client_id: ClientId(client),
        seq: Seq(seq),
        op: KvOp::Get { key: key.into() },
    }
}

fn encoded(command: &Command<KvOp>) -> Vec<u8> {
    Rsm::<KvStore>::propose(command.client_id, command.seq, command.op.clone()).expect("a kv op encodes")
}

fn wrong(id: u64) -> Reply<String> {
    Reply {
        request_id: RequestId(id),
        outcome: Err(WrongLeader),
    }
}

fn ok(id: u64, output: &str) -> Reply<String> {
    Reply {
        request_id: RequestId(id),
        outcome: Ok(output.to_string()),
    }
}

/// Submits `command` as request `id`; Raft's start places it at (index, term).
fn started(
    server: &mut ServerState<KvStore>,
    id: u64,
    command: Command<KvOp>,
    at: (u64, u64),
) -> Vec<Reply<String>> {
    server.on_request(RequestId(id), command, &mut Peer::leader(at, false))
}

#[test]
fn a_request_to_a_follower_is_answered_wrong_leader_at_once() {
    let mut server = ServerState::new(KvStore::new(), None);
    let request = append(1, 1, "x", "a");
    let expected = encoded(&request);
    let mut peer = Peer::follower();
    let replies = server.on_request(RequestId(7), request, &mut peer);
    assert_eq!(replies, vec![wrong(7)]);
    assert_eq!(
        peer.started,
        vec![expected],
        "start is given the command's log bytes"
    );
    assert_eq!(server.rsm().pending_requests(), 0);
}

#[test]
fn a_leader_s_request_is_answered_when_its_entry_applies() {
    let mut server = ServerState::new(KvStore::new(), None);
    let request = append(1, 1, "x", "a");
    let bytes = encoded(&request);
    assert_eq!(started(&mut server, 1, request, (1, 2)), vec![]);
    assert_eq!(
        server.raft_state(),
        (Term(2), true),
        "a successful start shows Raft's state"
    );
    assert_eq!(server.on_apply(LogIndex(1), Term(2), &bytes), Ok(Some(ok(1, ""))));
    assert_eq!(server.rsm().state().value("x"), Some("a"));
    // Another term's entry at a waited index is "a different request at the index".
    started(&mut server, 2, get(1, 2, "x"), (2, 2));
    assert_eq!(
        server.on_apply(LogIndex(2), Term(1), &encoded(&get(9, 1, "x"))),
        Ok(Some(wrong(2)))
    );
}

#[test]
fn a_term_change_or_lost_leadership_fails_every_waiting_request() {
    let mut server = ServerState::new(KvStore::new(), None);
    started(&mut server, 1, append(1, 1, "x", "a"), (1, 2));
    started(&mut server, 2, append(2, 1, "x", "b"), (2, 2));
    assert_eq!(server.on_raft_state(Term(2), true), vec![], "nothing changed");
    assert_eq!(server.rsm().pending_requests(), 2);
    let mut failed = server.on_raft_state(Term(3), true);
    failed.sort_by_key(|r| r.request_id);
    assert_eq!(failed, vec![wrong(1), wrong(2)]);
    assert_eq!(server.rsm().pending_requests(), 0);

    started(&mut server, 3, append(3, 1, "x", "c"), (3, 3));
    assert_eq!(
        server.on_raft_state(Term(3), false),
        vec![wrong(3)],
        "leadership lost"
    );

    // A start in a newer term shows the change too: the older term's waiters fail.
    started(&mut server, 4, append(4, 1, "x", "d"), (4, 4));
    assert_eq!(
        started(&mut server, 5, append(5, 1, "x", "e"), (5, 6)),
        vec![wrong(4)]
    );
    assert_eq!(server.rsm().pending_requests(), 1);
}

#[test]
fn a_displaced_request_is_answered_once_and_the_new_one_waits() {
    let mut server = ServerState::new(KvStore::new(), None);
    started(&mut server, 1, append(1, 1, "x", "a"), (5, 2));
    // The entry at 5 was overwritten: a new leader term placed another request there.
    let replies = started(&mut server, 2, append(2, 1, "x", "b"), (5, 3));
    assert_eq!(replies, vec![wrong(1)]);
    // Same index, same term (a runtime that reuses a slot): displacement alone answers it.
    let replies = started(&mut server, 3, append(3, 1, "x", "c"), (5, 3));
    assert_eq!(replies, vec![wrong(2)]);
    assert_eq!(server.rsm().pending_requests(), 1);
}

#[test]
fn a_full_pending_table_refuses_before_start() {
    let mut server = ServerState::new(KvStore::new(), None);
    for i in 0..PENDING_REQUESTS_MAX as u64 {
        assert_eq!(
            started(&mut server, i, append(i, 1, "x", "a"), (i + 1, 1)),
            vec![]
        );
    }
    let mut peer = Peer::leader((9999, 1), true);
    let replies = server.on_request(RequestId(u64::MAX), append(0, 2, "x", "a"), &mut peer);
    assert_eq!(replies, vec![wrong(u64::MAX)]);
    assert!(
        peer.started.is_empty(),
        "an overloaded leader adds nothing to its log"
    );
    // Nor does it take a read.
    let mut server = server.with_reads(ReadMode::ReadIndex);
    let replies = server.on_request(RequestId(u64::MAX), get(0, 2, "x"), &mut peer);
    assert_eq!(replies, vec![wrong(u64::MAX)]);
    assert!(peer.reads.is_empty());
}

#[test]
fn a_snapshot_is_due_at_maxraftstate_bytes_once_something_is_applied() {
    let never = ServerState::new(KvStore::new(), None);
    assert_eq!(never.snapshot_due(u64::MAX), None, "None means never");

    let mut server = ServerState::new(KvStore::new(), Some(100));
    assert_eq!(
        server.snapshot_due(1_000),
        None,
        "nothing applied: nothing to snapshot"
    );
    server
        .on_apply(LogIndex(1), Term(1), &encoded(&append(1, 1, "x", "a")))
        .unwrap();
    server
        .on_apply(LogIndex(2), Term(1), &encoded(&append(1, 2, "x", "b")))
        .unwrap();
    assert_eq!(server.snapshot_due(99), None);
    let (index, data) = server.snapshot_due(100).expect("due at exactly max");
    assert_eq!(index, LogIndex(2));
    assert_eq!(server.snapshot_due(101).map(|(i, _)| i), Some(LogIndex(2)));
    assert_eq!(server.snapshot_encode_failures(), 0);

    let mut restored = ServerState::new(KvStore::new(), Some(100));
    assert_eq!(restored.restore(&data), Ok(vec![]));
    assert_eq!(restored.rsm().last_applied(), LogIndex(2));
    assert_eq!(restored.rsm().state().value("x"), Some("ab"));
}

#[test]
fn a_duplicate_is_recognised_across_a_restore() {
    let mut old = ServerState::new(KvStore::new(), Some(1));
    let request = append(1, 1, "x", "a");
    old.on_apply(LogIndex(1), Term(1), &encoded(&request)).unwrap();
    let (_, snapshot) = old.snapshot_due(1).expect("due");

    let mut new = ServerState::new(KvStore::new(), Some(1));
    new.restore(&snapshot).unwrap();
    // The clerk's reply was lost; its retry reaches the restored server, which leads now.
    let bytes = encoded(&request);
    assert_eq!(started(&mut new, 1, request, (2, 2)), vec![]);
    assert_eq!(new.on_apply(LogIndex(2), Term(2), &bytes), Ok(Some(ok(1, ""))));
    assert_eq!(new.rsm().state().value("x"), Some("a"), "applied once");
}

#[test]
fn snapshots_that_are_not_newer_or_empty_are_ignored_and_garbage_is_an_error() {
    let mut leader = ServerState::new(KvStore::new(), Some(1));
    leader
        .on_apply(LogIndex(1), Term(1), &encoded(&append(1, 1, "x", "a")))
        .unwrap();
    let (_, at_1) = leader.snapshot_due(1).unwrap();
    leader
        .on_apply(LogIndex(2), Term(1), &encoded(&append(1, 2, "x", "b")))
        .unwrap();
    let (_, at_2) = leader.snapshot_due(1).unwrap();

    let mut server = ServerState::new(KvStore::new(), Some(1));
    assert_eq!(server.restore(&[]), Ok(vec![]), "no persisted snapshot");
    // Requests wait at 2 and 3; a snapshot through 2 covers the first only.
    started(&mut server, 1, get(2, 1, "x"), (2, 1));
    started(&mut server, 2, get(3, 1, "x"), (3, 1));
    assert_eq!(server.on_snapshot(&at_2), Ok(vec![wrong(1)]));
    assert_eq!(server.rsm().pending_requests(), 1);
    // The persisted snapshot delivered again, and an older one: nothing moves back.
    assert_eq!(server.on_snapshot(&at_2), Ok(vec![]));
    assert_eq!(server.on_snapshot(&at_1), Ok(vec![]));
    assert_eq!(server.rsm().state().value("x"), Some("ab"));
    assert!(matches!(
        server.on_snapshot(&[0xff; 3]),
        Err(RestoreError::Decode(_))
    ));
    assert_eq!(server.rsm().last_applied(), LogIndex(2));
}

#[test]
fn an_expired_request_stops_waiting_and_its_entry_still_applies_once_unanswered() {
    let mut server = ServerState::new(KvStore::new(), None);
    let request = append(1, 1, "x", "a");
    let command = encoded(&request);
    assert_eq!(started(&mut server, 7, request, (1, 2)), vec![]);
    assert_eq!(server.rsm().pending_requests(), 1);
    assert_eq!(server.expire(RequestId(7)), Some(wrong(7)));
    assert_eq!(
        server.rsm().pending_requests(),
        0,
        "no longer counts toward the bound"
    );
    assert_eq!(server.expire(RequestId(7)), None, "answered once");
    let reply = server
        .on_apply(LogIndex(1), Term(2), &command)
        .expect("the next index");
    assert_eq!(reply, None, "nobody waits for it any more");
    assert_eq!(server.rsm().state().value("x"), Some("a"), "it still took effect");
}

/// A server with reads on that has applied `x = "a"` at index 1.
fn reading_server() -> ServerState<KvStore> {
    let mut server = ServerState::new(KvStore::new(), None).with_reads(ReadMode::ReadIndex);
    server
        .on_apply(LogIndex(1), Term(1), &encoded(&append(1, 1, "x", "a")))
        .unwrap();
    server
}

#[test]
fn a_get_on_a_ready_leader_is_a_read_answered_from_the_state_without_the_log() {
    let mut server = reading_server();
    let mut peer = Peer::leader((2, 1), true);
    assert_eq!(server.on_request(RequestId(5), get(2, 1, "x"), &mut peer), vec![]);
    assert!(peer.started.is_empty(), "nothing goes into the log");
    assert_eq!(peer.reads, vec![ReadId(5)], "read under the request's id");
    assert_eq!(server.reads_waiting(), 1);
    // Raft confirms the read at index 1, which is applied: the answer is the state's.
    assert_eq!(server.on_read(ReadId(5), Ok(LogIndex(1))), Ok(Some(ok(5, "a"))));
    assert_eq!(server.reads_waiting(), 0);
    assert_eq!(
        server.rsm().clients(),
        1,
        "the read touched no duplicate table row"
    );
    // The clerk's next call (seq 2) through the log is new, not a duplicate of seq 1.
    let bytes = encoded(&append(2, 2, "x", "b"));
    assert_eq!(started(&mut server, 6, append(2, 2, "x", "b"), (2, 1)), vec![]);
    assert_eq!(server.on_apply(LogIndex(2), Term(1), &bytes), Ok(Some(ok(6, ""))));
    assert_eq!(server.rsm().state().value("x"), Some("ab"));
    // An outcome for a read nobody waits on is nobody's.
    assert_eq!(server.on_read(ReadId(5), Ok(LogIndex(2))), Ok(None));
}

#[test]
fn a_get_goes_through_the_log_unless_reads_are_on_and_raft_is_ready() {
    for (reads, ready) in [(ReadMode::Log, true), (ReadMode::ReadIndex, false)] {
        let mut server = ServerState::new(KvStore::new(), None).with_reads(reads);
        let mut peer = Peer::leader((1, 1), ready);
        let request = get(1, 1, "x");
        let bytes = encoded(&request);
        assert_eq!(server.on_request(RequestId(1), request, &mut peer), vec![]);
        assert!(peer.reads.is_empty(), "{reads} ready={ready}: no read");
        assert_eq!(
            peer.started,
            vec![bytes.clone()],
            "{reads} ready={ready}: proposed"
        );
        assert_eq!(server.on_apply(LogIndex(1), Term(1), &bytes), Ok(Some(ok(1, ""))));
    }
    // Writes always go through the log.
    let mut server = reading_server();
    let mut peer = Peer::leader((2, 1), true);
    assert_eq!(
        server.on_request(RequestId(2), append(1, 2, "x", "b"), &mut peer),
        vec![]
    );
    assert!(peer.reads.is_empty());
    assert_eq!(peer.started.len(), 1);
    // The split form says the same.
    assert!(matches!(
        server.admit(RequestId(3), get(1, 3, "x"), false),
        Ok(Admitted::Propose(_))
    ));
    assert_eq!(
        server.admit(RequestId(4), get(1, 4, "x"), true),
        Ok(Admitted::Read(ReadId(4)))
    );
}

#[test]
fn a_refused_or_failed_read_is_answered_wrong_leader() {
    let mut server = reading_server();
    let mut peer = Peer::leader((2, 1), true);
    peer.read = Err(ReadError::TooMany { max: 1 });
    assert_eq!(
        server.on_request(RequestId(1), get(2, 1, "x"), &mut peer),
        vec![wrong(1)]
    );
    assert_eq!(server.reads_waiting(), 0, "a refused read does not wait");
    peer.read = Ok(());
    assert_eq!(server.on_request(RequestId(2), get(2, 1, "x"), &mut peer), vec![]);
    let lost = Err(ReadError::LeadershipLost { leader_hint: None });
    assert_eq!(server.on_read(ReadId(2), lost), Ok(Some(wrong(2))));
    assert_eq!(server.reads_waiting(), 0);
}

#[test]
fn a_term_change_lost_leadership_or_expiry_fails_waiting_reads() {
    let mut server = reading_server();
    assert_eq!(server.on_raft_state(Term(2), true), vec![]);
    let mut peer = Peer::leader((2, 2), true);
    for id in 1..=3 {
        assert_eq!(
            server.on_request(RequestId(id), get(id, 1, "x"), &mut peer),
            vec![]
        );
    }
    assert_eq!(server.expire(RequestId(3)), Some(wrong(3)));
    assert_eq!(server.expire(RequestId(3)), None, "answered once");
    assert_eq!(server.on_raft_state(Term(2), true), vec![], "nothing changed");
    let mut failed = server.on_raft_state(Term(2), false);
    failed.sort_by_key(|r| r.request_id);
    assert_eq!(failed, vec![wrong(1), wrong(2)], "leadership lost");
    // Raft's own outcome comes later and finds nobody waiting.
    let lost = Err(ReadError::LeadershipLost { leader_hint: None });
    assert_eq!(server.on_read(ReadId(1), lost), Ok(None));

    assert_eq!(server.on_raft_state(Term(3), true), vec![]);
    assert_eq!(server.on_request(RequestId(4), get(4, 1, "x"), &mut peer), vec![]);
    assert_eq!(
        server.on_raft_state(Term(4), true),
        vec![wrong(4)],
        "term changed"
    );
}

#[test]
fn a_read_confirmed_ahead_of_its_entries_is_an_error_not_a_stale_answer() {
    let mut server = reading_server();
    let mut peer = Peer::leader((2, 1), true);
    assert_eq!(server.on_request(RequestId(1), get(2, 1, "x"), &mut peer), vec![]);
    assert_eq!(
        server.on_read(ReadId(1), Ok(LogIndex(2))),
        Err(ReadBehind {
            index: LogIndex(2),
            last_applied: LogIndex(1)
        })
    );
    assert_eq!(server.reads_waiting(), 0);
}
