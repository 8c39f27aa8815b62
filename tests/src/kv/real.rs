//! The real key/value cluster: raft-kv servers (a raft-node peer and the server's loop, on
//! threads) over a raft-labrpc network, on the wall clock; clerks are threads calling through
//! labrpc ends of their own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use raft_core::Term;
use raft_kv::KvStore;
use raft_kv::server::KvServer;
use raft_labrpc::{ClientEnd, Network, Server};
use raft_storage::MemoryPersister;

use crate::real::{Watchdog, connected_ends};

/// The servers and their outgoing end names, under one lock as in config.go.
struct Servers {
    kv: Vec<Option<Arc<KvServer>>>,
    endnames: Vec<Vec<String>>,
    /// Makes end names unique across restarts (config.go draws random strings).
    next_end: u64,
}

/// raft-kv servers on a labrpc network.
pub(crate) struct RealKvCluster {
    net: Network,
    n: usize,
    maxraftstate: Option<usize>,
    servers: Mutex<Servers>,
    start: Instant,
    /// Dropped last, once the servers are stopped: a hang while stopping them is caught too.
    _watchdog: Watchdog,
}

impl RealKvCluster {
    pub(crate) fn new(n: usize, seed: u64, maxraftstate: Option<usize>, watchdog: Watchdog) -> RealKvCluster {
        RealKvCluster {
            net: Network::with_seed(seed),
            n,
            maxraftstate,
            servers: Mutex::new(Servers {
                kv: vec![None; n],
                endnames: vec![Vec::new(); n],
                next_end: 0,
            }),
            start: Instant::now(),
            _watchdog: watchdog,
        }
    }

    fn servers(&self) -> MutexGuard<'_, Servers> {
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        let server = self.servers().kv[i].clone();
        server.map(|s| s.get_state())
    }

    /// config.go `StartServer(i)`: fresh outgoing ends, the server over `persister`, and one
    /// labrpc server carrying both its services (the key/value service and Raft's).
    pub(crate) fn start_server(&self, i: usize, seed: u64, persister: MemoryPersister) {
        let names: Vec<String> = {
            let mut servers = self.servers();
            let first = servers.next_end;
            servers.next_end += self.n as u64;
            (0..self.n as u64)
                .map(|j| format!("end-{i}-{}", first + j))
                .collect()
        };
        let ends = connected_ends(&self.net, &names);
        let options = crate::switches::node_options(seed);
        let kv = KvServer::start(ends, i, persister, self.maxraftstate, KvStore::new(), options)
            .expect("a server starts from its saved state");
        let mut server = Server::new();
        server.add_service(kv.service());
        server.add_service(kv.raft_service());
        self.net.add_server(i.to_string(), server);
        let mut servers = self.servers();
        servers.endnames[i] = names;
        servers.kv[i] = Some(kv);
    }

    /// config.go's `DeleteServer(i)`: calls in flight to `i` fail.
    pub(crate) fn delete_server(&self, i: usize) {
        self.net.delete_server(&i.to_string());
    }

    /// Kills server `i`'s instance, if it runs.
    pub(crate) fn kill(&self, i: usize) {
        let server = self.servers().kv[i].take();
        if let Some(server) = server {
            server.kill();
        }
    }

    /// A clerk's ends: one to each server, disabled; returns their names (by server) and ends.
    pub(crate) fn make_clerk_ends(&self, clerk: u64) -> (Vec<String>, Vec<ClientEnd>) {
        let names: Vec<String> = (0..self.n).map(|j| format!("clerk-{clerk}-{j}")).collect();
        let ends = connected_ends(&self.net, &names);
        (names, ends)
    }

    /// Enables or disables the end from server `from` to server `to`.
    pub(crate) fn enable(&self, from: usize, to: usize, enabled: bool) {
        let name = self.servers().endnames[from].get(to).cloned();
        if let Some(name) = name {
            self.net.enable(&name, enabled);
        }
    }

    /// Enables or disables the end named `name` (a clerk's).
    pub(crate) fn enable_end(&self, name: &str, enabled: bool) {
        self.net.enable(name, enabled);
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    pub(crate) fn set_reliable(&self, reliable: bool) {
        self.net.set_reliable(reliable);
    }

    /// Kills every server and stops the network.
    pub(crate) fn cleanup(&self) {
        let servers: Vec<Arc<KvServer>> = self.servers().kv.iter_mut().filter_map(Option::take).collect();
        for server in servers {
            server.kill();
        }
        self.net.cleanup();
    }
}
