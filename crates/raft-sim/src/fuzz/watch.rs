//! The per-peer properties the fuzzer checks after every input.
//!
//! Raft does not defend against a lying peer: a forged AppendEntries with a high term may
//! legitimately replace a follower's uncommitted entries, so the cluster-wide checkers of
//! [`crate::checkers`] do not hold under forged traffic. What must hold for every input,
//! forged or not, is what one peer promises about itself:
//!
//! | property | checked |
//! |---|---|
//! | [`TERM_NEVER_DECREASES`] | after every input and restart, across the peer's whole life |
//! | [`ONE_VOTE_PER_TERM`] | after every input and restart: a vote, once cast, stays in its term |
//! | [`COMMIT_NEVER_DECREASES`] | after every input, within one incarnation |
//! | [`APPLIED_IN_ORDER`] | on every apply: entries follow one another, a snapshot only moves forward, everything committed is handed out |
//! | [`LOG_TERMS_ORDERED`] | on every snapshot handed to the service: its last term is no lower than that of the entries it follows |
//! | [`COMMITTED_NEVER_CHANGES`] | after every input: the log still holds every entry the peer applied (index, term, command), or a snapshot covering it |
//! | [`PERSISTED_COMMITTED_KEPT`] | after every input: the same of the durable model |
//! | [`DURABLE_MATCHES_PEER`] | after every input: term, vote, snapshot and log end persisted before anything left |
//! | [`RESTARTS_FROM_DURABLE`] | at every restart: `Raft::restore` accepts what the peer persisted and keeps what it applied |
//! | [`PRE_VOTE_LEAVES_NO_TRACE`] | after every PreVote request: term, vote, role, leader, log and commit unchanged; nothing persisted or sent but the answer |
//!
//! A restart forgets the commit index (it is not persisted), so what the peer applied before a
//! crash is checked once, at the restart, and the memory of it is then cut back to the
//! persisted snapshot.

use std::collections::VecDeque;

use raft_core::{Entry, LogIndex, PeerId, Raft, SnapshotMeta, Term};

use crate::checkers::Breach;
use crate::durable::Durable;

/// The term a peer reports never goes down, crashes included.
pub const TERM_NEVER_DECREASES: &str = "Term Never Decreases";
/// A vote cast in a term is never changed in that term, crashes included.
pub const ONE_VOTE_PER_TERM: &str = "One Vote Per Term";
/// Within one incarnation the commit index never goes down.
pub const COMMIT_NEVER_DECREASES: &str = "Commit Index Never Decreases";
/// The service is handed entries in index order, each once, and everything committed.
pub const APPLIED_IN_ORDER: &str = "Applied In Index Order";
/// Terms never decrease along a log: a snapshot that follows applied entries ends in a term
/// no lower than theirs (by Leader Completeness, the leader that sent it held them).
pub const LOG_TERMS_ORDERED: &str = "Terms Never Decrease Along The Log";
/// An entry the peer applied never changes or disappears from its log.
pub const COMMITTED_NEVER_CHANGES: &str = "Committed Entry Never Changes";
/// An entry the peer applied never changes or disappears from its durable state.
pub const PERSISTED_COMMITTED_KEPT: &str = "Persisted Committed Entry Kept";
/// After each Ready, the durable state is what the peer holds: nothing left unpersisted.
pub const DURABLE_MATCHES_PEER: &str = "Durable State Matches The Peer";
/// A restart from the durable state succeeds and keeps what the peer applied.
pub const RESTARTS_FROM_DURABLE: &str = "Restarts From Its Durable State";
/// A PreVote request changes nothing on its receiver (thesis section 9.6): whatever it says,
/// the receiver's term, vote, role, leader, log and commit index stay, and its Ready holds at
/// most the answer.
pub const PRE_VOTE_LEAVES_NO_TRACE: &str = "PreVote Leaves No Trace";
/// A reply comes back under the id the runtime gave the request it answers.
pub const REPLIES_KEYED_BY_REQUEST: &str = "Replies Keyed By Request";

/// Most applied entries remembered per peer. The fuzzer snapshots well before this; if a
/// snapshot cannot be taken, the oldest are forgotten (and no longer checked).
pub const APPLIED_REMEMBERED_MAX: usize = 4096;

/// What the fuzzer remembers about one peer, to check the next input against.
#[derive(Clone, Debug, Default)]
pub struct PeerWatch {
    term: Term,
    voted_for: Option<PeerId>,
    commit_index: LogIndex,
    /// The last index handed to the service in this incarnation.
    applied: LogIndex,
    /// The committed point at or below which entries are no longer remembered one by one.
    anchor: SnapshotMeta,
    /// The applied entries after `anchor`, through `applied`.
    entries: VecDeque<Entry>,
}

impl PeerWatch {
    /// The watch of a peer just built from `durable` (empty for a fresh peer).
    #[must_use]
    pub fn new(durable: &Durable) -> PeerWatch {
        let anchor = durable.snapshot_meta();
        PeerWatch {
            term: durable.hard_state.current_term,
            voted_for: durable.hard_state.voted_for,
            commit_index: anchor.last_included_index,
            applied: anchor.last_included_index,
            anchor,
            entries: VecDeque::new(),
        }
    }

    /// The last index handed to the service.
    #[must_use]
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// The service got `meta`'s snapshot from the leader: it must move the service forward,
    /// and end in a term no lower than the last entry applied.
    ///
    /// # Errors
    /// [`APPLIED_IN_ORDER`] or [`LOG_TERMS_ORDERED`] if it does not.
    pub fn apply_snapshot(&mut self, meta: SnapshotMeta) -> Result<(), Breach> {
        if meta.last_included_index <= self.applied {
            let detail = format!(
                "a snapshot through {} handed to a service that applied through {}",
                meta.last_included_index, self.applied
            );
            return Err(Breach::new(APPLIED_IN_ORDER, detail));
        }
        let last_term = self
            .entries
            .back()
            .map_or(self.anchor.last_included_term, |e| e.term);
        if meta.last_included_term < last_term {
            let detail = format!(
                "a snapshot through {}@{} follows applied entry {}@{last_term}",
                meta.last_included_index, meta.last_included_term, self.applied
            );
            return Err(Breach::new(LOG_TERMS_ORDERED, detail));
        }
        self.applied = meta.last_included_index;
        self.anchor = meta;
        self.entries.clear();
        Ok(())
    }

    /// The service got `entry`: it must be the next one.
    ///
    /// # Errors
    /// [`APPLIED_IN_ORDER`] if it is not.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), Breach> {
        if self.applied.0.checked_add(1) != Some(entry.index.0) {
            let detail = format!(
                "entry {} handed to a service that applied through {}",
                entry.index, self.applied
            );
            return Err(Breach::new(APPLIED_IN_ORDER, detail));
        }
        self.applied = entry.index;
        self.entries.push_back(entry.clone());
        if self.entries.len() > APPLIED_REMEMBERED_MAX
            && let Some(old) = self.entries.pop_front()
        {
            self.anchor = SnapshotMeta {
                last_included_index: old.index,
                last_included_term: old.term,
            };
        }
        Ok(())
    }

    /// Checks `raft` and its `durable` state after an input was carried out.
    ///
    /// # Errors
    /// The first property broken.
    pub fn after_input(&mut self, raft: &Raft, durable: &Durable) -> Result<(), Breach> {
        self.check_term_and_vote(raft.term(), raft.voted_for())?;
        if raft.commit_index() < self.commit_index {
            let detail = format!("commit index {} -> {}", self.commit_index, raft.commit_index());
            return Err(Breach::new(COMMIT_NEVER_DECREASES, detail));
        }
        self.commit_index = raft.commit_index();
        if raft.commit_index() != self.applied {
            let detail = format!(
                "commit index {} but the service was handed entries through {}",
                raft.commit_index(),
                self.applied
            );
            return Err(Breach::new(APPLIED_IN_ORDER, detail));
        }
        check_durable_matches(raft, durable)?;
        let log = raft.log();
        self.check_log(COMMITTED_NEVER_CHANGES, "log", log.snapshot(), |i| log.entry(i))?;
        self.check_log(
            PERSISTED_COMMITTED_KEPT,
            "durable log",
            durable.snapshot_meta(),
            |i| durable.entry(i),
        )?;
        let compacted = log.snapshot().last_included_index;
        self.forget_compacted(compacted.min(durable.snapshot_meta().last_included_index));
        Ok(())
    }

    /// Checks a peer restarted from `durable`, then forgets the commit index of the old
    /// incarnation: the new one starts from the persisted snapshot.
    ///
    /// # Errors
    /// The first property broken.
    pub fn after_restart(&mut self, raft: &Raft, durable: &Durable) -> Result<(), Breach> {
        self.check_term_and_vote(raft.term(), raft.voted_for())?;
        let log = raft.log();
        self.check_log(RESTARTS_FROM_DURABLE, "restored log", log.snapshot(), |i| {
            log.entry(i)
        })?;
        *self = PeerWatch {
            term: self.term,
            voted_for: self.voted_for,
            ..PeerWatch::new(durable)
        };
        Ok(())
    }

    fn check_term_and_vote(&mut self, term: Term, voted_for: Option<PeerId>) -> Result<(), Breach> {
        if term < self.term {
            return Err(Breach::new(
                TERM_NEVER_DECREASES,
                format!("term {} -> {term}", self.term),
            ));
        }
        if term == self.term && self.voted_for.is_some() && voted_for != self.voted_for {
            let detail = format!(
                "in term {term} the vote went {:?} -> {voted_for:?}",
                self.voted_for
            );
            return Err(Breach::new(ONE_VOTE_PER_TERM, detail));
        }
        self.term = term;
        self.voted_for = voted_for;
        Ok(())
    }

    /// Every applied entry after `snapshot` is still `entry(i)`, and a snapshot at an applied
    /// index has that entry's term.
    fn check_log<'a>(
        &self,
        property: &'static str,
        what: &str,
        snapshot: SnapshotMeta,
        entry: impl Fn(LogIndex) -> Option<&'a Entry>,
    ) -> Result<(), Breach> {
        if let Some(term) = self.applied_term(snapshot.last_included_index)
            && term != snapshot.last_included_term
        {
            let detail = format!(
                "{what}: snapshot ends at {}@{} but the entry applied there has term {term}",
                snapshot.last_included_index, snapshot.last_included_term
            );
            return Err(Breach::new(property, detail));
        }
        let from = snapshot.last_included_index.max(self.anchor.last_included_index);
        for applied in self.entries.iter().filter(|e| e.index > from) {
            match entry(applied.index) {
                Some(held) if held == applied => {}
                Some(held) => {
                    let detail = format!(
                        "{what}: applied entry {}@{} is now {}@{} (command {} changed: {})",
                        applied.index,
                        applied.term,
                        held.index,
                        held.term,
                        applied.index,
                        held.command != applied.command
                    );
                    return Err(Breach::new(property, detail));
                }
                None => {
                    let detail = format!(
                        "{what}: applied entry {}@{} is gone (snapshot through {})",
                        applied.index, applied.term, snapshot.last_included_index
                    );
                    return Err(Breach::new(property, detail));
                }
            }
        }
        Ok(())
    }

    /// The term of the applied entry at `index`, if it is remembered.
    fn applied_term(&self, index: LogIndex) -> Option<Term> {
        if index == self.anchor.last_included_index && index > LogIndex::ZERO {
            return Some(self.anchor.last_included_term);
        }
        let offset = index.0.checked_sub(self.anchor.last_included_index.0)?;
        let at = usize::try_from(offset).ok()?.checked_sub(1)?;
        self.entries.get(at).map(|e| e.term)
    }

    /// Forgets the applied entries both the log and the durable state have compacted.
    fn forget_compacted(&mut self, through: LogIndex) {
        while self.entries.front().is_some_and(|e| e.index <= through) {
            if let Some(old) = self.entries.pop_front() {
                self.anchor = SnapshotMeta {
                    last_included_index: old.index,
                    last_included_term: old.term,
                };
            }
        }
    }
}

/// After a Ready is carried out, the durable model holds the peer's term, vote, snapshot and
/// log end: persistence comes before any message or reply.
fn check_durable_matches(raft: &Raft, durable: &Durable) -> Result<(), Breach> {
    let live = (raft.term(), raft.voted_for());
    let saved = (durable.hard_state.current_term, durable.hard_state.voted_for);
    if live != saved {
        let detail = format!("peer at term/vote {live:?}, durable {saved:?}");
        return Err(Breach::new(DURABLE_MATCHES_PEER, detail));
    }
    let log = raft.log();
    let last_term = durable
        .entries
        .last()
        .map_or(durable.snapshot_meta().last_included_term, |e| e.term);
    let live = (log.snapshot(), log.last_index(), log.last_term());
    let saved = (durable.snapshot_meta(), durable.last_index(), last_term);
    if live != saved {
        let detail = format!("log (snapshot, last index, last term) {live:?}, durable {saved:?}");
        return Err(Breach::new(DURABLE_MATCHES_PEER, detail));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use raft_core::{Config, Entry, HardState, LogIndex, PeerId, Raft, SnapshotMeta, Term};

    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index: LogIndex(index),
            term: Term(term),
            command: vec![index as u8].into(),
        }
    }

    fn durable(term: u64, entries: Vec<Entry>) -> Durable {
        Durable {
            hard_state: HardState {
                current_term: Term(term),
                voted_for: None,
            },
            snapshot: None,
            entries,
        }
    }

    fn restored(d: &Durable) -> Raft {
        let config = Config::new(PeerId(0), vec![PeerId(0), PeerId(1), PeerId(2)], 1);
        Raft::restore(config, d.restored()).expect("a valid durable state")
    }

    fn applied_through_3() -> PeerWatch {
        let mut watch = PeerWatch::default();
        for i in 1..=3 {
            watch.apply(&entry(i, 1)).expect("in order");
        }
        watch
    }

    #[test]
    fn entries_must_be_applied_in_order_and_snapshots_only_forward() {
        let mut watch = applied_through_3();
        let skip = watch.apply(&entry(5, 1)).expect_err("4 was skipped");
        assert_eq!(skip.invariant, APPLIED_IN_ORDER);
        let back = SnapshotMeta {
            last_included_index: LogIndex(2),
            last_included_term: Term(1),
        };
        let err = watch
            .apply_snapshot(back)
            .expect_err("a snapshot behind the service");
        assert_eq!(err.invariant, APPLIED_IN_ORDER);
    }

    #[test]
    fn a_restart_that_lost_or_changed_an_applied_entry_is_caught() {
        let lost = durable(1, vec![entry(1, 1), entry(2, 1)]);
        let err = applied_through_3()
            .after_restart(&restored(&lost), &lost)
            .expect_err("entry 3 is gone");
        assert_eq!(err.invariant, RESTARTS_FROM_DURABLE);
        let changed = durable(2, vec![entry(1, 1), entry(2, 1), entry(3, 2)]);
        let err = applied_through_3()
            .after_restart(&restored(&changed), &changed)
            .expect_err("entry 3 has another term");
        assert_eq!(err.invariant, RESTARTS_FROM_DURABLE);
        let kept = durable(1, vec![entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
        let mut watch = applied_through_3();
        watch
            .after_restart(&restored(&kept), &kept)
            .expect("everything kept");
        assert_eq!(
            watch.applied(),
            LogIndex::ZERO,
            "a restart forgets the commit index"
        );
    }

    #[test]
    fn a_term_that_goes_down_or_a_vote_that_changes_is_caught() {
        let mut watch = PeerWatch::default();
        let high = durable(5, vec![]);
        watch.after_restart(&restored(&high), &high).expect("term 0 -> 5");
        let low = durable(4, vec![]);
        let err = watch.after_restart(&restored(&low), &low).expect_err("5 -> 4");
        assert_eq!(err.invariant, TERM_NEVER_DECREASES);
        let mut voted = durable(5, vec![]);
        voted.hard_state.voted_for = Some(PeerId(1));
        let mut watch = PeerWatch::default();
        watch
            .after_restart(&restored(&voted), &voted)
            .expect("a first vote");
        voted.hard_state.voted_for = Some(PeerId(2));
        let err = watch
            .after_restart(&restored(&voted), &voted)
            .expect_err("a second vote in term 5");
        assert_eq!(err.invariant, ONE_VOTE_PER_TERM);
    }

    #[test]
    fn a_peer_ahead_of_its_durable_state_is_caught() {
        let d = durable(1, vec![entry(1, 1)]);
        let raft = restored(&d);
        let behind = durable(1, vec![]);
        let err = PeerWatch::default()
            .after_input(&raft, &behind)
            .expect_err("entry 1 not persisted");
        assert_eq!(err.invariant, DURABLE_MATCHES_PEER);
        PeerWatch::default()
            .after_input(&raft, &d)
            .expect("all persisted");
    }
}
