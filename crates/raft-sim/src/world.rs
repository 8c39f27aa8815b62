//! The one deterministic world every simulated suite runs in: a virtual clock, one event
//! queue, a network model, and nodes, each a raft-core peer with its durable model and the
//! service above it.
//!
//! - Time is virtual (microseconds) and moves only from event to event.
//! - A node is a [`Raft`] restored from its [`Store`] (the durable model: a crash keeps only
//!   it), ticked every `tick_us`, each input's [`raft_core::Ready`] carried out by
//!   [`raft_core::Ready::carry_out`] (the code raft-node runs) through `NodeEffects`, the one
//!   [`raft_core::Effects`] of the simulator: persist into the store, send through the network model,
//!   hand committed entries to the [`Service`].
//! - The network model ([`Network`]) decides every message's fate; the world queues what
//!   arrives and, at arrival, hands requests to the receiver and replies to the caller.
//! - A driver (the safety runs' nemesis and client, the 6.824 harness's tasks) adds its own
//!   events to the same queue ([`Event::Driver`]) and acts between events: one at a time
//!   ([`World::step`]), or through a hook run after every event ([`World::run_until_with`]:
//!   a clerk's call arrives, a server answers, and the hook may stop the run there, so that
//!   the task waiting for that answer resumes at that instant).
//!
//! A node's instance number (its incarnation) tags its ticks, its calls and the replies to
//! them: a crash or restart makes everything addressed to the old instance stale, as a killed
//! raft-node loop drops it. Nothing here reads a clock or a global RNG: a seed fixes the run.

use std::panic::{AssertUnwindSafe, catch_unwind};

use raft_core::message::{Reply, Request, RequestId};
use raft_core::{Config, LogIndex, PeerId, Raft, RoleKind, Term};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::checkers::Breach;
use crate::durable::Store;
use crate::net::Network;
use crate::queue::EventQueue;
use crate::service::{Service, SnapshotRequest};
use crate::trace::{Fate, Lost, Msg, Trace, TraceEvent};

/// The most events one instant of virtual time may hold. Zero-delay networks deliver at
/// once, so peers that answer each other forever (a livelock only a broken rule causes)
/// would stop the clock; past this bound the run fails instead of hanging.
pub const EVENTS_PER_INSTANT_MAX: u64 = 200_000;
/// The name of a run that broke the world's own bounds (a livelock, a message storm).
pub const SIMULATOR: &str = "Simulator";
/// The name of a broken persistence contract (a Ready whose writes the store refused).
pub const PERSISTENCE_CONTRACT: &str = "Persistence Contract";
/// Mixed into the seed for the tick-phase RNG (kept apart from the network's draws, so a
/// restart does not shift them).
const PHASE_SEED: u64 = 0x0070_6861_7365;
/// Trace tag of a refused proposal (hashed, not kept as a line).
const REFUSED_TAG: u64 = 0x7265_6675;
/// Trace tag of a tick (hashed, not kept as a line).
const TICK_TAG: u64 = 0x7469_636b;

/// When a node's first tick falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickPhase {
    /// A random phase in `1..=tick_us` after its start: peers start at different instants in
    /// real life, and this keeps their ticks apart.
    Random,
    /// Exactly one tick after its start: every node started together ticks together, in id
    /// order (a measurement of the bare state machine's pace).
    Aligned,
}

/// What the world is built from.
#[derive(Clone, Copy, Debug)]
pub struct WorldConfig {
    /// How many nodes.
    pub nodes: usize,
    /// The seed of the world's own draws (tick phases).
    pub seed: u64,
    /// Virtual length of one `tick()`.
    pub tick_us: u64,
    /// When a started node's first tick falls.
    pub phase: TickPhase,
    /// Keep every trace line as text (for a replay), not only the last ones.
    pub full_trace: bool,
}

impl WorldConfig {
    /// `nodes` nodes ticked every `tick_us`, at random phases, keeping only the trace's tail.
    #[must_use]
    pub fn new(nodes: usize, seed: u64, tick_us: u64) -> WorldConfig {
        WorldConfig {
            nodes,
            seed,
            tick_us,
            phase: TickPhase::Random,
            full_trace: false,
        }
    }

    /// The same, every node ticking exactly one tick after its start (see [`TickPhase::Aligned`]).
    #[must_use]
    pub fn aligned(self) -> WorldConfig {
        WorldConfig {
            phase: TickPhase::Aligned,
            ..self
        }
    }
}

/// A call being answered: who made it (node and instance) and what the network keeps of it.
#[derive(Clone, Copy, Debug)]
pub struct Caller<C> {
    /// The calling node.
    pub node: usize,
    /// Its instance when it called.
    pub incarnation: u64,
    /// The network model's record of the call.
    pub call: C,
}

/// Something that happens at a virtual time.
#[derive(Clone, Debug)]
pub enum Event<C, X> {
    /// A node's tick timer fires (stale once that instance stopped).
    Tick {
        /// The node.
        node: usize,
        /// The instance the timer belongs to.
        incarnation: u64,
    },
    /// A request reaches `to`'s instance `incarnation`.
    Request {
        /// The caller.
        caller: Caller<C>,
        /// The receiver.
        to: usize,
        /// The receiver's instance when the request left.
        incarnation: u64,
        /// The request.
        message: Request,
    },
    /// A reply from `from` reaches its caller.
    Reply {
        /// The node that answered.
        from: usize,
        /// The call answered.
        caller: Caller<C>,
        /// The reply.
        message: Reply,
    },
    /// The service asked its node to snapshot (raft-node queues this as an event too).
    Snapshot {
        /// The node.
        node: usize,
        /// The instance asked.
        incarnation: u64,
        /// The index the snapshot covers.
        index: LogIndex,
        /// The service's state through it.
        data: Vec<u8>,
    },
    /// An event of the driver's own (a client action, a fault), handed back by [`World::step`].
    Driver(X),
}

/// What one [`World::step`] did.
#[derive(Debug)]
pub enum Step<X> {
    /// Nothing was waiting.
    Idle,
    /// An event of the world ran.
    Ran,
    /// A driver's event came due: the driver acts on it.
    Driver(X),
}

/// What a driver's hook tells [`World::run_until_with`] after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Run the next event due.
    Continue,
    /// Return now, the clock at the event just run (a task waiting for it resumes there).
    Stop,
}

/// The world: clock, queue, network, nodes, service, trace.
#[derive(Debug)]
pub struct World<N: Network, S, D, X = ()> {
    pub(crate) now_us: u64,
    queue: EventQueue<Event<N::Call, X>>,
    rafts: Vec<Option<Raft>>,
    incarnations: Vec<u64>,
    pub(crate) stores: Vec<D>,
    net: N,
    pub(crate) service: S,
    pub(crate) trace: Trace,
    /// Each node's tick length: its clock's rate (drift: [`World::set_tick_us`]).
    tick_us: Vec<u64>,
    phase: TickPhase,
    phase_rng: SmallRng,
    /// The instant of the last event run, and how many ran at it (the livelock bound).
    instant_us: u64,
    at_this_instant: u64,
    /// Messages handed to the network (before its decisions).
    messages_sent: u64,
    /// Snapshots the nodes took at their service's request.
    snapshots_taken: u64,
    /// The id the next request handed to a node is stepped with.
    next_request_id: u64,
    /// The first failure [`World::run_until`] met: the driver fails with it.
    fault: Option<Breach>,
}

impl<N: Network, S: Service, D: Store, X> World<N, S, D, X> {
    /// A world of stopped nodes at time zero, each with its store.
    ///
    /// # Panics
    /// If `stores` does not hold one store per node (a driver's bug).
    #[must_use]
    pub fn new(config: WorldConfig, net: N, service: S, stores: Vec<D>) -> Self {
        assert_eq!(stores.len(), config.nodes, "one store per node");
        World {
            now_us: 0,
            queue: EventQueue::default(),
            rafts: (0..config.nodes).map(|_| None).collect(),
            incarnations: vec![0; config.nodes],
            stores,
            net,
            service,
            trace: Trace::new(config.full_trace),
            tick_us: vec![config.tick_us; config.nodes],
            phase: config.phase,
            phase_rng: SmallRng::seed_from_u64(config.seed ^ PHASE_SEED),
            instant_us: 0,
            at_this_instant: 0,
            messages_sent: 0,
            snapshots_taken: 0,
            next_request_id: 0,
            fault: None,
        }
    }

    /// Virtual time now.
    #[must_use]
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The nodes' state machines (`None` while stopped).
    #[must_use]
    pub fn rafts(&self) -> &[Option<Raft>] {
        &self.rafts
    }

    /// True if node `i` runs.
    #[must_use]
    pub fn running(&self, i: usize) -> bool {
        self.rafts[i].is_some()
    }

    /// Node `i`'s instance number (0 before its first start).
    #[must_use]
    pub fn incarnation(&self, i: usize) -> u64 {
        self.incarnations[i]
    }

    /// The running node that leads in the highest term, if any.
    #[must_use]
    pub fn leader(&self) -> Option<PeerId> {
        self.rafts
            .iter()
            .flatten()
            .filter(|r| r.is_leader())
            .max_by_key(|r| r.term())
            .map(Raft::id)
    }

    /// The network model.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The network model, to change its faults.
    pub fn net_mut(&mut self) -> &mut N {
        &mut self.net
    }

    /// The service above the nodes.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The service above the nodes, for its driver.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// The service and the nodes' state machines together (a checker's look at both).
    pub fn service_and_rafts(&mut self) -> (&mut S, &[Option<Raft>]) {
        (&mut self.service, &self.rafts)
    }

    /// Node `i`'s durable model.
    pub fn store(&self, i: usize) -> &D {
        &self.stores[i]
    }

    /// Node `i`'s durable model, for a driver that models a lossy runtime.
    pub fn store_mut(&mut self, i: usize) -> &mut D {
        &mut self.stores[i]
    }

    /// Gives node `i` another store (the 6.824 harness hands each start a copy).
    pub fn set_store(&mut self, i: usize, store: D) {
        self.stores[i] = store;
    }

    /// The trace so far.
    #[must_use]
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The trace, to take its lines.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// Records a driver's action in the trace.
    pub fn note(&mut self, text: String) {
        self.trace.record(self.now_us, TraceEvent::Note(text));
    }

    /// Messages handed to the network so far.
    #[must_use]
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent
    }

    /// Snapshots taken at a service's request so far.
    #[must_use]
    pub fn snapshots_taken(&self) -> u64 {
        self.snapshots_taken
    }

    /// The first failure [`World::run_until`] met, if any.
    #[must_use]
    pub fn fault(&self) -> Option<&Breach> {
        self.fault.as_ref()
    }

    /// Records a failure for the driver (the first one stays).
    pub fn set_fault(&mut self, breach: Breach) {
        self.fault.get_or_insert(breach);
    }

    /// The time of the next event.
    #[must_use]
    pub fn peek_time(&self) -> Option<u64> {
        self.queue.peek_time()
    }

    /// The next event and its time.
    #[must_use]
    pub fn peek(&self) -> Option<(u64, &Event<N::Call, X>)> {
        self.queue.peek()
    }

    /// Schedules a driver's event at `at_us`.
    ///
    /// # Errors
    /// A [`SIMULATOR`] breach if the queue is full (a message storm).
    pub fn schedule(&mut self, at_us: u64, event: X) -> Result<(), Breach> {
        self.push(at_us, Event::Driver(event))
    }

    fn push(&mut self, at_us: u64, event: Event<N::Call, X>) -> Result<(), Breach> {
        if self.queue.push(at_us, event) {
            Ok(())
        } else {
            let detail = format!(
                "message storm: over {} events pending",
                crate::queue::QUEUE_EVENTS_MAX
            );
            Err(Breach::new(SIMULATOR, detail))
        }
    }

    /// Moves the clock to `at_us` without running anything (a driver's pause); never back.
    pub fn advance_to(&mut self, at_us: u64) {
        self.now_us = self.now_us.max(at_us);
    }

    /// Takes every event due at the earliest time and queues `f` of each again (`None`
    /// drops it): a driver's lossy links.
    ///
    /// # Errors
    /// A [`SIMULATOR`] breach if the queue is full.
    pub fn map_due(
        &mut self,
        mut f: impl FnMut(Event<N::Call, X>) -> Option<Event<N::Call, X>>,
    ) -> Result<(), Breach> {
        let Some(at_us) = self.queue.peek_time() else {
            return Ok(());
        };
        let mut due = Vec::new();
        while self.queue.peek_time() == Some(at_us) {
            if let Some((_, event)) = self.queue.pop() {
                due.push(event);
            }
        }
        for event in due {
            if let Some(event) = f(event) {
                self.push(at_us, event)?;
            }
        }
        Ok(())
    }

    /// Node `i`'s clock runs at a rate of its own from its next tick on: one tick every
    /// `tick_us` of virtual time (clock drift: a lease that trusts clocks too much is caught
    /// by giving its leader a slower clock than its voters').
    pub fn set_tick_us(&mut self, i: usize, tick_us: u64) {
        self.tick_us[i] = tick_us.max(1);
    }

    /// Node `i`'s tick length.
    #[must_use]
    pub fn tick_us(&self, i: usize) -> u64 {
        self.tick_us[i]
    }

    /// Starts node `i` from its store with `config`: its service restarts from the persisted
    /// snapshot, and its first tick is scheduled.
    ///
    /// # Errors
    /// The store's or the service's breach if the node cannot be restored.
    pub fn start(&mut self, i: usize, config: Config) -> Result<(), Breach> {
        let restored = self.stores[i].restored()?;
        let snapshot = restored.snapshot.clone();
        let raft = Raft::restore(config, restored).map_err(|e| {
            let detail = format!("n{i} cannot restart from its durable state: {e}");
            Breach::new(crate::checkers::PersistedSurvivesCrash::NAME, detail)
        })?;
        let note = format!(
            "start n{i}@{} log={} commit={}",
            raft.term(),
            raft.log().last_index(),
            raft.commit_index()
        );
        self.incarnations[i] += 1;
        self.rafts[i] = Some(raft);
        self.net.started(i);
        self.service.restart(i, snapshot.as_ref())?;
        let phase = match self.phase {
            TickPhase::Random => self.phase_rng.random_range(1..=self.tick_us[i]),
            TickPhase::Aligned => self.tick_us[i],
        };
        let incarnation = self.incarnations[i];
        self.push(self.now_us + phase, Event::Tick { node: i, incarnation })?;
        self.note(note);
        Ok(())
    }

    /// Stops node `i` (a crash, or the harness's kill): everything addressed to this instance
    /// is lost. Returns its last state machine, if it ran.
    pub fn stop(&mut self, i: usize) -> Option<Raft> {
        let raft = self.rafts[i].take()?;
        self.net.stopped(i);
        self.note(format!("crash n{i}@{} {}", raft.term(), role_name(raft.role())));
        Some(raft)
    }

    /// `Start(command)` on node `i`: proposed now, its Ready carried out before returning.
    /// The index and term if it leads; `None` if it is stopped or refused.
    ///
    /// # Errors
    /// The first breach carrying out the Ready met.
    pub fn propose(&mut self, i: usize, command: Vec<u8>) -> Result<Option<(LogIndex, Term)>, Breach> {
        let result = self.input(i, None, |raft| raft.propose(command).ok())?.flatten();
        match result {
            Some((index, term)) => {
                let (index, term) = (index.0, term.0);
                let event = TraceEvent::Propose { node: i, index, term };
                self.trace.record(self.now_us, event);
            }
            // A refusal changes nothing: hashed, not kept as a line (clients that try every
            // peer would fill a report with them).
            None => self.trace.mix(&[self.now_us, REFUSED_TAG, i as u64]),
        }
        Ok(result)
    }

    /// Runs the next event. A driver's event is handed back for the driver to act on.
    ///
    /// # Errors
    /// The first breach the event met (a store's, the service's, the world's own bounds).
    pub fn step(&mut self) -> Result<Step<X>, Breach> {
        let Some((at_us, event)) = self.queue.pop() else {
            return Ok(Step::Idle);
        };
        if at_us == self.instant_us {
            self.at_this_instant += 1;
            if self.at_this_instant > EVENTS_PER_INSTANT_MAX {
                let detail = format!(
                    "livelock: over {EVENTS_PER_INSTANT_MAX} events at {:.6} s of virtual time without time passing",
                    self.now_us as f64 / 1e6
                );
                return Err(Breach::new(SIMULATOR, detail));
            }
        } else {
            self.instant_us = at_us;
            self.at_this_instant = 0;
        }
        self.now_us = self.now_us.max(at_us);
        self.trace.count();
        match event {
            Event::Tick { node, incarnation } => self.on_tick(node, incarnation)?,
            Event::Request {
                caller,
                to,
                incarnation,
                message,
            } => self.on_request(caller, to, incarnation, message)?,
            Event::Reply {
                from,
                caller,
                message,
            } => self.on_reply(from, caller, message)?,
            Event::Snapshot {
                node,
                incarnation,
                index,
                data,
            } => self.on_snapshot(node, incarnation, index, data)?,
            Event::Driver(x) => return Ok(Step::Driver(x)),
        }
        Ok(Step::Ran)
    }

    /// Runs every event due at or before `until_us`, then sets the clock to it; stops at the
    /// first failure, kept in [`World::fault`] (a panic inside a peer, a broken invariant of
    /// raft-core, counts as one). A driver's event due meanwhile is dropped: drivers with
    /// events of their own use [`World::run_until_with`] or [`World::step`].
    pub fn run_until(&mut self, until_us: u64) {
        self.run_until_with(until_us, |_, _| Flow::Continue);
    }

    /// As [`World::run_until`], but after every event it runs, `after(self, driver_event)` is
    /// called: `Some(x)` for a driver's event that came due, `None` for the world's own.
    /// [`Flow::Stop`] returns at once, the clock at that event (not moved to `until_us`).
    ///
    /// Stopping early leaves the world as it is between two events: the next call runs the
    /// next event not run yet, so stopping and going on runs the same events, in the same
    /// order, as not stopping. A failure of the event or a panic in it or in `after` is kept
    /// in [`World::fault`] and stops the run, as in [`World::run_until`] (`after` is not
    /// called for an event that failed).
    pub fn run_until_with(&mut self, until_us: u64, mut after: impl FnMut(&mut Self, Option<X>) -> Flow) {
        while self.fault.is_none() && self.queue.peek_time().is_some_and(|at| at <= until_us) {
            let ran = catch_unwind(AssertUnwindSafe(|| match self.step()? {
                Step::Idle => Ok(Flow::Continue),
                Step::Ran => Ok(after(self, None)),
                Step::Driver(x) => Ok(after(self, Some(x))),
            }));
            match ran {
                Ok(Ok(Flow::Continue)) => {}
                Ok(Ok(Flow::Stop)) => return,
                Ok(Err(breach)) => self.set_fault(breach),
                Err(payload) => {
                    let detail = crate::tasks::panic_message(payload.as_ref());
                    self.set_fault(Breach::new("Peer Assertion", detail));
                }
            }
        }
        if self.fault.is_none() {
            self.advance_to(until_us);
        }
    }

    fn is_current(&self, i: usize, incarnation: u64) -> bool {
        self.rafts[i].is_some() && self.incarnations[i] == incarnation
    }

    fn on_tick(&mut self, node: usize, incarnation: u64) -> Result<(), Breach> {
        if !self.is_current(node, incarnation) {
            return Ok(());
        }
        self.trace.mix(&[self.now_us, TICK_TAG, node as u64]);
        self.input(node, None, Raft::tick)?;
        self.push(
            self.now_us + self.tick_us[node],
            Event::Tick { node, incarnation },
        )
    }

    /// A request arrives: lost if its receiver's instance is gone or the network says so at
    /// arrival; else the receiver handles it and its Ready's reply answers the caller.
    fn on_request(
        &mut self,
        caller: Caller<N::Call>,
        to: usize,
        incarnation: u64,
        message: Request,
    ) -> Result<(), Breach> {
        let from = caller.node;
        let msg = Msg::of_request(&message);
        if !self.is_current(to, incarnation) {
            let why = Lost::Crash;
            self.trace
                .record(self.now_us, TraceEvent::Lost { from, to, msg, why });
            return Ok(());
        }
        if !self.net.arrive_request(from, to, caller.call) {
            let why = Lost::Network;
            self.trace
                .record(self.now_us, TraceEvent::Lost { from, to, msg, why });
            return Ok(());
        }
        self.trace
            .record(self.now_us, TraceEvent::Deliver { from, to, msg });
        self.next_request_id += 1;
        let id = RequestId(self.next_request_id);
        self.input(to, Some((id, caller)), |raft| {
            raft.step_request(peer_id(from), id, message);
        })?;
        Ok(())
    }

    /// A reply arrives: handed to its caller if that instance still runs.
    fn on_reply(&mut self, from: usize, caller: Caller<N::Call>, message: Reply) -> Result<(), Breach> {
        let to = caller.node;
        let msg = Msg::of_reply(&message);
        let arrived = self.net.arrive_reply(from, to, caller.call, &message);
        let lost = if !self.is_current(to, caller.incarnation) {
            Some(Lost::Crash)
        } else {
            (!arrived).then_some(Lost::Network)
        };
        if let Some(why) = lost {
            self.trace
                .record(self.now_us, TraceEvent::Lost { from, to, msg, why });
            return Ok(());
        }
        self.trace
            .record(self.now_us, TraceEvent::Deliver { from, to, msg });
        self.input(to, None, |raft| raft.step_reply(peer_id(from), message))?;
        Ok(())
    }

    fn on_snapshot(
        &mut self,
        node: usize,
        incarnation: u64,
        index: LogIndex,
        data: Vec<u8>,
    ) -> Result<(), Breach> {
        if !self.is_current(node, incarnation) {
            return Ok(());
        }
        self.trace
            .record(self.now_us, TraceEvent::Snapshot { node, index: index.0 });
        // A stale request (already compacted that far) is refused by the core, as raft-node
        // ignores it too.
        if self.input(node, None, |raft| raft.snapshot(index, data).is_ok())? == Some(true) {
            self.snapshots_taken += 1;
        }
        Ok(())
    }

    /// One input to a running node: run `f`, note a role change, carry out the Ready through
    /// `NodeEffects` (`caller`: the request being handled, which the Ready's reply
    /// answers), then let the service look at the nodes. `None` if the node is stopped.
    ///
    /// # Errors
    /// The first breach carrying out the Ready or the service's look met.
    pub fn input<T>(
        &mut self,
        node: usize,
        caller: Option<(RequestId, Caller<N::Call>)>,
        f: impl FnOnce(&mut Raft) -> T,
    ) -> Result<Option<T>, Breach> {
        let Some(raft) = self.rafts[node].as_mut() else {
            return Ok(None);
        };
        let before = (raft.role(), raft.term());
        let out = f(raft);
        let ready = raft.take_ready();
        let after = (raft.role(), raft.term());
        if before != after {
            let (from, to) = (role_name(before.0), role_name(after.0));
            let event = TraceEvent::Role {
                node,
                term: after.1.0,
                from,
                to,
            };
            self.trace.record(self.now_us, event);
        }
        let incarnation = self.incarnations[node];
        ready.carry_out(&mut crate::effects::NodeEffects {
            world: self,
            node,
            incarnation,
            caller,
            term: after.1,
        })?;
        self.service.after_input(node, incarnation, &self.rafts)?;
        Ok(Some(out))
    }

    /// Hands a request to the network and queues what arrives.
    pub(crate) fn send_request(
        &mut self,
        from: usize,
        incarnation: u64,
        to: usize,
        message: Request,
    ) -> Result<(), Breach> {
        self.messages_sent += 1;
        if to >= self.rafts.len() {
            return Ok(());
        }
        let (fate, call) = self.net.send(from, to, self.rafts[to].is_some(), &message);
        let msg = Msg::of_request(&message);
        self.trace
            .record(self.now_us, TraceEvent::Send { from, to, msg, fate });
        let caller = Caller {
            node: from,
            incarnation,
            call,
        };
        // A message to a stopped node is for its next instance (its address outlives a
        // crash); one in flight when its receiver stops is lost with that instance.
        let to_incarnation = self.incarnations[to] + u64::from(self.rafts[to].is_none());
        let event = |message| Event::Request {
            caller,
            to,
            incarnation: to_incarnation,
            message,
        };
        self.queue_copies(fate, message, event)
    }

    /// Hands a reply to the network and queues what arrives.
    pub(crate) fn send_reply(
        &mut self,
        from: usize,
        caller: Caller<N::Call>,
        message: Reply,
    ) -> Result<(), Breach> {
        self.messages_sent += 1;
        let to = caller.node;
        let fate = self.net.reply(from, to, caller.call, &message);
        let msg = Msg::of_reply(&message);
        self.trace
            .record(self.now_us, TraceEvent::Send { from, to, msg, fate });
        self.queue_copies(fate, message, |message| Event::Reply {
            from,
            caller,
            message,
        })
    }

    /// Queues the copies of a message its fate says arrive: none, one, or one and a duplicate.
    fn queue_copies<M: Clone>(
        &mut self,
        fate: Fate,
        message: M,
        event: impl Fn(M) -> Event<N::Call, X>,
    ) -> Result<(), Breach> {
        match fate {
            Fate::Delayed(us) => self.push(self.now_us + us, event(message)),
            Fate::Duplicated(us, again_us) => {
                self.push(self.now_us + again_us, event(message.clone()))?;
                self.push(self.now_us + us, event(message))
            }
            Fate::Dropped | Fate::Partitioned | Fate::DeadEnd => Ok(()),
        }
    }

    /// Queues a snapshot the service asked for, as the node's next input.
    pub(crate) fn queue_snapshot(
        &mut self,
        node: usize,
        incarnation: u64,
        request: SnapshotRequest,
    ) -> Result<(), Breach> {
        let (index, data) = request;
        let event = Event::Snapshot {
            node,
            incarnation,
            index,
            data,
        };
        self.push(self.now_us, event)
    }
}

impl<N: Network, S: Service, D: Store, X> crate::tasks::Clocked for World<N, S, D, X> {
    fn now_us(&self) -> u64 {
        self.now_us
    }

    fn run_until(&mut self, until_us: u64) {
        World::run_until(self, until_us);
    }

    fn failure(&self) -> Option<String> {
        self.fault.as_ref().map(ToString::to_string)
    }
}

/// A role's name in the trace.
#[must_use]
pub fn role_name(role: RoleKind) -> &'static str {
    match role {
        RoleKind::Follower => "follower",
        RoleKind::PreCandidate => "pre-candidate",
        RoleKind::Candidate => "candidate",
        RoleKind::Leader => "leader",
    }
}

fn peer_id(i: usize) -> PeerId {
    PeerId(i as u32)
}
