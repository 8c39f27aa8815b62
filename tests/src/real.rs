//! The real cluster: raft-node peers over a raft-labrpc network, on the wall clock. Each peer
//! runs its own threads; concurrent clients are OS threads.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use raft_core::{LogIndex, Term};
use raft_labrpc::{ClientEnd, Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_storage::MemoryPersister;

use crate::applier::Applier;

/// The peers and their outgoing end names, under one lock as in config.go.
struct Peers {
    rafts: Vec<Option<Arc<RaftNode>>>,
    endnames: Vec<Vec<String>>,
    /// Makes end names unique across restarts (config.go draws random strings).
    next_end: u64,
}

/// raft-node peers on a labrpc network.
pub(crate) struct RealCluster {
    net: Network,
    n: usize,
    peers: Mutex<Peers>,
    applier: Arc<Applier>,
    start: Instant,
}

impl RealCluster {
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>) -> RealCluster {
        RealCluster {
            net: Network::with_seed(seed),
            n,
            peers: Mutex::new(Peers {
                rafts: vec![None; n],
                endnames: vec![Vec::new(); n],
                next_end: 0,
            }),
            applier,
            start: Instant::now(),
        }
    }

    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn raft(&self, i: usize) -> Option<Arc<RaftNode>> {
        self.peers().rafts[i].clone()
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.peers().rafts[i].is_some()
    }

    pub(crate) fn start(&self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        let raft = self.raft(i)?;
        raft.start(command.to_vec())
            .ok()
            .map(|(index, term)| (index.0, term))
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.raft(i).map(|r| r.get_state())
    }

    /// Deletes peer `i`'s server and kills it.
    pub(crate) fn kill(&self, i: usize) {
        self.net.delete_server(&i.to_string());
        let raft = self.peers().rafts[i].take();
        if let Some(raft) = raft {
            raft.kill();
        }
    }

    /// Makes peer `i` from `persister`, with fresh outgoing ends (disabled until enabled),
    /// and adds its server to the network.
    pub(crate) fn make_peer(&self, i: usize, seed: u64, persister: MemoryPersister) {
        let names: Vec<String> = {
            let mut peers = self.peers();
            let first = peers.next_end;
            peers.next_end += self.n as u64;
            (0..self.n as u64)
                .map(|j| format!("end-{i}-{}", first + j))
                .collect()
        };
        let mut ends: Vec<ClientEnd> = Vec::with_capacity(self.n);
        for (j, name) in names.iter().enumerate() {
            let end = self.net.make_end(name.clone()).expect("end names are fresh");
            self.net.connect(name, &j.to_string());
            ends.push(end);
        }
        let (apply_tx, apply_rx) = flume::bounded(0);
        let options = NodeOptions {
            seed: Some(seed),
            ..NodeOptions::default()
        };
        let raft = Arc::new(make(ends, i, persister, apply_tx, options).expect("make succeeds"));
        self.spawn_applier(i, apply_rx, Arc::downgrade(&raft));
        let mut server = Server::new();
        server.add_service(raft.service());
        self.net.add_server(i.to_string(), server);
        let mut peers = self.peers();
        peers.endnames[i] = names;
        peers.rafts[i] = Some(raft);
    }

    /// The applier goroutine: the shared checks, then the snapshot the service asks for.
    fn spawn_applier(&self, i: usize, apply_rx: flume::Receiver<ApplyMsg>, raft: Weak<RaftNode>) {
        let applier = Arc::clone(&self.applier);
        std::thread::spawn(move || {
            for msg in apply_rx.iter() {
                if let (Some((index, data)), Some(raft)) = (applier.apply(i, msg), raft.upgrade()) {
                    raft.snapshot(LogIndex(index), data);
                }
            }
        });
    }

    /// Enables or disables the end from peer `from` to peer `to`.
    pub(crate) fn enable(&self, from: usize, to: usize, enabled: bool) {
        let name = self.peers().endnames[from].get(to).cloned();
        if let Some(name) = name {
            self.net.enable(&name, enabled);
        }
    }

    pub(crate) fn rpc_count(&self, i: usize) -> u64 {
        self.net.count(&i.to_string())
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    pub(crate) fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    pub(crate) fn set_reliable(&self, reliable: bool) {
        self.net.set_reliable(reliable);
    }

    pub(crate) fn set_long_reordering(&self, on: bool) {
        self.net.set_long_reordering(on);
    }

    pub(crate) fn set_long_delays(&self, on: bool) {
        self.net.set_long_delays(on);
    }

    /// Kills every peer and stops the network.
    pub(crate) fn cleanup(&self) {
        let rafts: Vec<Arc<RaftNode>> = self.peers().rafts.iter_mut().filter_map(Option::take).collect();
        for raft in rafts {
            raft.kill();
        }
        self.net.cleanup();
    }
}
