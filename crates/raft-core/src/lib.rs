//! # raft-core: the Raft state machine, and nothing else
//!
//! This crate is the consensus algorithm of the extended Raft paper (Ongaro and Ousterhout,
//! "In Search of an Understandable Consensus Algorithm", Figure 2), written as a pure state
//! machine. It does no I/O, reads no clock, starts no thread, takes no lock and draws no
//! global randomness: `#![no_std]` with `alloc` enforces most of that, and the rest is policy.
//! The same seed and the same inputs give the same run, bit for bit.
//!
//! ## The protocol in a few paragraphs
//!
//! **Roles and terms.** Every peer is a follower, a candidate or a leader ([`Role`]). Time is
//! cut into terms ([`Term`]), numbered upward; each term has at most one leader. Every message
//! carries its sender's term, and one rule, applied before any other, keeps peers in step: a
//! peer that sees a higher term adopts it and becomes a follower (section 5.1; it lives once,
//! in the term gate of [`Raft::step_request`] and [`Raft::step_reply`]).
//!
//! **Election** (section 5.2, [`Raft::tick`]). A follower that hears from no leader for a
//! randomized election timeout becomes a candidate: it starts a new term, votes for itself
//! and asks the others for their votes (RequestVote). A peer grants one vote per term, and
//! only to a candidate whose log is at least as up to date as its own (section 5.4.1). A
//! candidate with votes from a majority leads the term and sends heartbeats (empty
//! AppendEntries) to hold it.
//!
//! **Replication** (section 5.3, [`Raft::propose`]). The leader appends each command to its
//! log and sends it to the followers with AppendEntries, naming the entry just before the new
//! ones; a follower accepts only if its own log holds that entry, so logs that agree at one
//! index agree on everything before it (Log Matching). A follower that refuses says where its
//! log differs, and the leader backs up a term at a time. An entry of the leader's own term
//! stored on a majority is committed, and so is everything before it; each peer hands
//! committed entries to its service in index order. A follower that lacks entries the leader
//! has compacted gets the leader's snapshot instead (section 7, InstallSnapshot).
//!
//! **Pre-vote and check-quorum** (the thesis, sections 9.6, 6.2 and 4.2.3; two [`Config`]
//! switches, on by default). With [`Config::pre_vote`] a peer whose timer runs out
//! first asks the others, with a PreVote, whether they would vote for it in the next term,
//! and raises its term only if a majority would: a peer cut off for a while comes back at the
//! term it left and deposes nobody. With [`Config::check_quorum`] a leader that heard from no
//! majority for an election timeout steps down, and a peer that heard from its leader within
//! the shortest election timeout ignores requests to vote in a higher term. With both off,
//! every rule, draw and message is exactly Figure 2's.
//!
//! **Reads** (the thesis, section 6.4; [`Config::reads`]). [`Raft::read`] answers a
//! read-only query without a log write: the leader notes its commit index, confirms with one
//! heartbeat round that a majority still follows it (ReadIndex, the default: no clock is
//! trusted), and hands the index back; the service answers once it has applied that far.
//! With [`ReadMode::Lease`] (and check-quorum) it skips the round while a lease, shortened
//! by a stated bound on clock drift, holds. [`ReadMode::Log`] offers no read path: the
//! service sends reads through the log.
//!
//! **The defaults** ([`Config::new`]): pre-vote on, check-quorum on, ReadIndex reads.
//! - Pre-vote, because without it a peer that was cut off comes back at a higher term and
//!   deposes a working leader; it costs one round trip per election.
//! - Check-quorum, because without it a leader cut off from its majority keeps taking
//!   commands it can never commit, and its followers never elect another; and the two
//!   together, because each alone loses liveness under a partial partition (Howard and
//!   Abraham; Cloudflare's 2020 outage): pre-vote alone keeps a leader that reaches one
//!   peer, check-quorum alone lets a stale follower keep deposing leaders.
//! - ReadIndex, because it makes reads linearizable for a heartbeat round and trusts no
//!   clock. Leases are off: they are only as safe as a bound on clock drift and a runtime
//!   that never loses a tick (a paused process keeps an old lease), which only the user can
//!   vouch for.
//!
//! The cost: check-quorum reads a silence of one election timeout as a lost majority. A
//! network whose replies take longer than that (6.824's unreliable network holds two in three
//! back for up to 2.2 s, against a 300 ms timeout) makes healthy leaders step down; there,
//! lengthen the election timeout, or turn check-quorum off ([`Config::check_quorum`] gives
//! the figures). The 6.824 harness runs Figure 2 exactly, both off, as the labs specify.
//!
//! **Leadership transfer** (the thesis, section 3.10; [`Raft::transfer_leadership`]). The
//! leader hands its role to a chosen peer: it stops taking proposals, brings the target's log
//! up to its own last entry, then sends it a TimeoutNow, on which the target campaigns at once
//! (no pre-vote) with RequestVotes flagged as a transfer, which voters never ignore. The
//! target usually leads the next term within a round trip or two. A transfer not done within
//! an election timeout is abandoned and proposals resume in the same term; any change of term
//! or role ends it. A leader that sent a TimeoutNow remembers it for the rest of its term
//! ([`Raft::timeout_now_sent`]): an election it did not start may follow at any time.
//!
//! **Safety** (section 5.4). The vote restriction makes every new leader hold every committed
//! entry (Leader Completeness); counting replicas commits only entries of the leader's current
//! term (the lesson of Figure 8). Together: no two peers ever apply different commands at the
//! same index (State Machine Safety). raft-sim checks these properties after every event.
//!
//! **The persistence contract.** Term, vote and log must be on stable storage before a peer
//! answers anyone (Figure 2): a vote forgotten in a crash could be given twice. The state
//! machine never writes anything itself. Each input collects what it asks for in a [`Ready`]:
//! what to persist, what to send, what to apply. [`Ready::carry_out`] runs it through the
//! runtime's [`Effects`] in the one order that keeps the contract, persist, then send, then
//! apply, and every runtime of the workspace (raft-node, raft-sim) uses it. One exception is
//! the leader's (thesis section 10.2.1): its AppendEntries leave before its own write of the
//! entries they carry, so that the leader's and the followers' writes run side by side; it
//! counts its own log toward a commit only once that write is done. The inputs between two
//! Readies are batched: every proposal and acknowledgement they bring leaves in one
//! AppendEntries per follower and one write, and several AppendEntries may be in flight to a
//! follower whose log matches ([`Config::append_entries_in_flight_max`]).
//!
//! ## Driving it
//!
//! Feed inputs ([`Raft::tick`] every unit of time, [`Raft::step_request`] and
//! [`Raft::step_reply`] for what the network brings, [`Raft::propose`] and [`Raft::snapshot`]
//! for what the service asks), then take the [`Ready`] and carry it out. Every message passes
//! the [`gate`] first. Here three peers in one loop, the network a list:
//!
//! ```
//! use raft_core::message::{Message, Reply, Request, RequestId};
//! use raft_core::{Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, ReadError, ReadId, Snapshot};
//!
//! /// What one Ready asked of this toy runtime: messages to deliver, entries to apply.
//! #[derive(Default)]
//! struct Outbox { sent: Vec<(PeerId, Message)>, applied: Vec<Entry> }
//!
//! impl Effects for Outbox {
//!     type Error = core::convert::Infallible;
//!     // A real runtime makes each of these durable before it returns.
//!     fn save_hard_state(&mut self, _: &HardState) -> Result<(), Self::Error> { Ok(()) }
//!     fn truncate_suffix(&mut self, _: LogIndex) -> Result<(), Self::Error> { Ok(()) }
//!     fn install_snapshot(&mut self, _: &Snapshot) -> Result<(), Self::Error> { Ok(()) }
//!     fn append(&mut self, _: &[Entry]) -> Result<(), Self::Error> { Ok(()) }
//!     fn send(&mut self, to: PeerId, request: Request) -> Result<(), Self::Error> {
//!         self.sent.push((to, Message::Request(request)));
//!         Ok(())
//!     }
//!     fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Self::Error> {
//!         // This runtime names each request after its sender, so the reply goes back there.
//!         self.sent.push((PeerId(id.0 as u32), Message::Reply(reply)));
//!         Ok(())
//!     }
//!     fn apply_snapshot(&mut self, _: Snapshot) -> Result<(), Self::Error> { Ok(()) }
//!     fn apply(&mut self, entry: Entry) -> Result<(), Self::Error> {
//!         self.applied.push(entry);
//!         Ok(())
//!     }
//!     fn read(&mut self, _: ReadId, _: Result<LogIndex, ReadError>) -> Result<(), Self::Error> {
//!         Ok(()) // This toy service never reads.
//!     }
//! }
//!
//! let ids: Vec<PeerId> = (0..3).map(PeerId).collect();
//! let mut peers: Vec<Raft> = ids
//!     .iter()
//!     .map(|&id| Raft::new(Config::new(id, ids.clone(), 7 + u64::from(id.0))).unwrap())
//!     .collect();
//! let mut in_flight: Vec<(PeerId, PeerId, Message)> = Vec::new(); // (from, to, message)
//! let mut applied: Vec<Vec<Entry>> = vec![Vec::new(); 3];
//! let mut proposed = false;
//! for _round in 0..1_000 {
//!     for peer in &mut peers {
//!         peer.tick();
//!     }
//!     for (from, to, message) in std::mem::take(&mut in_flight) {
//!         let peer = &mut peers[to.as_usize()];
//!         match message {
//!             Message::Request(r) => peer.step_request(from, RequestId(u64::from(from.0)), r),
//!             Message::Reply(r) => peer.step_reply(from, r),
//!         }
//!         let mut out = Outbox::default();
//!         let Ok(()) = peer.take_ready().carry_out(&mut out);
//!         in_flight.extend(out.sent.into_iter().map(|(dest, m)| (to, dest, m)));
//!         applied[to.as_usize()].extend(out.applied);
//!     }
//!     if !proposed {
//!         if let Some(leader) = peers.iter_mut().find(|p| p.is_leader()) {
//!             leader.propose(b"x=1".to_vec()).expect("the leader takes a command");
//!             proposed = true;
//!         }
//!     }
//!     for (i, peer) in peers.iter_mut().enumerate() {
//!         let mut out = Outbox::default();
//!         let Ok(()) = peer.take_ready().carry_out(&mut out);
//!         in_flight.extend(out.sent.into_iter().map(|(dest, m)| (PeerId(i as u32), dest, m)));
//!         applied[i].extend(out.applied);
//!     }
//!     if applied.iter().all(|a| !a.is_empty()) {
//!         break;
//!     }
//! }
//! for log in &applied {
//!     assert_eq!(log[0].command, b"x=1"[..], "every peer applies the command at index 1");
//! }
//! ```
//!
//! ## Where things are
//!
//! - [`Term`], [`LogIndex`], [`PeerId`]: newtypes, never bare integers or sentinels.
//! - [`Entry`]: one log entry (its index, the term it was created in, the opaque command).
//! - [`message`]: the RPCs of Figure 2 (RequestVote, AppendEntries), of section 7
//!   (InstallSnapshot) and the thesis's PreVote and TimeoutNow as a [`message::Request`],
//!   their answers as a [`message::Reply`]. They
//!   derive `serde` so any wire format can carry them; the workspace uses postcard.
//! - [`gate`]: every message checked once, before any rule; [`Config`]: validated settings and
//!   their named bounds; [`RaftLog`]: the log and its compacted prefix; [`Ready`] and
//!   [`Effects`]: the outputs and the one order they are carried out in.
//! - docs/ARCHITECTURE.md maps each rule of Figure 2 to the function that implements it.
//!
//! ## Deliberately left out
//!
//! Membership changes (section 6); snapshots sent in chunks (the whole snapshot travels in one
//! InstallSnapshot, as 6.824 allows); a no-op entry at election (the 6.824 tests count entries
//! and forbid it; an older entry then waits for the next command of the new term to commit).
//!
//! ## Error policy
//!
//! Anything that arrives from outside (a message from the network, a config from a user, state
//! restored from disk) is checked and answered with a `Result` or by the protocol's own rules.
//! Messages are checked once, by [`gate`], before any rule sees them: what no correct peer
//! sends is dropped and counted ([`Raft::refused`]), never a panic. `assert!` is kept for what
//! can only break through a bug in this crate: an invariant of the algorithm.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod config;
mod election;
pub mod gate;
mod log;
pub mod message;
mod quorum;
mod raft;
mod read;
mod ready;
mod replication;
mod snapshot;
mod transfer;
mod types;

/// The deliberately broken rule this build of raft-core has, if any: set only by
/// `cargo xtask mutants` (through `--cfg raft_mutant`, see build.rs), so that the simulator and
/// the 6.824 suite can prove they catch it. `None` in every other build.
pub const MUTANT: Option<&str> = if cfg!(raft_mutant = "vote-ignores-log") {
    Some("vote-ignores-log")
} else if cfg!(raft_mutant = "commit-old-term") {
    Some("commit-old-term")
} else if cfg!(raft_mutant = "truncate-on-stale-append") {
    Some("truncate-on-stale-append")
} else if cfg!(raft_mutant = "forget-vote") {
    Some("forget-vote")
} else if cfg!(raft_mutant = "prevote-ignores-log") {
    Some("prevote-ignores-log")
} else if cfg!(raft_mutant = "precandidate-keeps-leader") {
    Some("precandidate-keeps-leader")
} else if cfg!(raft_mutant = "ignore-votes-forever") {
    Some("ignore-votes-forever")
} else if cfg!(raft_mutant = "votes-ignored-after-leader-died") {
    Some("votes-ignored-after-leader-died")
} else if cfg!(raft_mutant = "read-without-round") {
    Some("read-without-round")
} else if cfg!(raft_mutant = "lease-ignores-drift") {
    Some("lease-ignores-drift")
} else if cfg!(raft_mutant = "transfer-not-exempt") {
    Some("transfer-not-exempt")
} else if cfg!(raft_mutant = "timeout-now-before-caught-up") {
    Some("timeout-now-before-caught-up")
} else {
    None
};

/// The shared byte buffer commands are held in ([`Entry::command`]), re-exported so that a
/// runtime need not name the `bytes` crate.
pub use bytes::Bytes;
pub use config::{Config, ConfigError, ReadMode, ReadModeParseError};
pub use gate::{LOG_INDEX_MAX, Refusal, Refused, TERM_JUMP_MAX, TERM_MAX};
pub use log::{LogGap, RaftLog};
pub use raft::{NewError, Progress, ProposeError, Raft, Restored, Role, RoleKind};
pub use read::{ReadError, ReadId};
pub use ready::{Effects, Ready};
pub use snapshot::SnapshotError;
pub use transfer::{Transfer, TransferError};
pub use types::{Entry, HardState, LogIndex, PeerId, Snapshot, SnapshotMeta, Term};
