//! # raft-kv: a fault-tolerant service on Raft (6.824 Lab 3)
//!
//! A service replicated through Raft applies the same commands in the same (log) order on
//! every server. The part of that service that *decides* is written like raft-core: no
//! threads, no I/O, no clock. The runtime waits and sends; the same decisions run on the real
//! cluster (threads, the [`server`] module) and in the simulator.
//!
//! The decisions, pure:
//! - [`StateMachine`]: the user's deterministic state machine (apply an op; encode and restore
//!   its state). [`KvStore`] is the Lab 3 key/value store: `Get`, `Put`, `Append`; a `Get` of
//!   a missing key returns "", an `Append` to a missing key acts like a `Put`.
//! - [`Rsm`]: the replicated-state-machine layer over any `StateMachine`: log commands out
//!   ([`Rsm::propose`]), committed entries in ([`Rsm::apply`]), replies to waiting clients out;
//!   the duplicate table; snapshots ([`Rsm::should_snapshot`], [`Rsm::snapshot`],
//!   [`Rsm::restore`]).
//! - [`ServerState`]: one server's steps 1-4 below over an `Rsm` (a request arrived, an entry
//!   committed, a read confirmed, a snapshot arrived, Raft's term read, a snapshot due), so
//!   that every runtime only moves bytes and keeps responders. With reads on, a Get skips the
//!   log once Raft confirms it (ReadIndex or a lease: see [`ServerState`]'s module doc).
//! - [`ClerkState`]: the clerk's choices: which server, which (client id, sequence number),
//!   and what a reply means; [`Clerk`] runs them over any [`ClerkTransport`] (which also owns
//!   the pause between rounds, so the clerk never sleeps itself).
//! - [`Command`] and [`Response`] ([`rpc`]): what a clerk and a server say to each other.
//!
//! The runtime, threads: the [`server`] module. A [`server::Server`] is 6.824's
//! `StartKVServer` over a raft-node peer, over raft-labrpc or any raft-node transport: one
//! loop thread owns the `ServerState`; clients reach it through [`server::Server::submit`]
//! (the labrpc service is `submit` with a labrpc responder), and
//! [`server::LabrpcClerkTransport`] is the clerk's labrpc side.
//!
//! ```
//! use raft_core::{LogIndex, Term};
//! use raft_kv::{ClientId, Decision, KvOp, KvStore, RequestId, Rsm, Seq};
//!
//! let mut rsm = Rsm::new(KvStore::new());
//! let op = KvOp::Append { key: "x".into(), value: "a".into() };
//! let command = Rsm::<KvStore>::propose(ClientId(7), Seq(1), op).unwrap();
//! // Raft's start put it at index 1 of term 2; the handler waits there.
//! rsm.register(LogIndex(1), Term(2), RequestId(0)).unwrap();
//! let applied = rsm.apply(LogIndex(1), Term(2), &command).unwrap();
//! assert_eq!(applied.decision, Decision::Executed(String::new()));
//! assert_eq!(applied.reply.unwrap().outcome, Ok(String::new()));
//! // The same request committed again (a retry through the next leader) is not re-applied.
//! let again = rsm.apply(LogIndex(2), Term(3), &command).unwrap();
//! assert_eq!(again.decision, Decision::Duplicate(String::new()));
//! assert_eq!(rsm.state().value("x"), Some("a"));
//! ```
//!
//! ## Exactly once
//!
//! "Each Clerk.Put() / Clerk.Append() call must take effect exactly once, even though the
//! Clerk may send it several times" (handout). Every call carries the clerk's id and a
//! sequence number; a retry carries the same pair. The decision is taken in [`Rsm::apply`],
//! not when the request arrives, because one request can be committed twice (once through a
//! leader whose reply was lost, again through the next). The duplicate table keeps, per
//! client, the last sequence number and its output ([`DUPLICATE_ENTRIES_PER_CLIENT`]): the
//! handout lets a client make one call at a time, so a new number proves the old reply was
//! seen. The table is part of the replicated state and of every snapshot ("any state you are
//! using to detect them must be included in the snapshots").
//!
//! ## The index-and-term check
//!
//! A leader's handler waits for its command at the index `start` returned. It must notice
//! when "a different request has appeared at the index returned by Start(), or … Raft's term
//! has changed" (handout) and fail the call so the clerk tries elsewhere. [`Rsm::register`]
//! records (index, term) for the request; [`Rsm::apply`] answers it with the output only if
//! the entry applied at that index has that term, else [`WrongLeader`]; [`Rsm::fail_all`]
//! answers every waiting request when the runtime sees the term change or leadership lost.
//! At most [`PENDING_REQUESTS_MAX`] requests wait.
//!
//! ## What the runtime must do
//!
//! The runtime (the [`server`] module on threads; raft-sim hosting the service on virtual
//! time) owns the waiting and the sending; [`ServerState`] makes steps 1-4 one call each:
//! 1. a handler encodes its request with [`Rsm::propose`] and calls Raft's `start`; on "not
//!    leader" it answers [`WrongLeader`]; else it calls [`Rsm::register`] and waits for the
//!    reply with its [`RequestId`] (and answers [`PendingFull`] as wrong leader). With reads
//!    on, a read-only request on a leader that has committed in its term calls Raft's `read`
//!    instead, and is answered when its outcome comes: [`ServerState::on_request`] over a
//!    [`RaftPeer`], [`ServerState::on_read`];
//! 2. one loop feeds every committed entry, in index order, to [`Rsm::apply`] and every
//!    snapshot Raft delivers to [`Rsm::restore`], and hands each returned [`Reply`] to its
//!    waiting handler: [`ServerState::on_apply`], [`ServerState::on_snapshot`];
//! 3. when Raft's term changes or it stops leading, it calls [`Rsm::fail_all`]:
//!    [`ServerState::on_raft_state`], with Raft's state read often (the [`server`] loop reads
//!    it every [`server::RAFT_STATE_POLL`]);
//! 4. after applying, if [`Rsm::should_snapshot`] says so for the Raft state's size, it passes
//!    [`Rsm::snapshot`] and [`Rsm::last_applied`] to Raft's `snapshot`; on start it restores
//!    the persisted snapshot before applying anything: [`ServerState::snapshot_due`],
//!    [`ServerState::restore`];
//! 5. a clerk sends each [`Attempt`] of [`ClerkState`] and reports the outcome, backing off
//!    between rounds if it likes: [`Clerk`] does, over a [`ClerkTransport`], pausing
//!    [`CLERK_ROUND_PAUSE`] after each full round of failures.
//!
//! ## Errors and assertions
//!
//! Everything from the disk or the network is a `Result`: command bytes that do not decode are
//! skipped and counted ([`Rsm::undecodable_commands`]), snapshot bytes that do not decode are a
//! [`RestoreError`]. Nothing here panics on input. A [`server::Server`] stops rather than
//! serve wedged when its snapshot does not decode or its Raft peer stops on its own (its
//! storage failed), and says why ([`server::Server::failure`]).
//!
//! ## Left out
//!
//! Expiry of duplicate-table rows (the Raft thesis, section 6.3: the table grows with the
//! number of clients ever seen).

#![forbid(unsafe_code)]

mod clerk;
mod clerk_driver;
mod kv;
mod pending;
pub mod rpc;
mod rsm;
pub mod server;
mod server_state;
mod state_machine;

pub use clerk::{Attempt, ClerkReply, ClerkState, Next, NoServers};
pub use clerk_driver::{CLERK_ROUND_PAUSE, CallFailed, Clerk, ClerkTransport, GaveUp};
pub use kv::{KvOp, KvOutput, KvStore};
pub use pending::{PENDING_REQUESTS_MAX, PendingFull, Reply, RequestId, WrongLeader};
pub use rpc::Response;
pub use rsm::{
    Applied, ApplyGap, ClientId, Command, DUPLICATE_ENTRIES_PER_CLIENT, Decision, EncodeError, RestoreError,
    Rsm, Seq,
};
pub use server::{LabrpcClerkTransport, ServerStatus};
pub use server_state::{Admitted, RaftPeer, ReadBehind, ServerState};
pub use state_machine::{DecodeError, StateMachine};

/// The deliberately broken service rule this build of raft-kv has, if any: set only by
/// `cargo xtask mutants` (through `--cfg kv_mutant`, see build.rs), so that the Lab 3 suite's
/// linearizability check can prove it catches it. `None` in every other build.
/// - `no-dedup`: the duplicate table is ignored, every committed request is executed;
/// - `read-local`: a leader answers a read-only op from its own state at once, neither
///   through the log nor after Raft confirmed it leads;
/// - `snapshot-forgets-sessions`: installing a snapshot keeps its state but not its
///   duplicate table.
pub const MUTANT: Option<&str> = if cfg!(kv_mutant = "no-dedup") {
    Some("no-dedup")
} else if cfg!(kv_mutant = "read-local") {
    Some("read-local")
} else if cfg!(kv_mutant = "snapshot-forgets-sessions") {
    Some("snapshot-forgets-sessions")
} else {
    None
};
