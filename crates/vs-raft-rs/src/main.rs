//! raft-core beside tikv/raft-rs 0.7: three peers in one thread, 16-byte commands, the same
//! three workloads on both, in alternating rounds of one process, so that each ratio is
//! measured in one run on one machine state.
//!
//! Both sides do the same work around the state machine: every message goes through one FIFO
//! queue and is stepped into its peer; after each pass over the queue every peer's Ready is
//! carried out once; entries are appended (cloned) into an in-memory log, term and vote are
//! kept, and every committed entry is applied by adding its length to a checksum. raft-rs's
//! `MemStorage` is its own in-memory log; ours is [`MemLog`] below. Nothing is encoded.
//!
//! Workloads (entries counted are those the leader applied):
//! - `one`: propose one command, drive until the leader applied it, repeat;
//! - `100 proposals`: propose 100 commands one call each, drive until all are applied;
//! - `100 in one`: one proposal of 100 commands (raft-rs: one `MsgPropose` carrying 100
//!   entries; raft-core: [`Raft::propose_batch`]), drive until all are applied.
//!
//! Run with `cargo xtask bench-raft-rs` (release build); `--profile WORKLOAD` runs only
//! raft-core's side of one workload, for a profiler. Last, each side commits 500,000 entries in
//! a process of its own, and the growth of its resident set per entry is printed: the memory a
//! log entry costs, three peers and their storage together. It prints a markdown table: the
//! median time per entry of each side over the rounds, and the median of the per-round
//! ratios (raft-rs time / raft-core time: above 1 means raft-core is faster).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use raft::prelude::{ConfState, Entry as RsEntry, Message as RsMessage, MessageType};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};
use raft_core::message::{Message, Reply, Request, RequestId};
use raft_core::{Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, ReadError, ReadId, Snapshot};

/// Peers per cluster.
const PEERS: usize = 3;
/// Bytes per command.
const COMMAND_BYTES: usize = 16;
/// Commands per proposal round in the batched workloads.
const BATCH: usize = 100;
/// Entries each side commits per measured round (a fresh cluster per round, not timed).
const ROUND_ENTRIES: usize = 20_000;
/// Measured rounds per workload and side, alternating (after one unmeasured round each).
const ROUNDS: usize = 9;
/// A drive that has not settled after this many passes is a bug in the driver.
const PASSES_MAX: usize = 100_000;

/// The three workloads.
#[derive(Clone, Copy, Debug)]
enum Workload {
    One,
    Proposals,
    InOne,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::One => "one proposal at a time",
            Workload::Proposals => "100 proposals a round",
            Workload::InOne => "100 entries in one proposal",
        }
    }

    /// Commands per round of proposing and driving.
    fn per_round(self) -> usize {
        match self {
            Workload::One => 1,
            Workload::Proposals | Workload::InOne => BATCH,
        }
    }
}

/// One side of the comparison: a freshly elected three-peer cluster that can run a workload.
trait Side {
    /// Proposes one round of the workload on the leader (`commands` of them).
    fn propose(&mut self, workload: Workload, commands: usize);
    /// Carries out peer `i`'s Ready, queueing what it sends.
    fn carry_out(&mut self, i: usize);
    /// Steps every queued message into its peer; false if none was queued.
    fn deliver(&mut self) -> bool;
    /// Moves messages and carries out Readies until nothing is left: every peer's Ready, then
    /// every queued message, in passes, the same on both sides.
    fn drive(&mut self) {
        for _ in 0..PASSES_MAX {
            for i in 0..PEERS {
                self.carry_out(i);
            }
            if !self.deliver() {
                return;
            }
        }
        panic!("messages never stopped");
    }
    /// Entries with a command the leader applied so far.
    fn leader_applied(&self) -> usize;
}

/// Runs `entries` entries of `workload` on `side`, returning the time taken.
fn run(side: &mut dyn Side, workload: Workload, entries: usize) -> Duration {
    let start_applied = side.leader_applied();
    let per_round = workload.per_round();
    let started = Instant::now();
    for _ in 0..entries / per_round {
        side.propose(workload, per_round);
        side.drive();
    }
    let took = started.elapsed();
    let applied = side.leader_applied() - start_applied;
    assert_eq!(
        applied,
        entries,
        "{}: the leader applied what was proposed",
        workload.name()
    );
    took
}

fn command() -> Vec<u8> {
    vec![7; COMMAND_BYTES]
}

// ---------------------------------------------------------------------------------------
// raft-core
// ---------------------------------------------------------------------------------------

/// A peer's in-memory storage: term and vote, and the log, appended by cloning (as
/// raft-rs's `MemStorage` does).
#[derive(Default)]
struct MemLog {
    hard_state: HardState,
    entries: Vec<Entry>,
    applied: usize,
    checksum: u64,
}

/// One Ready's effects on one peer: its storage, and the shared message queue.
struct PeerEffects<'a> {
    me: usize,
    log: &'a mut MemLog,
    queue: &'a mut VecDeque<(usize, usize, Message)>,
}

impl Effects for PeerEffects<'_> {
    type Error = core::convert::Infallible;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Self::Error> {
        self.log.hard_state = *hard_state;
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Self::Error> {
        self.log.entries.retain(|e| e.index < from);
        Ok(())
    }

    fn install_snapshot(&mut self, _: &Snapshot) -> Result<(), Self::Error> {
        unreachable!("no snapshot is taken in this bench")
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), Self::Error> {
        self.log.entries.extend_from_slice(entries);
        Ok(())
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Self::Error> {
        self.queue
            .push_back((self.me, to.as_usize(), Message::Request(request)));
        Ok(())
    }

    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Self::Error> {
        // Requests are stepped under their sender's index.
        self.queue
            .push_back((self.me, id.0 as usize, Message::Reply(reply)));
        Ok(())
    }

    fn apply_snapshot(&mut self, _: Snapshot) -> Result<(), Self::Error> {
        unreachable!("no snapshot is taken in this bench")
    }

    fn apply(&mut self, entry: Entry) -> Result<(), Self::Error> {
        if !entry.command.is_empty() {
            self.log.applied += 1;
            self.log.checksum += entry.command.len() as u64;
        }
        Ok(())
    }

    fn read(&mut self, _: ReadId, _: Result<LogIndex, ReadError>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Three raft-core peers with their logs and the queue between them.
struct Ours {
    peers: Vec<Raft>,
    logs: Vec<MemLog>,
    queue: VecDeque<(usize, usize, Message)>,
    leader: usize,
}

impl Ours {
    fn elected() -> Ours {
        let ids: Vec<PeerId> = (0..PEERS as u32).map(PeerId).collect();
        let peers = ids
            .iter()
            .map(|&id| Raft::new(Config::new(id, ids.clone(), 1 + u64::from(id.0))).expect("valid config"))
            .collect();
        let mut ours = Ours {
            peers,
            logs: (0..PEERS).map(|_| MemLog::default()).collect(),
            queue: VecDeque::new(),
            leader: 0,
        };
        // Only peer 0 ticks: it times out, campaigns and wins.
        for _ in 0..1_000 {
            if ours.peers[0].is_leader() {
                return ours;
            }
            ours.peers[0].tick();
            ours.drive();
        }
        panic!("raft-core: peer 0 was not elected");
    }
}

impl Side for Ours {
    fn propose(&mut self, workload: Workload, commands: usize) {
        let leader = &mut self.peers[self.leader];
        match workload {
            Workload::One | Workload::Proposals => {
                for _ in 0..commands {
                    leader.propose(command()).expect("the leader takes it");
                }
            }
            Workload::InOne => {
                let batch: Vec<Vec<u8>> = (0..commands).map(|_| command()).collect();
                leader.propose_batch(batch).expect("the leader takes it");
            }
        }
    }

    fn carry_out(&mut self, i: usize) {
        let ready = self.peers[i].take_ready();
        let mut effects = PeerEffects {
            me: i,
            log: &mut self.logs[i],
            queue: &mut self.queue,
        };
        let Ok(()) = ready.carry_out(&mut effects);
    }

    fn deliver(&mut self) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        for (from, to, message) in std::mem::take(&mut self.queue) {
            let peer = &mut self.peers[to];
            match message {
                Message::Request(r) => peer.step_request(PeerId(from as u32), RequestId(from as u64), r),
                Message::Reply(r) => peer.step_reply(PeerId(from as u32), r),
            }
        }
        true
    }

    fn leader_applied(&self) -> usize {
        self.logs[self.leader].applied
    }
}

// ---------------------------------------------------------------------------------------
// raft-rs
// ---------------------------------------------------------------------------------------

/// Three raft-rs peers (ids 1 to 3) on `MemStorage`, and the queue between them.
struct Theirs {
    peers: Vec<RawNode<MemStorage>>,
    queue: VecDeque<RsMessage>,
    applied: Vec<usize>,
    checksum: u64,
    leader: usize,
}

impl Theirs {
    fn elected() -> Theirs {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let voters: Vec<u64> = (1..=PEERS as u64).collect();
        let peers = voters
            .iter()
            .map(|&id| {
                let config = raft::Config {
                    id,
                    election_tick: 10,
                    heartbeat_tick: 3,
                    max_size_per_msg: 1 << 20,
                    max_inflight_msgs: 256,
                    ..Default::default()
                };
                let storage = MemStorage::new_with_conf_state(ConfState::from((voters.clone(), vec![])));
                RawNode::new(&config, storage, &logger).expect("valid config")
            })
            .collect();
        let mut theirs = Theirs {
            peers,
            queue: VecDeque::new(),
            applied: vec![0; PEERS],
            checksum: 0,
            leader: 0,
        };
        theirs.peers[0].campaign().expect("peer 1 campaigns");
        theirs.drive();
        assert_eq!(
            theirs.peers[0].raft.state,
            StateRole::Leader,
            "raft-rs: peer 1 was not elected"
        );
        theirs
    }

    fn apply(&mut self, i: usize, entries: Vec<RsEntry>) {
        for entry in entries {
            if !entry.data.is_empty() {
                self.applied[i] += 1;
                self.checksum += entry.data.len() as u64;
            }
        }
    }
}

impl Side for Theirs {
    fn propose(&mut self, workload: Workload, commands: usize) {
        let leader = &mut self.peers[self.leader];
        match workload {
            Workload::One | Workload::Proposals => {
                for _ in 0..commands {
                    leader.propose(vec![], command()).expect("the leader takes it");
                }
            }
            Workload::InOne => {
                let mut message = RsMessage::default();
                message.set_msg_type(MessageType::MsgPropose);
                message.from = leader.raft.id;
                let entries: Vec<RsEntry> = (0..commands)
                    .map(|_| RsEntry {
                        data: command().into(),
                        ..Default::default()
                    })
                    .collect();
                message.set_entries(entries.into());
                leader.step(message).expect("the leader takes it");
            }
        }
    }

    /// raft-rs's Ready, carried out as its examples do: send, apply, persist, send what
    /// waited for persistence, advance, apply what the advance committed.
    fn carry_out(&mut self, i: usize) {
        if !self.peers[i].has_ready() {
            return;
        }
        let node = &mut self.peers[i];
        let store = node.raft.raft_log.store.clone();
        let mut ready = node.ready();
        self.queue.extend(ready.take_messages());
        let committed = ready.take_committed_entries();
        if !ready.entries().is_empty() {
            store.wl().append(ready.entries()).expect("in-memory append");
        }
        if let Some(hs) = ready.hs() {
            store.wl().set_hardstate(hs.clone());
        }
        self.queue.extend(ready.take_persisted_messages());
        let mut light = node.advance(ready);
        if let Some(commit) = light.commit_index() {
            store.wl().mut_hard_state().set_commit(commit);
        }
        self.queue.extend(light.take_messages());
        let later = light.take_committed_entries();
        node.advance_apply();
        self.apply(i, committed);
        self.apply(i, later);
    }

    fn deliver(&mut self) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        for message in std::mem::take(&mut self.queue) {
            let to = message.to as usize - 1;
            let _ = self.peers[to].step(message);
        }
        true
    }

    fn leader_applied(&self) -> usize {
        self.applied[self.leader]
    }
}

// ---------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `--profile one|proposals|in-one`: runs only raft-core's side of one workload, for ten
/// rounds, so that a profiler sees nothing else.
fn profile(name: &str) {
    let workload = match name {
        "one" => Workload::One,
        "proposals" => Workload::Proposals,
        "in-one" => Workload::InOne,
        other => panic!("unknown workload {other} (one, proposals, in-one)"),
    };
    for _ in 0..10 {
        let mut ours = Ours::elected();
        run(&mut ours, workload, ROUND_ENTRIES);
        black_box(ours.logs[ours.leader].checksum);
    }
}

/// Entries committed in the memory measurement.
const MEMORY_ENTRIES: usize = 500_000;

/// This process's resident set, in bytes (Linux: /proc/self/statm, in pages of 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

/// `--memory ours|theirs`: one elected cluster of that side commits [`MEMORY_ENTRIES`]
/// entries, 100 proposals a round; prints the growth of the resident set per entry, for the
/// whole cluster (three peers, each with its log and its in-memory storage). Run in a process
/// of its own per side, so that neither reuses what the other freed.
fn memory(side: &str) {
    let before = resident_bytes();
    let grown = match side {
        "ours" => {
            let mut ours = Ours::elected();
            run(&mut ours, Workload::Proposals, MEMORY_ENTRIES);
            let grown = resident_bytes() - before;
            black_box(&ours.logs);
            grown
        }
        "theirs" => {
            let mut theirs = Theirs::elected();
            run(&mut theirs, Workload::Proposals, MEMORY_ENTRIES);
            let grown = resident_bytes() - before;
            black_box(&theirs.peers);
            grown
        }
        other => panic!("unknown side {other} (ours, theirs)"),
    };
    println!("{}", grown as f64 / MEMORY_ENTRIES as f64);
}

/// Runs `--memory SIDE` in a child process and reads its answer.
fn memory_of(side: &str) -> f64 {
    let exe = std::env::current_exe().expect("this binary's path");
    let out = std::process::Command::new(exe)
        .args(["--memory", side])
        .output()
        .expect("the child runs");
    assert!(out.status.success(), "--memory {side} failed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = args.as_slice() {
        match flag.as_str() {
            "--profile" => return profile(name),
            "--memory" => return memory(name),
            _ => panic!("unknown flag {flag} (--profile, --memory)"),
        }
    }
    println!(
        "| workload (3 peers, {COMMAND_BYTES}-byte commands, one thread) | raft-rs 0.7 | raft-core | raft-rs time / raft-core time |"
    );
    println!("|---|---|---|---|");
    for workload in [Workload::One, Workload::Proposals, Workload::InOne] {
        let mut ours_ns = Vec::new();
        let mut theirs_ns = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..=ROUNDS {
            let mut theirs = Theirs::elected();
            let t = run(&mut theirs, workload, ROUND_ENTRIES);
            black_box(theirs.checksum);
            let mut ours = Ours::elected();
            let o = run(&mut ours, workload, ROUND_ENTRIES);
            black_box(ours.logs[ours.leader].checksum);
            if round == 0 {
                continue; // warm-up
            }
            let per_entry = |d: Duration| d.as_nanos() as f64 / ROUND_ENTRIES as f64;
            theirs_ns.push(per_entry(t));
            ours_ns.push(per_entry(o));
            ratios.push(t.as_secs_f64() / o.as_secs_f64());
        }
        let (theirs, ours, ratio) = (median(&mut theirs_ns), median(&mut ours_ns), median(&mut ratios));
        let rate = |ns: f64| 1e9 / ns / 1e3;
        println!(
            "| {} | {:.0} k/s ({theirs:.0} ns/entry) | {:.0} k/s ({ours:.0} ns/entry) | **{ratio:.2}x** (rounds {:.2}-{:.2}) |",
            workload.name(),
            rate(theirs),
            rate(ours),
            ratios.first().copied().unwrap_or(0.0),
            ratios.last().copied().unwrap_or(0.0),
        );
    }
    let (theirs, ours) = (memory_of("theirs"), memory_of("ours"));
    println!(
        "\nmemory: {MEMORY_ENTRIES} entries committed, 3 peers with their in-memory storage: \
         raft-rs {theirs:.0} bytes per entry, raft-core {ours:.0} (resident set growth; \
         {:.0} and {:.0} per peer)",
        theirs / PEERS as f64,
        ours / PEERS as f64
    );
}
