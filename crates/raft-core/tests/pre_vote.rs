//! Pre-vote (thesis section 9.6) on bare state machines: each rule of `Config::pre_vote`, one
//! test each, messages stepped by hand. The scenarios on virtual time are raft-sim's
//! (tests/production.rs).

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{AppendEntriesArgs, Reply, Request, RequestId, RequestVoteArgs, RequestVoteReply};
use raft_core::{Config, Entry, HardState, LogIndex, PeerId, ProposeError, Raft, Restored, RoleKind, Term};

const TICKS_MAX: usize = 1_000;

#[test]
fn a_timeout_makes_a_pre_candidate_that_keeps_its_term_and_vote_and_forgets_its_leader() {
    let mut r = peer(0, 3, Term(5), Some(PeerId(2)), &[1, 5]);
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::AppendEntries(heartbeat(Term(5), 2)),
    );
    let _ = r.take_ready();
    assert_eq!(r.leader_id(), Some(PeerId(2)));
    tick_until(&mut r, RoleKind::PreCandidate);
    assert_eq!(r.term(), Term(5), "a pre-candidate keeps its term");
    assert_eq!(r.voted_for(), Some(PeerId(2)), "and its vote");
    assert_eq!(r.leader_id(), None, "but forgets its leader (etcd #8334)");
    let ready = r.take_ready();
    assert_eq!(ready.hard_state(), None, "nothing to persist");
    let expected = pre_vote(Term(6), 0, 2, 5);
    let sent: Vec<(PeerId, Request)> = ready.messages().to_vec();
    assert_eq!(
        sent,
        vec![
            (PeerId(1), Request::PreVote(expected.clone())),
            (PeerId(2), Request::PreVote(expected)),
        ],
        "PreVote for the next term, with its last log entry, to every other peer"
    );
}

#[test]
fn a_pre_vote_leaves_no_trace_and_a_grant_echoes_the_proposed_term() {
    // Section 8, scenario 2: two identical followers at term 5; one is asked for a pre-vote
    // in term 9. It grants, in term 9, and nothing else differs: term, vote, what it persists
    // and when its timer fires.
    let mut plain = peer(0, 3, Term(5), Some(PeerId(2)), &[1]);
    let mut asked = peer(0, 3, Term(5), Some(PeerId(2)), &[1]);
    for r in [&mut plain, &mut asked] {
        r.tick();
        let _ = r.take_ready();
    }
    asked.step_request(
        PeerId(1),
        RequestId(7),
        Request::PreVote(pre_vote(Term(9), 1, 1, 1)),
    );
    let ready = asked.take_ready();
    assert_eq!(
        ready.replies(),
        [(
            RequestId(7),
            Reply::PreVote(RequestVoteReply {
                term: Term(9),
                vote_granted: true
            })
        )],
        "the grant carries the proposed term (etcd #8243)"
    );
    assert_eq!(ready.hard_state(), None, "nothing persisted");
    assert!(ready.entries().is_empty() && ready.messages().is_empty());
    assert_eq!((asked.term(), asked.voted_for()), (Term(5), Some(PeerId(2))));
    let mut ticks = 0;
    while plain.role() == RoleKind::Follower {
        plain.tick();
        asked.tick();
        ticks += 1;
        assert!(ticks < TICKS_MAX, "the followers never time out");
    }
    assert_eq!(
        asked.role(),
        plain.role(),
        "the pre-vote did not restart the timer"
    );
}

#[test]
fn a_pre_vote_for_a_term_below_the_voters_is_refused_at_the_voters_term() {
    let mut voter = peer(0, 3, Term(5), None, &[1]);
    voter.step_request(
        PeerId(1),
        RequestId(1),
        Request::PreVote(pre_vote(Term(4), 1, 9, 3)),
    );
    let reply = only_pre_vote_reply(&voter.take_ready());
    assert_eq!(
        reply,
        RequestVoteReply {
            term: Term(5),
            vote_granted: false
        },
        "refused, never dropped (etcd #8501)"
    );
    // The pre-candidate (term 3, proposing 4) adopts the voter's term and follows.
    let mut candidate = peer(1, 3, Term(3), None, &[1, 3]);
    tick_until(&mut candidate, RoleKind::PreCandidate);
    candidate.step_reply(PeerId(0), Reply::PreVote(reply));
    assert_eq!(candidate.term(), Term(5));
    assert_eq!(candidate.role(), RoleKind::Follower);
}

#[test]
fn a_pre_vote_is_refused_to_a_stale_log_or_a_peer_that_voted_for_another_in_the_same_term() {
    let mut voter = peer(0, 3, Term(5), Some(PeerId(2)), &[1, 5]);
    voter.step_request(
        PeerId(1),
        RequestId(1),
        Request::PreVote(pre_vote(Term(6), 1, 9, 4)),
    );
    let refused = only_pre_vote_reply(&voter.take_ready());
    assert!(!refused.vote_granted, "a log ending in an older term");
    assert_eq!(refused.term, Term(5), "a refusal carries the voter's term");
    voter.step_request(
        PeerId(1),
        RequestId(2),
        Request::PreVote(pre_vote(Term(5), 1, 2, 5)),
    );
    assert!(
        !only_pre_vote_reply(&voter.take_ready()).vote_granted,
        "in term 5 the voter already voted for 2"
    );
    voter.step_request(
        PeerId(2),
        RequestId(3),
        Request::PreVote(pre_vote(Term(5), 2, 2, 5)),
    );
    assert!(
        only_pre_vote_reply(&voter.take_ready()).vote_granted,
        "2 has its vote"
    );
    voter.step_request(
        PeerId(1),
        RequestId(4),
        Request::PreVote(pre_vote(Term(6), 1, 2, 5)),
    );
    assert!(
        only_pre_vote_reply(&voter.take_ready()).vote_granted,
        "in term 6 the vote is free"
    );
    assert_eq!((voter.term(), voter.voted_for()), (Term(5), Some(PeerId(2))));
}

#[test]
fn a_grant_from_a_lagging_voter_counts_and_a_majority_starts_a_real_campaign() {
    // Section 8, scenario 3 (etcd #8243): the pre-candidate is at term 7, the voter at 4.
    let mut voter = peer(1, 3, Term(4), None, &[1]);
    let mut candidate = peer(0, 3, Term(7), None, &[1, 7]);
    tick_until(&mut candidate, RoleKind::PreCandidate);
    let request = pre_vote_sent_to(&candidate.take_ready(), PeerId(1));
    voter.step_request(PeerId(0), RequestId(1), Request::PreVote(request));
    let grant = only_pre_vote_reply(&voter.take_ready());
    assert_eq!(grant.term, Term(8));
    assert_eq!(voter.term(), Term(4), "the voter stays where it was");
    candidate.step_reply(PeerId(1), Reply::PreVote(grant));
    assert_eq!(candidate.role(), RoleKind::Candidate);
    assert_eq!(
        (candidate.term(), candidate.voted_for()),
        (Term(8), Some(PeerId(0)))
    );
    let ready = candidate.take_ready();
    assert_eq!(
        ready.hard_state().copied(),
        Some(HardState {
            current_term: Term(8),
            voted_for: Some(PeerId(0))
        }),
        "the real campaign persists its term and vote"
    );
    assert!(
        ready
            .messages()
            .iter()
            .all(|(_, m)| matches!(m, Request::RequestVote(a) if a.term == Term(8))),
        "and asks for real votes in term 8"
    );
}

#[test]
fn a_majority_of_refusals_makes_a_follower_in_the_same_term() {
    let mut candidate = peer(0, 3, Term(4), Some(PeerId(0)), &[1]);
    tick_until(&mut candidate, RoleKind::PreCandidate);
    let refusal = RequestVoteReply {
        term: Term(4),
        vote_granted: false,
    };
    candidate.step_reply(PeerId(1), Reply::PreVote(refusal.clone()));
    assert_eq!(
        candidate.role(),
        RoleKind::PreCandidate,
        "one refusal of three is no majority"
    );
    candidate.step_reply(PeerId(2), Reply::PreVote(refusal));
    assert_eq!(candidate.role(), RoleKind::Follower);
    assert_eq!(
        (candidate.term(), candidate.voted_for()),
        (Term(4), Some(PeerId(0)))
    );
}

#[test]
fn a_granted_pre_vote_reply_never_raises_the_term_and_never_counts_as_a_vote() {
    // A follower that gets a stray grant for term 9 stays at term 3.
    let mut r = peer(0, 3, Term(3), None, &[1]);
    r.step_reply(PeerId(1), Reply::PreVote(grant(Term(9))));
    assert_eq!((r.term(), r.role()), (Term(3), RoleKind::Follower));
    // A candidate of term 4 (it won its pre-vote with 1's grant) gets 2's late grant for
    // term 4: a pre-vote, not a vote, so it still needs a real one.
    let mut c = Cluster::with_config(3, |id| {
        with(Config::new(id, ids(3), 40 + u64::from(id.0)), true, false)
    });
    while c.peer(0).role() != RoleKind::PreCandidate {
        c.tick(0);
    }
    let proposed = c.peer(0).term().next();
    c.input(0, |r| r.step_reply(PeerId(1), Reply::PreVote(grant(proposed))));
    assert_eq!(c.peer(0).role(), RoleKind::Candidate);
    c.input(0, |r| r.step_reply(PeerId(2), Reply::PreVote(grant(proposed))));
    assert_eq!(
        c.peer(0).role(),
        RoleKind::Candidate,
        "a late pre-vote grant elects nobody"
    );
}

#[test]
fn a_pre_candidate_follows_a_leader_of_its_term_and_ignores_real_vote_replies() {
    let mut r = peer(0, 3, Term(4), None, &[1]);
    tick_until(&mut r, RoleKind::PreCandidate);
    r.step_reply(
        PeerId(1),
        Reply::RequestVote(RequestVoteReply {
            term: Term(4),
            vote_granted: true,
        }),
    );
    assert_eq!(
        r.role(),
        RoleKind::PreCandidate,
        "a real vote of term 4 elects nobody"
    );
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::AppendEntries(heartbeat(Term(4), 2)),
    );
    assert_eq!(r.role(), RoleKind::Follower);
    assert_eq!(r.leader_id(), Some(PeerId(2)));
    assert_eq!(
        r.propose(vec![1]),
        Err(ProposeError::NotLeader {
            leader_hint: Some(PeerId(2))
        })
    );
}

#[test]
fn with_pre_vote_a_cluster_elects_one_leader_and_a_single_peer_elects_itself() {
    let mut c = Cluster::with_config(5, |id| {
        with(Config::new(id, ids(5), 3 + u64::from(id.0)), true, false)
    });
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    assert_eq!(c.leaders().len(), 1);
    assert_eq!(
        c.peer(c.leaders()[0]).term(),
        Term(1),
        "a pre-vote round raises no term"
    );
    let mut one = Cluster::with_config(1, |id| with(Config::new(id, ids(1), 1), true, true));
    one.run_until_leader(TICKS_MAX).expect("a single peer leads");
    assert_eq!(one.peer(0).term(), Term(1));
}

#[test]
fn a_peer_cut_off_with_pre_vote_keeps_its_term() {
    let mut c = Cluster::with_config(3, |id| {
        with(Config::new(id, ids(3), 8 + u64::from(id.0)), true, false)
    });
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let term = c.peer(leader).term();
    let cut = (leader + 1) % 3;
    c.isolate(cut, true);
    c.run(10 * 60);
    assert_eq!(c.peer(cut).term(), term, "ten timeouts alone raise no term");
    assert_ne!(c.peer(cut).role(), RoleKind::Candidate);
}

// ---- helpers ---------------------------------------------------------------------------------

fn with(config: Config, pre_vote: bool, check_quorum: bool) -> Config {
    Config {
        pre_vote,
        check_quorum,
        ..config
    }
}

/// Peer `id` of `n` with pre-vote on (check-quorum off), restarted with a term, a vote and a
/// log with the given terms.
fn peer(id: u32, n: usize, term: Term, voted_for: Option<PeerId>, log_terms: &[u64]) -> Raft {
    let entries = log_terms
        .iter()
        .enumerate()
        .map(|(i, t)| Entry {
            index: LogIndex(i as u64 + 1),
            term: Term(*t),
            command: vec![].into(),
        })
        .collect();
    let restored = Restored {
        hard_state: HardState {
            current_term: term,
            voted_for,
        },
        snapshot: None,
        entries,
    };
    let config = with(Config::new(PeerId(id), ids(n), 1), true, false);
    Raft::restore(config, restored).expect("valid")
}

fn tick_until(r: &mut Raft, role: RoleKind) {
    for _ in 0..TICKS_MAX {
        if r.role() == role {
            return;
        }
        r.tick();
    }
    panic!("never became {role:?}");
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

fn pre_vote(term: Term, candidate: u32, last_index: u64, last_term: u64) -> RequestVoteArgs {
    RequestVoteArgs {
        term,
        candidate_id: PeerId(candidate),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
        transfer: false,
    }
}

fn grant(term: Term) -> RequestVoteReply {
    RequestVoteReply {
        term,
        vote_granted: true,
    }
}

fn only_pre_vote_reply(ready: &raft_core::Ready) -> RequestVoteReply {
    match ready.replies() {
        [(_, Reply::PreVote(reply))] => reply.clone(),
        other => panic!("expected one PreVote reply, got {other:?}"),
    }
}

fn pre_vote_sent_to(ready: &raft_core::Ready, to: PeerId) -> RequestVoteArgs {
    ready
        .messages()
        .iter()
        .find_map(|(peer, m)| match m {
            Request::PreVote(args) if *peer == to => Some(args.clone()),
            _ => None,
        })
        .expect("a PreVote to that peer")
}
