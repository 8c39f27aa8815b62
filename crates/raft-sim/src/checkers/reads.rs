//! Reads See Every Acknowledged Write: the index a read is answered at (thesis section 6.4,
//! [`raft_core::Raft::read`]) is at least every commit index any peer had reached when the
//! read was asked, and the node has applied through it when it is told.
//!
//! A write is acknowledged to its client only once some leader's commit index covers it, so
//! the highest commit index seen anywhere before a read began bounds every acknowledged write
//! from above; a read answered below it may miss one (a stale read: an old leader cut off
//! from the majority, a lease that outlived its voters' patience). The simulator sees every
//! peer at once, so this is checked exactly, after every event, with no client history.

use std::collections::BTreeMap;

use raft_core::{LogIndex, Raft, ReadError, ReadId};

use super::Breach;

/// The reads asked and not yet decided, and the highest commit index seen so far.
#[derive(Debug, Default)]
pub struct ReadsSeeWrites {
    /// The highest commit index any peer has reached.
    commit_max: LogIndex,
    /// Each read asked: the node asked and the commit index it must reach.
    asked: BTreeMap<ReadId, (usize, LogIndex)>,
    /// Reads answered with an index.
    pub served: u64,
    /// Reads that failed (the leader stepped down before confirming them).
    pub failed: u64,
}

impl ReadsSeeWrites {
    /// The invariant's name.
    pub const NAME: &'static str = "Reads See Every Acknowledged Write";

    /// Watches every peer's commit index (after every event).
    pub fn observe(&mut self, peers: &[Option<Raft>]) {
        for raft in peers.iter().flatten() {
            self.commit_max = self.commit_max.max(raft.commit_index());
        }
    }

    /// Node `node` was asked read `id` now: it must answer at or above every commit so far.
    pub fn asked(&mut self, node: usize, id: ReadId) {
        self.asked.insert(id, (node, self.commit_max));
    }

    /// The read was refused at once (not the leader): nothing to check.
    pub fn refused(&mut self, id: ReadId) {
        self.asked.remove(&id);
    }

    /// Node `node` crashed: the reads asked of it are lost with it.
    pub fn forget(&mut self, node: usize) {
        self.asked.retain(|_, (n, _)| *n != node);
    }

    /// Reads asked of node `node` and not yet decided.
    #[must_use]
    pub fn waiting(&self, node: usize) -> usize {
        self.asked.values().filter(|(n, _)| *n == node).count()
    }

    /// Node `node` decided read `id`, having applied through `applied`.
    ///
    /// # Errors
    /// A [`Breach`] if the read was not asked of this node, is answered below a commit seen
    /// before it was asked, or above what the node has applied.
    pub fn decided(
        &mut self,
        node: usize,
        id: ReadId,
        result: Result<LogIndex, ReadError>,
        applied: LogIndex,
    ) -> Result<(), Breach> {
        let Some((asked_of, floor)) = self.asked.remove(&id) else {
            let detail = format!("n{node} decided read {id:?} ({result:?}), which nobody asked it");
            return Err(Breach::new(Self::NAME, detail));
        };
        if asked_of != node {
            let detail = format!("n{node} decided read {id:?}, asked of n{asked_of}");
            return Err(Breach::new(Self::NAME, detail));
        }
        let Ok(index) = result else {
            self.failed += 1;
            return Ok(());
        };
        if index < floor {
            let detail = format!(
                "n{node} answered read {id:?} at index {index}, but index {floor} was committed before it was asked: a stale read"
            );
            return Err(Breach::new(Self::NAME, detail));
        }
        if applied < index {
            let detail = format!(
                "n{node} was told to answer read {id:?} at index {index} with only {applied} applied"
            );
            return Err(Breach::new(Self::NAME, detail));
        }
        self.served += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_answered_below_an_earlier_commit_is_a_breach() {
        let mut reads = ReadsSeeWrites {
            commit_max: LogIndex(7),
            ..ReadsSeeWrites::default()
        };
        reads.asked(1, ReadId(1));
        let stale = reads.decided(1, ReadId(1), Ok(LogIndex(6)), LogIndex(9));
        assert_eq!(stale.map_err(|b| b.invariant), Err(ReadsSeeWrites::NAME));
        reads.asked(1, ReadId(2));
        assert_eq!(reads.decided(1, ReadId(2), Ok(LogIndex(7)), LogIndex(7)), Ok(()));
        assert_eq!(reads.served, 1);
    }

    #[test]
    fn a_read_answered_past_what_was_applied_or_never_asked_is_a_breach() {
        let mut reads = ReadsSeeWrites::default();
        reads.asked(0, ReadId(1));
        assert!(reads.decided(0, ReadId(1), Ok(LogIndex(3)), LogIndex(2)).is_err());
        assert!(reads.decided(0, ReadId(5), Ok(LogIndex(0)), LogIndex(0)).is_err());
        reads.asked(0, ReadId(2));
        assert!(
            reads.decided(2, ReadId(2), Ok(LogIndex(0)), LogIndex(0)).is_err(),
            "asked of another node"
        );
    }
}
