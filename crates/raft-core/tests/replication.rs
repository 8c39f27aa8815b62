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
    // A batch is taken whole or not at all: three more would make four.
    let last = c.peer(leader).log().last_index();
    assert_eq!(
        c.input(leader, |r| r.propose_batch(vec![vec![1], vec![2], vec![3]])),
        Err(ProposeError::UncommittedFull {
            uncommitted_entries: 1,
            max: 3
        })
    );
    assert_eq!(
        c.peer(leader).log().last_index(),
        last,
        "none of the batch was taken"
    );
    c.input(leader, |r| r.propose_batch(vec![vec![1], vec![2]]))
        .expect("a batch that fits is taken");
    assert_eq!(c.peer(leader).log().last_index().0, last.0 + 2);
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
            command: vec![i as u8].into(),
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

/// The AppendEntries waiting for `to`, as (prev_log_index, indices carried).
fn appends_to(c: &mut Cluster, to: usize) -> Vec<(u64, Vec<u64>)> {
    c.waiting()
        .into_iter()
        .filter_map(|(_, dest, m)| match m {
            Message::Request(Request::AppendEntries(a)) if dest == to => {
                Some((a.prev_log_index.0, a.entries.iter().map(|e| e.index.0).collect()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn proposals_fill_the_window_of_appends_in_flight_and_no_more() {
    // Four proposals, each taken in its own Ready, before any reply, each a full request (one
    // entry per AppendEntries). With a window of one, each follower gets the first proposal's
    // AppendEntries; with a window of three, one per proposal for the first three, each
    // carrying only its own entry (nextIndex runs ahead of the replies); the fourth waits for
    // room either way.
    for (window, expected) in [(1, 1), (3, 3)] {
        let config = move |id: PeerId| Config {
            append_entries_in_flight_max: window,
            entries_per_append_max: 1,
            ..Config::new(id, ids(3), 6 + u64::from(id.0))
        };
        let mut c = Cluster::with_config(3, config);
        c.run_until_leader(TICKS_MAX).expect("a leader is elected");
        c.run(1);
        let leader = c.leaders()[0];
        let follower = (leader + 1) % 3;
        let p = c.peer(leader).progress().expect("leader")[&PeerId(follower as u32)];
        assert!(p.pipelining, "the heartbeats' successes started the pipeline");
        let last = c.peer(leader).log().last_index().0;
        for i in 0..4u8 {
            c.propose(leader, vec![i]).expect("the leader accepts");
        }
        let sent = appends_to(&mut c, follower);
        let carried: Vec<(u64, Vec<u64>)> = (1..=expected as u64)
            .map(|k| (last + k - 1, vec![last + k]))
            .collect();
        assert_eq!(sent, carried, "window {window}: each entry sent once, in order");
        let p = c.peer(leader).progress().expect("leader")[&PeerId(follower as u32)];
        assert_eq!(p.in_flight, expected);
        assert_eq!(p.next_index, LogIndex(last + expected as u64 + 1));
        c.deliver_all();
        c.run(2);
        assert!(
            (0..3).all(|i| c.applied(i).len() == 4),
            "window {window}: all four commit"
        );
    }
}

#[test]
fn a_trickle_of_proposals_waits_for_the_reply_and_leaves_in_one_request() {
    // Four proposals, each in its own Ready: the first leaves at once; the next three are
    // less than one request's worth, so they wait for its reply (no second request while one
    // is in flight) and then leave together.
    let mut c = Cluster::new(3, 6);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    c.run(1);
    let leader = c.leaders()[0];
    let follower = (leader + 1) % 3;
    let last = c.peer(leader).log().last_index().0;
    for i in 0..4u8 {
        c.propose(leader, vec![i]).expect("the leader accepts");
    }
    assert_eq!(appends_to(&mut c, follower), vec![(last, vec![last + 1])]);
    let mut sent = Vec::new();
    for _ in 0..100 {
        sent.extend(appends_to(&mut c, follower));
        if !c.deliver_one() {
            break;
        }
    }
    sent.dedup();
    assert_eq!(
        sent,
        vec![
            (last, vec![last + 1]),
            (last + 1, vec![last + 2, last + 3, last + 4])
        ],
        "the three that waited leave in one request"
    );
}

#[test]
fn proposals_between_two_readies_leave_in_one_append_and_one_write() {
    let mut c = Cluster::new(3, 3);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    c.run(1);
    let leader = c.leaders()[0];
    let last = c.peer(leader).log().last_index().0;
    let ready = c.input(leader, |r| {
        for i in 0..5u8 {
            r.propose(vec![i]).expect("the leader accepts");
        }
        let (first, _) = r
            .propose_batch(vec![vec![5], vec![6], vec![7]])
            .expect("the leader accepts a batch");
        assert_eq!(first, LogIndex(last + 6), "a batch takes the next indices");
        r.take_ready()
    });
    assert_eq!(ready.entries().len(), 8, "one write of all eight entries");
    let appends: Vec<usize> = ready
        .messages()
        .iter()
        .map(|(_, m)| match m {
            Request::AppendEntries(a) => a.entries.len(),
            other => panic!("only appends leave, not {other:?}"),
        })
        .collect();
    assert_eq!(
        appends,
        vec![8, 8],
        "one AppendEntries per follower, carrying all eight"
    );
}

#[test]
fn a_conflict_stops_the_pipeline_and_the_probe_goes_one_at_a_time() {
    // Follower 1 misses two pipelined AppendEntries; the third, sent ahead, finds a gap and is
    // refused. The leader goes back to the follower's end, empties the window, and sends one
    // probe from there; its success restarts the pipeline.
    // One entry per request, so that each proposal is a full one and the pipeline fills.
    let config = |id: PeerId| Config {
        append_entries_in_flight_max: 4,
        entries_per_append_max: 1,
        ..Config::new(id, ids(3), 2 + u64::from(id.0))
    };
    let mut c = Cluster::with_config(3, config);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    c.run(1);
    let leader = c.leaders()[0];
    let follower = (leader + 1) % 3;
    let fid = PeerId(follower as u32);
    let last = c.peer(leader).log().last_index().0;
    for i in 0..2u8 {
        c.propose(leader, vec![i]).expect("the leader accepts");
    }
    c.retain_messages(|_, to| to != follower);
    c.propose(leader, vec![2]).expect("the leader accepts");
    assert_eq!(appends_to(&mut c, follower), vec![(last + 2, vec![last + 3])]);
    let probing = |c: &Cluster| !c.peer(leader).progress().expect("leader")[&fid].pipelining;
    for _ in 0..100 {
        if probing(&c) || !c.deliver_one() {
            break;
        }
    }
    assert!(probing(&c), "the conflict stopped the pipeline");
    let p = c.peer(leader).progress().expect("leader")[&fid];
    assert_eq!(
        (p.match_index.0, p.next_index.0),
        (last, last + 1),
        "back to the follower's end"
    );
    assert_eq!(
        appends_to(&mut c, follower),
        vec![(last, vec![last + 1])],
        "one probe, from the follower's end"
    );
    c.deliver_all();
    assert_eq!(
        c.peer(follower).log().last_index().0,
        last + 3,
        "the probe's success restarted the pipeline, which caught it up"
    );
    c.propose(leader, vec![3]).expect("the leader accepts");
    c.propose(leader, vec![4]).expect("the leader accepts");
    let p = c.peer(leader).progress().expect("leader")[&fid];
    assert!(p.pipelining, "the probe's success restarted the pipeline");
    assert_eq!(
        appends_to(&mut c, follower).len(),
        2,
        "two requests in flight again"
    );
    c.deliver_all();
    c.run(2);
    assert!((0..3).all(|i| c.applied(i).len() as u64 == last + 5));
}

#[test]
fn a_lost_append_is_sent_again_after_a_refusal_or_a_silent_heartbeat() {
    // The last AppendEntries of a pipeline is lost and nothing follows it.
    let mut c = Cluster::new(3, 4);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    c.run(1);
    let leader = c.leaders()[0];
    let follower = (leader + 1) % 3;
    let heartbeat = Config::new(PeerId(0), ids(3), 0).heartbeat_interval_ticks;
    let last = c.peer(leader).log().last_index().0;
    c.propose(leader, vec![9]).expect("the leader accepts");
    c.retain_messages(|_, to| to != follower);
    c.deliver_all();
    assert_eq!(
        c.peer(follower).log().last_index().0,
        last,
        "the follower missed it"
    );
    // The follower answered since the last heartbeat, so the pipeline is taken to move: the
    // heartbeat goes from nextIndex, the follower finds the gap, and the probe resends.
    for _ in 0..heartbeat {
        c.tick(leader);
    }
    assert_eq!(appends_to(&mut c, follower), vec![(last + 1, vec![])]);
    c.deliver_all();
    assert_eq!(
        c.peer(follower).log().last_index().0,
        last + 1,
        "caught up by the probe"
    );
    // Now every message to and from the follower is lost for a whole heartbeat interval: the
    // next heartbeat finds it silent and sends again everything after its matchIndex.
    c.propose(leader, vec![10]).expect("the leader accepts");
    for _ in 0..heartbeat {
        c.retain_messages(|from, to| from != follower && to != follower);
        c.tick(leader);
        c.retain_messages(|from, to| from != follower && to != follower);
        c.deliver_all();
    }
    c.retain_messages(|from, to| from != follower && to != follower);
    for _ in 0..heartbeat {
        c.tick(leader);
    }
    assert_eq!(appends_to(&mut c, follower), vec![(last + 1, vec![last + 2])]);
    c.deliver_all();
    assert_eq!(c.peer(follower).log().last_index().0, last + 2);
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
            command: vec![i as u8].into(),
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
