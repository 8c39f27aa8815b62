//! Election convergence: how long a cluster takes to agree on one leader.
//!
//! Criterion benchmarks (group `election`):
//!
//! - `cold_start/{3,5,7}`: the real runtime (raft-node peers, each on a `MemoryPersister`, over
//!   a reliable labrpc network). Measured from the moment the first peer is made until exactly
//!   one peer reports leader and every peer reports the leader's term, polled every 1 ms.
//!   raft-node shows no role beyond `get_state`, so "no candidate" is approximated by "every
//!   peer is in the leader's term" (a losing candidate of the same term steps down one
//!   AppendEntries later, microseconds here).
//! - `failover/{3,5,7}`: the same cluster; once a leader is agreed, wait a uniformly random
//!   fraction of a heartbeat interval, kill the leader (delete its server, then `kill()`), and
//!   measure from the kill until the live peers agree on one leader of a higher term.
//! - `sim/{3,5,7}`: wall time of one simulated cold-start election with bare raft-core state
//!   machines in raft-sim's world (see [`BareWorld`]).
//!
//! Setup (wiring the network) and teardown (killing the peers, cleaning the network up) are not
//! measured. Every run is seeded (the network, each peer's timeouts, the kill delay), so the
//! timeouts drawn are the same from run to run; thread scheduling is not.
//!
//! After criterion, a plain pass (`election/distribution`, printed to stdout, not criterion)
//! reports the distribution of ticks to convergence over 10,000 simulated seeds per size, cold
//! start and failover, and one RequestVote round trip over labrpc, from which the floor
//! (minimum election timeout plus one round trip) is computed. It runs unless criterion is
//! listing, or is given a filter that is not a substring of `election/distribution`.
//!
//! The live benchmarks also print, after each one, a summary of every election they timed
//! (warm-up included): median, p90, max and the split-vote rate (the share of elections that
//! needed more than one term).
//!
//! Nothing here asserts a timing: these are measurements.

mod common;

use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode};
use raft_core::message::{RequestVoteArgs, RequestVoteReply};
use raft_core::{LogIndex, PeerId, RoleKind, Term};
use raft_labrpc::{CallError, ClientEnd, Network, Responder, Server, Service};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_sim::durable::NoStore;
use raft_sim::net::Immediate;
use raft_sim::service::NoService;
use raft_sim::world::{World, WorldConfig};
use raft_storage::MemoryPersister;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The cluster sizes measured.
const SIZES: [usize; 3] = [3, 5, 7];
/// How often a live cluster is looked at.
const POLL: Duration = Duration::from_millis(1);
/// A live election not agreed after this long is recorded as given up (never seen so far).
const GIVE_UP: Duration = Duration::from_secs(10);
/// A simulated election not agreed after this many ticks is recorded as given up.
const SIM_TICKS_MAX: u64 = 100_000;
/// Seeds per size and scenario in the distribution pass.
const DISTRIBUTION_SEEDS: u64 = 10_000;
/// The same in test mode (`cargo test --benches`), where only a smoke run is wanted.
const DISTRIBUTION_SEEDS_TEST: u64 = 100;
/// RequestVote round trips timed for the floor.
const ROUND_TRIP_PROBES: usize = 2_000;
/// The name the distribution pass answers to, for criterion-style filters.
const DISTRIBUTION_ID: &str = "election/distribution";

/// Seed streams, one per use, so no two uses share a seed.
#[derive(Clone, Copy)]
enum Stream {
    ColdStart = 1,
    Failover = 2,
    SimBench = 3,
    SimColdStart = 4,
    SimFailover = 5,
}

/// The seed of trial `i` of a `stream` at cluster size `n`: a splitmix64 mix, so that the
/// per-peer seeds (`seed + me`, as raft-node derives them) of different trials never overlap.
fn trial_seed(stream: Stream, n: usize, i: u64) -> u64 {
    let mut z = ((stream as u64) << 56 ^ (n as u64) << 48 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The runtime's options with a fixed seed: the default timing (10 ms ticks, heartbeat 15
/// ticks, election timeout 30..=60 ticks), which the simulator uses too, and Figure 2's
/// elections (no pre-vote round, no check-quorum): the model and Figure 16 these figures are
/// compared with are Figure 2's.
fn options(seed: u64) -> NodeOptions {
    NodeOptions {
        seed: Some(seed),
        pre_vote: false,
        check_quorum: false,
        ..NodeOptions::default()
    }
}

/// What one peer shows from outside.
#[derive(Clone, Copy)]
struct PeerView {
    id: usize,
    term: Term,
    leader: bool,
    candidate: bool,
}

/// The leader a set of live peers agrees on: exactly one of them leads, in a term above
/// `above`, none is a candidate, and every one is in the leader's term.
fn agreement(views: impl Iterator<Item = PeerView> + Clone, above: Term) -> Option<(usize, Term)> {
    let mut leaders = views.clone().filter(|v| v.leader);
    let leader = leaders.next()?;
    if leaders.next().is_some() || leader.term <= above {
        return None;
    }
    views
        .into_iter()
        .all(|v| v.term == leader.term && !v.candidate)
        .then_some((leader.id, leader.term))
}

/// How one measured election went.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// Time (live) or ticks (simulated) to agreement; the give-up limit if never agreed.
    took: f64,
    /// Terms the election used (the new leader's term minus the term before it), if agreed.
    rounds: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// The live cluster
// ---------------------------------------------------------------------------------------

/// The unmeasured half of a live cluster: a reliable network and every peer's ends, enabled
/// and connected to the servers the peers will be added as.
struct Wired {
    net: Network,
    ends: Vec<Vec<ClientEnd>>,
    seed: u64,
}

/// Builds the network and ends of an `n`-peer cluster.
fn wire(n: usize, seed: u64) -> Wired {
    let net = Network::with_seed(seed);
    let ends = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let name = format!("{i}->{j}");
                    let end = net
                        .make_end(name.clone())
                        .expect("end names are unique in a fresh network");
                    net.connect(&name, &j.to_string());
                    net.enable(&name, true);
                    end
                })
                .collect()
        })
        .collect();
    Wired { net, ends, seed }
}

/// n raft-node peers running over one labrpc network.
struct Live {
    net: Network,
    /// `None` once a peer has been killed.
    nodes: Vec<Option<RaftNode>>,
    /// Kept open so the peers' appliers have somewhere to deliver (nothing is proposed).
    _applied: Vec<flume::Receiver<ApplyMsg>>,
}

impl Wired {
    /// Starts every peer: makes it and adds its service to the network. Each peer's election
    /// timer starts when it is made.
    fn start(self) -> Live {
        let n = self.ends.len();
        let mut nodes = Vec::with_capacity(n);
        let mut applied = Vec::with_capacity(n);
        for (i, ends) in self.ends.into_iter().enumerate() {
            let (apply_tx, apply_rx) = flume::unbounded();
            let node = make(ends, i, MemoryPersister::new(), apply_tx, options(self.seed))
                .expect("fresh peers with the default options start");
            let mut server = Server::new();
            server.add_service(node.service());
            self.net.add_server(i.to_string(), server);
            nodes.push(Some(node));
            applied.push(apply_rx);
        }
        Live {
            net: self.net,
            nodes,
            _applied: applied,
        }
    }
}

impl Live {
    /// The leader the live peers agree on, judged from `get_state` alone (see the module doc).
    fn agreed_leader(&self, above: Term) -> Option<(usize, Term)> {
        let views = self.nodes.iter().enumerate().filter_map(|(id, node)| {
            node.as_ref().map(|node| {
                let (term, leader) = node.get_state();
                PeerView {
                    id,
                    term,
                    leader,
                    candidate: false,
                }
            })
        });
        agreement(views, above)
    }

    /// Polls every [`POLL`] until the live peers agree on a leader above `above`: the instant
    /// it was seen, the leader and its term; `None` if [`GIVE_UP`] after `since` passes first.
    fn wait_for_leader(&self, above: Term, since: Instant) -> Option<(Instant, usize, Term)> {
        loop {
            if let Some((id, term)) = self.agreed_leader(above) {
                return Some((Instant::now(), id, term));
            }
            if since.elapsed() > GIVE_UP {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Crashes peer `i`: nothing reaches it any more, and it stops.
    fn crash(&mut self, i: usize) {
        self.net.delete_server(&i.to_string());
        if let Some(node) = self.nodes[i].take() {
            node.kill();
        }
    }

    /// Kills every peer (in parallel: each kill waits up to 10 ms for its applier) and shuts
    /// the network down.
    fn shutdown(self) {
        std::thread::scope(|s| {
            for node in self.nodes.iter().flatten() {
                s.spawn(|| node.kill());
            }
        });
        self.net.cleanup();
    }
}

/// One live cold start: from making the first peer until the cluster agrees on a leader.
fn live_cold_start(n: usize, seed: u64) -> Outcome {
    let wired = wire(n, seed);
    let started = Instant::now();
    let live = wired.start();
    let seen = live.wait_for_leader(Term::ZERO, started);
    live.shutdown();
    match seen {
        Some((at, _, term)) => Outcome {
            took: (at - started).as_secs_f64(),
            rounds: Some(term.0),
        },
        None => Outcome {
            took: GIVE_UP.as_secs_f64(),
            rounds: None,
        },
    }
}

/// One live failover: elect a leader (not measured), let it lead for a random fraction of a
/// heartbeat interval, kill it, and measure until the survivors agree on a new leader.
fn live_failover(n: usize, seed: u64) -> Outcome {
    let mut live = wire(n, seed).start();
    let gave_up = Outcome {
        took: GIVE_UP.as_secs_f64(),
        rounds: None,
    };
    let Some((_, leader, old_term)) = live.wait_for_leader(Term::ZERO, Instant::now()) else {
        live.shutdown();
        return gave_up;
    };
    let defaults = NodeOptions::default();
    let heartbeat = defaults.tick * defaults.heartbeat_interval_ticks;
    let fraction: f64 = SmallRng::seed_from_u64(seed).random();
    std::thread::sleep(heartbeat.mul_f64(fraction));
    let killed = Instant::now();
    live.crash(leader);
    let seen = live.wait_for_leader(old_term, killed);
    live.shutdown();
    match seen {
        Some((at, _, term)) => Outcome {
            took: (at - killed).as_secs_f64(),
            rounds: Some(term.0 - old_term.0),
        },
        None => gave_up,
    }
}

// ---------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------

/// Bare raft-core state machines in raft-sim's world, on its immediate network.
///
/// Every peer ticks at the same instants, in id order, and every message is delivered at
/// once, replies included, before the next tick: delivery is instant, within the tick. Two
/// peers that time out in the same tick therefore campaign simultaneously (the conservative
/// reading of a tie). A crashed peer neither ticks nor sends nor receives; nothing is
/// persisted or applied.
type BareWorld = World<Immediate, NoService, NoStore>;

/// `n` fresh peers with the runtime's default timing, seeded as raft-node seeds them.
fn bare_world(n: usize, seed: u64) -> BareWorld {
    let options = options(seed);
    let config = WorldConfig::new(n, seed, options.tick.as_micros() as u64).aligned();
    let mut world = World::new(
        config,
        Immediate::default(),
        NoService::default(),
        vec![NoStore; n],
    );
    for i in 0..n {
        world
            .start(i, options.config(i, n))
            .expect("the default timing is a valid config");
    }
    world
}

/// One tick of virtual time: every live peer ticks, then every message is delivered.
fn tick(world: &mut BareWorld, tick_us: u64) {
    world.run_until(world.now_us() + tick_us);
    assert!(world.fault().is_none(), "{:?}", world.fault());
}

/// The leader the live peers agree on (no live candidate either).
fn agreed_leader(world: &BareWorld, above: Term) -> Option<(usize, Term)> {
    let views = world
        .rafts()
        .iter()
        .enumerate()
        .filter_map(|(id, raft)| raft.as_ref().map(|raft| (id, raft)))
        .map(|(id, raft)| PeerView {
            id,
            term: raft.term(),
            leader: raft.is_leader(),
            candidate: raft.role() == RoleKind::Candidate,
        });
    agreement(views, above)
}

/// Ticks until the live peers agree on a leader above `above`: the ticks it took, the leader
/// and its term; `None` after [`SIM_TICKS_MAX`] ticks.
fn run_until_leader(world: &mut BareWorld, above: Term) -> Option<(u64, usize, Term)> {
    let tick_us = options(0).tick.as_micros() as u64;
    for ticks in 1..=SIM_TICKS_MAX {
        tick(world, tick_us);
        if let Some((id, term)) = agreed_leader(world, above) {
            return Some((ticks, id, term));
        }
    }
    None
}

/// One simulated cold start, in ticks.
fn sim_cold_start(n: usize, seed: u64) -> Outcome {
    let mut world = bare_world(n, seed);
    match run_until_leader(&mut world, Term::ZERO) {
        Some((ticks, _, term)) => Outcome {
            took: ticks as f64,
            rounds: Some(term.0),
        },
        None => Outcome {
            took: SIM_TICKS_MAX as f64,
            rounds: None,
        },
    }
}

/// One simulated failover, in ticks: elect, run a uniformly random number of ticks in
/// `0..heartbeat` (no heartbeat goes out in that time, so the followers' timers have run that
/// long), crash the leader, and count the ticks until the survivors agree on a new leader.
fn sim_failover(n: usize, seed: u64) -> Outcome {
    let gave_up = Outcome {
        took: SIM_TICKS_MAX as f64,
        rounds: None,
    };
    let mut world = bare_world(n, seed);
    let Some((_, leader, old_term)) = run_until_leader(&mut world, Term::ZERO) else {
        return gave_up;
    };
    let heartbeat = u64::from(NodeOptions::default().heartbeat_interval_ticks);
    let mut rng = SmallRng::seed_from_u64(seed);
    let tick_us = options(seed).tick.as_micros() as u64;
    for _ in 0..rng.random_range(0..heartbeat) {
        tick(&mut world, tick_us);
    }
    let _ = world.stop(leader);
    match run_until_leader(&mut world, old_term) {
        Some((ticks, _, term)) => Outcome {
            took: ticks as f64,
            rounds: Some(term.0 - old_term.0),
        },
        None => gave_up,
    }
}

// ---------------------------------------------------------------------------------------
// Statistics and the round-trip probe
// ---------------------------------------------------------------------------------------

/// Summary of a set of outcomes.
struct Summary {
    count: usize,
    gave_up: usize,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    /// Share of agreed elections that used more than one term.
    split_rate: f64,
}

/// The nearest-rank percentile `p` (0..=1) of sorted values; NaN if there are none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    test_support::stats::nearest_rank(sorted, p).unwrap_or(f64::NAN)
}

/// Summarises outcomes (their `took` in whatever unit they were measured).
fn summarize(outcomes: &[Outcome]) -> Summary {
    let mut took: Vec<f64> = outcomes.iter().map(|o| o.took).collect();
    took.sort_by(f64::total_cmp);
    let agreed: Vec<u64> = outcomes.iter().filter_map(|o| o.rounds).collect();
    let split = agreed.iter().filter(|r| **r > 1).count();
    Summary {
        count: outcomes.len(),
        gave_up: outcomes.len() - agreed.len(),
        mean: took.iter().sum::<f64>() / took.len().max(1) as f64,
        p50: percentile(&took, 0.50),
        p90: percentile(&took, 0.90),
        p99: percentile(&took, 0.99),
        max: took.last().copied().unwrap_or(f64::NAN),
        split_rate: split as f64 / agreed.len().max(1) as f64,
    }
}

/// Times `probes` RequestVote round trips over a reliable labrpc network the way raft-node
/// makes them: `call_with` from the candidate's thread, the handler hands the request to the
/// voter's thread, which answers; the completion wakes the candidate's thread. Two thread
/// hops, as in the runtime (persisting to a `MemoryPersister` is not included).
fn probe_round_trip(probes: usize) -> Vec<Duration> {
    let net = Network::with_seed(1);
    let (to_voter, voter_rx) = flume::unbounded::<(RequestVoteArgs, Responder<RequestVoteReply>)>();
    std::thread::spawn(move || {
        for (args, responder) in voter_rx.iter() {
            responder.respond(RequestVoteReply {
                term: args.term,
                vote_granted: true,
            });
        }
    });
    let mut service = Service::new("Raft");
    service.method(
        "RequestVote",
        move |args: RequestVoteArgs, responder: Responder<RequestVoteReply>| {
            let _ = to_voter.send((args, responder));
        },
    );
    let mut server = Server::new();
    server.add_service(service);
    net.add_server("voter", server);
    let end = net
        .make_end("candidate->voter")
        .expect("the only end of a fresh network");
    net.connect("candidate->voter", "voter");
    net.enable("candidate->voter", true);
    let (back_tx, back_rx) = flume::bounded::<bool>(1);
    let mut samples = Vec::with_capacity(probes);
    for i in 0..probes {
        let args = RequestVoteArgs {
            term: Term(i as u64 + 1),
            candidate_id: PeerId(0),
            last_log_index: LogIndex::ZERO,
            last_log_term: Term::ZERO,
            transfer: false,
        };
        let back = back_tx.clone();
        let started = Instant::now();
        end.call_with(
            "Raft.RequestVote",
            &args,
            move |reply: Result<RequestVoteReply, CallError>| {
                let _ = back.send(reply.is_ok());
            },
        );
        let _ = back_rx.recv();
        samples.push(started.elapsed());
    }
    // Dropping the server drops the handler's sender, which ends the voter thread.
    net.cleanup();
    samples
}

/// The median of durations (nearest rank); zero if there are none.
fn median(durations: &[Duration]) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    test_support::stats::nearest_rank(&sorted, 0.5).unwrap_or_default()
}

/// The floor of an election: the minimum election timeout plus one RequestVote round trip.
fn floor(round_trip: Duration) -> Duration {
    let defaults = NodeOptions::default();
    defaults.tick * defaults.election_timeout_ticks_min + round_trip
}

// ---------------------------------------------------------------------------------------
// Criterion benchmarks
// ---------------------------------------------------------------------------------------

/// Runs one live benchmark per size: each iteration is a fresh cluster, and only the election
/// is timed. Prints every election measured (warm-up included) once a size is done.
fn bench_live(
    c: &mut Criterion,
    scenario: &str,
    trial: fn(usize, u64) -> Outcome,
    stream: Stream,
    round_trip: Duration,
) {
    let mut group = c.benchmark_group("election");
    // An iteration takes a third of a second: one sample per few iterations, not a slope.
    group.sampling_mode(SamplingMode::Flat);
    for n in SIZES {
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut next_seed = 0u64;
        group.bench_with_input(BenchmarkId::new(scenario, n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    next_seed += 1;
                    let outcome = trial(n, trial_seed(stream, n, next_seed));
                    total += Duration::from_secs_f64(outcome.took);
                    outcomes.push(outcome);
                }
                total
            });
        });
        if !outcomes.is_empty() {
            let s = summarize(&outcomes);
            let floor_ms = floor(round_trip).as_secs_f64() * 1e3;
            println!(
                "election/{scenario}/{n}: {} elections{}: median {:.1} ms ({:.2}x floor {:.2} ms), \
                 mean {:.1}, p90 {:.1}, max {:.1} ms; split votes {:.1}%",
                s.count,
                if s.gave_up > 0 {
                    format!(" ({} gave up after {} s)", s.gave_up, GIVE_UP.as_secs())
                } else {
                    String::new()
                },
                s.p50 * 1e3,
                s.p50 * 1e3 / floor_ms,
                floor_ms,
                s.mean * 1e3,
                s.p90 * 1e3,
                s.max * 1e3,
                s.split_rate * 100.0,
            );
        }
    }
    group.finish();
}

/// `election/sim/{n}`: wall time of one simulated cold-start election (building the state
/// machines is not timed).
fn bench_sim(c: &mut Criterion) {
    let mut group = c.benchmark_group("election");
    group.sampling_mode(SamplingMode::Flat);
    for n in SIZES {
        let mut next_seed = 0u64;
        group.bench_with_input(BenchmarkId::new("sim", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    next_seed += 1;
                    bare_world(n, trial_seed(Stream::SimBench, n, next_seed))
                },
                |mut world| run_until_leader(&mut world, Term::ZERO),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// The distribution pass
// ---------------------------------------------------------------------------------------

/// Prints the simulated tick distributions and the round trip behind the floor.
fn distribution(seeds: u64, round_trip: &[Duration]) {
    let defaults = NodeOptions::default();
    let t_min = f64::from(defaults.election_timeout_ticks_min);
    let range = f64::from(defaults.election_timeout_ticks_max - defaults.election_timeout_ticks_min);
    let heartbeat = f64::from(defaults.heartbeat_interval_ticks);
    let mut sorted = round_trip.to_vec();
    sorted.sort();
    let rt_p90 = sorted.get(sorted.len() * 9 / 10).copied().unwrap_or_default();
    println!();
    println!(
        "{DISTRIBUTION_ID}: RequestVote round trip over labrpc through a peer thread: \
         median {:.1} us, p90 {:.1} us ({} probes); floor = {} ms + median = {:.3} ms",
        median(round_trip).as_secs_f64() * 1e6,
        rt_p90.as_secs_f64() * 1e6,
        round_trip.len(),
        (defaults.tick * defaults.election_timeout_ticks_min).as_millis(),
        floor(median(round_trip)).as_secs_f64() * 1e3,
    );
    println!(
        "{DISTRIBUTION_ID}: simulated ticks to agreement ({} ms ticks, timeout {}..={}, heartbeat {}, \
         instant delivery), {seeds} seeds per row; model = T_min + R/(s+1) [- H/2 for failover]",
        defaults.tick.as_millis(),
        defaults.election_timeout_ticks_min,
        defaults.election_timeout_ticks_max,
        defaults.heartbeat_interval_ticks,
    );
    println!(
        "{:<11} {:>2} {:>7} {:>5} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9}",
        "scenario", "n", "mean", "p50", "p90", "p99", "max", "split%", "model", "gave up"
    );
    for (scenario, trial, stream) in [
        (
            "cold_start",
            sim_cold_start as fn(usize, u64) -> Outcome,
            Stream::SimColdStart,
        ),
        ("failover", sim_failover, Stream::SimFailover),
    ] {
        for n in SIZES {
            let outcomes: Vec<Outcome> = (0..seeds).map(|i| trial(n, trial_seed(stream, n, i))).collect();
            let s = summarize(&outcomes);
            let model = match scenario {
                "cold_start" => t_min + range / (n as f64 + 1.0),
                _ => t_min + range / n as f64 - heartbeat / 2.0,
            };
            println!(
                "{:<11} {:>2} {:>7.2} {:>5} {:>5} {:>5} {:>5} {:>7.2} {:>7.2} {:>9}",
                scenario,
                n,
                s.mean,
                s.p50,
                s.p90,
                s.p99,
                s.max,
                s.split_rate * 100.0,
                model,
                s.gave_up,
            );
        }
    }
}

/// What the distribution pass should do, from the binary's arguments: `None` to skip it,
/// else how many seeds to run.
fn distribution_seeds(args: &[String]) -> Option<u64> {
    common::extra_pass(args, DISTRIBUTION_ID).map(|benchmarking| {
        if benchmarking {
            DISTRIBUTION_SEEDS
        } else {
            DISTRIBUTION_SEEDS_TEST
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds = distribution_seeds(&args);
    let round_trip = if args.iter().any(|a| a == "--list") {
        Vec::new()
    } else {
        probe_round_trip(ROUND_TRIP_PROBES)
    };
    let rt = median(&round_trip);

    // Defaults sized for second-long iterations on a shared 2-core machine; the command line
    // (--sample-size, --warm-up-time, --measurement-time) overrides them.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_live(&mut c, "cold_start", live_cold_start, Stream::ColdStart, rt);
    bench_live(&mut c, "failover", live_failover, Stream::Failover, rt);
    bench_sim(&mut c);
    c.final_summary();

    if let Some(seeds) = seeds {
        distribution(seeds, &round_trip);
    }
}
