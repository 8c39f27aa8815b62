//! # raft-storage: what a Raft peer persists, and where
//!
//! Figure 2 of the Raft paper names the state every server keeps on stable storage, "updated
//! on stable storage before responding to RPCs": `currentTerm`, `votedFor` and `log[]`.
//! Section 7 adds the snapshot, which replaces the log prefix it covers. This crate stores
//! exactly that, through one trait, [`Storage`], in structured operations rather than one blob:
//!
//! - [`Storage::save_hard_state`]: term and vote ([`HardState`]).
//! - [`Storage::append`] and [`Storage::truncate_suffix`]: the log, one change at a time.
//! - [`Storage::install_snapshot`]: a [`Snapshot`] and the discarding of the log it covers.
//! - [`Storage::load`]: everything back, as a restarted peer reads it ([`PersistedState`]).
//! - [`Storage::raft_state_size`] and [`Storage::snapshot_size`]: what 6.824's `Persister`
//!   reports, kept incrementally.
//!
//! Two backends implement it:
//!
//! - [`MemoryPersister`]: a cheap handle on shared in-memory state for the test harness.
//!   [`MemoryPersister::copy`] gives an independent copy, which is how the 6.824 harness models
//!   what survives a crash.
//! - [`FilePersister`]: a directory on disk that survives a real crash.
//!
//! ## The durability contract
//!
//! Every mutating method is durable when it returns `Ok`: a crash at any later moment, and a
//! restart, gives back at least what was acknowledged. A call that returns `Err` (or never
//! returns, because the process died) may have happened or not; after a restart the state is
//! the state before or after it. The one refinement: an interrupted [`Storage::append`] of
//! several entries may leave a prefix of its batch, each entry being all-or-nothing. Raft is
//! indifferent to this, since an append that was never acknowledged carries no promise.
//!
//! Cost is proportional to the change: an append writes its records and, beside them, the
//! log's length before them (the previous append's end), then fsyncs once; a truncation
//! records the shorter length and cuts the file (two fsyncs); a save of term and vote rewrites
//! one small file. Only a snapshot rewrites the log, and then only the suffix it keeps.
//!
//! ## Crash safety of the file backend
//!
//! A data directory is made on purpose ([`FilePersister::create`]) and reopened
//! ([`FilePersister::open`]); opening never starts afresh, because a peer that forgot its
//! vote could vote twice in one term. A persister locks its directory (`LOCK`) for its whole
//! life, so a second one, in this process or another, is refused ([`StorageError::Locked`])
//! instead of corrupting it. It holds three data files (see [`FilePersister`] for their
//! formats):
//!
//! - `hard_state` and `snapshot` are replaced atomically: write a temporary file in the same
//!   directory, fsync it, rename it over the target, fsync the directory. A reader sees the old
//!   file or the new one, never a mix.
//! - `log` is append-only, as length-prefixed, checksummed (crc32c) postcard records, behind a
//!   header that records the log's *durable end*, a length written after the records it covers
//!   were fsynced: an append's one fsync also records the previous append's end. Below the
//!   durable end nothing may be damaged; beyond it lie the last append's records, whole, and
//!   at most the unfinished tail of one change, never acknowledged, which opening cuts off. So
//!   no crash cuts an acknowledged record, and damage to one is an error, but for the last
//!   append's records, which damage (not a crash) can cut until the next change to the log
//!   (or an open) records their end: the price of one fsync per append, which etcd's WAL
//!   pays too.
//! - A snapshot is installed in two atomic steps: the new `snapshot` file first, then the `log`
//!   rewritten with only the suffix it keeps. On open, log entries at or below the snapshot are
//!   ignored (and the log rewritten without them), so a crash between the two steps is safe.
//!
//! Opening checks every file before it writes anything, so a directory found damaged is left
//! exactly as it was, for an operator or a repair tool to look at (but for an empty `LOCK`
//! file, made if it was missing: the lock is taken before anything is read).
//!
//! ## Which errors are which
//!
//! Operating conditions are a `Result` ([`StorageError`]): the disk failed
//! ([`StorageError::Io`]); a file is damaged in any way a crash cannot explain, or missing
//! beside the others ([`StorageError::Corrupt`], naming file and byte offset; nothing is ever
//! silently reset to empty); a directory is not a data directory or not empty
//! ([`StorageError::NotADataDir`], [`StorageError::DirNotEmpty`]); a directory is in use by
//! another persister ([`StorageError::Locked`]); or the caller broke an
//! operation's contract ([`StorageError::NonContiguous`], [`StorageError::IndexOutOfRange`],
//! [`StorageError::BeforeSnapshot`], [`StorageError::StaleSnapshot`]), which leaves the state
//! untouched. After an I/O error the file backend refuses further changes until it is
//! reopened, because what reached the disk is then unknown; the same holds when its directory
//! was removed from under it, which fails the next change rather than acknowledge a write
//! nothing will find. Indices go up to [`LOG_INDEX_MAX`], so that no index arithmetic can
//! overflow; terms may be any `u64`. `assert!` is kept for this crate's own bugs.
//!
//! ## Example
//!
//! ```
//! use raft_core::{Entry, LogIndex, PeerId, Term};
//! use raft_storage::{HardState, MemoryPersister, Storage};
//!
//! let mut storage = MemoryPersister::new();
//! storage.save_hard_state(&HardState { current_term: Term(2), voted_for: Some(PeerId(1)) })?;
//! let entry = |i, t| Entry { index: LogIndex(i), term: Term(t), command: vec![i as u8].into() };
//! storage.append(&[entry(1, 1), entry(2, 2), entry(3, 2)])?;
//! storage.truncate_suffix(LogIndex(3))?;
//!
//! let crashed = storage.copy(); // what a restarted peer would find
//! let state = crashed.load()?;
//! assert_eq!(state.hard_state.current_term, Term(2));
//! assert_eq!(state.entries, vec![entry(1, 1), entry(2, 2)]);
//! assert!(state.snapshot.is_none());
//! # Ok::<(), raft_storage::StorageError>(())
//! ```
//!
//! ## Deliberately left out
//!
//! Checks that belong to Raft rather than to storage: whether terms in the log are
//! non-decreasing, or whether the log entry at a snapshot's last included index has the
//! snapshot's term (Figure 13, steps 6-7); [`Storage::install_snapshot`] keeps every later
//! entry, and a runtime that finds a mismatch calls [`Storage::truncate_suffix`] first.
#![forbid(unsafe_code)]

mod error;
mod file;
mod memory;

pub use error::StorageError;
pub use file::FilePersister;
pub use memory::MemoryPersister;

use raft_core::{Entry, LogIndex};
pub use raft_core::{HardState, Snapshot, SnapshotMeta};
use serde::Serialize;

/// Everything persisted, as a restarted peer reads it.
///
/// Invariant: `entries` are contiguous and start right after the snapshot's
/// `last_included_index`, or at index 1 without a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistedState {
    /// Term and vote.
    pub hard_state: HardState,
    /// The latest snapshot, if one was installed.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot.
    pub entries: Vec<Entry>,
}

impl PersistedState {
    /// The index of the last entry, or of the snapshot's last included entry, or zero.
    #[must_use]
    pub fn last_index(&self) -> LogIndex {
        match (self.entries.last(), &self.snapshot) {
            (Some(entry), _) => entry.index,
            (None, Some(snapshot)) => snapshot.meta.last_included_index,
            (None, None) => LogIndex::ZERO,
        }
    }
}

/// What a Raft peer persists, in structured operations.
///
/// Every mutating method is durable when it returns `Ok`. A method that returns a contract
/// error ([`StorageError::NonContiguous`], [`StorageError::IndexOutOfRange`],
/// [`StorageError::BeforeSnapshot`], [`StorageError::StaleSnapshot`]) has changed nothing.
pub trait Storage: Send + 'static {
    /// Saves term and vote, replacing the previous ones. Durable when it returns.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] if the disk fails; [`StorageError::Encode`] if encoding fails.
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError>;

    /// Appends entries after the last one. Durable when it returns; an empty slice is a no-op.
    ///
    /// # Errors
    ///
    /// [`StorageError::NonContiguous`] unless `entries[0].index` is the last index (of the log,
    /// else of the snapshot, else zero) plus one and each entry's index is its predecessor's
    /// plus one; [`StorageError::IndexOutOfRange`] for an index above [`LOG_INDEX_MAX`];
    /// [`StorageError::Io`] if the disk fails.
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError>;

    /// Removes every entry with index `>= from`; `from` past the end is a no-op.
    ///
    /// # Errors
    ///
    /// [`StorageError::BeforeSnapshot`] unless `from` is greater than the snapshot's
    /// `last_included_index` (or than zero); [`StorageError::Io`] if the disk fails.
    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError>;

    /// Stores the snapshot and discards the log entries it covers (index `<=
    /// last_included_index`), keeping every later entry. If the log ends before the snapshot,
    /// the log becomes empty. Snapshot and remaining log are persisted together, crash-safely.
    ///
    /// # Errors
    ///
    /// [`StorageError::IndexOutOfRange`] if the snapshot's `last_included_index` is above
    /// [`LOG_INDEX_MAX`]; [`StorageError::StaleSnapshot`] unless it is greater than the current
    /// snapshot's (a snapshot never moves backwards); [`StorageError::Io`] if the disk fails.
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;

    /// Everything persisted, as it would be read after a restart.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] or [`StorageError::Corrupt`] if the files cannot be read back.
    fn load(&self) -> Result<PersistedState, StorageError>;

    /// Bytes of persisted Raft state, what 6.824's `RaftStateSize` reports: the postcard-encoded
    /// size of the current hard state plus that of every log entry, framing and snapshot
    /// excluded. Kept incrementally, O(1).
    fn raft_state_size(&self) -> u64;

    /// Bytes of the snapshot's data; zero without a snapshot.
    fn snapshot_size(&self) -> u64;
}

/// The postcard-encoded size of `HardState::default()` (term 0: one byte; no vote: one byte),
/// what [`Storage::raft_state_size`] counts before the first save.
pub(crate) const DEFAULT_HARD_STATE_SIZE: u64 = 2;

/// The postcard-encoded size of a value, without allocating.
pub(crate) fn encoded_size<T: Serialize>(value: &T) -> Result<u64, StorageError> {
    postcard::serialize_with_flavor::<T, _, usize>(value, postcard::ser_flavors::Size::default())
        .map(|size| size as u64)
        .map_err(|error| StorageError::Encode(error.to_string()))
}

/// The largest index an entry or a snapshot may have: one below `u64::MAX`, so that the index
/// after any stored one exists and no index arithmetic in this crate can overflow.
pub const LOG_INDEX_MAX: LogIndex = LogIndex(u64::MAX - 1);

/// Checks that `entries` may follow `last_index`: each index one more than the one before, none
/// above [`LOG_INDEX_MAX`]. `last_index` is at most [`LOG_INDEX_MAX`].
pub(crate) fn check_contiguous(last_index: LogIndex, entries: &[Entry]) -> Result<(), StorageError> {
    let mut expected = last_index.next();
    for entry in entries {
        if entry.index != expected {
            return Err(StorageError::NonContiguous {
                expected,
                got: entry.index,
            });
        }
        check_index(entry.index)?;
        expected = expected.next();
    }
    Ok(())
}

/// Checks that a snapshot through `got` may replace one through `current`: newer, and in range.
pub(crate) fn check_new_snapshot(current: LogIndex, got: LogIndex) -> Result<(), StorageError> {
    check_index(got)?;
    if got <= current {
        return Err(StorageError::StaleSnapshot { current, got });
    }
    Ok(())
}

/// Checks that `index` is at most [`LOG_INDEX_MAX`].
fn check_index(index: LogIndex) -> Result<(), StorageError> {
    if index > LOG_INDEX_MAX {
        return Err(StorageError::IndexOutOfRange {
            index,
            max: LOG_INDEX_MAX,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hard_state_size_matches_postcard() {
        let size = encoded_size(&HardState::default()).expect("a HardState always encodes");
        assert_eq!(size, DEFAULT_HARD_STATE_SIZE);
    }
}
