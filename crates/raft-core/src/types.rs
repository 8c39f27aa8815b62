//! The shared vocabulary: terms, log indices, peer ids and log entries.
//!
//! Each is a newtype so that a term can never be passed where an index is expected, and each
//! orders the way the paper compares them. Index 0 and term 0 mean "before the first entry",
//! as in Figure 2, where logs are 1-indexed.

use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;
use serde::{Deserialize, Serialize};

/// A Raft term: a logical clock that only grows (section 5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Term(pub u64);

impl Term {
    /// The term every peer starts in, before any election.
    pub const ZERO: Term = Term(0);

    /// The term after this one: what a follower that times out campaigns in.
    ///
    /// # Panics
    /// At `u64::MAX`, which no peer reaches: the gate refuses terms above
    /// [`crate::TERM_MAX`], half the range, and only campaigns count up from there.
    #[must_use]
    pub fn next(self) -> Term {
        assert!(
            self.0 < u64::MAX,
            "terms stay far below u64::MAX (the gate's TERM_MAX)"
        );
        Term(self.0 + 1)
    }

    /// The term after this one, or `None` at `u64::MAX`: what a campaign checks first.
    #[must_use]
    pub fn checked_next(self) -> Option<Term> {
        self.0.checked_add(1).map(Term)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The position of an entry in the log, starting at 1; 0 means "no entry" (section 5.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The index before the first entry: an empty log's last index.
    pub const ZERO: LogIndex = LogIndex(0);

    /// The index after this one.
    ///
    /// # Panics
    /// At `u64::MAX`, which no log reaches: the gate refuses indices above
    /// [`crate::LOG_INDEX_MAX`], half the range, and only proposals count up from there.
    #[must_use]
    pub fn next(self) -> LogIndex {
        assert!(
            self.0 < u64::MAX,
            "log indices stay far below u64::MAX (the gate's LOG_INDEX_MAX)"
        );
        LogIndex(self.0 + 1)
    }

    /// The index before this one, saturating at zero.
    #[must_use]
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A peer's identity: its position in the cluster's peer list (as 6.824's `me`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId(pub u32);

impl PeerId {
    /// The peer id as a position in a peer list.
    #[must_use]
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// One log entry: a command, the term in which a leader received it, and its index.
///
/// The command is opaque bytes: Raft orders commands, the service gives them meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Where the entry sits in the log (1-based).
    pub index: LogIndex,
    /// The leader's term when the entry was created.
    pub term: Term,
    /// The service's command, as bytes: a shared buffer, so that the log, every
    /// AppendEntries, the Ready and the applier hold the same bytes, not copies of them.
    pub command: Bytes,
}

/// What a peer must persist about itself before it answers anyone: Figure 2's persistent
/// `currentTerm` and `votedFor` (the log is persisted entry by entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// Latest term this peer has seen.
    pub current_term: Term,
    /// The candidate this peer voted for in `current_term`, if any.
    pub voted_for: Option<PeerId>,
}

/// Where a snapshot ends: the last log entry it replaces (section 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The index of the last entry the snapshot replaces.
    pub last_included_index: LogIndex,
    /// The term of that entry.
    pub last_included_term: Term,
}

/// A snapshot of the service's state: it replaces every log entry through
/// `meta.last_included_index` (section 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which log prefix the snapshot replaces.
    pub meta: SnapshotMeta,
    /// The service's state, opaque to Raft.
    pub data: Vec<u8>,
}
