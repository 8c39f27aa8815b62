//! One server's decisions through `ServerState`: a request on a follower, the term rule, a
//! displaced request, when a snapshot is due, and the duplicate table across a restore.

use raft_core::{LogIndex, Term};
use raft_kv::{
    ClientId, Command, KvOp, KvStore, PENDING_REQUESTS_MAX, Reply, RequestId, RestoreError, Rsm, Seq,
    ServerState, WrongLeader,
};

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
    server.on_request(RequestId(id), command, |_| Some((LogIndex(at.0), Term(at.1))))
}

#[test]
fn a_request_to_a_follower_is_answered_wrong_leader_at_once() {
    let mut server = ServerState::new(KvStore::new(), None);
    let request = append(1, 1, "x", "a");
    let expected = encoded(&request);
    let mut proposed = None;
    let replies = server.on_request(RequestId(7), request, |bytes| {
        proposed = Some(bytes);
        None
    });
    assert_eq!(replies, vec![wrong(7)]);
    assert_eq!(proposed, Some(expected), "start is given the command's log bytes");
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
    let mut start_called = false;
    let replies = server.on_request(RequestId(u64::MAX), append(0, 2, "x", "a"), |_| {
        start_called = true;
        Some((LogIndex(9999), Term(1)))
    });
    assert_eq!(replies, vec![wrong(u64::MAX)]);
    assert!(!start_called, "an overloaded leader adds nothing to its log");
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
