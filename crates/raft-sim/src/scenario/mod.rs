//! Scripted scenarios on virtual time: a cluster, a link matrix that may be one-way
//! ([`Links`]), a script of cuts, heals, crashes and forced timeouts, steady client writes
//! if asked, and assertions with stated bounds in election timeouts. The safety checkers of
//! the safety runs ([`crate::checkers`]) watch every event, as there.
//!
//! A [`Script`] is the world of one scenario and the steps a script takes; [`SCENARIOS`]
//! names every scenario, so that a test, `raft-sim --scenario NAME --seeds N` and
//! `cargo xtask mutants` run the same code. A scenario run is one seed: the seed draws the
//! message delays, the tick phases and the peers' election timeouts; one seed gives one run.
//! A failed assertion or a broken invariant is a [`Failure`] with the trace's tail and the
//! command that replays it.

pub mod production;
pub mod reads;
mod sweep;
pub mod transfer;

use std::fmt;

use raft_core::{Config, PeerId, Raft, ReadId, ReadMode, RoleKind, Term, TransferError};

use crate::checkers::Breach;
pub use crate::config::Switches;
use crate::config::{US_PER_MS, US_PER_S};
use crate::durable::Durable;
use crate::net::Links;
use crate::service::command_bytes;
use crate::sim::{ENTRIES_PER_APPEND_MAX, Replicas, peer_seed};
use crate::world::{Flow, World, WorldConfig};
pub use sweep::{Spread, Summary, SweepReport, sweep};

/// The name of a scenario's own assertion (a bound missed, a term that moved).
pub const SCENARIO_BOUND: &str = "Scenario Bound";
/// Most ticks a forced timeout may take (the longest election timeout is far below it).
const FORCED_TICKS_MAX: u32 = 10_000;
/// The services snapshot every this many entries (a peer back from a cut may need one).
const SNAPSHOT_EVERY_ENTRIES: u64 = 100;
/// Most events one scenario may run: one that never ends is a bug, reported as one.
const EVENTS_MAX: u64 = 20_000_000;

/// What a scripted run is built from. [`ScriptConfig::new`] gives raft-node's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptConfig {
    /// The run's one seed.
    pub seed: u64,
    /// Cluster size.
    pub peers: usize,
    /// Pre-vote and check-quorum.
    pub switches: Switches,
    /// How leaders confirm reads ([`Script::read`]).
    pub reads: ReadMode,
    /// Virtual length of one tick.
    pub tick_us: u64,
    /// Shortest election timeout, in ticks: "ET" in every bound.
    pub election_timeout_ticks_min: u32,
    /// Longest election timeout, in ticks.
    pub election_timeout_ticks_max: u32,
    /// Heartbeat interval, in ticks.
    pub heartbeat_interval_ticks: u32,
    /// Shortest one-way delay.
    pub delay_us_min: u64,
    /// Longest one-way delay.
    pub delay_us_max: u64,
    /// A client command to whoever leads this often (`None`: no writes).
    pub write_every_us: Option<u64>,
    /// Keep every trace line (for a replay).
    pub full_trace: bool,
}

impl ScriptConfig {
    /// `peers` peers with `switches`, raft-node's timing (10 ms ticks, election timeouts of
    /// 300-600 ms, heartbeats every 150 ms), delays of 0.5-10 ms, no writes.
    #[must_use]
    pub fn new(seed: u64, peers: usize, switches: Switches) -> ScriptConfig {
        ScriptConfig {
            seed,
            peers,
            switches,
            reads: ReadMode::ReadIndex,
            tick_us: 10 * US_PER_MS,
            election_timeout_ticks_min: 30,
            election_timeout_ticks_max: 60,
            heartbeat_interval_ticks: 15,
            delay_us_min: US_PER_MS / 2,
            delay_us_max: 10 * US_PER_MS,
            write_every_us: None,
            full_trace: false,
        }
    }

    /// The same, with a client command every `every_us`.
    #[must_use]
    pub fn writing(self, every_us: u64) -> ScriptConfig {
        ScriptConfig {
            write_every_us: Some(every_us),
            ..self
        }
    }
}

/// A driver's cue in the world's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    /// The client writes to whoever leads.
    Write,
}

/// What a scenario measured, from the moment its disturbance began ([`Script::mark`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// How far the highest term of any peer rose.
    pub terms_raised: u64,
    /// How often the leader (the live peer leading in the highest term) changed, a spell
    /// without one included.
    pub leader_changes: u64,
    /// From the disturbance to the last change of leader (0 if it never changed): when the
    /// cluster settled.
    pub settled_after_us: u64,
    /// Client commands committed.
    pub commits: u64,
    /// A time of the scenario's own (a step-down, an election), if it has one.
    pub event_us: Option<u64>,
    /// Reads answered with an index since the mark (every one checked against the commits
    /// seen before it was asked).
    pub reads_served: u64,
}

/// A scenario's assertion failed, or an invariant broke: what, where, and how to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The scenario's name, as in [`SCENARIOS`].
    pub scenario: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// The invariant's name ([`SCENARIO_BOUND`] for the scenario's own assertions).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// Virtual time of the failure.
    pub at_us: u64,
    /// The last trace lines.
    pub trace: Box<[String]>,
    /// Every trace line, if the run kept them.
    pub full_trace: Option<Box<[String]>>,
}

impl Failure {
    /// The command that replays this run with its full trace.
    #[must_use]
    pub fn replay_command(&self) -> String {
        let mutant = raft_core::MUTANT.map_or_else(String::new, |m| format!(" --mutant {m}"));
        format!(
            "cargo xtask sim{mutant} --scenario {} --replay {}",
            self.scenario, self.seed
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "SCENARIO {} FAILED: {} at t={}.{:03}s, seed {}",
            self.scenario,
            self.invariant,
            self.at_us / US_PER_S,
            (self.at_us % US_PER_S) / US_PER_MS,
            self.seed
        )?;
        writeln!(f, "  {}", self.detail)?;
        writeln!(f, "last {} events:", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(f, "replay: {}", self.replay_command())
    }
}

impl std::error::Error for Failure {}

/// One named scenario: what it shows, the switches its claims are about, and the function
/// that runs one seed of it.
#[derive(Clone, Copy, Debug)]
pub struct Named {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it shows, in a line.
    pub what: &'static str,
    /// The switches it runs with; with others (a contrast) it checks only safety and
    /// measures.
    pub switches: Switches,
    /// Runs one seed with the given switches (`full_trace`: keep every trace line, for a
    /// replay).
    pub run: fn(seed: u64, switches: Switches, full_trace: bool) -> Result<Figures, Failure>,
}

impl Named {
    /// One seed with the scenario's own switches.
    ///
    /// # Errors
    /// The [`Failure`] of a claim or an invariant.
    pub fn run_seed(&self, seed: u64) -> Result<Figures, Failure> {
        (self.run)(seed, self.switches, false)
    }
}

/// Every scenario, in the order of the reference's section 8.
pub const SCENARIOS: &[Named] = production::SCENARIOS;

/// The scenario named `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Named> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Every scenario's name, for error messages.
#[must_use]
pub fn names() -> String {
    SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

/// What the script saw of leaders and terms since its mark.
#[derive(Clone, Copy, Debug, Default)]
struct Watch {
    mark_us: u64,
    term_at_mark: Term,
    term_max: Term,
    leader: Option<(PeerId, Term)>,
    leader_changes: u64,
    changed_at_us: u64,
    commits_at_mark: u64,
    reads_served_at_mark: u64,
}

/// The world of one scenario, and the steps its script takes.
#[derive(Debug)]
pub struct Script {
    name: &'static str,
    config: ScriptConfig,
    world: World<Links, Replicas, Durable, Cue>,
    watch: Watch,
}

impl Script {
    /// Every peer started fresh at time zero; the first write scheduled if the config writes.
    ///
    /// # Errors
    /// A [`Failure`] if a peer cannot start.
    pub fn new(name: &'static str, config: ScriptConfig) -> Result<Script, Failure> {
        let n = config.peers;
        let world_config = WorldConfig {
            full_trace: config.full_trace,
            ..WorldConfig::new(n, config.seed, config.tick_us)
        };
        let links = Links::new(n, config.seed, config.delay_us_min, config.delay_us_max);
        let world = World::new(
            world_config,
            links,
            Replicas::new(n, SNAPSHOT_EVERY_ENTRIES),
            vec![Durable::default(); n],
        );
        let mut script = Script {
            name,
            config,
            world,
            watch: Watch::default(),
        };
        for i in 0..n {
            script.start(i)?;
        }
        if let Some(every) = config.write_every_us {
            script
                .world
                .schedule(every, Cue::Write)
                .map_err(|b| script.broke(b))?;
        }
        Ok(script)
    }

    /// One shortest election timeout, in virtual microseconds: the unit of every bound.
    #[must_use]
    pub fn et_us(&self) -> u64 {
        self.config.tick_us * u64::from(self.config.election_timeout_ticks_min)
    }

    /// One tick, in virtual microseconds.
    #[must_use]
    pub fn tick_us(&self) -> u64 {
        self.config.tick_us
    }

    /// The longest one-way delay of a message, in virtual microseconds.
    #[must_use]
    pub fn delay_max_us(&self) -> u64 {
        self.config.delay_us_max
    }

    /// One heartbeat interval, in virtual microseconds.
    #[must_use]
    pub fn heartbeat_us(&self) -> u64 {
        self.config.tick_us * u64::from(self.config.heartbeat_interval_ticks)
    }

    /// Virtual time now.
    #[must_use]
    pub fn now_us(&self) -> u64 {
        self.world.now_us()
    }

    /// Node `i`'s state machine (`None` while crashed).
    #[must_use]
    pub fn raft(&self, i: usize) -> Option<&Raft> {
        self.world.rafts()[i].as_ref()
    }

    /// The live peer leading in the highest term, if any.
    #[must_use]
    pub fn leader(&self) -> Option<PeerId> {
        self.world.leader()
    }

    /// The highest term of any live peer.
    #[must_use]
    pub fn term_max(&self) -> Term {
        term_max(self.world.rafts())
    }

    /// Client commands committed so far.
    #[must_use]
    pub fn commits(&self) -> u64 {
        self.world.service().client.committed
    }

    /// The link matrix, to cut and heal.
    pub fn links(&mut self) -> &mut Links {
        self.world.net_mut()
    }

    /// Records a step of the script in the trace.
    pub fn note(&mut self, text: &str) {
        self.world.note(text.to_owned());
    }

    /// The raft-core config of node `i`'s next incarnation.
    fn peer_config(&self, i: usize) -> Config {
        let c = &self.config;
        Config {
            election_timeout_ticks_min: c.election_timeout_ticks_min,
            election_timeout_ticks_max: c.election_timeout_ticks_max,
            heartbeat_interval_ticks: c.heartbeat_interval_ticks,
            entries_per_append_max: ENTRIES_PER_APPEND_MAX,
            append_bytes_max: Config::APPEND_BYTES_MAX_DEFAULT,
            send_before_write: true,
            pre_vote: c.switches.pre_vote,
            check_quorum: c.switches.check_quorum,
            reads: c.reads,
            ..Config::new(
                PeerId(i as u32),
                (0..c.peers).map(|p| PeerId(p as u32)).collect(),
                peer_seed(c.seed, i, self.world.incarnation(i)),
            )
        }
    }

    /// Starts node `i` from its durable state; the checkers learn it restarted (its commit
    /// index starts again from its snapshot, its term must not be below the last seen).
    fn start(&mut self, i: usize) -> Result<(), Failure> {
        let config = self.peer_config(i);
        self.world.start(i, config).map_err(|b| self.broke(b))?;
        let (service, rafts) = self.world.service_and_rafts();
        let Some(raft) = rafts[i].as_ref() else {
            return Ok(());
        };
        service.checkers.commits.restart(raft);
        let observed = service.checkers.terms.observe(raft);
        observed.map_err(|b| self.broke(b))
    }

    /// `Start(command)` on node `i` with a new client command: its index and term if it
    /// leads, `None` if it refused.
    ///
    /// # Errors
    /// A [`Failure`] if carrying out the proposal breaks an invariant.
    pub fn propose(&mut self, i: usize) -> Result<Option<(raft_core::LogIndex, Term)>, Failure> {
        let client = &mut self.world.service_mut().client;
        client.next_id += 1;
        let id = client.next_id;
        let proposed = self
            .world
            .propose(i, command_bytes(id))
            .map_err(|b| self.broke(b))?;
        if proposed.is_some() {
            let now = self.now_us();
            self.world.service_mut().client.pending.insert(id, Some(now));
        }
        Ok(proposed)
    }

    /// Asks node `i` for a read: its id if it took it (it leads), `None` if it refused. The
    /// outcome is checked when it comes ([`crate::checkers::ReadsSeeWrites`]): an index below
    /// a commit seen before now, or past what the node applied, fails the run.
    ///
    /// # Errors
    /// A [`Failure`] if carrying out the read breaks an invariant.
    pub fn read(&mut self, i: usize) -> Result<Option<ReadId>, Failure> {
        let client = &mut self.world.service_mut().client;
        client.next_id += 1;
        let id = ReadId(client.next_id);
        self.world.service_mut().checkers.reads.asked(i, id);
        let taken = self.world.input(i, None, |raft| raft.read(id));
        match taken.map_err(|b| self.broke(b))? {
            Some(Ok(())) => Ok(Some(id)),
            _ => {
                self.world.service_mut().checkers.reads.refused(id);
                Ok(None)
            }
        }
    }

    /// Reads answered with an index so far.
    #[must_use]
    pub fn reads_served(&self) -> u64 {
        self.world.service().checkers.reads.served
    }

    /// Reads asked and not yet decided, of node `i`.
    #[must_use]
    pub fn reads_waiting(&self, i: usize) -> usize {
        self.world.service().checkers.reads.waiting(i)
    }

    /// Node `i`'s clock runs at a rate of its own from its next tick: one tick every
    /// `tick_us` (clock drift).
    pub fn set_tick_us(&mut self, i: usize, tick_us: u64) {
        self.note(&format!("n{i}: one tick every {tick_us} us"));
        self.world.set_tick_us(i, tick_us);
    }

    /// Crashes node `i`: it keeps only its durable state.
    pub fn crash(&mut self, i: usize) {
        if self.world.stop(i).is_some() {
            self.world.service_mut().checkers.crashed(PeerId(i as u32));
        }
    }

    /// Restarts node `i` from `durable` (its own durable state, or one the script made up:
    /// a peer that comes back from a long absence at a higher term, say).
    ///
    /// # Errors
    /// A [`Failure`] if it cannot start from it.
    pub fn restart_with(&mut self, i: usize, durable: Durable) -> Result<(), Failure> {
        self.crash(i);
        self.world.set_store(i, durable);
        self.start(i)
    }

    /// Node `i`'s durable state.
    #[must_use]
    pub fn durable(&self, i: usize) -> Durable {
        self.world.store(i).clone()
    }

    /// Node `i`'s election timer runs out now (its clock jumps ahead, as if it had missed
    /// heartbeats for a whole timeout): ticked in one input until it stops being a follower.
    ///
    /// # Errors
    /// A [`Failure`] if the input breaks an invariant.
    pub fn force_timeout(&mut self, i: usize) -> Result<(), Failure> {
        self.note(&format!("n{i}: election timer forced to run out"));
        let ran = self.world.input(i, None, |raft| {
            for _ in 0..FORCED_TICKS_MAX {
                if raft.role() != RoleKind::Follower {
                    return;
                }
                raft.tick();
            }
        });
        ran.map(drop).map_err(|b| self.broke(b))
    }

    /// Asks node `i` to hand leadership to node `target` now ([`Raft::transfer_leadership`]).
    /// A crashed node answers as a follower that knows no leader.
    ///
    /// # Errors
    /// A [`Failure`] if the input breaks an invariant.
    pub fn transfer_leadership(
        &mut self,
        i: usize,
        target: usize,
    ) -> Result<Result<(), TransferError>, Failure> {
        self.note(&format!("n{i}: transfer leadership to n{target}"));
        let ran = self
            .world
            .input(i, None, |raft| raft.transfer_leadership(PeerId(target as u32)));
        let answer = ran.map_err(|b| self.broke(b))?;
        Ok(answer.unwrap_or(Err(TransferError::NotLeader { leader_hint: None })))
    }

    /// Starts counting what [`Script::figures`] reports from now: the disturbance begins.
    pub fn mark(&mut self) {
        let rafts = self.world.rafts();
        self.watch = Watch {
            mark_us: self.world.now_us(),
            term_at_mark: term_max(rafts),
            term_max: term_max(rafts),
            leader: leader_with_term(rafts),
            leader_changes: 0,
            changed_at_us: self.world.now_us(),
            commits_at_mark: self.world.service().client.committed,
            reads_served_at_mark: self.world.service().checkers.reads.served,
        };
    }

    /// What happened since the mark.
    #[must_use]
    pub fn figures(&self) -> Figures {
        let w = &self.watch;
        Figures {
            terms_raised: w.term_max.0 - w.term_at_mark.0,
            leader_changes: w.leader_changes,
            settled_after_us: if w.leader_changes == 0 {
                0
            } else {
                w.changed_at_us - w.mark_us
            },
            commits: self.commits() - w.commits_at_mark,
            event_us: None,
            reads_served: self.reads_served() - w.reads_served_at_mark,
        }
    }

    /// Runs for `us` of virtual time.
    ///
    /// # Errors
    /// A [`Failure`] if an invariant breaks.
    pub fn run_for(&mut self, us: u64) -> Result<(), Failure> {
        self.run_until(self.now_us() + us, |_| false).map(drop)
    }

    /// Runs until `done` holds of the nodes (checked after every event) or `deadline_us`;
    /// the time it first held, if it did.
    ///
    /// # Errors
    /// A [`Failure`] if an invariant breaks.
    pub fn run_until(
        &mut self,
        deadline_us: u64,
        done: impl Fn(&[Option<Raft>]) -> bool,
    ) -> Result<Option<u64>, Failure> {
        if done(self.world.rafts()) {
            return Ok(Some(self.now_us()));
        }
        let every = self.config.write_every_us;
        let watch = &mut self.watch;
        let mut held = None;
        self.world.run_until_with(deadline_us, |world, cue| {
            if let Some(Cue::Write) = cue {
                write(world, every);
            }
            observe(watch, world);
            if world.trace().events() > EVENTS_MAX {
                world.set_fault(Breach::new(
                    SCENARIO_BOUND,
                    format!("more than {EVENTS_MAX} events"),
                ));
            }
            if done(world.rafts()) {
                held = Some(world.now_us());
                return Flow::Stop;
            }
            Flow::Continue
        });
        match self.world.fault().cloned() {
            Some(breach) => Err(self.broke(breach)),
            None => Ok(held),
        }
    }

    /// Runs until a leader leads in the highest term and every live peer follows it, within
    /// `bound_us`; that leader.
    ///
    /// # Errors
    /// A [`Failure`] if none does within the bound, or an invariant breaks.
    pub fn elect(&mut self, bound_us: u64) -> Result<PeerId, Failure> {
        let deadline = self.now_us() + bound_us;
        self.run_until(deadline, settled)?;
        match self.leader().filter(|_| settled(self.world.rafts())) {
            Some(leader) => Ok(leader),
            None => Err(self.fail(format!(
                "no leader followed by every live peer within {} ms",
                bound_us / US_PER_MS
            ))),
        }
    }

    /// A failure of the scenario's own assertion, now.
    #[must_use]
    pub fn fail(&self, detail: String) -> Failure {
        self.broke(Breach::new(SCENARIO_BOUND, detail))
    }

    /// Checks `ok`, or fails with `detail`.
    ///
    /// # Errors
    /// The [`Failure`] if `ok` is false.
    pub fn check(&self, ok: bool, detail: impl FnOnce() -> String) -> Result<(), Failure> {
        if ok { Ok(()) } else { Err(self.fail(detail())) }
    }

    fn broke(&self, breach: Breach) -> Failure {
        Failure {
            scenario: self.name,
            seed: self.config.seed,
            invariant: breach.invariant,
            detail: breach.detail,
            at_us: self.now_us(),
            trace: self.world.trace().tail().into_boxed_slice(),
            full_trace: self.world.trace().full().map(Into::into),
        }
    }
}

/// True once a live peer leads in the highest term and every live peer knows it.
fn settled(rafts: &[Option<Raft>]) -> bool {
    let Some((leader, term)) = leader_with_term(rafts) else {
        return false;
    };
    term == term_max(rafts) && rafts.iter().flatten().all(|r| r.leader_id() == Some(leader))
}

fn term_max(rafts: &[Option<Raft>]) -> Term {
    rafts.iter().flatten().map(Raft::term).max().unwrap_or(Term::ZERO)
}

/// The live peer leading in the highest term, with that term.
fn leader_with_term(rafts: &[Option<Raft>]) -> Option<(PeerId, Term)> {
    rafts
        .iter()
        .flatten()
        .filter(|r| r.is_leader())
        .max_by_key(|r| r.term())
        .map(|r| (r.id(), r.term()))
}

fn observe(watch: &mut Watch, world: &World<Links, Replicas, Durable, Cue>) {
    let rafts = world.rafts();
    watch.term_max = watch.term_max.max(term_max(rafts));
    let leader = leader_with_term(rafts);
    if leader != watch.leader {
        watch.leader = leader;
        watch.leader_changes += 1;
        watch.changed_at_us = world.now_us();
    }
}

/// The client's cue: a new command to the leader, if there is one, and the next cue.
fn write(world: &mut World<Links, Replicas, Durable, Cue>, every_us: Option<u64>) {
    let Some(every) = every_us else {
        return;
    };
    if let Err(b) = world.schedule(world.now_us() + every, Cue::Write) {
        world.set_fault(b);
        return;
    }
    let Some(leader) = world.leader() else {
        return;
    };
    let client = &mut world.service_mut().client;
    client.next_id += 1;
    let id = client.next_id;
    match world.propose(leader.as_usize(), command_bytes(id)) {
        Ok(Some(_)) => {
            let now = world.now_us();
            world.service_mut().client.pending.insert(id, Some(now));
        }
        Ok(None) => {}
        Err(b) => world.set_fault(b),
    }
}
