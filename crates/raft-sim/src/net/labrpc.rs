//! labrpc's network on the virtual clock, decision for decision: the 6.824 harness's
//! simulated cluster sees what raft-labrpc's real network would do with the same draws.
//!
//! One set of rules serves every call, Raft messages and a clerk's alike: the call API
//! ([`Labrpc::start_call`], [`Labrpc::handle_call`], [`Labrpc::finish_call`],
//! [`Labrpc::call_alive`]) is labrpc's life of a call, for calls the driver carries itself (a
//! clerk's, whose handler answers later), and [`Network`] for the world's Raft messages is
//! written on top of it.
//!
//! - Ends: one from each node to each node, and, for each caller outside the cluster (a
//!   clerk, [`Labrpc::add_caller`]), one from it to each node; enabled or not. Disabling an
//!   end fails the calls in flight through it (its epoch moves on). A (re)started node gets
//!   fresh, disabled ends of its own; the ends of callers to it are untouched (6.824's kvraft
//!   config: a clerk's ends reach the restarted server).
//! - A call through a disabled end or to a missing server is a dead end: counted, a
//!   [`fault::dead_end_delay_ms`] drawn, the call fails after it, nothing runs.
//! - Otherwise [`fault::request_fate`] is drawn; a dropped request never runs its handler,
//!   and the call fails after the delay.
//! - A reply through an end disabled meanwhile fails at once without a draw (labrpc's
//!   `isServerDead` after the handler); else [`fault::reply_fate`] with the flags of the
//!   moment the call left. While a handler has not answered, labrpc polls every
//!   [`CALL_POLL_US`] ([`Labrpc::call_alive`]).
//! - Counts: every call at its start (total and request bytes), a server's count when its
//!   handler runs (reset when the server is replaced or deleted), reply bytes when the reply
//!   reaches the caller ([`Labrpc::reply_arrived`]), as labrpc.go counts a reordered reply's
//!   bytes only once it is delivered.

use raft_core::message::{Reply, Request};
use raft_labrpc::fault::{self, ReplyFate};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::Network;
use crate::config::US_PER_MS;
use crate::trace::Fate;

/// Mixed into the run's seed for the network's RNG (as the harness has always seeded it).
const LABRPC_SEED: u64 = 0x6824_5840;

/// How often labrpc checks on a call whose handler has not answered (labrpc.go: every
/// 100 ms, `isServerDead`: was the server deleted or the end disabled?).
pub const CALL_POLL_US: u64 = 100_000;

/// What a call in flight remembers: its end's epoch and labrpc's flags when it left.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// How many times the end had been disabled when the call left: a disable fails it.
    end_epoch: u64,
    reliable: bool,
    long_reordering: bool,
    /// The request was lost on the way (its handler never runs).
    dropped: bool,
}

/// labrpc's decision for one call, for calls that are not Raft messages (a clerk's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFate {
    /// The request reaches the handler (or, from [`Labrpc::finish_call`], the reply reaches
    /// the caller) after this long.
    Arrives {
        /// Microseconds on the way.
        after_us: u64,
    },
    /// The call fails (returns false to the caller) after this long; no handler runs (or,
    /// from [`Labrpc::finish_call`], the handler's reply is lost).
    FailsAfter {
        /// Microseconds before the caller learns it failed.
        after_us: u64,
    },
}

/// The start of a call as labrpc decides it (the world's trace tells a dead end from a drop).
enum Start {
    DeadEnd { after_us: u64 },
    Dropped { after_us: u64 },
    Arrives { after_us: u64 },
}

/// labrpc's ends, knobs and counters.
#[derive(Clone, Debug)]
pub struct Labrpc {
    /// How many nodes (servers); callers are numbered from here on.
    n: usize,
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    /// `enabled[from][to]`: the end from `from` (a node, or a caller when `>= n`) to node
    /// `to` is enabled.
    enabled: Vec<Vec<bool>>,
    /// `epoch[from][to]`: how often that end was disabled or replaced.
    epoch: Vec<Vec<u64>>,
    /// RPCs handled by each server instance since it was added.
    counts: Vec<u64>,
    total_count: u64,
    total_bytes: u64,
    rng: SmallRng,
}

impl Labrpc {
    /// labrpc's network for `n` nodes: reliable, every end disabled, no callers.
    #[must_use]
    pub fn new(n: usize, seed: u64) -> Labrpc {
        Labrpc {
            n,
            reliable: true,
            long_reordering: false,
            long_delays: false,
            enabled: vec![vec![false; n]; n],
            epoch: vec![vec![0; n]; n],
            counts: vec![0; n],
            total_count: 0,
            total_bytes: 0,
            rng: SmallRng::seed_from_u64(seed ^ LABRPC_SEED),
        }
    }

    /// A new caller outside the cluster (a clerk): its own ends to every node, disabled.
    /// Returns its caller id (`>= n`, usable as `from` in [`Labrpc::enable`]). Ends of
    /// callers are not touched by a node's start or stop (6.824's kvraft config: a clerk's
    /// ends reach the restarted server).
    pub fn add_caller(&mut self) -> usize {
        self.enabled.push(vec![false; self.n]);
        self.epoch.push(vec![0; self.n]);
        self.enabled.len() - 1
    }

    /// Enables or disables the end from `from` (a node or a caller) to node `to`. Disabling
    /// fails the calls in flight through it, as labrpc does.
    pub fn enable(&mut self, from: usize, to: usize, enabled: bool) {
        if self.enabled[from][to] && !enabled {
            self.epoch[from][to] += 1;
        }
        self.enabled[from][to] = enabled;
    }

    /// labrpc's start of a call of `bytes` request bytes through the end from `from` to
    /// node `to` (`to_running`: it has a running instance): counts it (total calls and
    /// bytes), then draws, in labrpc's order, a dead end's delay (end disabled or server
    /// missing: the call fails after it) or the request's fate (dropped: the call fails
    /// after its delay; else the request arrives after it). Raft messages take this path
    /// too ([`Network::send`]).
    pub fn start_call(&mut self, from: usize, to: usize, to_running: bool, bytes: u64) -> (CallFate, Call) {
        let (start, call) = self.start(from, to, to_running, bytes);
        let fate = match start {
            Start::DeadEnd { after_us } | Start::Dropped { after_us } => CallFate::FailsAfter { after_us },
            Start::Arrives { after_us } => CallFate::Arrives { after_us },
        };
        (fate, call)
    }

    /// The rules of [`Labrpc::start_call`], telling a dead end from a dropped request.
    fn start(&mut self, from: usize, to: usize, to_running: bool, bytes: u64) -> (Start, Call) {
        self.total_count += 1;
        self.total_bytes += bytes;
        let mut call = Call {
            end_epoch: self.epoch[from][to],
            reliable: self.reliable,
            long_reordering: self.long_reordering,
            dropped: false,
        };
        if !(self.enabled[from][to] && to_running) {
            let delay_ms = fault::dead_end_delay_ms(&mut self.rng, self.long_delays);
            let after_us = delay_ms * US_PER_MS;
            return (Start::DeadEnd { after_us }, call);
        }
        let fate = fault::request_fate(&mut self.rng, self.reliable);
        let after_us = fate.delay_ms * US_PER_MS;
        call.dropped = fate.dropped;
        if fate.dropped {
            return (Start::Dropped { after_us }, call);
        }
        (Start::Arrives { after_us }, call)
    }

    /// The request of `call` reaches the handler at node `to`: counted in `to`'s RPC count
    /// (the handler runs even if the end was disabled meanwhile: only its reply is lost).
    pub fn handle_call(&mut self, to: usize, call: Call) {
        let _ = call;
        self.counts[to] += 1;
    }

    /// labrpc's finish of a call: the handler at node `server` answered `caller`. A call
    /// whose end was disabled meanwhile fails at once, without a draw; else
    /// [`fault::reply_fate`] with the flags of the call's start: a dropped reply fails the
    /// call at once, a delivered one arrives after its delay (its bytes are counted when it
    /// arrives: [`Labrpc::reply_arrived`]).
    pub fn finish_call(&mut self, server: usize, caller: usize, call: Call) -> CallFate {
        if !self.call_alive(caller, server, call) {
            return CallFate::FailsAfter { after_us: 0 };
        }
        match fault::reply_fate(&mut self.rng, call.reliable, call.long_reordering) {
            ReplyFate::Delivered { delay_ms } => CallFate::Arrives {
                after_us: delay_ms * US_PER_MS,
            },
            ReplyFate::Dropped => CallFate::FailsAfter { after_us: 0 },
        }
    }

    /// A reply of `bytes` bytes reaches its caller (the [`CallFate::Arrives`] of
    /// [`Labrpc::finish_call`] came due): labrpc counts reply bytes on delivery.
    pub fn reply_arrived(&mut self, bytes: u64) {
        self.total_bytes += bytes;
    }

    /// labrpc's poll ([`CALL_POLL_US`]) of a call whose handler has not answered: false
    /// once the end from `caller` to `server` was disabled since the call started (its
    /// epoch moved on) or is disabled now. (Whether the server was deleted or replaced
    /// meanwhile is the driver's to check: it knows the instance the call reached.)
    #[must_use]
    pub fn call_alive(&self, caller: usize, server: usize, call: Call) -> bool {
        self.enabled[caller][server] && self.epoch[caller][server] == call.end_epoch
    }

    /// RPCs handled by node `i`'s server since it was added.
    #[must_use]
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.counts[i]
    }

    /// Every call made so far.
    #[must_use]
    pub fn rpc_total(&self) -> u64 {
        self.total_count
    }

    /// Every byte sent so far: requests at a call's start, replies when they arrive.
    #[must_use]
    pub fn bytes_total(&self) -> u64 {
        self.total_bytes
    }

    /// labrpc's `Reliable`.
    pub fn set_reliable(&mut self, reliable: bool) {
        self.reliable = reliable;
    }

    /// labrpc's `LongReordering`.
    pub fn set_long_reordering(&mut self, on: bool) {
        self.long_reordering = on;
    }

    /// labrpc's `LongDelays`.
    pub fn set_long_delays(&mut self, on: bool) {
        self.long_delays = on;
    }
}

/// The world's Raft messages, through the call API: one implementation of labrpc's rules.
impl Network for Labrpc {
    type Call = Call;

    /// [`Labrpc::start_call`]; the world queues nothing for a failed call (a Raft caller
    /// learns nothing of a failure).
    fn send(&mut self, from: usize, to: usize, to_running: bool, message: &Request) -> (Fate, Call) {
        let (start, call) = self.start(from, to, to_running, request_size(message));
        let fate = match start {
            Start::DeadEnd { .. } => Fate::DeadEnd,
            Start::Dropped { .. } => Fate::Dropped,
            Start::Arrives { after_us } => Fate::Delayed(after_us),
        };
        (fate, call)
    }

    /// [`Labrpc::finish_call`]: the handler at `from` answers its caller `to`.
    fn reply(&mut self, from: usize, to: usize, call: Call, _message: &Reply) -> Fate {
        match self.finish_call(from, to, call) {
            CallFate::Arrives { after_us } => Fate::Delayed(after_us),
            CallFate::FailsAfter { .. } => Fate::Dropped,
        }
    }

    /// [`Labrpc::handle_call`], unless the request was dropped.
    fn arrive_request(&mut self, _from: usize, to: usize, call: Call) -> bool {
        if call.dropped {
            return false;
        }
        self.handle_call(to, call);
        true
    }

    /// [`Labrpc::reply_arrived`]: always handed over, its bytes counted now.
    fn arrive_reply(&mut self, _from: usize, _to: usize, _call: Call, message: &Reply) -> bool {
        self.reply_arrived(reply_size(message));
        true
    }

    /// Fresh ends from the node, disabled until the harness connects them; a fresh count.
    /// Callers' ends to it are left alone.
    fn started(&mut self, node: usize) {
        for to in 0..self.n {
            self.enabled[node][to] = false;
            self.epoch[node][to] += 1;
        }
        self.counts[node] = 0;
    }

    /// The server is deleted: labrpc's count of a deleted server is 0.
    fn stopped(&mut self, node: usize) {
        self.counts[node] = 0;
    }
}

/// Bytes labrpc would count for a request: the postcard encoding of its arguments.
fn request_size(request: &Request) -> u64 {
    let size = match request {
        Request::RequestVote(m) => postcard::experimental::serialized_size(m),
        Request::AppendEntries(m) => postcard::experimental::serialized_size(m),
        Request::InstallSnapshot(m) => postcard::experimental::serialized_size(m),
        Request::PreVote(m) => postcard::experimental::serialized_size(m),
        Request::TimeoutNow(m) => postcard::experimental::serialized_size(m),
    };
    size.map_or(0, |s| s as u64)
}

/// Bytes labrpc would count for a reply: the postcard encoding of the reply.
fn reply_size(reply: &Reply) -> u64 {
    let size = match reply {
        Reply::RequestVote(m) => postcard::experimental::serialized_size(m),
        Reply::AppendEntries(m) => postcard::experimental::serialized_size(m),
        Reply::InstallSnapshot(m) => postcard::experimental::serialized_size(m),
        Reply::PreVote(m) => postcard::experimental::serialized_size(m),
        Reply::TimeoutNow(m) => postcard::experimental::serialized_size(m),
    };
    size.map_or(0, |s| s as u64)
}
