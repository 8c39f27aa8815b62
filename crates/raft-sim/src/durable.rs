//! The model of one peer's durable storage: term and vote, the snapshot, the log after it.
//!
//! It changes only by carrying out the persistence part of a [`Ready`], in the order ready.rs
//! documents (hard state, truncation, snapshot, entries). A crash keeps exactly this and
//! nothing else; a restart rebuilds the peer from [`Durable::restored`].

use raft_core::{Entry, HardState, LogIndex, Ready, Restored, Snapshot, SnapshotMeta};

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

    /// Carries out the persistence part of `ready`, in the documented order.
    ///
    /// # Errors
    /// [`PersistGap`] if an appended entry does not continue the log: the Ready broke the
    /// contract (the entries are persisted up to the gap).
    pub fn persist(&mut self, ready: &Ready) -> Result<(), PersistGap> {
        if let Some(hard_state) = ready.hard_state {
            self.hard_state = hard_state;
        }
        if let Some(from) = ready.truncate_from {
            self.entries.retain(|e| e.index < from);
        }
        if let Some(snapshot) = &ready.snapshot {
            let through = snapshot.meta.last_included_index;
            self.entries.retain(|e| e.index > through);
            self.snapshot = Some(snapshot.clone());
            if self.entries.first().is_some_and(|e| e.index != through.next()) {
                self.entries.clear();
            }
        }
        for entry in &ready.entries {
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
