//! The service above the nodes, as the world sees it ([`Service`]), and the safety runs'
//! service: a digest chain over the applied commands ([`ServiceState`]).
//!
//! The world knows no service in particular: the 6.824 harness's appliers, the safety runs'
//! digest chain, and next a key/value server are each a [`Service`]. A digest state is (last
//! applied index, digest of every command through it), so two services that agree on the
//! digest at an index applied the same commands in the same order; its snapshot's bytes are
//! the state itself.

use raft_core::{Entry, LogIndex, Raft, ReadError, ReadId, Snapshot, Term};

use crate::checkers::Breach;
use crate::trace::fnv1a;

/// A snapshot a service asks its node to take: the index it covers and the service's state.
pub type SnapshotRequest = (LogIndex, Vec<u8>);

/// What runs above every node of a world: one value for all the nodes' services (each call
/// names the node), so that services which check each other (the 6.824 appliers compare
/// every apply across peers) or a checker that watches them all can share state.
///
/// A service may also watch what the world does below it ([`Service::appended`],
/// [`Service::after_input`]): the safety runs check their invariants there. Every method may
/// fail with a [`Breach`], which stops the run with it.
pub trait Service {
    /// Node `node` (re)started: its service restarts from the persisted snapshot, if any,
    /// before any command (raft-node hands a restarted service its snapshot first).
    ///
    /// # Errors
    /// A breach if the snapshot cannot be the service's state.
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach>;

    /// One committed entry of node `node` (whose term is `term`), in index order. The
    /// service may ask the node to snapshot; the world queues that as the node's next input.
    ///
    /// # Errors
    /// A breach if the apply breaks the service's checks.
    fn apply(&mut self, node: usize, term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach>;

    /// A snapshot from the leader, for node `node`'s service, before later entries.
    ///
    /// # Errors
    /// A breach if the snapshot breaks the service's checks.
    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach>;

    /// Node `node` decided the read the service named `id` ([`raft_core::Raft::read`]): its
    /// index, or why it failed. Default: nothing (a service that never reads gets none).
    ///
    /// # Errors
    /// A breach if the outcome breaks the service's checks (a stale read).
    fn read(&mut self, node: usize, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        let _ = (node, id, result);
        Ok(())
    }

    /// Node `node` persisted `entries`. Default: nothing.
    ///
    /// # Errors
    /// A breach if a watcher objects.
    fn appended(&mut self, node: usize, entries: &[Entry]) -> Result<(), Breach> {
        let _ = (node, entries);
        Ok(())
    }

    /// An input to node `node` (instance `incarnation`) was carried out; `rafts` are every
    /// node's state machines. Default: nothing.
    ///
    /// # Errors
    /// A breach if a watcher objects.
    fn after_input(&mut self, node: usize, incarnation: u64, rafts: &[Option<Raft>]) -> Result<(), Breach> {
        let _ = (node, incarnation, rafts);
        Ok(())
    }
}

/// Bytes in an encoded service state: index then digest, little-endian.
pub const STATE_BYTES: usize = 16;
/// The digest of the empty service, before any command.
pub const DIGEST_EMPTY: u64 = 0x5eed_0000_0000_0001;

/// No service: committed entries are counted and dropped. For measurements of the bare
/// state machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoService {
    /// Entries applied so far, every node together.
    pub applied: u64,
}

impl Service for NoService {
    fn restart(&mut self, _node: usize, _snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        Ok(())
    }

    fn apply(&mut self, _node: usize, _term: Term, _entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        self.applied += 1;
        Ok(None)
    }

    fn apply_snapshot(&mut self, _node: usize, _snapshot: Snapshot) -> Result<(), Breach> {
        Ok(())
    }
}

/// One peer's service state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceState {
    /// The last index applied.
    pub applied: LogIndex,
    /// The digest chain through `applied`.
    pub digest: u64,
}

impl ServiceState {
    /// The empty service.
    #[must_use]
    pub fn empty() -> ServiceState {
        ServiceState {
            applied: LogIndex::ZERO,
            digest: DIGEST_EMPTY,
        }
    }

    /// The service restarted from its persisted snapshot (or empty, without one).
    ///
    /// # Errors
    /// A description if the snapshot's bytes are not a service state.
    pub fn restore(snapshot: Option<&Snapshot>) -> Result<ServiceState, String> {
        match snapshot {
            None => Ok(ServiceState::empty()),
            Some(s) => ServiceState::decode(&s.data),
        }
    }

    /// The digest after applying `entry`'s command on top of this state.
    #[must_use]
    pub fn next_digest(&self, entry: &Entry) -> u64 {
        let hash = fnv1a(self.digest, &entry.index.0.to_le_bytes());
        fnv1a(hash, &entry.command)
    }

    /// The state as snapshot bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(STATE_BYTES);
        bytes.extend_from_slice(&self.applied.0.to_le_bytes());
        bytes.extend_from_slice(&self.digest.to_le_bytes());
        bytes
    }

    /// A state from snapshot bytes.
    ///
    /// # Errors
    /// A description if the bytes have the wrong length.
    pub fn decode(bytes: &[u8]) -> Result<ServiceState, String> {
        let (Some(index), Some(digest)) = (bytes.get(0..8), bytes.get(8..STATE_BYTES)) else {
            return Err(format!(
                "snapshot of {} bytes is not a service state",
                bytes.len()
            ));
        };
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(index);
        b.copy_from_slice(digest);
        Ok(ServiceState {
            applied: LogIndex(u64::from_le_bytes(a)),
            digest: u64::from_le_bytes(b),
        })
    }
}

/// A client command: its id as little-endian bytes.
#[must_use]
pub fn command_bytes(id: u64) -> Vec<u8> {
    id.to_le_bytes().to_vec()
}

/// The client command id in an entry's bytes, if it is one.
#[must_use]
pub fn command_id(command: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = command.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}
