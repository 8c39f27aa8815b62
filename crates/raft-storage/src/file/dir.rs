//! The data directory as a whole: making a new one on purpose ([`create_dir`]), and reading
//! one without writing a byte ([`inspect`]), so that a directory found damaged is left exactly
//! as it was.
//!
//! A data directory always holds `hard_state` and `log` (and `snapshot` once one is installed):
//! [`create_dir`] builds both in a staging directory beside the target and renames it into
//! place, so a crash during creation leaves no half-made directory under the target's name.
//! [`inspect`] therefore treats any missing file as loss, never as a fresh start: a peer that
//! forgot its term and vote could vote twice in one term.

use super::disk::{Disk, sync_dir};
use super::format::{
    self, HARD_STATE_FILE, HARD_STATE_MAGIC, LOG_FILE, SNAPSHOT_FILE, SNAPSHOT_MAGIC, TEMP_PREFIX,
};
use super::lock::{self, DirLock};
use super::log::{LogFile, LogScan, scan_log};
use crate::{HardState, LOG_INDEX_MAX, Snapshot, StorageError};
use raft_core::LogIndex;
use serde::de::DeserializeOwned;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// The prefix of the staging directory [`create_dir`] builds beside the target.
const STAGING_PREFIX: &str = ".raft-create-";

/// Everything a data directory holds, read and checked, before any repair.
#[derive(Debug)]
pub(crate) struct Found {
    /// Term and vote.
    pub(crate) hard_state: HardState,
    /// The snapshot, if one was installed.
    pub(crate) snapshot: Option<Snapshot>,
    /// The log as read.
    pub(crate) log: LogScan,
}

impl Found {
    /// The snapshot's last included index, or zero.
    pub(crate) fn last_included_index(&self) -> LogIndex {
        self.snapshot
            .as_ref()
            .map_or(LogIndex::ZERO, |snapshot| snapshot.meta.last_included_index)
    }
}

/// Makes a new data directory at `dir`: term 0, no vote, an empty log, and `extra_files`
/// (name, contents) beside them. `dir` must not exist or be empty; its parent is created if
/// needed and must be writable (the staging directory is built there). Returns the
/// directory's lock, taken in the staging directory before the rename, so that no other
/// persister can open the new directory before the caller does.
pub(crate) fn create_dir(dir: &Path, extra_files: &[(&str, &[u8])]) -> Result<DirLock, StorageError> {
    for (name, _) in extra_files {
        check_extra_file_name(dir, name)?;
    }
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                // A directory in use says so, rather than merely "not empty".
                if lock::is_locked(dir)? {
                    return Err(StorageError::Locked {
                        dir: dir.to_path_buf(),
                    });
                }
                return Err(StorageError::DirNotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(StorageError::io(dir, error)),
    }
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|error| StorageError::io(parent, error))?;
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(parent)
        .map_err(|error| StorageError::io(parent, error))?;
    let hard_state = format::seal(HARD_STATE_MAGIC, &HardState::default())?;
    write_new_file(&staging.path().join(HARD_STATE_FILE), &hard_state)?;
    write_new_file(
        &staging.path().join(LOG_FILE),
        &LogFile::empty_bytes(LogIndex::ZERO),
    )?;
    for (name, bytes) in extra_files {
        write_new_file(&staging.path().join(name), bytes)?;
    }
    // The lock is on the open file, which the rename does not change.
    let lock = lock::lock(staging.path(), dir)?;
    sync_dir(staging.path()).map_err(|error| StorageError::io(staging.path(), error))?;
    // An empty `dir` is replaced by the rename (POSIX); a non-empty one makes it fail.
    #[cfg(not(unix))]
    if dir.exists() {
        fs::remove_dir(dir).map_err(|error| StorageError::io(dir, error))?;
    }
    fs::rename(staging.path(), dir).map_err(|error| StorageError::io(dir, error))?;
    let _renamed = staging.keep(); // nothing is left at the staging path to remove
    sync_dir(parent).map_err(|error| StorageError::io(parent, error))?;
    Ok(lock)
}

/// Takes the lock of the existing data directory `dir`, reading nothing else and writing
/// nothing but its `LOCK` file (created if missing). A path that is no data directory (it does
/// not exist, is no directory, or holds none of the persister's files) is refused before
/// anything is created in it.
pub(crate) fn lock_data_dir(dir: &Path) -> Result<DirLock, StorageError> {
    check_is_dir(dir)?;
    let mut holds_data = false;
    for name in [HARD_STATE_FILE, LOG_FILE, SNAPSHOT_FILE] {
        let path = dir.join(name);
        holds_data |= path
            .try_exists()
            .map_err(|error| StorageError::io(&path, error))?;
    }
    if !holds_data {
        return Err(not_a_data_dir(dir, NO_DATA_FILES));
    }
    lock::lock(dir, dir)
}

/// Checks that `name` may be an extra file of a new data directory: one plain file name
/// (no separator, not `.` or `..`), none of the persister's own names or prefixes.
fn check_extra_file_name(dir: &Path, name: &str) -> Result<(), StorageError> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    let ours = [HARD_STATE_FILE, LOG_FILE, SNAPSHOT_FILE, lock::LOCK_FILE].contains(&name)
        || name.starts_with(TEMP_PREFIX)
        || name.starts_with(STAGING_PREFIX);
    if plain && !ours {
        return Ok(());
    }
    Err(StorageError::io(
        dir.join(name),
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} cannot be an extra file of a data directory"),
        ),
    ))
}

/// Why a directory without any of the persister's files is no data directory.
const NO_DATA_FILES: &str = "it holds no hard_state, log or snapshot";

/// A [`StorageError::NotADataDir`] about `dir`.
fn not_a_data_dir(dir: &Path, reason: &str) -> StorageError {
    StorageError::NotADataDir {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Checks that `dir` exists and is a directory.
fn check_is_dir(dir: &Path) -> Result<(), StorageError> {
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(not_a_data_dir(dir, "it is not a directory")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err(not_a_data_dir(dir, "it does not exist"))
        }
        Err(error) => Err(StorageError::io(dir, error)),
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    File::create_new(path)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .map_err(|error| StorageError::io(path, error))
}

/// Reads and checks the whole data directory of `disk`, writing nothing. Files it does not
/// know (the `LOCK` file, temporary files) are none of its business.
///
/// # Errors
///
/// [`StorageError::NotADataDir`] if the directory is missing, not a directory, or holds none
/// of the three files; [`StorageError::Corrupt`] naming the file if one is damaged, or missing
/// beside the others (a missing `snapshot` is damage only if the log was compacted);
/// [`StorageError::Io`] if a read fails.
pub(crate) fn inspect(disk: &Disk) -> Result<Found, StorageError> {
    check_is_dir(disk.dir())?;
    let hard_state: Option<HardState> = read_sealed(disk, HARD_STATE_FILE, HARD_STATE_MAGIC)?;
    let snapshot: Option<Snapshot> = read_sealed(disk, SNAPSHOT_FILE, SNAPSHOT_MAGIC)?;
    let log_path = disk.path(LOG_FILE);
    let log_bytes = read_optional(&log_path)?;
    let missing = |name: &str, reason: &str| StorageError::corrupt(disk.path(name), 0, reason);
    let (hard_state, log_bytes) = match (hard_state, log_bytes) {
        (Some(hard_state), Some(log_bytes)) => (hard_state, log_bytes),
        (None, None) if snapshot.is_none() => {
            return Err(not_a_data_dir(disk.dir(), NO_DATA_FILES));
        }
        (None, _) => {
            let reason = "missing beside the log or snapshot: the term and vote it held are lost";
            return Err(missing(HARD_STATE_FILE, reason));
        }
        (Some(_), None) => return Err(missing(LOG_FILE, "missing beside hard_state")),
    };
    let last_included_index = snapshot
        .as_ref()
        .map_or(LogIndex::ZERO, |snapshot| snapshot.meta.last_included_index);
    if last_included_index > LOG_INDEX_MAX {
        let reason = format!("last included index {last_included_index} is above the largest index");
        return Err(StorageError::corrupt(disk.path(SNAPSHOT_FILE), 0, reason));
    }
    let log = scan_log(&log_bytes, last_included_index, &log_path)?;
    if log.prefix.base > last_included_index {
        let reason = match &snapshot {
            None => format!(
                "missing, but the log was compacted through index {}",
                log.prefix.base
            ),
            Some(_) => format!(
                "covers only through index {last_included_index}, but the log was compacted \
                 through index {}",
                log.prefix.base
            ),
        };
        return Err(StorageError::corrupt(disk.path(SNAPSHOT_FILE), 0, reason));
    }
    Ok(Found {
        hard_state,
        snapshot,
        log,
    })
}

/// Reads and decodes the sealed file `name`; `None` if it does not exist.
fn read_sealed<T: DeserializeOwned>(
    disk: &Disk,
    name: &str,
    magic: [u8; 4],
) -> Result<Option<T>, StorageError> {
    let path = disk.path(name);
    read_optional(&path)?
        .map(|bytes| format::unseal(magic, &bytes, &path))
        .transpose()
}

/// The bytes of `path`; `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StorageError::io(path, error)),
    }
}
