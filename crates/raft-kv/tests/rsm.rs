//! The replicated-state-machine layer through its public API: exactly once, the
//! index-and-term check, fail-all, snapshots with the duplicate table, and bad bytes.

use raft_core::{LogIndex, Term};
use raft_kv::{ClientId, Decision, KvOp, KvStore, Reply, RequestId, RestoreError, Rsm, Seq, WrongLeader};

fn append(client: u64, seq: u64, key: &str, value: &str) -> Vec<u8> {
    let op = KvOp::Append {
        key: key.into(),
        value: value.into(),
    };
    Rsm::<KvStore>::propose(ClientId(client), Seq(seq), op).expect("a kv op encodes")
}

fn get(client: u64, seq: u64, key: &str) -> Vec<u8> {
    let op = KvOp::Get { key: key.into() };
    Rsm::<KvStore>::propose(ClientId(client), Seq(seq), op).expect("a kv op encodes")
}

/// Applies `commands` at indices 1.. in `term`, returning the decisions.
fn apply_all(rsm: &mut Rsm<KvStore>, term: u64, commands: &[Vec<u8>]) -> Vec<Decision<String>> {
    let first = rsm.last_applied().0 + 1;
    commands
        .iter()
        .zip(first..)
        .map(|(c, i)| rsm.apply(LogIndex(i), Term(term), c).unwrap().decision)
        .collect()
}

#[test]
fn an_append_committed_twice_takes_effect_once() {
    let mut rsm = Rsm::new(KvStore::new());
    let twice = append(1, 1, "x", "a");
    let decisions = apply_all(
        &mut rsm,
        1,
        &[twice.clone(), append(2, 1, "x", "b"), twice, get(1, 2, "x")],
    );
    assert_eq!(
        decisions,
        vec![
            Decision::Executed(String::new()),
            Decision::Executed(String::new()),
            Decision::Duplicate(String::new()),
            Decision::Executed("ab".to_string()),
        ]
    );
    assert_eq!(rsm.state().value("x"), Some("ab"));
    assert_eq!(rsm.clients(), 2);
}

#[test]
fn a_duplicate_answers_the_waiting_request_with_the_recorded_output() {
    let mut rsm = Rsm::new(KvStore::new());
    apply_all(&mut rsm, 1, &[append(1, 1, "x", "a"), get(1, 2, "x")]);
    // The Get's reply was lost; the clerk retried at the new leader, which committed it again.
    rsm.register(LogIndex(3), Term(2), RequestId(9)).unwrap();
    rsm.apply(LogIndex(3), Term(1), &append(2, 1, "x", "z")).unwrap();
    // (index 3 held another request of term 1: the waiting one is told wrong leader)
    rsm.register(LogIndex(4), Term(2), RequestId(10)).unwrap();
    let applied = rsm.apply(LogIndex(4), Term(2), &get(1, 2, "x")).unwrap();
    assert_eq!(applied.decision, Decision::Duplicate("a".to_string()));
    assert_eq!(
        applied.reply,
        Some(Reply {
            request_id: RequestId(10),
            outcome: Ok("a".to_string())
        })
    );
}

#[test]
fn an_older_request_than_the_clients_last_is_obsolete_and_not_applied() {
    let mut rsm = Rsm::new(KvStore::new());
    let decisions = apply_all(
        &mut rsm,
        1,
        &[
            append(1, 1, "x", "a"),
            append(1, 2, "x", "b"),
            append(1, 1, "x", "a"),
        ],
    );
    assert_eq!(decisions[2], Decision::Obsolete);
    assert_eq!(rsm.state().value("x"), Some("ab"));
}

#[test]
fn a_waiting_request_is_wrong_leader_when_another_term_lands_at_its_index() {
    let mut rsm = Rsm::new(KvStore::new());
    let mine = append(1, 1, "x", "mine");
    assert_eq!(rsm.register(LogIndex(1), Term(3), RequestId(5)), Ok(None));
    // A new leader of term 4 overwrote index 1 with another client's request.
    let applied = rsm
        .apply(LogIndex(1), Term(4), &append(2, 1, "x", "theirs"))
        .unwrap();
    assert_eq!(applied.decision, Decision::Executed(String::new()));
    assert_eq!(
        applied.reply,
        Some(Reply {
            request_id: RequestId(5),
            outcome: Err(WrongLeader)
        })
    );
    assert_eq!(rsm.pending_requests(), 0);
    // Even our own command at that index in another term is not "ours": the clerk retries,
    // and the duplicate table makes the retry harmless.
    rsm.register(LogIndex(2), Term(3), RequestId(6)).unwrap();
    let applied = rsm.apply(LogIndex(2), Term(5), &mine).unwrap();
    assert_eq!(applied.reply.unwrap().outcome, Err(WrongLeader));
}

#[test]
fn fail_all_answers_every_waiting_request_wrong_leader() {
    let mut rsm = Rsm::new(KvStore::new());
    for i in 1..=3 {
        rsm.register(LogIndex(i), Term(2), RequestId(i)).unwrap();
    }
    let mut failed = rsm.fail_all();
    failed.sort_by_key(|r| r.request_id);
    let ids: Vec<_> = failed.iter().map(|r| r.request_id).collect();
    assert_eq!(ids, vec![RequestId(1), RequestId(2), RequestId(3)]);
    assert!(failed.iter().all(|r| r.outcome == Err(WrongLeader)));
    assert_eq!(rsm.pending_requests(), 0);
    // Applying there later answers nobody.
    let applied = rsm.apply(LogIndex(1), Term(2), &get(1, 1, "x")).unwrap();
    assert_eq!(applied.reply, None);
}

#[test]
fn a_snapshot_carries_the_duplicate_table() {
    let mut rsm = Rsm::new(KvStore::new());
    let twice = append(1, 1, "x", "a");
    apply_all(&mut rsm, 1, &[twice.clone(), append(2, 1, "y", "b")]);
    let snapshot = rsm.snapshot().unwrap();

    let mut restored = Rsm::new(KvStore::new());
    assert_eq!(restored.restore(&snapshot), Ok(Vec::new()));
    assert_eq!(restored.last_applied(), LogIndex(2));
    assert_eq!(restored.state(), rsm.state());
    assert_eq!(restored.clients(), 2);
    // The same Append committed again after the snapshot is still a duplicate.
    let applied = restored.apply(LogIndex(3), Term(2), &twice).unwrap();
    assert_eq!(applied.decision, Decision::Duplicate(String::new()));
    assert_eq!(restored.state().value("x"), Some("a"));
    assert_eq!(restored.snapshot().unwrap().len(), snapshot.len());
}

#[test]
fn an_older_snapshot_is_refused_and_changes_nothing() {
    let mut rsm = Rsm::new(KvStore::new());
    apply_all(&mut rsm, 1, &[append(1, 1, "x", "a")]);
    let old = rsm.snapshot().unwrap();
    apply_all(&mut rsm, 1, &[append(1, 2, "x", "b")]);
    assert_eq!(
        rsm.restore(&old),
        Err(RestoreError::NotNewer {
            snapshot_index: LogIndex(1),
            last_applied: LogIndex(2)
        })
    );
    assert_eq!(rsm.state().value("x"), Some("ab"));
    assert_eq!(rsm.last_applied(), LogIndex(2));
    // The same index is not newer either.
    let same = rsm.snapshot().unwrap();
    assert!(matches!(rsm.restore(&same), Err(RestoreError::NotNewer { .. })));
}

#[test]
fn a_snapshot_fails_the_requests_waiting_at_indices_it_covers() {
    let mut leader = Rsm::new(KvStore::new());
    apply_all(&mut leader, 1, &[append(1, 1, "x", "a"), append(1, 2, "x", "b")]);
    let snapshot = leader.snapshot().unwrap();

    let mut lagging = Rsm::new(KvStore::new());
    lagging.register(LogIndex(2), Term(1), RequestId(1)).unwrap();
    lagging.register(LogIndex(3), Term(1), RequestId(2)).unwrap();
    let failed = lagging.restore(&snapshot).unwrap();
    assert_eq!(
        failed,
        vec![Reply {
            request_id: RequestId(1),
            outcome: Err(WrongLeader)
        }]
    );
    assert_eq!(lagging.pending_requests(), 1);
    assert_eq!(lagging.state().value("x"), Some("ab"));
    // An entry the snapshot covers is already applied.
    let again = lagging
        .apply(LogIndex(2), Term(1), &append(1, 2, "x", "b"))
        .unwrap();
    assert_eq!(again.decision, Decision::AlreadyApplied);
}

#[test]
fn garbage_commands_are_skipped_and_counted() {
    let mut rsm = Rsm::new(KvStore::new());
    rsm.register(LogIndex(1), Term(1), RequestId(1)).unwrap();
    let applied = rsm.apply(LogIndex(1), Term(1), &[0xff; 7]).unwrap();
    assert_eq!(applied.decision, Decision::Undecodable);
    assert_eq!(applied.reply.unwrap().outcome, Err(WrongLeader));
    let applied = rsm.apply(LogIndex(2), Term(1), &[]).unwrap();
    assert_eq!(applied.decision, Decision::Undecodable);
    assert_eq!(rsm.undecodable_commands(), 2);
    assert_eq!(rsm.last_applied(), LogIndex(2));
    // A valid command still applies after them.
    let applied = rsm.apply(LogIndex(3), Term(1), &append(1, 1, "x", "a")).unwrap();
    assert_eq!(applied.decision, Decision::Executed(String::new()));
}

#[test]
fn garbage_snapshots_are_errors_that_change_nothing() {
    let mut rsm = Rsm::new(KvStore::new());
    apply_all(&mut rsm, 1, &[append(1, 1, "x", "a")]);
    let good = rsm.snapshot().unwrap();
    let mut candidates: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff; 16]];
    // Every truncation of a real snapshot, and the snapshot with its state bytes damaged.
    candidates.extend((0..good.len()).map(|n| good[..n].to_vec()));
    let mut damaged = good.clone();
    let last = damaged.len() - 1;
    damaged[last] = 0xff;
    candidates.push(damaged);
    for bytes in candidates {
        let mut fresh = Rsm::new(KvStore::new());
        let result = fresh.restore(&bytes);
        assert!(
            matches!(result, Err(RestoreError::Decode(_))),
            "{bytes:?} gave {result:?}"
        );
        assert_eq!(fresh.last_applied(), LogIndex::ZERO);
        assert!(fresh.state().is_empty());
    }
}

#[test]
fn an_index_past_the_next_is_a_gap_and_changes_nothing() {
    let mut rsm = Rsm::new(KvStore::new());
    let err = rsm
        .apply(LogIndex(2), Term(1), &append(1, 1, "x", "a"))
        .unwrap_err();
    assert_eq!((err.expected, err.got), (LogIndex(1), LogIndex(2)));
    assert_eq!(rsm.last_applied(), LogIndex::ZERO);
    assert!(rsm.state().is_empty());
}

#[test]
fn should_snapshot_at_maxraftstate_and_never_without_one() {
    assert!(!Rsm::<KvStore>::should_snapshot(usize::MAX, None));
    assert!(!Rsm::<KvStore>::should_snapshot(999, Some(1000)));
    assert!(Rsm::<KvStore>::should_snapshot(1000, Some(1000)));
    assert!(Rsm::<KvStore>::should_snapshot(1001, Some(1000)));
}

/// TestSnapshotSize3B fails a snapshot over 500 bytes for one key and one client: the
/// snapshot must hold the state and the table, not the history.
#[test]
fn a_snapshot_of_one_key_and_one_client_stays_small_however_long_the_history() {
    const SNAPSHOT_BYTES_MAX: usize = 500;
    let mut rsm = Rsm::new(KvStore::new());
    for seq in 1..=200u64 {
        let op = KvOp::Put {
            key: "x".into(),
            value: if seq % 2 == 0 { "0" } else { "1" }.into(),
        };
        let command = Rsm::<KvStore>::propose(ClientId(u64::MAX >> 2), Seq(seq), op).unwrap();
        rsm.apply(LogIndex(seq), Term(1), &command).unwrap();
    }
    let snapshot = rsm.snapshot().unwrap();
    assert!(snapshot.len() <= SNAPSHOT_BYTES_MAX, "{} bytes", snapshot.len());
    assert_eq!(rsm.state().value("x"), Some("0"));
}
