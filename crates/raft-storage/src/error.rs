//! [`StorageError`]: every way a storage operation can fail, each naming what it is about.
//!
//! Three kinds: the disk failed (`Io`), a file is damaged (`Corrupt`, with file and offset),
//! or the caller broke an operation's contract (`NonContiguous`, `BeforeSnapshot`,
//! `StaleSnapshot`, which change nothing). `Encode` is a serializer failure.

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
    /// `path` holds bytes that are not what this crate wrote: a bad magic, a bad checksum
    /// before the final record, indices that do not follow each other. Never a torn final
    /// log record, which recovery cuts off.
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
