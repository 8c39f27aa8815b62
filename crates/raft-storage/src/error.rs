//! [`StorageError`]: every way a storage operation can fail, each naming what it is about.
//!
//! Five kinds: the disk failed (`Io`), a file is damaged (`Corrupt`, with file and offset), a
//! directory is not what the call needs (`NotADataDir` for open, `DirNotEmpty` for create), a
//! directory is in use by another persister (`Locked`), or the caller broke an operation's
//! contract (`NonContiguous`, `IndexOutOfRange`, `BeforeSnapshot`, `StaleSnapshot`, which
//! change nothing). `Encode` is a serializer failure.

use raft_core::LogIndex;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug)]
pub enum StorageError {
    /// The operating system reported an error on `path`.
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// `path` holds bytes that are not what this crate wrote, or is missing beside files that
    /// need it: a bad magic, a bad checksum, a log shorter than its recorded durable end,
    /// indices that do not follow each other. Never the unfinished tail of the log's last
    /// change, which recovery cuts off (see `FilePersister` for the rule).
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The byte offset in `path` where the damage was found.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
    /// An append did not continue the log: `expected` is the index that had to come next.
    NonContiguous {
        /// The index the entry had to have.
        expected: LogIndex,
        /// The index it had.
        got: LogIndex,
    },
    /// An entry or snapshot index above [`crate::LOG_INDEX_MAX`]: the index after it would not
    /// exist.
    IndexOutOfRange {
        /// The offending index.
        index: LogIndex,
        /// The largest index storage accepts.
        max: LogIndex,
    },
    /// A truncation would have reached into the snapshot.
    BeforeSnapshot {
        /// The first index the caller asked to remove.
        from: LogIndex,
        /// The snapshot's last included index (zero without a snapshot); `from` must exceed it.
        last_included_index: LogIndex,
    },
    /// A snapshot not newer than the current one: snapshots never move backwards.
    StaleSnapshot {
        /// The current snapshot's last included index (zero without a snapshot).
        current: LogIndex,
        /// The offered snapshot's last included index.
        got: LogIndex,
    },
    /// `FilePersister::open` found no data directory at `dir`: it does not exist, is not a
    /// directory, or holds none of the persister's files. Opening never starts afresh, since a
    /// peer that forgot its vote could vote twice in one term; `FilePersister::create` makes a
    /// new one on purpose.
    NotADataDir {
        /// The directory that was to be opened.
        dir: PathBuf,
        /// What was found there instead.
        reason: String,
    },
    /// `FilePersister::create` was given a directory that already holds files.
    DirNotEmpty {
        /// The directory that was to be created.
        dir: PathBuf,
    },
    /// Another `FilePersister` (of this process or another) holds the directory's lock: two
    /// persisters on one directory would corrupt it. The lock is released when its holder
    /// is dropped or its process ends.
    Locked {
        /// The data directory that is in use.
        dir: PathBuf,
    },
    /// postcard could not encode a value.
    Encode(String),
}

impl StorageError {
    /// An `Io` error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// A `Corrupt` error about `path` at `offset`.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, source } => {
                write!(f, "I/O error on {}: {source}", path.display())
            }
            StorageError::Corrupt { path, offset, reason } => {
                write!(
                    f,
                    "{} is corrupt at byte offset {offset}: {reason}",
                    path.display()
                )
            }
            StorageError::NonContiguous { expected, got } => {
                write!(
                    f,
                    "entries do not continue the log: expected index {expected}, got {got}"
                )
            }
            StorageError::IndexOutOfRange { index, max } => write!(
                f,
                "index {index} is out of range: storage accepts indices up to {max}"
            ),
            StorageError::BeforeSnapshot {
                from,
                last_included_index,
            } => write!(
                f,
                "cannot truncate from index {from}: the snapshot covers up to index \
                 {last_included_index}"
            ),
            StorageError::StaleSnapshot { current, got } => write!(
                f,
                "snapshot up to index {got} is not newer than the current one up to index {current}"
            ),
            StorageError::NotADataDir { dir, reason } => write!(
                f,
                "{} is not a raft data directory: {reason} (FilePersister::create makes one)",
                dir.display()
            ),
            StorageError::DirNotEmpty { dir } => write!(
                f,
                "cannot create a raft data directory at {}: it is not empty",
                dir.display()
            ),
            StorageError::Locked { dir } => write!(
                f,
                "the raft data directory {} is in use by another process (its LOCK is held)",
                dir.display()
            ),
            StorageError::Encode(reason) => write!(f, "cannot encode: {reason}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
