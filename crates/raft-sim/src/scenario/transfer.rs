//! The leadership-transfer scenarios (thesis section 3.10), numbered as in section 8 of issue
//! 16's production-raft reference. Each states its bound in election timeouts ("ET", the
//! shortest, 300 ms here) or in one-way delays (at most 10 ms each here), and runs with both
//! switches as its own. A transfer needs neither pre-vote nor check-quorum, so 12-14 make
//! every claim with the switches off as well; 15 is about vote ignoring, and with
//! check-quorum off it only measures (the contrast).
//!
//! | scenario | section 8 | claim |
//! | --- | --- | --- |
//! | `transfer-up-to-date` | 12 | TimeoutNow at once; proposals refused; the target leads term + 1 within 3 delays, no pre-vote |
//! | `transfer-lagging` | 13 | TimeoutNow only once the target matches the last index; it holds the whole log when it campaigns; leads within 2 ET |
//! | `transfer-target-crash` | 14 | the leader abandons the transfer within 1 ET + 1 tick and commits again, same term, within 2 ET |
//! | `transfer-under-vote-ignoring` | 15 | 5 peers: the flagged election wins within 3 delays while an unflagged one started at the same moment is ignored |

use std::cell::Cell;

use raft_core::{LogIndex, PeerId, Raft, RoleKind, Term};

use super::production::{leads, others, steady};
use super::{Failure, Figures, Script};
use crate::config::Switches;

/// How many entries the lagging target misses in scenario 13.
const LAG_ENTRIES: usize = 50;

/// True if `leader` leads and `peer` holds its whole log with nothing unanswered: `peer` has
/// just answered the leader's latest request (within a round trip).
fn caught_up(rafts: &[Option<Raft>], leader: usize, peer: usize) -> bool {
    rafts[leader].as_ref().is_some_and(|l| {
        let last = l.log().last_index();
        l.progress()
            .and_then(|p| p.get(&id(peer)))
            .is_some_and(|p| p.match_index == last && p.in_flight == 0)
    })
}

fn id(i: usize) -> PeerId {
    PeerId(i as u32)
}

fn term_of(s: &Script, i: usize) -> Term {
    s.raft(i).map_or(Term::ZERO, Raft::term)
}

/// Runs until `peer` has just answered `leader` with its whole log, within 1 ET.
fn wait_caught_up(s: &mut Script, leader: usize, peers: &[usize]) -> Result<(), Failure> {
    let caught = s.run_until(s.now_us() + s.et_us(), |r| {
        peers.iter().all(|p| caught_up(r, leader, *p))
    })?;
    s.check(caught.is_some(), || {
        format!("{peers:?} not caught up with n{leader} within 1 ET")
    })
}

/// Asks `leader` to transfer to `target`; fails unless it began.
fn begin(s: &mut Script, leader: usize, target: usize) -> Result<(), Failure> {
    let answer = s.transfer_leadership(leader, target)?;
    s.check(answer.is_ok(), || {
        format!("n{leader} did not begin the transfer: {answer:?}")
    })
}

/// Section 8, scenario 12: 3 peers with writes; the leader transfers to a follower that has
/// just answered with its whole log. TimeoutNow goes out in the same input; a proposal to the
/// leader is refused at once; the target campaigns without a pre-vote round (it is never a
/// pre-candidate) and leads term + 1 within three one-way delays of the request (TimeoutNow,
/// its RequestVote, a grant: every voter's log is at most the leader's, which the target
/// holds, and nobody has voted in term + 1). Every peer follows it within 1 ET more.
///
/// # Errors
/// A [`Failure`] if a claim fails, or an invariant breaks.
pub fn transfer_up_to_date(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("transfer-up-to-date", seed, 3, switches, true, full_trace)?;
    let target = others(leader, 3)[0];
    wait_caught_up(&mut s, leader, &[target])?;
    let term = s.term_max();
    s.mark();
    let request = s.now_us();
    begin(&mut s, leader, target)?;
    let sent = s.raft(leader).is_some_and(Raft::timeout_now_sent);
    s.check(sent, || {
        format!("n{leader} sent no TimeoutNow at once to an up-to-date target")
    })?;
    let refused = s.propose(leader)?.is_none();
    let transferring = s.raft(leader).and_then(Raft::transferring);
    s.check(refused && transferring == Some(id(target)), || {
        format!("n{leader} took a proposal while transferring to {transferring:?}")
    })?;
    let pre_candidate = Cell::new(false);
    let bound = 3 * s.delay_max_us();
    let led = s.run_until(request + bound, |r| {
        if r[target]
            .as_ref()
            .is_some_and(|t| t.role() == RoleKind::PreCandidate)
        {
            pre_candidate.set(true);
        }
        leads(r, target)
    })?;
    s.check(led.is_some(), || {
        format!("n{target} does not lead within 3 delays of the request")
    })?;
    s.check(!pre_candidate.get(), || format!("n{target} ran a pre-vote round"))?;
    s.check(term_of(&s, target) == term.next(), || {
        format!(
            "n{target} leads term {}, not {}",
            term_of(&s, target),
            term.next()
        )
    })?;
    let settled = s.elect(s.et_us())?;
    s.check(settled == id(target), || {
        format!("{settled} leads, not n{target}")
    })?;
    let mut figures = s.figures();
    figures.event_us = led.map(|t| t - request);
    Ok(figures)
}

/// Section 8, scenario 13: 3 peers with writes; right after a follower answered the leader, it
/// is cut off while `LAG_ENTRIES` more entries commit (a few round trips, far less than its
/// election timeout: it never campaigns, whatever the switches), and the transfer to it is
/// asked the moment the cut heals. No TimeoutNow at once; when it goes out, the target's
/// `matchIndex` is the leader's last index (proposals are refused meanwhile, so that index
/// holds still); when the target becomes a candidate its log ends where the leader's does.
/// It leads within 2 ET of the request: the window of unanswered requests, full of ones lost
/// in the cut, reopens at the next heartbeat (at most ET / 2), then a round trip per 64
/// entries and three delays.
///
/// # Errors
/// A [`Failure`] if a claim fails, or an invariant breaks.
pub fn transfer_lagging(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("transfer-lagging", seed, 3, switches, true, full_trace)?;
    let target = others(leader, 3)[0];
    wait_caught_up(&mut s, leader, &[target])?;
    let term = s.term_max();
    s.links().isolate(target);
    s.note(&format!("cut n{target} off"));
    s.mark();
    let mut last = LogIndex::ZERO;
    for _ in 0..LAG_ENTRIES {
        if let Some((index, _)) = s.propose(leader)? {
            last = index;
        }
    }
    let committed = s.run_until(s.now_us() + s.et_us(), |r| {
        r[leader].as_ref().is_some_and(|l| l.commit_index() >= last)
    })?;
    s.check(committed.is_some() && last > LogIndex::ZERO, || {
        format!("{LAG_ENTRIES} entries (through {last}) not committed without n{target} within 1 ET")
    })?;
    s.links().heal();
    s.note("heal");
    let request = s.now_us();
    begin(&mut s, leader, target)?;
    let at_once = s.raft(leader).is_some_and(Raft::timeout_now_sent);
    s.check(!at_once, || {
        format!("TimeoutNow sent at once to n{target}, {LAG_ENTRIES} entries behind")
    })?;
    let deadline = request + 2 * s.et_us();
    let sent = s.run_until(deadline, |r| {
        r[leader].as_ref().is_some_and(Raft::timeout_now_sent)
    })?;
    s.check(sent.is_some(), || {
        format!("no TimeoutNow to n{target} within 2 ET")
    })?;
    let (leader_last, matched) = match s.raft(leader) {
        Some(l) => (
            l.log().last_index(),
            l.progress()
                .and_then(|p| p.get(&id(target)))
                .map(|p| p.match_index),
        ),
        None => (LogIndex::ZERO, None),
    };
    s.check(matched == Some(leader_last), || {
        format!("TimeoutNow sent with n{target} matching {matched:?}, the last index being {leader_last}")
    })?;
    let campaigning = s.run_until(deadline, |r| {
        r[target].as_ref().is_some_and(|t| t.role() != RoleKind::Follower)
    })?;
    s.check(campaigning.is_some(), || format!("n{target} never campaigned"))?;
    let end = |r: Option<&Raft>| r.map(|r| (r.log().last_index(), r.log().last_term()));
    let (target_end, leader_end) = (end(s.raft(target)), end(s.raft(leader)));
    let role = s.raft(target).map(Raft::role);
    s.check(
        role == Some(RoleKind::Candidate) && target_end == leader_end,
        || {
            format!(
                "n{target} campaigns as {role:?} with its log ending at {target_end:?}, the leader's at {leader_end:?}"
            )
        },
    )?;
    let led = s.run_until(deadline, |r| leads(r, target))?;
    s.check(led.is_some(), || {
        format!("n{target} does not lead within 2 ET of the request")
    })?;
    s.check(term_of(&s, target) == term.next(), || {
        format!(
            "n{target} leads term {}, not {}",
            term_of(&s, target),
            term.next()
        )
    })?;
    let mut figures = s.figures();
    figures.event_us = led.map(|t| t - request);
    Ok(figures)
}

/// Section 8, scenario 14: 3 peers with writes; the leader transfers to an up-to-date
/// follower, which crashes in the same instant, before the TimeoutNow can arrive. The leader
/// abandons the transfer within 1 ET + 1 tick of the request (ET of its own ticks, the first
/// less than a tick away) and stays leader in the same term; the client's next writes, taken
/// again, commit with the third peer within 2 ET of the request.
///
/// # Errors
/// A [`Failure`] if a claim fails, or an invariant breaks.
pub fn transfer_target_crash(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure> {
    let (mut s, leader) = steady("transfer-target-crash", seed, 3, switches, true, full_trace)?;
    let target = others(leader, 3)[0];
    wait_caught_up(&mut s, leader, &[target])?;
    let term = s.term_max();
    s.mark();
    let request = s.now_us();
    begin(&mut s, leader, target)?;
    s.crash(target);
    let refused = s.propose(leader)?.is_none();
    s.check(refused, || {
        format!("n{leader} took a proposal while transferring")
    })?;
    let abandoned = s.run_until(request + s.et_us() + s.tick_us(), |r| {
        r[leader].as_ref().is_some_and(|l| l.transferring().is_none())
    })?;
    let still = s.raft(leader).map(|l| (l.is_leader(), l.term()));
    s.check(abandoned.is_some() && still == Some((true, term)), || {
        format!("1 ET + 1 tick after the request: transfer abandoned {abandoned:?}, n{leader} (leads, term) {still:?}")
    })?;
    let commit = s.raft(leader).map_or(LogIndex::ZERO, Raft::commit_index);
    let committed = s.run_until(request + 2 * s.et_us(), |r| {
        r[leader]
            .as_ref()
            .is_some_and(|l| l.is_leader() && l.term() == term && l.commit_index() > commit)
    })?;
    s.check(committed.is_some(), || {
        format!("n{leader} committed nothing in term {term} within 2 ET of the request")
    })?;
    let mut figures = s.figures();
    figures.event_us = abandoned.map(|t| t - request);
    Ok(figures)
}

/// Section 8, scenario 15: 5 peers, both switches; the moment every follower has just
/// answered the leader (each heard it within a round trip, 2 ticks), one follower's election
/// timer is forced to run out and the leader transfers to another. The forced one's PreVotes
/// (or, with check-quorum alone, its RequestVotes) carry no transfer flag and are ignored by
/// every voter that heard the leader; the target's flagged RequestVotes are not. So the
/// target leads term + 1 within three one-way delays, and still leads 1 ET later.
///
/// Five peers, so that the target needs a vote from a peer that heard the leader: the forced
/// peer forgot its leader when it became a pre-candidate and grants anyway, which in a
/// cluster of three would be the majority without any exemption. With check-quorum off (the
/// contrast) the forced election is not ignored and either may win: only safety is
/// checked.
///
/// # Errors
/// A [`Failure`] if a claim made for check-quorum fails, or an invariant breaks.
pub fn transfer_under_vote_ignoring(
    seed: u64,
    switches: Switches,
    full_trace: bool,
) -> Result<Figures, Failure> {
    let (mut s, leader) = steady(
        "transfer-under-vote-ignoring",
        seed,
        5,
        switches,
        false,
        full_trace,
    )?;
    let claims = switches.check_quorum;
    let followers = others(leader, 5);
    let (target, forced) = (followers[0], followers[1]);
    wait_caught_up(&mut s, leader, &followers)?;
    let term = s.term_max();
    s.mark();
    let request = s.now_us();
    s.force_timeout(forced)?;
    begin(&mut s, leader, target)?;
    let bound = 3 * s.delay_max_us();
    let elected = s.run_until(request + bound, |r| leads(r, target) || leads(r, forced))?;
    let new = [target, forced]
        .into_iter()
        .find(|i| s.raft(*i).is_some_and(Raft::is_leader));
    s.check(!claims || (elected.is_some() && new == Some(target)), || {
        format!("3 delays after the request n{target} does not lead (the leader: {new:?})")
    })?;
    s.check(!claims || term_of(&s, target) == term.next(), || {
        format!(
            "n{target} is at term {}, not {}",
            term_of(&s, target),
            term.next()
        )
    })?;
    s.run_for(s.et_us())?;
    let later = s.leader();
    s.check(!claims || later == Some(id(target)), || {
        format!("1 ET later {later:?} leads, not n{target}")
    })?;
    let mut figures = s.figures();
    figures.event_us = elected.map(|t| t - request);
    Ok(figures)
}
