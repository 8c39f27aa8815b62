//! The virtual network's decisions: per-message delay, drop, duplication and long delays
//! (which reorder), and partitions. Pure functions of the run's RNG and the current faults;
//! the simulator turns them into delivery events.

use rand::Rng;

use crate::config::{FaultRates, SimConfig};

const PER_MILLE: u32 = 1000;

/// What happens to one message on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost on the way (random drop).
    Dropped,
    /// The two ends are on different sides of a partition.
    Partitioned,
    /// Delivered after `delay_us`, and a second copy after `duplicate_us` if set.
    Delivered {
        /// Delay of the first copy.
        delay_us: u64,
        /// Delay of a duplicate, if the message is duplicated.
        duplicate_us: Option<u64>,
    },
}

/// The network's state: its fault rates, whether faults are on, and the partition.
#[derive(Clone, Debug)]
pub struct Network {
    rates: FaultRates,
    delay_us_min: u64,
    delay_us_max: u64,
    long_delay_us_max: u64,
    faults_on: bool,
    /// Side of the partition each peer is on; all zero when whole.
    sides: Vec<u8>,
}

impl Network {
    /// The network of a run.
    #[must_use]
    pub fn new(config: &SimConfig) -> Network {
        Network {
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
    pub fn fate<R: Rng>(&self, rng: &mut R, from: usize, to: usize) -> Fate {
        if self.separated(from, to) {
            return Fate::Partitioned;
        }
        let delay_us = self.delay(rng);
        if !self.faults_on {
            return Fate::Delivered {
                delay_us,
                duplicate_us: None,
            };
        }
        if self.chance(rng, self.rates.drop_per_mille) {
            return Fate::Dropped;
        }
        let duplicate_us = self
            .chance(rng, self.rates.duplicate_per_mille)
            .then(|| self.delay(rng));
        Fate::Delivered {
            delay_us,
            duplicate_us,
        }
    }

    fn delay<R: Rng>(&self, rng: &mut R) -> u64 {
        let base = rng.random_range(self.delay_us_min..=self.delay_us_max);
        if self.faults_on && self.chance(rng, self.rates.long_delay_per_mille) {
            base + rng.random_range(0..=self.long_delay_us_max)
        } else {
            base
        }
    }

    fn chance<R: Rng>(&self, rng: &mut R, per_mille: u32) -> bool {
        per_mille > 0 && rng.random_range(0..PER_MILLE) < per_mille
    }
}
