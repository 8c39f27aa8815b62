//! [`MemoryPersister`]: the in-memory backend the 6.824 test harness uses.
//!
//! It is a handle: clones share one state, so the harness can keep a handle while the peer
//! owns another. [`MemoryPersister::copy`] makes an independent deep copy, which is how the
//! harness models a crash (what the old peer writes afterwards no longer reaches the new one).
//! It enforces the same contract as the file backend, so the conformance suite runs on both.

use crate::{
    DEFAULT_HARD_STATE_SIZE, HardState, PersistedState, Snapshot, Storage, StorageError, check_contiguous,
    check_new_snapshot, encoded_size,
};
use raft_core::{Entry, LogIndex};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A cheap-to-clone handle on in-memory persisted state; clones share it.
#[derive(Clone, Debug, Default)]
pub struct MemoryPersister {
    state: Arc<Mutex<MemoryState>>,
}

/// What a [`MemoryPersister`] holds, with its sizes kept incrementally.
#[derive(Clone, Debug)]
struct MemoryState {
    persisted: PersistedState,
    /// postcard size of `persisted.hard_state`.
    hard_state_size: u64,
    /// Sum of the postcard sizes of `persisted.entries`.
    entries_size: u64,
}

impl MemoryPersister {
    /// An empty persister: default hard state, no snapshot, no entries.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An independent deep copy: writes to either no longer show in the other.
    #[must_use]
    pub fn copy(&self) -> MemoryPersister {
        let state = self.lock().clone();
        MemoryPersister {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Locks the shared state. A panic in another holder cannot leave it half-updated (every
    /// operation checks first and mutates after), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryState {
    fn default() -> Self {
        MemoryState {
            persisted: PersistedState::default(),
            hard_state_size: DEFAULT_HARD_STATE_SIZE,
            entries_size: 0,
        }
    }
}

impl MemoryState {
    fn snapshot_index(&self) -> LogIndex {
        self.persisted
            .snapshot
            .as_ref()
            .map_or(LogIndex::ZERO, |s| s.meta.last_included_index)
    }

    /// Removes the entries at positions `range` of the log, keeping `entries_size` in step.
    fn remove_entries(&mut self, range: std::ops::Range<usize>) -> Result<(), StorageError> {
        let mut removed = 0;
        for entry in &self.persisted.entries[range.clone()] {
            removed += encoded_size(entry)?;
        }
        self.persisted.entries.drain(range);
        self.entries_size -= removed;
        Ok(())
    }
}

impl Storage for MemoryPersister {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        let size = encoded_size(hard_state)?;
        let mut state = self.lock();
        state.persisted.hard_state = *hard_state;
        state.hard_state_size = size;
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let mut state = self.lock();
        check_contiguous(state.persisted.last_index(), entries)?;
        let mut added = 0;
        for entry in entries {
            added += encoded_size(entry)?;
        }
        state.persisted.entries.extend_from_slice(entries);
        state.entries_size += added;
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError> {
        let mut state = self.lock();
        let last_included_index = state.snapshot_index();
        if from <= last_included_index {
            return Err(StorageError::BeforeSnapshot {
                from,
                last_included_index,
            });
        }
        // Position of `from` in the log, which starts at last_included_index + 1.
        let keep = usize::try_from(from.0 - last_included_index.0 - 1).unwrap_or(usize::MAX);
        let len = state.persisted.entries.len();
        if keep < len {
            state.remove_entries(keep..len)?;
        }
        Ok(())
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let mut state = self.lock();
        let current = state.snapshot_index();
        let got = snapshot.meta.last_included_index;
        check_new_snapshot(current, got)?;
        let covered = state
            .persisted
            .entries
            .iter()
            .take_while(|e| e.index <= got)
            .count();
        state.remove_entries(0..covered)?;
        state.persisted.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn load(&self) -> Result<PersistedState, StorageError> {
        Ok(self.lock().persisted.clone())
    }

    fn raft_state_size(&self) -> u64 {
        let state = self.lock();
        state.hard_state_size + state.entries_size
    }

    fn snapshot_size(&self) -> u64 {
        self.lock()
            .persisted
            .snapshot
            .as_ref()
            .map_or(0, |s| s.data.len() as u64)
    }
}
