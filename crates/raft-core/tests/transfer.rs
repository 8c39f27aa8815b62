//! Leadership transfer (thesis section 3.10) on bare state machines and a hand-driven cluster:
//! when TimeoutNow goes out, what the leader refuses meanwhile, when it gives up, what the
//! target does with TimeoutNow, and the transfer flag's exemption from vote ignoring. The
//! scenarios on virtual time are raft-sim's (tests/production.rs).

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{
    AppendEntriesArgs, Message, Reply, Request, RequestId, RequestVoteArgs, RequestVoteReply, TimeoutNowArgs,
    TimeoutNowReply,
};
use raft_core::{
    Config, HardState, LogIndex, PeerId, ProposeError, Raft, Refusal, Restored, RoleKind, Term, TransferError,
};

const TICKS_MAX: usize = 1_000;
/// `Config::new`'s shortest election timeout, in ticks: the transfer's time limit.
const ET: usize = 30;

fn config(n: usize, seed: u64, switches: bool) -> impl Fn(PeerId) -> Config {
    move |id| Config {
        pre_vote: switches,
        check_quorum: switches,
        ..Config::new(id, ids(n), seed + u64::from(id.0))
    }
}

/// Three peers with a leader, every follower holding its whole log (two commands in).
fn steady(seed: u64, switches: bool) -> (Cluster, usize) {
    let mut c = Cluster::with_config(3, config(3, seed, switches));
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    for command in [1, 2] {
        c.propose(leader, vec![command]).expect("the leader takes it");
        c.deliver_all();
    }
    (c, leader)
}

fn id(i: usize) -> PeerId {
    PeerId(i as u32)
}

fn timeout_now(term: Term, leader: usize) -> Request {
    Request::TimeoutNow(TimeoutNowArgs {
        term,
        leader_id: id(leader),
    })
}

fn match_index(c: &Cluster, leader: usize, peer: usize) -> LogIndex {
    c.peer(leader).progress().expect("it leads")[&id(peer)].match_index
}

fn timeout_now_waiting(c: &mut Cluster) -> bool {
    c.waiting()
        .iter()
        .any(|(_, _, m)| matches!(m, Message::Request(Request::TimeoutNow(_))))
}

#[test]
fn a_transfer_to_an_up_to_date_peer_sends_timeout_now_at_once_and_the_target_leads_the_next_term() {
    for switches in [false, true] {
        let (mut c, leader) = steady(10, switches);
        let target = (leader + 1) % 3;
        let term = c.peer(leader).term();
        let last = c.peer(leader).log().last_index();
        assert_eq!(match_index(&c, leader, target), last, "the target is up to date");
        c.input(leader, |r| r.transfer_leadership(id(target)))
            .expect("the leader transfers");
        assert_eq!(
            c.waiting(),
            vec![(leader, target, Message::Request(timeout_now(term, leader)))],
            "TimeoutNow at once, and nothing else"
        );
        assert_eq!(c.peer(leader).transferring(), Some(id(target)));
        assert!(c.peer(leader).timeout_now_sent());
        c.deliver_one();
        let t = c.peer(target);
        assert_eq!(
            (t.role(), t.term()),
            (RoleKind::Candidate, term.next()),
            "switches {switches}: a candidate at once, no pre-vote round"
        );
        let votes: Vec<RequestVoteArgs> = c
            .waiting()
            .into_iter()
            .filter_map(|(from, _, m)| match m {
                Message::Request(Request::RequestVote(args)) if from == target => Some(args),
                Message::Request(Request::PreVote(_)) => panic!("a transfer skips pre-vote"),
                _ => None,
            })
            .collect();
        assert_eq!(votes.len(), 2);
        assert!(votes.iter().all(|v| v.transfer), "flagged as a transfer");
        c.deliver_all();
        assert_eq!(c.leaders(), vec![target]);
        assert_eq!(c.peer(target).term(), term.next());
    }
}

#[test]
fn a_transfer_to_a_lagging_peer_sends_timeout_now_only_once_its_log_matches_the_leaders() {
    let (mut c, leader) = steady(20, false);
    let target = (leader + 2) % 3;
    c.isolate(target, true);
    for command in 10..15 {
        c.propose(leader, vec![command]).expect("the leader takes it");
        c.deliver_all();
    }
    c.isolate(target, false);
    let last = c.peer(leader).log().last_index();
    assert!(match_index(&c, leader, target) < last);
    c.input(leader, |r| r.transfer_leadership(id(target)))
        .expect("the leader transfers");
    let mut steps = 0;
    while !timeout_now_waiting(&mut c) {
        // The window of unanswered requests may be full of ones lost in the cut: the next
        // heartbeat reopens it.
        if !c.deliver_one() {
            c.tick(leader);
        }
        steps += 1;
        assert!(steps < TICKS_MAX, "no TimeoutNow after {steps} steps");
    }
    assert_eq!(match_index(&c, leader, target), last);
    let (l, t) = (c.peer(leader).log(), c.peer(target).log());
    assert_eq!(
        (t.last_index(), t.last_term()),
        (l.last_index(), l.last_term()),
        "the target holds the leader's whole log when told to campaign"
    );
    c.deliver_all();
    assert_eq!(c.leaders(), vec![target]);
}

#[test]
fn proposals_are_refused_during_a_transfer_and_resume_in_the_same_term_after_it_times_out() {
    let (mut c, leader) = steady(30, false);
    let target = (leader + 1) % 3;
    let term = c.peer(leader).term();
    c.input(leader, |r| r.transfer_leadership(id(target)))
        .expect("the leader transfers");
    // The TimeoutNow is lost: the target never campaigns.
    c.retain_messages(|_, to| to != target);
    let last = c.peer(leader).log().last_index();
    for _ in 0..ET - 1 {
        c.run(1);
        assert_eq!(
            c.propose(leader, vec![9]),
            Err(ProposeError::Transferring { target: id(target) })
        );
        assert_eq!(c.peer(leader).log().last_index(), last, "nothing appended");
    }
    assert_eq!(c.peer(leader).transferring(), Some(id(target)));
    c.run(1);
    assert_eq!(
        c.peer(leader).transferring(),
        None,
        "abandoned after an election timeout"
    );
    assert_eq!(c.leaders(), vec![leader]);
    assert_eq!(
        c.propose(leader, vec![9]),
        Ok((last.next(), term)),
        "same leader, same term"
    );
    assert!(
        c.peer(leader).timeout_now_sent(),
        "a TimeoutNow sent stays sent for the rest of the term (raft-rs #234)"
    );
}

#[test]
fn a_repeat_changes_nothing_and_a_new_target_replaces_the_old() {
    let (mut c, leader) = steady(40, false);
    let [lagging, ready] = [(leader + 1) % 3, (leader + 2) % 3];
    c.isolate(lagging, true);
    c.propose(leader, vec![7]).expect("the leader takes it");
    c.deliver_all();
    c.input(leader, |r| r.transfer_leadership(id(lagging)))
        .expect("the leader transfers");
    for _ in 0..ET / 2 {
        c.tick(leader);
        c.deliver_all();
    }
    c.input(leader, |r| r.transfer_leadership(id(lagging)))
        .expect("a repeat is fine");
    for _ in ET / 2..ET {
        c.tick(leader);
        c.deliver_all();
    }
    assert_eq!(
        c.peer(leader).transferring(),
        None,
        "the repeat did not restart the timeout"
    );
    c.input(leader, |r| r.transfer_leadership(id(lagging)))
        .expect("a second transfer");
    c.input(leader, |r| r.transfer_leadership(id(ready)))
        .expect("another target");
    assert_eq!(c.peer(leader).transferring(), Some(id(ready)));
    assert!(timeout_now_waiting(&mut c), "the new target is up to date");
    c.isolate(lagging, false);
    c.deliver_all();
    assert_eq!(c.leaders(), vec![ready]);
}

#[test]
fn only_a_leader_transfers_and_only_to_another_known_peer() {
    let (mut c, leader) = steady(50, false);
    let follower = (leader + 1) % 3;
    let cases = [
        (
            follower,
            id(leader),
            TransferError::NotLeader {
                leader_hint: Some(id(leader)),
            },
        ),
        (leader, id(leader), TransferError::ToSelf),
        (leader, PeerId(7), TransferError::UnknownPeer(PeerId(7))),
    ];
    for (at, target, error) in cases {
        assert_eq!(c.input(at, |r| r.transfer_leadership(target)), Err(error));
        assert!(c.waiting().is_empty(), "{error}: nothing sent");
    }
    assert_eq!(c.peer(leader).transferring(), None);
    assert!(c.propose(leader, vec![1]).is_ok());
}

#[test]
fn a_follower_campaigns_on_its_leaders_timeout_now_skipping_pre_vote() {
    let mut r = follower(Term(5), true);
    r.step_request(PeerId(2), RequestId(1), timeout_now(Term(5), 2));
    let ready = r.take_ready();
    assert_eq!((r.role(), r.term()), (RoleKind::Candidate, Term(6)));
    assert_eq!(
        ready.replies(),
        [(RequestId(1), Reply::TimeoutNow(TimeoutNowReply { term: Term(6) }))],
        "answered in its new term"
    );
    assert_eq!(ready.hard_state().map(|h| h.current_term), Some(Term(6)));
    let votes: Vec<(PeerId, Request)> = ready.messages().to_vec();
    let args = RequestVoteArgs {
        term: Term(6),
        candidate_id: PeerId(0),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer: true,
    };
    assert_eq!(
        votes,
        vec![
            (PeerId(1), Request::RequestVote(args.clone())),
            (PeerId(2), Request::RequestVote(args)),
        ]
    );
}

#[test]
fn timeout_now_is_ignored_from_an_older_term_from_another_peer_and_by_a_candidate() {
    // Each case: the peer, the TimeoutNow's sender and term.
    let mut older = follower(Term(5), false);
    let mut stranger = follower(Term(5), false);
    let mut pre_candidate = follower(Term(5), true);
    tick_until(&mut pre_candidate, RoleKind::PreCandidate);
    let mut candidate = follower(Term(5), false);
    tick_until(&mut candidate, RoleKind::Candidate);
    let cases: [(&mut Raft, u32, Term); 4] = [
        (&mut older, 2, Term(4)),
        (&mut stranger, 1, Term(5)),
        (&mut pre_candidate, 2, Term(5)),
        (&mut candidate, 2, Term(6)),
    ];
    for (r, from, term) in cases {
        let before = (r.role(), r.term(), r.voted_for());
        r.step_request(PeerId(from), RequestId(1), timeout_now(term, from as usize));
        let ready = r.take_ready();
        assert_eq!(
            (r.role(), r.term(), r.voted_for()),
            before,
            "{before:?}: unchanged"
        );
        assert_eq!(
            ready.replies(),
            [(
                RequestId(1),
                Reply::TimeoutNow(TimeoutNowReply { term: before.1 })
            )],
            "{before:?}: answered in its own term"
        );
        assert!(ready.messages().is_empty() && ready.hard_state().is_none());
    }
}

#[test]
fn a_timeout_now_that_names_another_leader_than_its_sender_is_refused_at_the_gate() {
    let mut r = follower(Term(5), false);
    r.step_request(PeerId(1), RequestId(1), timeout_now(Term(5), 2));
    let ready = r.take_ready();
    assert!(ready.replies().is_empty(), "dropped without a reply");
    assert_eq!(r.refused().count(Refusal::Impersonation), 1);
    assert_eq!((r.role(), r.term()), (RoleKind::Follower, Term(5)));
}

#[test]
fn the_transfer_flag_exempts_a_request_vote_from_vote_ignoring_but_nothing_else() {
    // Three followers of leader 2 at term 5, each just heard it, with check-quorum.
    let vote = |transfer: bool| RequestVoteArgs {
        term: Term(6),
        candidate_id: PeerId(1),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer,
    };
    let answer = |request: Request| {
        let mut r = follower(Term(5), true);
        r.step_request(PeerId(1), RequestId(1), request);
        let replies = r.take_ready().replies().to_vec();
        (replies, r.term())
    };
    let refused = |term| RequestVoteReply {
        term,
        vote_granted: false,
    };
    let (replies, term) = answer(Request::RequestVote(vote(true)));
    let granted = RequestVoteReply {
        term: Term(6),
        vote_granted: true,
    };
    assert_eq!(replies, [(RequestId(1), Reply::RequestVote(granted))]);
    assert_eq!(term, Term(6), "the flagged request raised the term");
    let (replies, term) = answer(Request::RequestVote(vote(false)));
    assert_eq!(
        (replies, term),
        (
            vec![(RequestId(1), Reply::RequestVote(refused(Term(5))))],
            Term(5)
        ),
        "an unflagged one is still ignored"
    );
    let (replies, term) = answer(Request::PreVote(vote(true)));
    assert_eq!(
        (replies, term),
        (vec![(RequestId(1), Reply::PreVote(refused(Term(5))))], Term(5)),
        "a PreVote is never exempt"
    );
}

#[test]
fn a_leader_with_check_quorum_steps_down_for_a_flagged_request_vote_only() {
    let (mut c, leader) = steady(60, true);
    let other = (leader + 1) % 3;
    let term = c.peer(leader).term();
    let log = c.peer(leader).log();
    let vote = |transfer| {
        Request::RequestVote(RequestVoteArgs {
            term: term.next(),
            candidate_id: id(other),
            last_log_index: log.last_index(),
            last_log_term: log.last_term(),
            transfer,
        })
    };
    let (plain, flagged) = (vote(false), vote(true));
    // Each answer is taken here: the request did not come through the cluster's network.
    let answer = |c: &mut Cluster, request| {
        c.input(leader, |r| {
            r.step_request(id(other), RequestId(1), request);
            r.take_ready().replies().to_vec()
        })
    };
    let refused = RequestVoteReply {
        term,
        vote_granted: false,
    };
    assert_eq!(
        answer(&mut c, plain),
        [(RequestId(1), Reply::RequestVote(refused))]
    );
    assert!(c.peer(leader).is_leader(), "an unflagged vote is ignored");
    let granted = RequestVoteReply {
        term: term.next(),
        vote_granted: true,
    };
    assert_eq!(
        answer(&mut c, flagged),
        [(RequestId(1), Reply::RequestVote(granted))]
    );
    let l = c.peer(leader);
    assert_eq!(
        (l.role(), l.term(), l.voted_for()),
        (RoleKind::Follower, term.next(), Some(id(other)))
    );
    assert_eq!(l.transferring(), None);
}

// ---- helpers ---------------------------------------------------------------------------------

/// Peer 0 of 3 at `term`, following peer 2, which it has just heard.
fn follower(term: Term, switches: bool) -> Raft {
    let config = Config {
        pre_vote: switches,
        check_quorum: switches,
        ..Config::new(PeerId(0), ids(3), 1)
    };
    let restored = Restored {
        hard_state: HardState {
            current_term: term,
            voted_for: None,
        },
        snapshot: None,
        entries: vec![],
    };
    let mut r = Raft::restore(config, restored).expect("valid");
    let heartbeat = AppendEntriesArgs {
        term,
        leader_id: PeerId(2),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        entries: vec![],
        leader_commit: LogIndex(0),
        round: 0,
    };
    r.step_request(PeerId(2), RequestId(0), Request::AppendEntries(heartbeat));
    let _ = r.take_ready();
    r
}

fn tick_until(r: &mut Raft, role: RoleKind) {
    for _ in 0..TICKS_MAX {
        if r.role() == role {
            let _ = r.take_ready();
            return;
        }
        r.tick();
    }
    panic!("never became {role:?}");
}
