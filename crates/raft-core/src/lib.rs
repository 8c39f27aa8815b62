//! # raft-core: the Raft state machine, and nothing else
//!
//! This crate is the consensus algorithm of the extended Raft paper (Ongaro and Ousterhout,
//! "In Search of an Understandable Consensus Algorithm", Figure 2), written as a pure state
//! machine. It does no I/O, reads no clock, starts no thread, takes no lock and draws no
//! global randomness: `#![no_std]` with `alloc` enforces most of that, and the rest is policy.
//! The same seed and the same inputs give the same run, bit for bit.
//!
//! The vocabulary every other crate shares lives here:
//!
//! - [`Term`], [`LogIndex`], [`PeerId`]: newtypes, never bare integers or sentinels.
//! - [`Entry`]: one log entry (its index, the term it was created in, the opaque command).
//! - [`message`]: the RPCs of Figure 2 (RequestVote, AppendEntries) and of section 7
//!   (InstallSnapshot) as a [`message::Request`], their answers as a [`message::Reply`]. They
//!   derive `serde` so any wire format can carry them; the workspace uses postcard.
//!
//! Inputs: [`Raft::tick`], [`Raft::step_request`], [`Raft::step_reply`], [`Raft::propose`],
//! [`Raft::snapshot`]. Every message passes [`gate`] first. Outputs: a [`Ready`] from
//! [`Raft::take_ready`], carried out by [`Ready::carry_out`] in the order of the persistence
//! contract.
//!
//! ```
//! use raft_core::{Entry, LogIndex, Term};
//! use raft_core::message::RequestVoteArgs;
//! use raft_core::PeerId;
//!
//! let entry = Entry { index: LogIndex(1), term: Term(1), command: b"x=1".to_vec() };
//! assert!(entry.index > LogIndex::ZERO);
//! let ask = RequestVoteArgs {
//!     term: Term(2),
//!     candidate_id: PeerId(0),
//!     last_log_index: entry.index,
//!     last_log_term: entry.term,
//! };
//! assert_eq!(ask.term.next(), Term(3));
//! ```
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
mod raft;
mod ready;
mod replication;
mod snapshot;
mod types;

pub use config::{Config, ConfigError};
pub use gate::{LOG_INDEX_MAX, Refusal, Refused, TERM_MAX};
pub use log::{LogGap, RaftLog};
pub use raft::{NewError, Progress, ProposeError, Raft, Restored, Role, RoleKind};
pub use ready::{Effects, Ready};
pub use snapshot::SnapshotError;
pub use types::{Entry, HardState, LogIndex, PeerId, Snapshot, SnapshotMeta, Term};
