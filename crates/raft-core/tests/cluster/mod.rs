//! A cluster of raft-core state machines for the scenario tests, in raft-sim's world: every
//! input's Ready carried out by the world (persisted into its durable model, sent on its
//! immediate network, applied to a recorder). No clock: the tests tick by hand, and the
//! messages wait at the current instant until a test delivers, drops or inspects them.

#![allow(dead_code)]

use raft_core::message::{AppendEntriesArgs, Message, Request};
use raft_core::{
    Config, Entry, LogIndex, PeerId, ProposeError, Raft, ReadError, ReadId, Restored, RoleKind, Snapshot,
    Term,
};
use raft_sim::Breach;
use raft_sim::durable::Durable;
use raft_sim::net::Immediate;
use raft_sim::service::{Service, SnapshotRequest};
use raft_sim::world::{Event, Step, World, WorldConfig};

/// The world's own tick timers never fire: the tests tick by hand.
const MANUAL_TICK_US: u64 = u64::MAX / 4;
/// Most messages one `deliver_all` may deliver: a livelock fails the test.
const DELIVERIES_MAX: usize = 100_000;

/// A read's outcome, as the Ready hands it out.
pub type ReadOutcome = (ReadId, Result<LogIndex, ReadError>);

/// Everything each peer handed out as committed, in order (snapshots are not commands), and
/// the outcomes of its reads.
#[derive(Debug, Default)]
pub struct Applied(Vec<Vec<Entry>>, Vec<Vec<ReadOutcome>>);

impl Service for Applied {
    fn restart(&mut self, _node: usize, _snapshot: Option<&Snapshot>) -> Result<(), Breach> {
        Ok(())
    }

    fn apply(&mut self, node: usize, _term: Term, entry: Entry) -> Result<Option<SnapshotRequest>, Breach> {
        self.0[node].push(entry);
        Ok(None)
    }

    fn apply_snapshot(&mut self, _node: usize, _snapshot: Snapshot) -> Result<(), Breach> {
        Ok(())
    }

    fn read(&mut self, node: usize, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        self.1[node].push((id, result));
        Ok(())
    }
}

/// `config` with pre-vote and check-quorum off: elections exactly as Figure 2 has them.
pub fn figure2(config: Config) -> Config {
    Config {
        pre_vote: false,
        check_quorum: false,
        ..config
    }
}

/// N peers and the messages between them.
pub struct Cluster {
    world: World<Immediate, Applied, Durable>,
}

pub fn ids(n: usize) -> Vec<PeerId> {
    (0..n as u32).map(PeerId).collect()
}

/// AppendEntries from `leader` in `term`, with `prev` = (index, term), entries as (index, term)
/// with empty commands: the one builder the scenario and gate tests share.
pub fn append_entries(
    term: u64,
    leader: u32,
    prev: (u64, u64),
    entries: &[(u64, u64)],
    commit: u64,
) -> Request {
    Request::AppendEntries(AppendEntriesArgs {
        term: Term(term),
        leader_id: PeerId(leader),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries: entries
            .iter()
            .map(|(i, t)| Entry {
                index: LogIndex(*i),
                term: Term(*t),
                command: Default::default(),
            })
            .collect(),
        leader_commit: LogIndex(commit),
        round: 0,
    })
}

impl Cluster {
    /// `n` peers with the default timing and Figure 2's elections (pre-vote and check-quorum
    /// off: the rules most tests check), peer `i` seeded with `seed + i`.
    pub fn new(n: usize, seed: u64) -> Cluster {
        Cluster::with_config(n, |id| figure2(Config::new(id, ids(n), seed + u64::from(id.0))))
    }

    pub fn with_config(n: usize, config: impl Fn(PeerId) -> Config) -> Cluster {
        let world_config = WorldConfig::new(n, 0, MANUAL_TICK_US).aligned();
        let applied = Applied(vec![Vec::new(); n], vec![Vec::new(); n]);
        let mut world = World::new(
            world_config,
            Immediate::default(),
            applied,
            vec![Durable::default(); n],
        );
        for id in ids(n) {
            world.start(id.as_usize(), config(id)).expect("valid config");
        }
        Cluster { world }
    }

    /// Peer `i` restarted from `restored` with `config`.
    pub fn restore(&mut self, i: usize, config: Config, restored: Restored) {
        let _ = self.world.stop(i);
        let durable = Durable {
            hard_state: restored.hard_state,
            snapshot: restored.snapshot,
            entries: restored.entries,
        };
        self.world.set_store(i, durable);
        self.world.start(i, config).expect("a valid restored state");
    }

    pub fn peer(&self, i: usize) -> &Raft {
        self.world.rafts()[i].as_ref().expect("no peer is stopped")
    }

    pub fn peers(&self) -> impl Iterator<Item = &Raft> {
        self.world.rafts().iter().flatten()
    }

    /// One input to peer `i`; the world carries out its Ready (a request's reply goes back
    /// to its sender only when the world delivers the request, not here).
    pub fn input<T>(&mut self, i: usize, f: impl FnOnce(&mut Raft) -> T) -> T {
        let out = self.world.input(i, None, f);
        out.unwrap_or_else(|b| panic!("{b}")).expect("no peer is stopped")
    }

    pub fn propose(&mut self, i: usize, command: Vec<u8>) -> Result<(LogIndex, Term), ProposeError> {
        self.input(i, |r| r.propose(command))
    }

    pub fn tick(&mut self, i: usize) {
        self.input(i, Raft::tick);
    }

    pub fn tick_all(&mut self) {
        self.world.advance_to(self.world.now_us() + 1);
        for i in 0..self.world.rafts().len() {
            self.tick(i);
        }
    }

    /// Cuts peer `i` off: messages to or from it are dropped on delivery.
    pub fn isolate(&mut self, i: usize, isolated: bool) {
        self.world.net_mut().isolate(i, isolated);
    }

    /// What peer `i` applied, in order.
    pub fn applied(&self, i: usize) -> &[Entry] {
        &self.world.service().0[i]
    }

    /// The outcomes of peer `i`'s reads so far, in the order they were decided.
    pub fn reads(&self, i: usize) -> &[ReadOutcome] {
        &self.world.service().1[i]
    }

    /// A copy of the next message waiting, if one is.
    pub fn next_message(&self) -> Option<Message> {
        match self.world.peek() {
            Some((at, event)) if at <= self.world.now_us() => match event {
                Event::Request { message, .. } => Some(Message::Request(message.clone())),
                Event::Reply { message, .. } => Some(Message::Reply(message.clone())),
                _ => None,
            },
            _ => None,
        }
    }

    /// Copies of the messages waiting now: sender, receiver, message, in delivery order.
    pub fn waiting(&mut self) -> Vec<(usize, usize, Message)> {
        let mut seen = Vec::new();
        if self.world.peek_time() != Some(self.world.now_us()) {
            return seen;
        }
        self.world
            .map_due(|event| {
                match &event {
                    Event::Request {
                        caller, to, message, ..
                    } => {
                        seen.push((caller.node, *to, Message::Request(message.clone())));
                    }
                    Event::Reply {
                        from,
                        caller,
                        message,
                    } => {
                        seen.push((*from, caller.node, Message::Reply(message.clone())));
                    }
                    _ => {}
                }
                Some(event)
            })
            .unwrap_or_else(|b| panic!("{b}"));
        seen
    }

    /// Keeps only the waiting messages `keep(from, to)` accepts.
    pub fn retain_messages(&mut self, mut keep: impl FnMut(usize, usize) -> bool) {
        let now = self.world.now_us();
        if self.world.peek_time() != Some(now) {
            return;
        }
        self.world
            .map_due(|event| {
                let (from, to) = match &event {
                    Event::Request { caller, to, .. } => (caller.node, *to),
                    Event::Reply { from, caller, .. } => (*from, caller.node),
                    _ => return Some(event),
                };
                keep(from, to).then_some(event)
            })
            .unwrap_or_else(|b| panic!("{b}"));
    }

    /// Delivers the next waiting message; false if none waits.
    pub fn deliver_one(&mut self) -> bool {
        if self.world.peek_time().is_none_or(|at| at > self.world.now_us()) {
            return false;
        }
        match self.world.step() {
            Ok(Step::Ran) => true,
            Ok(step) => panic!("a message was due, not {step:?}"),
            Err(b) => panic!("{b}"),
        }
    }

    /// Delivers until no message is left (bounded, so a livelock fails the test).
    pub fn deliver_all(&mut self) {
        for _ in 0..DELIVERIES_MAX {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("messages never stopped flowing");
    }

    /// Ticks everyone and delivers everything, `ticks` times.
    pub fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick_all();
            self.deliver_all();
        }
    }

    /// Runs until some peer leads, for at most `ticks_max` ticks; the number of ticks taken.
    pub fn run_until_leader(&mut self, ticks_max: usize) -> Option<usize> {
        for t in 1..=ticks_max {
            self.tick_all();
            self.deliver_all();
            if self.leaders().len() == 1 && !self.peers().any(|p| p.role() == RoleKind::Candidate) {
                return Some(t);
            }
        }
        None
    }

    /// The peers that lead, isolated ones left out.
    pub fn leaders(&self) -> Vec<usize> {
        (0..self.world.rafts().len())
            .filter(|i| !self.world.net().is_isolated(*i) && self.peer(*i).is_leader())
            .collect()
    }

    pub fn terms(&self) -> Vec<Term> {
        self.peers().map(Raft::term).collect()
    }

    pub fn commits(&self) -> Vec<LogIndex> {
        self.peers().map(Raft::commit_index).collect()
    }
}
