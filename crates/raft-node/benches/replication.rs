//! Log replication: how many commands a cluster commits per second, and how long one takes.
//!
//! Criterion benchmarks (group `replication`):
//!
//! - `core/{3,5}/{16B,1KiB}`: bare raft-core state machines in raft-sim's world (see [`BareWorld`]). A
//!   leader is elected first (not measured); each iteration then proposes [`CORE_BATCH`]
//!   commands on the leader and moves messages in memory (a `Ready::reply` goes back to the
//!   sender as a step) until none is left, by which time the leader has committed the whole
//!   batch. Reported in committed entries per second. Nothing is persisted or encoded: this is
//!   the state machine's own cost (allocation and copying of entries included).
//! - `labrpc/{3,5}/{1,8,64}-outstanding`: the real runtime (raft-node peers on `MemoryPersister`s
//!   over a reliable labrpc network). With 1 outstanding, the client proposes on the leader
//!   (`RaftNode::start`), waits until the leader's apply channel delivers that command, and
//!   repeats; with 64, it keeps 64 commands in flight, proposing one more each time one is
//!   applied. Reported in commands per second. 16-byte commands. The client is one thread, and
//!   `start` waits for the leader's event loop to answer, so with 64 outstanding the client's
//!   own `start` calls can be what limits the rate (the pass prints the time spent in them).
//!   Each benchmark has its own cluster (elected before measuring), replaced every
//!   [`LIVE_LOG_MAX`] commands.
//!
//! After criterion, a plain pass (`replication/labrpc/latency`, printed to stdout, not
//! criterion) runs [`PASS_COMMANDS`] commands per cluster size and window on a fresh cluster and
//! prints commands per second, the p50 and p99 commit latency (from just before `start` to the
//! leader's apply channel delivering the command), the time the client spends inside
//! `start`, and labrpc RPCs and bytes per committed command (`Network::total_count` and
//! `total_bytes` before and after: heartbeats and commit announcements included). It runs
//! unless criterion is listing, or is given a filter that is not a substring of
//! `replication/labrpc/latency`.
//!
//! Every run is seeded (elections, network); thread scheduling is not. Nothing here asserts a
//! timing: these are measurements. The one assertion is of correctness (the leader committed
//! what was proposed), so a broken replication path cannot pass for a fast one.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use raft_core::{Config, LogIndex, PeerId, Raft, RoleKind, Term};
use raft_labrpc::{Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_sim::durable::NoStore;
use raft_sim::net::Immediate;
use raft_sim::service::NoService;
use raft_sim::world::{World, WorldConfig};
use raft_storage::MemoryPersister;

/// The cluster sizes measured.
const SIZES: [usize; 2] = [3, 5];
/// Commands proposed per round (one criterion iteration) in the `core` benchmarks.
const CORE_BATCH: usize = 100;
/// Command sizes in the `core` benchmarks, with their labels.
const CORE_COMMANDS: [(&str, usize); 2] = [("16B", 16), ("1KiB", 1024)];
/// A `core` cluster is replaced by a freshly elected one (not measured) once its log holds this
/// many entries, so that a long run does not hold gigabytes of log.
const CORE_LOG_MAX: usize = 10_000;
/// A simulated election not settled after this many ticks is a bug in the setup.
const CORE_ELECTION_TICKS_MAX: usize = 10_000;
/// The command size in the `labrpc` benchmarks and the pass.
const LIVE_COMMAND_BYTES: usize = 16;
/// Commands kept in flight in the `labrpc` benchmarks and the pass.
const WINDOWS: [usize; 3] = [1, 8, 64];
/// A `labrpc` benchmark's cluster is replaced by a fresh one (not measured) once it has
/// committed this many commands, so that a long run does not hold hundreds of megabytes of log.
const LIVE_LOG_MAX: u64 = 50_000;
/// How often a live cluster is looked at while waiting for a leader.
const POLL: Duration = Duration::from_millis(1);
/// A live cluster with no agreed leader after this long is a failed setup.
const LEADER_WAIT_MAX: Duration = Duration::from_secs(10);
/// No command applied for this long: the leader is taken to have lost its leadership.
const STALL: Duration = Duration::from_secs(2);
/// Commands measured per cluster size and window in the pass.
const PASS_COMMANDS: u64 = 2_000;
/// Commands run (not measured) before them, so the pass starts on a warm cluster.
const PASS_WARM_UP: u64 = 200;
/// The same two counts in test mode (`cargo test --benches`), where only a smoke run is wanted.
const PASS_COMMANDS_TEST: u64 = 50;
/// See [`PASS_COMMANDS_TEST`].
const PASS_WARM_UP_TEST: u64 = 10;
/// The name the pass answers to, for criterion-style filters.
const PASS_ID: &str = "replication/labrpc/latency";

/// A seed per use: `stream` tells the uses apart, `n` the cluster sizes, `i` the trials.
fn seed(stream: u64, n: usize, i: u64) -> u64 {
    (stream << 48) ^ ((n as u64) << 40) ^ (i << 8)
}

// ---------------------------------------------------------------------------------------
// Bare raft-core state machines
// ---------------------------------------------------------------------------------------

/// `n` raft-core state machines in raft-sim's world, on its immediate network: messages are
/// delivered in order, at once. Persisting is skipped (the store keeps nothing), and so is
/// applying (the service drops the committed entries).
type BareWorld = World<Immediate, NoService, NoStore>;

/// Virtual length of a tick (only elections tick; the rounds run within one instant).
const CORE_TICK_US: u64 = 10_000;

/// A cluster with one leader, which keeps leading: nothing ticks after the election.
struct Elected {
    world: BareWorld,
    leader: usize,
}

impl Elected {
    /// An `n`-peer cluster (peer `i` seeded with `seed + i`, so that their timeouts differ),
    /// ticked and settled until exactly one peer leads and none campaigns.
    fn new(n: usize, seed: u64) -> Elected {
        let ids: Vec<PeerId> = (0..n).map(|i| PeerId(i as u32)).collect();
        let config = WorldConfig::new(n, seed, CORE_TICK_US).aligned();
        let mut world = World::new(
            config,
            Immediate::default(),
            NoService::default(),
            vec![NoStore; n],
        );
        for id in &ids {
            let config = Config::new(*id, ids.clone(), seed.wrapping_add(u64::from(id.0)));
            world
                .start(id.as_usize(), config)
                .expect("the default config is valid");
        }
        for _ in 0..CORE_ELECTION_TICKS_MAX {
            world.run_until(world.now_us() + CORE_TICK_US);
            let rafts = world.rafts().iter().flatten();
            let leaders: Vec<usize> = rafts
                .clone()
                .filter(|r| r.is_leader())
                .map(|r| r.id().as_usize())
                .collect();
            let campaigning = rafts.clone().any(|r| r.role() == RoleKind::Candidate);
            if leaders.len() == 1 && !campaigning {
                return Elected {
                    world,
                    leader: leaders[0],
                };
            }
        }
        panic!("no leader after {CORE_ELECTION_TICKS_MAX} ticks");
    }

    /// One measured round: propose `batch` copies of `command` on the leader, then deliver
    /// until every message is consumed (everything due at this instant; no tick is).
    ///
    /// # Panics
    /// If the leader has not committed the whole batch by then (a replication bug).
    fn round(&mut self, batch: usize, command: &[u8]) {
        let mut last = LogIndex::ZERO;
        for _ in 0..batch {
            let (index, _) = self
                .world
                .propose(self.leader, command.to_vec())
                .expect("nothing is persisted, so nothing fails")
                .expect("nothing ticks, so the leader keeps leading");
            last = index;
        }
        self.world.run_until(self.world.now_us());
        assert!(self.world.fault().is_none(), "{:?}", self.world.fault());
        assert_eq!(
            self.leader().commit_index(),
            last,
            "the leader commits the whole batch once every message is delivered"
        );
    }

    fn leader(&self) -> &Raft {
        self.world.rafts()[self.leader].as_ref().expect("nothing crashes")
    }

    /// Entries in the leader's log.
    fn log_len(&self) -> usize {
        self.leader().log().len()
    }
}

/// `replication/core/{3,5}/{16B,1KiB}`.
fn bench_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("replication");
    group.throughput(Throughput::Elements(CORE_BATCH as u64));
    for n in SIZES {
        for (label, bytes) in CORE_COMMANDS {
            let command = vec![0xA5_u8; bytes];
            group.bench_function(BenchmarkId::new(format!("core/{n}"), label), |b| {
                let mut trial = 0;
                let mut sim = Elected::new(n, seed(1, n, trial));
                b.iter_custom(|iters| {
                    let mut measured = Duration::ZERO;
                    let mut done = 0;
                    while done < iters {
                        if sim.log_len() + CORE_BATCH > CORE_LOG_MAX {
                            trial += 1;
                            sim = Elected::new(n, seed(1, n, trial));
                        }
                        let room = ((CORE_LOG_MAX - sim.log_len()) / CORE_BATCH) as u64;
                        let rounds = room.min(iters - done);
                        let start = Instant::now();
                        for _ in 0..rounds {
                            sim.round(CORE_BATCH, &command);
                        }
                        measured += start.elapsed();
                        done += rounds;
                    }
                    measured
                });
            });
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// The live runtime over labrpc
// ---------------------------------------------------------------------------------------

/// `n` raft-node peers on `MemoryPersister`s over one reliable labrpc network.
struct Live {
    net: Network,
    nodes: Vec<RaftNode>,
    /// Each peer's apply channel. Only the leader's is read while measuring; the others are
    /// emptied after each run.
    applied: Vec<flume::Receiver<ApplyMsg>>,
    /// The peer the client proposes to.
    leader: usize,
    /// Times the leader was found to have changed during a run (0 on a healthy run).
    leader_changes: u32,
    /// Commands committed by runs so far.
    committed: u64,
}

/// What one run of commands measured.
#[derive(Default)]
struct RunStats {
    /// From the first proposal to the last command applied on the leader.
    elapsed: Duration,
    /// Per command, from just before `start` to its delivery on the leader's apply channel.
    latencies: Vec<Duration>,
    /// Time the client spent inside `RaftNode::start`.
    in_start: Duration,
}

impl Live {
    /// Wires an `n`-peer cluster (every end enabled), starts every peer and waits until one
    /// leads.
    fn start(n: usize, seed: u64) -> Live {
        let net = Network::with_seed(seed);
        let mut nodes = Vec::with_capacity(n);
        let mut applied = Vec::with_capacity(n);
        for i in 0..n {
            let ends = (0..n)
                .map(|j| {
                    let name = format!("{i}->{j}");
                    let end = net.make_end(name.clone()).expect("end names are unique");
                    net.connect(&name, &j.to_string());
                    net.enable(&name, true);
                    end
                })
                .collect();
            let (apply_tx, apply_rx) = flume::unbounded();
            let options = NodeOptions {
                seed: Some(seed),
                ..NodeOptions::default()
            };
            let node = make(ends, i, MemoryPersister::new(), apply_tx, options)
                .expect("fresh peers with the default options start");
            let mut server = Server::new();
            server.add_service(node.service());
            net.add_server(i.to_string(), server);
            nodes.push(node);
            applied.push(apply_rx);
        }
        let mut live = Live {
            net,
            nodes,
            applied,
            leader: 0,
            leader_changes: 0,
            committed: 0,
        };
        live.leader = live.wait_for_leader(Term::ZERO);
        live
    }

    /// Polls until exactly one peer leads, in a term above `above`, and every peer is in its
    /// term; returns that peer.
    fn wait_for_leader(&self, above: Term) -> usize {
        let deadline = Instant::now() + LEADER_WAIT_MAX;
        while Instant::now() < deadline {
            let states: Vec<(Term, bool)> = self.nodes.iter().map(RaftNode::get_state).collect();
            let leaders: Vec<usize> = (0..states.len()).filter(|i| states[*i].1).collect();
            if let [leader] = leaders[..] {
                let term = states[leader].0;
                if term > above && states.iter().all(|(t, _)| *t == term) {
                    return leader;
                }
            }
            std::thread::sleep(POLL);
        }
        panic!("no agreed leader within {LEADER_WAIT_MAX:?}");
    }

    /// The leader is gone (a proposal refused, or nothing applied for [`STALL`]): find the
    /// new one. The commands in flight are dropped; they are proposed again.
    fn replace_leader(&mut self, outstanding: &mut VecDeque<(LogIndex, Instant)>, proposed: &mut u64) {
        let (term, _) = self.nodes[self.leader].get_state();
        eprintln!(
            "replication: peer {} no longer leads (term {term}); waiting for a new leader",
            self.leader
        );
        self.leader = self.wait_for_leader(term);
        self.leader_changes += 1;
        *proposed -= outstanding.len() as u64;
        outstanding.clear();
    }

    /// Commits `commands` commands of `command`, keeping `window` in flight: proposes until
    /// `window` are outstanding, then waits for the leader to apply one, and so on.
    fn run(&mut self, commands: u64, window: usize, command: &[u8]) -> RunStats {
        let mut stats = RunStats {
            latencies: Vec::with_capacity(usize::try_from(commands).unwrap_or(0)),
            ..RunStats::default()
        };
        let mut outstanding: VecDeque<(LogIndex, Instant)> = VecDeque::with_capacity(window);
        let mut proposed = 0;
        let mut committed = 0;
        let start = Instant::now();
        while committed < commands {
            while outstanding.len() < window && proposed < commands {
                let asked = Instant::now();
                let answer = self.nodes[self.leader].start(command.to_vec());
                stats.in_start += asked.elapsed();
                match answer {
                    Ok((index, _)) => {
                        outstanding.push_back((index, asked));
                        proposed += 1;
                    }
                    Err(_) => self.replace_leader(&mut outstanding, &mut proposed),
                }
            }
            match self.applied[self.leader].recv_timeout(STALL) {
                Ok(ApplyMsg::Command { index, .. } | ApplyMsg::Snapshot { index, .. }) => {
                    let now = Instant::now();
                    // Applies arrive in index order; one below the oldest outstanding command
                    // was committed before this run (or by an earlier leader).
                    while let Some(&(oldest, asked)) = outstanding.front() {
                        if oldest > index {
                            break;
                        }
                        outstanding.pop_front();
                        if oldest == index {
                            stats.latencies.push(now - asked);
                            committed += 1;
                        } else {
                            proposed -= 1; // skipped over: lost with a leader, proposed again
                        }
                    }
                }
                Ok(ApplyMsg::Read { .. }) => unreachable!("the bench asks for no read"),
                Err(_) => self.replace_leader(&mut outstanding, &mut proposed),
            }
        }
        stats.elapsed = start.elapsed();
        self.committed += committed;
        for (i, rx) in self.applied.iter().enumerate() {
            if i != self.leader {
                rx.drain();
            }
        }
        stats
    }

    /// Kills every peer and shuts the network down.
    fn stop(self) {
        for node in &self.nodes {
            node.kill();
        }
        self.net.cleanup();
    }
}

/// `replication/labrpc/{3,5}/{1,8,64}-outstanding`.
fn bench_labrpc(c: &mut Criterion) {
    let command = vec![0x5A_u8; LIVE_COMMAND_BYTES];
    let mut group = c.benchmark_group("replication");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        for window in WINDOWS {
            // Criterion calls the closure once per sample: the cluster outlives the calls.
            let mut live: Option<Live> = None;
            let mut clusters = 0;
            let mut leader_changes = 0;
            let id = BenchmarkId::new(format!("labrpc/{n}"), format!("{window}-outstanding"));
            group.bench_function(id, |b| {
                if let Some(full) = live.take_if(|l| l.committed >= LIVE_LOG_MAX) {
                    leader_changes += full.leader_changes;
                    full.stop();
                }
                let live = live.get_or_insert_with(|| {
                    clusters += 1;
                    Live::start(n, seed(2, n, clusters))
                });
                b.iter_custom(|iters| live.run(iters, window, &command).elapsed);
            });
            if let Some(live) = live {
                leader_changes += live.leader_changes;
                live.stop();
            }
            if leader_changes > 0 {
                eprintln!("replication/labrpc/{n}/{window}: the leader changed {leader_changes} time(s)");
            }
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// The latency and traffic pass
// ---------------------------------------------------------------------------------------

/// The `q` quantile (0..=1) of sorted `values` (nearest rank); zero if there are none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    test_support::stats::nearest_rank(sorted, q).unwrap_or_default()
}

/// Runs `commands` commands per cluster size and window on a fresh cluster, after `warm_up`
/// unmeasured ones, and prints throughput, latency and traffic per command.
fn pass(commands: u64, warm_up: u64) {
    let command = vec![0x5A_u8; LIVE_COMMAND_BYTES];
    println!();
    println!(
        "{PASS_ID}: {commands} commands per row ({LIVE_COMMAND_BYTES}-byte), after {warm_up} unmeasured; \
         reliable labrpc, MemoryPersister, leader-applied"
    );
    println!(
        "{:>5} {:>11} {:>10} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10} {:>7}",
        "peers",
        "outstanding",
        "commands/s",
        "p50 us",
        "p99 us",
        "max us",
        "start us",
        "RPCs/cmd",
        "bytes/cmd",
        "leader"
    );
    for n in SIZES {
        for window in WINDOWS {
            let mut live = Live::start(n, seed(3, n, window as u64));
            live.run(warm_up, window, &command);
            let (rpcs, bytes) = (live.net.total_count(), live.net.total_bytes());
            let mut stats = live.run(commands, window, &command);
            let rpcs = live.net.total_count() - rpcs;
            let bytes = live.net.total_bytes() - bytes;
            stats.latencies.sort_unstable();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "{:>5} {:>11} {:>10.0} {:>8.0} {:>8.0} {:>8.0} {:>9.1} {:>10.2} {:>10.1} {:>7}",
                n,
                window,
                commands as f64 / stats.elapsed.as_secs_f64(),
                us(quantile(&stats.latencies, 0.50)),
                us(quantile(&stats.latencies, 0.99)),
                us(stats.latencies.last().copied().unwrap_or_default()),
                us(stats.in_start) / commands as f64,
                rpcs as f64 / commands as f64,
                bytes as f64 / commands as f64,
                if live.leader_changes == 0 {
                    "stable".to_string()
                } else {
                    format!("{} chg", live.leader_changes)
                },
            );
            live.stop();
        }
    }
}

/// What the pass should do, from the binary's arguments: `None` to skip it, else how many
/// commands to measure and to warm up with.
fn pass_counts(args: &[String]) -> Option<(u64, u64)> {
    common::extra_pass(args, PASS_ID).map(|benchmarking| {
        if benchmarking {
            (PASS_COMMANDS, PASS_WARM_UP)
        } else {
            (PASS_COMMANDS_TEST, PASS_WARM_UP_TEST)
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let counts = pass_counts(&args);
    // Defaults sized for a shared 2-core machine; the command line (--sample-size,
    // --warm-up-time, --measurement-time) overrides them.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench_core(&mut c);
    bench_labrpc(&mut c);
    c.final_summary();
    if let Some((commands, warm_up)) = counts {
        pass(commands, warm_up);
    }
}
