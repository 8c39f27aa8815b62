//! The simulator core: one thread, a virtual clock, the event loop, and what each step of a
//! peer's [`Ready`] means here ([`Ready::carry_out`] keeps the order: persist, then send,
//! then apply; then the service may snapshot).
//!
//! Every input to a peer goes through [`Simulation::input`], which captures the role before,
//! carries out the Ready in the documented order, notes a role change in the trace, and runs
//! the checkers. Faults and the client live in [`crate::nemesis`].

use std::collections::BTreeMap;

use raft_core::message::{Message, Reply, Request, RequestId};
use raft_core::{Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, Ready, RoleKind, Snapshot, Term};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::checkers::{Breach, Checkers};
use crate::config::SimConfig;
use crate::durable::Durable;
use crate::network::{Fate, Network};
use crate::queue::{Event, EventQueue};
use crate::report::{RunSummary, Violation};
use crate::service::{ServiceState, command_id};
use crate::trace::{Compact, Trace};

/// Most events one run may process: a run that never ends is a bug, reported as one.
pub const EVENTS_PER_RUN_MAX: u64 = 5_000_000;
/// Most entries one AppendEntries carries in the simulation.
pub const ENTRIES_PER_APPEND_MAX: usize = 64;
/// The name of the liveness property.
pub const LIVENESS: &str = "Liveness After Faults Stop";
/// The name of the persistence contract (a Ready whose entries do not continue the log).
pub const PERSISTENCE_CONTRACT: &str = "Persistence Contract";
/// The name for a run that could not be set up or ran away.
pub const SIMULATOR: &str = "Simulator";

const TICK_TAG: u8 = b'T';
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

/// The client's view: commands it wants committed, and when each was last proposed.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub(crate) next_id: u64,
    /// Command id -> time last proposed (`None`: not yet).
    pub(crate) pending: BTreeMap<u64, Option<u64>>,
    pub(crate) committed: u64,
}

/// Counters for the summary.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) crashes: u64,
    pub(crate) partitions: u64,
    pub(crate) snapshots: u64,
    pub(crate) messages: u64,
}

/// One simulated cluster, its network, its client and its checkers.
#[derive(Debug)]
pub struct Simulation {
    pub(crate) config: SimConfig,
    pub(crate) rng: SmallRng,
    pub(crate) now_us: u64,
    pub(crate) queue: EventQueue,
    pub(crate) peers: Vec<Option<Raft>>,
    pub(crate) durable: Vec<Durable>,
    pub(crate) services: Vec<ServiceState>,
    pub(crate) service_snapshot: Vec<LogIndex>,
    pub(crate) incarnations: Vec<u64>,
    pub(crate) network: Network,
    pub(crate) checkers: Checkers,
    pub(crate) trace: Trace,
    pub(crate) client: Client,
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
        let mut sim = Simulation {
            rng: SmallRng::seed_from_u64(config.seed),
            now_us: 0,
            queue: EventQueue::default(),
            peers: (0..n).map(|_| None).collect(),
            durable: vec![Durable::default(); n],
            services: vec![ServiceState::empty(); n],
            service_snapshot: vec![LogIndex::ZERO; n],
            incarnations: vec![0; n],
            network: Network::new(&config),
            checkers: Checkers::new(n),
            trace: Trace::new(config.record_full_trace),
            client: Client::default(),
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
        sim.schedule(first_client, Event::Client);
        if sim.config.faults.has_nemesis() {
            sim.schedule_nemesis();
        }
        sim.schedule(sim.config.fault_duration_us, Event::FaultsEnd);
        Ok(sim)
    }

    /// Virtual time now.
    #[must_use]
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The live peer that leads in the highest term, if any.
    #[must_use]
    pub fn leader(&self) -> Option<PeerId> {
        self.peers
            .iter()
            .flatten()
            .filter(|r| r.is_leader())
            .max_by_key(|r| r.term())
            .map(Raft::id)
    }

    /// The live peers' state machines (`None` while crashed).
    #[must_use]
    pub fn peers(&self) -> &[Option<Raft>] {
        &self.peers
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
                violation.full_trace = self.trace.into_full().map(Vec::into_boxed_slice);
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
            if self.trace.events() >= EVENTS_PER_RUN_MAX {
                let detail = format!("more than {EVENTS_PER_RUN_MAX} events");
                return Err(self.violation(Breach::new(SIMULATOR, detail)));
            }
            match self.queue.peek_time() {
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
        let Some((at_us, event)) = self.queue.pop() else {
            return Ok(());
        };
        self.now_us = at_us;
        match event {
            Event::Tick { peer, incarnation } => self.on_tick(peer, incarnation),
            Event::Deliver {
                from,
                to,
                incarnation,
                message,
            } => self.on_deliver(from, to, incarnation, message),
            Event::Client => self.on_client(),
            Event::Nemesis => self.on_nemesis(),
            Event::FaultsEnd => self.on_faults_end(),
        }
    }

    /// True once no client command is pending and some live peer leads in the highest term
    /// any live peer has. (Not "every log entry committed": raft-core appends no no-op on
    /// election, so entries of older terms stay uncommitted until a new command arrives,
    /// as Figure 8 requires.)
    fn is_live(&self) -> bool {
        let term_max = self.peers.iter().flatten().map(Raft::term).max();
        self.client.pending.is_empty()
            && self
                .leader()
                .and_then(|id| self.peers[id.as_usize()].as_ref())
                .is_some_and(|r| Some(r.term()) == term_max)
    }

    fn liveness_violation(&self) -> Violation {
        let detail = format!(
            "no leader with every proposal committed within {} ms of faults stopping \
             (leader {:?}, {} commands pending)",
            self.config.liveness_bound_us / 1000,
            self.leader(),
            self.client.pending.len()
        );
        self.violation(Breach::new(LIVENESS, detail))
    }

    fn summary(self) -> RunSummary {
        RunSummary {
            seed: self.config.seed,
            events: self.trace.events(),
            trace_hash: self.trace.hash(),
            end_us: self.now_us,
            recovery_us: self.now_us.saturating_sub(self.config.fault_duration_us),
            commands_committed: self.client.committed,
            commit_index_max: self.checkers.completeness.committed_max().0,
            terms_with_leader: self.checkers.election.terms_with_leader(),
            crashes: self.stats.crashes,
            partitions: self.stats.partitions,
            snapshots: self.stats.snapshots,
            messages: self.stats.messages,
            full_trace: self.trace.into_full(),
        }
    }

    /// A violation of `breach` now, with the trace so far.
    pub(crate) fn violation(&self, breach: Breach) -> Violation {
        Violation {
            seed: self.config.seed,
            peers: self.config.peers,
            faults: self.config.faults,
            invariant: breach.invariant,
            detail: breach.detail,
            at_us: self.now_us,
            events: self.trace.events(),
            trace: self.trace.tail().into_boxed_slice(),
            full_trace: None,
        }
    }

    pub(crate) fn schedule(&mut self, at_us: u64, event: Event) {
        // A full queue drops the event, as a congested network would drop a message.
        let _ = self.queue.push(at_us, event);
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
            uncommitted_entries_max: Config::UNCOMMITTED_ENTRIES_MAX_DEFAULT,
            append_entries_in_flight_max: Config::APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT,
            seed: peer_seed(self.config.seed, peer, incarnation),
        }
    }

    /// Builds `peer` from its durable model (empty at first), restores its service from the
    /// persisted snapshot, and schedules its first tick at a random phase.
    pub(crate) fn start_peer(&mut self, peer: usize) -> Result<(), Violation> {
        let config = self.peer_config(peer, self.incarnations[peer]);
        let raft = Raft::restore(config, self.durable[peer].restored()).map_err(|e| {
            let detail = format!("n{peer} cannot restart from its durable state: {e}");
            self.violation(Breach::new(crate::checkers::PersistedSurvivesCrash::NAME, detail))
        })?;
        let service = ServiceState::restore(self.durable[peer].snapshot.as_ref())
            .map_err(|e| self.violation(Breach::new(crate::checkers::StateMachineSafety::NAME, e)))?;
        self.services[peer] = service;
        self.service_snapshot[peer] = self.durable[peer].snapshot_meta().last_included_index;
        self.peers[peer] = Some(raft);
        let phase = self.rng.random_range(0..self.config.tick_us);
        let incarnation = self.incarnations[peer];
        self.schedule(self.now_us + phase + 1, Event::Tick { peer, incarnation });
        Ok(())
    }

    fn on_tick(&mut self, peer: usize, incarnation: u64) -> Result<(), Violation> {
        if self.incarnations[peer] != incarnation || self.peers[peer].is_none() {
            return Ok(());
        }
        self.trace.quiet(TICK_TAG, peer as u32, self.now_us);
        self.schedule(
            self.now_us + self.config.tick_us,
            Event::Tick { peer, incarnation },
        );
        self.input(peer, None, Raft::tick).map(|_| ())
    }

    fn on_deliver(
        &mut self,
        from: usize,
        to: usize,
        incarnation: u64,
        message: Message,
    ) -> Result<(), Violation> {
        let now = self.now_us;
        if self.incarnations[to] != incarnation || self.peers[to].is_none() {
            self.trace.event(
                now,
                format_args!("n{from} -> n{to} {} lost (crash)", Compact(&message)),
            );
            return Ok(());
        }
        if self.network.separated(from, to) {
            self.trace.event(
                now,
                format_args!("n{from} -> n{to} {} dropped (partition)", Compact(&message)),
            );
            return Ok(());
        }
        self.trace
            .event(now, format_args!("n{from} -> n{to} {}", Compact(&message)));
        let sender = PeerId(from as u32);
        match message {
            Message::Request(request) => self.input(to, Some(from), |r| {
                r.step_request(sender, request_id(from), request);
            }),
            Message::Reply(reply) => self.input(to, None, |r| r.step_reply(sender, reply)),
        }
        .map(|_| ())
    }

    /// One input to a live peer: run `f`, carry out the Ready, note a role change, check.
    /// `None` if the peer is down.
    pub(crate) fn input<T>(
        &mut self,
        peer: usize,
        reply_to: Option<usize>,
        f: impl FnOnce(&mut Raft) -> T,
    ) -> Result<Option<T>, Violation> {
        let Some(raft) = self.peers[peer].as_mut() else {
            return Ok(None);
        };
        let before = (raft.role(), raft.term());
        let out = f(raft);
        let ready = raft.take_ready();
        let after = (raft.role(), raft.term());
        self.carry_out(peer, reply_to, ready)?;
        if before != after {
            self.note_role(peer, before, after);
        }
        let incarnation = self.incarnations[peer];
        self.checkers
            .after_event(peer, incarnation, &self.peers)
            .map_err(|b| self.violation(b))?;
        Ok(Some(out))
    }

    fn note_role(&mut self, peer: usize, before: (RoleKind, Term), after: (RoleKind, Term)) {
        let (from, to) = (role_name(before.0), role_name(after.0));
        if before.0 == after.0 {
            let line = format_args!("n{peer}@{} {to}, term {} -> {}", after.1, before.1, after.1);
            self.trace.note(self.now_us, line);
        } else {
            self.trace
                .note(self.now_us, format_args!("n{peer}@{} {from} -> {to}", after.1));
        }
    }

    /// Carries out one Ready through [`Ready::carry_out`] (persist: hard state, truncation,
    /// snapshot, entries; then send messages and the reply; then hand the service the
    /// snapshot, if to be applied, and the committed entries), with [`PeerEffects`] checking
    /// each step; then the service may take its own snapshot.
    fn carry_out(&mut self, peer: usize, reply_to: Option<usize>, ready: Ready) -> Result<(), Violation> {
        let term = self.peers[peer].as_ref().map_or(Term::ZERO, Raft::term);
        ready.carry_out(&mut PeerEffects {
            sim: self,
            peer,
            reply_to,
            term,
        })?;
        self.maybe_snapshot(peer)
    }

    /// The service snapshots every `snapshot_every_entries` applied entries.
    fn maybe_snapshot(&mut self, peer: usize) -> Result<(), Violation> {
        let state = self.services[peer];
        if state.applied.0 < self.service_snapshot[peer].0 + self.config.snapshot_every_entries {
            return Ok(());
        }
        let Some(raft) = self.peers[peer].as_mut() else {
            return Ok(());
        };
        self.service_snapshot[peer] = state.applied;
        if raft.snapshot(state.applied, state.encode()).is_err() {
            // Already compacted that far (an installed snapshot): nothing to do.
            return Ok(());
        }
        self.stats.snapshots += 1;
        let ready = raft.take_ready();
        self.trace.note(
            self.now_us,
            format_args!("n{peer} snapshot through {}", state.applied),
        );
        self.carry_out(peer, None, ready)
    }

    /// Puts one message on the network.
    fn send(&mut self, from: usize, to: usize, message: Message) {
        self.stats.messages += 1;
        if to >= self.peers.len() {
            return;
        }
        match self.network.fate(&mut self.rng, from, to) {
            Fate::Dropped => {
                let line = format_args!("n{from} -> n{to} {} dropped", Compact(&message));
                self.trace.note(self.now_us, line);
            }
            Fate::Partitioned => {}
            Fate::Delivered {
                delay_us,
                duplicate_us,
            } => {
                let incarnation = self.incarnations[to];
                if let Some(dup_us) = duplicate_us {
                    let copy = Event::Deliver {
                        from,
                        to,
                        incarnation,
                        message: message.clone(),
                    };
                    self.schedule(self.now_us + dup_us, copy);
                }
                let event = Event::Deliver {
                    from,
                    to,
                    incarnation,
                    message,
                };
                self.schedule(self.now_us + delay_us, event);
            }
        }
    }
}

/// One peer's side of carrying out its Ready in the simulation: the durable model, the
/// network and the service, with the checkers that watch each step (the persistence contract
/// and Log Matching on every append, State Machine Safety and Leader Completeness on every
/// apply). A failed check is the effect's error, and stops the Ready there.
struct PeerEffects<'a> {
    sim: &'a mut Simulation,
    peer: usize,
    /// Who sent the request being stepped, if one was: the reply goes back to it.
    reply_to: Option<usize>,
    /// The peer's term after the input: the term its commits are recorded in.
    term: Term,
}

impl PeerEffects<'_> {
    fn id(&self) -> PeerId {
        PeerId(self.peer as u32)
    }
}

impl Effects for PeerEffects<'_> {
    type Error = Violation;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Violation> {
        self.sim.durable[self.peer].save_hard_state(*hard_state);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Violation> {
        self.sim.durable[self.peer].truncate_suffix(from);
        Ok(())
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Violation> {
        self.sim.durable[self.peer].install_snapshot(snapshot);
        Ok(())
    }

    /// Persists the entries if they continue the durable log (else the persistence contract
    /// is broken), and records them for Log Matching.
    fn append(&mut self, entries: &[Entry]) -> Result<(), Violation> {
        let (id, peer) = (self.id(), self.peer);
        let sim = &mut *self.sim;
        if let Err(gap) = sim.durable[peer].append(entries) {
            let detail = format!(
                "n{peer} asked to persist {} after {}",
                gap.found,
                gap.expected.prev()
            );
            return Err(sim.violation(Breach::new(PERSISTENCE_CONTRACT, detail)));
        }
        sim.checkers
            .matching
            .record_written(id, entries)
            .map_err(|b| sim.violation(b))
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Violation> {
        self.sim.send(self.peer, to.as_usize(), Message::Request(request));
        Ok(())
    }

    /// Sends the reply back to the sender of the request just stepped, which the id names.
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Violation> {
        match self.reply_to {
            Some(to) if request_id(to) == id => {
                self.sim.send(self.peer, to, Message::Reply(reply));
                Ok(())
            }
            _ => {
                let detail = format!("n{} answered request {id:?}, which it was not asked", self.peer);
                Err(self.sim.violation(Breach::new(SIMULATOR, detail)))
            }
        }
    }

    /// Hands the leader's snapshot to the service, checked by State Machine Safety.
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Violation> {
        let (id, peer) = (self.id(), self.peer);
        let sim = &mut *self.sim;
        let state = sim
            .checkers
            .state_machine
            .install(id, sim.services[peer], &snapshot);
        sim.services[peer] = state.map_err(|b| sim.violation(b))?;
        sim.service_snapshot[peer] = snapshot.meta.last_included_index;
        Ok(())
    }

    /// Applies one committed entry, checked by State Machine Safety and recorded for Leader
    /// Completeness; the client learns its command committed.
    fn apply(&mut self, entry: Entry) -> Result<(), Violation> {
        let (id, peer) = (self.id(), self.peer);
        let sim = &mut *self.sim;
        let state = sim.checkers.state_machine.apply(id, sim.services[peer], &entry);
        sim.services[peer] = state.map_err(|b| sim.violation(b))?;
        sim.checkers.completeness.record_committed(&entry, self.term);
        if let Some(cmd) = command_id(&entry.command)
            && sim.client.pending.remove(&cmd).is_some()
        {
            sim.client.committed += 1;
        }
        Ok(())
    }
}

/// The id a request from peer `from` is stepped with: the sender's number, so that its reply
/// finds its way back (one request is stepped per input here).
fn request_id(from: usize) -> RequestId {
    RequestId(from as u64)
}

/// A role's name in the trace.
#[must_use]
pub fn role_name(role: RoleKind) -> &'static str {
    match role {
        RoleKind::Follower => "follower",
        RoleKind::Candidate => "candidate",
        RoleKind::Leader => "leader",
    }
}
