//! The network models the world's messages travel through.
//!
//! A model decides, for each message, whether and when it arrives; the world
//! ([`crate::world::World`]) turns its decisions into events on the one queue. Two models:
//!
//! - [`Labrpc`]: 6.824's labrpc decision for decision, for the 6.824 harness on virtual time:
//!   the draws of [`raft_labrpc::fault`] in labrpc's order, its ends (enabled or not, failed in
//!   flight when disabled), its dead-end and dead-server rules, its counts and bytes. Besides
//!   the Raft messages, it decides the calls a driver carries itself through ends of its own
//!   (a clerk's: [`Labrpc::start_call`] and the rest of its call API, [`CallFate`]), by the
//!   same rules and from the same draws.
//! - [`Nemesis`]: the safety runs' network: per-message delay, drop, duplication and long
//!   delays that reorder, and partitions that the nemesis forms and heals.
//!
//! A third, [`Immediate`], delivers every message at once: the bare-state-machine measurements
//! (election and replication benches) run on it. A fourth, [`Links`], is a matrix of one-way
//! links for the scripted scenarios ([`crate::scenario`]).

mod immediate;
mod labrpc;
mod links;
mod nemesis;

use std::fmt;

use raft_core::message::{Reply, Request};

pub use immediate::Immediate;
pub use labrpc::{CALL_POLL_US, Call, CallFate, Labrpc};
pub use links::Links;
pub use nemesis::Nemesis;

use crate::trace::Fate;

/// How a network model decides the fate of each message.
///
/// Requests and replies travel separately: a request's handler answers through the call it
/// came on (6.824's RPC: a reply goes back the way its request came), and the model may
/// remember, per call, whatever its rules need ([`Network::Call`]).
pub trait Network {
    /// What the model keeps of one call in flight (labrpc: the end's epoch and its flags).
    type Call: Copy + fmt::Debug;

    /// A request leaves `from` for `to` (`to_running`: `to` has a running instance). The
    /// fate, for the trace and the queue (a delay: one copy; a duplicate: two), and the call.
    fn send(&mut self, from: usize, to: usize, to_running: bool, message: &Request) -> (Fate, Self::Call);

    /// The handler of `call` (from `call`'s caller `to`, at `from`) answers with `message`.
    fn reply(&mut self, from: usize, to: usize, call: Self::Call, message: &Reply) -> Fate;

    /// A request reaches its running receiver `to`: true if the handler runs.
    fn arrive_request(&mut self, from: usize, to: usize, call: Self::Call) -> bool;

    /// A reply reaches its caller `to` (running or not): true if it is handed over.
    fn arrive_reply(&mut self, from: usize, to: usize, call: Self::Call, message: &Reply) -> bool;

    /// Node `node` started (or restarted).
    fn started(&mut self, node: usize) {
        let _ = node;
    }

    /// Node `node` stopped (crashed or killed).
    fn stopped(&mut self, node: usize) {
        let _ = node;
    }
}
