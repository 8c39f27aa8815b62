//! The configuration of one peer, validated before a state machine is built from it.
//!
//! A config that cannot work is an error from [`Config::validate`] (and so from
//! [`crate::Raft::new`]), never a panic later: an empty peer set, a peer that is not in its own
//! cluster, an election timeout range upside down, heartbeats no shorter than the timeout, a
//! bound of zero.

use alloc::vec::Vec;
use core::fmt;

use crate::PeerId;

/// Everything a peer's state machine needs to know before its first input.
///
/// Time is counted in ticks: the runtime decides how long a tick is (raft-node uses 10 ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This peer.
    pub id: PeerId,
    /// Every peer of the cluster, this one included.
    pub peers: Vec<PeerId>,
    /// The shortest election timeout, in ticks. Each reset draws a new timeout uniformly from
    /// `[election_timeout_ticks_min, election_timeout_ticks_max]` (section 5.2).
    pub election_timeout_ticks_min: u32,
    /// The longest election timeout, in ticks.
    pub election_timeout_ticks_max: u32,
    /// How often an idle leader sends heartbeats, in ticks; must be shorter than the shortest
    /// election timeout, or followers would time out under a healthy leader.
    pub heartbeat_interval_ticks: u32,
    /// The most entries one AppendEntries carries.
    pub entries_per_append_max: usize,
    /// The most bytes of commands one AppendEntries carries, beside `entries_per_append_max`
    /// (a single larger command still goes, alone): it bounds the size of one message and of
    /// the write it becomes on the follower.
    pub append_bytes_max: usize,
    /// The most entries of its own proposals a leader holds past its commit index: beyond it,
    /// [`crate::Raft::propose`] refuses ([`crate::ProposeError::UncommittedFull`]). It bounds
    /// the memory of a leader cut off from its majority, which would otherwise accept
    /// proposals forever. The uncommitted entries it inherited at its election do not count:
    /// they commit only through an entry of its own term.
    pub uncommitted_entries_max: usize,
    /// The most AppendEntries a leader has unanswered per follower whose log is known to
    /// match its own (pipelining, [`crate::Progress::pipelining`]): past it, new entries
    /// wait for a reply or the next heartbeat, and then leave together. The window restarts
    /// at each heartbeat, since a request lost on the way would otherwise hold its slot
    /// forever. A follower being probed (after an election or a conflict) gets one at a time.
    pub append_entries_in_flight_max: usize,
    /// The leader sends its AppendEntries before its own write of the entries they carry
    /// (thesis section 10.2.1), so that its write runs beside the followers' instead of
    /// before them; it counts its own log toward a commit only once that write is durable.
    /// On by default: it takes one write off every commit when each peer has a disk of its
    /// own. On one disk shared by every peer (three processes on one machine) the writes
    /// contend, yet it still came out ahead there (docs/BENCHMARKS.md has the figures); off,
    /// every message leaves after the writes, as Figure 2 has it.
    pub send_before_write: bool,
    /// Seeds the election-timeout RNG: the same seed and inputs give the same run.
    pub seed: u64,
    /// Pre-vote (thesis section 9.6): a peer whose timer fires first asks whether a majority
    /// would vote for it in the next term, and raises its term only if so. A peer cut off
    /// from the cluster then comes back at its old term instead of deposing a working leader.
    /// On by default (the crate doc says why); with it and check-quorum off, elections are
    /// exactly Figure 2's.
    pub pre_vote: bool,
    /// Check-quorum (thesis sections 6.2 and 4.2.3): a leader that has not heard from a
    /// majority for an election timeout steps down, and a peer that heard from its leader
    /// less than [`Config::election_timeout_ticks_min`] ago ignores requests to vote in a
    /// higher term. On by default (the crate doc says why).
    ///
    /// It reads a silence of one election timeout as a lost majority, which a network that
    /// holds replies back longer than that breaks: under 6.824's long reordering (two replies
    /// in three held back 200 ms to 2.2 s, against 300 ms windows) a leader whose majority
    /// follows it steps down while their replies are on the way, most often at its second
    /// check (its voters carry the first), and the next election waits on the same late
    /// replies. Without pre-vote, a follower with a stale log that times out is ignored, keeps
    /// campaigning, and deposes the leader later through its higher term in an AppendEntries
    /// reply. On TestFigure8Unreliable2C's last agreement (all five peers within 10 s) over
    /// 2,000 seeds: check-quorum alone fails 1 or 2 seeds; with pre-vote too none fails, but
    /// the slowest takes 9.6 s (7.0 s with both off, 7.2 s with pre-vote alone).
    pub check_quorum: bool,
    /// How [`crate::Raft::read`] confirms a read-only query (thesis section 6.4). The default,
    /// [`ReadMode::ReadIndex`], costs a heartbeat round and no log write, and trusts no clock.
    pub reads: ReadMode,
    /// The most reads a leader holds unconfirmed; beyond it [`crate::Raft::read`] refuses
    /// ([`crate::ReadError::TooMany`]). It bounds the memory of a leader that cannot reach a
    /// majority.
    pub pending_reads_max: usize,
}

/// How a leader confirms that it may answer a read from its own state (thesis section 6.4).
///
/// A leader cut off from the others may no longer be the leader: a newer one may have
/// committed writes it has not seen. Each mode is a different proof that it still leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Raft offers no read path: [`crate::Raft::read`] refuses ([`crate::ReadError::Off`]),
    /// and a service that wants linearizable reads sends them through the log, as 6.824's
    /// Lab 3 does (every read then costs a log write on a majority).
    Log,
    /// ReadIndex (thesis section 6.4): note the commit index, confirm leadership with a
    /// heartbeat round answered by a majority, answer once applied through the noted index.
    /// One round confirms every read that arrived before it went out.
    ReadIndex,
    /// Lease reads (thesis section 6.4.1): after a majority answered a round, no other leader
    /// can be elected for a minimum election timeout of the voters' clocks (they ignore votes
    /// that long: check-quorum, which this mode requires), so the leader answers reads without
    /// a round until its lease, counted from when the round went out and shortened by the
    /// drift bound, runs out; then it falls back to ReadIndex.
    ///
    /// Safe only if no clock runs faster than another by more than `clock_drift_ppm` parts
    /// per million and the runtime ticks every peer without skipping (a paused process whose
    /// ticks are lost keeps an old lease in its own time; the core cannot tell). See
    /// [`Config::lease_ticks`].
    Lease {
        /// The bound on the relative drift of any two peers' clocks, in parts per million.
        clock_drift_ppm: u32,
    },
}

impl ReadMode {
    /// Every mode's name, as [`core::str::FromStr`] takes it (with any drift for `lease`).
    pub const NAMES: &'static str = "log, read-index, lease:<ppm>";
}

impl fmt::Display for ReadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadMode::Log => f.write_str("log"),
            ReadMode::ReadIndex => f.write_str("read-index"),
            ReadMode::Lease { clock_drift_ppm } => write!(f, "lease:{clock_drift_ppm}"),
        }
    }
}

impl core::str::FromStr for ReadMode {
    type Err = ReadModeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "log" => Ok(ReadMode::Log),
            "read-index" => Ok(ReadMode::ReadIndex),
            _ => s
                .strip_prefix("lease:")
                .and_then(|ppm| ppm.parse().ok())
                .map(|clock_drift_ppm| ReadMode::Lease { clock_drift_ppm })
                .ok_or(ReadModeParseError),
        }
    }
}

/// A read mode that is none of [`ReadMode::NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadModeParseError;

impl fmt::Display for ReadModeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown read mode (expected one of: {})", ReadMode::NAMES)
    }
}

impl core::error::Error for ReadModeParseError {}

impl Config {
    /// The default of [`Config::uncommitted_entries_max`]: far above what a healthy cluster
    /// holds uncommitted (a round trip's worth of proposals), small enough to bound memory.
    pub const UNCOMMITTED_ENTRIES_MAX_DEFAULT: usize = 10_000;

    /// The default of [`Config::append_entries_in_flight_max`]: enough requests in flight to
    /// keep a follower busy while the leader batches what arrives meanwhile into the next.
    pub const APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT: usize = 8;

    /// The default of [`Config::append_bytes_max`]: 1 MiB, raft-rs's and etcd's usual
    /// `max_size_per_msg`.
    pub const APPEND_BYTES_MAX_DEFAULT: usize = 1 << 20;

    /// The default of [`Config::pending_reads_max`]: far more reads than one heartbeat round
    /// sees on a busy leader, few enough to bound a cut-off leader's memory.
    pub const PENDING_READS_MAX_DEFAULT: usize = 10_000;

    /// How long a lease lasts, in this peer's ticks from when the confirming round went out,
    /// with [`ReadMode::Lease`] (`None` in the other modes).
    ///
    /// A voter that heard the round ignores votes for `election_timeout_ticks_min` of its own
    /// ticks from then (section 4.2.3), and at least the last `min - 1` of them are whole
    /// ticks (it may have heard the round just before a tick: tikv #9728). The leader's ticks
    /// may be up to `1 + ppm / 10^6` times as long as the voter's, so its lease is
    /// `floor((min - 1) / (1 + ppm / 10^6))` of its own ticks: it ends before the earliest
    /// moment any voter of that majority could vote for another.
    #[must_use]
    pub fn lease_ticks(&self) -> Option<u64> {
        let ReadMode::Lease { clock_drift_ppm } = self.reads else {
            return None;
        };
        let whole = u64::from(self.election_timeout_ticks_min.saturating_sub(1));
        if cfg!(raft_mutant = "lease-ignores-drift") {
            return Some(whole);
        }
        Some(whole * 1_000_000 / (1_000_000 + u64::from(clock_drift_ppm)))
    }

    /// A config with the timing raft-node uses (10 ms ticks: heartbeats every 150 ms,
    /// election timeouts of 300-600 ms), for `id` in a cluster of `peers`.
    #[must_use]
    pub fn new(id: PeerId, peers: Vec<PeerId>, seed: u64) -> Config {
        Config {
            id,
            peers,
            election_timeout_ticks_min: 30,
            election_timeout_ticks_max: 60,
            heartbeat_interval_ticks: 15,
            entries_per_append_max: 512,
            append_bytes_max: Config::APPEND_BYTES_MAX_DEFAULT,
            uncommitted_entries_max: Config::UNCOMMITTED_ENTRIES_MAX_DEFAULT,
            append_entries_in_flight_max: Config::APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT,
            send_before_write: true,
            seed,
            pre_vote: true,
            check_quorum: true,
            reads: ReadMode::ReadIndex,
            pending_reads_max: Config::PENDING_READS_MAX_DEFAULT,
        }
    }

    /// Checks that the config can work.
    ///
    /// # Errors
    /// The first problem found, as a [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.peers.is_empty() {
            return Err(ConfigError::NoPeers);
        }
        if !self.peers.contains(&self.id) {
            return Err(ConfigError::SelfNotInPeers(self.id));
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if self.peers[..i].contains(peer) {
                return Err(ConfigError::DuplicatePeer(*peer));
            }
        }
        if self.election_timeout_ticks_min == 0 {
            return Err(ConfigError::ZeroElectionTimeout);
        }
        if self.election_timeout_ticks_min > self.election_timeout_ticks_max {
            return Err(ConfigError::ElectionTimeoutRange {
                min: self.election_timeout_ticks_min,
                max: self.election_timeout_ticks_max,
            });
        }
        if self.heartbeat_interval_ticks == 0
            || self.heartbeat_interval_ticks >= self.election_timeout_ticks_min
        {
            return Err(ConfigError::HeartbeatInterval {
                heartbeat: self.heartbeat_interval_ticks,
                election_min: self.election_timeout_ticks_min,
            });
        }
        if self.entries_per_append_max == 0 {
            return Err(ConfigError::ZeroEntriesPerAppend);
        }
        if self.uncommitted_entries_max == 0 {
            return Err(ConfigError::ZeroUncommittedEntries);
        }
        if self.append_entries_in_flight_max == 0 {
            return Err(ConfigError::ZeroAppendEntriesInFlight);
        }
        if self.pending_reads_max == 0 {
            return Err(ConfigError::ZeroPendingReads);
        }
        if let ReadMode::Lease { clock_drift_ppm } = self.reads {
            if !self.check_quorum {
                return Err(ConfigError::LeaseWithoutCheckQuorum);
            }
            if self.lease_ticks() == Some(0) {
                return Err(ConfigError::LeaseTooShort {
                    election_min: self.election_timeout_ticks_min,
                    clock_drift_ppm,
                });
            }
        }
        Ok(())
    }
}

/// Why a [`Config`] cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The peer set is empty.
    NoPeers,
    /// The peer's own id is not in its peer set.
    SelfNotInPeers(PeerId),
    /// A peer is listed twice.
    DuplicatePeer(PeerId),
    /// The shortest election timeout is zero ticks.
    ZeroElectionTimeout,
    /// The election timeout range is upside down.
    ElectionTimeoutRange {
        /// The configured minimum.
        min: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The heartbeat interval is zero or not shorter than the shortest election timeout.
    HeartbeatInterval {
        /// The configured heartbeat interval.
        heartbeat: u32,
        /// The configured shortest election timeout.
        election_min: u32,
    },
    /// `entries_per_append_max` is zero: no entry could ever be replicated.
    ZeroEntriesPerAppend,
    /// `uncommitted_entries_max` is zero: a leader could accept no proposal.
    ZeroUncommittedEntries,
    /// `append_entries_in_flight_max` is zero: a proposal could never be sent at once.
    ZeroAppendEntriesInFlight,
    /// `pending_reads_max` is zero: no read could ever be confirmed.
    ZeroPendingReads,
    /// Lease reads without check-quorum: voters would not ignore votes while the lease runs,
    /// so nothing would stop another leader from being elected under it.
    LeaseWithoutCheckQuorum,
    /// The lease would be shorter than one tick: the election timeout is too short for the
    /// drift bound.
    LeaseTooShort {
        /// The configured shortest election timeout.
        election_min: u32,
        /// The configured drift bound.
        clock_drift_ppm: u32,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoPeers => write!(f, "the peer set is empty"),
            ConfigError::SelfNotInPeers(id) => write!(f, "peer {id} is not in its own peer set"),
            ConfigError::DuplicatePeer(id) => write!(f, "peer {id} is listed twice"),
            ConfigError::ZeroElectionTimeout => {
                write!(f, "the election timeout must be at least one tick")
            }
            ConfigError::ElectionTimeoutRange { min, max } => {
                write!(
                    f,
                    "election timeout range is upside down: min {min} > max {max} ticks"
                )
            }
            ConfigError::HeartbeatInterval {
                heartbeat,
                election_min,
            } => write!(
                f,
                "heartbeat interval {heartbeat} ticks must be at least 1 and shorter than the \
                 shortest election timeout ({election_min} ticks)"
            ),
            ConfigError::ZeroEntriesPerAppend => {
                write!(f, "entries_per_append_max must be at least 1")
            }
            ConfigError::ZeroUncommittedEntries => {
                write!(f, "uncommitted_entries_max must be at least 1")
            }
            ConfigError::ZeroAppendEntriesInFlight => {
                write!(f, "append_entries_in_flight_max must be at least 1")
            }
            ConfigError::ZeroPendingReads => write!(f, "pending_reads_max must be at least 1"),
            ConfigError::LeaseWithoutCheckQuorum => {
                write!(
                    f,
                    "lease reads need check_quorum: without it a lease proves nothing"
                )
            }
            ConfigError::LeaseTooShort {
                election_min,
                clock_drift_ppm,
            } => write!(
                f,
                "a lease of an election timeout of {election_min} ticks less a drift of \
                 {clock_drift_ppm} ppm is shorter than one tick"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}
