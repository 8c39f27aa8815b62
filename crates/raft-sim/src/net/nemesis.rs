//! The safety runs' network: per-message delay, drop, duplication and long delays (which
//! reorder), and partitions, drawn from the model's own RNG (seeded from the run's seed).
//! Requests and replies are alike here: each is one message with its own fate, and a
//! partition formed while a message travels loses it on arrival.

use raft_core::message::{Reply, Request};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::Network;
use crate::config::{FaultRates, SimConfig};
use crate::trace::Fate;

const PER_MILLE: u32 = 1000;
/// Mixed into the run's seed for the network's RNG.
const NEMESIS_NET_SEED: u64 = 0x6e65_6d65_7369_7321;

/// The network's state: its fault rates, whether faults are on, and the partition.
#[derive(Clone, Debug)]
pub struct Nemesis {
    rng: SmallRng,
    rates: FaultRates,
    delay_us_min: u64,
    delay_us_max: u64,
    long_delay_us_max: u64,
    faults_on: bool,
    /// Side of the partition each peer is on; all zero when whole.
    sides: Vec<u8>,
}

impl Nemesis {
    /// The network of a run.
    #[must_use]
    pub fn new(config: &SimConfig) -> Nemesis {
        Nemesis {
            rng: SmallRng::seed_from_u64(config.seed ^ NEMESIS_NET_SEED),
            rates: config.faults.rates(),
            delay_us_min: config.delay_us_min,
            delay_us_max: config.delay_us_max,
            long_delay_us_max: config.long_delay_us_max,
            faults_on: true,
            sides: vec![0; config.peers],
        }
    }

    /// Stops drops, duplicates and long delays, and heals any partition.
    pub fn stop_faults(&mut self) {
        self.faults_on = false;
        self.heal();
    }

    /// Heals the partition.
    pub fn heal(&mut self) {
        self.sides.iter_mut().for_each(|s| *s = 0);
    }

    /// Splits the peers: each one's side given by `sides`.
    pub fn partition(&mut self, sides: &[u8]) {
        for (s, new) in self.sides.iter_mut().zip(sides) {
            *s = *new;
        }
    }

    /// True if some peers are cut off from others.
    #[must_use]
    pub fn is_partitioned(&self) -> bool {
        self.sides.iter().any(|s| *s != 0)
    }

    /// The side each peer is on.
    #[must_use]
    pub fn sides(&self) -> &[u8] {
        &self.sides
    }

    /// True if `a` and `b` cannot reach each other now.
    #[must_use]
    pub fn separated(&self, a: usize, b: usize) -> bool {
        self.sides.get(a) != self.sides.get(b)
    }

    /// Draws the fate of one message from `from` to `to`.
    fn fate(&mut self, from: usize, to: usize) -> Fate {
        if self.separated(from, to) {
            return Fate::Partitioned;
        }
        let delay_us = self.delay();
        if !self.faults_on {
            return Fate::Delayed(delay_us);
        }
        if self.chance(self.rates.drop_per_mille) {
            return Fate::Dropped;
        }
        if self.chance(self.rates.duplicate_per_mille) {
            return Fate::Duplicated(delay_us, self.delay());
        }
        Fate::Delayed(delay_us)
    }

    fn delay(&mut self) -> u64 {
        let base = self.rng.random_range(self.delay_us_min..=self.delay_us_max);
        if self.faults_on && self.chance(self.rates.long_delay_per_mille) {
            base + self.rng.random_range(0..=self.long_delay_us_max)
        } else {
            base
        }
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.rng.random_range(0..PER_MILLE) < per_mille
    }
}

impl Network for Nemesis {
    type Call = ();

    /// Its fate is drawn whether or not `to` runs: a peer restarted before the message
    /// arrives receives it.
    fn send(&mut self, from: usize, to: usize, _to_running: bool, _message: &Request) -> (Fate, ()) {
        (self.fate(from, to), ())
    }

    fn reply(&mut self, from: usize, to: usize, _call: (), _message: &Reply) -> Fate {
        self.fate(from, to)
    }

    /// Lost if a partition formed between the two while it travelled.
    fn arrive_request(&mut self, from: usize, to: usize, _call: ()) -> bool {
        !self.separated(from, to)
    }

    fn arrive_reply(&mut self, from: usize, to: usize, _call: (), _message: &Reply) -> bool {
        !self.separated(from, to)
    }
}
