//! Log compaction on bare state machines (section 7): the service's snapshots, InstallSnapshot,
//! and index arithmetic at and around the snapshot boundary.

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, InstallSnapshotReply, Reply,
    Request, RequestId,
};
use raft_core::{
    Config, Entry, HardState, LogIndex, PeerId, Raft, Restored, RoleKind, SnapshotError, SnapshotMeta, Term,
};

const TICKS_MAX: usize = 1_000;

#[test]
fn a_service_snapshot_compacts_the_log_and_keeps_later_entries() {
    let mut r = follower_with(&[1, 1, 2, 2, 2], 5);
    r.snapshot(LogIndex(3), b"state@3".to_vec())
        .expect("index 3 was applied");
    let ready = r.take_ready();
    let snapshot = ready
        .snapshot()
        .cloned()
        .expect("the snapshot is handed out for persisting");
    assert_eq!(
        snapshot.meta,
        SnapshotMeta {
            last_included_index: LogIndex(3),
            last_included_term: Term(2)
        }
    );
    assert!(
        !ready.apply_snapshot(),
        "the service made it: it is not handed back"
    );
    assert_eq!(r.log().first_index(), LogIndex(4));
    assert_eq!(r.log().last_index(), LogIndex(5));
    assert_eq!(
        r.log().term_at(LogIndex(3)),
        Some(Term(2)),
        "the boundary keeps its term"
    );
}

#[test]
fn a_snapshot_must_be_newer_and_applied() {
    let mut r = follower_with(&[1, 1, 1, 1], 2);
    assert_eq!(
        r.snapshot(LogIndex(3), vec![]),
        Err(SnapshotError::NotApplied {
            index: LogIndex(3),
            last_applied: LogIndex(2)
        })
    );
    r.snapshot(LogIndex(2), vec![]).expect("applied");
    assert_eq!(
        r.snapshot(LogIndex(1), vec![]),
        Err(SnapshotError::NotNewer {
            index: LogIndex(1),
            current: LogIndex(2)
        })
    );
    let _ = r.take_ready();
}

#[test]
fn install_snapshot_with_a_matching_entry_keeps_the_suffix() {
    let mut r = restored(&[1, 1, 2, 2], Term(2));
    r.step_request(PeerId(1), RequestId(1), install(Term(2), 3, 2));
    let ready = r.take_ready();
    assert_eq!(reply_match(ready.replies()), Some(LogIndex(3)));
    assert!(ready.apply_snapshot(), "a leader's snapshot goes to the service");
    assert_eq!(ready.truncate_from(), None, "the matching suffix is kept");
    assert_eq!(r.log().last_index(), LogIndex(4));
    assert_eq!(r.log().first_index(), LogIndex(4));
    assert_eq!(r.commit_index(), LogIndex(3));
    assert!(
        ready.committed().is_empty(),
        "nothing at or below the snapshot is applied after it"
    );
}

#[test]
fn install_snapshot_past_a_mismatch_discards_the_log() {
    let mut r = restored(&[1, 1, 1, 1], Term(2));
    r.step_request(PeerId(1), RequestId(1), install(Term(3), 3, 2));
    let ready = r.take_ready();
    assert_eq!(
        ready.truncate_from(),
        Some(LogIndex(4)),
        "storage is told to cut what follows"
    );
    assert!(r.log().is_empty());
    assert_eq!(r.log().last_index(), LogIndex(3));
    assert_eq!(r.log().last_term(), Term(2));
}

#[test]
fn an_install_snapshot_behind_the_commit_index_changes_nothing() {
    let mut r = restored(&[1, 1, 1, 1], Term(1));
    r.step_request(PeerId(1), RequestId(1), append(Term(1), (4, 1), 4));
    let _ = r.take_ready();
    assert_eq!(r.commit_index(), LogIndex(4));
    r.step_request(PeerId(1), RequestId(1), install(Term(1), 2, 1));
    let ready = r.take_ready();
    assert!(ready.snapshot().is_none(), "the service never moves backwards");
    assert_eq!(reply_match(ready.replies()), Some(LogIndex(2)));
    assert_eq!(r.log().first_index(), LogIndex(1));
}

#[test]
fn append_entries_inside_the_snapshot_succeeds_and_skips_what_it_covers() {
    let mut r = follower_with(&[1, 1, 1, 1], 4);
    r.snapshot(LogIndex(3), vec![]).expect("applied");
    let _ = r.take_ready();
    // A delayed request from before the snapshot: prev 1, entries 2..=5.
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::AppendEntries(AppendEntriesArgs {
            term: Term(1),
            leader_id: PeerId(1),
            prev_log_index: LogIndex(1),
            prev_log_term: Term(1),
            entries: (2..=5).map(|i| entry(i, 1)).collect(),
            leader_commit: LogIndex(4),
            round: 0,
        }),
    );
    let ready = r.take_ready();
    match ready.replies() {
        [
            (
                _,
                Reply::AppendEntries(AppendEntriesReply {
                    outcome: AppendOutcome::Success { match_index },
                    round: 0,
                    ..
                }),
            ),
        ] => {
            assert_eq!(*match_index, LogIndex(5));
        }
        other => panic!("expected success, got {other:?}"),
    }
    assert_eq!(
        ready.entries().iter().map(|e| e.index.0).collect::<Vec<_>>(),
        vec![5]
    );
}

#[test]
fn a_lagging_follower_catches_up_through_install_snapshot() {
    let mut c = Cluster::new(3, 21);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let lagging = (leader + 1) % 3;
    c.isolate(lagging, true);
    for i in 0..20u8 {
        c.propose(leader, vec![i]).expect("the leader accepts");
        c.deliver_all();
    }
    c.run(2);
    let applied = c.peer(leader).commit_index();
    assert_eq!(applied, LogIndex(20));
    c.input(leader, |r| r.snapshot(LogIndex(15), b"state@15".to_vec()))
        .expect("applied");
    c.isolate(lagging, false);
    c.run(40);
    let follower = c.peer(lagging);
    assert_eq!(follower.role(), RoleKind::Follower);
    assert_eq!(
        follower.log().snapshot().last_included_index,
        LogIndex(15),
        "installed the leader's snapshot"
    );
    assert_eq!(follower.commit_index(), LogIndex(20));
    let after: Vec<u64> = c.applied(lagging).iter().map(|e| e.index.0).collect();
    assert_eq!(
        after,
        (16..=20).collect::<Vec<_>>(),
        "commands resume right after the snapshot"
    );
}

// ---- helpers ---------------------------------------------------------------------------------

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: vec![index as u8].into(),
    }
}

fn restored(log_terms: &[u64], term: Term) -> Raft {
    let entries = log_terms
        .iter()
        .enumerate()
        .map(|(i, t)| entry(i as u64 + 1, *t))
        .collect();
    let restored = Restored {
        hard_state: HardState {
            current_term: term,
            voted_for: None,
        },
        snapshot: None,
        entries,
    };
    Raft::restore(Config::new(PeerId(0), ids(3), 1), restored).expect("valid")
}

/// A follower whose log has the given terms, with the first `committed` entries committed and
/// handed out.
fn follower_with(log_terms: &[u64], committed: u64) -> Raft {
    let last_term = *log_terms.last().expect("a log");
    let mut r = restored(log_terms, Term(last_term));
    let last = log_terms.len() as u64;
    r.step_request(
        PeerId(1),
        RequestId(1),
        append(Term(last_term), (last, last_term), committed),
    );
    let ready = r.take_ready();
    assert_eq!(ready.committed().len() as u64, committed);
    r
}

fn append(term: Term, prev: (u64, u64), commit: u64) -> Request {
    Request::AppendEntries(AppendEntriesArgs {
        term,
        leader_id: PeerId(1),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries: vec![],
        leader_commit: LogIndex(commit),
        round: 0,
    })
}

fn install(term: Term, index: u64, index_term: u64) -> Request {
    Request::InstallSnapshot(InstallSnapshotArgs {
        term,
        leader_id: PeerId(1),
        last_included_index: LogIndex(index),
        last_included_term: Term(index_term),
        data: b"snapshot".to_vec(),
    })
}

fn reply_match(reply: &[(RequestId, Reply)]) -> Option<LogIndex> {
    match reply {
        [(_, Reply::InstallSnapshot(InstallSnapshotReply { match_index, .. }))] => Some(*match_index),
        _ => None,
    }
}
