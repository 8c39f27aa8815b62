//! config.go in Rust: the cluster under test and the checks the 6.824 tests make of it,
//! written once over either cluster.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use raft_core::Term;
use raft_storage::{MemoryPersister, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::applier::{Applier, show};
use crate::real::{HUNG_AFTER, RealCluster, Watchdog};
use crate::sim::{self, SimCluster};

/// test_test.go: "The tester generously allows solutions to complete elections in one second
/// (much more than the paper's range of timeouts)."
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// config.go's limit on one test: 120 seconds.
pub(crate) const TEST_TIME_MAX: Duration = Duration::from_secs(120);

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

/// Which cluster a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// raft-node peers over raft-labrpc, on the wall clock.
    Real,
    /// raft-core peers on the simulator's virtual clock and network.
    Virtual,
}

/// What a finished (or failed) scenario leaves for its runner.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The pass line's figures, once `end` ran: seconds, peers, RPCs, bytes, commands.
    pub figures: Option<Figures>,
    /// Virtual time only: the hash of every event of the run (same seed, same hash).
    pub trace_hash: u64,
    /// Virtual time only: the last events, readable, for a failure report.
    pub trace_tail: Vec<String>,
    /// Virtual time only: how many events the simulated cluster ran.
    pub events: u64,
    /// The first failure of a client task (the scenario's own failure is its panic).
    pub task_failure: Option<String>,
    /// Lab 3: the linearizability check of the history, once it ran: operations checked and
    /// how long the check took.
    pub linearizability: Option<(usize, Duration)>,
    /// Lab 3's speed tests: the average time of one operation.
    pub speed_per_op: Option<Duration>,
}

/// The figures of a pass line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Seconds from `begin` to `end` (virtual seconds on the simulated cluster).
    pub seconds: f64,
    /// Peers.
    pub peers: usize,
    /// RPCs sent.
    pub rpcs: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Commands committed (Lab 2).
    pub commands: u64,
    /// Clerk operations (Lab 3's fourth number).
    pub ops: u64,
}

/// Go's `t *testing.T`: where a scenario runs, its seed, and where its report goes.
#[derive(Clone, Debug)]
pub struct Tester {
    clock: Clock,
    seed: u64,
    quiet: bool,
    /// Real time: when the watchdog declares the test hung (Go: `go test`'s own timeout).
    hung_after: Duration,
    report: Arc<Mutex<Report>>,
}

impl Tester {
    /// A run on the real cluster, seeded from `RAFT_TEST_SEED` or the clock.
    #[must_use]
    pub fn real() -> Tester {
        let seed = std::env::var("RAFT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
        Tester::new(Clock::Real, seed)
    }

    /// A run on the simulated cluster from `seed`.
    #[must_use]
    pub fn simulated(seed: u64) -> Tester {
        Tester::new(Clock::Virtual, seed)
    }

    fn new(clock: Clock, seed: u64) -> Tester {
        Tester {
            clock,
            seed,
            quiet: false,
            hung_after: HUNG_AFTER,
            report: Arc::default(),
        }
    }

    /// Tests of the watchdog: declare the test hung after `hung_after` instead.
    #[cfg(test)]
    pub(crate) fn hung_after(mut self, hung_after: Duration) -> Tester {
        self.hung_after = hung_after;
        self
    }

    /// Prints nothing (no description, no pass line): for runs of many seeds.
    #[must_use]
    pub fn quiet(mut self) -> Tester {
        self.quiet = true;
        self
    }

    /// The cluster this run uses.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The seed of every random choice of the run.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What the scenario left: its figures and, on virtual time, its trace.
    #[must_use]
    pub fn report(&self) -> Report {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True if the run prints nothing.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Real time: when the watchdog declares the test hung.
    pub(crate) fn hung_after_limit(&self) -> Duration {
        self.hung_after
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Report)) {
        f(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The cluster under the harness.
enum Backend {
    Real(RealCluster),
    Sim(Box<SimCluster>),
}

/// The test harness: config.go's `config`. The scenario cannot tell which cluster is under it.
pub struct Config {
    t: Tester,
    n: usize,
    backend: Backend,
    applier: Arc<Applier>,
    connected: Mutex<Vec<bool>>,
    saved: Mutex<Vec<MemoryPersister>>,
    rng: Mutex<StdRng>,
    finished: AtomicBool,
    /// begin()'s marks: time, RPC total, bytes total, max applied index.
    marks: Mutex<(Duration, u64, u64, u64)>,
}

impl Config {
    /// `make_config(t, n, unreliable, false)`: `n` peers, connected, long delays on.
    #[must_use]
    pub fn new(t: &Tester, n: usize, unreliable: bool) -> Config {
        Config::make(t, n, unreliable, false)
    }

    /// `make_config(t, n, unreliable, true)`: as [`Config::new`], with the 2D applier, which
    /// snapshots every ten commands and checks that commands follow snapshots exactly.
    #[must_use]
    pub fn with_snapshots(t: &Tester, n: usize, unreliable: bool) -> Config {
        Config::make(t, n, unreliable, true)
    }

    fn make(t: &Tester, n: usize, unreliable: bool, snapshot: bool) -> Config {
        init_tracing();
        let applier = Arc::new(Applier::new(n, snapshot));
        let backend = match t.clock {
            Clock::Real => {
                let watchdog = Watchdog::start(t.seed, t.hung_after, Some(Arc::clone(&applier)));
                Backend::Real(RealCluster::new(n, t.seed, Arc::clone(&applier), watchdog))
            }
            Clock::Virtual => Backend::Sim(Box::new(SimCluster::new(n, t.seed, Arc::clone(&applier)))),
        };
        let cfg = Config {
            t: t.clone(),
            n,
            backend,
            applier,
            connected: Mutex::new(vec![false; n]),
            saved: Mutex::new((0..n).map(|_| MemoryPersister::new()).collect()),
            rng: Mutex::new(StdRng::seed_from_u64(t.seed)),
            finished: AtomicBool::new(false),
            marks: Mutex::new((Duration::ZERO, 0, 0, 0)),
        };
        cfg.set_unreliable(unreliable);
        cfg.set_long_delays(true);
        for i in 0..n {
            cfg.start1(i);
        }
        for i in 0..n {
            cfg.connect(i);
        }
        cfg
    }

    /// Tests: the appliers of this cluster.
    #[cfg(test)]
    pub(crate) fn applier(&self) -> &Applier {
        &self.applier
    }

    /// Tests: the real cluster under the harness, if it is one.
    #[cfg(test)]
    pub(crate) fn real_cluster(&self) -> Option<&RealCluster> {
        match &self.backend {
            Backend::Real(c) => Some(c),
            Backend::Sim(_) => None,
        }
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of peers.
    #[must_use]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Time since the cluster was made: wall time, or virtual time on the simulated cluster.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.now(),
            Backend::Sim(c) => c.now(),
        }
    }

    /// Sleeps; every wait in a scenario goes through here. On the simulated cluster the peers
    /// and the other tasks run meanwhile, on virtual time.
    /// An apply error ends the sleep at once and fails the test with its message.
    pub fn sleep(&self, duration: Duration) {
        self.check_apply();
        match &self.backend {
            Backend::Real(_) => {
                if let Some(err) = self.applier.sleep(duration) {
                    panic!("{err}");
                }
            }
            // The world stops at the event whose apply failed; the sleep panics with it.
            Backend::Sim(c) => c.sleep(duration),
        }
    }

    /// Go's `log.Fatalf` in the applier: once any applier has failed, every harness call
    /// fails the test with its message (on the real cluster the applier is another thread).
    fn check_apply(&self) {
        if let Some(err) = self.applier.error() {
            panic!("{err}");
        }
    }

    /// Runs `f`, whose clients run beside the scenario (Go's goroutines), and waits for every
    /// client it started. On the simulated cluster the clients are tasks scheduled from the
    /// seed (see [`crate::sim`]); on the real one, threads.
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

    /// True if peer `i` is running (not crashed).
    #[must_use]
    pub fn running(&self, i: usize) -> bool {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.running(i),
            Backend::Sim(c) => c.running(i),
        }
    }

    /// `cfg.rafts[i].Start(command)`: the index and term if peer `i` is running and accepted
    /// the command as leader, `None` otherwise (Go's `ok == false`).
    pub fn start(&self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.start(i, command),
            Backend::Sim(c) => c.with(|w| w.start(i, command)),
        }
    }

    /// `cfg.rafts[i].GetState()`: term and leadership of peer `i` (term 0 if it is down).
    #[must_use]
    pub fn get_state(&self, i: usize) -> (Term, bool) {
        self.state_of(i).unwrap_or((Term(0), false))
    }

    fn state_of(&self, i: usize) -> Option<(Term, bool)> {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.get_state(i),
            Backend::Sim(c) => c.get_state(i),
        }
    }

    /// A random integer from the test's seeded RNG (Go's `rand.Int()`, non-negative).
    pub fn rand_int(&self) -> u64 {
        Self::lock(&self.rng).random_range(0..i64::MAX as u64)
    }

    /// A random string of `n` letters and digits from the test's RNG (config.go `randstring`).
    pub fn rand_string(&self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = Self::lock(&self.rng);
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// crash1: shut down peer `i` but save its persistent state. Its persister is replaced by
    /// a copy first, so nothing the old instance might still write reaches the new one.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        {
            let mut saved = Self::lock(&self.saved);
            saved[i] = saved[i].copy();
        }
        match &self.backend {
            Backend::Real(c) => c.kill(i),
            Backend::Sim(c) => c.with(|w| w.kill(i)),
        }
        let mut saved = Self::lock(&self.saved);
        saved[i] = saved[i].copy();
    }

    /// start1: start or restart peer `i` (killing any running instance first) from its saved
    /// state, its service from its saved snapshot. It is not connected: call `connect` after.
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        let persister = {
            let mut saved = Self::lock(&self.saved);
            saved[i] = saved[i].copy();
            saved[i].clone()
        };
        // "mimic KV server and process snapshot now": the service starts from the snapshot.
        let snapshot = persister.load().expect("a MemoryPersister always loads").snapshot;
        self.applier.restart(i, snapshot.as_ref().map(|s| &s.data[..]));
        let seed = self.rand_int();
        match &self.backend {
            Backend::Real(c) => c.make_peer(i, seed, persister),
            Backend::Sim(c) => c.make_peer(i, seed, persister),
        }
    }

    /// LogSize: the largest persisted Raft state (term, vote, log) of any server, in bytes.
    #[must_use]
    pub fn log_size(&self) -> u64 {
        self.check_apply();
        Self::lock(&self.saved)
            .iter()
            .map(Storage::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    fn enable(&self, from: usize, to: usize, enabled: bool) {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.enable(from, to, enabled),
            Backend::Sim(c) => c.with(|w| w.enable(from, to, enabled)),
        }
    }

    fn note(&self, what: impl FnOnce() -> String) {
        if let Backend::Sim(c) = &self.backend {
            c.with(|w| w.note(what()));
        }
    }

    /// Attaches peer `i` to the network: its outgoing ends and every connected peer's end to it.
    pub fn connect(&self, i: usize) {
        self.note(|| format!("connect n{i}"));
        let mut connected = Self::lock(&self.connected);
        connected[i] = true;
        for j in 0..self.n {
            if connected[j] {
                self.enable(i, j, true);
                self.enable(j, i, true);
            }
        }
    }

    /// Detaches peer `i`: its outgoing ends and every end to it.
    pub fn disconnect(&self, i: usize) {
        self.note(|| format!("disconnect n{i}"));
        Self::lock(&self.connected)[i] = false;
        for j in 0..self.n {
            self.enable(i, j, false);
            self.enable(j, i, false);
        }
    }

    /// True if peer `i` is connected.
    #[must_use]
    pub fn connected(&self, i: usize) -> bool {
        Self::lock(&self.connected)[i]
    }

    /// RPCs delivered to peer `i` since it was last started.
    #[must_use]
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.rpc_count(i),
            Backend::Sim(c) => c.with(|w| w.rpc_count(i)),
        }
    }

    /// Every RPC sent so far.
    #[must_use]
    pub fn rpc_total(&self) -> u64 {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.rpc_total(),
            Backend::Sim(c) => c.with(|w| w.rpc_total()),
        }
    }

    /// Every byte sent so far.
    #[must_use]
    pub fn bytes_total(&self) -> u64 {
        self.check_apply();
        match &self.backend {
            Backend::Real(c) => c.bytes_total(),
            Backend::Sim(c) => c.with(|w| w.bytes_total()),
        }
    }

    /// Turns the unreliable network on or off.
    pub fn set_unreliable(&self, unreliable: bool) {
        self.note(|| format!("unreliable {unreliable}"));
        match &self.backend {
            Backend::Real(c) => c.set_reliable(!unreliable),
            Backend::Sim(c) => c.with(|w| w.set_reliable(!unreliable)),
        }
    }

    /// Turns long reordering of replies on or off.
    pub fn set_long_reordering(&self, on: bool) {
        self.note(|| format!("long reordering {on}"));
        match &self.backend {
            Backend::Real(c) => c.set_long_reordering(on),
            Backend::Sim(c) => c.with(|w| w.set_long_reordering(on)),
        }
    }

    /// Makes calls through dead ends fail after up to 7 s (on) or 100 ms (off).
    pub fn set_long_delays(&self, on: bool) {
        match &self.backend {
            Backend::Real(c) => c.set_long_delays(on),
            Backend::Sim(c) => c.with(|w| w.set_long_delays(on)),
        }
    }

    /// The running, connected peers and their state.
    fn states(&self) -> Vec<(usize, Term, bool)> {
        let connected = Self::lock(&self.connected).clone();
        (0..self.n)
            .filter(|i| connected[*i])
            .filter_map(|i| self.state_of(i).map(|(term, leader)| (i, term, leader)))
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
            let mut leaders: BTreeMap<Term, Vec<usize>> = BTreeMap::new();
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
        self.check_apply();
        let a = self.applier.lock();
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
                let moved_on = (0..self.n).any(|i| self.state_of(i).is_some_and(|(t, _)| t > start_term));
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
        let t0 = self.now();
        let mut starts = 0;
        while self.now() - t0 < Duration::from_secs(10) && !self.finished.load(Ordering::Acquire) {
            let mut index = None;
            for _ in 0..self.n {
                starts = (starts + 1) % self.n;
                if self.connected(starts)
                    && let Some((i, _)) = self.start(starts, command)
                {
                    index = Some(i);
                    break;
                }
            }
            if let Some(index) = index {
                let t1 = self.now();
                while self.now() - t1 < Duration::from_secs(2) {
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
        if !self.t.quiet {
            println!("{description} ...");
        }
        self.note(|| format!("begin {description}"));
        let max_index = self.applier.lock().max_index;
        *Self::lock(&self.marks) = (self.now(), self.rpc_total(), self.bytes_total(), max_index);
    }

    /// end: checks the time limit and prints the pass line: seconds (virtual seconds on the
    /// simulated cluster), peers, RPCs, bytes, and commands committed since begin.
    pub fn end(&self) {
        self.check_apply();
        self.check_timeout();
        let (t0, rpcs0, bytes0, max_index0) = *Self::lock(&self.marks);
        let max_index = self.applier.lock().max_index;
        let figures = Figures {
            seconds: (self.now() - t0).as_secs_f64(),
            peers: self.n,
            rpcs: self.rpc_total() - rpcs0,
            bytes: self.bytes_total() - bytes0,
            commands: max_index - max_index0,
            ops: 0,
        };
        if !self.t.quiet {
            println!(
                "  ... Passed --  {:4.1}  {} {:4} {:7} {:4}",
                figures.seconds, figures.peers, figures.rpcs, figures.bytes, figures.commands
            );
        }
        self.t.update(|r| r.figures = Some(figures));
    }

    fn check_timeout(&self) {
        assert!(self.now() <= TEST_TIME_MAX, "test took longer than 120 seconds");
    }

    /// cleanup: kills every peer and stops the network.
    pub fn cleanup(&self) {
        self.cleanup_quietly();
        self.check_apply();
        self.check_timeout();
    }

    /// Kills every peer and stops the network, without the time check; leaves the trace in
    /// the report.
    fn cleanup_quietly(&self) {
        self.finished.store(true, Ordering::Release);
        match &self.backend {
            Backend::Real(c) => c.cleanup(),
            Backend::Sim(c) => c.finish(&self.t),
        }
    }
}

impl Drop for Config {
    /// Stops the cluster. A test that failed on the real cluster prints its seed; one whose
    /// applier failed after its last harness call fails now (Go's fatal would have ended it).
    fn drop(&mut self) {
        self.cleanup_quietly();
        let panicking = std::thread::panicking();
        let late = if panicking { None } else { self.applier.error() };
        if (panicking || late.is_some()) && self.t.clock == Clock::Real {
            eprintln!(
                "test failed with seed {seed}: replay its random choices with RAFT_TEST_SEED={seed}",
                seed = self.t.seed
            );
        }
        if let Some(err) = late {
            panic!("{err}");
        }
    }
}

/// A scope of clients that run beside the scenario; see [`Config::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    std: &'scope std::thread::Scope<'scope, 'env>,
    sim: Option<&'env SimCluster>,
}

/// Runs `f` with a [`Scope`] over `sim` (the simulated cluster's tasks) or plain threads, and
/// waits for every client it started; `failed` runs on the real cluster when `f` panicked
/// (so that loops of the harness stop early).
pub(crate) fn run_scope<'env, F, R>(sim: Option<&'env SimCluster>, failed: impl FnOnce(), f: F) -> R
where
    F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> R,
{
    std::thread::scope(|s| {
        let scope = Scope { std: s, sim };
        let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        if let Some(sim) = sim {
            sim.end_scope(result.as_ref().err().map(|p| &**p));
        } else if result.is_err() {
            failed();
        }
        result.unwrap_or_else(|payload| resume_unwind(payload))
    })
}

/// A client started in a [`Scope`].
pub struct Task<'scope, T> {
    handle: std::thread::ScopedJoinHandle<'scope, T>,
    sim: Option<(&'scope SimCluster, u64)>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Starts a client running `f` beside the scenario.
    pub fn spawn<F, T>(&self, f: F) -> Task<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        match self.sim {
            None => Task {
                handle: self.std.spawn(f),
                sim: None,
            },
            Some(sim) => {
                let (id, handle) = sim.spawn_task(self.std, f);
                Task {
                    handle,
                    sim: Some((sim, id)),
                }
            }
        }
    }
}

impl<T> Task<'_, T> {
    /// Waits for the client to finish; `Err` with its panic if it failed.
    ///
    /// # Errors
    /// The client's panic payload, if it panicked.
    pub fn join(self) -> std::thread::Result<T> {
        if let Some((sim, id)) = self.sim {
            sim.join_task(id);
        }
        self.handle.join()
    }
}

/// The text of a panic payload (a failed assertion's message).
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    sim::panic_message(payload)
}

/// True if a panic payload only says the scenario was stopped because another task failed.
#[must_use]
pub fn is_aborted(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<sim::Aborted>()
}

/// `RUST_LOG`-style tracing for tests, off unless asked for.
pub(crate) fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
