//! # raft-sim: the one deterministic world of every simulated suite
//!
//! [`World`] is a virtual clock (microseconds), one event queue, a network model
//! ([`net::Network`]: [`net::Labrpc`], 6.824's labrpc decision for decision; [`net::Nemesis`],
//! drops, duplicates, long delays and partitions; [`net::Immediate`], every message at once),
//! and nodes: each a [`raft_core::Raft`] with its durable model ([`durable::Store`]) and the
//! service above it ([`service::Service`], a trait of raft-sim's own: it knows no service in
//! particular). Each input's [`raft_core::Ready`] is carried out by
//! [`raft_core::Ready::carry_out`], the code raft-node runs. Client tasks ([`tasks`]) run a
//! driver's blocking code beside the world, scheduled from the seed; a task may sleep or wait
//! for the world to answer its call. One trace notation
//! ([`trace`]) for every suite: `t=1.230s n1@3 follower -> candidate`,
//! `n1 -> n2 AppendEntries term=3 prev=5@2 entries=3 commit=4 (+4ms)`.
//!
//! Its drivers: the safety runs here ([`Simulation`]), the 6.824 harness on virtual time
//! (tests/), raft-core's scenario tests, and the election and replication benches.
//!
//! A safety run: peers start fresh; for `fault_duration_us` the nemesis crashes, restarts,
//! partitions and heals while the network drops, duplicates and delays; a client proposes
//! commands to whoever leads and retries those not seen committed; each service applies
//! committed entries and snapshots every K of them. Then faults stop, and within
//! `liveness_bound_us` a leader must be in place with every pending proposal committed. The
//! checkers ([`checkers`]) test the Raft safety properties after every event; the first
//! failure stops the run with a [`Violation`]: seed, invariant, the last events, and the
//! command that replays it. One `u64` seed gives one run, bit for bit.
//!
//! ```
//! let summary = raft_sim::run(raft_sim::SimConfig::new(7)).expect("no violation");
//! assert!(summary.events > 0);
//! ```
//!
//! The message fuzzer ([`fuzz`]) drives bare peers with mutated and garbage messages and
//! checks what each peer promises about itself, whatever it is sent (a lying peer may break
//! the cluster-wide properties the world's checkers hold, so it has properties of its own).
//!
//! Deliberately left out: membership changes; a byte-level network (messages are passed as
//! values, not encoded); torn writes (the durable model persists a Ready whole: storage
//! crash safety is raft-storage's to test).
#![forbid(unsafe_code)]

pub mod checkers;
pub mod config;
pub mod durable;
mod effects;
pub mod figure16;
pub mod fuzz;
mod nemesis;
pub mod net;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod service;
pub mod sim;
pub mod tasks;
pub mod trace;
pub mod world;

pub use checkers::Breach;
pub use config::{FaultProfile, Sabotage, SimConfig, Switches};
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
