//! Check-quorum (thesis sections 6.2 and 4.2.3) on bare state machines: the leader's
//! step-down and vote ignoring, one rule per test, ticks and messages moved by hand. The
//! scenarios on virtual time are raft-sim's (tests/production.rs).

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, Reply, Request, RequestId, RequestVoteArgs,
};
use raft_core::{Config, HardState, LogIndex, PeerId, ProposeError, Raft, Restored, RoleKind, Term};

const TICKS_MAX: usize = 1_000;
/// `Config::new`'s shortest election timeout, in ticks.
const ET: usize = 30;

fn config(n: usize, seed: u64, pre_vote: bool) -> impl Fn(PeerId) -> Config {
    move |id| Config {
        pre_vote,
        check_quorum: true,
        ..Config::new(id, ids(n), seed + u64::from(id.0))
    }
}

#[test]
fn a_leader_cut_off_from_its_majority_steps_down_within_two_timeouts_same_term_same_vote() {
    for pre_vote in [false, true] {
        let mut c = Cluster::with_config(3, config(3, 20, pre_vote));
        c.run_until_leader(TICKS_MAX).expect("a leader is elected");
        let leader = c.leaders()[0];
        let (term, vote) = (c.peer(leader).term(), c.peer(leader).voted_for());
        c.isolate(leader, true);
        let mut ticks = 0;
        while c.peer(leader).is_leader() {
            c.tick(leader);
            c.deliver_all();
            ticks += 1;
            assert!(ticks <= 2 * ET, "still leading after {ticks} ticks alone");
        }
        assert!(
            ticks >= ET,
            "stepped down after {ticks} ticks: before a whole timeout"
        );
        let l = c.peer(leader);
        assert_eq!(
            (l.role(), l.term(), l.voted_for()),
            (RoleKind::Follower, term, vote)
        );
        assert_eq!(l.leader_id(), None);
        assert_eq!(
            c.propose(leader, vec![1]),
            Err(ProposeError::NotLeader { leader_hint: None }),
            "proposals are refused once it stepped down"
        );
    }
}

#[test]
fn the_votes_that_elected_a_leader_count_toward_its_first_quorum_check() {
    // Peer 0 wins, and is cut off before any of its heartbeats is answered: the votes it got
    // carry it through the first window, not the second.
    let mut c = Cluster::with_config(3, config(3, 70, true));
    while c.peer(0).role() != RoleKind::PreCandidate {
        c.tick(0);
    }
    let mut steps = 0;
    while !c.peer(0).is_leader() {
        assert!(c.deliver_one(), "the election ran out of messages");
        steps += 1;
        assert!(steps < 100, "no leader after {steps} messages");
    }
    c.isolate(0, true);
    for _ in 0..ET {
        c.tick(0);
    }
    c.deliver_all();
    assert!(c.peer(0).is_leader(), "its voters answered in the first window");
    for _ in 0..ET {
        c.tick(0);
    }
    assert!(!c.peer(0).is_leader(), "nobody answered in the second");
}

#[test]
fn a_leader_that_hears_a_majority_keeps_leading() {
    let mut c = Cluster::with_config(5, config(5, 30, true));
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let term = c.peer(leader).term();
    // Two of five cut off: the leader and two others are still a majority.
    c.isolate((leader + 1) % 5, true);
    c.isolate((leader + 2) % 5, true);
    c.run(10 * ET);
    assert!(c.peer(leader).is_leader());
    assert_eq!(c.peer(leader).term(), term);
}

#[test]
fn a_follower_that_heard_its_leader_ignores_higher_term_votes_for_one_minimum_timeout() {
    for kind in ["RequestVote", "PreVote"] {
        let mut r = follower();
        r.step_request(
            PeerId(2),
            RequestId(1),
            Request::AppendEntries(heartbeat(Term(5), 2)),
        );
        let _ = r.take_ready();
        // The window: ET - 1 ticks after the heartbeat, a vote for term 6 changes nothing
        // and is refused in term 5.
        for _ in 0..ET - 1 {
            r.tick();
        }
        r.step_request(PeerId(1), RequestId(2), vote(kind, Term(6), 1));
        let ready = r.take_ready();
        assert_eq!(
            refusal_term(ready.replies()),
            Some(Term(5)),
            "{kind}: refused unread"
        );
        assert_eq!(ready.hard_state(), None);
        assert_eq!(
            (r.term(), r.voted_for(), r.leader_id()),
            (Term(5), None, Some(PeerId(2)))
        );
        // One tick later the window is over: the request is answered.
        r.tick();
        assert_eq!(
            r.role(),
            RoleKind::Follower,
            "this seed's timeout is longer than the window"
        );
        r.step_request(PeerId(1), RequestId(3), vote(kind, Term(6), 1));
        let ready = r.take_ready();
        assert_eq!(
            ready.replies().len(),
            1,
            "{kind}: answered once the window is over"
        );
        let granted = match &ready.replies()[0].1 {
            Reply::RequestVote(v) | Reply::PreVote(v) => v.vote_granted,
            other => panic!("{other:?}"),
        };
        assert!(granted, "{kind}");
        let expected_term = if kind == "PreVote" { Term(5) } else { Term(6) };
        assert_eq!(r.term(), expected_term, "{kind}");
    }
}

#[test]
fn votes_of_the_current_term_and_lower_are_not_ignored() {
    let mut r = follower();
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::AppendEntries(heartbeat(Term(5), 2)),
    );
    let _ = r.take_ready();
    for (i, term) in [Term(4), Term(5)].into_iter().enumerate() {
        r.step_request(PeerId(1), RequestId(i as u64), vote("RequestVote", term, 1));
        let ready = r.take_ready();
        assert_eq!(ready.replies().len(), 1, "a vote request in {term} is answered");
    }
}

#[test]
fn without_check_quorum_nothing_is_ignored() {
    let figure2 = Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(PeerId(0), ids(3), 1)
    };
    let mut r = Raft::restore(figure2, restored(Term(5))).expect("valid");
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::AppendEntries(heartbeat(Term(5), 2)),
    );
    let _ = r.take_ready();
    r.step_request(PeerId(1), RequestId(2), vote("RequestVote", Term(6), 1));
    assert_eq!(r.take_ready().replies().len(), 1);
    assert_eq!(r.term(), Term(6), "Figure 2's term rule, unchanged");
}

#[test]
fn a_leader_ignores_higher_term_votes_but_steps_down_on_a_higher_term_reply() {
    let mut c = Cluster::with_config(3, config(3, 50, true));
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let other = (leader + 1) % 3;
    let term = c.peer(leader).term();
    let ready = c.input(leader, |r| {
        r.step_request(
            PeerId(other as u32),
            RequestId(1),
            vote("RequestVote", Term(term.0 + 5), other as u32),
        );
        r.take_ready()
    });
    assert_eq!(
        refusal_term(ready.replies()),
        Some(term),
        "refused in the leader's term"
    );
    assert!(c.peer(leader).is_leader());
    assert_eq!(c.peer(leader).term(), term);
    // Section 2.3: a peer stuck at a higher term answers the leader's AppendEntries with its
    // term, and the leader steps down.
    c.input(leader, |r| {
        let reply = AppendEntriesReply {
            term: Term(term.0 + 5),
            outcome: AppendOutcome::StaleTerm,
            round: 0,
        };
        r.step_reply(PeerId(other as u32), Reply::AppendEntries(reply));
    });
    assert_eq!(c.peer(leader).role(), RoleKind::Follower);
    assert_eq!(c.peer(leader).term(), Term(term.0 + 5));
}

#[test]
fn a_stepped_down_leader_and_its_old_followers_elect_a_new_leader() {
    // With both switches: the leader is cut off, steps down; the other two elect one of them.
    let mut c = Cluster::with_config(3, config(3, 60, true));
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let old = c.leaders()[0];
    let term = c.peer(old).term();
    c.isolate(old, true);
    let mut ticks = 0;
    while c.leaders().is_empty() || c.leaders() == [old] {
        c.run(1);
        ticks += 1;
        assert!(ticks < 4 * ET, "no new leader after {ticks} ticks");
    }
    let new = c.leaders()[0];
    assert_ne!(new, old);
    assert!(c.peer(new).term() > term);
}

// ---- helpers ---------------------------------------------------------------------------------

/// The term of the one reply in `replies` if it refuses a vote or pre-vote.
fn refusal_term(replies: &[(RequestId, Reply)]) -> Option<Term> {
    match replies {
        [(_, Reply::RequestVote(v) | Reply::PreVote(v))] if !v.vote_granted => Some(v.term),
        _ => None,
    }
}

fn restored(term: Term) -> Restored {
    Restored {
        hard_state: HardState {
            current_term: term,
            voted_for: None,
        },
        snapshot: None,
        entries: vec![],
    }
}

/// Peer 0 of 3 at term 5 with check-quorum on.
fn follower() -> Raft {
    let config = Config {
        check_quorum: true,
        ..Config::new(PeerId(0), ids(3), 1)
    };
    Raft::restore(config, restored(Term(5))).expect("valid")
}

fn heartbeat(term: Term, leader: u32) -> AppendEntriesArgs {
    AppendEntriesArgs {
        term,
        leader_id: PeerId(leader),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: vec![],
        leader_commit: LogIndex(0),
        round: 0,
    }
}

fn vote(kind: &str, term: Term, candidate: u32) -> Request {
    let args = RequestVoteArgs {
        term,
        candidate_id: PeerId(candidate),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer: false,
    };
    if kind == "PreVote" {
        Request::PreVote(args)
    } else {
        Request::RequestVote(args)
    }
}
