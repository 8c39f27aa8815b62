//! The outputs of the state machine, collected during inputs and handed to the runtime.
//!
//! The state machine performs nothing. After each input the runtime takes one [`Ready`] and
//! must carry it out in this order, which is the persistence contract of Figure 2 ("updated on
//! stable storage before responding to RPCs"):
//!
//! 1. persist `hard_state`, then `truncate_from`, then `snapshot`, then `entries` (in that
//!    order: a crash after any step leaves a log the peer can restart from);
//! 2. only then send `messages` and return `reply` to the caller of the request just stepped;
//! 3. then hand the service `snapshot` if `apply_snapshot` says so, then `committed`, in index
//!    order.

use alloc::vec::Vec;

use crate::message::Message;
use crate::{Entry, HardState, LogIndex, PeerId, Snapshot};

/// Everything one or more inputs asked of the runtime, in the order it must be done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a Ready must be carried out: persist, then send, then apply"]
pub struct Ready {
    /// Term and vote to persist, if they changed since the last Ready.
    pub hard_state: Option<HardState>,
    /// A snapshot to persist (it discards the persisted entries it covers and keeps the
    /// later ones), after the truncation and before the entries.
    pub snapshot: Option<Snapshot>,
    /// True if `snapshot` came from the leader and must also be handed to the service, before
    /// `committed` (a snapshot the service took itself is not handed back).
    pub apply_snapshot: bool,
    /// Remove every persisted entry at or after this index (before appending `entries`).
    pub truncate_from: Option<LogIndex>,
    /// Entries to append to the persisted log, contiguous, after any truncation.
    pub entries: Vec<Entry>,
    /// Messages to send, each to one peer; only after the state above is persisted.
    pub messages: Vec<(PeerId, Message)>,
    /// The reply to the request that was just stepped, if it asked for one; only after the
    /// state above is persisted.
    pub reply: Option<Message>,
    /// Newly committed entries, in index order, each handed out exactly once.
    pub committed: Vec<Entry>,
}

impl Ready {
    /// True if there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.reply.is_none()
            && self.committed.is_empty()
    }

    /// True if something must be persisted before the messages and reply may leave.
    #[must_use]
    pub fn must_persist(&self) -> bool {
        self.hard_state.is_some()
            || self.snapshot.is_some()
            || self.truncate_from.is_some()
            || !self.entries.is_empty()
    }

    /// Records that the log was cut at `from`: pending appends at or after it are dropped, and
    /// storage is told to truncate if the cut reaches entries it already holds.
    pub(crate) fn record_truncate(&mut self, from: LogIndex) {
        match self.entries.first().map(|e| e.index) {
            Some(first) if from > first => {
                self.entries.retain(|e| e.index < from);
            }
            _ => {
                self.entries.clear();
                self.truncate_from = Some(self.truncate_from.map_or(from, |t| t.min(from)));
            }
        }
    }

    /// Records a snapshot to persist, and fits the pending log changes to the order storage
    /// applies them in (truncation, then snapshot, then appends): appends it covers are
    /// dropped, and if the log was discarded (`kept_suffix` false) every persisted entry after
    /// it is cut first.
    pub(crate) fn record_snapshot(&mut self, snapshot: Snapshot, kept_suffix: bool, apply: bool) {
        let after = snapshot.meta.last_included_index.next();
        self.entries.retain(|e| e.index >= after);
        if !kept_suffix {
            self.entries.clear();
            self.truncate_from = Some(after);
        } else if let Some(from) = self.truncate_from {
            self.truncate_from = Some(from.max(after));
        }
        self.apply_snapshot |= apply;
        self.snapshot = Some(snapshot);
    }
}
