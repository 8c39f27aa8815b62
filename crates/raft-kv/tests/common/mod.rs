//! A cluster of `KvServer`s over one raft-labrpc network, as 6.824's kvraft config.go
//! wires it: each server's ends to every server, both its labrpc services under its number,
//! clerks with ends of their own.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_kv::server::{KvServer, SUBMIT};
use raft_kv::{Clerk, ClientId, Command, KvOp, KvStore, LabrpcClerkTransport, Response, Seq, ServerStatus};
use raft_labrpc::{CallError, ClientEnd, Network, Server};
use raft_node::NodeOptions;
use raft_storage::MemoryPersister;

/// Servers in a cluster.
pub const SERVERS: usize = 3;
/// Lab 3B's TestSnapshotSize3B value.
pub const MAXRAFTSTATE: usize = 1000;

/// The servers, their persisters, and the network.
pub struct Cluster {
    pub net: Network,
    /// The process's threads before any server started (the network's timer included).
    pub threads_before: Option<usize>,
    servers: Vec<Option<Arc<KvServer>>>,
    pub persisters: Vec<MemoryPersister>,
    /// `ends[i][j]`: the name of server i's current end to server j.
    ends: Vec<Vec<String>>,
    generation: usize,
    /// Every server's options but the seed.
    options: NodeOptions,
}

impl Cluster {
    /// Starts every server, with raft-node's default options.
    pub fn new() -> Cluster {
        Cluster::with_options(NodeOptions::default())
    }

    /// Starts every server with `options` (each its own seed).
    pub fn with_options(options: NodeOptions) -> Cluster {
        let net = Network::with_seed(3);
        let mut cluster = Cluster {
            threads_before: threads(),
            net,
            servers: (0..SERVERS).map(|_| None).collect(),
            persisters: (0..SERVERS).map(|_| MemoryPersister::new()).collect(),
            ends: vec![Vec::new(); SERVERS],
            generation: 0,
            options,
        };
        for i in 0..SERVERS {
            cluster.start(i);
        }
        cluster
    }

    /// Starts server `i` from its persister, with fresh ends, replacing its labrpc server.
    pub fn start(&mut self, i: usize) {
        let generation = self.generation;
        self.generation += 1;
        let names: Vec<String> = (0..SERVERS)
            .map(|j| format!("kv{i}-g{generation}-to{j}"))
            .collect();
        let ends = names
            .iter()
            .enumerate()
            .map(|(j, name)| self.end(name, j))
            .collect();
        self.ends[i] = names;
        let options = NodeOptions {
            seed: Some(100 + generation as u64),
            ..self.options.clone()
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
    pub fn kill(&mut self, i: usize) {
        if let Some(server) = self.servers[i].take() {
            server.kill();
            assert!(!server.get_state().1, "a killed server does not lead");
        }
        self.persisters[i] = self.persisters[i].copy();
    }

    /// A fresh end `name` to server `to`, enabled.
    pub fn end(&self, name: &str, to: usize) -> ClientEnd {
        let end = self.net.make_end(name).expect("end names are fresh");
        self.net.connect(name, &to.to_string());
        self.net.enable(name, true);
        end
    }

    /// A clerk over fresh ends to every server, in order.
    pub fn clerk(&self, name: &str, client_id: u64) -> Clerk<LabrpcClerkTransport> {
        let order: Vec<usize> = (0..SERVERS).collect();
        self.clerk_over(name, client_id, &order)
    }

    /// A clerk whose list holds the servers of `order`, in that order (it tries the first
    /// one first).
    pub fn clerk_over(&self, name: &str, client_id: u64, order: &[usize]) -> Clerk<LabrpcClerkTransport> {
        let ends = order
            .iter()
            .map(|&j| self.end(&format!("{name}-to{j}"), j))
            .collect();
        Clerk::new(ClientId(client_id), order.len(), LabrpcClerkTransport::new(ends)).expect("servers given")
    }

    /// Cuts server `i` off from the other servers (both directions), or reconnects it.
    /// Clerks' ends are left as they are.
    pub fn connect(&self, i: usize, connected: bool) {
        for j in (0..SERVERS).filter(|&j| j != i) {
            for name in [self.ends[i].get(j), self.ends[j].get(i)].into_iter().flatten() {
                self.net.enable(name, connected);
            }
        }
    }

    /// Kills every server, checks that each one's calls now fail and that no server thread
    /// is left, and shuts the network down.
    pub fn shutdown(&mut self) {
        let probes: Vec<ClientEnd> = (0..SERVERS)
            .map(|j| self.end(&format!("shutdown-to{j}"), j))
            .collect();
        for (i, end) in probes.iter().enumerate() {
            self.kill(i);
            assert_eq!(submit(end), Err(CallError::Failed), "server {i} was killed");
        }
        // `kill` joined every server thread, but a joined thread can still be listed in
        // /proc/self/task for a moment: the kernel wakes the joiner before it reaps the
        // thread. So the count gets a bounded while to settle; a thread left running never
        // leaves the list and still fails.
        let deadline = Instant::now() + Duration::from_secs(2);
        while threads() != self.threads_before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            threads(),
            self.threads_before,
            "every server's threads have ended"
        );
        self.net.cleanup();
    }

    /// Server `i`'s status, if it runs.
    pub fn status(&self, i: usize) -> Option<ServerStatus> {
        self.servers[i].as_ref().map(|s| s.status())
    }

    /// The server that believes it leads, if any.
    pub fn leader(&self) -> Option<usize> {
        (0..SERVERS).find(|&i| self.servers[i].as_ref().is_some_and(|s| s.get_state().1))
    }
}

/// The threads of this process (Linux), to see that killed servers leave none behind.
pub fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(Iterator::count)
}

/// Sends one request straight to a server's labrpc service, outside any clerk.
pub fn submit(end: &ClientEnd) -> Result<Response<String>, CallError> {
    let request = Command {
        client_id: ClientId(999),
        seq: Seq(1),
        op: KvOp::Get { key: "a".into() },
    };
    end.call(SUBMIT, &request)
}
