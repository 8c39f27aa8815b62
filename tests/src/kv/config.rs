//! kvraft's config.go in Rust: the key/value cluster under test, its clerks, and what the
//! Lab 3 tests measure of it, written once over either cluster.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use raft_core::Term;
use raft_kv::{CallFailed, ClerkTransport, ClientId, Command, KvOp, LabrpcClerkTransport, Response};
use raft_storage::{MemoryPersister, Storage};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::real::RealKvCluster;
use crate::config::{Clock, Figures, Scope, TEST_TIME_MAX, Tester, init_tracing, run_scope};
use crate::real::Watchdog;
use crate::sim::SimCluster;

/// test_test.go's `linearizabilityCheckTimeout`: one second for the whole history.
pub const LINEARIZABILITY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The cluster under the harness.
enum Backend {
    Real(RealKvCluster),
    Sim(Box<SimCluster>),
}

/// How the harness reaches one clerk's ends.
#[derive(Clone, Debug)]
enum ClerkEnds {
    /// The labrpc end names, by server.
    Real(Vec<String>),
    /// The simulated network's caller id of the clerk.
    Sim(usize),
}

/// The test harness: kvraft's config.go `config`. The scenario cannot tell which cluster is
/// under it.
pub struct KvConfig {
    t: Tester,
    n: usize,
    maxraftstate: Option<usize>,
    backend: Backend,
    saved: Mutex<Vec<MemoryPersister>>,
    /// Each clerk's ends (config.go's `clerks`), by the clerk's number.
    clerks: Mutex<BTreeMap<u64, ClerkEnds>>,
    /// config.go's `nextClientId`, which here is also the clerk's id for its requests.
    next_client_id: AtomicU64,
    rng: Mutex<StdRng>,
    /// Clerk operations since `begin` (config.go's `ops`).
    ops: AtomicU64,
    finished: AtomicBool,
    /// begin()'s marks: time and RPC total.
    marks: Mutex<(Duration, u64)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KvConfig {
    /// `make_config(t, n, unreliable, maxraftstate)`: `n` servers, each from an empty
    /// persister, connected; then the network made unreliable if asked. `None` is Go's -1:
    /// never snapshot.
    #[must_use]
    pub fn new(t: &Tester, n: usize, unreliable: bool, maxraftstate: Option<usize>) -> KvConfig {
        init_tracing();
        let backend = match t.clock() {
            Clock::Real => {
                let watchdog = Watchdog::start(t.seed(), t.hung_after_limit(), None);
                Backend::Real(RealKvCluster::new(n, t.seed(), maxraftstate, watchdog))
            }
            Clock::Virtual => Backend::Sim(Box::new(SimCluster::new_kv(n, t.seed(), maxraftstate))),
        };
        let cfg = KvConfig {
            t: t.clone(),
            n,
            maxraftstate,
            backend,
            saved: Mutex::new((0..n).map(|_| MemoryPersister::new()).collect()),
            clerks: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(n as u64 + 1000),
            rng: Mutex::new(StdRng::seed_from_u64(t.seed())),
            ops: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            marks: Mutex::new((Duration::ZERO, 0)),
        };
        for i in 0..n {
            cfg.start_server(i);
        }
        cfg.connect_all();
        cfg.set_unreliable(unreliable);
        cfg
    }

    /// The run this cluster belongs to.
    #[must_use]
    pub fn tester(&self) -> &Tester {
        &self.t
    }

    /// The number of servers.
    #[must_use]
    pub fn n(&self) -> usize {
        self.n
    }

    /// config.go `All`: every server.
    #[must_use]
    pub fn all(&self) -> Vec<usize> {
        (0..self.n).collect()
    }

    /// The snapshot threshold the servers run with (`None`: never).
    #[must_use]
    pub fn maxraftstate(&self) -> Option<usize> {
        self.maxraftstate
    }

    /// Time since the cluster was made: wall time, or virtual time on the simulated cluster.
    #[must_use]
    pub fn now(&self) -> Duration {
        match &self.backend {
            Backend::Real(c) => c.now(),
            Backend::Sim(c) => c.now(),
        }
    }

    /// [`KvConfig::now`] in nanoseconds: the time stamps of the history.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.now().as_nanos() as u64
    }

    /// Sleeps; on the simulated cluster the servers and the other clients run meanwhile.
    pub fn sleep(&self, duration: Duration) {
        match &self.backend {
            Backend::Real(_) => std::thread::sleep(duration),
            Backend::Sim(c) => c.sleep(duration),
        }
    }

    /// Runs `f`, whose clients run beside the scenario (Go's goroutines), and waits for every
    /// client it started (see [`crate::Config::scope`]).
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> R,
    {
        let sim = match &self.backend {
            Backend::Real(_) => None,
            Backend::Sim(c) => Some(&**c),
        };
        run_scope(sim, || self.finished.store(true, Ordering::Release), f)
    }

    /// A random integer from the test's seeded RNG (Go's `rand.Int()`, non-negative).
    pub fn rand_int(&self) -> u64 {
        lock(&self.rng).random_range(0..i64::MAX as u64)
    }

    /// Notes a harness action in the simulated cluster's trace.
    fn note(&self, what: impl FnOnce() -> String) {
        if let Backend::Sim(c) = &self.backend {
            c.with(|w| w.note(what()));
        }
    }

    /// Enables or disables the end from server `from` to server `to`.
    fn enable(&self, from: usize, to: usize, enabled: bool) {
        match &self.backend {
            Backend::Real(c) => c.enable(from, to, enabled),
            Backend::Sim(c) => c.with(|w| w.enable(from, to, enabled)),
        }
    }

    /// config.go `connect(i, to)`: enables `i`'s ends to the servers in `to` and theirs to `i`.
    pub fn connect(&self, i: usize, to: &[usize]) {
        for &j in to {
            self.enable(i, j, true);
        }
        for &j in to {
            self.enable(j, i, true);
        }
    }

    /// config.go `disconnect(i, from)`: disables `i`'s ends to the servers in `from` and
    /// theirs to `i`.
    pub fn disconnect(&self, i: usize, from: &[usize]) {
        for &j in from {
            self.enable(i, j, false);
        }
        for &j in from {
            self.enable(j, i, false);
        }
    }

    /// config.go `ConnectAll`.
    pub fn connect_all(&self) {
        self.note(|| "connect all".to_owned());
        let all = self.all();
        for i in 0..self.n {
            self.connect(i, &all);
        }
    }

    /// config.go `partition(p1, p2)`: servers talk only within their side. Clerks' ends are
    /// left as they are.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.note(|| format!("partition {p1:?} {p2:?}"));
        for &i in p1 {
            self.disconnect(i, p2);
            self.connect(i, p1);
        }
        for &i in p2 {
            self.disconnect(i, p1);
            self.connect(i, p2);
        }
    }

    /// `rf.GetState()` of server `i` (term 0, not leader, if it is down).
    #[must_use]
    pub fn get_state(&self, i: usize) -> (Term, bool) {
        let state = match &self.backend {
            Backend::Real(c) => c.get_state(i),
            Backend::Sim(c) => c.get_state(i),
        };
        state.unwrap_or((Term(0), false))
    }

    /// config.go `Leader`: the first server that believes it leads.
    #[must_use]
    pub fn leader(&self) -> Option<usize> {
        (0..self.n).find(|&i| self.get_state(i).1)
    }

    /// config.go `make_partition`: a majority of `n/2 + 1` servers without the leader, and the
    /// rest with the leader last (server 0 plays the leader if there is none).
    #[must_use]
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let l = self.leader().unwrap_or(0);
        let others: Vec<usize> = (0..self.n).filter(|&i| i != l).collect();
        let (p1, rest) = others.split_at(self.n / 2 + 1);
        let mut p2 = rest.to_vec();
        p2.push(l);
        (p1.to_vec(), p2)
    }

    /// config.go `StartServer(i)`: a new instance of server `i` from a copy of its saved
    /// persister, with fresh ends, not connected (callers follow with `connect_all`).
    pub fn start_server(&self, i: usize) {
        let persister = {
            let mut saved = lock(&self.saved);
            saved[i] = saved[i].copy();
            saved[i].clone()
        };
        let seed = self.rand_int();
        self.note(|| format!("start server {i}"));
        match &self.backend {
            Backend::Real(c) => c.start_server(i, seed, persister),
            Backend::Sim(c) => c.make_peer(i, seed, persister),
        }
    }

    /// config.go `ShutdownServer(i)`: cut `i` off, delete its server (calls in flight to it
    /// fail), switch its persister to a copy so the old instance cannot change what the next
    /// one starts from, and kill it.
    pub fn shutdown_server(&self, i: usize) {
        self.note(|| format!("shutdown server {i}"));
        self.disconnect(i, &self.all());
        match &self.backend {
            Backend::Real(c) => c.delete_server(i),
            Backend::Sim(_) => {}
        }
        {
            let mut saved = lock(&self.saved);
            saved[i] = saved[i].copy();
        }
        match &self.backend {
            Backend::Real(c) => c.kill(i),
            Backend::Sim(c) => c.with(|w| w.kill(i)),
        }
    }

    /// config.go `makeClient(to)`: a clerk with its own ends to every server, in a shuffled
    /// order (its positions are not server numbers), enabled only to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> Clerk<'_> {
        let number = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<usize> = (0..self.n).collect();
        order.shuffle(&mut *lock(&self.rng));
        let (ends, transport) = match &self.backend {
            Backend::Real(c) => {
                let (names, ends) = c.make_clerk_ends(number);
                let shuffled = order.iter().map(|&j| ends[j].clone()).collect();
                let ends = LabrpcClerkTransport::new(shuffled);
                (
                    ClerkEnds::Real(names),
                    Transport::Real {
                        ends,
                        finished: &self.finished,
                    },
                )
            }
            Backend::Sim(c) => {
                let caller = c.with(|w| w.add_caller());
                (
                    ClerkEnds::Sim(caller),
                    Transport::Sim {
                        cluster: c,
                        caller,
                        order,
                    },
                )
            }
        };
        lock(&self.clerks).insert(number, ends);
        self.connect_client_ends(number, to, true);
        let clerk = raft_kv::Clerk::new(ClientId(number), self.n, transport).expect("a cluster has servers");
        Clerk { number, clerk }
    }

    fn connect_client_ends(&self, number: u64, servers: &[usize], enabled: bool) {
        let Some(ends) = lock(&self.clerks).get(&number).cloned() else {
            return;
        };
        for &j in servers {
            match (&self.backend, &ends) {
                (Backend::Real(c), ClerkEnds::Real(names)) => c.enable_end(&names[j], enabled),
                (Backend::Sim(c), ClerkEnds::Sim(caller)) => c.with(|w| w.enable(*caller, j, enabled)),
                _ => unreachable!("a clerk's ends are of its cluster"),
            }
        }
    }

    /// config.go `ConnectClient(ck, to)`: enables the clerk's ends to the servers in `to`.
    pub fn connect_client(&self, ck: ClerkId, to: &[usize]) {
        self.connect_client_ends(ck.0, to, true);
    }

    /// config.go `DisconnectClient(ck, from)`: disables the clerk's ends to `from`.
    pub fn disconnect_client(&self, ck: ClerkId, from: &[usize]) {
        self.connect_client_ends(ck.0, from, false);
    }

    /// config.go `deleteClient`: forgets the clerk (its ends stay in the network).
    pub fn delete_client(&self, ck: Clerk<'_>) {
        lock(&self.clerks).remove(&ck.number);
    }

    /// config.go `LogSize`: the largest persisted Raft state of any server, in bytes.
    #[must_use]
    pub fn log_size(&self) -> u64 {
        lock(&self.saved)
            .iter()
            .map(Storage::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// config.go `SnapshotSize`: the largest persisted snapshot of any server, in bytes.
    #[must_use]
    pub fn snapshot_size(&self) -> u64 {
        lock(&self.saved)
            .iter()
            .map(Storage::snapshot_size)
            .max()
            .unwrap_or(0)
    }

    /// Turns the unreliable network on or off.
    pub fn set_unreliable(&self, unreliable: bool) {
        self.note(|| format!("unreliable {unreliable}"));
        match &self.backend {
            Backend::Real(c) => c.set_reliable(!unreliable),
            Backend::Sim(c) => c.with(|w| w.set_reliable(!unreliable)),
        }
    }

    fn rpc_total(&self) -> u64 {
        match &self.backend {
            Backend::Real(c) => c.rpc_total(),
            Backend::Sim(c) => c.with(|w| w.rpc_total()),
        }
    }

    /// config.go `op`: counts one clerk operation for the pass line.
    pub fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes the speed tests' time per operation in the report.
    pub(crate) fn record_speed(&self, per_op: Duration) {
        self.t.update(|r| r.speed_per_op = Some(per_op));
    }

    /// Notes the linearizability check's size and time in the report.
    pub(crate) fn record_check(&self, operations: usize, elapsed: Duration) {
        self.t.update(|r| r.linearizability = Some((operations, elapsed)));
    }

    /// begin: prints the test's description and marks where its counts start.
    pub fn begin(&self, description: &str) {
        if !self.t.is_quiet() {
            println!("{description} ...");
        }
        self.note(|| format!("begin {description}"));
        *lock(&self.marks) = (self.now(), self.rpc_total());
        self.ops.store(0, Ordering::Relaxed);
    }

    /// end: checks the time limit and prints the pass line: seconds (virtual seconds on the
    /// simulated cluster), servers, RPCs (the clerks' included) and clerk operations since
    /// begin.
    pub fn end(&self) {
        self.check_timeout();
        let (t0, rpcs0) = *lock(&self.marks);
        let figures = Figures {
            seconds: (self.now() - t0).as_secs_f64(),
            peers: self.n,
            rpcs: self.rpc_total() - rpcs0,
            bytes: 0,
            commands: 0,
            ops: self.ops.load(Ordering::Relaxed),
        };
        if !self.t.is_quiet() {
            println!(
                "  ... Passed --  {:4.1}  {} {:5} {:4}",
                figures.seconds, figures.peers, figures.rpcs, figures.ops
            );
        }
        self.t.update(|r| r.figures = Some(figures));
    }

    fn check_timeout(&self) {
        assert!(self.now() <= TEST_TIME_MAX, "test took longer than 120 seconds");
    }

    /// Kills every server and stops the network; leaves the trace in the report.
    fn cleanup_quietly(&self) {
        self.finished.store(true, Ordering::Release);
        match &self.backend {
            Backend::Real(c) => c.cleanup(),
            Backend::Sim(c) => c.finish(&self.t),
        }
    }
}

impl Drop for KvConfig {
    /// Stops the cluster. A test that failed on the real cluster prints its seed.
    fn drop(&mut self) {
        self.cleanup_quietly();
        if std::thread::panicking() && self.t.clock() == Clock::Real {
            eprintln!(
                "test failed with seed {seed}: replay its random choices with RAFT_TEST_SEED={seed}",
                seed = self.t.seed()
            );
        }
    }
}

/// A clerk's transport in the harness: labrpc ends on the real cluster, the simulated
/// network's calls (on virtual time) on the simulated one.
enum Transport<'a> {
    /// labrpc ends; `finished` is set once the test failed or ended, and stops the clerk
    /// (it would otherwise retry forever against a cluster that is gone).
    Real {
        ends: LabrpcClerkTransport,
        finished: &'a AtomicBool,
    },
    Sim {
        cluster: &'a SimCluster,
        caller: usize,
        /// The server at each of the clerk's positions.
        order: Vec<usize>,
    },
}

impl ClerkTransport<KvOp, String> for Transport<'_> {
    fn call(&mut self, server: usize, request: &Command<KvOp>) -> Result<Response<String>, CallFailed> {
        match self {
            Transport::Real { ends, finished } => {
                stop_if_finished(finished);
                ends.call(server, request)
            }
            Transport::Sim {
                cluster,
                caller,
                order,
            } => cluster.kv_call(*caller, order[server], request),
        }
    }

    fn sleep(&mut self, pause: Duration) {
        match self {
            Transport::Real { finished, .. } => {
                stop_if_finished(finished);
                std::thread::sleep(pause);
            }
            Transport::Sim { cluster, .. } => cluster.sleep(pause),
        }
    }
}

/// Unwinds a real-time clerk's thread once its test is over (as a simulated task is
/// stopped): its scope is waiting for it.
fn stop_if_finished(finished: &AtomicBool) {
    if finished.load(Ordering::Acquire) {
        std::panic::resume_unwind(Box::new(raft_sim::tasks::Aborted));
    }
}

/// Names a clerk to the harness (Go's `*Clerk` in `ConnectClient`), also while a client
/// task holds the clerk itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClerkId(u64);

/// A clerk of the test: raft-kv's [`raft_kv::Clerk`] over the cluster's network.
pub struct Clerk<'a> {
    number: u64,
    clerk: raft_kv::Clerk<Transport<'a>>,
}

impl Clerk<'_> {
    /// The clerk's name for [`KvConfig::connect_client`] and [`KvConfig::disconnect_client`].
    #[must_use]
    pub fn id(&self) -> ClerkId {
        ClerkId(self.number)
    }

    /// `ck.Get(key)`: the value ("" if missing); retries until some leader answers.
    pub fn get(&mut self, key: &str) -> String {
        self.clerk.get(key)
    }

    /// `ck.Put(key, value)`.
    pub fn put(&mut self, key: &str, value: &str) {
        self.clerk.put(key, value);
    }

    /// `ck.Append(key, value)`.
    pub fn append(&mut self, key: &str, value: &str) {
        self.clerk.append(key, value);
    }
}
