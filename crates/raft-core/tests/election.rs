//! Leader election on bare state machines (section 5.2), one scenario per test: no threads,
//! no clock, messages moved by hand.

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, Reply, Request, RequestId, RequestVoteArgs,
    RequestVoteReply,
};
use raft_core::{Config, ConfigError, Entry, HardState, LogIndex, PeerId, Raft, Restored, RoleKind, Term};

const TICKS_MAX: usize = 1_000;

#[test]
fn a_single_election_makes_exactly_one_leader_that_all_follow() {
    let mut c = Cluster::new(3, 7);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    let term = c.peer(leaders[0]).term();
    assert!(term >= Term(1));
    c.run(5);
    assert_eq!(
        c.leaders(),
        leaders,
        "the leader keeps its place while heartbeats flow"
    );
    for p in c.peers() {
        assert_eq!(p.term(), term, "everyone is in the leader's term");
        assert_eq!(
            p.leader_id(),
            Some(PeerId(leaders[0] as u32)),
            "everyone knows the leader"
        );
    }
}

#[test]
fn heartbeats_keep_followers_from_campaigning() {
    let mut c = Cluster::new(5, 11);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let term = c.peer(c.leaders()[0]).term();
    c.run(10 * 60);
    assert_eq!(
        c.terms(),
        vec![term; 5],
        "no election while the leader is healthy"
    );
}

#[test]
fn a_split_vote_resolves_in_a_later_term() {
    // Four peers; 0 and 1 campaign in the same term, 2 votes for 0 and 3 for 1: two votes
    // each, three needed. Nobody wins term 1; randomized timeouts break the tie later.
    let mut c = Cluster::new(4, 3);
    for i in [0, 1] {
        while c.peer(i).role() != RoleKind::Candidate {
            c.tick(i);
        }
    }
    assert_eq!(c.terms()[..2], [Term(1), Term(1)]);
    c.retain_messages(|from, voter| {
        let wanted = match voter {
            2 => 0,
            3 => 1,
            _ => return false,
        };
        from == wanted
    });
    c.deliver_all();
    assert!(c.leaders().is_empty(), "a split vote elects nobody");
    let ticks = c.run_until_leader(TICKS_MAX).expect("the split resolves");
    assert!(ticks < TICKS_MAX);
    assert_eq!(c.leaders().len(), 1);
    assert!(
        c.peer(c.leaders()[0]).term() >= Term(2),
        "the winner won a later term"
    );
}

#[test]
fn a_message_from_a_stale_term_is_refused_and_changes_nothing() {
    let mut r = restored_peer(0, 3, Term(5), None, &[]);
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::AppendEntries(heartbeat(Term(3), 1)),
    );
    let ready = r.take_ready();
    assert_eq!(
        ready.replies(),
        [(
            RequestId(1),
            Reply::AppendEntries(AppendEntriesReply {
                term: Term(5),
                outcome: AppendOutcome::StaleTerm,
                round: 0
            })
        )]
    );
    assert_eq!(r.term(), Term(5));
    assert_eq!(r.leader_id(), None, "a stale leader is not followed");
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::RequestVote(vote_request(Term(4), 2, 0, 0)),
    );
    let ready = r.take_ready();
    assert_eq!(
        ready.replies(),
        [(
            RequestId(1),
            Reply::RequestVote(RequestVoteReply {
                term: Term(5),
                vote_granted: false
            })
        )]
    );
    assert_eq!(r.voted_for(), None);
}

#[test]
fn a_vote_is_refused_to_a_candidate_with_a_stale_log() {
    // The voter's log ends at term 2; the candidate's ends at term 1, though it is longer.
    let mut r = restored_peer(0, 3, Term(2), None, &[1, 2]);
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::RequestVote(vote_request(Term(3), 1, 5, 1)),
    );
    let ready = r.take_ready();
    assert_eq!(
        ready.replies(),
        [(
            RequestId(1),
            Reply::RequestVote(RequestVoteReply {
                term: Term(3),
                vote_granted: false
            })
        )]
    );
    assert_eq!(
        r.term(),
        Term(3),
        "the higher term is adopted even though the vote is refused"
    );
    assert_eq!(r.voted_for(), None);
    // Same last term, shorter log: refused too; same last term and as long: granted.
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::RequestVote(vote_request(Term(3), 1, 1, 2)),
    );
    assert!(!granted(r.take_ready().replies()));
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::RequestVote(vote_request(Term(3), 1, 2, 2)),
    );
    assert!(granted(r.take_ready().replies()));
}

#[test]
fn a_vote_is_not_granted_twice_in_one_term() {
    let mut r = restored_peer(0, 3, Term(1), None, &[]);
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::RequestVote(vote_request(Term(2), 1, 0, 0)),
    );
    let ready = r.take_ready();
    assert!(granted(ready.replies()));
    assert_eq!(
        ready.hard_state().copied(),
        Some(HardState {
            current_term: Term(2),
            voted_for: Some(PeerId(1))
        }),
        "the vote is handed out for persisting in the same Ready as the reply"
    );
    r.step_request(
        PeerId(2),
        RequestId(1),
        Request::RequestVote(vote_request(Term(2), 2, 0, 0)),
    );
    assert!(
        !granted(r.take_ready().replies()),
        "a second candidate in the same term is refused"
    );
    r.step_request(
        PeerId(1),
        RequestId(1),
        Request::RequestVote(vote_request(Term(2), 1, 0, 0)),
    );
    assert!(
        granted(r.take_ready().replies()),
        "a repeated request from the same candidate is granted again"
    );
}

#[test]
fn a_candidate_votes_only_for_itself() {
    let mut c = Cluster::new(3, 5);
    while c.peer(0).role() != RoleKind::Candidate {
        c.tick(0);
    }
    let term = c.peer(0).term();
    let ready = c.input(0, |r| {
        let request = Request::RequestVote(vote_request(term, 1, 0, 0));
        r.step_request(PeerId(1), RequestId(1), request);
        r.take_ready()
    });
    assert!(!granted(ready.replies()));
    assert_eq!(c.peer(0).voted_for(), Some(PeerId(0)));
}

#[test]
fn a_leader_steps_down_on_a_higher_term() {
    let mut c = Cluster::new(3, 9);
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    let term = c.peer(leader).term();
    let other = (leader + 1) % 3;
    c.input(leader, |r| {
        r.step_reply(
            PeerId(other as u32),
            Reply::RequestVote(RequestVoteReply {
                term: term.next(),
                vote_granted: false,
            }),
        );
    });
    assert_eq!(c.peer(leader).role(), RoleKind::Follower);
    assert_eq!(c.peer(leader).term(), term.next());
    assert_eq!(
        c.peer(leader).voted_for(),
        None,
        "a new term starts without a vote"
    );
}

#[test]
fn a_candidate_steps_down_for_a_leader_of_its_own_term() {
    let mut c = Cluster::new(3, 5);
    while c.peer(0).role() != RoleKind::Candidate {
        c.tick(0);
    }
    let term = c.peer(0).term();
    // Stepped by hand, not delivered by the world: the test takes the Ready (its reply).
    let ready = c.input(0, |r| {
        let request = Request::AppendEntries(heartbeat(term, 2));
        r.step_request(PeerId(2), RequestId(1), request);
        r.take_ready()
    });
    assert_eq!(ready.replies().len(), 1, "the heartbeat is answered");
    assert_eq!(c.peer(0).role(), RoleKind::Follower);
    assert_eq!(c.peer(0).leader_id(), Some(PeerId(2)));
    assert_eq!(c.peer(0).term(), term);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let trace = |seed: u64| {
        let mut c = Cluster::new(5, seed);
        let mut trace = Vec::new();
        for t in 0..400 {
            if t == 200
                && let Some(l) = c.leaders().first()
            {
                c.isolate(*l, true);
            }
            c.tick_all();
            c.deliver_all();
            trace.push(
                c.peers()
                    .map(|p| (p.term(), p.role(), p.voted_for()))
                    .collect::<Vec<_>>(),
            );
        }
        trace
    };
    assert_eq!(trace(42), trace(42));
    assert_ne!(trace(42), trace(43), "a different seed draws different timeouts");
}

#[test]
fn a_cluster_of_one_elects_itself() {
    let mut c = Cluster::new(1, 1);
    c.run_until_leader(TICKS_MAX).expect("a single peer leads");
    assert_eq!(c.peer(0).term(), Term(1));
}

#[test]
fn configs_that_cannot_work_are_errors() {
    let good = Config::new(PeerId(0), ids(3), 1);
    assert_eq!(good.validate(), Ok(()));
    let cases = [
        (
            Config {
                peers: vec![],
                ..good.clone()
            },
            ConfigError::NoPeers,
        ),
        (
            Config {
                id: PeerId(5),
                ..good.clone()
            },
            ConfigError::SelfNotInPeers(PeerId(5)),
        ),
        (
            Config {
                peers: vec![PeerId(0), PeerId(1), PeerId(1)],
                ..good.clone()
            },
            ConfigError::DuplicatePeer(PeerId(1)),
        ),
        (
            Config {
                election_timeout_ticks_min: 10,
                election_timeout_ticks_max: 5,
                heartbeat_interval_ticks: 2,
                ..good.clone()
            },
            ConfigError::ElectionTimeoutRange { min: 10, max: 5 },
        ),
        (
            Config {
                heartbeat_interval_ticks: 30,
                ..good.clone()
            },
            ConfigError::HeartbeatInterval {
                heartbeat: 30,
                election_min: 30,
            },
        ),
        (
            Config {
                election_timeout_ticks_min: 0,
                ..good.clone()
            },
            ConfigError::ZeroElectionTimeout,
        ),
        (
            Config {
                entries_per_append_max: 0,
                ..good.clone()
            },
            ConfigError::ZeroEntriesPerAppend,
        ),
        (
            Config {
                uncommitted_entries_max: 0,
                ..good.clone()
            },
            ConfigError::ZeroUncommittedEntries,
        ),
        (
            Config {
                append_entries_in_flight_max: 0,
                ..good.clone()
            },
            ConfigError::ZeroAppendEntriesInFlight,
        ),
    ];
    for (config, error) in cases {
        assert_eq!(config.validate(), Err(error.clone()));
        assert!(
            Raft::new(config).is_err(),
            "{error} must be refused by the constructor"
        );
    }
}

// ---- helpers ---------------------------------------------------------------------------------

/// Peer `id` of `n`, restarted with a term, a vote and a log with the given terms.
fn restored_peer(id: u32, n: usize, term: Term, voted_for: Option<PeerId>, log_terms: &[u64]) -> Raft {
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
    Raft::restore(cluster::figure2(Config::new(PeerId(id), ids(n), 1)), restored).expect("valid")
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

fn vote_request(term: Term, candidate: u32, last_index: u64, last_term: u64) -> RequestVoteArgs {
    RequestVoteArgs {
        term,
        candidate_id: PeerId(candidate),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
        transfer: false,
    }
}

fn granted(reply: &[(RequestId, Reply)]) -> bool {
    matches!(
        reply,
        [(
            _,
            Reply::RequestVote(RequestVoteReply {
                vote_granted: true,
                ..
            })
        )]
    )
}

#[test]
fn a_refused_vote_in_a_higher_term_does_not_hold_off_the_election_timer() {
    // Two identical followers (same seed, same log); one is asked for its vote by a candidate
    // with a stale log in a higher term. It adopts the term and refuses, and (Figure 2) does
    // not restart its election timer: both time out on the same tick.
    let mut plain = restored_peer(0, 3, Term(1), None, &[1]);
    let mut asked = restored_peer(0, 3, Term(1), None, &[1]);
    for _ in 0..5 {
        plain.tick();
        asked.tick();
    }
    asked.step_request(
        PeerId(2),
        RequestId(1),
        Request::RequestVote(vote_request(Term(4), 2, 0, 0)),
    );
    assert!(!granted(asked.take_ready().replies()));
    assert_eq!(asked.term(), Term(4));
    let mut ticks = 0;
    while plain.role() != RoleKind::Candidate {
        plain.tick();
        asked.tick();
        ticks += 1;
        assert!(ticks < 1_000, "the followers never time out");
    }
    assert_eq!(
        asked.role(),
        RoleKind::Candidate,
        "the refused vote did not reset the timer"
    );
}
