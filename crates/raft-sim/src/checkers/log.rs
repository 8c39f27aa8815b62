//! Log Matching (Figure 3): "if two logs contain an entry with the same index and term, then
//! the logs are identical in all entries up through the given index"; and its consequence at
//! the gate: no peer is ever sent a request that contradicts what it knows to be committed.

use std::collections::BTreeMap;

use raft_core::{Entry, LogIndex, PeerId, Raft, RaftLog, Refusal, Term};

use super::Breach;
use crate::trace::fnv1a;

const COMMAND_HASH_SEED: u64 = 0xc0ff_ee00_0000_0001;

/// Log Matching, in two parts: every (index, term) ever written names one command, over the
/// whole run; and any two live logs that agree on (index, term) agree on every entry before it
/// that both still hold.
#[derive(Debug, Default)]
pub struct LogMatching {
    written: BTreeMap<(LogIndex, Term), u64>,
}

impl LogMatching {
    /// The invariant's name.
    pub const NAME: &'static str = "Log Matching";

    /// Records entries as they are persisted by `peer`.
    ///
    /// # Errors
    /// A [`Breach`] if an (index, term) was written before with another command.
    pub fn record_written(&mut self, peer: PeerId, entries: &[Entry]) -> Result<(), Breach> {
        for e in entries {
            let hash = fnv1a(COMMAND_HASH_SEED, &e.command);
            match self.written.get(&(e.index, e.term)) {
                Some(old) if *old != hash => {
                    return Err(Breach::new(
                        Self::NAME,
                        format!(
                            "{peer} wrote {}@{} with a command unlike an earlier one",
                            e.index, e.term
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    self.written.insert((e.index, e.term), hash);
                }
            }
        }
        Ok(())
    }

    /// Compares two logs over the entries both hold.
    ///
    /// # Errors
    /// A [`Breach`] if they agree on an (index, term) but differ before it.
    pub fn check_pair(a_id: PeerId, a: &RaftLog, b_id: PeerId, b: &RaftLog) -> Result<(), Breach> {
        let lo = a.first_index().max(b.first_index());
        let hi = a.last_index().min(b.last_index());
        let mut i = hi;
        while i >= lo && i > LogIndex::ZERO {
            if a.term_at(i).is_some() && a.term_at(i) == b.term_at(i) {
                break;
            }
            i = i.prev();
        }
        if i < lo || i == LogIndex::ZERO {
            return Ok(());
        }
        let (xs, ys) = (a.entries_from(lo, usize::MAX), b.entries_from(lo, usize::MAX));
        let count = usize::try_from(i.0 + 1 - lo.0).unwrap_or(usize::MAX);
        for (x, y) in xs.iter().zip(ys.iter()).take(count) {
            if x != y {
                return Err(Breach::new(
                    Self::NAME,
                    format!(
                        "{a_id} and {b_id} agree on {i}@{:?} but differ at {}: {}@{} vs {}@{}",
                        a.term_at(i),
                        x.index,
                        x.index,
                        x.term,
                        y.index,
                        y.term
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// No peer's gate ever refuses a request for contradicting its committed log
/// ([`Refusal::ContradictsCommitted`]). By Leader Completeness, a leader of the receiver's term
/// or later holds every entry the receiver knows committed, so in a correct cluster the count
/// stays zero; a broken election (a vote without the up-to-date check) makes it move.
#[derive(Debug, Default)]
pub struct CommittedNeverContradicted;

impl CommittedNeverContradicted {
    /// The invariant's name.
    pub const NAME: &'static str = "Committed Entries Never Contradicted";

    /// Reads `raft`'s gate counter.
    ///
    /// # Errors
    /// A [`Breach`] if its gate refused a request that contradicts its committed log.
    pub fn check(raft: &Raft) -> Result<(), Breach> {
        let refused = raft.refused().count(Refusal::ContradictsCommitted);
        if refused > 0 {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "{} was sent {refused} request(s) contradicting its log committed through {}",
                    raft.id(),
                    raft.commit_index()
                ),
            ));
        }
        Ok(())
    }
}
