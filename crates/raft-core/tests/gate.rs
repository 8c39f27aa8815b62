//! The gate (raft_core::gate): one hostile or impossible message per test. Each asserts that
//! stepping it does not panic (in a debug or a release build: run with `--release` too),
//! changes nothing (term, vote, role, leader, log, commit index, the leader's progress),
//! produces nothing to persist, send or reply, and is counted under its reason.

mod cluster;

use std::collections::BTreeMap;

use cluster::{append_entries, ids};

use raft_core::message::{
    AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, InstallSnapshotReply, Message, Reply, Request,
    RequestId, RequestVoteArgs, RequestVoteReply,
};
use raft_core::{
    Config, Entry, HardState, LOG_INDEX_MAX, LogIndex, PeerId, Progress, Raft, RaftLog, Refusal, Restored,
    RoleKind, Snapshot, SnapshotMeta, TERM_JUMP_MAX, TERM_MAX, Term,
};

const MAX: u64 = u64::MAX;

// ---- who sent it -------------------------------------------------------------------------------

#[test]
fn a_message_from_this_peer_itself_is_refused() {
    let mut f = follower();
    refused(&mut f, 0, vote(2, 0, 4, 2), Refusal::FromSelf);
}

#[test]
fn a_message_from_a_peer_outside_the_config_is_refused() {
    let mut f = follower();
    refused(&mut f, 7, append(3, 7, (4, 2), &[], 3), Refusal::UnknownPeer);
}

#[test]
fn a_vote_request_for_another_candidate_than_its_sender_is_refused() {
    let mut f = follower();
    refused(&mut f, 1, vote(3, 2, 4, 2), Refusal::Impersonation);
}

#[test]
fn an_append_entries_naming_another_leader_than_its_sender_is_refused() {
    let mut f = follower();
    refused(&mut f, 2, append(2, 1, (4, 2), &[], 3), Refusal::Impersonation);
}

#[test]
fn an_install_snapshot_naming_another_leader_than_its_sender_is_refused() {
    let mut f = follower();
    refused(&mut f, 2, install(2, 1, (4, 2)), Refusal::Impersonation);
}

// ---- terms and indices out of range ------------------------------------------------------------

#[test]
fn a_term_of_u64_max_is_refused_in_every_kind_of_message() {
    let messages = [
        vote(MAX, 1, 4, 2),
        append(MAX, 1, (4, 2), &[], 3),
        install(MAX, 1, (4, 2)),
        Message::Reply(Reply::RequestVote(RequestVoteReply {
            term: Term(MAX),
            vote_granted: true,
        })),
        Message::Reply(Reply::AppendEntries(AppendEntriesReply {
            term: Term(MAX),
            outcome: AppendOutcome::StaleTerm,
            round: 0,
        })),
        Message::Reply(Reply::InstallSnapshot(InstallSnapshotReply {
            term: Term(MAX),
            match_index: LogIndex(1),
        })),
    ];
    for message in messages {
        let mut f = follower();
        refused(&mut f, 1, message, Refusal::TermOutOfRange);
    }
}

#[test]
fn a_request_in_term_zero_is_refused() {
    let mut f = Raft::new(Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(PeerId(0), ids(3), 1)
    })
    .expect("valid");
    refused(&mut f, 1, vote(0, 1, 0, 0), Refusal::TermOutOfRange);
}

/// A peer in `term` with an empty log (peer 0 of three).
fn in_term(term: u64) -> Raft {
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(term),
            voted_for: None,
        },
        snapshot: None,
        entries: Vec::new(),
    };
    Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(0), ids(3), 1)
        },
        restored,
    )
    .expect("any term restores")
}

#[test]
fn a_term_more_than_the_jump_bound_above_this_peer_is_refused() {
    let mut f = follower();
    refused(
        &mut f,
        1,
        vote(2 + TERM_JUMP_MAX + 1, 1, 4, 2),
        Refusal::TermOutOfRange,
    );
    deliver(&mut f, PeerId(1), vote(2 + TERM_JUMP_MAX, 1, 4, 2));
    assert_eq!(
        f.term(),
        Term(2 + TERM_JUMP_MAX),
        "a jump of exactly the bound is taken"
    );
    assert_eq!(f.refused().total(), 1);
}

#[test]
fn the_highest_accepted_term_still_leaves_room_to_campaign() {
    let mut f = in_term(TERM_MAX.0 - 1);
    deliver(&mut f, PeerId(1), vote(TERM_MAX.0, 1, 0, 0));
    assert_eq!(f.term(), TERM_MAX);
    let _ = f.take_ready();
    while f.role() != RoleKind::Candidate {
        f.tick();
    }
    assert_eq!(f.term(), Term(TERM_MAX.0 + 1), "the campaign did not overflow");
    assert_eq!(f.refused().total(), 0);
}

#[test]
fn a_peer_restarts_from_any_term_its_campaigns_reach() {
    let f = in_term(TERM_MAX.0 + 1);
    assert_eq!(f.term(), Term(TERM_MAX.0 + 1));
}

#[test]
fn a_peer_whose_term_cannot_grow_stays_a_follower() {
    let mut f = in_term(MAX);
    for _ in 0..200 {
        f.tick();
    }
    assert_eq!(f.role(), RoleKind::Follower, "no campaign past u64::MAX");
    assert_eq!(f.term(), Term(MAX));
}

#[test]
fn a_prev_log_index_of_u64_max_is_refused() {
    let mut f = follower();
    refused(
        &mut f,
        1,
        append(2, 1, (MAX, 2), &[], 3),
        Refusal::IndexOutOfRange,
    );
}

#[test]
fn entries_that_would_end_past_the_highest_index_are_refused() {
    let mut f = follower();
    let at = LOG_INDEX_MAX.0;
    refused(
        &mut f,
        1,
        append(2, 1, (at, 2), &[(at + 1, 2)], 3),
        Refusal::IndexOutOfRange,
    );
    let mut f = follower();
    refused(
        &mut f,
        1,
        append(2, 1, (MAX - 1, 2), &[(MAX, 2), (MAX, 2)], 3),
        Refusal::IndexOutOfRange,
    );
}

#[test]
fn a_leader_commit_of_u64_max_is_refused() {
    let mut f = follower();
    refused(
        &mut f,
        1,
        append(2, 1, (4, 2), &[], MAX),
        Refusal::IndexOutOfRange,
    );
}

#[test]
fn a_last_log_index_of_u64_max_is_refused() {
    let mut f = follower();
    refused(&mut f, 1, vote(3, 1, MAX, 2), Refusal::IndexOutOfRange);
}

#[test]
fn a_snapshot_index_of_u64_max_is_refused() {
    let mut f = follower();
    refused(&mut f, 1, install(3, 1, (MAX, 2)), Refusal::IndexOutOfRange);
}

#[test]
fn a_conflict_index_of_u64_max_is_refused() {
    let mut l = leader();
    let reply = append_reply(
        2,
        AppendOutcome::Conflict {
            conflict_term: None,
            conflict_index: LogIndex(MAX),
        },
    );
    refused(&mut l, 1, reply, Refusal::IndexOutOfRange);
}

#[test]
fn a_success_match_index_of_u64_max_is_refused() {
    let mut l = leader();
    let reply = append_reply(
        2,
        AppendOutcome::Success {
            match_index: LogIndex(MAX),
        },
    );
    refused(&mut l, 1, reply, Refusal::IndexOutOfRange);
}

// ---- shapes no correct peer sends --------------------------------------------------------------

#[test]
fn entries_that_do_not_follow_prev_log_index_one_by_one_are_refused() {
    for entries in [&[(6, 2)][..], &[(5, 2), (5, 2)], &[(5, 2), (7, 2)], &[(4, 2)]] {
        let mut f = follower();
        refused(
            &mut f,
            1,
            append(2, 1, (4, 2), entries, 3),
            Refusal::EntriesNotConsecutive,
        );
    }
}

#[test]
fn entry_terms_that_decrease_exceed_the_request_or_are_zero_are_refused() {
    let cases = [
        append(3, 1, (4, 2), &[(5, 3), (6, 2)], 3), // decreasing
        append(2, 1, (4, 2), &[(5, 3)], 3),         // above the request's term
        append(2, 1, (4, 2), &[(5, 1)], 3),         // below prev_log_term
        append(2, 1, (0, 0), &[(1, 0)], 0),         // term 0
    ];
    for message in cases {
        let mut f = follower();
        refused(&mut f, 1, message, Refusal::EntryTermImpossible);
    }
}

#[test]
fn a_prev_log_position_that_cannot_be_is_refused() {
    let cases = [
        append(2, 1, (4, 3), &[], 3), // prev_log_term above the request's term
        append(2, 1, (0, 1), &[], 3), // index 0 with a term
        append(2, 1, (3, 0), &[], 3), // an entry of term 0
    ];
    for message in cases {
        let mut f = follower();
        refused(&mut f, 1, message, Refusal::PositionImpossible);
    }
}

#[test]
fn a_vote_request_whose_last_log_term_is_above_its_term_is_refused() {
    let mut f = follower();
    refused(&mut f, 1, vote(3, 1, 9, 4), Refusal::PositionImpossible);
    let mut f = follower();
    refused(&mut f, 1, vote(3, 1, 0, 1), Refusal::PositionImpossible);
}

#[test]
fn snapshot_metadata_that_cannot_be_is_refused() {
    for meta in [(9, 4), (0, 1), (9, 0)] {
        let mut f = follower();
        refused(&mut f, 1, install(3, 1, meta), Refusal::PositionImpossible);
    }
}

#[test]
fn a_conflict_term_above_the_reply_term_is_refused() {
    let mut l = leader();
    let reply = append_reply(
        2,
        AppendOutcome::Conflict {
            conflict_term: Some(Term(3)),
            conflict_index: LogIndex(1),
        },
    );
    refused(&mut l, 1, reply, Refusal::ImpossibleReply);
}

#[test]
fn a_match_past_the_leaders_log_is_refused() {
    let mut l = leader();
    let past = l.log().last_index().0 + 5;
    let reply = append_reply(
        2,
        AppendOutcome::Success {
            match_index: LogIndex(past),
        },
    );
    refused(&mut l, 1, reply, Refusal::ImpossibleReply);
    let mut l = leader();
    let reply = Message::Reply(Reply::InstallSnapshot(InstallSnapshotReply {
        term: Term(2),
        match_index: LogIndex(past),
    }));
    refused(&mut l, 2, reply, Refusal::ImpossibleReply);
}

// ---- what contradicts the committed log --------------------------------------------------------

#[test]
fn an_entry_of_another_term_at_a_committed_index_is_refused_before_the_term_rule() {
    // Index 2 is committed with term 1; a "leader" of term 3 claims term 3 there. The whole
    // message is refused: the follower does not even adopt term 3.
    let mut f = follower();
    refused(
        &mut f,
        1,
        append(3, 1, (1, 1), &[(2, 3), (3, 3)], 3),
        Refusal::ContradictsCommitted,
    );
}

#[test]
fn a_prev_entry_of_another_term_at_a_committed_index_is_refused() {
    let mut f = follower();
    refused(
        &mut f,
        1,
        append(3, 1, (3, 3), &[], 3),
        Refusal::ContradictsCommitted,
    );
}

#[test]
fn an_entry_that_disagrees_with_the_snapshots_last_term_is_refused() {
    let mut f = follower_with_snapshot();
    refused(
        &mut f,
        1,
        append(3, 1, (2, 1), &[(3, 3)], 3),
        Refusal::ContradictsCommitted,
    );
}

#[test]
fn a_snapshot_that_disagrees_with_a_committed_entry_is_refused() {
    let mut f = follower();
    refused(&mut f, 1, install(3, 1, (3, 3)), Refusal::ContradictsCommitted);
}

#[test]
fn a_deposed_leaders_late_request_is_answered_not_refused() {
    // Term 1's leader may have sent entries that a later leader overwrote and committed; its
    // late request is answered by receiver rule 1 (stale term), not counted as hostile.
    let mut f = follower();
    deliver(&mut f, PeerId(1), append(1, 1, (1, 1), &[(2, 1), (3, 1)], 1));
    let ready = f.take_ready();
    assert!(matches!(
        ready.replies(),
        [(
            RequestId(1),
            Reply::AppendEntries(AppendEntriesReply {
                outcome: AppendOutcome::StaleTerm,
                round: 0,
                ..
            })
        )]
    ));
    assert_eq!(f.refused().total(), 0);
}

#[test]
fn a_refusal_is_counted_once_per_message_under_its_reason() {
    let mut f = follower();
    deliver(&mut f, PeerId(7), vote(3, 7, 4, 2));
    deliver(&mut f, PeerId(7), vote(3, 7, 4, 2));
    deliver(&mut f, PeerId(2), vote(3, 1, 4, 2));
    let refused = f.refused();
    assert_eq!(refused.count(Refusal::UnknownPeer), 2);
    assert_eq!(refused.count(Refusal::Impersonation), 1);
    assert_eq!(refused.total(), 3);
    assert_eq!(refused.iter().map(|(_, n)| n).sum::<u64>(), 3);
    assert!(f.take_ready().is_empty());
}

// ---- helpers -----------------------------------------------------------------------------------

/// Everything a refused message must leave as it was.
#[derive(Debug, PartialEq)]
struct Seen {
    term: Term,
    voted_for: Option<PeerId>,
    role: RoleKind,
    leader_id: Option<PeerId>,
    log: RaftLog,
    commit_index: LogIndex,
    progress: Option<BTreeMap<PeerId, Progress>>,
}

fn seen(r: &Raft) -> Seen {
    Seen {
        term: r.term(),
        voted_for: r.voted_for(),
        role: r.role(),
        leader_id: r.leader_id(),
        log: r.log().clone(),
        commit_index: r.commit_index(),
        progress: r.progress().cloned(),
    }
}

/// Steps `message` from `from` into `r` and asserts that the gate refused it for `reason`,
/// and that nothing changed and nothing is to be done.
fn refused(r: &mut Raft, from: u32, message: Message, reason: Refusal) {
    let before = seen(r);
    let counted = r.refused();
    deliver(r, PeerId(from), message.clone());
    assert_eq!(seen(r), before, "{message:?} changed the peer");
    assert!(r.take_ready().is_empty(), "{message:?} left something to do");
    assert_eq!(
        r.refused().count(reason),
        counted.count(reason) + 1,
        "{message:?} not refused as {reason}: {:?}",
        r.refused()
    );
    assert_eq!(r.refused().total(), counted.total() + 1);
}

/// Hands `message` to `r` as a runtime would: a request under id 1, or a reply.
fn deliver(r: &mut Raft, from: PeerId, message: Message) {
    match message {
        Message::Request(request) => r.step_request(from, RequestId(1), request),
        Message::Reply(reply) => r.step_reply(from, reply),
    }
}

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| Entry {
            index: LogIndex(i as u64 + 1),
            term: Term(*t),
            command: vec![i as u8].into(),
        })
        .collect()
}

/// Peer 0 of three in term 2, following peer 1, with log terms 1,1,2,2 committed through 3.
fn follower() -> Raft {
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(2),
            voted_for: Some(PeerId(1)),
        },
        snapshot: None,
        entries: entries(&[1, 1, 2, 2]),
    };
    let mut f = Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(0), ids(3), 1)
        },
        restored,
    )
    .expect("valid");
    deliver(&mut f, PeerId(1), append(2, 1, (4, 2), &[], 3));
    let _ = f.take_ready();
    assert_eq!(f.commit_index(), LogIndex(3));
    f
}

/// Peer 0 of three in term 2 whose log is a snapshot through 3 (term 2) and entry 4 (term 2).
fn follower_with_snapshot() -> Raft {
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(2),
            voted_for: None,
        },
        snapshot: Some(Snapshot {
            meta: SnapshotMeta {
                last_included_index: LogIndex(3),
                last_included_term: Term(2),
            },
            data: b"state@3".to_vec(),
        }),
        entries: vec![Entry {
            index: LogIndex(4),
            term: Term(2),
            command: vec![].into(),
        }],
    };
    let f = Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(0), ids(3), 1)
        },
        restored,
    )
    .expect("valid");
    assert_eq!(f.commit_index(), LogIndex(3));
    f
}

/// Peer 0 of three, leader of term 2 with log terms 1,1.
fn leader() -> Raft {
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(1),
            voted_for: None,
        },
        snapshot: None,
        entries: entries(&[1, 1]),
    };
    let mut l = Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(0), ids(3), 1)
        },
        restored,
    )
    .expect("valid");
    while l.role() != RoleKind::Candidate {
        l.tick();
    }
    l.step_reply(
        PeerId(1),
        Reply::RequestVote(RequestVoteReply {
            term: Term(2),
            vote_granted: true,
        }),
    );
    assert!(l.is_leader());
    let _ = l.take_ready();
    l
}

fn vote(term: u64, candidate: u32, last_index: u64, last_term: u64) -> Message {
    Message::Request(Request::RequestVote(RequestVoteArgs {
        term: Term(term),
        candidate_id: PeerId(candidate),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
        transfer: false,
    }))
}

/// AppendEntries in `term` from `leader`, `prev` = (index, term), entries as (index, term).
fn append(term: u64, leader: u32, prev: (u64, u64), entries: &[(u64, u64)], commit: u64) -> Message {
    Message::Request(append_entries(term, leader, prev, entries, commit))
}

fn append_reply(term: u64, outcome: AppendOutcome) -> Message {
    Message::Reply(Reply::AppendEntries(AppendEntriesReply {
        term: Term(term),
        outcome,
        round: 0,
    }))
}

/// InstallSnapshot in `term` from `leader` with `meta` = (last included index, term).
fn install(term: u64, leader: u32, meta: (u64, u64)) -> Message {
    Message::Request(Request::InstallSnapshot(InstallSnapshotArgs {
        term: Term(term),
        leader_id: PeerId(leader),
        last_included_index: LogIndex(meta.0),
        last_included_term: Term(meta.1),
        data: vec![],
    }))
}
