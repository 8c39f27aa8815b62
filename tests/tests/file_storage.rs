//! Real storage under real peers: FilePersister directories survive crashes of every peer
//! without losing a committed command, and a crash at any write step of a save loses nothing
//! that was acknowledged.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft_core::{Bytes, LogIndex};
use raft_labrpc::{Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_storage::{FilePersister, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every command any peer applied, by index; a second, different command at an index fails.
type Committed = Arc<Mutex<BTreeMap<u64, Bytes>>>;

/// Peers on FilePersister directories over a labrpc network.
struct FileCluster {
    net: Network,
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<RaftNode>>,
    ends: Vec<Vec<String>>,
    generation: usize,
    committed: Committed,
    seed: u64,
}

impl FileCluster {
    fn new(n: usize, seed: u64) -> FileCluster {
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().expect("a temp dir")).collect();
        for dir in &dirs {
            FilePersister::create(dir.path()).expect("a fresh data directory");
        }
        let mut c = FileCluster {
            net: Network::with_seed(seed),
            dirs,
            nodes: (0..n).map(|_| None).collect(),
            ends: vec![Vec::new(); n],
            generation: 0,
            committed: Arc::new(Mutex::new(BTreeMap::new())),
            seed,
        };
        for i in 0..n {
            c.start(i);
        }
        c
    }

    fn n(&self) -> usize {
        self.dirs.len()
    }

    /// Starts peer `i` from whatever its directory holds, with fresh ends.
    fn start(&mut self, i: usize) {
        self.generation += 1;
        let names: Vec<String> = (0..self.n())
            .map(|j| format!("{i}->{j}#{}", self.generation))
            .collect();
        let ends = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = self.net.make_end(name.clone()).expect("fresh end names");
                self.net.connect(name, &j.to_string());
                end
            })
            .collect();
        self.ends[i] = names;
        let storage = FilePersister::open(self.dirs[i].path()).expect("a crashed peer's directory reopens");
        let (apply_tx, apply_rx) = flume::unbounded();
        let committed = Arc::clone(&self.committed);
        std::thread::spawn(move || {
            for msg in apply_rx.iter() {
                let ApplyMsg::Command { index, command, .. } = msg else {
                    panic!("no snapshots are taken in this test");
                };
                let mut all = committed.lock().unwrap_or_else(|e| e.into_inner());
                let known = all.entry(index.0).or_insert_with(|| command.clone());
                assert_eq!(*known, command, "two different commands applied at index {index}");
            }
        });
        let options = NodeOptions {
            seed: Some(self.seed + self.generation as u64),
            ..NodeOptions::default()
        };
        let node = make(ends, i, storage, apply_tx, options).expect("make succeeds on a reopened directory");
        let mut server = Server::new();
        server.add_service(node.service());
        self.net.add_server(i.to_string(), server);
        self.nodes[i] = Some(node);
        self.rewire();
    }

    /// Kills peer `i`: the process state is gone, its directory stays.
    fn crash(&mut self, i: usize) {
        self.net.delete_server(&i.to_string());
        if let Some(node) = self.nodes[i].take() {
            node.kill();
        }
        self.rewire();
    }

    /// Enables exactly the ends between live peers.
    fn rewire(&self) {
        for i in 0..self.n() {
            for j in 0..self.n() {
                if let Some(name) = self.ends[i].get(j) {
                    self.net
                        .enable(name, self.nodes[i].is_some() && self.nodes[j].is_some());
                }
            }
        }
    }

    /// Proposes `command` to every live peer; the index if some leader accepted it.
    fn propose(&self, command: &[u8]) -> Option<u64> {
        self.nodes
            .iter()
            .flatten()
            .filter_map(|n| n.start(command.to_vec()).ok())
            .map(|(i, _)| i.0)
            .last()
    }

    fn applied(&self, index: u64) -> Option<Bytes> {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .cloned()
    }
}

#[test]
fn file_cluster_keeps_every_committed_command_through_crashes() {
    let seed = 0xF11E;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = FileCluster::new(5, seed);
    c.net.set_reliable(false);
    let mut value = 0u64;
    for _round in 0..40 {
        value += 1;
        let _ = c.propose(&value.to_le_bytes());
        if rng.random_range(0..100) < 25 {
            let i = rng.random_range(0..c.n());
            c.crash(i);
        }
        let live = c.nodes.iter().flatten().count();
        if live < 3 || rng.random_range(0..100) < 30 {
            let dead: Vec<usize> = (0..c.n()).filter(|i| c.nodes[*i].is_none()).collect();
            if !dead.is_empty() {
                let i = dead[rng.random_range(0..dead.len())];
                c.start(i);
            }
        }
        std::thread::sleep(Duration::from_millis(150));
    }

    // Heal: everyone back, a reliable network, and one last command applied everywhere.
    c.net.set_reliable(true);
    for i in 0..c.n() {
        if c.nodes[i].is_none() {
            c.start(i);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let last = b"the last command".to_vec();
    let final_index = loop {
        assert!(
            Instant::now() < deadline,
            "the healed cluster did not commit within 20 s"
        );
        if let Some(index) = c.propose(&last) {
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until && c.applied(index).is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if c.applied(index).is_some_and(|applied| applied == last) {
                break index;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Replicated everywhere: wait until every peer's log reaches the final index.
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..c.n() {
        c.crash(i);
    }

    let committed = c.committed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        committed.len() >= 10,
        "too little committed to prove anything: {}",
        committed.len()
    );
    for (i, dir) in c.dirs.iter().enumerate() {
        let log = load_log(dir.path());
        assert!(
            log.len() as u64 >= final_index,
            "peer {i}'s log is shorter than the final index"
        );
        for (index, command) in &committed {
            let held = &log[(*index - 1) as usize];
            assert_eq!(held, command, "peer {i} lost or changed committed index {index}");
        }
    }
}

fn load_log(dir: &Path) -> Vec<Bytes> {
    let state = FilePersister::open(dir).expect("reopens").load().expect("loads");
    assert!(state.snapshot.is_none(), "no snapshots are taken here");
    state.entries.into_iter().map(|e| e.command).collect()
}

/// A single peer with 1 ms ticks, so that each crash point costs milliseconds.
fn fast_options() -> NodeOptions {
    NodeOptions {
        tick: Duration::from_millis(1),
        election_timeout_ticks_min: 3,
        election_timeout_ticks_max: 6,
        heartbeat_interval_ticks: 1,
        seed: Some(7),
        ..NodeOptions::default()
    }
}

/// Runs one peer on `dir` whose storage crashes after `steps` write steps; proposes commands
/// one at a time until it dies or has applied ten. Returns what was acknowledged (applied).
fn run_until_crash(dir: &Path, steps: u64) -> Vec<(LogIndex, Bytes)> {
    let net = Network::with_seed(steps);
    let own = net.make_end("0->0").expect("fresh");
    let mut storage = FilePersister::create(dir).expect("creates");
    storage.crash_after_write_steps(steps);
    let (apply_tx, apply_rx) = flume::unbounded();
    let node = make(vec![own], 0, storage, apply_tx, fast_options()).expect("make");
    let mut acknowledged = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    'commands: for k in 0..10u8 {
        let command = vec![k; 16];
        let index = loop {
            if node.stopped() || Instant::now() > deadline {
                break 'commands;
            }
            if let Ok((index, _)) = node.start(command.clone()) {
                break index;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        match apply_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(ApplyMsg::Command {
                index: applied,
                command: c,
                ..
            }) => {
                assert_eq!(applied, index);
                acknowledged.push((applied, c));
            }
            Ok(ApplyMsg::Snapshot { .. }) => panic!("no snapshots are taken in this test"),
            Ok(ApplyMsg::Read { .. }) => panic!("no reads are asked for in this test"),
            Err(_) => break,
        }
    }
    node.kill();
    net.cleanup();
    acknowledged
}

#[test]
fn a_crash_at_any_write_step_loses_nothing_acknowledged() {
    let mut crashed_runs = 0;
    let mut complete_runs = 0;
    for steps in 0..80 {
        let dir = tempfile::tempdir().expect("a temp dir");
        let acknowledged = run_until_crash(dir.path(), steps);
        if acknowledged.len() == 10 {
            complete_runs += 1;
        } else {
            crashed_runs += 1;
        }
        let state = FilePersister::open(dir.path())
            .unwrap_or_else(|e| panic!("crash after {steps} steps: the directory does not reopen: {e}"))
            .load()
            .expect("loads");
        for (index, command) in &acknowledged {
            let held = state.entries.iter().find(|e| e.index == *index);
            assert_eq!(
                held.map(|e| &e.command),
                Some(command),
                "crash after {steps} write steps lost acknowledged index {index}"
            );
        }
        // And a new peer starts on what survived.
        let net = Network::with_seed(1);
        let (tx, _rx) = flume::unbounded();
        let node = make(
            vec![net.make_end("x").expect("fresh")],
            0,
            FilePersister::open(dir.path()).expect("opens"),
            tx,
            fast_options(),
        )
        .expect("a peer restarts on the crashed directory");
        node.kill();
        net.cleanup();
    }
    assert!(
        crashed_runs > 20,
        "the crash points must interrupt the runs ({crashed_runs} did)"
    );
    assert!(complete_runs > 0, "some runs must get through all ten commands");
}
