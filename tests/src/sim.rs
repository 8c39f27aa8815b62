//! The harness's simulated cluster: a thin adapter from [`crate::Config`] to raft-sim's one
//! world ([`raft_sim::World`]) and its client tasks ([`raft_sim::tasks`]).
//!
//! The world runs raft-core peers as raft-node would (its options, its order of effects) on
//! labrpc's network model ([`Labrpc`], draw for draw); each peer's store is the harness's
//! [`MemoryPersister`], and the service above the peers is the harness's appliers. The
//! scenario and its clients are raft-sim tasks: a seed fixes the interleaving of clients and
//! peers, and a failed run replays bit for bit.

use std::sync::Arc;
use std::time::Duration;

use raft_core::{Entry, HardState, LogIndex, Restored, Snapshot, Term};
use raft_node::{ApplyMsg, NodeOptions};
use raft_sim::Breach;
use raft_sim::durable::Store;
use raft_sim::net::Labrpc;
use raft_sim::service::{Service, SnapshotRequest};
use raft_sim::tasks::{Clocked, TaskId, Tasks};
use raft_sim::world::{World, WorldConfig};
use raft_storage::{MemoryPersister, Storage, StorageError};

use crate::applier::Applier;

pub(crate) use raft_sim::tasks::{Aborted, panic_message};

/// What a storage failure is called in the failure report.
const STORAGE: &str = "Storage";

/// A peer's store: the harness's persister (a handle: `Config` keeps the other end).
struct Persister(MemoryPersister);

fn refused(err: StorageError) -> Breach {
    Breach::new(STORAGE, format!("storage refused what a Ready asked for: {err}"))
}

impl Store for Persister {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Breach> {
        self.0.save_hard_state(hard_state).map_err(refused)
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Breach> {
        self.0.truncate_suffix(from).map_err(refused)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Breach> {
        self.0.install_snapshot(snapshot).map_err(refused)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), Breach> {
        self.0.append(entries).map_err(refused)
    }

    fn restored(&self) -> Result<Restored, Breach> {
        let persisted = self.0.load().map_err(refused)?;
        Ok(Restored {
            hard_state: persisted.hard_state,
            snapshot: persisted.snapshot,
            entries: persisted.entries,
        })
    }
}

/// The service above the peers: config.go's appliers, one for the whole cluster.
struct Appliers(Arc<Applier>);

/// The name a broken applier rule fails the world under (Go: the applier's `log.Fatalf`).
const APPLIER: &str = "6.824 applier";

/// An applier's error as the breach that stops the world at the event that applied it.
fn applier_failed(err: String) -> Breach {
    Breach::new(APPLIER, err)
}

fn snapshot_msg(snapshot: Snapshot) -> ApplyMsg {
    ApplyMsg::Snapshot {
        index: snapshot.meta.last_included_index,
        term: snapshot.meta.last_included_term,
        data: snapshot.data,
    }
}

impl Service for Appliers {
    /// raft-node hands a restarted service its persisted snapshot first.
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        if let Some(snapshot) = snapshot {
            self.0
                .apply(node, snapshot_msg(snapshot.clone()))
                .map_err(applier_failed)?;
        }
        Ok(())
    }

    fn apply(&mut self, node: usize, _term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        let msg = ApplyMsg::Command {
            index: entry.index,
            term: entry.term,
            command: entry.command,
        };
        let snapshot = self.0.apply(node, msg).map_err(applier_failed)?;
        Ok(snapshot.map(|(index, data)| (LogIndex(index), data)))
    }

    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach> {
        self.0
            .apply(node, snapshot_msg(snapshot))
            .map_err(applier_failed)?;
        Ok(())
    }
}

/// The world of the harness's simulated cluster.
type SimWorld = World<Labrpc, Appliers, Persister>;

/// The world with the harness's names for what it does to it (config.go's).
pub(crate) struct Cluster {
    world: SimWorld,
    n: usize,
}

impl Clocked for Cluster {
    fn now_us(&self) -> u64 {
        self.world.now_us()
    }

    fn run_until(&mut self, until_us: u64) {
        self.world.run_until(until_us);
    }

    fn failure(&self) -> Option<String> {
        self.world.fault().map(ToString::to_string)
    }
}

impl Cluster {
    /// `Start(command)` on peer `i`: the index and term if it leads. A failure carrying out
    /// its Ready fails the scenario at its next wait.
    pub(crate) fn start(&mut self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        match self.world.propose(i, command.to_vec()) {
            Ok(accepted) => accepted.map(|(index, term)| (index.0, term)),
            Err(breach) => {
                self.world.set_fault(breach);
                None
            }
        }
    }

    /// Deletes peer `i`'s server and stops the peer.
    pub(crate) fn kill(&mut self, i: usize) {
        let _ = self.world.stop(i);
    }

    /// Notes a harness action in the trace.
    pub(crate) fn note(&mut self, text: String) {
        self.world.note(text);
    }

    pub(crate) fn enable(&mut self, from: usize, to: usize, enabled: bool) {
        self.world.net_mut().enable(from, to, enabled);
    }

    pub(crate) fn rpc_count(&self, i: usize) -> u64 {
        self.world.net().rpc_count(i)
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.world.net().rpc_total()
    }

    pub(crate) fn bytes_total(&self) -> u64 {
        self.world.net().bytes_total()
    }

    pub(crate) fn set_reliable(&mut self, reliable: bool) {
        self.world.net_mut().set_reliable(reliable);
    }

    pub(crate) fn set_long_reordering(&mut self, on: bool) {
        self.world.net_mut().set_long_reordering(on);
    }

    pub(crate) fn set_long_delays(&mut self, on: bool) {
        self.world.net_mut().set_long_delays(on);
    }
}

/// The simulated cluster and the tasks that drive it. Every method is called by the task
/// holding the baton.
pub(crate) struct SimCluster {
    tasks: Tasks<Cluster>,
}

impl SimCluster {
    /// A cluster of `n` absent peers at virtual time zero; the calling thread is task 0.
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>) -> SimCluster {
        let config = WorldConfig::new(n, seed, NodeOptions::default().tick.as_micros() as u64);
        let stores = (0..n).map(|_| Persister(MemoryPersister::new())).collect();
        let world = World::new(config, Labrpc::new(n, seed), Appliers(applier), stores);
        SimCluster {
            tasks: Tasks::new(Cluster { world, n }, seed),
        }
    }

    /// Runs `f` on the cluster (see [`Tasks::with`]).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        self.tasks.with(f)
    }

    pub(crate) fn now(&self) -> Duration {
        self.tasks.now()
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.with(|c| c.world.running(i))
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.with(|c| c.world.rafts()[i].as_ref().map(|r| (r.term(), r.is_leader())))
    }

    /// raft-node's `make`, on the virtual clock: peer `i` from `persister`, its service
    /// from the snapshot persisted there.
    pub(crate) fn make_peer(&self, i: usize, seed: u64, persister: MemoryPersister) {
        self.with(|c| {
            let options = NodeOptions {
                seed: Some(seed),
                ..NodeOptions::default()
            };
            let config = options.config(i, c.n);
            c.world.set_store(i, Persister(persister));
            if let Err(breach) = c.world.start(i, config) {
                c.world.set_fault(breach);
            }
        });
    }

    /// The trace's hash, its readable tail, and how many events ran.
    pub(crate) fn trace(&self) -> (u64, Vec<String>, u64) {
        self.with(|c| {
            let trace = c.world.trace();
            (trace.hash(), trace.tail(), trace.events())
        })
    }

    /// The first failure of a client task, if one failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.tasks.failure()
    }

    /// Lets `duration` of virtual time pass for the calling task (see [`Tasks::sleep`]).
    pub(crate) fn sleep(&self, duration: Duration) {
        self.tasks.sleep(duration);
    }

    /// Waits until task `id` has finished.
    pub(crate) fn join_task(&self, id: TaskId) {
        self.tasks.join_task(id);
    }

    /// The end of a scope (see [`Tasks::end_scope`]).
    pub(crate) fn end_scope(&self, failed: Option<&(dyn std::any::Any + Send)>) {
        self.tasks.end_scope(failed);
    }

    /// Starts a client task on a thread of `scope`.
    pub(crate) fn spawn_task<'scope, F, T>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        f: F,
    ) -> (TaskId, std::thread::ScopedJoinHandle<'scope, T>)
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.tasks.spawn_task(scope, f)
    }
}
