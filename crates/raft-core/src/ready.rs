//! The outputs of the state machine, collected during inputs and handed to the runtime.
//!
//! The state machine performs nothing. After each input the runtime takes one [`Ready`] and
//! must carry it out in this order, which is the persistence contract of Figure 2 ("updated on
//! stable storage before responding to RPCs"):
//!
//! 1. persist `hard_state`, then `truncate_from`, then `snapshot`, then `entries` (in that
//!    order: a crash after any step leaves a log the peer can restart from);
//! 2. only then send `messages` and return each of `replies` to the caller of the request it
//!    answers (named by the runtime's [`RequestId`]);
//! 3. then hand the service `snapshot` if `apply_snapshot` says so, then `committed`, in index
//!    order, then the outcomes of `reads` (a confirmed read's index may be one just applied).
//!
//! One exception, the leader's (thesis section 10.2.1): its AppendEntries go before step 1,
//! so that its own write of new entries runs beside the followers' writes of the same entries
//! instead of before them. That is safe because the leader counts its own log toward a
//! commit only once it is durable (it learns so when the next Ready is taken: a runtime
//! carries out each Ready before it takes the next), and its term and vote were persisted
//! before it campaigned. A Ready that changes term or vote sends nothing before the write.
//! Votes and follower acknowledgements always wait for it.
//!
//! [`Ready::carry_out`] is the one place that implements this order, and the only way to
//! consume a Ready: its parts are private, with read-only accessors for tests and traces. A
//! runtime (raft-node's event loop, the simulator, a test cluster) implements [`Effects`] for
//! its storage, network and service and calls it, so no runtime writes the sequence again and
//! none can drift.

use alloc::vec::Vec;

use crate::message::{Reply, Request, RequestId};
use crate::read::{ReadError, ReadId};
use crate::{Entry, HardState, LogIndex, PeerId, Snapshot};

/// Everything one or more inputs asked of the runtime; [`Ready::carry_out`] does it in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a Ready must be carried out (Ready::carry_out): persist, then send, then apply"]
pub struct Ready {
    /// Term and vote to persist, if they changed since the last Ready.
    pub(crate) hard_state: Option<HardState>,
    /// A snapshot to persist (it discards the persisted entries it covers and keeps the
    /// later ones), after the truncation and before the entries.
    pub(crate) snapshot: Option<Snapshot>,
    /// True if `snapshot` came from the leader and must also be handed to the service, before
    /// `committed` (a snapshot the service took itself is not handed back).
    pub(crate) apply_snapshot: bool,
    /// Remove every persisted entry at or after this index (before appending `entries`).
    pub(crate) truncate_from: Option<LogIndex>,
    /// Entries to append to the persisted log, contiguous, after any truncation.
    pub(crate) entries: Vec<Entry>,
    /// Requests to send, each to one peer; only after the state above is persisted, except a
    /// leader's AppendEntries (see the module doc).
    pub(crate) messages: Vec<(PeerId, Request)>,
    /// The replies to the requests stepped since the last Ready, each under the id the
    /// runtime gave its request; only after the state above is persisted.
    pub(crate) replies: Vec<(RequestId, Reply)>,
    /// Newly committed entries, in index order, each handed out exactly once.
    pub(crate) committed: Vec<Entry>,
    /// Reads confirmed (with the index to apply through before answering) or failed.
    pub(crate) reads: Vec<(ReadId, Result<LogIndex, ReadError>)>,
    /// The AppendEntries among `messages` may leave before the writes ([`crate::Config::send_before_write`]).
    pub(crate) send_before_write: bool,
}

/// The runtime's side of carrying out a [`Ready`]: one method per step (persist, send,
/// apply), called by [`Ready::carry_out`] in the order of the persistence contract.
///
/// The trait exists so that the order is written once, here, and every runtime only says
/// what each step means for it (a disk write, an RPC, a channel send; or a model and a
/// checker in a simulator). Each method may fail; `carry_out` then stops, so nothing later in
/// the order (in particular no message or reply) happens after a failed write.
pub trait Effects {
    /// Why an effect failed (a storage error in a runtime, a violated property in a simulator).
    type Error;

    /// Persists term and vote (durable when it returns).
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Self::Error>;

    /// Removes every persisted entry at or after `from` (durable when it returns).
    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Self::Error>;

    /// Persists `snapshot`, discarding the persisted entries it covers and keeping later ones
    /// (durable when it returns).
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Self::Error>;

    /// Appends `entries` to the persisted log (durable when it returns).
    /// Called only with a non-empty, contiguous run of entries.
    fn append(&mut self, entries: &[Entry]) -> Result<(), Self::Error>;

    /// Everything is durable; nothing has left yet. Called once per Ready, even one with
    /// nothing to persist: the point to publish state that must not run ahead of storage.
    /// Default: nothing.
    fn persisted(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Sends `request` to peer `to`, without waiting for the reply (which the runtime steps
    /// with [`crate::Raft::step_reply`] when it comes).
    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Self::Error>;

    /// Answers the request the runtime named `id` with `reply`.
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Self::Error>;

    /// A snapshot from the leader for the service (only when `apply_snapshot`).
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Self::Error>;

    /// One committed entry, in index order.
    fn apply(&mut self, entry: Entry) -> Result<(), Self::Error>;

    /// The outcome of the read the service named `id` ([`crate::Raft::read`]): the index
    /// to apply through before answering it from the service's state, or why it failed.
    /// Called after the committed entries of the same Ready were applied.
    fn read(&mut self, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Self::Error>;
}

impl Ready {
    /// Carries out this Ready through `effects` in the order of the persistence contract
    /// (Figure 2: stable storage is updated before responding to RPCs): first `send` for each
    /// AppendEntries, if the Ready changes neither term nor vote (the leader's, thesis section
    /// 10.2.1: see the module doc); then `save_hard_state`,
    /// `truncate_suffix`, `install_snapshot`, `append` (each only if there is something to
    /// do), `persisted`; then `send` for each other message in order, and `reply` for each
    /// reply in the order the requests were stepped; then
    /// `apply_snapshot` (if `apply_snapshot`) and `apply` for each committed entry in index
    /// order. It stops at the first error, so nothing after a failed step happens.
    ///
    /// # Errors
    /// The first error an effect returned.
    pub fn carry_out<E: Effects + ?Sized>(self, effects: &mut E) -> Result<(), E::Error> {
        // Most Readies of an idle or waiting peer are empty: only the one call they owe.
        if self.is_empty() {
            return effects.persisted();
        }
        let Ready {
            hard_state,
            snapshot,
            apply_snapshot,
            truncate_from,
            entries,
            messages,
            replies,
            committed,
            reads,
            send_before_write,
        } = self;
        // Thesis section 10.2.1 (Config::send_before_write): a leader's AppendEntries may leave before its own write of
        // the same entries, which then runs beside the followers' (the leader counts itself
        // toward a commit only once its write is durable: Raft::take_ready). Its term and vote
        // were persisted before it campaigned; a Ready that changes them (a leader that has
        // just stepped down) sends everything after the write, as Figure 2 says.
        // One pass, and no second list unless some message must wait for the write.
        let messages = if send_before_write && hard_state.is_none() {
            let mut after_write = Vec::new();
            for (to, request) in messages {
                if matches!(request, Request::AppendEntries(_)) {
                    effects.send(to, request)?;
                } else {
                    after_write.push((to, request));
                }
            }
            after_write
        } else {
            messages
        };
        if let Some(hard_state) = &hard_state {
            effects.save_hard_state(hard_state)?;
        }
        // Truncate before installing a snapshot: a crash between the two then leaves an
        // older, valid log, never a snapshot followed by entries that conflict with it.
        if let Some(from) = truncate_from {
            effects.truncate_suffix(from)?;
        }
        if let Some(snapshot) = &snapshot {
            effects.install_snapshot(snapshot)?;
        }
        if !entries.is_empty() {
            effects.append(&entries)?;
        }
        effects.persisted()?;
        for (to, request) in messages {
            effects.send(to, request)?;
        }
        for (id, reply) in replies {
            effects.reply(id, reply)?;
        }
        if let (true, Some(snapshot)) = (apply_snapshot, snapshot) {
            effects.apply_snapshot(snapshot)?;
        }
        for entry in committed {
            effects.apply(entry)?;
        }
        for (id, result) in reads {
            effects.read(id, result)?;
        }
        Ok(())
    }

    /// True if there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.replies.is_empty()
            && self.committed.is_empty()
            && self.reads.is_empty()
    }

    /// Term and vote to persist, if they changed since the last Ready.
    #[must_use]
    pub fn hard_state(&self) -> Option<&HardState> {
        self.hard_state.as_ref()
    }

    /// The snapshot to persist, if any.
    #[must_use]
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// True if the snapshot came from the leader and is handed to the service.
    #[must_use]
    pub fn apply_snapshot(&self) -> bool {
        self.apply_snapshot
    }

    /// The index from which persisted entries are removed, if any.
    #[must_use]
    pub fn truncate_from(&self) -> Option<LogIndex> {
        self.truncate_from
    }

    /// The entries to append to the persisted log.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The requests to send, each with the peer it goes to.
    #[must_use]
    pub fn messages(&self) -> &[(PeerId, Request)] {
        &self.messages
    }

    /// The replies, each with the id of the request it answers, in the order the requests
    /// were stepped.
    #[must_use]
    pub fn replies(&self) -> &[(RequestId, Reply)] {
        &self.replies
    }

    /// The newly committed entries, in index order.
    #[must_use]
    pub fn committed(&self) -> &[Entry] {
        &self.committed
    }

    /// The reads confirmed or failed, in the order they were decided.
    pub fn reads(&self) -> &[(ReadId, Result<LogIndex, ReadError>)] {
        &self.reads
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
