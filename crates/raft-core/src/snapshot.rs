//! Log compaction (section 7): the service's snapshots, and InstallSnapshot for followers that
//! need entries the leader has discarded (the whole snapshot in one message, as 6.824 allows).

use core::fmt;

use crate::message::{InstallSnapshotArgs, InstallSnapshotReply, Request};
use crate::raft::Raft;
use crate::{LogIndex, PeerId, Snapshot, SnapshotMeta};

/// Why a snapshot from the service was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// The log is already compacted through this index or further.
    NotNewer {
        /// The index the service named.
        index: LogIndex,
        /// The index the current snapshot already covers.
        current: LogIndex,
    },
    /// The index has not been handed to the service yet, so its state cannot include it.
    NotApplied {
        /// The index the service named.
        index: LogIndex,
        /// The last index handed to the service.
        last_applied: LogIndex,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NotNewer { index, current } => {
                write!(
                    f,
                    "snapshot through {index} is not newer than the current one (through {current})"
                )
            }
            SnapshotError::NotApplied { index, last_applied } => {
                write!(
                    f,
                    "snapshot through {index} names entries not yet applied (last applied {last_applied})"
                )
            }
        }
    }
}

impl core::error::Error for SnapshotError {}

impl Raft {
    /// Input: the service's state through `index` is `data`. Raft discards its log through
    /// `index` (keeping the later entries) and persists the snapshot in their place.
    ///
    /// # Errors
    /// [`SnapshotError`] if the log is already compacted that far, or the service names an
    /// index it has not been handed yet; nothing changes then.
    pub fn snapshot(&mut self, index: LogIndex, data: alloc::vec::Vec<u8>) -> Result<(), SnapshotError> {
        let current = self.log.snapshot().last_included_index;
        if index <= current {
            return Err(SnapshotError::NotNewer { index, current });
        }
        if index > self.last_applied {
            return Err(SnapshotError::NotApplied {
                index,
                last_applied: self.last_applied,
            });
        }
        let Some(term) = self.log.term_at(index) else {
            return Err(SnapshotError::NotApplied {
                index,
                last_applied: self.last_applied,
            });
        };
        let meta = SnapshotMeta {
            last_included_index: index,
            last_included_term: term,
        };
        self.log.compact(meta);
        self.snapshot_data.clone_from(&data);
        self.ready.record_snapshot(Snapshot { meta, data }, true, false);
        self.check_invariants();
        Ok(())
    }

    /// Sends the snapshot to a follower whose `nextIndex` lies inside the compacted prefix
    /// (Figure 13: "invoked by leader to send chunks of a snapshot to a follower"; one chunk).
    pub(crate) fn send_install_snapshot(&mut self, peer: PeerId) {
        let meta = self.log.snapshot();
        let Some(p) = self.progress_mut(peer) else {
            return;
        };
        p.in_flight = p.in_flight.saturating_add(1);
        // One snapshot at a time: the window of a pipeline would send it again and again.
        p.pipelining = false;
        let args = InstallSnapshotArgs {
            term: self.current_term,
            leader_id: self.config.id,
            last_included_index: meta.last_included_index,
            last_included_term: meta.last_included_term,
            data: self.snapshot_data.clone(),
        };
        self.send(peer, Request::InstallSnapshot(args));
    }

    /// Figure 13, InstallSnapshot RPC, Receiver implementation (single chunk):
    /// 1. "Reply immediately if term < currentTerm."
    /// 5. "Save snapshot file, discard any existing or partial snapshot with a smaller index."
    /// 6. "If existing log entry has same index and term as snapshot's last included entry,
    ///    retain log entries following it and reply."
    /// 7. "Discard the entire log."
    /// 8. "Reset state machine using snapshot contents."
    ///
    /// A snapshot that covers no more than what is already committed changes nothing: the
    /// service must never move backwards. Like AppendEntries, a request from the current
    /// leader resets the election timer.
    pub(crate) fn handle_install_snapshot(&mut self, args: InstallSnapshotArgs) -> InstallSnapshotReply {
        if args.term < self.current_term || self.is_leader() {
            return InstallSnapshotReply {
                term: self.current_term,
                match_index: LogIndex::ZERO,
            };
        }
        self.become_follower(args.term, Some(args.leader_id), true);
        let meta = SnapshotMeta {
            last_included_index: args.last_included_index,
            last_included_term: args.last_included_term,
        };
        if meta.last_included_index > self.commit_index {
            let kept_suffix = self
                .log
                .matches(meta.last_included_index, meta.last_included_term);
            self.log.compact(meta);
            if !kept_suffix {
                // The log after the snapshot is gone; the snapshot itself is durable once
                // this Ready is carried out.
                self.durable_index = self.durable_index.min(meta.last_included_index);
            }
            self.snapshot_data.clone_from(&args.data);
            self.commit_index = meta.last_included_index;
            self.last_applied = meta.last_included_index;
            self.ready.record_snapshot(
                Snapshot {
                    meta,
                    data: args.data,
                },
                kept_suffix,
                true,
            );
        }
        InstallSnapshotReply {
            term: self.current_term,
            match_index: meta.last_included_index,
        }
    }

    /// The leader's side of InstallSnapshot: the follower now holds everything through the
    /// snapshot, so `matchIndex` and `nextIndex` move past it, and replication resumes.
    pub(crate) fn handle_install_snapshot_reply(&mut self, from: PeerId, reply: InstallSnapshotReply) {
        if reply.term != self.current_term {
            return;
        }
        self.record_active(from);
        if reply.match_index == LogIndex::ZERO {
            return;
        }
        let Some(p) = self.progress_mut(from) else {
            return;
        };
        p.in_flight = p.in_flight.saturating_sub(1);
        self.record_match(from, reply.match_index);
    }
}
