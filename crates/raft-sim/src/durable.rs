//! The model of one peer's durable storage: term and vote, the snapshot, the log after it.
//!
//! It changes only through the persistence steps of a [`raft_core::Ready`], one method per
//! step of [`raft_core::Effects`], called by [`raft_core::Ready::carry_out`] in the order the
//! contract requires (hard state, truncation, snapshot, entries). A crash keeps exactly this
//! and nothing else; a restart rebuilds the peer from [`Durable::restored`].

use raft_core::{Entry, HardState, LogIndex, Restored, Snapshot, SnapshotMeta};

use crate::checkers::Breach;
use crate::world::PERSISTENCE_CONTRACT;

/// A node's durable storage as the world writes it: the persistence steps of
/// [`raft_core::Effects`], durable when each returns, and what a restart reads. Two stores:
/// [`Durable`] (the safety runs' model, which checks the contract), and the 6.824 harness's
/// persister.
pub trait Store {
    /// Persists term and vote.
    ///
    /// # Errors
    /// A breach if the store refuses.
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Breach>;

    /// Removes every persisted entry at or after `from`.
    ///
    /// # Errors
    /// A breach if the store refuses.
    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Breach>;

    /// Persists `snapshot`, keeping the later entries that continue it.
    ///
    /// # Errors
    /// A breach if the store refuses.
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Breach>;

    /// Appends `entries` after the last persisted one.
    ///
    /// # Errors
    /// A breach if the store refuses (the safety runs' model: a gap in the log).
    fn append(&mut self, entries: &[Entry]) -> Result<(), Breach>;

    /// What a restart hands to [`raft_core::Raft::restore`].
    ///
    /// # Errors
    /// A breach if the store cannot be read.
    fn restored(&self) -> Result<Restored, Breach>;
}

/// A store that keeps nothing: a restart starts fresh. For measurements of the bare state
/// machine, where persisting is not what is measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoStore;

impl Store for NoStore {
    fn save_hard_state(&mut self, _hard_state: &HardState) -> Result<(), Breach> {
        Ok(())
    }

    fn truncate_suffix(&mut self, _from: LogIndex) -> Result<(), Breach> {
        Ok(())
    }

    fn install_snapshot(&mut self, _snapshot: &Snapshot) -> Result<(), Breach> {
        Ok(())
    }

    fn append(&mut self, _entries: &[Entry]) -> Result<(), Breach> {
        Ok(())
    }

    fn restored(&self) -> Result<Restored, Breach> {
        Ok(Restored::default())
    }
}

impl Store for Durable {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Breach> {
        Durable::save_hard_state(self, *hard_state);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Breach> {
        Durable::truncate_suffix(self, from);
        Ok(())
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Breach> {
        Durable::install_snapshot(self, snapshot);
        Ok(())
    }

    /// Persists the entries if they continue the durable log; else the persistence contract
    /// is broken.
    fn append(&mut self, entries: &[Entry]) -> Result<(), Breach> {
        Durable::append(self, entries).map_err(|gap| {
            let detail = format!("asked to persist {} after {}", gap.found, gap.expected.prev());
            Breach::new(PERSISTENCE_CONTRACT, detail)
        })
    }

    fn restored(&self) -> Result<Restored, Breach> {
        Ok(Durable::restored(self))
    }
}

/// What one peer has persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durable {
    /// Term and vote.
    pub hard_state: HardState,
    /// The latest snapshot persisted.
    pub snapshot: Option<Snapshot>,
    /// The persisted entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// A Ready asked to append an entry that does not continue the persisted log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistGap {
    /// The index the next entry needed.
    pub expected: LogIndex,
    /// The entry's index.
    pub found: LogIndex,
}

impl Durable {
    /// The snapshot's meta, or index and term 0.
    #[must_use]
    pub fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot.as_ref().map(|s| s.meta).unwrap_or_default()
    }

    /// The last persisted index (the snapshot's if no entry follows it).
    #[must_use]
    pub fn last_index(&self) -> LogIndex {
        self.entries
            .last()
            .map_or(self.snapshot_meta().last_included_index, |e| e.index)
    }

    /// The persisted entry at `index`, if held.
    #[must_use]
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let first = self.snapshot_meta().last_included_index.next();
        let offset = index.0.checked_sub(first.0)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Persists term and vote: [`raft_core::Effects::save_hard_state`] on this model.
    pub fn save_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    /// Removes every persisted entry at or after `from`: [`raft_core::Effects::truncate_suffix`].
    pub fn truncate_suffix(&mut self, from: LogIndex) {
        self.entries.retain(|e| e.index < from);
    }

    /// Persists `snapshot`, keeping the entries after it if they continue it:
    /// [`raft_core::Effects::install_snapshot`].
    pub fn install_snapshot(&mut self, snapshot: &Snapshot) {
        let through = snapshot.meta.last_included_index;
        self.entries.retain(|e| e.index > through);
        self.snapshot = Some(snapshot.clone());
        if self.entries.first().is_some_and(|e| e.index != through.next()) {
            self.entries.clear();
        }
    }

    /// Appends `entries` after the last persisted one: [`raft_core::Effects::append`].
    ///
    /// # Errors
    /// [`PersistGap`] if an entry does not continue the log: the Ready broke the contract
    /// (the entries are persisted up to the gap).
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), PersistGap> {
        for entry in entries {
            let expected = self.last_index().next();
            if entry.index != expected {
                return Err(PersistGap {
                    expected,
                    found: entry.index,
                });
            }
            self.entries.push(entry.clone());
        }
        Ok(())
    }

    /// What a restart hands to [`raft_core::Raft::restore`].
    #[must_use]
    pub fn restored(&self) -> Restored {
        Restored {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use raft_core::{Entry, LogIndex, Snapshot, SnapshotMeta, Term};

    use super::{Durable, PersistGap};

    fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        range
            .map(|i| Entry {
                index: LogIndex(i),
                term: Term(1),
                command: vec![i as u8].into(),
            })
            .collect()
    }

    fn snapshot(through: u64) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_included_index: LogIndex(through),
                last_included_term: Term(1),
            },
            data: vec![],
        }
    }

    #[test]
    fn an_append_that_skips_an_index_is_a_gap_and_keeps_what_came_before() {
        let mut d = Durable::default();
        d.append(&entries(1..=2)).expect("continues an empty log");
        let mut bad = entries(3..=3);
        bad.extend(entries(5..=5));
        assert_eq!(
            d.append(&bad),
            Err(PersistGap {
                expected: LogIndex(4),
                found: LogIndex(5)
            })
        );
        assert_eq!(d.last_index(), LogIndex(3), "persisted up to the gap");
    }

    #[test]
    fn truncation_then_snapshot_then_append_rebuilds_a_contiguous_log() {
        let mut d = Durable::default();
        d.append(&entries(1..=6)).expect("contiguous");
        d.truncate_suffix(LogIndex(5));
        d.install_snapshot(&snapshot(3));
        assert_eq!(d.entries, entries(4..=4), "the entry after the snapshot is kept");
        d.append(&entries(5..=5)).expect("continues after the kept entry");
        d.install_snapshot(&snapshot(8));
        assert!(d.entries.is_empty(), "a snapshot past the log discards it");
        assert_eq!(d.last_index(), LogIndex(8));
    }
}
