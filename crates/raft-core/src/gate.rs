//! The gate: every message from the network is checked here, once, before the term rule and
//! before any rule of Figure 2 sees it.
//!
//! Figure 2 assumes that peers may crash, stall and lose messages, but never lie. A network
//! can still deliver bytes that decode into something no correct peer sends (a bug in another
//! version, a corrupted frame that survived its checksum, a hostile sender), and the rules
//! below the gate do index arithmetic and log surgery on what a message says. So the gate
//! (`Raft::admit_request`, `Raft::admit_reply`, run first by [`Raft::step_request`] and
//! [`Raft::step_reply`]) refuses, before anything changes:
//!
//! - **who**: a message from this peer itself or from a peer outside the config, and a
//!   request whose `candidate_id` or `leader_id` is not the peer it came from (a TimeoutNow
//!   included: only the leader it names may start its target's election);
//! - **range**: a term above [`TERM_MAX`] or an index above [`LOG_INDEX_MAX`] (so that
//!   `prev_log_index + entries.len()`, `Term::next` and `LogIndex::next` never overflow, and a
//!   peer that adopts the highest term still has room to campaign), and a request in term 0
//!   (no candidate or leader exists there);
//! - **shape**: log positions that cannot be (index 0 with a non-zero term or the reverse; a
//!   `prev_log_term`, `last_log_term` or `last_included_term` above the message's term);
//!   entries that do not follow `prev_log_index` one by one, or whose terms decrease, fall
//!   below `prev_log_term`, are 0, or exceed the message's term; replies with impossible
//!   contents (a conflict term above the reply's term, a match past the leader's log, a
//!   heartbeat round the leader has not sent);
//! - **history**: a request of the current term or later that contradicts what this peer knows
//!   to be committed (another term at an index at or below `commit_index`, the snapshot's
//!   last entry included). By Leader Completeness (section 5.4) a leader of such a term holds
//!   every committed entry, so in a correct cluster this never happens: the count of
//!   [`Refusal::ContradictsCommitted`] is a safety signal a simulator can check.
//!
//! A refused message is dropped without a reply, traced (`tracing::warn!` with the peer,
//! sender, term, message kind and reason) and counted per [`Refusal`] in [`Refused`], which
//! the runtime reads through [`Raft::refused`]. Nothing else changes: not the term, the vote,
//! the log, the commit index or the election timer.
//!
//! What a correct but late peer sends (an old term, a stale reply, a delayed request that
//! no longer matches) is not refused here: the rules of Figure 2 answer it.

use core::fmt;

use crate::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, InstallSnapshotReply, Reply,
    Request, RequestVoteArgs, TimeoutNowArgs,
};
use crate::raft::{Raft, Role};
use crate::{LogIndex, PeerId, Term};

/// The highest term a message may carry: half the range of `u64`.
///
/// A peer adopts any higher term it sees (the term rule), and a candidate increments its term.
/// A peer that adopted `u64::MAX` could never campaign again; below this bound there remain
/// 2^63 elections, more than any cluster will hold.
pub const TERM_MAX: Term = Term(u64::MAX >> 1);

/// The most a message's term may lie above this peer's own: 2^32 elections, more than a peer
/// cut off for decades would hold (one every election timeout).
///
/// Without it one forged message in a term just under [`TERM_MAX`] would use up the term space
/// of the whole cluster: its receiver's replies carry the term to the leader, every peer adopts
/// it, and the next campaign, past [`TERM_MAX`], is refused by all. With it one forged message
/// moves its receiver at most this far. Usually that costs one election, as any higher term
/// does (section 5.1): the receiver's next reply carries the term to the leader, within the
/// bound, and the cluster moves up together. But a receiver that campaigns before any leader
/// hears from it asks in a term past every other peer's bound, and stays cut off until the
/// others' terms come within reach. Pre-vote ([`crate::Config::pre_vote`]) closes that: a
/// candidate raises its term only once a majority would vote for it.
pub const TERM_JUMP_MAX: u64 = 1 << 32;

/// The highest log index a message may name: half the range of `u64`, so that
/// `prev_log_index + entries.len()` always fits and a follower that stores the last allowed
/// index can still append after it once it leads.
pub const LOG_INDEX_MAX: LogIndex = LogIndex(u64::MAX >> 1);

/// Why the gate refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// The message claims to come from this peer itself.
    FromSelf,
    /// The sender is not in this peer's config.
    UnknownPeer,
    /// A request names another sender (`candidate_id`, `leader_id`) than the peer it came from.
    Impersonation,
    /// A term above [`TERM_MAX`] or more than [`TERM_JUMP_MAX`] above this peer's, or a request
    /// in term 0.
    TermOutOfRange,
    /// An index above [`LOG_INDEX_MAX`], or entries that would end past it.
    IndexOutOfRange,
    /// A log position that cannot exist: index 0 with a non-zero term (or the reverse), or a
    /// position whose term is above the message's own term.
    PositionImpossible,
    /// AppendEntries whose entries do not follow `prev_log_index` one by one.
    EntriesNotConsecutive,
    /// AppendEntries whose entry terms are 0, decrease, fall below `prev_log_term`, or exceed
    /// the message's term.
    EntryTermImpossible,
    /// A reply no correct peer sends: a conflict term above the reply's term (or 0), or a
    /// match index past everything this leader could have sent.
    ImpossibleReply,
    /// A request of the current term or later that contradicts an entry this peer knows to be
    /// committed. Never happens in a correct cluster (Leader Completeness).
    ContradictsCommitted,
}

impl Refusal {
    /// Every reason, in the order [`Refused`] counts them.
    pub const ALL: [Refusal; 10] = [
        Refusal::FromSelf,
        Refusal::UnknownPeer,
        Refusal::Impersonation,
        Refusal::TermOutOfRange,
        Refusal::IndexOutOfRange,
        Refusal::PositionImpossible,
        Refusal::EntriesNotConsecutive,
        Refusal::EntryTermImpossible,
        Refusal::ImpossibleReply,
        Refusal::ContradictsCommitted,
    ];

    /// A short name, for traces and counters.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Refusal::FromSelf => "from-self",
            Refusal::UnknownPeer => "unknown-peer",
            Refusal::Impersonation => "impersonation",
            Refusal::TermOutOfRange => "term-out-of-range",
            Refusal::IndexOutOfRange => "index-out-of-range",
            Refusal::PositionImpossible => "position-impossible",
            Refusal::EntriesNotConsecutive => "entries-not-consecutive",
            Refusal::EntryTermImpossible => "entry-term-impossible",
            Refusal::ImpossibleReply => "impossible-reply",
            Refusal::ContradictsCommitted => "contradicts-committed",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many messages the gate refused, per [`Refusal`], since the peer started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    counts: [u64; Refusal::ALL.len()],
}

impl Refused {
    /// Messages refused for `reason`.
    #[must_use]
    pub fn count(&self, reason: Refusal) -> u64 {
        self.counts[reason.slot()]
    }

    /// Messages refused for any reason.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |sum, c| sum.saturating_add(*c))
    }

    /// Each reason with its count, in [`Refusal::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::ALL.iter().map(|r| (*r, self.count(*r)))
    }

    fn record(&mut self, reason: Refusal) {
        let slot = &mut self.counts[reason.slot()];
        *slot = slot.saturating_add(1);
    }
}

/// True if a log position can exist: index 0 ("before the first entry") has term 0 and only
/// it does, since every entry is created by a leader of term 1 or later.
fn position_possible(index: LogIndex, term: Term) -> bool {
    (index == LogIndex::ZERO) == (term == Term::ZERO)
}

/// A request's term: within range and not 0.
fn request_term(term: Term) -> Result<(), Refusal> {
    if term == Term::ZERO || term > TERM_MAX {
        return Err(Refusal::TermOutOfRange);
    }
    Ok(())
}

/// An index named by a message: within range.
fn index_in_range(index: LogIndex) -> Result<(), Refusal> {
    if index > LOG_INDEX_MAX {
        return Err(Refusal::IndexOutOfRange);
    }
    Ok(())
}

/// A position `(index, term)` named by a message in `message_term`: possible, and no later
/// than the message itself.
fn position_within(index: LogIndex, term: Term, message_term: Term) -> Result<(), Refusal> {
    index_in_range(index)?;
    if !position_possible(index, term) || term > message_term {
        return Err(Refusal::PositionImpossible);
    }
    Ok(())
}

fn check_request_vote(from: PeerId, args: &RequestVoteArgs) -> Result<(), Refusal> {
    if args.candidate_id != from {
        return Err(Refusal::Impersonation);
    }
    request_term(args.term)?;
    position_within(args.last_log_index, args.last_log_term, args.term)
}

/// The shape of an AppendEntries: what a correct leader could send, whatever the receiver
/// holds. Its entries continue `prev_log_index` one by one, with terms that never decrease,
/// from `prev_log_term` up to the request's term.
fn check_append_entries(from: PeerId, args: &AppendEntriesArgs) -> Result<(), Refusal> {
    if args.leader_id != from {
        return Err(Refusal::Impersonation);
    }
    request_term(args.term)?;
    index_in_range(args.leader_commit)?;
    position_within(args.prev_log_index, args.prev_log_term, args.term)?;
    let count = u64::try_from(args.entries.len()).map_err(|_| Refusal::IndexOutOfRange)?;
    let last = args
        .prev_log_index
        .0
        .checked_add(count)
        .ok_or(Refusal::IndexOutOfRange)?;
    index_in_range(LogIndex(last))?;
    // Below LOG_INDEX_MAX, `expected` cannot overflow: it stops at `last + 1`.
    let mut expected = args.prev_log_index.next();
    let mut term = args.prev_log_term;
    for entry in &args.entries {
        if entry.index != expected {
            return Err(Refusal::EntriesNotConsecutive);
        }
        if entry.term == Term::ZERO || entry.term < term || entry.term > args.term {
            return Err(Refusal::EntryTermImpossible);
        }
        expected = expected.next();
        term = entry.term;
    }
    Ok(())
}

fn check_install_snapshot(from: PeerId, args: &InstallSnapshotArgs) -> Result<(), Refusal> {
    if args.leader_id != from {
        return Err(Refusal::Impersonation);
    }
    request_term(args.term)?;
    position_within(args.last_included_index, args.last_included_term, args.term)
}

/// A TimeoutNow names its sender as the leader, in a term a request may have.
fn check_timeout_now(from: PeerId, args: &TimeoutNowArgs) -> Result<(), Refusal> {
    if args.leader_id != from {
        return Err(Refusal::Impersonation);
    }
    request_term(args.term)
}

fn check_append_entries_reply(reply: &AppendEntriesReply) -> Result<(), Refusal> {
    match &reply.outcome {
        AppendOutcome::StaleTerm => Ok(()),
        AppendOutcome::Success { match_index } => index_in_range(*match_index),
        AppendOutcome::Conflict {
            conflict_term,
            conflict_index,
        } => {
            index_in_range(*conflict_index)?;
            match conflict_term {
                Some(term) if *term == Term::ZERO || *term > reply.term => Err(Refusal::ImpossibleReply),
                _ => Ok(()),
            }
        }
    }
}

fn check_install_snapshot_reply(reply: &InstallSnapshotReply) -> Result<(), Refusal> {
    index_in_range(reply.match_index)
}

impl Raft {
    /// Who sent it and in which term: checks every message shares.
    fn admit_sender(&self, from: PeerId, term: Term) -> Result<(), Refusal> {
        if from == self.config.id {
            return Err(Refusal::FromSelf);
        }
        if !self.config.peers.contains(&from) {
            return Err(Refusal::UnknownPeer);
        }
        if term > TERM_MAX || term.0 > self.current_term.0.saturating_add(TERM_JUMP_MAX) {
            return Err(Refusal::TermOutOfRange);
        }
        Ok(())
    }

    /// The gate for a request: `Ok` if it may reach the rules of Figure 2, else why not.
    /// Reads this peer's state, changes nothing. The checks are listed in the module doc.
    pub(crate) fn admit_request(&self, from: PeerId, request: &Request) -> Result<(), Refusal> {
        self.admit_sender(from, request.term())?;
        match request {
            Request::RequestVote(args) | Request::PreVote(args) => check_request_vote(from, args),
            Request::AppendEntries(args) => {
                check_append_entries(from, args)?;
                self.check_append_against_commit(args)
            }
            Request::InstallSnapshot(args) => {
                check_install_snapshot(from, args)?;
                self.check_snapshot_against_commit(args)
            }
            Request::TimeoutNow(args) => check_timeout_now(from, args),
        }
    }

    /// The gate for a reply, as [`Raft::admit_request`] is for a request.
    pub(crate) fn admit_reply(&self, from: PeerId, reply: &Reply) -> Result<(), Refusal> {
        self.admit_sender(from, reply.term())?;
        match reply {
            Reply::RequestVote(_) | Reply::PreVote(_) | Reply::TimeoutNow(_) => Ok(()),
            Reply::AppendEntries(reply) => {
                check_append_entries_reply(reply)?;
                self.check_round(reply)?;
                match reply.outcome {
                    AppendOutcome::Success { match_index } => self.check_match(reply.term, match_index),
                    _ => Ok(()),
                }
            }
            Reply::InstallSnapshot(reply) => {
                check_install_snapshot_reply(reply)?;
                self.check_match(reply.term, reply.match_index)
            }
        }
    }

    /// Counts and traces a refused message (`message` names it, `message_term` is its term).
    /// Nothing else changes.
    pub(crate) fn refuse(
        &mut self,
        from: PeerId,
        message: &'static str,
        message_term: Term,
        reason: Refusal,
    ) {
        self.refused.record(reason);
        tracing::warn!(
            peer = %self.config.id, term = %self.current_term, from = %from,
            message, message_term = %message_term, reason = reason.name(),
            "message refused at the gate"
        );
    }

    /// An entry at `index` with `term`, claimed by a request of the current term or later:
    /// refused if this peer knows `index` is committed with another term. Only the snapshot's
    /// last entry and the entries held have a known term.
    fn check_committed_position(&self, index: LogIndex, term: Term) -> Result<(), Refusal> {
        if index > self.commit_index {
            return Ok(());
        }
        match self.log.term_at(index) {
            Some(committed) if committed != term => Err(Refusal::ContradictsCommitted),
            _ => Ok(()),
        }
    }

    /// An AppendEntries of the current term or later must agree with the committed log at
    /// `prev_log_index` and at every entry it carries up to `commit_index`.
    fn check_append_against_commit(&self, args: &AppendEntriesArgs) -> Result<(), Refusal> {
        if args.term < self.current_term {
            // A deposed leader's late request may disagree with what a later leader
            // committed: receiver rule 1 answers it with the current term.
            return Ok(());
        }
        self.check_committed_position(args.prev_log_index, args.prev_log_term)?;
        args.entries
            .iter()
            .take_while(|e| e.index <= self.commit_index)
            .try_for_each(|e| self.check_committed_position(e.index, e.term))
    }

    /// An InstallSnapshot of the current term or later must agree with the committed log at
    /// its last included entry.
    ///
    /// A snapshot that reaches past `commit_index` must also end in a term no lower than the
    /// committed entry at `commit_index`: terms never decrease along a log, and the leader
    /// that sent it holds that entry (Leader Completeness).
    fn check_snapshot_against_commit(&self, args: &InstallSnapshotArgs) -> Result<(), Refusal> {
        if args.term < self.current_term {
            return Ok(());
        }
        if args.last_included_index > self.commit_index {
            return match self.log.term_at(self.commit_index) {
                Some(committed) if args.last_included_term < committed => Err(Refusal::ContradictsCommitted),
                _ => Ok(()),
            };
        }
        self.check_committed_position(args.last_included_index, args.last_included_term)
    }

    /// A reply of this leader's term claims the follower holds its log through `match_index`;
    /// the leader never sent past its own last entry (its log only grows while it leads).
    /// A reply of this leader's term that echoes a heartbeat round it has not sent yet (a
    /// forged ack would confirm reads: [`crate::Raft::read`]).
    fn check_round(&self, reply: &AppendEntriesReply) -> Result<(), Refusal> {
        match &self.role {
            Role::Leader { reads, .. } if reply.term == self.current_term && reply.round > reads.round() => {
                Err(Refusal::ImpossibleReply)
            }
            _ => Ok(()),
        }
    }

    fn check_match(&self, reply_term: Term, match_index: LogIndex) -> Result<(), Refusal> {
        if reply_term == self.current_term && self.is_leader() && match_index > self.log.last_index() {
            return Err(Refusal::ImpossibleReply);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_in_the_order_of_all() {
        let mut refused = Refused::default();
        for (i, reason) in Refusal::ALL.iter().enumerate() {
            assert_eq!(reason.slot(), i, "{reason} is counted in its own slot");
            for _ in 0..=i {
                refused.record(*reason);
            }
        }
        for (i, (reason, count)) in refused.iter().enumerate() {
            assert_eq!(count, i as u64 + 1, "{reason}");
        }
        let n = Refusal::ALL.len() as u64;
        assert_eq!(refused.total(), n * (n + 1) / 2);
    }

    #[test]
    fn the_limits_leave_room_for_the_arithmetic_they_guard() {
        assert!(
            TERM_MAX.0.checked_add(1 << 32).is_some(),
            "campaigns after the highest term"
        );
        let longest = u64::try_from(isize::MAX).unwrap_or(u64::MAX);
        assert!(
            LOG_INDEX_MAX.0.checked_add(longest).is_some(),
            "prev_log_index + entries.len()"
        );
    }
}
