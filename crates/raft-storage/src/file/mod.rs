//! [`FilePersister`]: persisted state in a directory, crash-safe.
//!
//! The pieces: [`dir`] makes a data directory and reads one without writing, [`disk`] takes
//! every write step (and can crash at any one, for tests), [`format`] encodes and checks the
//! bytes, [`log`] keeps the append-only log, its durable end and its index -> offset table
//! (its module doc states the torn-tail rule), and this module ties them to the [`Storage`]
//! contract.

mod dir;
mod disk;
mod format;
mod lock;
mod log;

#[cfg(test)]
mod crash_tests;

use crate::{
    HardState, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError, check_contiguous,
    check_new_snapshot, encoded_size,
};
use disk::Disk;
use format::{HARD_STATE_FILE, HARD_STATE_MAGIC, SNAPSHOT_FILE, SNAPSHOT_MAGIC};
use lock::DirLock;
use log::LogFile;
use raft_core::{Entry, LogIndex};
use std::io;
use std::path::Path;

/// Persisted state in a directory, crash-safe: `hard_state`, `snapshot` and `log` files, and
/// a `LOCK` file that keeps a second persister out.
///
/// | file         | format                                              | changed by           |
/// |--------------|-----------------------------------------------------|----------------------|
/// | `hard_state` | `RSHS`, version, postcard [`HardState`], crc32c     | atomic replace       |
/// | `snapshot`   | `RSSN`, version, postcard [`Snapshot`], crc32c      | atomic replace       |
/// | `log`        | `RSLG` header, two durable-end slots, then records  | append, cut, replace |
/// | `LOCK`       | empty; carries an exclusive lock (`flock`)          | never                |
///
/// A log record is `[len: u32 LE][crc32c: u32 LE][postcard Entry]`, the checksum covering the
/// length bytes and the payload. The log's header records the index before its first record
/// (the snapshot it was compacted to), and its two slots the log's *durable end*: a length up
/// to which every byte was fsynced before the slot was written, the start of the last
/// append's records or later (an append's one fsync also records the previous append's end).
/// An atomic replace writes a temporary file (`.raft-tmp-*`) in the directory, fsyncs it,
/// renames it over the target and fsyncs the directory.
///
/// A data directory is made on purpose, by [`FilePersister::create`], and reopened by
/// [`FilePersister::open`], which never starts afresh: a missing directory, or a missing
/// `hard_state` or `log`, is an error, not an empty state.
///
/// Recovery on open: the unfinished tail of the log's last change, which lies beyond the
/// durable end, is cut; anything else that is not as this crate wrote it is
/// [`StorageError::Corrupt`], naming the file and offset, and the directory is left exactly as
/// it was. No crash cuts an acknowledged record: it lies below the durable end or, for the
/// last append, whole beyond it. (Damage to the last append's records, rather than a crash,
/// cuts them until the next change to the log or an open records their end; see the torn-tail rule in
/// the `log` module.)
///
/// Every change is durable when it returns `Ok`. After an I/O error the persister refuses
/// further changes (what reached the disk is unknown); reopen the directory to recover. A
/// change also fails if the log file was removed from under the persister.
///
/// One persister per directory, since two at once would corrupt it: a persister holds an
/// exclusive lock on `LOCK` from create or open until it is dropped (or its process dies), and
/// a second create or open of the directory, by this process or another, is refused with
/// [`StorageError::Locked`].
#[derive(Debug)]
pub struct FilePersister {
    disk: Disk,
    log: LogFile,
    hard_state: HardState,
    /// postcard size of `hard_state`.
    hard_state_size: u64,
    snapshot_meta: Option<SnapshotMeta>,
    /// Bytes of the snapshot's data.
    snapshot_data_size: u64,
    /// Set by an I/O error: further changes are refused.
    failed: bool,
    /// The directory's lock, held for the persister's life. Last, so that it is released
    /// after the files are closed.
    _lock: DirLock,
}

impl FilePersister {
    /// Makes a new data directory at `dir` (term 0, no vote, no log, no snapshot) and opens it.
    /// `dir` must not exist or must be empty; it appears whole or not at all, since it is built
    /// beside it (in `dir`'s parent, which is created if needed) and renamed into place. A
    /// crash during creation can leave a `.raft-create-*` directory in the parent, which may be
    /// removed.
    ///
    /// # Errors
    ///
    /// [`StorageError::Locked`] if `dir` is a data directory another persister holds;
    /// [`StorageError::DirNotEmpty`] if `dir` holds anything else; [`StorageError::Io`] if the
    /// parent cannot be written.
    pub fn create(dir: impl AsRef<Path>) -> Result<FilePersister, StorageError> {
        Self::create_with(dir, &[])
    }

    /// Like [`FilePersister::create`], with `extra_files` (name, contents) of the caller's
    /// written into the new directory before it is renamed into place, so that they appear
    /// with it or not at all (a node's identity beside its Raft state, say). Each name must be
    /// a plain file name, none of the persister's own (`hard_state`, `log`, `snapshot`,
    /// `LOCK`, its temporary prefixes); opening the directory later ignores them.
    ///
    /// # Errors
    ///
    /// As [`FilePersister::create`]; and [`StorageError::Io`] (invalid input) for a name that
    /// is not allowed, before anything is made.
    pub fn create_with(
        dir: impl AsRef<Path>,
        extra_files: &[(&str, &[u8])],
    ) -> Result<FilePersister, StorageError> {
        // Locked from before the directory appears under its name until the persister drops.
        let lock = dir::create_dir(dir.as_ref(), extra_files)?;
        Self::open_locked(dir.as_ref(), lock)
    }

    /// Opens the data directory `dir` that [`FilePersister::create`] made, recovering from a
    /// crash: the unfinished tail of the log's last change is cut (and logged), a log a newer
    /// snapshot was installed over is rewritten without the entries it covers, temporary files
    /// are removed. Every check runs before the first write, so a directory found damaged is
    /// not modified (but for its empty `LOCK` file, made if missing: the lock comes first).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotADataDir`] if `dir` does not exist or holds none of the files;
    /// [`StorageError::Locked`] if another persister holds it (nothing is read then);
    /// [`StorageError::Corrupt`] naming the file (and offset) if a file is damaged in any other
    /// way than an unfinished last change, or missing beside the others;
    /// [`StorageError::Io`] if the directory cannot be read or written.
    pub fn open(dir: impl AsRef<Path>) -> Result<FilePersister, StorageError> {
        let lock = dir::lock_data_dir(dir.as_ref())?;
        Self::open_locked(dir.as_ref(), lock)
    }

    /// Opens the data directory `dir`, whose lock the caller holds.
    fn open_locked(dir: &Path, lock: DirLock) -> Result<FilePersister, StorageError> {
        let mut disk = Disk::new(dir.to_path_buf());
        let found = dir::inspect(&disk)?;
        disk.remove_leftover_temps()?;
        let last_included_index = found.last_included_index();
        let log = LogFile::open(&mut disk, found.log, last_included_index)?;
        Ok(FilePersister {
            disk,
            log,
            hard_state_size: encoded_size(&found.hard_state)?,
            hard_state: found.hard_state,
            snapshot_meta: found.snapshot.as_ref().map(|snapshot| snapshot.meta),
            snapshot_data_size: found.snapshot.map_or(0, |snapshot| snapshot.data.len() as u64),
            failed: false,
            _lock: lock,
        })
    }

    /// The directory this persister keeps its files in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.disk.dir()
    }

    /// The snapshot's last included index, or zero without a snapshot.
    fn last_included_index(&self) -> LogIndex {
        self.snapshot_meta
            .map_or(LogIndex::ZERO, |meta| meta.last_included_index)
    }

    /// Runs a change unless an earlier one failed; an I/O error marks the persister failed.
    fn change<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.failed {
            let error = io::Error::other("an earlier write failed; reopen the directory");
            return Err(StorageError::io(self.disk.dir(), error));
        }
        let result = op(self);
        if matches!(result, Err(StorageError::Io { .. })) {
            self.failed = true;
        }
        result
    }
}

/// Fault injection, for crash tests: stop the persister at a chosen write step.
#[cfg(any(test, feature = "fault-injection"))]
impl FilePersister {
    /// Plans a simulated crash: the next `steps` write steps (each write, fsync, `set_len`,
    /// rename and directory fsync is one) are taken, the one after fails as a crash would (a
    /// write is left half done, anything else is not done) and so does every later change.
    /// Reopen the directory to see what survived.
    pub fn crash_after_write_steps(&mut self, steps: u64) {
        self.disk.crash_after_write_steps(steps);
    }

    /// How many write steps this persister has taken since it was opened.
    #[must_use]
    pub fn write_steps_taken(&self) -> u64 {
        self.disk.write_steps_taken()
    }
}

impl Storage for FilePersister {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        if *hard_state == self.hard_state && !self.failed {
            return Ok(()); // Already durable.
        }
        self.change(|this| {
            let bytes = format::seal(HARD_STATE_MAGIC, hard_state)?;
            let size = encoded_size(hard_state)?;
            this.disk.replace_atomically(HARD_STATE_FILE, &bytes)?;
            this.hard_state = *hard_state;
            this.hard_state_size = size;
            Ok(())
        })
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.change(|this| {
            check_contiguous(this.log.last_index(), entries)?;
            if entries.is_empty() {
                return Ok(());
            }
            this.log.append(entries, &mut this.disk)
        })
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.change(|this| {
            let last_included_index = this.last_included_index();
            if from <= last_included_index {
                return Err(StorageError::BeforeSnapshot {
                    from,
                    last_included_index,
                });
            }
            this.log.truncate_suffix(from, &mut this.disk)
        })
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.change(|this| {
            let got = snapshot.meta.last_included_index;
            check_new_snapshot(this.last_included_index(), got)?;
            let bytes = format::seal(SNAPSHOT_MAGIC, snapshot)?;
            // First the snapshot, then the log without what it covers: a crash in between
            // leaves covered records, which open drops.
            this.disk.replace_atomically(SNAPSHOT_FILE, &bytes)?;
            this.snapshot_meta = Some(snapshot.meta);
            this.snapshot_data_size = snapshot.data.len() as u64;
            this.log.discard_through(got, &mut this.disk)
        })
    }

    fn load(&self) -> Result<PersistedState, StorageError> {
        let found = dir::inspect(&self.disk)?;
        Ok(PersistedState {
            hard_state: found.hard_state,
            snapshot: found.snapshot,
            entries: found.log.entries,
        })
    }

    fn raft_state_size(&self) -> u64 {
        self.hard_state_size + self.log.entries_size()
    }

    fn snapshot_size(&self) -> u64 {
        self.snapshot_data_size
    }
}
