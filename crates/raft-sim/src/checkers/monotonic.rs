//! The runtime's invariants: terms never decrease (within an incarnation and across a restart
//! from durable state), the commit index never decreases within an incarnation, and nothing
//! acknowledged as persisted is lost by a crash.

use raft_core::{LogIndex, PeerId, Raft, Term};

use super::Breach;
use crate::durable::Durable;

/// Terms never decrease, per peer, across its incarnations.
#[derive(Debug, Default)]
pub struct TermsNeverDecrease {
    last: Vec<Term>,
}

impl TermsNeverDecrease {
    /// The invariant's name.
    pub const NAME: &'static str = "Terms Never Decrease";

    /// A checker for `peers` peers.
    #[must_use]
    pub fn new(peers: usize) -> TermsNeverDecrease {
        TermsNeverDecrease {
            last: vec![Term::ZERO; peers],
        }
    }

    /// Observes `raft`'s term.
    ///
    /// # Errors
    /// A [`Breach`] if it is lower than the last one seen for that peer.
    pub fn observe(&mut self, raft: &Raft) -> Result<(), Breach> {
        let Some(last) = self.last.get_mut(raft.id().as_usize()) else {
            return Ok(());
        };
        if raft.term() < *last {
            return Err(Breach::new(
                Self::NAME,
                format!("{} went from term {last} to {}", raft.id(), raft.term()),
            ));
        }
        *last = raft.term();
        Ok(())
    }
}

/// The commit index never decreases within one incarnation of a peer.
#[derive(Debug, Default)]
pub struct CommitNeverDecreases {
    last: Vec<LogIndex>,
}

impl CommitNeverDecreases {
    /// The invariant's name.
    pub const NAME: &'static str = "Commit Index Never Decreases";

    /// A checker for `peers` peers.
    #[must_use]
    pub fn new(peers: usize) -> CommitNeverDecreases {
        CommitNeverDecreases {
            last: vec![LogIndex::ZERO; peers],
        }
    }

    /// A new incarnation of `peer` starts from `raft`'s restored commit index.
    pub fn restart(&mut self, raft: &Raft) {
        if let Some(last) = self.last.get_mut(raft.id().as_usize()) {
            *last = raft.commit_index();
        }
    }

    /// Observes `raft`'s commit index.
    ///
    /// # Errors
    /// A [`Breach`] if it is lower than before in this incarnation.
    pub fn observe(&mut self, raft: &Raft) -> Result<(), Breach> {
        let Some(last) = self.last.get_mut(raft.id().as_usize()) else {
            return Ok(());
        };
        if raft.commit_index() < *last {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "{} commit index went from {last} to {}",
                    raft.id(),
                    raft.commit_index()
                ),
            ));
        }
        *last = raft.commit_index();
        Ok(())
    }
}

/// Nothing acknowledged as persisted is lost by a crash: at the crash, the peer's state (term,
/// vote, log) is all in its durable model (every Ready asked for it to be persisted); after the
/// restart, the peer holds exactly what the model kept.
#[derive(Debug, Default)]
pub struct PersistedSurvivesCrash;

impl PersistedSurvivesCrash {
    /// The invariant's name.
    pub const NAME: &'static str = "Persisted State Survives Crash";

    /// Compares a peer's state with its durable model (`when`: "crash" or "restart").
    ///
    /// # Errors
    /// A [`Breach`] naming the first difference.
    pub fn check(raft: &Raft, durable: &Durable, when: &str) -> Result<(), Breach> {
        let id: PeerId = raft.id();
        let breach = |what: String| Err(Breach::new(Self::NAME, format!("{id} at {when}: {what}")));
        if raft.term() != durable.hard_state.current_term || raft.voted_for() != durable.hard_state.voted_for
        {
            return breach(format!(
                "term/vote {}/{:?} but persisted {}/{:?}",
                raft.term(),
                raft.voted_for(),
                durable.hard_state.current_term,
                durable.hard_state.voted_for
            ));
        }
        let log = raft.log();
        if log.snapshot() != durable.snapshot_meta() {
            return breach(format!(
                "snapshot {:?} but persisted {:?}",
                log.snapshot(),
                durable.snapshot_meta()
            ));
        }
        if log.last_index() != durable.last_index() {
            return breach(format!(
                "log ends at {} but persisted log ends at {}",
                log.last_index(),
                durable.last_index()
            ));
        }
        for e in log.entries_from(log.first_index(), usize::MAX) {
            if durable.entry(e.index) != Some(e) {
                return breach(format!("entry {}@{} is not persisted as held", e.index, e.term));
            }
        }
        Ok(())
    }
}
