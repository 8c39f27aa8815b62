//! The harnesses' simulated cluster: a thin adapter from [`crate::Config`] (Lab 2) and
//! [`crate::kv::KvConfig`] (Lab 3) to raft-sim's one world ([`raft_sim::World`]) and its
//! client tasks ([`raft_sim::tasks`]).
//!
//! The world runs raft-core peers as raft-node would (its options, its order of effects) on
//! labrpc's network model ([`Labrpc`], draw for draw); each peer's store is the harness's
//! [`MemoryPersister`]. The service above the peers is the Lab 2 harness's appliers, or the
//! Lab 3 key/value servers (`KvHost`). A clerk's call travels the same labrpc model through
//! ends of its own (`SimCluster::kv_call`): its request and its answer are events of the
//! world, and the calling task waits on virtual time until the answer comes or labrpc's poll
//! finds the server gone. The scenario and its clients are raft-sim tasks: a seed fixes the
//! interleaving of clients and peers, and a failed run replays bit for bit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use raft_core::{Entry, HardState, LogIndex, Raft, ReadError, ReadId, Restored, Snapshot, Term};
use raft_kv::server::REQUEST_WAIT_MAX;
use raft_kv::{Admitted, CallFailed, Command, KvOp, RequestId, Response, WrongLeader};
use raft_node::{ApplyMsg, NodeOptions};
use raft_sim::Breach;
use raft_sim::durable::Store;
use raft_sim::net::{CALL_POLL_US, CallFate, Labrpc, Network};
use raft_sim::service::{Service, SnapshotRequest};
use raft_sim::tasks::{Clocked, TaskId, Tasks};
use raft_sim::world::{Flow, World, WorldConfig};
use raft_storage::{MemoryPersister, Storage, StorageError};

use crate::Tester;
use crate::applier::Applier;
use crate::kv::KvHost;

pub(crate) use raft_sim::tasks::{Aborted, panic_message};

/// What a storage failure is called in the failure report.
const STORAGE: &str = "Storage";

/// A peer's store: the harness's persister (a handle: `Config` keeps the other end).
struct Persister(MemoryPersister);

fn refused(err: StorageError) -> Breach {
    Breach::new(STORAGE, format!("storage refused what a Ready asked for: {err}"))
}

impl Store for Persister {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Breach> {
        self.0.save_hard_state(hard_state).map_err(refused)
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Breach> {
        self.0.truncate_suffix(from).map_err(refused)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Breach> {
        self.0.install_snapshot(snapshot).map_err(refused)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), Breach> {
        self.0.append(entries).map_err(refused)
    }

    fn restored(&self) -> Result<Restored, Breach> {
        let persisted = self.0.load().map_err(refused)?;
        Ok(Restored {
            hard_state: persisted.hard_state,
            snapshot: persisted.snapshot,
            entries: persisted.entries,
        })
    }
}

/// The service above the peers: config.go's appliers, one for the whole cluster.
struct Appliers(Arc<Applier>);

/// The name a broken applier rule fails the world under (Go: the applier's `log.Fatalf`).
const APPLIER: &str = "6.824 applier";

/// An applier's error as the breach that stops the world at the event that applied it.
fn applier_failed(err: String) -> Breach {
    Breach::new(APPLIER, err)
}

fn snapshot_msg(snapshot: Snapshot) -> ApplyMsg {
    ApplyMsg::Snapshot {
        index: snapshot.meta.last_included_index,
        term: snapshot.meta.last_included_term,
        data: snapshot.data,
    }
}

impl Service for Appliers {
    /// raft-node hands a restarted service its persisted snapshot first.
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        if let Some(snapshot) = snapshot {
            self.0
                .apply(node, snapshot_msg(snapshot.clone()))
                .map_err(applier_failed)?;
        }
        Ok(())
    }

    fn apply(&mut self, node: usize, _term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        let msg = ApplyMsg::Command {
            index: entry.index,
            term: entry.term,
            command: entry.command,
        };
        let snapshot = self.0.apply(node, msg).map_err(applier_failed)?;
        Ok(snapshot.map(|(index, data)| (LogIndex(index), data)))
    }

    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach> {
        self.0
            .apply(node, snapshot_msg(snapshot))
            .map_err(applier_failed)?;
        Ok(())
    }
}

/// The service above the peers: Lab 2's appliers or Lab 3's key/value servers.
enum Hosted {
    Appliers(Appliers),
    Kv(KvHost),
}

impl Service for Hosted {
    fn restart(&mut self, node: usize, snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        match self {
            Hosted::Appliers(s) => s.restart(node, snapshot),
            Hosted::Kv(s) => s.restart(node, snapshot),
        }
    }

    fn apply(&mut self, node: usize, term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        match self {
            Hosted::Appliers(s) => s.apply(node, term, entry),
            Hosted::Kv(s) => s.apply(node, term, entry),
        }
    }

    fn apply_snapshot(&mut self, node: usize, snapshot: Snapshot) -> Result<(), Breach> {
        match self {
            Hosted::Appliers(s) => s.apply_snapshot(node, snapshot),
            Hosted::Kv(s) => s.apply_snapshot(node, snapshot),
        }
    }

    fn read(&mut self, node: usize, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        match self {
            Hosted::Appliers(s) => s.read(node, id, result),
            Hosted::Kv(s) => s.read(node, id, result),
        }
    }

    fn after_input(&mut self, node: usize, incarnation: u64, rafts: &[Option<Raft>]) -> Result<(), Breach> {
        match self {
            Hosted::Appliers(s) => s.after_input(node, incarnation, rafts),
            Hosted::Kv(s) => s.after_input(node, incarnation, rafts),
        }
    }
}

/// Virtual time a clerk's request, and again its answer, spends between the clerk and the
/// server's loop besides labrpc's own delay (on the real cluster a call crosses labrpc's
/// channels and the server's threads). Without it a reliable network would answer in no
/// virtual time at all, and a client that calls in a loop would never let time pass. 5 ms
/// each way makes an operation take about 10 ms on a reliable network, the pace of the
/// handout's reference solution (903 operations in 15.5 s for one client); ours takes about
/// 0.3 ms on the real cluster, so a simulated test makes fewer operations than a real one
/// (about 1,500 for one client), and a seed of all of Lab 3 takes a few seconds.
pub const KV_CALL_HOP_US: u64 = 5_000;

/// Virtual time after which a test is declared hung (Lab 2's and Lab 3's): the real
/// cluster's watchdog limit, so a scenario whose clients retry forever fails instead of
/// running on.
const HUNG_AFTER_US: u64 = crate::real::HUNG_AFTER.as_micros() as u64;

/// What the hung-test failure is called in the failure report.
const HARNESS: &str = "Harness";

/// A clerk's call in flight.
struct KvCall {
    caller: usize,
    server: usize,
    /// The server's instance when the call left: a call to an instance that is gone fails at
    /// labrpc's next poll.
    incarnation: u64,
    net: <Labrpc as Network>::Call,
    /// The server answered (a late answer from the same request is not sent again).
    answered: bool,
    /// The answer, once it arrived (or the failure).
    result: Option<Result<Response<String>, CallFailed>>,
}

/// The events of clerks' calls on the world's queue.
#[derive(Clone, Debug)]
pub(crate) enum KvEvent {
    /// The request reaches the server.
    Arrive { call: u64, request: Command<KvOp> },
    /// The answer reaches the clerk.
    Answer { call: u64, response: Response<String> },
    /// The call fails (dead end, dropped request or reply).
    Fail { call: u64 },
    /// The server has waited [`REQUEST_WAIT_MAX`] for the request's entry: it answers wrong
    /// leader, as the real server's loop does, unless it answered already.
    Expire { server: usize, call: u64 },
}

/// The world of the harness's simulated cluster.
type SimWorld = World<Labrpc, Hosted, Persister, KvEvent>;

/// The world with the harness's names for what it does to it (config.go's).
pub(crate) struct Cluster {
    world: SimWorld,
    n: usize,
    /// Clerks' calls in flight, by id (the token their task waits for).
    calls: BTreeMap<u64, KvCall>,
    next_call: u64,
    /// Calls answered since the tasks last asked.
    signalled: Vec<u64>,
}

impl Clocked for Cluster {
    fn now_us(&self) -> u64 {
        self.world.now_us()
    }

    /// Runs the world; after each event, sends the servers' answers and delivers the clerks'
    /// call events; stops at the event that answered a waiting clerk.
    fn run_until(&mut self, until_us: u64) {
        if until_us > HUNG_AFTER_US {
            let detail = format!(
                "the test is hung: it has run {} s of virtual time (config.go fails a test at 120 s)",
                HUNG_AFTER_US / 1_000_000
            );
            self.world.set_fault(Breach::new(HARNESS, detail));
            return;
        }
        let Cluster {
            world,
            calls,
            signalled,
            ..
        } = self;
        world.run_until_with(until_us, |world, event| {
            if let Err(breach) = after_event(world, calls, signalled, event) {
                world.set_fault(breach);
                return Flow::Stop;
            }
            if signalled.is_empty() {
                Flow::Continue
            } else {
                Flow::Stop
            }
        });
    }

    fn failure(&self) -> Option<String> {
        self.world.fault().map(ToString::to_string)
    }

    fn take_signalled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.signalled)
    }
}

/// After one event of the world: a clerk's call event is carried out, and every answer the
/// servers queued is sent.
fn after_event(
    world: &mut SimWorld,
    calls: &mut BTreeMap<u64, KvCall>,
    signalled: &mut Vec<u64>,
    event: Option<KvEvent>,
) -> Result<(), Breach> {
    match event {
        None => {}
        Some(KvEvent::Arrive { call, request }) => arrive(world, calls, call, request)?,
        Some(KvEvent::Answer { call, response }) => {
            // labrpc counts a reply's bytes when it reaches the caller.
            let bytes = postcard::experimental::serialized_size(&response).map_or(0, |b| b as u64);
            world.net_mut().reply_arrived(bytes);
            if let Some(c) = calls.get_mut(&call) {
                c.result = Some(Ok(response));
                signalled.push(call);
            }
        }
        Some(KvEvent::Fail { call }) => {
            if let Some(c) = calls.get_mut(&call) {
                c.result = Some(Err(CallFailed));
                signalled.push(call);
            }
        }
        Some(KvEvent::Expire { server, call }) => {
            // Only the instance that took the request answers it.
            let current = calls
                .get(&call)
                .is_some_and(|c| world.running(server) && world.incarnation(server) == c.incarnation);
            if let (true, Hosted::Kv(host)) = (current, world.service_mut())
                && let Some(reply) = host
                    .server_mut(server)
                    .and_then(|state| state.expire(RequestId(call)))
            {
                host.outbox.push((server, reply));
            }
        }
    }
    send_answers(world, calls)
}

/// A clerk's request reaches its server: handled by the running instance it was sent to (a
/// gone instance never answers; the clerk's poll fails the call).
fn arrive(
    world: &mut SimWorld,
    calls: &mut BTreeMap<u64, KvCall>,
    call: u64,
    request: Command<KvOp>,
) -> Result<(), Breach> {
    let Some(c) = calls.get(&call) else {
        return Ok(());
    };
    let server = c.server;
    if !world.running(server) || world.incarnation(server) != c.incarnation {
        return Ok(());
    }
    world.net_mut().handle_call(server, c.net);
    world.note(format!(
        "clerk {} -> n{server} {:?} seq={}",
        request.client_id.0, request.op, request.seq.0
    ));
    let request_id = RequestId(call);
    // What a real server reads of its peer's status: it leads, and a read would not park.
    let reads_ready = world.rafts()[server]
        .as_ref()
        .is_some_and(|raft| raft.is_leader() && raft.own_term_committed());
    let admitted = match world.service_mut() {
        Hosted::Kv(host) => host
            .server_mut(server)
            .map(|state| state.admit(request_id, request, reads_ready)),
        Hosted::Appliers(_) => None,
    };
    // Raft's `start` or `read` between the server's two decisions: its state lives inside
    // the world. A read's outcome may come inside the call (a lease), to `KvHost::read`.
    let replies = match admitted {
        None => {
            let detail = format!("server {server} runs without a key/value server above it");
            return Err(Breach::new(HARNESS, detail));
        }
        Some(Err(refused)) => vec![refused],
        Some(Ok(Admitted::Propose(command))) => {
            let placed = world.propose(server, command)?;
            match world.service_mut() {
                Hosted::Kv(host) => host
                    .server_mut(server)
                    .map_or_else(Vec::new, |state| state.started(request_id, placed)),
                Hosted::Appliers(_) => Vec::new(),
            }
        }
        Some(Ok(Admitted::Read(id))) => {
            let stopped = Err(ReadError::NotLeader { leader_hint: None });
            let taken = world
                .input(server, None, |raft| raft.read(id))?
                .unwrap_or(stopped);
            match world.service_mut() {
                Hosted::Kv(host) => host
                    .server_mut(server)
                    .map_or_else(Vec::new, |state| state.read_started(request_id, taken)),
                Hosted::Appliers(_) => Vec::new(),
            }
        }
    };
    if let Hosted::Kv(host) = world.service_mut() {
        host.outbox.extend(replies.into_iter().map(|r| (server, r)));
    }
    let at = world.now_us() + REQUEST_WAIT_MAX.as_micros() as u64;
    world.schedule(at, KvEvent::Expire { server, call })
}

/// Sends every answer the servers queued back through the network.
fn send_answers(world: &mut SimWorld, calls: &mut BTreeMap<u64, KvCall>) -> Result<(), Breach> {
    let outbox = match world.service_mut() {
        Hosted::Kv(host) if !host.outbox.is_empty() => std::mem::take(&mut host.outbox),
        _ => return Ok(()),
    };
    for (server, reply) in outbox {
        let call = reply.request_id.0;
        let Some(c) = calls.get_mut(&call) else {
            continue;
        };
        if c.answered {
            continue;
        }
        c.answered = true;
        let c = &*c;
        let response = match reply.outcome {
            Ok(value) => Response::Ok(value),
            Err(WrongLeader) => Response::WrongLeader,
        };
        let now = world.now_us();
        match world.net_mut().finish_call(server, c.caller, c.net) {
            CallFate::Arrives { after_us } => {
                world.schedule(
                    now + after_us + KV_CALL_HOP_US,
                    KvEvent::Answer { call, response },
                )?;
            }
            CallFate::FailsAfter { after_us } => world.schedule(now + after_us, KvEvent::Fail { call })?,
        }
    }
    Ok(())
}

impl Cluster {
    /// A new clerk's caller id in the network (its ends, disabled).
    pub(crate) fn add_caller(&mut self) -> usize {
        self.world.net_mut().add_caller()
    }

    /// Sends a clerk's request: labrpc decides its fate now; returns the call's id.
    fn send_call(&mut self, caller: usize, server: usize, request: &Command<KvOp>) -> Result<u64, Breach> {
        self.next_call += 1;
        let call = self.next_call;
        let bytes = postcard::experimental::serialized_size(request).map_or(0, |b| b as u64);
        let running = self.world.running(server);
        let (fate, net) = self.world.net_mut().start_call(caller, server, running, bytes);
        let incarnation = self.world.incarnation(server);
        self.calls.insert(
            call,
            KvCall {
                caller,
                server,
                incarnation,
                net,
                answered: false,
                result: None,
            },
        );
        let now = self.world.now_us();
        match fate {
            CallFate::Arrives { after_us } => {
                let request = request.clone();
                self.world
                    .schedule(now + after_us + KV_CALL_HOP_US, KvEvent::Arrive { call, request })?;
            }
            CallFate::FailsAfter { after_us } => {
                self.world.schedule(now + after_us, KvEvent::Fail { call })?
            }
        }
        Ok(call)
    }

    /// The outcome of call `call` if it is known: its answer or failure, or a failure
    /// because labrpc's poll finds its server gone or its end disabled (`poll`). The call is
    /// forgotten once it has an outcome.
    fn outcome(&mut self, call: u64, poll: bool) -> Option<Result<Response<String>, CallFailed>> {
        let c = self.calls.get(&call)?;
        let outcome = match &c.result {
            Some(result) => Some(result.clone()),
            // An answered call's reply is on its way: labrpc delivers it even if the server
            // dies meanwhile (its fate was drawn when the handler answered).
            None if poll && !c.answered => {
                let gone = !self.world.running(c.server) || self.world.incarnation(c.server) != c.incarnation;
                let alive = self.world.net().call_alive(c.caller, c.server, c.net);
                (gone || !alive).then_some(Err(CallFailed))
            }
            None => None,
        };
        if outcome.is_some() {
            self.calls.remove(&call);
        }
        outcome
    }

    /// `Start(command)` on peer `i`: the index and term if it leads. A failure carrying out
    /// its Ready fails the scenario at its next wait.
    pub(crate) fn start(&mut self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        match self.world.propose(i, command.to_vec()) {
            Ok(accepted) => accepted.map(|(index, term)| (index.0, term)),
            Err(breach) => {
                self.world.set_fault(breach);
                None
            }
        }
    }

    /// Deletes peer `i`'s server and stops the peer.
    pub(crate) fn kill(&mut self, i: usize) {
        let _ = self.world.stop(i);
    }

    /// Notes a harness action in the trace.
    pub(crate) fn note(&mut self, text: String) {
        self.world.note(text);
    }

    pub(crate) fn enable(&mut self, from: usize, to: usize, enabled: bool) {
        self.world.net_mut().enable(from, to, enabled);
    }

    pub(crate) fn rpc_count(&self, i: usize) -> u64 {
        self.world.net().rpc_count(i)
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.world.net().rpc_total()
    }

    pub(crate) fn bytes_total(&self) -> u64 {
        self.world.net().bytes_total()
    }

    pub(crate) fn set_reliable(&mut self, reliable: bool) {
        self.world.net_mut().set_reliable(reliable);
    }

    pub(crate) fn set_long_reordering(&mut self, on: bool) {
        self.world.net_mut().set_long_reordering(on);
    }

    pub(crate) fn set_long_delays(&mut self, on: bool) {
        self.world.net_mut().set_long_delays(on);
    }
}

/// The simulated cluster and the tasks that drive it. Every method is called by the task
/// holding the baton.
pub(crate) struct SimCluster {
    tasks: Tasks<Cluster>,
}

/// Where `RAFT_FULL_TRACE` asks for the full trace of a run on virtual time (every line,
/// not only the tail a failure prints), for reading one replayed seed; unset, none is kept.
/// Keeping it changes nothing of the run (the same trace hash).
fn full_trace_file() -> Option<std::path::PathBuf> {
    std::env::var_os("RAFT_FULL_TRACE").map(std::path::PathBuf::from)
}

impl SimCluster {
    /// A cluster of `n` absent peers at virtual time zero under Lab 2's appliers; the calling
    /// thread is task 0.
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>) -> SimCluster {
        SimCluster::hosting(n, seed, Hosted::Appliers(Appliers(applier)))
    }

    /// A cluster of `n` absent key/value servers (Lab 3) at virtual time zero.
    ///
    /// # Panics
    /// If `n` is below 2: a lone leader commits inside `propose`, before its server could
    /// register the request (the threaded server registers before it reads the apply
    /// channel), and no Lab 3 test runs one server.
    pub(crate) fn new_kv(n: usize, seed: u64, maxraftstate: Option<usize>) -> SimCluster {
        assert!(
            n >= 2,
            "the simulated key/value cluster needs at least two servers"
        );
        SimCluster::hosting(n, seed, Hosted::Kv(KvHost::new(n, maxraftstate)))
    }

    fn hosting(n: usize, seed: u64, service: Hosted) -> SimCluster {
        let mut config = WorldConfig::new(n, seed, NodeOptions::default().tick.as_micros() as u64);
        config.full_trace = full_trace_file().is_some();
        let stores = (0..n).map(|_| Persister(MemoryPersister::new())).collect();
        let world = World::new(config, Labrpc::new(n, seed), service, stores);
        let cluster = Cluster {
            world,
            n,
            calls: BTreeMap::new(),
            next_call: 0,
            signalled: Vec::new(),
        };
        SimCluster {
            tasks: Tasks::new(cluster, seed),
        }
    }

    /// A clerk's call to `server` through the ends of `caller`: the calling task waits on
    /// virtual time for the answer, polling every 100 ms as labrpc does whether the server
    /// died or the end was disabled meanwhile (then the call fails). The polls are timed from
    /// the call's start, not from its arrival at the handler as in labrpc: a difference of at
    /// most the request's delay (27 ms) and one hop.
    pub(crate) fn kv_call(
        &self,
        caller: usize,
        server: usize,
        request: &Command<KvOp>,
    ) -> Result<Response<String>, CallFailed> {
        let call = match self.with(|c| c.send_call(caller, server, request)) {
            Ok(call) => call,
            Err(breach) => {
                self.with(|c| c.world.set_fault(breach));
                self.sleep(Duration::ZERO);
                return Err(CallFailed);
            }
        };
        loop {
            let answered = self.tasks.wait_for(call, Duration::from_micros(CALL_POLL_US));
            if let Some(outcome) = self.with(|c| c.outcome(call, !answered)) {
                return outcome;
            }
        }
    }

    /// Runs `f` on the cluster (see [`Tasks::with`]).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        self.tasks.with(f)
    }

    pub(crate) fn now(&self) -> Duration {
        self.tasks.now()
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.with(|c| c.world.running(i))
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.with(|c| c.world.rafts()[i].as_ref().map(|r| (r.term(), r.is_leader())))
    }

    /// raft-node's `make`, on the virtual clock: peer `i` from `persister`, its service
    /// from the snapshot persisted there.
    pub(crate) fn make_peer(&self, i: usize, seed: u64, persister: MemoryPersister) {
        self.with(|c| {
            let config = crate::switches::node_options(seed).config(i, c.n);
            if let Hosted::Kv(host) = c.world.service_mut() {
                host.set_persister(i, persister.clone());
            }
            c.world.set_store(i, Persister(persister));
            if let Err(breach) = c.world.start(i, config) {
                c.world.set_fault(breach);
            }
        });
    }

    /// The end of a test: leaves the trace (its hash, its readable tail, how many events ran)
    /// and the first failure of a client task in `t`'s report, and stops every node.
    pub(crate) fn finish(&self, t: &Tester) {
        let (hash, tail, events) = self.with(|c| {
            let trace = c.world.trace();
            (trace.hash(), trace.tail(), trace.events())
        });
        if let Some(path) = full_trace_file() {
            let lines = self.with(|c| c.world.trace().full().map(|l| l.join("\n")));
            // A debugging aid: a file that cannot be written is only reported.
            if let Some(text) = lines
                && let Err(err) = std::fs::write(&path, text + "\n")
            {
                eprintln!("cannot write the full trace to {}: {err}", path.display());
            }
        }
        let failure = self.tasks.failure();
        t.update(|r| {
            r.trace_hash = hash;
            r.trace_tail = tail;
            r.events = events;
            r.task_failure = failure;
        });
        self.with(|c| {
            for i in 0..c.n {
                c.world.stop(i);
            }
        });
    }

    /// Lets `duration` of virtual time pass for the calling task (see [`Tasks::sleep`]).
    pub(crate) fn sleep(&self, duration: Duration) {
        self.tasks.sleep(duration);
    }

    /// Waits until task `id` has finished.
    pub(crate) fn join_task(&self, id: TaskId) {
        self.tasks.join_task(id);
    }

    /// The end of a scope (see [`Tasks::end_scope`]).
    pub(crate) fn end_scope(&self, failed: Option<&(dyn std::any::Any + Send)>) {
        self.tasks.end_scope(failed);
    }

    /// Starts a client task on a thread of `scope`.
    pub(crate) fn spawn_task<'scope, F, T>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        f: F,
    ) -> (TaskId, std::thread::ScopedJoinHandle<'scope, T>)
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.tasks.spawn_task(scope, f)
    }
}
