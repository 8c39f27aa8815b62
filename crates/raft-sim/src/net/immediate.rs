//! The immediate network: every message arrives at once, none is lost on the way. With every
//! peer ticking at the same instant ([`crate::world::TickPhase::Aligned`]), a tick's messages
//! and their replies are all delivered before the next tick: the bare state machine's own
//! pace. A test may cut a node off ([`Immediate::isolate`]).

use raft_core::message::{Reply, Request};

use super::Network;
use crate::trace::Fate;

/// A network without delay or loss; a message to a stopped node is lost, and so is one to
/// or from an isolated node when it arrives.
#[derive(Clone, Debug, Default)]
pub struct Immediate {
    /// Nodes cut off from every other.
    isolated: Vec<bool>,
}

impl Immediate {
    /// Cuts node `node` off from the others (`true`) or joins it again.
    pub fn isolate(&mut self, node: usize, isolated: bool) {
        if self.isolated.len() <= node {
            self.isolated.resize(node + 1, false);
        }
        self.isolated[node] = isolated;
    }

    /// True if node `node` is cut off.
    #[must_use]
    pub fn is_isolated(&self, node: usize) -> bool {
        self.isolated.get(node).copied().unwrap_or(false)
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        !self.is_isolated(a) && !self.is_isolated(b)
    }
}

impl Network for Immediate {
    type Call = ();

    fn send(&mut self, _from: usize, _to: usize, to_running: bool, _message: &Request) -> (Fate, ()) {
        (
            if to_running {
                Fate::Delayed(0)
            } else {
                Fate::DeadEnd
            },
            (),
        )
    }

    fn reply(&mut self, _from: usize, _to: usize, _call: (), _message: &Reply) -> Fate {
        Fate::Delayed(0)
    }

    fn arrive_request(&mut self, from: usize, to: usize, _call: ()) -> bool {
        self.connected(from, to)
    }

    fn arrive_reply(&mut self, from: usize, to: usize, _call: (), _message: &Reply) -> bool {
        self.connected(from, to)
    }
}
