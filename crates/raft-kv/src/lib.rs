//! # raft-kv: a fault-tolerant service on Raft, the decisions (6.824 Lab 3)
//!
//! A service replicated through Raft applies the same commands in the same (log) order on
//! every server. This crate is the part of that service that *decides*, written like
//! raft-core: no threads, no I/O, no clock. The runtime waits and sends; the same code runs on
//! the real cluster (threads) and in the simulator.
//!
//! - [`StateMachine`]: the user's deterministic state machine (apply an op; encode and restore
//!   its state). [`KvStore`] is the Lab 3 key/value store: `Get`, `Put`, `Append`; a `Get` of
//!   a missing key returns "", an `Append` to a missing key acts like a `Put`.
//! - [`Rsm`]: the replicated-state-machine layer over any `StateMachine`: log commands out
//!   ([`Rsm::propose`]), committed entries in ([`Rsm::apply`]), replies to waiting clients out;
//!   the duplicate table; snapshots ([`Rsm::should_snapshot`], [`Rsm::snapshot`],
//!   [`Rsm::restore`]).
//! - [`ClerkState`]: the clerk's choices: which server, which (client id, sequence number),
//!   and what a reply means.
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
//! The runtime (the later work: a raft-node server on threads, and raft-sim hosting the
//! service on virtual time) owns the waiting and the sending:
//! 1. a handler encodes its request with [`Rsm::propose`] and calls Raft's `start`; on "not
//!    leader" it answers [`WrongLeader`]; else it calls [`Rsm::register`] and waits for the
//!    reply with its [`RequestId`] (and answers [`PendingFull`] as wrong leader);
//! 2. one loop feeds every committed entry, in index order, to [`Rsm::apply`] and every
//!    snapshot Raft delivers to [`Rsm::restore`], and hands each returned [`Reply`] to its
//!    waiting handler;
//! 3. when Raft's term changes or it stops leading, it calls [`Rsm::fail_all`];
//! 4. after applying, if [`Rsm::should_snapshot`] says so for the Raft state's size, it passes
//!    [`Rsm::snapshot`] and [`Rsm::last_applied`] to Raft's `snapshot`; on start it restores
//!    the persisted snapshot before applying anything;
//! 5. a clerk sends each [`Attempt`] of [`ClerkState`] and reports the outcome, backing off
//!    between rounds if it likes.
//!
//! ## Errors and assertions
//!
//! Everything from the disk or the network is a `Result`: command bytes that do not decode are
//! skipped and counted ([`Rsm::undecodable_commands`]), snapshot bytes that do not decode are a
//! [`RestoreError`]. Nothing here panics on input.
//!
//! ## Left out
//!
//! Expiry of duplicate-table rows (the Raft thesis, section 6.3: the table grows with the
//! number of clients ever seen); read-only operations outside the log (ReadIndex, leases);
//! the server binary and its RPC types; the runtime itself.

#![forbid(unsafe_code)]

mod clerk;
mod kv;
mod pending;
mod rsm;
mod state_machine;

pub use clerk::{Attempt, ClerkReply, ClerkState, Next, NoServers};
pub use kv::{KvOp, KvOutput, KvStore};
pub use pending::{PENDING_REQUESTS_MAX, PendingFull, Reply, RequestId, WrongLeader};
pub use rsm::{
    Applied, ApplyGap, ClientId, Command, DUPLICATE_ENTRIES_PER_CLIENT, Decision, EncodeError, RestoreError,
    Rsm, Seq,
};
pub use state_machine::{DecodeError, StateMachine};
