//! The data directory's lock: one persister per directory, across processes.
//!
//! Two persisters writing one directory would corrupt it (each believes it owns the log's
//! durable end). So a persister holds an exclusive advisory lock (`flock` on Unix, through
//! [`File::try_lock`]) on `<dir>/LOCK` for its whole life; the lock goes with the open file,
//! so it is released when the persister is dropped or its process dies, however it dies. A
//! second open or create of a locked directory is refused with [`StorageError::Locked`] at
//! once, without waiting and without reading a file the owner may be writing. One more holder
//! is possible for an instant: a child process forked while the lock is held shares the open
//! file until it execs (std opens every file close-on-exec), so a drop during that window
//! releases the lock only when the child execs.
//!
//! The `LOCK` file itself holds nothing and is never removed: removing it would let a second
//! process lock a new file of the same name while the first still holds the old one.

use crate::StorageError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// The name of the lock file in a data directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// An exclusive lock on a data directory, held while this value lives.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// The open `LOCK` file that carries the lock; closing it releases the lock.
    _file: File,
}

/// Takes the lock of the directory `dir` (whose `LOCK` file is at `dir/LOCK`), creating the
/// file if it is missing (a directory made before locks existed, or a staging directory).
///
/// `locked_dir` is the directory named in a refusal: the data directory, also when `dir` is
/// the staging directory it is built in.
pub(crate) fn lock(dir: &Path, locked_dir: &Path) -> Result<DirLock, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|error| StorageError::io(&path, error))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked {
            dir: locked_dir.to_path_buf(),
        }),
        Err(TryLockError::Error(error)) => Err(StorageError::io(&path, error)),
    }
}

/// Whether another open file (of this process or another) holds the lock of `dir`. Creates
/// nothing: a directory without a `LOCK` file is not locked.
pub(crate) fn is_locked(dir: &Path) -> Result<bool, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(StorageError::io(&path, error)),
    };
    match file.try_lock() {
        // Taken for a moment only: dropping `file` releases it.
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(error)) => Err(StorageError::io(&path, error)),
    }
}
