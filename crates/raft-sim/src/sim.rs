//! The safety runs: the world ([`World`]) with the nemesis network, each node's service a
//! digest chain watched by the checkers, and a driver of its own events (the client, the
//! nemesis, the end of faults, in nemesis.rs).
//!
//! The checkers run where the world lets a service watch: on every persisted append (Log
//! Matching), every apply (State Machine Safety, Leader Completeness), and after every input
//! (the rest); crashes and restarts are checked here (nothing persisted is lost).

use std::collections::BTreeMap;

use raft_core::{Config, Entry, LogIndex, PeerId, Raft, ReadError, ReadId, ReadMode, Snapshot, Term};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::checkers::{Breach, Checkers, StateMachineSafety};
use crate::config::SimConfig;
use crate::durable::Durable;
use crate::net::Nemesis;
use crate::report::{RunSummary, Violation};
use crate::service::{Service, ServiceState, SnapshotRequest, command_id};
use crate::world::{SIMULATOR, Step, World, WorldConfig};

/// Most events one run may process: a run that never ends is a bug, reported as one.
pub const EVENTS_PER_RUN_MAX: u64 = 5_000_000;
/// Most entries one AppendEntries carries in the simulation.
pub const ENTRIES_PER_APPEND_MAX: usize = 64;
/// The name of the liveness property.
pub const LIVENESS: &str = "Liveness After Faults Stop";
pub use crate::world::PERSISTENCE_CONTRACT;

const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A seed for peer `peer`'s incarnation `incarnation`, mixed from the run's seed so that
/// peers draw different election timeouts.
#[must_use]
pub fn peer_seed(seed: u64, peer: usize, incarnation: u64) -> u64 {
    let mut z = seed ^ (peer as u64 + 1).wrapping_mul(SPLITMIX_GAMMA) ^ incarnation.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The driver's own events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The client proposes new commands and retries old ones.
    Client,
    /// The nemesis crashes, restarts, partitions or heals.
    Nemesis,
    /// Faults stop: partitions heal, crashed peers restart, the network turns reliable.
    FaultsEnd,
}

/// The client's view: commands it wants committed, and when each was last proposed.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub(crate) next_id: u64,
    /// Command id -> time last proposed (`None`: not yet).
    pub(crate) pending: BTreeMap<u64, Option<u64>>,
    pub(crate) committed: u64,
}

/// The safety runs' service: each node's digest chain, snapshotted every K entries, watched
/// by the checkers; the client learns here that its commands committed.
#[derive(Debug)]
pub(crate) struct Replicas {
    states: Vec<ServiceState>,
    /// The index each node's service last snapshotted (or restored) at.
    snapshot_at: Vec<LogIndex>,
    snapshot_every_entries: u64,
    pub(crate) checkers: Checkers,
    pub(crate) client: Client,
}

impl Replicas {
    /// The services of `peers` fresh nodes, each snapshotting every `snapshot_every_entries`
    /// entries, with a fresh set of checkers and no client command yet.
    pub(crate) fn new(peers: usize, snapshot_every_entries: u64) -> Replicas {
        Replicas {
            states: vec![ServiceState::empty(); peers],
            snapshot_at: vec![LogIndex::ZERO; peers],
            snapshot_every_entries,
            checkers: Checkers::new(peers),
            client: Client::default(),
        }
    }
}

impl Service for Replicas {
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        self.states[node] =
            ServiceState::restore(snapshot).map_err(|e| Breach::new(StateMachineSafety::NAME, e))?;
        self.snapshot_at[node] = snapshot.map_or(LogIndex::ZERO, |s| s.meta.last_included_index);
        Ok(())
    }

    /// Applies one entry, checked by State Machine Safety and recorded for Leader
    /// Completeness; every `snapshot_every_entries` entries, asks for a snapshot.
    fn apply(&mut self, node: usize, term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        let id = PeerId(node as u32);
        let state = self.checkers.state_machine.apply(id, self.states[node], &entry)?;
        self.states[node] = state;
        self.checkers.completeness.record_committed(&entry, term);
        if let Some(cmd) = command_id(&entry.command)
            && self.client.pending.remove(&cmd).is_some()
        {
            self.client.committed += 1;
        }
        if state.applied.0 < self.snapshot_at[node].0 + self.snapshot_every_entries {
            return Ok(None);
        }
        self.snapshot_at[node] = state.applied;
        Ok(Some((state.applied, state.encode())))
    }

    /// Hands the leader's snapshot to the service, checked by State Machine Safety.
    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach> {
        let id = PeerId(node as u32);
        self.states[node] = self
            .checkers
            .state_machine
            .install(id, self.states[node], &snapshot)?;
        self.snapshot_at[node] = snapshot.meta.last_included_index;
        Ok(())
    }

    /// Log Matching's record of what each node wrote.
    fn appended(&mut self, node: usize, entries: &[Entry]) -> Result<(), Breach> {
        self.checkers
            .matching
            .record_written(PeerId(node as u32), entries)
    }

    fn after_input(&mut self, node: usize, incarnation: u64, rafts: &[Option<Raft>]) -> Result<(), Breach> {
        self.checkers.after_event(node, incarnation, rafts)
    }

    /// A read's outcome, checked by Reads See Every Acknowledged Write against what the node
    /// has applied.
    fn read(&mut self, node: usize, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        let applied = self.states[node].applied;
        self.checkers.reads.decided(node, id, result, applied)
    }
}

/// The world of a safety run.
pub(crate) type SafetyWorld = World<Nemesis, Replicas, Durable, Action>;

/// Counters for the summary.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) crashes: u64,
    pub(crate) partitions: u64,
    pub(crate) transfers: u64,
}

/// One safety run: the world, the client, the nemesis and the checkers.
#[derive(Debug)]
pub struct Simulation {
    pub(crate) config: SimConfig,
    /// The nemesis's and the client's draws.
    pub(crate) rng: SmallRng,
    pub(crate) world: SafetyWorld,
    pub(crate) faults_on: bool,
    pub(crate) stats: Stats,
}

impl Simulation {
    /// A cluster at time zero: every peer fresh, its first tick, the client, the nemesis
    /// and the end of faults scheduled.
    ///
    /// # Errors
    /// A [`Violation`] of [`SIMULATOR`] if the config cannot run.
    pub fn new(config: SimConfig) -> Result<Simulation, Violation> {
        let n = config.peers;
        let world_config = WorldConfig {
            full_trace: config.record_full_trace,
            ..WorldConfig::new(n, config.seed, config.tick_us)
        };
        let service = Replicas::new(n, config.snapshot_every_entries);
        let world = World::new(
            world_config,
            Nemesis::new(&config),
            service,
            vec![Durable::default(); n],
        );
        let mut sim = Simulation {
            rng: SmallRng::seed_from_u64(config.seed),
            world,
            faults_on: true,
            stats: Stats::default(),
            config,
        };
        sim.config
            .validate()
            .map_err(|e| sim.violation(Breach::new(SIMULATOR, e)))?;
        for peer in 0..n {
            sim.start_peer(peer)?;
        }
        let first_client = sim.rng.random_range(0..sim.config.client_interval_us_max);
        sim.schedule(first_client, Action::Client)?;
        if sim.config.faults.has_nemesis() {
            sim.schedule_nemesis()?;
        }
        sim.schedule(sim.config.fault_duration_us, Action::FaultsEnd)?;
        Ok(sim)
    }

    /// Virtual time now.
    #[must_use]
    pub fn now_us(&self) -> u64 {
        self.world.now_us()
    }

    /// The live peer that leads in the highest term, if any.
    #[must_use]
    pub fn leader(&self) -> Option<PeerId> {
        self.world.leader()
    }

    /// The live peers' state machines (`None` while crashed).
    #[must_use]
    pub fn peers(&self) -> &[Option<Raft>] {
        self.world.rafts()
    }

    /// Runs to the end: faults for `fault_duration_us`, then until a leader is in place and
    /// every pending proposal has committed, which must happen within `liveness_bound_us`.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn run(mut self) -> Result<RunSummary, Violation> {
        match self.run_loop() {
            Ok(()) => Ok(self.summary()),
            Err(mut violation) => {
                violation.full_trace = self.world.trace_mut().take_full().map(Vec::into_boxed_slice);
                Err(violation)
            }
        }
    }

    fn run_loop(&mut self) -> Result<(), Violation> {
        let deadline_us = self.config.fault_duration_us + self.config.liveness_bound_us;
        loop {
            if !self.faults_on && self.is_live() {
                return Ok(());
            }
            if self.world.trace().events() >= EVENTS_PER_RUN_MAX {
                let detail = format!("more than {EVENTS_PER_RUN_MAX} events");
                return Err(self.violation(Breach::new(SIMULATOR, detail)));
            }
            match self.world.peek_time() {
                Some(at) if at <= deadline_us => self.step()?,
                _ => return Err(self.liveness_violation()),
            }
        }
    }

    /// Processes the next event.
    ///
    /// # Errors
    /// A [`Violation`] if an invariant fails on it.
    pub fn step(&mut self) -> Result<(), Violation> {
        match self.world.step() {
            Ok(Step::Idle | Step::Ran) => Ok(()),
            Ok(Step::Driver(Action::Client)) => self.on_client(),
            Ok(Step::Driver(Action::Nemesis)) => self.on_nemesis(),
            Ok(Step::Driver(Action::FaultsEnd)) => self.on_faults_end(),
            Err(breach) => Err(self.violation(breach)),
        }
    }

    /// True once no client command is pending and some live peer leads in the highest term
    /// any live peer has. (Not "every log entry committed": raft-core appends no no-op on
    /// election, so entries of older terms stay uncommitted until a new command arrives,
    /// as Figure 8 requires.)
    fn is_live(&self) -> bool {
        let term_max = self.peers().iter().flatten().map(Raft::term).max();
        self.world.service().client.pending.is_empty()
            && self
                .leader()
                .and_then(|id| self.peers()[id.as_usize()].as_ref())
                .is_some_and(|r| Some(r.term()) == term_max)
    }

    fn liveness_violation(&self) -> Violation {
        let detail = format!(
            "no leader with every proposal committed within {} ms of faults stopping \
             (leader {:?}, {} commands pending)",
            self.config.liveness_bound_us / 1000,
            self.leader(),
            self.world.service().client.pending.len()
        );
        self.violation(Breach::new(LIVENESS, detail))
    }

    fn summary(mut self) -> RunSummary {
        let service = self.world.service();
        RunSummary {
            seed: self.config.seed,
            events: self.world.trace().events(),
            trace_hash: self.world.trace().hash(),
            end_us: self.now_us(),
            recovery_us: self.now_us().saturating_sub(self.config.fault_duration_us),
            commands_committed: service.client.committed,
            commit_index_max: service.checkers.completeness.committed_max().0,
            terms_with_leader: service.checkers.election.terms_with_leader(),
            crashes: self.stats.crashes,
            partitions: self.stats.partitions,
            transfers: self.stats.transfers,
            snapshots: self.world.snapshots_taken(),
            messages: self.world.messages_sent(),
            reads: (service.checkers.reads.served, service.checkers.reads.failed),
            full_trace: self.world.trace_mut().take_full(),
        }
    }

    /// A violation of `breach` now, with the trace so far.
    pub(crate) fn violation(&self, breach: Breach) -> Violation {
        Violation {
            seed: self.config.seed,
            peers: self.config.peers,
            faults: self.config.faults,
            switches: self.config.switches,
            transfers: self.config.transfers,
            invariant: breach.invariant,
            detail: breach.detail,
            at_us: self.now_us(),
            events: self.world.trace().events(),
            trace: self.world.trace().tail().into_boxed_slice(),
            full_trace: None,
        }
    }

    /// Schedules one of the driver's actions.
    pub(crate) fn schedule(&mut self, at_us: u64, action: Action) -> Result<(), Violation> {
        self.world.schedule(at_us, action).map_err(|b| self.violation(b))
    }

    /// The raft-core config of `peer`'s incarnation `incarnation`.
    pub(crate) fn peer_config(&self, peer: usize, incarnation: u64) -> Config {
        let ids = (0..self.config.peers).map(|i| PeerId(i as u32)).collect();
        Config {
            id: PeerId(peer as u32),
            peers: ids,
            election_timeout_ticks_min: self.config.election_timeout_ticks_min,
            election_timeout_ticks_max: self.config.election_timeout_ticks_max,
            heartbeat_interval_ticks: self.config.heartbeat_interval_ticks,
            entries_per_append_max: ENTRIES_PER_APPEND_MAX,
            append_bytes_max: Config::APPEND_BYTES_MAX_DEFAULT,
            send_before_write: true,
            uncommitted_entries_max: Config::UNCOMMITTED_ENTRIES_MAX_DEFAULT,
            append_entries_in_flight_max: Config::APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT,
            seed: peer_seed(self.config.seed, peer, incarnation),
            pre_vote: self.config.switches.pre_vote,
            check_quorum: self.config.switches.check_quorum,
            reads: ReadMode::ReadIndex,
            pending_reads_max: Config::PENDING_READS_MAX_DEFAULT,
        }
    }

    /// Starts `peer` from its durable model (empty at first), its service from the persisted
    /// snapshot.
    pub(crate) fn start_peer(&mut self, peer: usize) -> Result<(), Violation> {
        let config = self.peer_config(peer, self.world.incarnation(peer));
        self.world.start(peer, config).map_err(|b| self.violation(b))
    }
}
