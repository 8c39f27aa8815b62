//! The scripted scenarios' network: a matrix of one-way links, each up or down, and a delay
//! per message drawn from the model's own RNG. Nothing is lost on a link that is up; a
//! message on a link that is down (when it leaves, or when it arrives) is lost. One-way links
//! make the asymmetric failures of production (a peer that can send but not receive) as easy
//! to script as a partition.

use raft_core::message::{Reply, Request};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::Network;
use crate::trace::Fate;

/// Mixed into the run's seed for the network's RNG.
const LINKS_SEED: u64 = 0x6c69_6e6b_7321;

/// The link matrix: `up[from][to]` is true if messages from `from` reach `to`.
#[derive(Clone, Debug)]
pub struct Links {
    rng: SmallRng,
    delay_us_min: u64,
    delay_us_max: u64,
    up: Vec<Vec<bool>>,
}

impl Links {
    /// `nodes` nodes, every link up, each message delayed by `delay_us_min..=delay_us_max`.
    #[must_use]
    pub fn new(nodes: usize, seed: u64, delay_us_min: u64, delay_us_max: u64) -> Links {
        Links {
            rng: SmallRng::seed_from_u64(seed ^ LINKS_SEED),
            delay_us_min,
            delay_us_max: delay_us_max.max(delay_us_min),
            up: vec![vec![true; nodes]; nodes],
        }
    }

    /// Sets the one-way link from `from` to `to`.
    pub fn set(&mut self, from: usize, to: usize, up: bool) {
        if let Some(slot) = self.up.get_mut(from).and_then(|row| row.get_mut(to)) {
            *slot = up;
        }
    }

    /// Sets both directions between `a` and `b`.
    pub fn connect(&mut self, a: usize, b: usize, up: bool) {
        self.set(a, b, up);
        self.set(b, a, up);
    }

    /// Cuts `node` off from every other node, both ways.
    pub fn isolate(&mut self, node: usize) {
        for other in 0..self.up.len() {
            if other != node {
                self.connect(node, other, false);
            }
        }
    }

    /// Every link up again.
    pub fn heal(&mut self) {
        for row in &mut self.up {
            row.iter_mut().for_each(|l| *l = true);
        }
    }

    /// Only the listed pairs connected (both ways); every other link down.
    pub fn only(&mut self, pairs: &[(usize, usize)]) {
        for row in &mut self.up {
            row.iter_mut().for_each(|l| *l = false);
        }
        for &(a, b) in pairs {
            self.connect(a, b, true);
        }
    }

    /// True if messages from `from` reach `to` now.
    #[must_use]
    pub fn is_up(&self, from: usize, to: usize) -> bool {
        self.up
            .get(from)
            .and_then(|row| row.get(to))
            .copied()
            .unwrap_or(false)
    }

    fn fate(&mut self, from: usize, to: usize) -> Fate {
        if self.is_up(from, to) {
            Fate::Delayed(self.rng.random_range(self.delay_us_min..=self.delay_us_max))
        } else {
            Fate::Partitioned
        }
    }
}

impl Network for Links {
    type Call = ();

    fn send(&mut self, from: usize, to: usize, _to_running: bool, _message: &Request) -> (Fate, ()) {
        (self.fate(from, to), ())
    }

    fn reply(&mut self, from: usize, to: usize, _call: (), _message: &Reply) -> Fate {
        self.fate(from, to)
    }

    /// Lost if the link went down while it travelled.
    fn arrive_request(&mut self, from: usize, to: usize, _call: ()) -> bool {
        self.is_up(from, to)
    }

    fn arrive_reply(&mut self, from: usize, to: usize, _call: (), _message: &Reply) -> bool {
        self.is_up(from, to)
    }
}
