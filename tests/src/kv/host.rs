//! The key/value servers on the simulated cluster: raft-kv's server decisions
//! ([`ServerState`]) as the service above raft-sim's nodes.
//!
//! The world hands every node's committed entries, read outcomes, snapshots and state
//! changes to [`KvHost`]; it answers waiting requests from them. The answers are queued in an outbox that
//! the simulated cluster sends through the network after each event ([`crate::sim`]), as a
//! real server's loop answers through its labrpc responders.

use raft_core::{Entry, LogIndex, Raft, ReadError, ReadId, Snapshot, Term};
use raft_kv::{KvStore, Reply, ServerState};
use raft_sim::Breach;
use raft_sim::service::{Service, SnapshotRequest};
use raft_storage::{MemoryPersister, Storage};

/// What a broken server rule fails the world under.
pub(crate) const KV_SERVER: &str = "Key/Value Server";

/// Every node's key/value server, and the answers waiting to be sent.
pub(crate) struct KvHost {
    maxraftstate: Option<usize>,
    /// Each node's server (its running instance's; `None` before its first start).
    servers: Vec<Option<ServerState<KvStore>>>,
    /// Each node's persister, for its Raft state's size (config.go's `RaftStateSize`).
    persisters: Vec<Option<MemoryPersister>>,
    /// Answers to send: the node that answers, and the answer.
    pub(crate) outbox: Vec<(usize, Reply<String>)>,
}

impl KvHost {
    pub(crate) fn new(n: usize, maxraftstate: Option<usize>) -> KvHost {
        KvHost {
            maxraftstate,
            servers: (0..n).map(|_| None).collect(),
            persisters: vec![None; n],
            outbox: Vec::new(),
        }
    }

    /// Node `node`'s next instance writes to `persister`.
    pub(crate) fn set_persister(&mut self, node: usize, persister: MemoryPersister) {
        self.persisters[node] = Some(persister);
    }

    /// Node `node`'s running server.
    pub(crate) fn server_mut(&mut self, node: usize) -> Option<&mut ServerState<KvStore>> {
        self.servers[node].as_mut()
    }

    fn send(&mut self, node: usize, replies: Vec<Reply<String>>) {
        self.outbox.extend(replies.into_iter().map(|r| (node, r)));
    }
}

fn broken(node: usize, what: impl std::fmt::Display) -> Breach {
    Breach::new(KV_SERVER, format!("server {node}: {what}"))
}

impl Service for KvHost {
    /// StartKVServer: a fresh server, restored from the persisted snapshot. Requests the old
    /// instance waited on are forgotten: their calls fail at labrpc's next poll.
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        let reads = crate::switches::reads();
        let mut server = ServerState::new(KvStore::new(), self.maxraftstate).with_reads(reads);
        if let Some(snapshot) = snapshot {
            server
                .restore(&snapshot.data)
                .map_err(|e| broken(node, format!("cannot restore its snapshot: {e}")))?;
        }
        self.servers[node] = Some(server);
        Ok(())
    }

    /// One committed entry: applied, its waiting request answered; a snapshot asked for when
    /// the Raft state has reached maxraftstate.
    fn apply(&mut self, node: usize, _term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        let Some(server) = self.servers[node].as_mut() else {
            return Ok(None);
        };
        let reply = server
            .on_apply(entry.index, entry.term, &entry.command)
            .map_err(|gap| broken(node, gap))?;
        let size = self.persisters[node].as_ref().map_or(0, Storage::raft_state_size);
        let due: Option<(LogIndex, Vec<u8>)> = server.snapshot_due(size);
        self.send(node, reply.into_iter().collect());
        Ok(due)
    }

    /// A read's outcome, behind the entries of the same Ready: its request answered from the
    /// state (or wrong leader). An outcome ahead of its entries breaks the order raft-core
    /// promises, and fails the world.
    fn read(&mut self, node: usize, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        let Some(server) = self.servers[node].as_mut() else {
            return Ok(());
        };
        let reply = server
            .on_read(id, result)
            .map_err(|behind| broken(node, behind))?;
        self.send(node, reply.into_iter().collect());
        Ok(())
    }

    /// A snapshot from the leader: installed if newer; requests it covers are failed.
    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach> {
        let Some(server) = self.servers[node].as_mut() else {
            return Ok(());
        };
        let replies = server
            .on_snapshot(&snapshot.data)
            .map_err(|e| broken(node, format!("cannot install a snapshot: {e}")))?;
        self.send(node, replies);
        Ok(())
    }

    /// After every input: the server looks at its Raft's term and role (a real server's loop
    /// reads `GetState` often), and fails its waiters once the term moved or it lost the lead.
    fn after_input(&mut self, node: usize, _incarnation: u64, rafts: &[Option<Raft>]) -> Result<(), Breach> {
        let (Some(server), Some(raft)) = (self.servers[node].as_mut(), rafts[node].as_ref()) else {
            return Ok(());
        };
        let replies = server.on_raft_state(raft.term(), raft.is_leader());
        self.send(node, replies);
        Ok(())
    }
}
