//! # raft-sim: a deterministic simulator for the raft-core state machine
//!
//! One thread drives N [`raft_core::Raft`] peers with a virtual clock (microseconds) and a
//! virtual network. Everything random (message delays, drops, duplicates, long delays that
//! reorder, partitions, crashes, restarts, the client's choices, each peer's RNG seed) comes
//! from one seed, and collections are `BTreeMap`/`Vec`, so one `u64` gives one run, bit for
//! bit; a running FNV-1a hash of the trace is the run's fingerprint.
//!
//! A run: peers start fresh; for `fault_duration_us` the nemesis crashes, restarts, partitions
//! and heals while the network drops, duplicates and delays; a client proposes commands to
//! whoever leads and retries those not seen committed; each service applies committed
//! entries and snapshots every K of them. Then faults stop (everything heals and restarts),
//! and within `liveness_bound_us` a leader must be in place with every pending proposal
//! committed; the run ends as soon as that holds.
//!
//! Each peer's durable storage is a model ([`durable::Durable`]) changed only by the
//! persistence steps of each [`raft_core::Ready`], run by [`raft_core::Ready::carry_out`] (the
//! same code that orders raft-node's writes, sends and applies); a crash keeps only it. After every event the checkers ([`checkers`]) test the Raft safety properties; the
//! first failure stops the run with a [`Violation`]: seed, invariant, the last events in a
//! compact notation, and the command that replays it.
//!
//! ```
//! let summary = raft_sim::run(raft_sim::SimConfig::new(7)).expect("no violation");
//! assert!(summary.events > 0);
//! ```
//!
//! Entry points: [`run`] for one seed; [`Simulation`] to drive a cluster event by event (for
//! measurements such as the Raft paper's Figure 16: crash the leader with
//! [`Simulation::crash`], [`Simulation::step`] until [`Simulation::leader`] is another peer).
//!
//! Deliberately left out: membership changes; a byte-level network (messages are passed as
//! values, not encoded); torn writes (the durable model persists a Ready whole: storage
//! crash safety is raft-storage's to test).
#![forbid(unsafe_code)]

pub mod checkers;
pub mod config;
pub mod durable;
pub mod figure16;
mod nemesis;
pub mod net;
pub mod queue;
pub mod report;
pub mod service;
pub mod sim;
pub mod tasks;
pub mod trace;
pub mod world;

pub use checkers::Breach;
pub use config::{FaultProfile, Sabotage, SimConfig};
pub use report::{RunSummary, Violation};
pub use sim::Simulation;
pub use world::{World, WorldConfig};

/// Runs one seed to the end.
///
/// # Errors
/// The first [`Violation`] of an invariant (or of liveness once faults stop).
pub fn run(config: SimConfig) -> Result<RunSummary, Violation> {
    Simulation::new(config)?.run()
}
