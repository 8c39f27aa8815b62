//! config.go in Rust: the cluster under test and the checks the 6.824 tests make of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use raft_core::{LogIndex, Term};
use raft_labrpc::{ClientEnd, Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_storage::{MemoryPersister, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// test_test.go: "The tester generously allows solutions to complete elections in one second
/// (much more than the paper's range of timeouts)."
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// config.go's `SnapShotInterval`: the 2D applier snapshots after indices 9, 19, 29, ...
const SNAPSHOT_INTERVAL: u64 = 10;

/// config.go's limit on one test: 120 seconds.
const TEST_TIME_MAX: Duration = Duration::from_secs(120);

/// A command as the tests write them: an integer, encoded as 8 little-endian bytes.
#[must_use]
pub fn cmd(x: u64) -> Vec<u8> {
    x.to_le_bytes().to_vec()
}

/// The integer a command holds, if it is one (Go's `cmd.(int)`).
#[must_use]
pub fn as_int(command: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(command).ok().map(u64::from_le_bytes)
}

/// What the appliers record: each server's applied commands by index, and the first error.
#[derive(Default)]
struct Applied {
    logs: Vec<HashMap<u64, Vec<u8>>>,
    /// The last index each server applied (2D: commands must follow it exactly).
    last_applied: Vec<u64>,
    apply_err: Option<String>,
    max_index: u64,
}

/// The cluster's mutable membership, under one lock as in config.go.
struct Cluster {
    rafts: Vec<Option<Arc<RaftNode>>>,
    connected: Vec<bool>,
    saved: Vec<MemoryPersister>,
    endnames: Vec<Vec<String>>,
}

/// The test harness: config.go's `config`.
pub struct Config {
    net: Network,
    n: usize,
    /// 2D: appliers snapshot every `SNAPSHOT_INTERVAL` commands and ingest snapshots.
    snapshot: bool,
    seed: u64,
    cluster: Mutex<Cluster>,
    applied: Arc<Mutex<Applied>>,
    rng: Mutex<StdRng>,
    finished: Arc<AtomicBool>,
    start: Instant,
    /// begin()'s marks: time, RPC total, bytes total, max applied index.
    marks: Mutex<(Instant, u64, u64, u64)>,
}

impl Config {
    /// `make_config(t, n, unreliable, false)`: `n` peers, connected, long delays on.
    #[must_use]
    pub fn new(n: usize, unreliable: bool) -> Config {
        Config::make(n, unreliable, false)
    }

    /// `make_config(t, n, unreliable, true)`: as [`Config::new`], with the 2D applier, which
    /// snapshots every ten commands and checks that commands follow snapshots exactly.
    #[must_use]
    pub fn with_snapshots(n: usize, unreliable: bool) -> Config {
        Config::make(n, unreliable, true)
    }

    fn make(n: usize, unreliable: bool, snapshot: bool) -> Config {
        init_tracing();
        let seed = std::env::var("RAFT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
        let net = Network::with_seed(seed);
        let cfg = Config {
            net,
            n,
            snapshot,
            seed,
            cluster: Mutex::new(Cluster {
                rafts: vec![None; n],
                connected: vec![false; n],
                saved: (0..n).map(|_| MemoryPersister::new()).collect(),
                endnames: vec![Vec::new(); n],
            }),
            applied: Arc::new(Mutex::new(Applied {
                logs: vec![HashMap::new(); n],
                last_applied: vec![0; n],
                ..Applied::default()
            })),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            finished: Arc::new(AtomicBool::new(false)),
            start: Instant::now(),
            marks: Mutex::new((Instant::now(), 0, 0, 0)),
        };
        cfg.set_unreliable(unreliable);
        cfg.net.set_long_delays(true);
        for i in 0..n {
            cfg.start1(i);
        }
        for i in 0..n {
            cfg.connect(i);
        }
        cfg
    }

    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn applied(&self) -> MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of peers.
    #[must_use]
    pub fn n(&self) -> usize {
        self.n
    }

    /// The peer `i`, if it is running.
    #[must_use]
    pub fn raft(&self, i: usize) -> Option<Arc<RaftNode>> {
        self.cluster().rafts[i].clone()
    }

    /// `cfg.rafts[i].Start(command)`: the index and term if peer `i` is running and accepted
    /// the command as leader, `None` otherwise (Go's `ok == false`).
    pub fn start(&self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        let raft = self.raft(i)?;
        raft.start(command.to_vec())
            .ok()
            .map(|(index, term)| (index.0, term))
    }

    /// `cfg.rafts[i].GetState()`: term and leadership of peer `i` (term 0 if it is down).
    #[must_use]
    pub fn get_state(&self, i: usize) -> (Term, bool) {
        self.raft(i).map_or((Term(0), false), |r| r.get_state())
    }

    /// A random integer from the test's seeded RNG (Go's `rand.Int()`, non-negative).
    pub fn rand_int(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(0..i64::MAX as u64)
    }

    /// A random string of `n` letters and digits from the test's RNG (config.go `randstring`).
    pub fn rand_string(&self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// Sleeps; every wait in a scenario goes through here.
    pub fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// crash1: shut down peer `i` but save its persistent state. Its persister is replaced by
    /// a copy first, so nothing the old instance might still write reaches the new one.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        let raft = {
            let mut cluster = self.cluster();
            cluster.saved[i] = cluster.saved[i].copy();
            cluster.rafts[i].take()
        };
        if let Some(raft) = raft {
            raft.kill();
        }
        let mut cluster = self.cluster();
        cluster.saved[i] = cluster.saved[i].copy();
    }

    /// start1: start or restart peer `i` (killing any running instance first), with fresh
    /// outgoing end names and its saved state. It is not connected: call `connect` after.
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        let names: Vec<String> = (0..self.n).map(|_| self.rand_string(20)).collect();
        let mut ends: Vec<ClientEnd> = Vec::with_capacity(self.n);
        for (j, name) in names.iter().enumerate() {
            let end = self.net.make_end(name.clone()).expect("end names are fresh");
            self.net.connect(name, &j.to_string());
            ends.push(end);
        }
        let persister = {
            let mut cluster = self.cluster();
            cluster.endnames[i] = names;
            cluster.saved[i] = cluster.saved[i].copy();
            cluster.saved[i].clone()
        };
        {
            // "mimic KV server and process snapshot now": the service starts from the snapshot.
            let mut a = self.applied();
            a.last_applied[i] = 0;
            let snapshot = persister.load().expect("a MemoryPersister always loads").snapshot;
            if let Some(snapshot) = snapshot.filter(|s| !s.data.is_empty()) {
                if let Err(err) = ingest_snap(&mut a, i, &snapshot.data, None) {
                    panic!("{err}");
                }
            }
        }
        let (apply_tx, apply_rx) = flume::bounded(0);
        let options = NodeOptions {
            seed: Some(self.rand_int()),
            ..NodeOptions::default()
        };
        let raft = Arc::new(make(ends, i, persister, apply_tx, options).expect("make succeeds"));
        self.spawn_applier(i, apply_rx, Arc::downgrade(&raft));
        let mut server = Server::new();
        server.add_service(raft.service());
        self.net.add_server(i.to_string(), server);
        self.cluster().rafts[i] = Some(raft);
    }

    /// The appliers of config.go. `applier` (2A-2C) checks every applied command against every
    /// other server's at the same index, and that indices arrive in order; `applierSnap` (2D)
    /// also requires each command to follow the last one (or the snapshot) exactly, ingests
    /// snapshots, and snapshots every ten commands. A failure is recorded and fails the test at
    /// its next check (Go's log.Fatalf).
    fn spawn_applier(&self, i: usize, apply_rx: flume::Receiver<ApplyMsg>, raft: Weak<RaftNode>) {
        let applied = Arc::clone(&self.applied);
        let snapshot = self.snapshot;
        std::thread::spawn(move || {
            for msg in apply_rx.iter() {
                let mut a = applied.lock().unwrap_or_else(|e| e.into_inner());
                let (err, snap) = match msg {
                    ApplyMsg::Command { index, command, .. } => {
                        apply_command(&mut a, i, index.0, command, snapshot)
                    }
                    ApplyMsg::Snapshot { index, data, .. } if snapshot => {
                        (ingest_snap(&mut a, i, &data, Some(index.0)).err(), None)
                    }
                    ApplyMsg::Snapshot { .. } => (None, None),
                };
                if err.is_some() && a.apply_err.is_none() {
                    eprintln!("apply error: {}", err.as_deref().unwrap_or_default());
                    a.apply_err = err;
                }
                drop(a);
                if let (Some((index, data)), Some(raft)) = (snap, raft.upgrade()) {
                    raft.snapshot(LogIndex(index), data);
                }
            }
        });
    }

    /// LogSize: the largest persisted Raft state (term, vote, log) of any server, in bytes.
    #[must_use]
    pub fn log_size(&self) -> u64 {
        self.cluster()
            .saved
            .iter()
            .map(Storage::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// Attaches peer `i` to the network: its outgoing ends and every connected peer's end to it.
    pub fn connect(&self, i: usize) {
        let mut cluster = self.cluster();
        cluster.connected[i] = true;
        for j in 0..self.n {
            if cluster.connected[j] {
                self.net.enable(&cluster.endnames[i][j], true);
                self.net.enable(&cluster.endnames[j][i], true);
            }
        }
    }

    /// Detaches peer `i`: its outgoing ends and every end to it.
    pub fn disconnect(&self, i: usize) {
        let mut cluster = self.cluster();
        cluster.connected[i] = false;
        for j in 0..self.n {
            if let Some(name) = cluster.endnames[i].get(j) {
                self.net.enable(name, false);
            }
            if let Some(name) = cluster.endnames[j].get(i) {
                self.net.enable(name, false);
            }
        }
    }

    /// True if peer `i` is connected.
    #[must_use]
    pub fn connected(&self, i: usize) -> bool {
        self.cluster().connected[i]
    }

    /// RPCs delivered to peer `i` since it was last started.
    #[must_use]
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.net.count(&i.to_string())
    }

    /// Every RPC sent so far.
    #[must_use]
    pub fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    /// Every byte sent so far.
    #[must_use]
    pub fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    /// Turns the unreliable network on or off.
    pub fn set_unreliable(&self, unreliable: bool) {
        self.net.set_reliable(!unreliable);
    }

    /// Turns long reordering of replies on or off.
    pub fn set_long_reordering(&self, on: bool) {
        self.net.set_long_reordering(on);
    }

    /// The running, connected peers and their state.
    fn states(&self) -> Vec<(usize, Term, bool)> {
        let cluster = self.cluster();
        (0..self.n)
            .filter(|i| cluster.connected[*i])
            .filter_map(|i| cluster.rafts[i].as_ref().map(|r| (i, r.get_state())))
            .map(|(i, (term, leader))| (i, term, leader))
            .collect()
    }

    /// checkOneLeader: up to ten rounds of a 450-549 ms sleep, then the connected peers'
    /// states; fails on two leaders in a term, returns the leader of the highest term, and
    /// fails if no round found one (about five seconds: "elect a new leader within five
    /// seconds").
    pub fn check_one_leader(&self) -> usize {
        for _ in 0..10 {
            let ms = 450 + self.rand_int() % 100;
            self.sleep(Duration::from_millis(ms));
            let mut leaders: HashMap<Term, Vec<usize>> = HashMap::new();
            for (i, term, leader) in self.states() {
                if leader {
                    leaders.entry(term).or_default().push(i);
                }
            }
            let mut last_term_with_leader = None;
            for (term, ids) in &leaders {
                assert!(ids.len() <= 1, "term {} has {} (>1) leaders", term, ids.len());
                if last_term_with_leader.is_none_or(|t| *term > t) {
                    last_term_with_leader = Some(*term);
                }
            }
            if let Some(term) = last_term_with_leader {
                return leaders[&term][0];
            }
        }
        panic!("expected one leader, got none");
    }

    /// checkTerms: every connected peer reports the same term; returns it.
    pub fn check_terms(&self) -> Term {
        let mut term = None;
        for (_, t, _) in self.states() {
            match term {
                None => term = Some(t),
                Some(x) => assert_eq!(x, t, "servers disagree on term"),
            }
        }
        term.unwrap_or(Term(0))
    }

    /// checkNoLeader: no connected peer thinks it leads.
    pub fn check_no_leader(&self) {
        for (i, _, leader) in self.states() {
            assert!(
                !leader,
                "expected no leader among connected servers, but {i} claims to be leader"
            );
        }
    }

    /// nCommitted: how many peers applied `index`, and the command they agree on. Fails on an
    /// apply error from any applier or on two different commands at one index.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Vec<u8>>) {
        let a = self.applied();
        if let Some(err) = &a.apply_err {
            panic!("{err}");
        }
        let mut count = 0;
        let mut command: Option<Vec<u8>> = None;
        for log in &a.logs {
            if let Some(c) = log.get(&index) {
                if let Some(prev) = &command {
                    assert_eq!(prev, c, "committed values do not match: index {index}");
                }
                count += 1;
                command = Some(c.clone());
            }
        }
        (count, command)
    }

    /// wait: for at least `n` peers to apply `index`, backing off from 10 ms to about a second
    /// over 30 polls. Returns `None` (Go's -1) if some peer moved past `start_term`.
    pub fn wait(&self, index: u64, n: usize, start_term: Option<Term>) -> Option<Vec<u8>> {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            let (nd, _) = self.n_committed(index);
            if nd >= n {
                break;
            }
            self.sleep(to);
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start_term) = start_term {
                let moved_on = self
                    .cluster()
                    .rafts
                    .iter()
                    .flatten()
                    .any(|r| r.get_state().0 > start_term);
                if moved_on {
                    return None;
                }
            }
        }
        let (nd, command) = self.n_committed(index);
        assert!(nd >= n, "only {nd} decided for index {index}; wanted {n}");
        command
    }

    /// one: a complete agreement on `command` by at least `expected_servers` peers, within 10
    /// seconds, trying each connected peer in turn as the leader (2 seconds per attempt; with
    /// `retry`, a failed attempt is tried again). Returns the command's index.
    pub fn one(&self, command: &[u8], expected_servers: usize, retry: bool) -> u64 {
        let t0 = Instant::now();
        let mut starts = 0;
        while t0.elapsed() < Duration::from_secs(10) && !self.finished.load(Ordering::Acquire) {
            let mut index = None;
            for _ in 0..self.n {
                starts = (starts + 1) % self.n;
                let raft = {
                    let cluster = self.cluster();
                    if cluster.connected[starts] {
                        cluster.rafts[starts].clone()
                    } else {
                        None
                    }
                };
                if let Some(Ok((i, _))) = raft.map(|r| r.start(command.to_vec())) {
                    index = Some(i);
                    break;
                }
            }
            if let Some(LogIndex(index)) = index {
                let t1 = Instant::now();
                while t1.elapsed() < Duration::from_secs(2) {
                    let (nd, cmd1) = self.n_committed(index);
                    if nd > 0 && nd >= expected_servers && cmd1.as_deref() == Some(command) {
                        return index;
                    }
                    self.sleep(Duration::from_millis(20));
                }
                assert!(retry, "one({}) failed to reach agreement", show(command));
            } else {
                self.sleep(Duration::from_millis(50));
            }
        }
        panic!("one({}) failed to reach agreement", show(command));
    }

    /// begin: prints the test's description and marks where its counts start.
    pub fn begin(&self, description: &str) {
        println!("{description} ...");
        let max_index = self.applied().max_index;
        *self.marks.lock().unwrap_or_else(|e| e.into_inner()) =
            (Instant::now(), self.rpc_total(), self.bytes_total(), max_index);
    }

    /// end: checks the time limit and prints the pass line: seconds, peers, RPCs, bytes, and
    /// commands committed since begin.
    pub fn end(&self) {
        self.check_timeout();
        let (t0, rpcs0, bytes0, max_index0) = *self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let max_index = self.applied().max_index;
        println!(
            "  ... Passed --  {:4.1}  {} {:4} {:7} {:4}",
            t0.elapsed().as_secs_f64(),
            self.n,
            self.rpc_total() - rpcs0,
            self.bytes_total() - bytes0,
            max_index - max_index0
        );
    }

    fn check_timeout(&self) {
        assert!(
            self.start.elapsed() <= TEST_TIME_MAX,
            "test took longer than 120 seconds"
        );
    }

    /// cleanup: kills every peer and stops the network.
    pub fn cleanup(&self) {
        self.cleanup_quietly();
        self.check_timeout();
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test failed with seed {seed}: replay its random choices with RAFT_TEST_SEED={seed}",
                seed = self.seed
            );
        }
        self.cleanup_quietly();
    }
}

impl Config {
    /// Kills every peer and stops the network, without the time check.
    fn cleanup_quietly(&self) {
        self.finished.store(true, Ordering::Release);
        let rafts: Vec<Arc<RaftNode>> = self.cluster().rafts.iter_mut().filter_map(Option::take).collect();
        for raft in rafts {
            raft.kill();
        }
        self.net.cleanup();
    }
}

/// One command at the applier: `applierSnap`'s strict order check in 2D, then checkLogs; in
/// 2D, the snapshot to take when the index is the ninth of ten.
fn apply_command(
    a: &mut Applied,
    i: usize,
    index: u64,
    command: Vec<u8>,
    snapshot: bool,
) -> (Option<String>, Option<(u64, Vec<u8>)>) {
    if !snapshot {
        return (check_logs(a, i, index, command), None);
    }
    let expected = a.last_applied[i] + 1;
    let mut err = (index != expected)
        .then(|| format!("server {i} apply out of order, expected index {expected}, got {index}"));
    if err.is_none() {
        err = check_logs(a, i, index, command);
    }
    a.last_applied[i] = index;
    let snap = ((index + 1) % SNAPSHOT_INTERVAL == 0).then(|| {
        let xlog: Vec<Option<Vec<u8>>> = (0..=index).map(|j| a.logs[i].get(&j).cloned()).collect();
        let data = postcard::to_stdvec(&(index, xlog)).expect("a snapshot encodes");
        (index, data)
    });
    (err, snap)
}

/// ingestSnap: the service's state becomes the snapshot's: the commands through its last
/// included index, which must match `index` when the snapshot came on the apply channel.
fn ingest_snap(a: &mut Applied, i: usize, data: &[u8], index: Option<u64>) -> Result<(), String> {
    let (last_included_index, xlog): (u64, Vec<Option<Vec<u8>>>) =
        postcard::from_bytes(data).map_err(|e| format!("snapshot Decode() error: {e}"))?;
    if index.is_some_and(|index| index != last_included_index) {
        return Err(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
    }
    a.logs[i] = xlog
        .into_iter()
        .enumerate()
        .filter_map(|(j, c)| c.map(|c| (j as u64, c)))
        .collect();
    a.last_applied[i] = last_included_index;
    Ok(())
}

/// checkLogs: records server `i`'s apply of `command` at `index`; an error if another server
/// applied something else there, or if `index` arrived before `index - 1`.
fn check_logs(a: &mut Applied, i: usize, index: u64, command: Vec<u8>) -> Option<String> {
    for (j, log) in a.logs.iter().enumerate() {
        if let Some(old) = log.get(&index) {
            if *old != command {
                return Some(format!(
                    "commit index={index} server={i} {} != server={j} {}",
                    show(&command),
                    show(old)
                ));
            }
        }
    }
    let prev_ok = index <= 1 || a.logs[i].contains_key(&(index - 1));
    a.logs[i].insert(index, command);
    a.max_index = a.max_index.max(index);
    (!prev_ok).then(|| format!("server {i} apply out of order {index}"))
}

/// A command for messages: the integer if it is one, else its length.
fn show(command: &[u8]) -> String {
    as_int(command).map_or_else(|| format!("<{} bytes>", command.len()), |x| x.to_string())
}

/// `RUST_LOG`-style tracing for tests, off unless asked for.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
