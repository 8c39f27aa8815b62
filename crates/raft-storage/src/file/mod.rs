//! [`FilePersister`]: persisted state in a directory, crash-safe.
//!
//! The pieces: [`disk`] takes every write step (and can crash at any one, for tests),
//! [`format`] encodes and checks the bytes, [`log`] keeps the append-only log and its
//! index -> offset table, and this module ties them to the [`Storage`] contract.

mod disk;
mod format;
mod log;

#[cfg(test)]
mod crash_tests;

use crate::{
    HardState, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError, check_contiguous, encoded_size,
};
use disk::Disk;
use format::{HARD_STATE_FILE, HARD_STATE_MAGIC, LOG_FILE, SNAPSHOT_FILE, SNAPSHOT_MAGIC};
use log::{LogFile, scan_log};
use raft_core::{Entry, LogIndex};
use serde::de::DeserializeOwned;
use std::io;
use std::path::Path;

/// Persisted state in a directory, crash-safe: `hard_state`, `snapshot` and `log` files.
///
/// | file         | format                                          | changed by             |
/// |--------------|-------------------------------------------------|------------------------|
/// | `hard_state` | `RSHS`, version, postcard [`HardState`], crc32c | atomic replace         |
/// | `snapshot`   | `RSSN`, version, postcard [`Snapshot`], crc32c  | atomic replace         |
/// | `log`        | `RSLG`, version, then records                   | append, cut, replace   |
///
/// A log record is `[len: u32 LE][crc32c: u32 LE][postcard Entry]`, the checksum covering the
/// length bytes and the payload. An atomic replace writes a temporary file (`.raft-tmp-*`) in
/// the directory, fsyncs it, renames it over the target and fsyncs the directory.
///
/// Missing files: `hard_state` is legitimately missing until the first save (term 0, no
/// vote), `snapshot` until the first install. `log` is created when a fresh directory is
/// opened, so a missing `log` beside either of the others is [`StorageError::Corrupt`].
///
/// Every change is durable when it returns `Ok`. After an I/O error the persister refuses
/// further changes (what reached the disk is unknown); reopen the directory to recover.
/// One persister per directory: two at once would corrupt it.
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
}

impl FilePersister {
    /// Opens the persister in `dir`, creating the directory and an empty log if needed, and
    /// recovering from a crash: a torn final log record is cut off, log entries a newer
    /// snapshot covers are dropped, temporary files are removed.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] if the directory cannot be read or written;
    /// [`StorageError::Corrupt`] if a file is damaged in any other way than a torn final log
    /// record, or `log` is missing beside other files.
    pub fn open(dir: impl AsRef<Path>) -> Result<FilePersister, StorageError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|error| StorageError::io(dir, error))?;
        let mut disk = Disk::new(dir.to_path_buf());
        disk.remove_leftover_temps()?;
        let hard_state: Option<HardState> = read_sealed(&disk, HARD_STATE_FILE, HARD_STATE_MAGIC)?;
        let snapshot: Option<Snapshot> = read_sealed(&disk, SNAPSHOT_FILE, SNAPSHOT_MAGIC)?;
        if !disk
            .path(LOG_FILE)
            .try_exists()
            .map_err(|error| StorageError::io(dir, error))?
        {
            if hard_state.is_some() || snapshot.is_some() {
                let reason = "the log file is missing but hard_state or snapshot exists";
                return Err(StorageError::corrupt(disk.path(LOG_FILE), 0, reason));
            }
            LogFile::create(&mut disk)?;
        }
        let snapshot_meta = snapshot.as_ref().map(|snapshot| snapshot.meta);
        let last_included_index = snapshot_meta.map_or(LogIndex::ZERO, |m| m.last_included_index);
        let (log, _entries) = LogFile::open(&mut disk, last_included_index)?;
        let hard_state = hard_state.unwrap_or_default();
        Ok(FilePersister {
            disk,
            log,
            hard_state_size: encoded_size(&hard_state)?,
            hard_state,
            snapshot_meta,
            snapshot_data_size: snapshot.map_or(0, |snapshot| snapshot.data.len() as u64),
            failed: false,
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
            let current = this.last_included_index();
            let got = snapshot.meta.last_included_index;
            if got <= current {
                return Err(StorageError::StaleSnapshot { current, got });
            }
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
        let hard_state: Option<HardState> = read_sealed(&self.disk, HARD_STATE_FILE, HARD_STATE_MAGIC)?;
        let snapshot: Option<Snapshot> = read_sealed(&self.disk, SNAPSHOT_FILE, SNAPSHOT_MAGIC)?;
        let last_included_index = snapshot
            .as_ref()
            .map_or(LogIndex::ZERO, |s| s.meta.last_included_index);
        let log_path = self.disk.path(LOG_FILE);
        let bytes = std::fs::read(&log_path).map_err(|error| StorageError::io(&log_path, error))?;
        let scan = scan_log(&bytes, last_included_index, &log_path)?;
        Ok(PersistedState {
            hard_state: hard_state.unwrap_or_default(),
            snapshot,
            entries: scan.entries,
        })
    }

    fn raft_state_size(&self) -> u64 {
        self.hard_state_size + self.log.entries_size()
    }

    fn snapshot_size(&self) -> u64 {
        self.snapshot_data_size
    }
}

/// Reads and decodes the sealed file `name`; `None` if it does not exist.
fn read_sealed<T: DeserializeOwned>(
    disk: &Disk,
    name: &str,
    magic: [u8; 4],
) -> Result<Option<T>, StorageError> {
    let path = disk.path(name);
    match std::fs::read(&path) {
        Ok(bytes) => format::unseal(magic, &bytes, &path).map(Some),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StorageError::io(&path, error)),
    }
}
