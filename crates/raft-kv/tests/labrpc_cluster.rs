//! Three `KvServer`s over a raft-labrpc network, driven by a labrpc `Clerk`: reads return
//! what was written, sequential appends are fast enough for 6.824's TestSpeed3A, snapshots
//! keep Raft's state bounded, the cluster serves with a follower down, a restarted server
//! catches up (its own snapshot, then the leader's), and killed servers fail their calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_kv::server::{KvServer, SUBMIT};
use raft_kv::{Clerk, ClientId, Command, KvOp, KvStore, LabrpcClerkTransport, Response, Seq};
use raft_labrpc::{CallError, ClientEnd, Network, Server};
use raft_node::NodeOptions;
use raft_storage::{MemoryPersister, Storage};

const SERVERS: usize = 3;
/// Lab 3B's TestSnapshotSize3B value.
const MAXRAFTSTATE: usize = 1000;
/// Sequential appends timed.
const TIMED_OPS: usize = 500;
/// 6.824's TestSpeed3A: "at least 3 ops per" 100 ms heartbeat interval.
const TIME_PER_OP_MAX: Duration = Duration::from_millis(100 / 3);

struct Cluster {
    net: Network,
    /// The process's threads before any server started (the network's timer included).
    threads_before: Option<usize>,
    servers: Vec<Option<Arc<KvServer>>>,
    persisters: Vec<MemoryPersister>,
    generation: usize,
}

impl Cluster {
    fn new() -> Cluster {
        let net = Network::with_seed(3);
        let mut cluster = Cluster {
            threads_before: threads(),
            net,
            servers: (0..SERVERS).map(|_| None).collect(),
            persisters: (0..SERVERS).map(|_| MemoryPersister::new()).collect(),
            generation: 0,
        };
        for i in 0..SERVERS {
            cluster.start(i);
        }
        cluster
    }

    /// Starts server `i` from its persister, with fresh ends, replacing its labrpc server.
    fn start(&mut self, i: usize) {
        let generation = self.generation;
        self.generation += 1;
        let ends = (0..SERVERS)
            .map(|j| self.end(&format!("kv{i}-g{generation}-to{j}"), j))
            .collect();
        let options = NodeOptions {
            seed: Some(100 + generation as u64),
            ..NodeOptions::default()
        };
        let server = KvServer::start(
            ends,
            i,
            self.persisters[i].clone(),
            Some(MAXRAFTSTATE),
            KvStore::new(),
            options,
        )
        .expect("the server starts");
        let mut labrpc = Server::new();
        labrpc.add_service(server.service());
        labrpc.add_service(server.raft_service());
        self.net.add_server(i.to_string(), labrpc);
        self.servers[i] = Some(server);
    }

    /// A crash: the server stops, and its restart sees only what was persisted by then.
    fn kill(&mut self, i: usize) {
        if let Some(server) = self.servers[i].take() {
            server.kill();
            assert!(!server.get_state().1, "a killed server does not lead");
        }
        self.persisters[i] = self.persisters[i].copy();
    }

    fn end(&self, name: &str, to: usize) -> ClientEnd {
        let end = self.net.make_end(name).expect("end names are fresh");
        self.net.connect(name, &to.to_string());
        self.net.enable(name, true);
        end
    }

    fn clerk(&self, name: &str, client_id: u64) -> Clerk<LabrpcClerkTransport> {
        let ends = (0..SERVERS)
            .map(|j| self.end(&format!("{name}-to{j}"), j))
            .collect();
        Clerk::new(ClientId(client_id), SERVERS, LabrpcClerkTransport::new(ends)).expect("servers given")
    }

    fn leader(&self) -> Option<usize> {
        (0..SERVERS).find(|&i| self.servers[i].as_ref().is_some_and(|s| s.get_state().1))
    }
}

/// The threads of this process (Linux), to see that killed servers leave none behind.
fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(Iterator::count)
}

/// Sends one request straight to a server's labrpc service, outside any clerk.
fn submit(end: &ClientEnd) -> Result<Response<String>, CallError> {
    let request = Command {
        client_id: ClientId(999),
        seq: Seq(1),
        op: KvOp::Get { key: "a".into() },
    };
    end.call(SUBMIT, &request)
}

#[test]
fn a_three_server_cluster_serves_snapshots_and_survives_a_crash() {
    let mut cluster = Cluster::new();
    let mut clerk = cluster.clerk("clerk", 1);
    clerk.put("a", "x");
    clerk.append("a", "y");
    assert_eq!(clerk.get("a"), "xy");
    assert_eq!(clerk.get("missing"), "");

    let mut expected = String::new();
    let mut latencies = Vec::with_capacity(TIMED_OPS);
    let timed = Instant::now();
    for i in 0..TIMED_OPS {
        let value = format!("{i},");
        let started = Instant::now();
        clerk.append("k", &value);
        latencies.push(started.elapsed());
        expected.push_str(&value);
    }
    let total = timed.elapsed();
    latencies.sort();
    eprintln!(
        "sequential append on 3 labrpc servers: median {:?}, p90 {:?}, max {:?}, mean {:?}",
        latencies[TIMED_OPS / 2],
        latencies[TIMED_OPS * 9 / 10],
        latencies[TIMED_OPS - 1],
        total / TIMED_OPS as u32
    );
    assert!(
        total < TIME_PER_OP_MAX * TIMED_OPS as u32,
        "operations completed too slowly: {:?}/op",
        total / TIMED_OPS as u32
    );
    assert_eq!(clerk.get("k"), expected);

    for (i, persister) in cluster.persisters.iter().enumerate() {
        let (raft_state, snapshot) = (persister.raft_state_size(), persister.snapshot_size());
        assert!(
            raft_state < 8 * MAXRAFTSTATE as u64,
            "server {i}: Raft state {raft_state} bytes: snapshots do not trim the log"
        );
        assert!(snapshot > 0, "server {i} never snapshotted");
    }

    // A follower crashes: the other two still serve, and the dead one fails its calls.
    let leader = cluster.leader().expect("the clerk's last call had a leader");
    let follower = (leader + 1) % SERVERS;
    cluster.kill(follower);
    clerk.append("k", "f,");
    expected.push_str("f,");
    assert_eq!(clerk.get("k"), expected);
    let probe: Vec<ClientEnd> = (0..SERVERS)
        .map(|j| cluster.end(&format!("probe-to{j}"), j))
        .collect();
    assert_eq!(submit(&probe[follower]), Err(CallError::Failed));

    // It restarts from what it persisted; then the leader crashes, and the restarted server
    // must have caught up for the two left to serve everything.
    cluster.start(follower);
    clerk.append("k", "r,");
    expected.push_str("r,");
    assert_eq!(clerk.get("k"), expected);
    let leader = cluster.leader().expect("the clerk's last call had a leader");
    cluster.kill(leader);
    clerk.append("k", "l,");
    expected.push_str("l,");
    assert_eq!(clerk.get("k"), expected);
    let mut other = cluster.clerk("other", 2);
    assert_eq!(other.get("a"), "xy");

    for (i, end) in probe.iter().enumerate() {
        cluster.kill(i);
        assert_eq!(submit(end), Err(CallError::Failed), "server {i} was killed");
    }
    assert_eq!(
        threads(),
        cluster.threads_before,
        "every server's threads have ended"
    );
    cluster.net.cleanup();
}
