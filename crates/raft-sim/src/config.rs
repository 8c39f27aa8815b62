//! What one simulated run looks like: cluster size, timing, fault profile, and how long.
//!
//! Every knob is a named field with its unit last; [`SimConfig::new`] gives the values the
//! seed sweeps use. The fault profile ([`FaultProfile`]) only chooses numbers: the faults
//! themselves are drawn from the run's seed by [`crate::net::Nemesis`] and [`crate::sim`].

use std::fmt;
use std::str::FromStr;

/// Fewest peers a simulated cluster may have.
pub const PEERS_MIN: usize = 3;
/// Most peers a simulated cluster may have.
pub const PEERS_MAX: usize = 7;
/// Virtual microseconds in one millisecond.
pub const US_PER_MS: u64 = 1_000;
/// Virtual microseconds in one second.
pub const US_PER_S: u64 = 1_000_000;

/// How hostile the run is while faults are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultProfile {
    /// A reliable network with short delays; no crashes, no partitions.
    None,
    /// Some drops, duplicates and long delays; occasional crashes and partitions.
    Default,
    /// Many drops, duplicates and long delays; frequent crashes and partitions.
    Heavy,
}

impl FaultProfile {
    /// The numbers behind the profile.
    #[must_use]
    pub fn rates(self) -> FaultRates {
        match self {
            FaultProfile::None => FaultRates {
                drop_per_mille: 0,
                duplicate_per_mille: 0,
                long_delay_per_mille: 0,
                nemesis_interval_us_min: 0,
                nemesis_interval_us_max: 0,
            },
            FaultProfile::Default => FaultRates {
                drop_per_mille: 50,
                duplicate_per_mille: 20,
                long_delay_per_mille: 30,
                nemesis_interval_us_min: 100 * US_PER_MS,
                nemesis_interval_us_max: 500 * US_PER_MS,
            },
            FaultProfile::Heavy => FaultRates {
                drop_per_mille: 200,
                duplicate_per_mille: 60,
                long_delay_per_mille: 100,
                nemesis_interval_us_min: 30 * US_PER_MS,
                nemesis_interval_us_max: 200 * US_PER_MS,
            },
        }
    }

    /// True if the profile injects crashes and partitions.
    #[must_use]
    pub fn has_nemesis(self) -> bool {
        self != FaultProfile::None
    }
}

impl fmt::Display for FaultProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FaultProfile::None => "none",
            FaultProfile::Default => "default",
            FaultProfile::Heavy => "heavy",
        };
        f.write_str(name)
    }
}

impl FromStr for FaultProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(FaultProfile::None),
            "default" => Ok(FaultProfile::Default),
            "heavy" => Ok(FaultProfile::Heavy),
            other => Err(format!("unknown fault profile `{other}` (none, default, heavy)")),
        }
    }
}

/// The switches of issue 16 a run uses, for every peer: raft-core's pre-vote and check-quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switches {
    /// raft-core's [`raft_core::Config::pre_vote`].
    pub pre_vote: bool,
    /// raft-core's [`raft_core::Config::check_quorum`].
    pub check_quorum: bool,
}

impl Switches {
    /// Both off: Figure 2's elections.
    pub const OFF: Switches = Switches {
        pre_vote: false,
        check_quorum: false,
    };
    /// Pre-vote alone.
    pub const PRE_VOTE: Switches = Switches {
        pre_vote: true,
        check_quorum: false,
    };
    /// Check-quorum alone.
    pub const CHECK_QUORUM: Switches = Switches {
        pre_vote: false,
        check_quorum: true,
    };
    /// Both on.
    pub const BOTH: Switches = Switches {
        pre_vote: true,
        check_quorum: true,
    };
}

impl fmt::Display for Switches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pre_vote, self.check_quorum) {
            (false, false) => f.write_str("off"),
            (true, false) => f.write_str("pre-vote"),
            (false, true) => f.write_str("check-quorum"),
            (true, true) => f.write_str("both"),
        }
    }
}

impl FromStr for Switches {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Switches::OFF),
            "pre-vote" => Ok(Switches::PRE_VOTE),
            "check-quorum" => Ok(Switches::CHECK_QUORUM),
            "both" => Ok(Switches::BOTH),
            other => Err(format!(
                "unknown switches `{other}` (off, pre-vote, check-quorum, both)"
            )),
        }
    }
}

/// The probabilities and intervals of one [`FaultProfile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRates {
    /// Chance, in thousandths, that a message is lost.
    pub drop_per_mille: u32,
    /// Chance, in thousandths, that a message is delivered twice.
    pub duplicate_per_mille: u32,
    /// Chance, in thousandths, that a message takes a long delay (and so is reordered).
    pub long_delay_per_mille: u32,
    /// Shortest gap between two nemesis actions (crash, restart, partition, heal).
    pub nemesis_interval_us_min: u64,
    /// Longest gap between two nemesis actions.
    pub nemesis_interval_us_max: u64,
}

/// A deliberately broken runtime, for tests that prove the checkers catch real mistakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// A crash loses the persisted vote (as a runtime that never persisted `voted_for`): a
    /// restarted peer may vote twice in one term, so two leaders can win it.
    ForgetVote,
    /// A crash loses the last persisted log entry (as a runtime that acknowledged an append
    /// before it was durable).
    LoseLastEntry,
}

/// Everything that defines one run, besides the seed's draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The run's one seed: every random choice derives from it.
    pub seed: u64,
    /// Cluster size, [`PEERS_MIN`]..=[`PEERS_MAX`].
    pub peers: usize,
    /// How hostile the fault phase is.
    pub faults: FaultProfile,
    /// Virtual length of one `tick()`.
    pub tick_us: u64,
    /// Shortest election timeout, in ticks (raft-core's `election_timeout_ticks_min`).
    pub election_timeout_ticks_min: u32,
    /// Longest election timeout, in ticks.
    pub election_timeout_ticks_max: u32,
    /// Leader heartbeat interval, in ticks.
    pub heartbeat_interval_ticks: u32,
    /// Shortest one-way message delay.
    pub delay_us_min: u64,
    /// Longest ordinary one-way message delay.
    pub delay_us_max: u64,
    /// Longest extra delay of a message chosen for a long delay.
    pub long_delay_us_max: u64,
    /// How long faults are injected, from time zero.
    pub fault_duration_us: u64,
    /// After faults stop: the bound within which a leader must be elected and every pending
    /// proposal committed (the liveness property).
    pub liveness_bound_us: u64,
    /// Shortest gap between two client actions.
    pub client_interval_us_min: u64,
    /// Longest gap between two client actions.
    pub client_interval_us_max: u64,
    /// A proposal not seen committed after this long is proposed again.
    pub client_retry_us: u64,
    /// Most commands a client has outstanding at once.
    pub pending_commands_max: usize,
    /// The service snapshots every this many applied entries.
    pub snapshot_every_entries: u64,
    /// Keep every trace line (for `--replay`), not only the last ones.
    pub record_full_trace: bool,
    /// Break the runtime on purpose (tests only); `None` in every real run.
    pub sabotage: Option<Sabotage>,
    /// raft-core's pre-vote and check-quorum, for every peer (both off by default).
    pub switches: Switches,
    /// The nemesis also asks the leader, now and then, to hand leadership to another peer
    /// (raft-core's leadership transfer), whatever that peer's state. Off by default: with it
    /// off, a run draws and does exactly what it did before transfers existed.
    pub transfers: bool,
}

impl SimConfig {
    /// The sweep's defaults for `seed`: 5 peers, default faults for 6 s of virtual time,
    /// 10 ms ticks with raft-node's timing (election 300-600 ms, heartbeats 150 ms).
    #[must_use]
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            peers: 5,
            faults: FaultProfile::Default,
            tick_us: 10 * US_PER_MS,
            election_timeout_ticks_min: 30,
            election_timeout_ticks_max: 60,
            heartbeat_interval_ticks: 15,
            delay_us_min: US_PER_MS / 2,
            delay_us_max: 10 * US_PER_MS,
            long_delay_us_max: 500 * US_PER_MS,
            fault_duration_us: 6 * US_PER_S,
            liveness_bound_us: 5 * US_PER_S,
            client_interval_us_min: 20 * US_PER_MS,
            client_interval_us_max: 80 * US_PER_MS,
            client_retry_us: 400 * US_PER_MS,
            pending_commands_max: 16,
            snapshot_every_entries: 10,
            record_full_trace: false,
            sabotage: None,
            switches: Switches::OFF,
            transfers: false,
        }
    }

    /// Checks the config can run.
    ///
    /// # Errors
    /// A sentence naming the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(PEERS_MIN..=PEERS_MAX).contains(&self.peers) {
            return Err(format!(
                "peers must be {PEERS_MIN}..={PEERS_MAX}, not {}",
                self.peers
            ));
        }
        if self.tick_us == 0 || self.delay_us_min > self.delay_us_max {
            return Err("tick_us must be positive and delay_us_min <= delay_us_max".into());
        }
        if self.client_interval_us_min == 0 || self.client_interval_us_min > self.client_interval_us_max {
            return Err("client interval must be positive and min <= max".into());
        }
        if self.snapshot_every_entries == 0 || self.pending_commands_max == 0 {
            return Err("snapshot_every_entries and pending_commands_max must be positive".into());
        }
        Ok(())
    }
}
