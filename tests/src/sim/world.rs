//! The simulated cluster's world: raft-core peers, labrpc's network on a virtual clock, and the
//! queue of what happens next.
//!
//! A peer is what raft-node runs, without threads: a [`Raft`] restored from a
//! [`MemoryPersister`], ticked every 10 ms of virtual time, each input's [`Ready`] carried out
//! by [`Ready::carry_out`] (the same code raft-node uses) through [`PeerIo`]. The network is
//! labrpc's, decision for decision: the same [`raft_labrpc::fault`] draws in the same order,
//! the same dead-end and dead-server rules, the same counts. Nothing here reads a clock or a
//! global RNG, so a seed fixes the whole run.
//!
//! [`Ready`]: raft_core::Ready

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use raft_core::message::{Reply, Request, RequestId};
use raft_core::{Effects, Entry, HardState, LogIndex, PeerId, Raft, RoleKind, Snapshot, Term};
use raft_labrpc::fault::{self, ReplyFate};
use raft_node::{ApplyMsg, NodeOptions};
use raft_sim::queue::EventQueue;
use raft_storage::{MemoryPersister, Storage, StorageError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::trace::{Event as TraceEvent, Fate, Summary, Trace};
use crate::applier::Applier;

/// One microsecond of virtual time is the unit of the clock.
pub(crate) const US_PER_MS: u64 = 1000;

/// The most events one instant of virtual time may hold. The reliable network delivers at
/// once, so peers that answer each other forever (a livelock only a broken rule causes) would
/// stop the clock; past this bound the run fails instead of hanging.
const EVENTS_PER_INSTANT_MAX: u64 = 200_000;

/// What the queue holds: everything that happens at a later virtual time.
enum Event {
    /// A peer's tick timer fires.
    Tick { peer: usize, inc: u64 },
    /// A request's delay is over: run its handler, unless it was dropped.
    Deliver {
        call: Call,
        message: Request,
        dropped: bool,
    },
    /// A reply reaches its caller.
    Reply { call: Call, message: Reply, bytes: u64 },
    /// The service asked its peer to snapshot (raft-node queues this as an event too).
    Snapshot {
        peer: usize,
        inc: u64,
        index: u64,
        data: Vec<u8>,
    },
}

/// A call in flight: who sent it, to which server instance, and labrpc's flags of the moment.
#[derive(Clone, Copy)]
struct Call {
    from: usize,
    from_inc: u64,
    to: usize,
    to_inc: u64,
    /// How many times the end had been disabled when the call left: a disable fails it.
    end_epoch: u64,
    reliable: bool,
    long_reordering: bool,
}

/// One running peer.
struct SimPeer {
    raft: Raft,
    storage: MemoryPersister,
    inc: u64,
}

/// labrpc's ends (one from each peer to each peer) and counters.
struct Net {
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    /// `enabled[from][to]`: the end from `from` to `to` is enabled.
    enabled: Vec<Vec<bool>>,
    /// `epoch[from][to]`: how often that end was disabled or replaced.
    epoch: Vec<Vec<u64>>,
    /// RPCs handled by each server instance since it was added.
    counts: Vec<u64>,
    total_count: u64,
    total_bytes: u64,
    rng: SmallRng,
}

/// Everything but the peers: what a peer's effects reach.
struct Io {
    now_us: u64,
    queue: EventQueue<Event>,
    net: Net,
    /// The instance number of each peer's server on the network, if it has one.
    servers: Vec<Option<u64>>,
    applier: Arc<Applier>,
    trace: Trace,
    events: u64,
    /// The queue refused an event (it was full).
    overflowed: bool,
}

/// The simulated cluster's state.
pub(crate) struct World {
    n: usize,
    peers: Vec<Option<SimPeer>>,
    /// The instance number of each peer's latest start (0: never started).
    incarnations: Vec<u64>,
    tick_us: u64,
    /// Draws each incarnation's tick phase; apart from the network's, so that a restart does
    /// not shift the network's fault draws.
    phase_rng: SmallRng,
    io: Io,
    /// The first broken contract (a Ready that storage refused): the scenario fails with it.
    fault: Option<String>,
}

impl World {
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>) -> World {
        World {
            n,
            peers: (0..n).map(|_| None).collect(),
            incarnations: vec![0; n],
            fault: None,
            tick_us: NodeOptions::default().tick.as_micros() as u64,
            phase_rng: SmallRng::seed_from_u64(seed ^ 0x0070_6861_7365),
            io: Io {
                now_us: 0,
                queue: EventQueue::default(),
                net: Net {
                    reliable: true,
                    long_reordering: false,
                    long_delays: false,
                    enabled: vec![vec![false; n]; n],
                    epoch: vec![vec![0; n]; n],
                    counts: vec![0; n],
                    total_count: 0,
                    total_bytes: 0,
                    rng: SmallRng::seed_from_u64(seed ^ 0x6824_5840_u64),
                },
                servers: vec![None; n],
                applier,
                trace: Trace::new(),
                events: 0,
                overflowed: false,
            },
        }
    }

    /// The first broken contract, if any.
    pub(crate) fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    pub(crate) fn now_us(&self) -> u64 {
        self.io.now_us
    }

    /// How many events the world has run.
    pub(crate) fn events(&self) -> u64 {
        self.io.events
    }

    pub(crate) fn trace(&self) -> &Trace {
        &self.io.trace
    }

    /// Notes a harness action in the trace.
    pub(crate) fn note(&mut self, text: String) {
        self.io.note(TraceEvent::Harness(text));
    }

    /// Runs every event due at or before `until_us`, then sets the clock to it.
    pub(crate) fn run_until(&mut self, until_us: u64) {
        let mut at_this_instant = 0;
        while let Some(at_us) = self.io.queue.peek_time() {
            if at_us > until_us || self.fault.is_some() {
                break;
            }
            let Some((at_us, event)) = self.io.queue.pop() else {
                break;
            };
            if at_us == self.io.now_us {
                at_this_instant += 1;
                if at_this_instant > EVENTS_PER_INSTANT_MAX {
                    self.fault = Some(format!(
                        "livelock: over {EVENTS_PER_INSTANT_MAX} events at {:.6} s of virtual time without time passing",
                        self.io.now_us as f64 / 1e6
                    ));
                    break;
                }
            } else {
                at_this_instant = 0;
            }
            self.io.now_us = at_us;
            self.io.events += 1;
            // A peer's own assertion (a broken invariant inside raft-core) fails the scenario
            // like any other broken contract, at the next wait of the running task.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.run(event))) {
                self.fault = Some(super::panic_message(payload.as_ref()));
                break;
            }
            if self.io.overflowed {
                self.fault = Some("message storm: over a million events pending".to_owned());
                break;
            }
        }
        self.io.now_us = self.io.now_us.max(until_us);
    }

    fn run(&mut self, event: Event) {
        match event {
            Event::Tick { peer, inc } => {
                if self.is_current(peer, inc) {
                    self.io.trace.mix(&[self.io.now_us, 0, peer as u64]);
                    self.input(peer, None, Raft::tick);
                    let at = self.io.now_us + self.tick_us;
                    self.io.schedule(at, Event::Tick { peer, inc });
                }
            }
            Event::Deliver {
                call,
                message,
                dropped,
            } => self.deliver(call, message, dropped),
            Event::Reply { call, message, bytes } => {
                // labrpc counts reply bytes when the reply is handed to the caller's end.
                self.io.net.total_bytes += bytes;
                if self.is_current(call.from, call.from_inc) {
                    let what = Summary::of_reply(&message);
                    self.io.note(TraceEvent::Reply {
                        from: call.to,
                        to: call.from,
                        what,
                    });
                    self.input(call.from, None, |raft| raft.step_reply(peer_id(call.to), message));
                }
                // else: the caller crashed; its successor never sees the reply.
            }
            Event::Snapshot {
                peer,
                inc,
                index,
                data,
            } => {
                if self.is_current(peer, inc) {
                    self.io.trace.mix(&[self.io.now_us, 6, peer as u64, index]);
                    self.input(peer, None, |raft| {
                        // A stale snapshot request is refused by the core; raft-node ignores it too.
                        let _ = raft.snapshot(LogIndex(index), data);
                    });
                }
            }
        }
    }

    fn is_current(&self, peer: usize, inc: u64) -> bool {
        self.peers[peer].as_ref().is_some_and(|p| p.inc == inc)
    }

    /// A request's delay is over. As in labrpc, the handler runs even if the call was failed
    /// meanwhile (the end disabled): its effects stand and only its reply is lost. A server
    /// that was deleted or replaced (crash, restart) handles nothing.
    fn deliver(&mut self, call: Call, message: Request, dropped: bool) {
        if dropped || !self.is_current(call.to, call.to_inc) {
            return;
        }
        self.io.net.counts[call.to] += 1;
        let what = Summary::of_request(&message);
        self.io.note(TraceEvent::Deliver {
            from: call.from,
            to: call.to,
            what,
        });
        // One request per input: the id only has to tell its reply from any other.
        let id = RequestId(self.io.events);
        self.input(call.to, Some((id, call)), |raft| {
            raft.step_request(peer_id(call.from), id, message);
        });
    }

    /// One input to peer `i`, then its Ready carried out; `call` is the request being
    /// handled, under the id it was stepped with, which the Ready's reply answers.
    fn input(&mut self, i: usize, call: Option<(RequestId, Call)>, f: impl FnOnce(&mut Raft)) {
        let Some(peer) = self.peers[i].as_mut() else {
            return;
        };
        let before = (peer.raft.term(), peer.raft.role());
        f(&mut peer.raft);
        let after = (peer.raft.term(), peer.raft.role());
        if before != after {
            self.io.note(TraceEvent::Role {
                peer: i,
                term: after.0.0,
                role: role_name(after.1),
            });
        }
        let ready = peer.raft.take_ready();
        let mut io = PeerIo {
            me: i,
            inc: peer.inc,
            storage: &mut peer.storage,
            io: &mut self.io,
            call,
        };
        if let Err(err) = ready.carry_out(&mut io) {
            // raft-node stops a peer whose storage fails; here it also fails the test, at the
            // next wait of the task that holds the baton.
            self.io.note(TraceEvent::Harness(format!(
                "n{i} stops: storage refused its Ready: {err}"
            )));
            self.fault
                .get_or_insert_with(|| format!("peer {i}'s storage refused what its Ready asked for: {err}"));
            self.kill(i);
        }
    }

    /// Starts peer `i` from `persister`: raft-node's `make`, on the virtual clock.
    pub(crate) fn make_peer(&mut self, i: usize, seed: u64, persister: MemoryPersister) {
        let persisted = persister.load().expect("a MemoryPersister always loads");
        let on_disk_snapshot = persisted.snapshot.clone();
        let options = NodeOptions {
            seed: Some(seed),
            ..NodeOptions::default()
        };
        let restored = raft_core::Restored {
            hard_state: persisted.hard_state,
            snapshot: persisted.snapshot,
            entries: persisted.entries,
        };
        let raft = Raft::restore(options.config(i, self.n), restored).expect("a persisted state restores");
        self.incarnations[i] += 1;
        let inc = self.incarnations[i];
        // Fresh ends from peer i, disabled until the harness connects them.
        for to in 0..self.n {
            self.io.net.enabled[i][to] = false;
            self.io.net.epoch[i][to] += 1;
        }
        self.io.net.counts[i] = 0;
        self.io.servers[i] = Some(inc);
        self.peers[i] = Some(SimPeer {
            raft,
            storage: persister,
            inc,
        });
        if let Some(snapshot) = on_disk_snapshot {
            // raft-node hands a restarted service its snapshot first.
            let msg = ApplyMsg::Snapshot {
                index: snapshot.meta.last_included_index,
                term: snapshot.meta.last_included_term,
                data: snapshot.data,
            };
            self.io.apply(i, inc, msg);
        }
        // Peers start at different instants in real life; a random phase keeps their ticks apart.
        let phase = self.phase_rng.random_range(1..=self.tick_us);
        let at = self.io.now_us + phase;
        self.io.schedule(at, Event::Tick { peer: i, inc });
        self.note(format!("start n{i}"));
    }

    /// Deletes peer `i`'s server and stops the peer: its timers and pending inputs die with it.
    pub(crate) fn kill(&mut self, i: usize) {
        self.io.servers[i] = None;
        // The server is gone: the network counts nothing for it (labrpc's count of a deleted
        // server is 0).
        self.io.net.counts[i] = 0;
        if self.peers[i].take().is_some() {
            self.note(format!("crash n{i}"));
        }
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.peers[i].is_some()
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.peers[i]
            .as_ref()
            .map(|p| (p.raft.term(), p.raft.is_leader()))
    }

    /// `Start(command)` on peer `i`: proposed now, its Ready carried out before returning.
    pub(crate) fn start(&mut self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        let peer = self.peers[i].as_mut()?;
        let result = peer.raft.propose(command.to_vec());
        self.io
            .trace
            .mix(&[self.io.now_us, 7, i as u64, u64::from(result.is_ok())]);
        self.input(i, None, |_| {});
        result.ok().map(|(index, term)| (index.0, term))
    }

    /// Enables or disables the end from `from` to `to`. Disabling fails the calls in flight
    /// through it, as labrpc does.
    pub(crate) fn enable(&mut self, from: usize, to: usize, enabled: bool) {
        let net = &mut self.io.net;
        if net.enabled[from][to] && !enabled {
            net.epoch[from][to] += 1;
        }
        net.enabled[from][to] = enabled;
    }

    pub(crate) fn rpc_count(&self, i: usize) -> u64 {
        self.io.net.counts[i]
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.io.net.total_count
    }

    pub(crate) fn bytes_total(&self) -> u64 {
        self.io.net.total_bytes
    }

    pub(crate) fn set_reliable(&mut self, reliable: bool) {
        self.io.net.reliable = reliable;
    }

    pub(crate) fn set_long_reordering(&mut self, on: bool) {
        self.io.net.long_reordering = on;
    }

    pub(crate) fn set_long_delays(&mut self, on: bool) {
        self.io.net.long_delays = on;
    }
}

impl Io {
    fn schedule(&mut self, at_us: u64, event: Event) {
        if !self.queue.push(at_us, event) {
            // A million pending events is a message storm: the run stops with that failure.
            self.overflowed = true;
        }
    }

    /// Records `event` in the trace at the current instant.
    fn note(&mut self, event: TraceEvent) {
        self.trace.note(self.now_us, event);
    }

    /// labrpc's call path (`start_call`): count the call, then a dead end's delay or the
    /// request's fate. A failed call has no effect on a raft-node peer, so it schedules nothing.
    fn send(&mut self, from: usize, from_inc: u64, to: usize, to_inc: Option<u64>, message: Request) {
        let now = self.now_us;
        let net = &mut self.net;
        net.total_count += 1;
        net.total_bytes += request_size(&message);
        let what = Summary::of_request(&message);
        let live = net.enabled[from][to].then_some(to_inc).flatten();
        let Some(to_inc) = live else {
            let _ = fault::dead_end_delay_ms(&mut net.rng, net.long_delays);
            self.note(TraceEvent::Send {
                from,
                to,
                what,
                fate: Fate::DeadEnd,
            });
            return;
        };
        let fate = fault::request_fate(&mut net.rng, net.reliable);
        let call = Call {
            from,
            from_inc,
            to,
            to_inc,
            end_epoch: net.epoch[from][to],
            reliable: net.reliable,
            long_reordering: net.long_reordering,
        };
        let traced = if fate.dropped {
            Fate::Dropped
        } else {
            Fate::Delayed(fate.delay_ms * US_PER_MS)
        };
        self.note(TraceEvent::Send {
            from,
            to,
            what,
            fate: traced,
        });
        if fate.dropped && fate.delay_ms == 0 {
            return;
        }
        let at = now + fate.delay_ms * US_PER_MS;
        self.schedule(
            at,
            Event::Deliver {
                call,
                message,
                dropped: fate.dropped,
            },
        );
    }

    /// labrpc's `finish_call`: a reply from a live server is dropped if the call was failed
    /// meanwhile (end disabled), else its fate is drawn.
    fn reply(&mut self, call: Call, message: Reply) {
        let net = &mut self.net;
        let dead = !net.enabled[call.from][call.to] || net.epoch[call.from][call.to] != call.end_epoch;
        let fate = if dead {
            ReplyFate::Dropped
        } else {
            fault::reply_fate(&mut net.rng, call.reliable, call.long_reordering)
        };
        if let ReplyFate::Delivered { delay_ms } = fate {
            let bytes = reply_size(&message);
            let at = self.now_us + delay_ms * US_PER_MS;
            self.schedule(at, Event::Reply { call, message, bytes });
        } else {
            self.trace
                .mix(&[self.now_us, 8, call.from as u64, call.to as u64]);
        }
    }

    /// Hands one message to peer `i`'s applier; a snapshot it asks for reaches the peer as a
    /// later input, as in raft-node.
    fn apply(&mut self, i: usize, inc: u64, msg: ApplyMsg) {
        if let ApplyMsg::Command { index, .. } = &msg {
            self.trace.mix(&[self.now_us, 9, i as u64, index.0]);
        }
        if let Some((index, data)) = self.applier.apply(i, msg) {
            let at = self.now_us;
            self.schedule(
                at,
                Event::Snapshot {
                    peer: i,
                    inc,
                    index,
                    data,
                },
            );
        }
    }
}

/// A peer's effects: its storage, and the world around it.
struct PeerIo<'a> {
    me: usize,
    inc: u64,
    storage: &'a mut MemoryPersister,
    io: &'a mut Io,
    /// The request being handled, if the input was one, with the id it was stepped with.
    call: Option<(RequestId, Call)>,
}

impl Effects for PeerIo<'_> {
    type Error = StorageError;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        self.storage.save_hard_state(hard_state)
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.storage.truncate_suffix(from)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.storage.install_snapshot(snapshot)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.storage.append(entries)
    }

    fn send(&mut self, to: PeerId, message: Request) -> Result<(), StorageError> {
        let to = to.as_usize();
        if to < self.io.net.counts.len() {
            let to_inc = self.io_to_gen(to);
            self.io.send(self.me, self.inc, to, to_inc, message);
        }
        Ok(())
    }

    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), StorageError> {
        if let Some((_, call)) = self.call.take_if(|(asked, _)| *asked == id) {
            self.io.reply(call, reply);
        }
        Ok(())
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        let msg = ApplyMsg::Snapshot {
            index: snapshot.meta.last_included_index,
            term: snapshot.meta.last_included_term,
            data: snapshot.data,
        };
        self.io.apply(self.me, self.inc, msg);
        Ok(())
    }

    fn apply(&mut self, entry: Entry) -> Result<(), StorageError> {
        let msg = ApplyMsg::Command {
            index: entry.index,
            term: entry.term,
            command: entry.command,
        };
        self.io.apply(self.me, self.inc, msg);
        Ok(())
    }
}

impl PeerIo<'_> {
    /// The server instance a call to `to` reaches now, if its server exists.
    fn io_to_gen(&self, to: usize) -> Option<u64> {
        self.io.servers.get(to).copied().flatten()
    }
}

/// Bytes labrpc would count for a request: the postcard encoding of its arguments.
fn request_size(request: &Request) -> u64 {
    let size = match request {
        Request::RequestVote(m) => postcard::experimental::serialized_size(m),
        Request::AppendEntries(m) => postcard::experimental::serialized_size(m),
        Request::InstallSnapshot(m) => postcard::experimental::serialized_size(m),
    };
    size.map_or(0, |s| s as u64)
}

/// Bytes labrpc would count for a reply: the postcard encoding of the reply.
fn reply_size(reply: &Reply) -> u64 {
    let size = match reply {
        Reply::RequestVote(m) => postcard::experimental::serialized_size(m),
        Reply::AppendEntries(m) => postcard::experimental::serialized_size(m),
        Reply::InstallSnapshot(m) => postcard::experimental::serialized_size(m),
    };
    size.map_or(0, |s| s as u64)
}

fn peer_id(i: usize) -> PeerId {
    PeerId(i as u32)
}

fn role_name(role: RoleKind) -> &'static str {
    match role {
        RoleKind::Follower => "follower",
        RoleKind::Candidate => "candidate",
        RoleKind::Leader => "leader",
    }
}
