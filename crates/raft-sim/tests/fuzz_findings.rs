//! What the message fuzzer found, each cut down by hand to the fewest messages that break a
//! per-peer property of one fresh peer (n0 of three). Every input goes through
//! [`FuzzedPeer::input`], so a panic, a broken property or a durable state the peer cannot
//! restart from fails the test with the property's name. A peer may refuse any of these
//! messages; it may not break.

use raft_core::message::{AppendEntriesArgs, InstallSnapshotArgs, Message, Reply, Request, RequestVoteReply};
use raft_core::{Config, Entry, LogIndex, PeerId, Refusal, RoleKind, TERM_MAX, Term};
use raft_sim::fuzz::peer::{FuzzedPeer, Input};

/// Enough ticks for any election timeout of `Config::new` (30-60 ticks).
const TICKS_TO_CAMPAIGN_MAX: u32 = 100;

/// Figure 2's elections, as when these were found: a timeout makes a candidate at once.
fn config(seed: u64) -> Config {
    Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(PeerId(0), vec![PeerId(0), PeerId(1), PeerId(2)], seed)
    }
}

fn fresh() -> FuzzedPeer {
    FuzzedPeer::new(config(1)).expect("a fresh peer")
}

fn input(peer: &mut FuzzedPeer, input: Input) {
    let shown = format!("{input:?}");
    if let Err(broken) = peer.input(input) {
        panic!("{broken}\n  input: {shown}");
    }
}

fn deliver(peer: &mut FuzzedPeer, from: u32, message: Message) {
    input(
        peer,
        Input::Deliver {
            from: PeerId(from),
            message,
        },
    );
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: vec![index as u8, term as u8].into(),
    }
}

fn append(term: u64, leader: u32, prev: (u64, u64), entries: Vec<Entry>, commit: u64) -> Message {
    Message::Request(Request::AppendEntries(AppendEntriesArgs {
        term: Term(term),
        leader_id: PeerId(leader),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries,
        leader_commit: LogIndex(commit),
        round: 0,
    }))
}

fn install(term: u64, leader: u32, last: (u64, u64)) -> Message {
    Message::Request(Request::InstallSnapshot(InstallSnapshotArgs {
        term: Term(term),
        leader_id: PeerId(leader),
        last_included_index: LogIndex(last.0),
        last_included_term: Term(last.1),
        data: vec![7],
    }))
}

/// Ticks until the peer campaigns, then grants it n1's vote; it leads if nothing refused.
fn campaign_and_win(peer: &mut FuzzedPeer) {
    for _ in 0..TICKS_TO_CAMPAIGN_MAX {
        if peer.raft().role() == RoleKind::Candidate {
            break;
        }
        input(peer, Input::Tick);
    }
    let term = peer.raft().term();
    let vote = RequestVoteReply {
        term,
        vote_granted: true,
    };
    deliver(peer, 1, Message::Reply(Reply::RequestVote(vote)));
}

#[test]
fn a_term_of_u64_max_never_wraps_or_overflows_at_the_next_election() {
    // Found as: No Panic at raft-core/src/types.rs (Term::next, "attempt to add with
    // overflow") in a debug build; Term Never Decreases (u64::MAX -> 0) in release.
    let mut peer = fresh();
    deliver(&mut peer, 1, append(u64::MAX, 1, (0, 0), vec![], 0));
    for _ in 0..TICKS_TO_CAMPAIGN_MAX {
        input(&mut peer, Input::Tick);
    }
}

#[test]
fn a_prev_log_index_of_u64_max_does_not_overflow() {
    // Found as: No Panic at raft-core/src/types.rs (LogIndex::next, "attempt to add with
    // overflow"), from the shape check of AppendEntries.
    let mut peer = fresh();
    deliver(&mut peer, 1, append(1, 1, (u64::MAX, 1), vec![], 0));
}

#[test]
fn a_snapshot_ending_at_u64_max_leaves_room_to_lead() {
    // Found as: No Panic at raft-core/src/types.rs (LogIndex::next, the index after the
    // snapshot) at once in a debug build; in release the indices wrap and the durable
    // state no longer matches the peer (Durable State Matches The Peer).
    let mut peer = fresh();
    deliver(&mut peer, 1, install(1, 1, (u64::MAX, 1)));
    campaign_and_win(&mut peer);
    input(&mut peer, Input::Propose(b"x".to_vec()));
}

#[test]
fn a_higher_term_append_never_removes_a_committed_entry() {
    // Found as: No Panic at raft-core/src/replication.rs, "a committed entry is never
    // removed" (merge_entries).
    let mut peer = fresh();
    deliver(&mut peer, 1, append(1, 1, (0, 0), vec![entry(1, 1)], 1));
    assert_eq!(peer.applied(), LogIndex(1), "entry 1 committed and applied");
    deliver(&mut peer, 2, append(2, 2, (0, 0), vec![entry(1, 2)], 0));
}

#[test]
fn a_snapshot_from_a_later_term_than_its_message_leaves_a_peer_that_can_restart() {
    // Found as: Restarts From Its Durable State, "restored term 1 is older than the log's
    // last term 9": the snapshot's term is above the term the peer adopted.
    let mut peer = fresh();
    deliver(&mut peer, 1, install(1, 1, (5, 9)));
    peer.restart(config(2)).unwrap_or_else(|b| panic!("{b}"));
}

#[test]
fn a_snapshot_from_a_later_term_than_its_message_leaves_a_log_a_leader_can_extend() {
    // Found as: No Panic at raft-core/src/log.rs, "terms never decrease along the log": the
    // peer leads in term 2 after a snapshot ending in term 9, and appends its proposal.
    let mut peer = fresh();
    deliver(&mut peer, 1, install(1, 1, (5, 9)));
    campaign_and_win(&mut peer);
    input(&mut peer, Input::Propose(b"x".to_vec()));
}

#[test]
fn a_snapshot_never_ends_in_a_term_below_an_applied_entry() {
    // Found (before and after the gate of branch core, 2daff2d) as: Terms Never Decrease
    // Along The Log, "a snapshot through 5@1 follows applied entry 1@3": the snapshot lies
    // past the commit index, so it is installed, though no leader of term 3 can hold a log
    // whose entry 5 has term 1 after entry 1 of term 3 (Leader Completeness: it holds the
    // committed 1@3, and terms never decrease along a log).
    let mut peer = fresh();
    deliver(&mut peer, 1, append(3, 1, (0, 0), vec![entry(1, 3)], 1));
    deliver(&mut peer, 1, install(3, 1, (5, 1)));
}

#[test]
fn one_forged_term_cannot_push_a_peer_past_the_highest_accepted_term() {
    // Found against the first gate (2daff2d) as: Restarts From Its Durable State, "restored
    // term or snapshot index is beyond the highest a peer accepts": the gate let a fresh peer
    // adopt TERM_MAX, its campaign persisted TERM_MAX + 1, and Raft::restore refused any term
    // above TERM_MAX. Worse, every other peer refuses a term above TERM_MAX, so that one message
    // wedged the peer for good. Now the message is refused (more than TERM_JUMP_MAX above the
    // peer's term), the peer campaigns in term 1, and restore takes any term a campaign reaches
    // (raft-core's gate tests restore a peer past TERM_MAX).
    let mut peer = fresh();
    deliver(&mut peer, 1, append(TERM_MAX.0, 1, (0, 0), vec![], 0));
    assert_eq!(peer.raft().refused().count(Refusal::TermOutOfRange), 1);
    for _ in 0..TICKS_TO_CAMPAIGN_MAX {
        if peer.raft().role() == RoleKind::Candidate {
            break;
        }
        input(&mut peer, Input::Tick);
    }
    assert_eq!(peer.raft().role(), RoleKind::Candidate);
    assert_eq!(peer.raft().term(), Term(1), "the forged term was not adopted");
    peer.restart(config(2)).unwrap_or_else(|b| panic!("{b}"));
}
