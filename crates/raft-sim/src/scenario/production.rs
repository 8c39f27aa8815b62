//! The scenarios of issue 16's first part (pre-vote and check-quorum), numbered as in section
//! 8 of issue 16's production-raft reference. Each states its bound in election timeouts ("ET",
//! the shortest, 300 ms here) and checks it with the switches it is about; most also run with
//! both switches off as a contrast, which only measures (the base behaviour they document).
//!
//! | scenario | section 8 | switches | claim |
//! | --- | --- | --- | --- |
//! | `rejoining-peer` | 1 | pre-vote | a peer back from 10 ET alone raises no term; it follows the leader within 1 ET |
//! | `lagging-voter` | 3 | pre-vote | a voter 3 terms behind still elects: a leader within 3 ET |
//! | `isolated-leader` | 5 | both | etcd's order (3 times out, then 2): a leader within 1 ET of the cut |
//! | `dead-leader-voter` | 2.2 | both | the leader dies; a follower forced to time out after 1 ET leads within 4 delays and 2 ticks |
//! | `isolated-leader-steps-down` | 6 | both | the leader steps down within 2 ET, same term and vote; a new one within 5 ET |
//! | `partial-partition-a` | 7 | both | 100 ET without a term change or a new leader, commits in every 10 ET |
//! | `partial-partition-b` | 8 | both | the leader that reaches one peer steps down within 2 ET; a new one commits within 6 ET |
//! | `send-only-peer` | 10a | both | a peer that hears nothing disturbs nobody for 20 ET |
//! | `deaf-leader` | 10b | both | a leader that hears nothing steps down within 2 ET; a new one within 6 ET |
//! | `stuck-higher-term` | 11 | both | a peer back at term +15 deposes the leader with its first reply; a leader within 3 ET |
//!
//! The mutants of raft-core each scenario catches: `prevote-ignores-log` by `rejoining-peer`,
//! `precandidate-keeps-leader` by `isolated-leader`, `ignore-votes-forever` by
//! `partial-partition-b` (and `isolated-leader-steps-down`, `deaf-leader`),
//! `votes-ignored-after-leader-died` by `dead-leader-voter`.
//!
//! [`SCENARIOS`] also lists the leadership-transfer scenarios (section 8, 12-15), which live
//! in [`super::transfer`].

use raft_core::{Bytes, PeerId, Raft, RoleKind, Term};

use super::transfer::{
    transfer_lagging, transfer_target_crash, transfer_under_vote_ignoring, transfer_up_to_date,
};
use super::{Failure, Figures, Named, Script, ScriptConfig, Switches};
use crate::config::US_PER_MS;

/// How often the client writes in the scenarios that write.
const WRITE_EVERY_US: u64 = 100 * US_PER_MS;
/// The bound on the first election of a fresh cluster, in ET (not what any scenario is
/// about: a fault-free start).
const FIRST_ELECTION_ET: u64 = 10;

/// Every scenario of this module.
pub const SCENARIOS: &[Named] = &[
    Named {
        name: "rejoining-peer",
        what: "a peer cut off for 10 ET comes back at its old term (pre-vote)",
        switches: Switches::PRE_VOTE,
        run: rejoining_peer,
    },
    Named {
        name: "lagging-voter",
        what: "a pre-candidate at term 7 is elected with a voter at term 4 (etcd #8243)",
        switches: Switches::PRE_VOTE,
        run: lagging_voter,
    },
    Named {
        name: "isolated-leader",
        what: "leader cut off, 3 then 2 time out: a pre-candidate forgets its leader (etcd #8334)",
        switches: Switches::BOTH,
        run: isolated_leader,
    },
    Named {
        name: "dead-leader-voter",
        what: "the leader dies; a voter stops ignoring votes one ET after its last heartbeat",
        switches: Switches::BOTH,
        run: dead_leader_voter,
    },
    Named {
        name: "isolated-leader-steps-down",
        what: "a leader alone steps down within 2 ET, same term and vote",
        switches: Switches::BOTH,
        run: isolated_leader_steps_down,
    },
    Named {
        name: "partial-partition-a",
        what: "{L,x,y} meshed, p-x and q-L only: 100 ET without a term change",
        switches: Switches::BOTH,
        run: partial_partition_a,
    },
    Named {
        name: "partial-partition-b",
        what: "the leader reaches one peer, a fifth is down: it steps down, the others commit",
        switches: Switches::BOTH,
        run: partial_partition_b,
    },
    Named {
        name: "send-only-peer",
        what: "a peer that can send but not receive disturbs nobody",
        switches: Switches::BOTH,
        run: send_only_peer,
    },
    Named {
        name: "deaf-leader",
        what: "a leader that can send but not receive steps down; the others elect",
        switches: Switches::BOTH,
        run: deaf_leader,
    },
    Named {
        name: "stuck-higher-term",
        what: "a peer back at a far higher term deposes the leader once; a leader within 3 ET",
        switches: Switches::BOTH,
        run: stuck_higher_term,
    },
    Named {
        name: "stale-read-partition",
        what: "an old leader cut off with one follower serves no read once the majority moves on",
        switches: Switches::BOTH,
        run: super::reads::stale_read_partition,
    },
    Named {
        name: "lease-read-drift",
        what: "a lease leader whose clock runs 20% slow serves no stale read after a cut",
        switches: Switches::BOTH,
        run: super::reads::lease_read_drift,
    },
    Named {
        name: "transfer-up-to-date",
        what: "transfer to an up-to-date follower: TimeoutNow at once, it leads term + 1 in 3 delays",
        switches: Switches::BOTH,
        run: transfer_up_to_date,
    },
    Named {
        name: "transfer-lagging",
        what: "transfer to a follower 50 entries behind: TimeoutNow once it matches; leads within 2 ET",
        switches: Switches::BOTH,
        run: transfer_lagging,
    },
    Named {
        name: "transfer-target-crash",
        what: "the target crashes before TimeoutNow: abandoned within 1 ET, commits in the same term",
        switches: Switches::BOTH,
        run: transfer_target_crash,
    },
    Named {
        name: "transfer-under-vote-ignoring",
        what: "a flagged election wins while an unflagged one at the same moment is ignored",
        switches: Switches::BOTH,
        run: transfer_under_vote_ignoring,
    },
];

/// A fresh cluster of `peers` with `switches`, writing if `writes`, run until its first
/// leader is followed by all, plus one ET: the steady state every scenario starts from.
pub(super) fn steady(
    name: &'static str,
    seed: u64,
    peers: usize,
    switches: Switches,
    writes: bool,
    full_trace: bool,
) -> Result<(Script, usize), Failure> {
    let mut config = ScriptConfig::new(seed, peers, switches);
    config.full_trace = full_trace;
    if writes {
        config = config.writing(WRITE_EVERY_US);
    }
    settle(name, config)
}

/// A fresh cluster built from `config`, run until its first leader is followed by all, plus
/// one ET; that leader.
pub(super) fn settle(name: &'static str, config: ScriptConfig) -> Result<(Script, usize), Failure> {
    let mut s = Script::new(name, config)?;
    let first = s.et_us() * FIRST_ELECTION_ET;
    s.elect(first)?;
    s.run_for(s.et_us())?;
    let leader = s.elect(s.et_us())?;
    Ok((s, leader.as_usize()))
}

/// The peers other than `leader`, in id order.
pub(super) fn others(leader: usize, peers: usize) -> Vec<usize> {
    (0..peers).filter(|p| *p != leader).collect()
}

pub(super) fn leads(rafts: &[Option<Raft>], i: usize) -> bool {
    rafts[i].as_ref().is_some_and(Raft::is_leader)
}

fn term_of(s: &Script, i: usize) -> Term {
    s.raft(i).map_or(Term::ZERO, Raft::term)
}

/// Section 8, scenario 1: 3 peers with writes; a follower is cut off for 10 ET, then the
/// cut heals. With pre-vote it never raises its term (its PreVotes go nowhere, and once back
/// its log is behind, so they are refused); it follows the leader again within 1 ET of the
/// heal, and the leader keeps its term. Both off (the contrast): it comes back some terms up
/// and deposes the leader.
///
/// # Errors
/// A [`Failure`] if a claim made for pre-vote fails, or an invariant breaks.
pub fn rejoining_peer(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("rejoining-peer", seed, 3, switches, true, full_trace)?;
    let term = s.term_max();
    let cut = others(leader, 3)[0];
    s.links().isolate(cut);
    s.note(&format!("cut n{cut} off"));
    s.mark();
    s.run_for(10 * s.et_us())?;
    let cut_term = term_of(&s, cut);
    s.links().heal();
    s.note("heal");
    let healed = s.now_us();
    let followed = Some(PeerId(leader as u32));
    let back = s.run_until(healed + s.et_us(), |r| {
        r[cut]
            .as_ref()
            .is_some_and(|p| p.leader_id() == followed && p.role() == RoleKind::Follower)
    })?;
    s.run_for(10 * s.et_us())?;
    let mut figures = s.figures();
    figures.event_us = back.map(|t| t - healed);
    if switches.pre_vote {
        s.check(cut_term == term, || {
            format!("n{cut} went from term {term} to {cut_term} while cut off")
        })?;
        s.check(back.is_some(), || {
            format!("n{cut} follows no leader 1 ET after the heal")
        })?;
        s.check(s.term_max() == term && figures.leader_changes == 0, || {
            format!(
                "the rejoining peer disturbed the cluster: term {term} -> {}, {} leader changes",
                s.term_max(),
                figures.leader_changes
            )
        })?;
    }
    Ok(figures)
}

/// Section 8, scenario 3 (etcd #8243): 3 peers, one down; the pre-candidate is at term 7
/// with the longer log, its one reachable voter at term 4 (long cut off). The grant must
/// carry the proposed term, or the pre-candidate discards it as stale: a leader within 3 ET
/// of the start.
///
/// # Errors
/// A [`Failure`] if no leader is in place within 3 ET, or an invariant breaks.
pub fn lagging_voter(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    use raft_core::{Entry, HardState, LogIndex};

    use crate::durable::Durable;

    let mut config = ScriptConfig::new(seed, 3, switches);
    config.full_trace = full_trace;
    let mut s = Script::new("lagging-voter", config)?;
    let entry = |index: u64, term: u64| Entry {
        index: LogIndex(index),
        term: Term(term),
        command: Bytes::new(),
    };
    let state = |term: u64, entries: Vec<Entry>| Durable {
        hard_state: HardState {
            current_term: Term(term),
            voted_for: None,
        },
        snapshot: None,
        entries,
    };
    s.restart_with(0, state(7, vec![entry(1, 1), entry(2, 7)]))?;
    s.restart_with(1, state(4, vec![entry(1, 1)]))?;
    s.crash(2);
    s.note("n0 at term 7, n1 at term 4, n2 down");
    s.mark();
    let elected = s.run_until(s.et_us() * 3, |r| leads(r, 0) || leads(r, 1))?;
    let mut figures = s.figures();
    figures.event_us = elected;
    s.check(!switches.pre_vote || elected.is_some(), || {
        "no leader within 3 ET".to_owned()
    })?;
    Ok(figures)
}

/// Section 8, scenario 5 (etcd's TestPreVoteWithCheckQuorum; #8334, #9586, raft-rs #84),
/// both switches on: 3 peers; the leader is cut off; the first follower's timer is made to
/// run out at once (the other, which heard the leader less than a timeout ago, ignores its
/// PreVote), then the second's, two ticks later. The first forgot its leader when it became
/// a pre-candidate, so it grants: one of the two leads within 1 ET of the cut. A
/// pre-candidate that kept its leader would ignore the second in turn, and nothing could
/// happen before the first one's next timeout, at least 1 ET away.
///
/// # Errors
/// A [`Failure`] if no leader is in place within 1 ET of the cut, or an invariant breaks.
pub fn isolated_leader(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("isolated-leader", seed, 3, switches, false, full_trace)?;
    let claims = switches == Switches::BOTH;
    let (first, second) = match others(leader, 3)[..] {
        [a, b] => (b, a),
        _ => return Err(s.fail("three peers make two followers".to_owned())),
    };
    s.links().isolate(leader);
    s.note(&format!("cut the leader n{leader} off"));
    s.mark();
    let cut = s.now_us();
    s.force_timeout(first)?;
    s.run_for(2 * s.tick_us())?;
    let ignored = s
        .raft(second)
        .is_some_and(|r| r.leader_id() == Some(PeerId(leader as u32)));
    s.check(!claims || ignored, || {
        format!("n{second} stopped following n{leader} at once")
    })?;
    s.force_timeout(second)?;
    let elected = s.run_until(cut + s.et_us(), |r| leads(r, first) || leads(r, second))?;
    let mut figures = s.figures();
    figures.event_us = elected.map(|t| t - cut);
    s.check(!claims || elected.is_some(), || {
        format!("neither n{first} nor n{second} leads 1 ET after the cut")
    })?;
    Ok(figures)
}

/// Section 2.2 of the reference (etcd #9892's shape): 3 peers, both switches; the leader
/// crashes. One ET and a little after its last heartbeat could have arrived, every follower's
/// window of ignoring votes has closed, though a follower whose own timeout is longer still
/// knows the dead leader. Then one follower's timer is made to run out: the other grants its
/// pre-vote and its vote, and it leads within four one-way delays and two ticks. A follower
/// that kept ignoring votes while it remembered its leader (the mutant
/// `votes-ignored-after-leader-died`) would hold the election off until its own timeout.
/// Seeds on which both followers timed out on their own first, or the voter's own timer runs
/// out within the bound (both campaign; a split vote may follow), make no claim.
///
/// # Errors
/// A [`Failure`] if the bound is missed, or an invariant breaks.
pub fn dead_leader_voter(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("dead-leader-voter", seed, 3, switches, false, full_trace)?;
    let claims = switches.check_quorum;
    s.crash(leader);
    s.note(&format!("the leader n{leader} crashed"));
    s.mark();
    s.run_for(s.et_us() + 3 * s.tick_us() + s.delay_max_us())?;
    let dead = Some(PeerId(leader as u32));
    let waiting: Vec<usize> = others(leader, 3)
        .into_iter()
        .filter(|i| {
            s.raft(*i)
                .is_some_and(|r| r.role() == RoleKind::Follower && r.leader_id() == dead)
        })
        .collect();
    let [candidate, voter] = match waiting[..] {
        [a, b] => [a, b],
        [a] => [others(leader, 3).into_iter().find(|i| *i != a).unwrap_or(a), a],
        _ => return Ok(s.figures()),
    };
    if s.raft(candidate).is_none_or(|r| r.role() != RoleKind::Follower) {
        return Ok(s.figures());
    }
    let forced = s.now_us();
    let voter_term = term_of(&s, voter);
    s.force_timeout(candidate)?;
    let bound = 4 * s.delay_max_us() + 2 * s.tick_us();
    let elected = s.run_until(forced + bound, |r| leads(r, candidate) || leads(r, voter))?;
    // A voter whose own timer ran out meanwhile campaigned too (a split vote may follow):
    // that seed makes no claim.
    let voter_campaigned = s
        .raft(voter)
        .is_some_and(|r| r.term() > voter_term || r.role() != RoleKind::Follower);
    s.check(!claims || elected.is_some() || voter_campaigned, || {
        format!("n{voter}, whose leader died over an ET ago, held off n{candidate}'s election")
    })?;
    let mut figures = s.figures();
    figures.event_us = elected.map(|t| t - forced);
    Ok(figures)
}

/// Section 8, scenario 6: 3 peers with writes; the leader is cut off. It steps down within
/// 2 ET (windows are counted whole), in the same term with the same vote, and refuses
/// proposals; the other two elect a leader within 5 ET of the cut (their timeouts, at most
/// 2 ET, and room for one split vote: both may win their pre-votes at once).
///
/// # Errors
/// A [`Failure`] if a bound is missed, or an invariant breaks.
pub fn isolated_leader_steps_down(
    seed: u64,
    switches: Switches,
    full_trace: bool,
) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("isolated-leader-steps-down", seed, 3, switches, true, full_trace)?;
    let claims = switches.check_quorum;
    let before = s.raft(leader).map(|r| (r.term(), r.voted_for()));
    s.links().isolate(leader);
    s.note(&format!("cut the leader n{leader} off"));
    s.mark();
    let cut = s.now_us();
    let stepped = s.run_until(cut + 2 * s.et_us(), |r| !leads(r, leader))?;
    s.check(!claims || stepped.is_some(), || {
        format!("n{leader} still leads 2 ET after the cut")
    })?;
    let after = s.raft(leader).map(|r| (r.term(), r.voted_for()));
    s.check(!claims || after == before, || {
        format!("n{leader} stepped down from {before:?} to {after:?}: not the same term and vote")
    })?;
    let refused = s.propose(leader)?.is_none();
    s.check(!claims || refused, || {
        format!("n{leader} took a proposal after stepping down")
    })?;
    let elected = s.run_until(cut + 5 * s.et_us(), |r| {
        (0..3).any(|i| i != leader && leads(r, i))
    })?;
    s.check(!claims || elected.is_some(), || {
        "no new leader 5 ET after the cut".to_owned()
    })?;
    let mut figures = s.figures();
    figures.event_us = stepped.map(|t| t - cut);
    Ok(figures)
}

/// Section 8, scenario 7 (Howard and Abraham; Cloudflare, November 2020): 5 peers with
/// writes; the leader L and two others x, y are fully connected, p is linked to x only and q
/// to L only. Both switches on: for 100 ET no term changes, the leader stays, and every 10 ET
/// commits. Both off (the contrast): p's elections raise the term through x again and again,
/// and leadership churns.
///
/// # Errors
/// A [`Failure`] if a claim made for both switches fails, or an invariant breaks.
pub fn partial_partition_a(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("partial-partition-a", seed, 5, switches, true, full_trace)?;
    let [x, y, p, q] = four(&s, leader)?;
    s.links()
        .only(&[(leader, x), (leader, y), (x, y), (p, x), (q, leader)]);
    s.note(&format!(
        "partial partition: n{leader} n{x} n{y} meshed, n{p}-n{x}, n{q}-n{leader}"
    ));
    s.mark();
    let both = switches.pre_vote && switches.check_quorum;
    for window in 0..10 {
        let commits = s.commits();
        s.run_for(10 * s.et_us())?;
        let stalled = s.commits() == commits;
        s.check(!both || !stalled, || {
            format!("no commit in window {window} of 10 ET")
        })?;
    }
    let figures = s.figures();
    if both {
        s.check(figures.terms_raised == 0 && figures.leader_changes == 0, || {
            format!(
                "{} terms raised, {} leader changes in 100 ET",
                figures.terms_raised, figures.leader_changes
            )
        })?;
    }
    Ok(figures)
}

/// Section 8, scenario 8 (Howard and Abraham, 2.1(b)): 5 peers with writes; the leader L
/// now reaches only x; x, y, z are fully connected; q is down. Both switches on: L steps
/// down within 2 ET of the cut, and one of x, y, z leads and commits within 6 ET (L's
/// step-down, then x's timeout, at most 2 ET later, whose PreVote y and z grant; room for one
/// split vote). With vote ignoring but no step-down (the
/// mutant `ignore-votes-forever`) x keeps hearing L and ignores y and z forever.
///
/// # Errors
/// A [`Failure`] if a bound is missed, or an invariant breaks.
pub fn partial_partition_b(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("partial-partition-b", seed, 5, switches, true, full_trace)?;
    let claims = switches.pre_vote && switches.check_quorum;
    let [x, y, z, q] = four(&s, leader)?;
    s.crash(q);
    s.links().only(&[(leader, x), (x, y), (x, z), (y, z)]);
    s.note(&format!(
        "n{q} down; n{leader} reaches only n{x}; n{x} n{y} n{z} meshed"
    ));
    s.mark();
    let cut = s.now_us();
    let committed = [x, y, z]
        .iter()
        .filter_map(|i| s.raft(*i).map(Raft::commit_index))
        .max()
        .unwrap_or_default();
    let stepped = s.run_until(cut + 2 * s.et_us(), |r| !leads(r, leader))?;
    s.check(!claims || stepped.is_some(), || {
        format!("n{leader} still leads 2 ET after the cut")
    })?;
    let progress = s.run_until(cut + 6 * s.et_us(), |r| {
        [x, y, z].iter().any(|i| {
            r[*i]
                .as_ref()
                .is_some_and(|p| p.is_leader() && p.commit_index() > committed)
        })
    })?;
    s.check(!claims || progress.is_some(), || {
        format!("none of n{x} n{y} n{z} leads and commits 6 ET after the cut")
    })?;
    let mut figures = s.figures();
    figures.event_us = progress.map(|t| t - cut);
    Ok(figures)
}

/// Section 8, scenario 10a: 3 peers with writes; a follower can send but receives nothing.
/// Both switches on: for 20 ET no term changes and the leader stays (its PreVotes are
/// ignored, and no answer could reach it anyway). Both off (the contrast): its RequestVotes
/// raise everyone's term.
///
/// # Errors
/// A [`Failure`] if a claim made for both switches fails, or an invariant breaks.
pub fn send_only_peer(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("send-only-peer", seed, 3, switches, true, full_trace)?;
    let deaf = others(leader, 3)[0];
    for other in 0..3 {
        if other != deaf {
            s.links().set(other, deaf, false);
        }
    }
    s.note(&format!("n{deaf} can send but receives nothing"));
    s.mark();
    s.run_for(20 * s.et_us())?;
    let figures = s.figures();
    if switches.pre_vote && switches.check_quorum {
        s.check(
            figures.terms_raised == 0 && figures.leader_changes == 0 && figures.commits > 0,
            || {
                format!(
                    "{} terms raised, {} leader changes, {} commits in 20 ET",
                    figures.terms_raised, figures.leader_changes, figures.commits
                )
            },
        )?;
    }
    Ok(figures)
}

/// Section 8, scenario 10b: 3 peers with writes; the leader can send but receives nothing.
/// Its heartbeats still hold the followers, but no reply reaches it: it steps down within
/// 2 ET; then the followers' timers run out (at most 2 ET after its last heartbeat) and one
/// of them leads within 6 ET of the cut (room for one split vote, 2 ET more).
///
/// # Errors
/// A [`Failure`] if a bound is missed, or an invariant breaks.
pub fn deaf_leader(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("deaf-leader", seed, 3, switches, true, full_trace)?;
    let claims = switches.pre_vote && switches.check_quorum;
    for other in 0..3 {
        if other != leader {
            s.links().set(other, leader, false);
        }
    }
    s.note(&format!("the leader n{leader} can send but receives nothing"));
    s.mark();
    let cut = s.now_us();
    let stepped = s.run_until(cut + 2 * s.et_us(), |r| !leads(r, leader))?;
    s.check(!claims || stepped.is_some(), || {
        format!("n{leader} still leads 2 ET after the cut")
    })?;
    let elected = s.run_until(cut + 6 * s.et_us(), |r| {
        (0..3).any(|i| i != leader && leads(r, i))
    })?;
    s.check(!claims || elected.is_some(), || {
        "no new leader 6 ET after the cut".to_owned()
    })?;
    let mut figures = s.figures();
    figures.event_us = elected.map(|t| t - cut);
    Ok(figures)
}

/// Section 8, scenario 11 (2.3; etcd's TestFreeStuckCandidateWithCheckQuorum): 3 peers with
/// writes, both switches on; a follower comes back from a long absence at the leader's term
/// plus 15 (as a peer without pre-vote would). Vote ignoring holds off its elections, but
/// its first answer to the leader's AppendEntries carries its term: the leader steps down
/// within one heartbeat interval and a round trip, and a leader is in place, followed by
/// all, within 3 ET.
///
/// # Errors
/// A [`Failure`] if a bound is missed, or an invariant breaks.
pub fn stuck_higher_term(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("stuck-higher-term", seed, 3, switches, true, full_trace)?;
    let claims = switches.check_quorum;
    let stuck = others(leader, 3)[0];
    let high = Term(s.term_max().0 + 15);
    let mut durable = s.durable(stuck);
    durable.hard_state.current_term = high;
    durable.hard_state.voted_for = None;
    s.restart_with(stuck, durable)?;
    s.note(&format!("n{stuck} back at term {high}"));
    s.mark();
    let back = s.now_us();
    let reply_bound = s.heartbeat_us() + s.et_us() / 10;
    let deposed = s.run_until(back + reply_bound, |r| {
        r[leader]
            .as_ref()
            .is_some_and(|l| !l.is_leader() && l.term() >= high)
    })?;
    s.check(!claims || deposed.is_some(), || {
        format!("n{leader} did not step down to term {high} within a heartbeat and a round trip")
    })?;
    if claims {
        s.elect(3 * s.et_us())?;
    }
    let mut figures = s.figures();
    figures.event_us = Some(s.now_us() - back);
    Ok(figures)
}

/// The four peers other than `leader`, in id order.
fn four(s: &Script, leader: usize) -> Result<[usize; 4], Failure> {
    match others(leader, 5)[..] {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(s.fail("five peers make four followers".to_owned())),
    }
}
