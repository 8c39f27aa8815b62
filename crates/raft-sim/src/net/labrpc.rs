//! labrpc's network on the virtual clock, decision for decision: the 6.824 harness's
//! simulated cluster sees what raft-labrpc's real network would do with the same draws.
//!
//! - Ends: one from each node to each node, enabled or not; disabling an end fails the calls
//!   in flight through it (its epoch moves on), and a (re)started node gets fresh, disabled
//!   ends.
//! - A call through a disabled end or to a missing server is a dead end: counted, a
//!   [`fault::dead_end_delay_ms`] drawn, nothing runs.
//! - Otherwise [`fault::request_fate`] is drawn; a dropped request never runs its handler.
//! - A reply from a server whose end was disabled meanwhile is lost without a draw; else
//!   [`fault::reply_fate`] with the flags of the moment the call left.
//! - Counts: every call at send (total and request bytes), a server's count when its handler
//!   runs (reset when the server is replaced or deleted), reply bytes at delivery.

use raft_core::message::{Reply, Request};
use raft_labrpc::fault::{self, ReplyFate};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::Network;
use crate::config::US_PER_MS;
use crate::trace::Fate;

/// Mixed into the run's seed for the network's RNG (as the harness has always seeded it).
const LABRPC_SEED: u64 = 0x6824_5840;

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

/// labrpc's ends, knobs and counters.
#[derive(Clone, Debug)]
pub struct Labrpc {
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    /// `enabled[from][to]`: the end from `from` to `to` is enabled.
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
    /// labrpc's network for `n` nodes: reliable, every end disabled.
    #[must_use]
    pub fn new(n: usize, seed: u64) -> Labrpc {
        Labrpc {
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

    /// Enables or disables the end from `from` to `to`. Disabling fails the calls in flight
    /// through it, as labrpc does.
    pub fn enable(&mut self, from: usize, to: usize, enabled: bool) {
        if self.enabled[from][to] && !enabled {
            self.epoch[from][to] += 1;
        }
        self.enabled[from][to] = enabled;
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

    /// Every byte sent so far: requests at send, replies at delivery.
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

impl Network for Labrpc {
    type Call = Call;

    /// labrpc's `start_call`: count the call, then a dead end's delay or the request's fate.
    fn send(&mut self, from: usize, to: usize, to_running: bool, message: &Request) -> (Fate, Call) {
        self.total_count += 1;
        self.total_bytes += request_size(message);
        let mut call = Call {
            end_epoch: self.epoch[from][to],
            reliable: self.reliable,
            long_reordering: self.long_reordering,
            dropped: false,
        };
        if !(self.enabled[from][to] && to_running) {
            let _ = fault::dead_end_delay_ms(&mut self.rng, self.long_delays);
            return (Fate::DeadEnd, call);
        }
        let fate = fault::request_fate(&mut self.rng, self.reliable);
        call.dropped = fate.dropped;
        if fate.dropped {
            // The call fails after the delay; no handler runs, so nothing need be queued.
            return (Fate::Dropped, call);
        }
        (Fate::Delayed(fate.delay_ms * US_PER_MS), call)
    }

    /// labrpc's `finish_call`: a reply is lost if the call was failed meanwhile (its end
    /// disabled), else its fate is drawn with the flags of the call's start.
    fn reply(&mut self, from: usize, to: usize, call: Call, _message: &Reply) -> Fate {
        let dead = !self.enabled[to][from] || self.epoch[to][from] != call.end_epoch;
        if dead {
            return Fate::Dropped;
        }
        match fault::reply_fate(&mut self.rng, call.reliable, call.long_reordering) {
            ReplyFate::Delivered { delay_ms } => Fate::Delayed(delay_ms * US_PER_MS),
            ReplyFate::Dropped => Fate::Dropped,
        }
    }

    /// The handler runs (even if the end was disabled meanwhile: only its reply is lost).
    fn arrive_request(&mut self, _from: usize, to: usize, call: Call) -> bool {
        if call.dropped {
            return false;
        }
        self.counts[to] += 1;
        true
    }

    /// Reply bytes are counted when the reply reaches the caller's end.
    fn arrive_reply(&mut self, _from: usize, _to: usize, _call: Call, message: &Reply) -> bool {
        self.total_bytes += reply_size(message);
        true
    }

    /// Fresh ends from the node, disabled until the harness connects them; a fresh count.
    fn started(&mut self, node: usize) {
        let n = self.enabled.len();
        for to in 0..n {
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
    };
    size.map_or(0, |s| s as u64)
}

/// Bytes labrpc would count for a reply: the postcard encoding of the reply.
fn reply_size(reply: &Reply) -> u64 {
    let size = match reply {
        Reply::RequestVote(m) => postcard::experimental::serialized_size(m),
        Reply::AppendEntries(m) => postcard::experimental::serialized_size(m),
        Reply::InstallSnapshot(m) => postcard::experimental::serialized_size(m),
    };
    size.map_or(0, |s| s as u64)
}
