//! Log replication and commitment on bare state machines (sections 5.3 and 5.4), one rule of
//! Figure 2 per test, including the Figure 8 scenario.

mod cluster;

use cluster::{Cluster, append_entries, ids};
use raft_core::message::{
    AppendEntriesReply, AppendOutcome, Message, Reply, Request, RequestId, RequestVoteReply,
};
use raft_core::{Config, Entry, HardState, LogIndex, PeerId, ProposeError, Raft, Restored, RoleKind, Term};

const TICKS_MAX: usize = 1_000;

#[test]
fn a_follower_refuses_proposals_and_names_the_leader() {
    let mut c = Cluster::new(3, 1);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let follower = (leader + 1) % 3;
    assert_eq!(
        c.propose(follower, b"x".to_vec()),
        Err(ProposeError::NotLeader {
            leader_hint: Some(PeerId(leader as u32))
        })
    );
}

#[test]
fn a_leader_refuses_proposals_past_the_uncommitted_bound() {
    let config = |id: PeerId| Config {
        uncommitted_entries_max: 3,
        ..Config::new(id, ids(3), 6 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(3, config);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let committed = c.peer(leader).commit_index();
    for i in 0..3u8 {
        c.propose(leader, vec![i]).expect("room for three");
    }
    let last = c.peer(leader).log().last_index();
    assert_eq!(
        c.propose(leader, b"fourth".to_vec()),
        Err(ProposeError::UncommittedFull {
            uncommitted_entries: 3,
            max: 3
        })
    );
    assert_eq!(
        c.peer(leader).log().last_index(),
        last,
        "a refused proposal is not appended"
    );
    assert_eq!(c.peer(leader).commit_index(), committed);
    c.deliver_all();
    c.run(1);
    assert!(c.peer(leader).commit_index() >= last, "the three commit");
    c.propose(leader, b"fourth".to_vec())
        .expect("room again once they commit");
}

#[test]
fn a_new_leader_accepts_proposals_whatever_uncommitted_log_it_inherited() {
    // Every peer restarts with five entries of term 1, none known committed, and a bound of
    // three: the new leader can commit them only through an entry of its own term (section
    // 5.4.2), so the inherited five must not count toward the bound.
    let config = |id: PeerId| Config {
        uncommitted_entries_max: 3,
        ..Config::new(id, ids(3), 6 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(3, config);
    let entries: Vec<Entry> = (1..=5)
        .map(|i| Entry {
            index: LogIndex(i),
            term: Term(1),
            command: vec![i as u8],
        })
        .collect();
    for i in 0..3 {
        let restored = Restored {
            hard_state: HardState {
                current_term: Term(1),
                voted_for: None,
            },
            snapshot: None,
            entries: entries.clone(),
        };
        c.restore(i, config(PeerId(i as u32)), restored);
    }
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    assert_eq!(c.peer(leader).commit_index(), LogIndex::ZERO);
    let (index, _) = c
        .propose(leader, b"own".to_vec())
        .expect("the inherited entries do not count");
    assert_eq!(index, LogIndex(6));
    c.deliver_all();
    c.run(1);
    assert!(
        c.peer(leader).commit_index() >= index,
        "its own entry commits, and the inherited five with it"
    );
    for i in 0..3u8 {
        c.propose(leader, vec![i]).expect("room for three of its own");
    }
    assert!(
        matches!(
            c.propose(leader, b"fourth".to_vec()),
            Err(ProposeError::UncommittedFull {
                uncommitted_entries: 3,
                max: 3
            })
        ),
        "its own proposals still count"
    );
}

#[test]
fn proposals_fill_the_window_of_appends_in_flight_and_no_more() {
    // Three proposals before any reply: with a window of one, each follower gets one
    // AppendEntries (the first proposal's); with a window of three, one per proposal.
    for (window, expected) in [(1, 1), (3, 3)] {
        let config = move |id: PeerId| Config {
            append_entries_in_flight_max: window,
            ..Config::new(id, ids(3), 6 + u64::from(id.0))
        };
        let mut c = Cluster::with_config(3, config);
        c.run_until_leader(TICKS_MAX).expect("a leader is elected");
        let leader = c.leaders()[0];
        for i in 0..3u8 {
            c.propose(leader, vec![i]).expect("the leader accepts");
        }
        let follower = PeerId(((leader + 1) % 3) as u32);
        let sent = c
            .waiting()
            .iter()
            .filter(|(_, to, m)| {
                *to == follower.as_usize() && matches!(m, Message::Request(Request::AppendEntries(_)))
            })
            .count();
        assert_eq!(sent, expected, "window {window}");
        assert_eq!(
            c.peer(leader).progress().expect("leader")[&follower].in_flight,
            expected
        );
        c.deliver_all();
        c.run(2);
        assert!(
            (0..3).all(|i| c.applied(i).len() == 3),
            "window {window}: all three commit"
        );
    }
}

#[test]
fn proposals_commit_everywhere_and_are_applied_once_in_order() {
    let mut c = Cluster::new(5, 2);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let term = c.peer(leader).term();
    for i in 1..=20u8 {
        let (index, t) = c.propose(leader, vec![i]).expect("the leader accepts");
        assert_eq!((index, t), (LogIndex(u64::from(i)), term));
        if i % 7 == 0 {
            c.deliver_all();
        }
    }
    c.run(3);
    for applied in (0..5).map(|i| c.applied(i)) {
        let indices: Vec<u64> = applied.iter().map(|e| e.index.0).collect();
        assert_eq!(
            indices,
            (1..=20).collect::<Vec<_>>(),
            "every entry once, in index order"
        );
        let commands: Vec<u8> = applied.iter().map(|e| e.command[0]).collect();
        assert_eq!(commands, (1..=20).collect::<Vec<_>>());
    }
}

#[test]
fn a_follower_deletes_a_conflicting_suffix_and_only_that() {
    // The follower holds [1@1, 2@1, 3@2]; the leader of term 3 says index 2 is 2@1 and sends 3@3.
    let mut f = restored(0, 3, Term(2), &[1, 1, 2]);
    f.step_request(PeerId(1), RequestId(1), append(Term(3), 1, (2, 1), &[(3, 3)], 0));
    let ready = f.take_ready();
    assert_eq!(success(ready.replies()), Some(LogIndex(3)));
    assert_eq!(
        ready.truncate_from(),
        Some(LogIndex(3)),
        "storage is told to cut the conflicting entry"
    );
    assert_eq!(ready.entries().len(), 1);
    assert_eq!(f.log().term_at(LogIndex(3)), Some(Term(3)));
    assert_eq!(
        f.log().term_at(LogIndex(2)),
        Some(Term(1)),
        "the matching prefix stays"
    );
}

#[test]
fn a_stale_or_reordered_append_never_cuts_the_log() {
    // The follower already holds [1@1, 2@1, 3@1]; an older request carrying only entry 1
    // arrives late. Its entries match, so nothing is truncated and the reply says what this
    // request matched, not more.
    let mut f = restored(0, 3, Term(1), &[1, 1, 1]);
    f.step_request(PeerId(1), RequestId(1), append(Term(1), 1, (0, 0), &[(1, 1)], 0));
    let ready = f.take_ready();
    assert_eq!(success(ready.replies()), Some(LogIndex(1)));
    assert_eq!(ready.truncate_from(), None);
    assert!(ready.entries().is_empty());
    assert_eq!(f.log().last_index(), LogIndex(3));
}

#[test]
fn a_missing_prev_entry_is_a_conflict_with_the_log_length() {
    let mut f = restored(0, 3, Term(1), &[1, 1]);
    f.step_request(PeerId(1), RequestId(1), append(Term(1), 1, (5, 1), &[], 0));
    let ready = f.take_ready();
    assert_eq!(
        outcome(ready.replies()),
        Some(AppendOutcome::Conflict {
            conflict_term: None,
            conflict_index: LogIndex(3)
        })
    );
}

#[test]
fn a_mismatched_prev_term_reports_the_first_index_of_that_term() {
    let mut f = restored(0, 3, Term(2), &[1, 2, 2, 2]);
    f.step_request(PeerId(1), RequestId(1), append(Term(3), 1, (4, 3), &[], 0));
    assert_eq!(
        outcome(f.take_ready().replies()),
        Some(AppendOutcome::Conflict {
            conflict_term: Some(Term(2)),
            conflict_index: LogIndex(2)
        })
    );
}

#[test]
fn a_follower_commits_only_up_to_the_last_new_entry() {
    // Figure 2, receiver rule 5: commitIndex = min(leaderCommit, index of last new entry). The
    // follower's entries past prev are not vouched for by this request.
    let mut f = restored(0, 3, Term(1), &[1, 1, 1]);
    f.step_request(PeerId(1), RequestId(1), append(Term(1), 1, (1, 1), &[], 5));
    let ready = f.take_ready();
    assert_eq!(f.commit_index(), LogIndex(1));
    assert_eq!(ready.committed().len(), 1, "committed entries are handed out");
}

#[test]
fn the_leader_backs_up_one_term_per_round_trip() {
    // Follower 1 holds six entries of terms 1,1,1,2,2,2 that the leader (terms 1,1,1,3,3,3,3)
    // never had. The conflict hint skips the whole of term 2 at once.
    let config = |id: PeerId| Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(id, ids(2), 5 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(2, config);
    c.restore(0, config(PeerId(0)), state(Term(3), &[1, 1, 1, 3, 3, 3, 3]));
    c.restore(1, config(PeerId(1)), state(Term(3), &[1, 1, 1, 2, 2, 2]));
    while c.peer(0).role() != RoleKind::Candidate {
        c.tick(0);
    }
    let mut appends = 0;
    while let Some(message) = c.next_message() {
        if matches!(message, Message::Request(Request::AppendEntries(_))) {
            appends += 1;
        }
        c.deliver_one();
    }
    assert!(c.peer(0).is_leader());
    assert_eq!(
        c.peer(1).log().last_index(),
        LogIndex(7),
        "the follower's log now matches the leader's"
    );
    assert_eq!(c.peer(1).log().term_at(LogIndex(4)), Some(Term(3)));
    assert!(
        appends <= 3,
        "{appends} AppendEntries: expected one per conflicting term, plus the final one"
    );
}

#[test]
fn a_late_conflict_reply_never_moves_next_index_back_up() {
    // The leader (terms 1,1,1,3,3,3,3) backs up over a follower holding 1,1,2,2,2,2: "short
    // at 7", then "term 2 from index 3". The first conflict reply comes twice (a heartbeat's
    // and the request's, 6.824's long reordering holding one back): the late copy must not
    // undo the second step, or the leader resends from index 7 and needs the whole walk back
    // again (seen on TestFigure8Unreliable2C: a follower never caught up within 10 s).
    let mut leader = restored(0, 2, Term(3), &[1, 1, 1, 3, 3, 3, 3]);
    while leader.role() != RoleKind::Candidate {
        leader.tick();
    }
    let term = leader.term();
    leader.step_reply(
        PeerId(1),
        Reply::RequestVote(RequestVoteReply {
            term,
            vote_granted: true,
        }),
    );
    assert!(leader.is_leader());
    let conflict = |conflict_term: Option<u64>, conflict_index: u64| {
        Reply::AppendEntries(AppendEntriesReply {
            term,
            outcome: AppendOutcome::Conflict {
                conflict_term: conflict_term.map(Term),
                conflict_index: LogIndex(conflict_index),
            },
            round: 0,
        })
    };
    let next_index = |r: &Raft| r.progress().expect("leader")[&PeerId(1)].next_index;
    leader.step_reply(PeerId(1), conflict(None, 7));
    assert_eq!(next_index(&leader), LogIndex(7));
    leader.step_reply(PeerId(1), conflict(Some(2), 3));
    assert_eq!(
        next_index(&leader),
        LogIndex(3),
        "the leader has no term 2: back to its start"
    );
    let retried = leader.take_ready();
    assert!(
        matches!(retried.messages().last(), Some((_, Request::AppendEntries(a))) if a.prev_log_index == LogIndex(2)),
        "each step back retries at once"
    );

    leader.step_reply(PeerId(1), conflict(None, 7));
    assert_eq!(
        next_index(&leader),
        LogIndex(3),
        "a conflict only ever moves nextIndex back (Figure 2: decrement nextIndex)"
    );
    assert!(
        leader.take_ready().messages().is_empty(),
        "a late conflict reply sends nothing: the request from index 3 is on its way"
    );
}

#[test]
fn figure_8_an_old_term_entry_is_not_committed_by_counting_replicas() {
    // Five peers. Index 2 holds an entry of term 2 on S0, S1 and S2: a majority. S0 becomes
    // leader of term 4 with the votes of S1 and S2 (S3 and S4 hold a later last term and refuse).
    // Counting replicas would commit index 2; Figure 2 forbids it until an entry of term 4 is
    // replicated on a majority.
    let config = |id: PeerId| Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(id, ids(5), 8 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(5, config);
    for (i, terms) in [[1, 2], [1, 2], [1, 2], [1, 3], [1, 3]].iter().enumerate() {
        c.restore(i, config(PeerId(i as u32)), state(Term(3), terms));
    }
    while c.peer(0).role() != RoleKind::Candidate {
        c.tick(0);
    }
    c.deliver_all();
    assert!(c.peer(0).is_leader());
    assert_eq!(c.peer(0).term(), Term(4));
    let matched = c
        .peer(0)
        .progress()
        .expect("leader")
        .values()
        .filter(|p| p.match_index >= LogIndex(2))
        .count();
    assert!(matched >= 2, "S1 and S2 acknowledged index 2");
    assert_eq!(
        c.peer(0).commit_index(),
        LogIndex(0),
        "index 2 is from term 2: not committed by counting"
    );

    c.propose(0, b"term 4".to_vec()).expect("the leader accepts");
    c.deliver_all();
    assert_eq!(
        c.peer(0).commit_index(),
        LogIndex(3),
        "an entry of term 4 commits, and with it index 2"
    );
    let applied: Vec<u64> = c.applied(0).iter().map(|e| e.index.0).collect();
    assert_eq!(applied, vec![1, 2, 3]);
}

#[test]
fn appends_carry_at_most_the_configured_number_of_entries() {
    let config = |id: PeerId| Config {
        entries_per_append_max: 3,
        ..Config::new(id, ids(3), 4 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(3, config);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    for i in 0..10u8 {
        c.propose(leader, vec![i]).expect("the leader accepts");
    }
    let mut largest = 0;
    for _ in 0..10_000 {
        let Some(message) = c.next_message() else { break };
        if let Message::Request(Request::AppendEntries(args)) = &message {
            largest = largest.max(args.entries.len());
        }
        c.deliver_one();
    }
    c.run(2);
    assert!(largest <= 3, "an AppendEntries carried {largest} entries");
    assert!(
        (0..3).all(|i| c.applied(i).len() == 10),
        "all ten still commit everywhere"
    );
}

// ---- helpers ---------------------------------------------------------------------------------

fn state(term: Term, log_terms: &[u64]) -> Restored {
    let entries = log_terms
        .iter()
        .enumerate()
        .map(|(i, t)| Entry {
            index: LogIndex(i as u64 + 1),
            term: Term(*t),
            command: vec![i as u8],
        })
        .collect();
    Restored {
        hard_state: HardState {
            current_term: term,
            voted_for: None,
        },
        snapshot: None,
        entries,
    }
}

fn restored(id: u32, n: usize, term: Term, log_terms: &[u64]) -> Raft {
    Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(id), ids(n), 1)
        },
        state(term, log_terms),
    )
    .expect("valid")
}

/// AppendEntries from `leader` in `term`, with `prev` = (index, term), entries as (index, term).
fn append(term: Term, leader: u32, prev: (u64, u64), entries: &[(u64, u64)], commit: u64) -> Request {
    append_entries(term.0, leader, prev, entries, commit)
}

fn outcome(reply: &[(RequestId, Reply)]) -> Option<AppendOutcome> {
    match reply {
        [(_, Reply::AppendEntries(AppendEntriesReply { outcome, .. }))] => Some(outcome.clone()),
        _ => None,
    }
}

fn success(reply: &[(RequestId, Reply)]) -> Option<LogIndex> {
    match outcome(reply) {
        Some(AppendOutcome::Success { match_index }) => Some(match_index),
        _ => None,
    }
}

#[test]
fn a_restored_term_older_than_the_log_is_refused() {
    let state = state(Term(1), &[1, 2]);
    assert_eq!(
        Raft::restore(Config::new(PeerId(0), ids(3), 1), state).err(),
        Some(raft_core::NewError::TermBehindLog {
            current_term: Term(1),
            last_log_term: Term(2)
        })
    );
}
