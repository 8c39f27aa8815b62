//! Reads without a log write (thesis section 6.4, ReadIndex; section 6.4.1, leases) on bare
//! state machines, one rule per test, ticks and messages moved by hand. Reads under
//! partitions, crashes and clock drift on virtual time are raft-sim's (tests/production.rs).

mod cluster;

use cluster::{Cluster, ids};
use raft_core::message::{
    AppendEntriesReply, AppendOutcome, Message, Reply, Request, RequestId, RequestVoteArgs, RequestVoteReply,
};
use raft_core::{
    Config, ConfigError, LogIndex, PeerId, Raft, ReadError, ReadId, ReadMode, Refusal, RoleKind, Term,
};

const TICKS_MAX: usize = 1_000;
/// `Config::new`'s shortest election timeout, in ticks.
const ET: u64 = 30;
/// A drift bound of 10%: the lease is floor(29 / 1.1) = 26 ticks.
const DRIFT_PPM: u32 = 100_000;
const LEASE_TICKS: u64 = 26;

fn with_reads(n: usize, reads: ReadMode) -> impl Fn(PeerId) -> Config {
    move |id| Config {
        check_quorum: matches!(reads, ReadMode::Lease { .. }),
        reads,
        ..Config::new(id, ids(n), 40 + u64::from(id.0))
    }
}

/// A cluster of `n` with `reads`, a leader elected and one entry of its term committed
/// everywhere; the leader.
fn settled(n: usize, reads: ReadMode) -> (Cluster, usize) {
    let mut c = Cluster::with_config(n, with_reads(n, reads));
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    c.propose(leader, b"x=1".to_vec())
        .expect("the leader takes a command");
    c.deliver_all();
    c.run(16);
    assert!(c.commits().iter().all(|i| *i == LogIndex(1)), "{:?}", c.commits());
    (c, leader)
}

fn read(c: &mut Cluster, i: usize, id: u64) -> Result<(), ReadError> {
    c.input(i, |r| r.read(ReadId(id)))
}

/// Ticks the leader until its next heartbeat round goes out, and delivers it and its answers.
fn heartbeat_round_answered(c: &mut Cluster, leader: usize) {
    let mut ticks = 0;
    while rounds_waiting(c).is_empty() {
        c.tick(leader);
        ticks += 1;
        assert!(ticks < TICKS_MAX, "no heartbeat");
    }
    c.deliver_all();
}

/// The heartbeat rounds of the AppendEntries waiting now.
fn rounds_waiting(c: &mut Cluster) -> Vec<u64> {
    c.waiting()
        .into_iter()
        .filter_map(|(_, _, m)| match m {
            Message::Request(Request::AppendEntries(a)) => Some(a.round),
            _ => None,
        })
        .collect()
}

#[test]
fn a_read_is_confirmed_once_a_majority_answers_a_round_sent_after_it_arrived() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    read(&mut c, leader, 1).expect("the leader takes the read");
    assert!(
        c.reads(leader).is_empty(),
        "nothing is confirmed before a round is answered"
    );
    let rounds = rounds_waiting(&mut c);
    assert_eq!(
        rounds.len(),
        2,
        "the read sends a round to both followers at once"
    );
    c.deliver_all();
    assert_eq!(c.reads(leader), [(ReadId(1), Ok(LogIndex(1)))]);
}

#[test]
fn answers_to_a_round_sent_before_the_read_do_not_confirm_it() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    // A heartbeat round goes out and waits; then the read arrives and sends the next.
    for _ in 0..TICKS_MAX {
        c.tick(leader);
        if !rounds_waiting(&mut c).is_empty() {
            break;
        }
    }
    let before = rounds_waiting(&mut c);
    assert_eq!(before.len(), 2, "a heartbeat round is out");
    read(&mut c, leader, 7).expect("the leader takes the read");
    let after: Vec<u64> = rounds_waiting(&mut c);
    assert_eq!(after.len(), 4, "the read sent a round of its own");
    assert!(after[2] > before[0], "the read's round is a later one");
    // The earlier round arrives and is answered; the read's round is lost.
    c.deliver_one();
    c.deliver_one();
    c.retain_messages(|from, _| from != leader);
    c.deliver_all();
    assert!(
        c.reads(leader).is_empty(),
        "answers to an earlier round confirmed the read"
    );
    // The next heartbeat round confirms it.
    for _ in 0..TICKS_MAX {
        c.tick(leader);
        c.deliver_all();
        if !c.reads(leader).is_empty() {
            break;
        }
    }
    assert_eq!(c.reads(leader), [(ReadId(7), Ok(LogIndex(1)))]);
}

#[test]
fn reads_that_arrive_while_a_round_is_out_share_the_next_one() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    read(&mut c, leader, 1).expect("taken");
    read(&mut c, leader, 2).expect("taken");
    read(&mut c, leader, 3).expect("taken");
    assert_eq!(
        rounds_waiting(&mut c).len(),
        2,
        "one round for the first read only"
    );
    c.deliver_all();
    let ids: Vec<ReadId> = c.reads(leader).iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        [ReadId(1), ReadId(2), ReadId(3)],
        "the next round, sent on the first's confirmation, confirms the others"
    );
}

#[test]
fn a_follower_refuses_a_read_and_names_the_leader() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    let follower = (leader + 1) % 3;
    assert_eq!(
        read(&mut c, follower, 1),
        Err(ReadError::NotLeader {
            leader_hint: Some(PeerId(leader as u32))
        })
    );
}

#[test]
fn with_reads_through_the_log_raft_offers_none() {
    let (mut c, leader) = settled(3, ReadMode::Log);
    assert_eq!(read(&mut c, leader, 1), Err(ReadError::Off));
}

#[test]
fn a_leader_holds_at_most_pending_reads_max_reads() {
    let mut c = Cluster::with_config(3, |id| Config {
        pending_reads_max: 2,
        ..Config::new(id, ids(3), 40 + u64::from(id.0))
    });
    c.run_until_leader(TICKS_MAX).expect("a leader is elected");
    let leader = c.leaders()[0];
    c.isolate(leader, true);
    read(&mut c, leader, 1).expect("taken");
    read(&mut c, leader, 2).expect("taken");
    assert_eq!(read(&mut c, leader, 3), Err(ReadError::TooMany { max: 2 }));
}

#[test]
fn a_leader_that_steps_down_fails_the_reads_it_holds() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    c.isolate(leader, true);
    read(&mut c, leader, 1).expect("taken");
    c.deliver_all();
    let other = (leader + 1) % 3;
    let higher = RequestVoteReply {
        term: Term(c.peer(leader).term().0 + 1),
        vote_granted: false,
    };
    c.input(leader, |r| {
        r.step_reply(PeerId(other as u32), Reply::RequestVote(higher))
    });
    assert_eq!(c.peer(leader).role(), RoleKind::Follower);
    assert_eq!(
        c.reads(leader),
        [(ReadId(1), Err(ReadError::LeadershipLost { leader_hint: None }))]
    );
}

#[test]
fn a_new_leader_with_an_older_term_above_its_commit_index_parks_reads_until_its_own_commits() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    // Entry 2 of the leader's term reaches both followers, but not the commit that follows.
    c.propose(leader, b"x=2".to_vec()).expect("taken");
    c.deliver_all();
    assert_eq!(c.peer(leader).commit_index(), LogIndex(2));
    c.isolate(leader, true);
    let next = (0..3)
        .find(|i| *i != leader && c.peer(*i).commit_index() == LogIndex(1))
        .expect("a follower has not heard commit 2");
    for _ in 0..TICKS_MAX {
        if c.peer(next).is_leader() {
            break;
        }
        c.tick(next);
        c.deliver_all();
    }
    assert!(c.peer(next).is_leader(), "n{next} is elected");
    assert_eq!(
        c.peer(next).commit_index(),
        LogIndex(1),
        "its commit index trails entry 2"
    );
    read(&mut c, next, 9).expect("taken");
    c.run(3);
    assert!(
        c.reads(next).is_empty(),
        "served below an entry an older leader committed"
    );
    c.propose(next, b"y=1".to_vec()).expect("taken");
    c.deliver_all();
    c.run(3);
    match c.reads(next) {
        [(ReadId(9), Ok(index))] => assert!(*index >= LogIndex(3), "served at {index}"),
        other => panic!("the read is served once entry 3 commits: {other:?}"),
    }
}

#[test]
fn a_new_leader_whose_log_is_all_committed_serves_reads_without_a_write() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    c.isolate(leader, true);
    let next = (leader + 1) % 3;
    for _ in 0..TICKS_MAX {
        if c.peer(next).is_leader() {
            break;
        }
        c.tick(next);
        c.deliver_all();
    }
    assert!(c.peer(next).is_leader());
    read(&mut c, next, 4).expect("taken");
    c.deliver_all();
    assert_eq!(c.reads(next), [(ReadId(4), Ok(LogIndex(1)))]);
}

#[test]
fn an_ack_of_a_round_not_yet_sent_is_refused_at_the_gate() {
    let (mut c, leader) = settled(3, ReadMode::ReadIndex);
    c.isolate(leader, true);
    read(&mut c, leader, 1).expect("taken");
    let term = c.peer(leader).term();
    for other in (0..3).filter(|i| *i != leader) {
        let forged = AppendEntriesReply {
            term,
            outcome: AppendOutcome::Success {
                match_index: LogIndex(1),
            },
            round: u64::MAX / 2,
        };
        c.input(leader, |r| {
            r.step_reply(PeerId(other as u32), Reply::AppendEntries(forged))
        });
    }
    assert!(c.reads(leader).is_empty(), "a forged ack confirmed a read");
    assert_eq!(c.peer(leader).refused().count(Refusal::ImpossibleReply), 2);
}

#[test]
fn a_single_peer_serves_reads_at_once() {
    let (mut c, leader) = settled(1, ReadMode::ReadIndex);
    read(&mut c, leader, 1).expect("taken");
    assert_eq!(c.reads(leader), [(ReadId(1), Ok(LogIndex(1)))]);
}

#[test]
fn a_lease_leader_serves_at_once_until_its_lease_from_the_last_round_sent_runs_out() {
    let lease = ReadMode::Lease {
        clock_drift_ppm: DRIFT_PPM,
    };
    let (mut c, leader) = settled(3, lease);
    assert_eq!(c.peer(leader).config().lease_ticks(), Some(LEASE_TICKS));
    // A round goes out on the next heartbeat and is answered at once: the lease runs from it.
    heartbeat_round_answered(&mut c, leader);
    c.isolate(leader, true);
    read(&mut c, leader, 1).expect("taken");
    assert_eq!(
        c.reads(leader),
        [(ReadId(1), Ok(LogIndex(1)))],
        "served under the lease"
    );
    for _ in 1..LEASE_TICKS {
        c.tick(leader);
    }
    read(&mut c, leader, 2).expect("taken");
    assert_eq!(c.reads(leader).len(), 2, "the lease holds its last tick");
    c.tick(leader);
    read(&mut c, leader, 3).expect("taken");
    assert_eq!(c.reads(leader).len(), 2, "served after the lease ran out");
}

#[test]
fn a_lease_needs_check_quorum_and_at_least_a_tick() {
    let base = Config::new(PeerId(0), ids(3), 1);
    let no_check_quorum = Config {
        check_quorum: false,
        reads: ReadMode::Lease { clock_drift_ppm: 0 },
        ..base.clone()
    };
    assert_eq!(
        no_check_quorum.validate(),
        Err(ConfigError::LeaseWithoutCheckQuorum)
    );
    let too_short = Config {
        check_quorum: true,
        reads: ReadMode::Lease {
            clock_drift_ppm: 30_000_000,
        },
        ..base
    };
    assert!(matches!(
        too_short.validate(),
        Err(ConfigError::LeaseTooShort { .. })
    ));
}

#[test]
fn with_leases_a_restarted_peer_ignores_votes_for_an_election_timeout() {
    let config = |reads| Config {
        check_quorum: true,
        reads,
        ..Config::new(PeerId(1), ids(3), 5)
    };
    let vote = Request::RequestVote(RequestVoteArgs {
        term: Term(3),
        candidate_id: PeerId(2),
        last_log_index: LogIndex(5),
        last_log_term: Term(2),
        transfer: false,
    });
    let lease = ReadMode::Lease {
        clock_drift_ppm: DRIFT_PPM,
    };
    let mut fresh = Raft::new(config(lease)).expect("valid");
    for _ in 1..ET {
        fresh.tick();
    }
    fresh.step_request(PeerId(2), RequestId(1), vote.clone());
    assert_eq!(
        fresh.voted_for(),
        None,
        "a vote under a lease it may have backed before a crash"
    );
    fresh.tick();
    assert_eq!(
        fresh.role(),
        RoleKind::Follower,
        "this seed's timeout is longer than the shortest"
    );
    fresh.step_request(PeerId(2), RequestId(2), vote.clone());
    assert_eq!(
        fresh.voted_for(),
        Some(PeerId(2)),
        "it votes once an election timeout passed"
    );
    let mut without_lease = Raft::new(config(ReadMode::ReadIndex)).expect("valid");
    without_lease.step_request(PeerId(2), RequestId(1), vote);
    assert_eq!(
        without_lease.voted_for(),
        Some(PeerId(2)),
        "without leases it votes at once"
    );
}

#[test]
fn a_lease_ends_for_the_term_when_timeout_now_goes_out_even_if_the_transfer_is_abandoned() {
    let lease = ReadMode::Lease {
        clock_drift_ppm: DRIFT_PPM,
    };
    let (mut c, leader) = settled(3, lease);
    heartbeat_round_answered(&mut c, leader);
    read(&mut c, leader, 1).expect("taken");
    assert_eq!(c.reads(leader).len(), 1, "served under the lease");
    // The target is up to date: TimeoutNow goes out at once, and is lost.
    let target = (leader + 1) % 3;
    c.input(leader, |r| r.transfer_leadership(PeerId(target as u32)))
        .expect("the leader transfers");
    assert!(c.peer(leader).timeout_now_sent());
    c.retain_messages(|_, to| to != target);
    read(&mut c, leader, 2).expect("taken");
    assert_eq!(c.reads(leader).len(), 1, "no lease read once TimeoutNow went out");
    // The transfer is abandoned after an election timeout; the lease stays off, while
    // ReadIndex still confirms reads with a round.
    for _ in 0..ET {
        c.tick(leader);
        c.deliver_all();
    }
    assert!(c.peer(leader).is_leader() && c.peer(leader).transferring().is_none());
    c.deliver_all();
    let served = c.reads(leader).len();
    read(&mut c, leader, 3).expect("taken");
    assert_eq!(c.reads(leader).len(), served, "still no lease read in this term");
    c.deliver_all();
    assert_eq!(
        c.reads(leader).last().map(|(id, _)| *id),
        Some(ReadId(3)),
        "a round confirms it"
    );
}
