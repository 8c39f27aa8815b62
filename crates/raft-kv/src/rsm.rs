//! The replicated-state-machine layer: commands in, decisions out, exactly once.
//!
//! [`Rsm`] owns the user's [`StateMachine`], the duplicate table (`sessions`: each client's
//! last sequence number and last output), the last applied index, and the requests a leader
//! waits on. The runtime calls [`Rsm::propose`] to make a log command, registers the request
//! when `start` returns, feeds every committed entry to [`Rsm::apply`] in log order, and
//! answers clients with the [`Reply`]s it gets back. Duplicates are decided at apply time,
//! since the same request can be committed twice (via a leader whose reply was lost, then via
//! the next); every replica decides the same, because the table lives in the replicated state.

use crate::pending::{Pending, PendingFull, Reply, RequestId};
use crate::state_machine::{DecodeError, StateMachine};
use raft_core::{LogIndex, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entries the duplicate table keeps per client: the last request's sequence number and
/// output. One suffices because a client makes one call at a time (handout), so a request
/// with sequence `s` proves the client saw every reply before `s`. The number of clients is
/// not bounded: session expiry (Raft thesis, section 6.3) is left out.
pub const DUPLICATE_ENTRIES_PER_CLIENT: usize = 1;

/// A clerk's identity, unique across the whole service and its restarts (6.824's `nrand()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

/// A clerk's request number: grows by one per call, kept the same on every retry of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

/// One log command: who asks, which of its requests, and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command<Op> {
    /// The clerk that sent it.
    pub client_id: ClientId,
    /// The clerk's number for this call.
    pub seq: Seq,
    /// The operation.
    pub op: Op,
}

/// A client's row of the duplicate table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Session<O> {
    last_seq: Seq,
    last_output: O,
}

/// What [`Rsm::apply`] decided for one committed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<O> {
    /// A new request: applied to the state machine, with this output.
    Executed(O),
    /// The client's last request again: not applied; its recorded output answers it.
    Duplicate(O),
    /// A request older than the client's last: not applied, and nobody waits for it.
    Obsolete,
    /// Bytes that are not a command: skipped and counted.
    Undecodable,
    /// An index already applied (or covered by a snapshot): nothing done.
    AlreadyApplied,
}

/// The result of applying one entry: the decision, and the reply to a request waiting there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied<O> {
    /// What was decided for the entry.
    pub decision: Decision<O>,
    /// The answer to the request this server waits on at that index, if any.
    pub reply: Option<Reply<O>>,
}

/// `apply` was given an index past the next one: entries were skipped (a runtime bug, or a
/// snapshot not yet installed). Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyGap {
    /// The index that should have come next.
    pub expected: LogIndex,
    /// The index given.
    pub got: LogIndex,
}

impl std::fmt::Display for ApplyGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "applied index {} but {} comes next", self.got, self.expected)
    }
}

impl std::error::Error for ApplyGap {}

/// Why a snapshot was not installed. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// The bytes are not a snapshot (or its state does not decode).
    Decode(DecodeError),
    /// The snapshot is not newer than what was applied: never move backwards.
    NotNewer {
        /// The snapshot's last included index.
        snapshot_index: LogIndex,
        /// What this replica has applied.
        last_applied: LogIndex,
    },
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::Decode(e) => write!(f, "{e}"),
            RestoreError::NotNewer {
                snapshot_index,
                last_applied,
            } => write!(
                f,
                "snapshot through {snapshot_index} is not newer than applied {last_applied}"
            ),
        }
    }
}

impl std::error::Error for RestoreError {}

/// A command's op that does not encode (an `Op` type whose `Serialize` fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command does not encode: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// What a snapshot holds: the state, the duplicate table, and the index they reflect.
#[derive(Serialize, Deserialize)]
#[serde(bound = "O: Serialize + serde::de::DeserializeOwned")]
struct SnapshotData<O> {
    last_applied: LogIndex,
    sessions: BTreeMap<ClientId, Session<O>>,
    state: Vec<u8>,
}

/// One replica's replicated state machine over `S`, and the requests it waits on.
#[derive(Debug)]
pub struct Rsm<S: StateMachine> {
    state: S,
    sessions: BTreeMap<ClientId, Session<S::Output>>,
    last_applied: LogIndex,
    pending: Pending,
    undecodable_commands: u64,
}

impl<S: StateMachine> Rsm<S> {
    /// A replica over `state`, with nothing applied.
    pub fn new(state: S) -> Rsm<S> {
        Rsm {
            state,
            sessions: BTreeMap::new(),
            last_applied: LogIndex::ZERO,
            pending: Pending::default(),
            undecodable_commands: 0,
        }
    }

    /// The bytes of one log command for request `seq` of `client_id`: what the runtime passes
    /// to Raft's `start`.
    ///
    /// # Errors
    /// [`EncodeError`] when `op` does not serialize.
    pub fn propose(client_id: ClientId, seq: Seq, op: S::Op) -> Result<Vec<u8>, EncodeError> {
        let command = Command { client_id, seq, op };
        postcard::to_allocvec(&command).map_err(|e| EncodeError(e.to_string()))
    }

    /// Applies the committed entry at `index` of `term`, holding `command`; decides, at apply
    /// time, whether it is new or a duplicate, and answers the request waiting at `index`.
    ///
    /// # Errors
    /// [`ApplyGap`] when `index` is past the next one; nothing changes.
    pub fn apply(
        &mut self,
        index: LogIndex,
        term: Term,
        command: &[u8],
    ) -> Result<Applied<S::Output>, ApplyGap> {
        if index <= self.last_applied {
            return Ok(Applied {
                decision: Decision::AlreadyApplied,
                reply: None,
            });
        }
        let expected = self.last_applied.next();
        if index != expected {
            return Err(ApplyGap { expected, got: index });
        }
        self.last_applied = index;
        let decision = match postcard::from_bytes::<Command<S::Op>>(command) {
            Ok(command) => self.decide(command),
            Err(_) => {
                self.undecodable_commands += 1;
                Decision::Undecodable
            }
        };
        let output = match &decision {
            Decision::Executed(o) | Decision::Duplicate(o) => Some(o.clone()),
            _ => None,
        };
        let reply = self.pending.answer(index, term, output);
        Ok(Applied { decision, reply })
    }

    /// The exactly-once rule: a request is applied only if its sequence number is above its
    /// client's last; the last one again gets the recorded output.
    fn decide(&mut self, command: Command<S::Op>) -> Decision<S::Output> {
        // Mutant `no-dedup` breaks "each Put/Append must take effect exactly once" (handout):
        // it never looks at the table, so a retry committed twice is executed twice.
        #[cfg(not(kv_mutant = "no-dedup"))]
        if let Some(session) = self.sessions.get(&command.client_id) {
            if command.seq == session.last_seq {
                return Decision::Duplicate(session.last_output.clone());
            }
            if command.seq < session.last_seq {
                return Decision::Obsolete;
            }
        }
        let output = self.state.apply(&command.op);
        let session = Session {
            last_seq: command.seq,
            last_output: output.clone(),
        };
        self.sessions.insert(command.client_id, session);
        Decision::Executed(output)
    }

    /// Waits on `request_id`, which the runtime's `start` placed at (index, term). Returns the
    /// reply of a request displaced from that index, if any.
    ///
    /// # Errors
    /// [`PendingFull`] when [`crate::PENDING_REQUESTS_MAX`] requests already wait.
    pub fn register(
        &mut self,
        index: LogIndex,
        term: Term,
        request_id: RequestId,
    ) -> Result<Option<Reply<S::Output>>, PendingFull> {
        self.pending.register(index, term, request_id)
    }

    /// Stops waiting for `request_id` (it waited too long) and answers it
    /// [`crate::WrongLeader`], if it still waits; its entry may still commit later, and then
    /// applies as any other.
    pub fn give_up(&mut self, request_id: RequestId) -> Option<Reply<S::Output>> {
        self.pending.give_up(request_id)
    }

    /// Fails every waiting request with [`crate::WrongLeader`]: the runtime calls it when it sees the
    /// term change or leadership lost, so that clients retry elsewhere instead of waiting.
    pub fn fail_all(&mut self) -> Vec<Reply<S::Output>> {
        self.pending.fail_all()
    }

    /// Whether to snapshot now: the Raft state (term, vote, log; not the snapshot) has reached
    /// `maxraftstate` bytes. `None` (6.824's -1) means never.
    #[must_use]
    pub fn should_snapshot(raft_state_bytes: usize, maxraftstate: Option<usize>) -> bool {
        maxraftstate.is_some_and(|max| raft_state_bytes >= max)
    }

    /// The snapshot of everything applied so far: the state, the duplicate table (so that
    /// duplicates are still detected after it) and the last applied index, which is the index
    /// the runtime passes to Raft's `snapshot`.
    ///
    /// # Errors
    /// [`EncodeError`] when the outputs in the duplicate table do not serialize.
    pub fn snapshot(&self) -> Result<Vec<u8>, EncodeError> {
        let data = SnapshotData {
            last_applied: self.last_applied,
            sessions: self.sessions.clone(),
            state: self.state.encode(),
        };
        postcard::to_allocvec(&data).map_err(|e| EncodeError(e.to_string()))
    }

    /// Installs a snapshot (at start, or one Raft received from a leader) if it is newer than
    /// what was applied. Requests waiting at indices it covers are failed and returned.
    ///
    /// # Errors
    /// [`RestoreError`] when the bytes do not decode or the snapshot is not newer; nothing
    /// changes then.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<Vec<Reply<S::Output>>, RestoreError> {
        let data: SnapshotData<S::Output> = postcard::from_bytes(snapshot)
            .map_err(|e| RestoreError::Decode(DecodeError::new("snapshot", e)))?;
        if data.last_applied <= self.last_applied {
            return Err(RestoreError::NotNewer {
                snapshot_index: data.last_applied,
                last_applied: self.last_applied,
            });
        }
        let state = S::restore(&data.state).map_err(RestoreError::Decode)?;
        self.state = state;
        #[cfg(not(kv_mutant = "snapshot-forgets-sessions"))]
        {
            self.sessions = data.sessions;
        }
        // Mutant `snapshot-forgets-sessions` breaks "any state you are using to detect
        // [duplicates] must be included in the snapshots" (handout): the state is installed
        // but the table is emptied, so a retry of a request the snapshot covers runs again.
        #[cfg(kv_mutant = "snapshot-forgets-sessions")]
        {
            self.sessions = BTreeMap::new();
        }
        self.last_applied = data.last_applied;
        Ok(self.pending.fail_through(data.last_applied))
    }

    /// The user's state machine (for inspection, and for the reads [`crate::ServerState`]
    /// answers once Raft confirmed them).
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The index of the last entry applied (or covered by the last snapshot installed).
    #[must_use]
    pub fn last_applied(&self) -> LogIndex {
        self.last_applied
    }

    /// Commands skipped because their bytes did not decode.
    #[must_use]
    pub fn undecodable_commands(&self) -> u64 {
        self.undecodable_commands
    }

    /// Clients in the duplicate table ([`DUPLICATE_ENTRIES_PER_CLIENT`] entry each).
    #[must_use]
    pub fn clients(&self) -> usize {
        self.sessions.len()
    }

    /// Requests waiting on this server.
    #[must_use]
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }
}
