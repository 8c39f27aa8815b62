//! One server's decisions, steps 1-4 of the crate doc's "What the runtime must do", in one
//! place so that every runtime (threads here, virtual time in the simulator) stays thin.
//!
//! [`ServerState`] owns the replica ([`Rsm`]) and the last (term, leadership) it saw. The
//! runtime hands it what happens (a request arrived, an entry committed, a snapshot arrived,
//! Raft's state read) and sends the [`Reply`]s it returns to the waiting requests by
//! [`RequestId`]. It never waits, never reads a clock, and never calls Raft except through the
//! `start` closure given to [`ServerState::on_request`].

use std::sync::atomic::{AtomicU64, Ordering};

use raft_core::{LogIndex, Term};

use crate::pending::{PENDING_REQUESTS_MAX, Reply, RequestId, WrongLeader};
use crate::rsm::{ApplyGap, Command, RestoreError, Rsm};
use crate::state_machine::StateMachine;

/// One server of the replicated service: the replica and what it last saw of Raft.
pub struct ServerState<S: StateMachine> {
    rsm: Rsm<S>,
    maxraftstate: Option<usize>,
    /// Raft's (term, is_leader) as last observed, from `start` or from `on_raft_state`.
    raft_state: (Term, bool),
    /// Snapshots not offered because the duplicate table did not encode.
    snapshot_encode_failures: AtomicU64,
}

impl<S: StateMachine> ServerState<S> {
    /// A server over `state` with nothing applied; it snapshots once Raft's state reaches
    /// `maxraftstate` bytes (`None`, 6.824's -1, never).
    pub fn new(state: S, maxraftstate: Option<usize>) -> Self {
        ServerState {
            rsm: Rsm::new(state),
            maxraftstate,
            raft_state: (Term::ZERO, false),
            snapshot_encode_failures: AtomicU64::new(0),
        }
    }

    /// At start, before any apply: installs the persisted snapshot. Empty bytes (6.824's
    /// persister has no snapshot yet) and a snapshot not newer than what is applied (raft-node
    /// also delivers the persisted one as its first `ApplyMsg::Snapshot`) change nothing and
    /// are not errors.
    ///
    /// # Errors
    /// [`RestoreError::Decode`] when the bytes are not a snapshot; nothing changes.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<Vec<Reply<S::Output>>, RestoreError> {
        self.on_snapshot(snapshot)
    }

    /// A client request arrived; the runtime names it `request_id`. `start` is Raft's start:
    /// `Some((index, term))` if this peer leads and took the command. Returns the replies to
    /// send now: [`WrongLeader`] for this request if the command does not encode, too many
    /// requests wait ([`PENDING_REQUESTS_MAX`]; checked before `start`, so an overloaded
    /// leader adds nothing to its log), or `start` refused; the request is otherwise answered
    /// later by [`ServerState::on_apply`]. Also returned: the requests that waited in an older
    /// term (a successful `start` shows Raft's term, see [`ServerState::on_raft_state`]) and a
    /// request displaced from the same index.
    pub fn on_request(
        &mut self,
        request_id: RequestId,
        request: Command<S::Op>,
        start: impl FnOnce(Vec<u8>) -> Option<(LogIndex, Term)>,
    ) -> Vec<Reply<S::Output>> {
        match self.admit(request_id, request) {
            Ok(command) => self.started(request_id, start(command)),
            Err(refused) => vec![refused],
        }
    }

    /// The first half of [`ServerState::on_request`], for a runtime that cannot call Raft's
    /// `start` from inside a closure (the simulator, where Raft and this state live in one
    /// world): the command to pass to `start`, or the refusal to send at once.
    ///
    /// # Errors
    /// The reply to send at once, and then `start` must not be called: [`WrongLeader`] for
    /// `request_id` when too many requests wait or the command does not encode.
    pub fn admit(
        &mut self,
        request_id: RequestId,
        request: Command<S::Op>,
    ) -> Result<Vec<u8>, Reply<S::Output>> {
        // Mutant `read-local` breaks "a leader must check whether it has been deposed before
        // processing a read-only request" (Raft paper, section 8): a peer that last saw itself
        // leading answers a read from its own state at once, without the log.
        #[cfg(kv_mutant = "read-local")]
        if S::is_read_only(&request.op)
            && self.raft_state.1
            && let Some(output) = self.rsm.read_local(&request.op)
        {
            return Err(Reply {
                request_id,
                outcome: Ok(output),
            });
        }
        if self.rsm.pending_requests() >= PENDING_REQUESTS_MAX {
            return Err(wrong_leader(request_id));
        }
        Rsm::<S>::propose(request.client_id, request.seq, request.op).map_err(|_| wrong_leader(request_id))
    }

    /// The second half of [`ServerState::on_request`]: what Raft's `start` answered for the
    /// command [`ServerState::admit`] made for `request_id`.
    pub fn started(
        &mut self,
        request_id: RequestId,
        placed: Option<(LogIndex, Term)>,
    ) -> Vec<Reply<S::Output>> {
        let Some((index, term)) = placed else {
            return vec![wrong_leader(request_id)];
        };
        let mut replies = self.on_raft_state(term, true);
        match self.rsm.register(index, term, request_id) {
            Ok(displaced) => replies.extend(displaced),
            // Not reached after the check in `admit`; answered rather than assumed.
            Err(_) => replies.push(wrong_leader(request_id)),
        }
        replies
    }

    /// The runtime waited long enough for `request_id` (a leader cut off from its majority
    /// keeps its term and its lead as far as it knows): the request stops waiting, and is
    /// answered [`WrongLeader`] if it still waited, so that its client tries elsewhere.
    pub fn expire(&mut self, request_id: RequestId) -> Option<Reply<S::Output>> {
        self.rsm.give_up(request_id)
    }

    /// One committed entry, in index order. Returns the reply for the request waiting at that
    /// index, if any: its output if the entry is the one its `start` placed there (same
    /// term), else [`WrongLeader`].
    ///
    /// # Errors
    /// [`ApplyGap`] when `index` skips entries; nothing changes.
    pub fn on_apply(
        &mut self,
        index: LogIndex,
        term: Term,
        command: &[u8],
    ) -> Result<Option<Reply<S::Output>>, ApplyGap> {
        Ok(self.rsm.apply(index, term, command)?.reply)
    }

    /// A snapshot Raft delivered (from a leader, or the persisted one at restart): installed
    /// if newer than what is applied, ignored otherwise (a snapshot never moves the service
    /// back; empty bytes are no snapshot). The requests waiting at indices it covers fail:
    /// what was applied there is not known here.
    ///
    /// # Errors
    /// [`RestoreError::Decode`] when the bytes are not a snapshot; nothing changes.
    pub fn on_snapshot(&mut self, data: &[u8]) -> Result<Vec<Reply<S::Output>>, RestoreError> {
        if data.is_empty() {
            return Ok(Vec::new());
        }
        match self.rsm.restore(data) {
            Ok(replies) => Ok(replies),
            Err(RestoreError::NotNewer { .. }) => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }

    /// Raft's term and leadership as the runtime just read them. When the term differs from
    /// the last one seen, or this peer does not lead, every waiting request fails with
    /// [`WrongLeader`]: "Raft's term has changed" (handout), so no client waits on a deposed
    /// leader whose entries may never commit.
    pub fn on_raft_state(&mut self, term: Term, is_leader: bool) -> Vec<Reply<S::Output>> {
        let term_changed = term != self.raft_state.0;
        self.raft_state = (term, is_leader);
        if term_changed || !is_leader {
            self.rsm.fail_all()
        } else {
            Vec::new()
        }
    }

    /// After applying: `Some((last_applied, snapshot))` when `maxraftstate` is `Some(max)`,
    /// Raft's state has reached `max` bytes and something was applied; the runtime passes it
    /// to Raft's `snapshot`. A duplicate table that does not encode gives `None`, counted in
    /// [`ServerState::snapshot_encode_failures`] (Raft's log then keeps growing: the runtime
    /// should report the count).
    #[must_use]
    pub fn snapshot_due(&self, raft_state_bytes: u64) -> Option<(LogIndex, Vec<u8>)> {
        let bytes = usize::try_from(raft_state_bytes).unwrap_or(usize::MAX);
        let index = self.rsm.last_applied();
        if index == LogIndex::ZERO || !Rsm::<S>::should_snapshot(bytes, self.maxraftstate) {
            return None;
        }
        match self.rsm.snapshot() {
            Ok(data) => Some((index, data)),
            Err(_) => {
                self.snapshot_encode_failures.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Snapshots [`ServerState::snapshot_due`] could not make because the state's outputs did
    /// not encode.
    #[must_use]
    pub fn snapshot_encode_failures(&self) -> u64 {
        self.snapshot_encode_failures.load(Ordering::Relaxed)
    }

    /// Raft's (term, is_leader) as last observed.
    #[must_use]
    pub fn raft_state(&self) -> (Term, bool) {
        self.raft_state
    }

    /// The replica: its state machine, last applied index, waiting requests.
    #[must_use]
    pub fn rsm(&self) -> &Rsm<S> {
        &self.rsm
    }
}

impl<S: StateMachine> std::fmt::Debug for ServerState<S>
where
    Rsm<S>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("rsm", &self.rsm)
            .field("maxraftstate", &self.maxraftstate)
            .field("raft_state", &self.raft_state)
            .field("snapshot_encode_failures", &self.snapshot_encode_failures())
            .finish()
    }
}

fn wrong_leader<O>(request_id: RequestId) -> Reply<O> {
    Reply {
        request_id,
        outcome: Err(WrongLeader),
    }
}
