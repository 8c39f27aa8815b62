//! One server's decisions, steps 1-4 of the crate doc's "What the runtime must do", in one
//! place so that every runtime (threads here, virtual time in the simulator) stays thin.
//!
//! [`ServerState`] owns the replica ([`Rsm`]), the reads it waits on, and the last (term,
//! leadership) it saw. The runtime hands it what happens (a request arrived, an entry
//! committed, a read's outcome came, a snapshot arrived, Raft's state read) and sends the
//! [`Reply`]s it returns to the waiting requests by [`RequestId`]. It never waits, never reads
//! a clock, and never calls Raft except through the [`RaftPeer`] given to
//! [`ServerState::on_request`] (or, split in two, between [`ServerState::admit`] and
//! [`ServerState::started`] or [`ServerState::read_started`]).
//!
//! ## Reads (thesis section 6.4)
//!
//! With reads on ([`ServerState::with_reads`]) a read-only op ([`StateMachine::is_read_only`],
//! a Get) skips the log. Raft does the thesis's steps 1-3 (note the commit index as the
//! read's index, confirm leadership with a heartbeat round or a lease) and hands the index
//! back behind every entry through it ([`ServerState::on_read`]); the server does steps 4
//! and 5: "The leader waits for its state machine to advance at least as far as the
//! readIndex; this is current enough to satisfy linearizability", then "issues the query
//! against its state machine and replies to the client with the results" (thesis section
//! 6.4), with [`StateMachine::read`]. A read touches no row of the duplicate table: it
//! changes nothing, so a retry is simply answered anew, and the clerk's sequence numbers go
//! on as before (a Get that went through the log is still recorded, as always).
//!
//! Raft parks a new leader's reads while an entry of an earlier term lies above its commit
//! index (step 1 of section 6.4, as raft-core reads it). The server does not wait for that:
//! a leader that has not committed in its term sends the read through the log as before, and
//! that entry, once committed, makes the next reads cheap: the thesis's no-op at the start of
//! a term, chosen by the application (the 6.824 tests forbid Raft from adding it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use raft_core::{LogIndex, ReadError, ReadId, ReadMode, Term};

use crate::pending::{PENDING_REQUESTS_MAX, Reply, RequestId, WrongLeader};
use crate::rsm::{ApplyGap, Command, RestoreError, Rsm};
use crate::state_machine::StateMachine;

/// What [`ServerState::on_request`] asks of the server's Raft peer; a runtime implements it
/// over its handle (raft-node's `RaftNode` in the [`crate::server`] loop).
pub trait RaftPeer {
    /// Raft's `start` for commands that take consecutive indices, in order (raft-node's
    /// `start_batch`): `Some((index, term))` of the first if this peer leads and took them
    /// all, `None` if it took none. Never called with no command.
    fn start(&mut self, commands: Vec<Vec<u8>>) -> Option<(LogIndex, Term)>;
    /// True if this peer leads and no entry of an earlier term lies above its commit index
    /// (raft-core's `Raft::own_term_committed`): a read it takes now is not parked.
    fn reads_ready(&mut self) -> bool;
    /// Raft's `read` under `id`; its outcome comes later, to [`ServerState::on_read`].
    ///
    /// # Errors
    /// Raft's refusal (not the leader, reads off, too many reads waiting).
    fn read(&mut self, id: ReadId) -> Result<(), ReadError>;
}

/// How [`ServerState::admit`] serves a request it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Through the log: pass the command to Raft's `start`, and what it answers to
    /// [`ServerState::started`].
    Propose(Vec<u8>),
    /// As a read: pass the id to Raft's `read`, and what it answers to
    /// [`ServerState::read_started`]. The request waits for the read's outcome already (Raft
    /// may hand it back before its `read` returns: a cluster of one, a lease).
    Read(ReadId),
}

/// A read's outcome came before the entries through its index were applied: the runtime
/// broke the order Raft keeps (raft-node's apply channel, raft-sim's Ready), and answering
/// would return a stale state. Nothing is answered; the request was forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBehind {
    /// The read's index.
    pub index: LogIndex,
    /// What the replica had applied.
    pub last_applied: LogIndex,
}

impl std::fmt::Display for ReadBehind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a read at index {} came with only {} applied",
            self.index, self.last_applied
        )
    }
}

impl std::error::Error for ReadBehind {}

/// One server of the replicated service: the replica and what it last saw of Raft.
pub struct ServerState<S: StateMachine> {
    rsm: Rsm<S>,
    maxraftstate: Option<usize>,
    /// Read-only ops take Raft's read path when it is ready ([`ServerState::with_reads`]).
    reads: bool,
    /// The reads waiting for their outcome, by request, with the op each answers.
    reads_waiting: BTreeMap<RequestId, S::Op>,
    /// Raft's (term, is_leader) as last observed, from `start` or from `on_raft_state`.
    raft_state: (Term, bool),
    /// Snapshots not offered because the duplicate table did not encode.
    snapshot_encode_failures: AtomicU64,
}

impl<S: StateMachine> ServerState<S> {
    /// A server over `state` with nothing applied; it snapshots once Raft's state reaches
    /// `maxraftstate` bytes (`None`, 6.824's -1, never).
    ///
    /// Every op goes through the log until [`ServerState::with_reads`] says otherwise.
    pub fn new(state: S, maxraftstate: Option<usize>) -> Self {
        ServerState {
            rsm: Rsm::new(state),
            maxraftstate,
            reads: false,
            reads_waiting: BTreeMap::new(),
            raft_state: (Term::ZERO, false),
            snapshot_encode_failures: AtomicU64::new(0),
        }
    }

    /// The server's Raft peer confirms reads with `reads` (its `Config::reads`): with
    /// [`ReadMode::Log`] every op goes through the log (6.824's Lab 3); with ReadIndex or
    /// lease reads, read-only ops take Raft's read path when it is ready (see the module
    /// doc). It must be the peer's own mode: a server that asks a peer in log mode to read
    /// is refused every time.
    #[must_use]
    pub fn with_reads(mut self, reads: ReadMode) -> Self {
        self.reads = reads != ReadMode::Log;
        self
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

    /// A client request arrived; the runtime names it `request_id`. Through the log,
    /// `raft.start` places it (answered later by [`ServerState::on_apply`]); as a read (reads
    /// on, a read-only op, `raft.reads_ready()`), `raft.read` takes it (answered later by
    /// [`ServerState::on_read`]). Returns the replies to send now: [`WrongLeader`] for this
    /// request if the command does not encode, too many requests wait
    /// ([`PENDING_REQUESTS_MAX`]; checked before Raft is asked, so an overloaded leader adds
    /// nothing to its log), or Raft refused; also the requests that waited in an older term
    /// (a successful `start` shows Raft's term, see [`ServerState::on_raft_state`]) and a
    /// request displaced from the same index.
    pub fn on_request(
        &mut self,
        request_id: RequestId,
        request: Command<S::Op>,
        raft: &mut impl RaftPeer,
    ) -> Vec<Reply<S::Output>> {
        self.on_requests(vec![(request_id, request)], raft)
    }

    /// Requests that arrived together, each as [`ServerState::on_request`] would take it,
    /// except that every command going through the log is placed with one `raft.start`:
    /// one trip to Raft for all of them, and one AppendEntries and one write there. Each is
    /// admitted before any is placed, so [`PENDING_REQUESTS_MAX`] may be passed by up to one
    /// batch.
    pub fn on_requests(
        &mut self,
        requests: Vec<(RequestId, Command<S::Op>)>,
        raft: &mut impl RaftPeer,
    ) -> Vec<Reply<S::Output>> {
        let mut replies = Vec::new();
        let mut proposals: Vec<(RequestId, Vec<u8>)> = Vec::new();
        for (request_id, request) in requests {
            let reads_ready = self.wants_read(&request.op) && raft.reads_ready();
            match self.admit(request_id, request, reads_ready) {
                Ok(Admitted::Propose(command)) => proposals.push((request_id, command)),
                Ok(Admitted::Read(id)) => replies.extend(self.read_started(request_id, raft.read(id))),
                Err(refused) => replies.push(refused),
            }
        }
        if proposals.is_empty() {
            return replies;
        }
        let (ids, commands): (Vec<RequestId>, Vec<Vec<u8>>) = proposals.into_iter().unzip();
        let placed = raft.start(commands);
        for (k, request_id) in (0u64..).zip(ids) {
            let at = placed.map(|(first, term)| (LogIndex(first.0 + k), term));
            replies.extend(self.started(request_id, at));
        }
        replies
    }

    /// True if `op` would take Raft's read path once Raft is ready: reads are on and `op`
    /// only reads. A runtime that finds out whether Raft is ready at a cost asks only then.
    #[must_use]
    pub fn wants_read(&self, op: &S::Op) -> bool {
        self.reads && S::is_read_only(op)
    }

    /// The first half of [`ServerState::on_request`], for a runtime that cannot call Raft
    /// from inside it (the simulator, where Raft and this state live in one world): how to
    /// serve the request, or the refusal to send at once. `reads_ready` is
    /// [`RaftPeer::reads_ready`] as the runtime just read it.
    ///
    /// # Errors
    /// The reply to send at once, and then Raft must not be called: [`WrongLeader`] for
    /// `request_id` when too many requests wait or the command does not encode.
    pub fn admit(
        &mut self,
        request_id: RequestId,
        request: Command<S::Op>,
        reads_ready: bool,
    ) -> Result<Admitted, Reply<S::Output>> {
        // Mutant `read-local` breaks "a leader must check whether it has been deposed before
        // processing a read-only request" (Raft paper, section 8): a peer that last saw itself
        // leading answers a read from its own state at once, without the log or a round.
        #[cfg(kv_mutant = "read-local")]
        if S::is_read_only(&request.op)
            && self.raft_state.1
            && let Some(output) = self.rsm.state().read(&request.op)
        {
            return Err(Reply {
                request_id,
                outcome: Ok(output),
            });
        }
        if self.rsm.pending_requests() + self.reads_waiting.len() >= PENDING_REQUESTS_MAX {
            return Err(wrong_leader(request_id));
        }
        if reads_ready && self.wants_read(&request.op) {
            self.reads_waiting.insert(request_id, request.op);
            return Ok(Admitted::Read(ReadId(request_id.0)));
        }
        Rsm::<S>::propose(request.client_id, request.seq, request.op)
            .map(Admitted::Propose)
            .map_err(|_| wrong_leader(request_id))
    }

    /// The second half of [`ServerState::on_request`] through the log: what Raft's `start`
    /// answered for the command [`ServerState::admit`] made for `request_id`.
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

    /// The second half of [`ServerState::on_request`] for a read: what Raft's `read`
    /// answered for the read [`ServerState::admit`] made for `request_id`. A refusal (not the
    /// leader, too many reads waiting) answers [`WrongLeader`]; the clerk tries again.
    pub fn read_started(
        &mut self,
        request_id: RequestId,
        taken: Result<(), ReadError>,
    ) -> Vec<Reply<S::Output>> {
        match taken {
            Ok(()) => Vec::new(),
            // Raft keeps nothing of a refused read: it stops waiting here too.
            Err(_) => self
                .reads_waiting
                .remove(&request_id)
                .map(|_| wrong_leader(request_id))
                .into_iter()
                .collect(),
        }
    }

    /// A read's outcome from Raft, behind every entry through its index (raft-node's apply
    /// channel, raft-sim's Ready). `Ok(index)`: Raft confirmed that it led when the read came,
    /// and the replica has applied through `index`, so the read is answered from the state
    /// as it is (step 4 of thesis section 6.4). An error (leadership lost, ...) answers
    /// [`WrongLeader`]. `None` for a read nobody waits on any more (answered already, expired,
    /// or asked by an earlier instance).
    ///
    /// # Errors
    /// [`ReadBehind`] when the replica has not applied through `index`: the runtime broke
    /// Raft's order. The request is forgotten unanswered.
    pub fn on_read(
        &mut self,
        id: ReadId,
        result: Result<LogIndex, ReadError>,
    ) -> Result<Option<Reply<S::Output>>, ReadBehind> {
        let request_id = RequestId(id.0);
        let Some(op) = self.reads_waiting.remove(&request_id) else {
            return Ok(None);
        };
        let Ok(index) = result else {
            return Ok(Some(wrong_leader(request_id)));
        };
        let last_applied = self.rsm.last_applied();
        if last_applied < index {
            return Err(ReadBehind { index, last_applied });
        }
        let outcome = self.rsm.state().read(&op).ok_or(WrongLeader);
        Ok(Some(Reply { request_id, outcome }))
    }

    /// The runtime waited long enough for `request_id` (a leader cut off from its majority
    /// keeps its term and its lead as far as it knows): the request stops waiting, and is
    /// answered [`WrongLeader`] if it still waited, so that its client tries elsewhere.
    pub fn expire(&mut self, request_id: RequestId) -> Option<Reply<S::Output>> {
        if self.reads_waiting.remove(&request_id).is_some() {
            return Some(wrong_leader(request_id));
        }
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
    /// leader whose entries may never commit. Reads too: Raft fails those of a leader that
    /// steps down (`ReadError::LeadershipLost`), and their outcome, when it comes, finds
    /// nobody waiting.
    pub fn on_raft_state(&mut self, term: Term, is_leader: bool) -> Vec<Reply<S::Output>> {
        let term_changed = term != self.raft_state.0;
        self.raft_state = (term, is_leader);
        if term_changed || !is_leader {
            let mut failed = self.rsm.fail_all();
            let reads = std::mem::take(&mut self.reads_waiting);
            failed.extend(reads.into_keys().map(wrong_leader));
            failed
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

    /// The replica: its state machine, last applied index, waiting requests (reads aside).
    #[must_use]
    pub fn rsm(&self) -> &Rsm<S> {
        &self.rsm
    }

    /// Reads waiting for their outcome from Raft.
    #[must_use]
    pub fn reads_waiting(&self) -> usize {
        self.reads_waiting.len()
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
            .field("reads", &self.reads)
            .field("reads_waiting", &self.reads_waiting.len())
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
