//! The runtime's timing and limits, and how they become a raft-core [`Config`].
//!
//! The 6.824 tester allows at most ten heartbeats a second and wants a new leader within five
//! seconds of a failure (docs/ARCHITECTURE.md gives the reasoning behind these numbers): a
//! 10 ms tick, heartbeats every 150 ms, election timeouts drawn from 300-600 ms.

use std::time::Duration;

use raft_core::{Config, PeerId, ReadMode};

/// How one peer keeps time and how much it sends at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    /// The length of one raft-core tick.
    pub tick: Duration,
    /// The shortest election timeout, in ticks.
    pub election_timeout_ticks_min: u32,
    /// The longest election timeout, in ticks.
    pub election_timeout_ticks_max: u32,
    /// The leader's heartbeat interval, in ticks.
    pub heartbeat_interval_ticks: u32,
    /// The most entries one AppendEntries carries.
    pub entries_per_append_max: usize,
    /// Seeds the election-timeout RNG; `None` draws one from the clock.
    pub seed: Option<u64>,
    /// raft-core's [`Config::pre_vote`]: a peer raises its term only once a majority would
    /// vote for it, so a peer that rejoins after a partition does not depose the leader.
    pub pre_vote: bool,
    /// raft-core's [`Config::check_quorum`]: a leader cut off from its majority steps down,
    /// and followers that hear their leader ignore votes for a higher term.
    pub check_quorum: bool,
    /// raft-core's [`Config::reads`]: how [`crate::RaftNode::read`] confirms a read.
    pub reads: ReadMode,
    /// raft-core's [`Config::send_before_write`]: the leader's AppendEntries leave before its
    /// own write of them (thesis section 10.2.1); on by default.
    pub send_before_write: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            tick: Duration::from_millis(10),
            election_timeout_ticks_min: 30,
            election_timeout_ticks_max: 60,
            heartbeat_interval_ticks: 15,
            entries_per_append_max: 512,
            seed: None,
            pre_vote: true,
            check_quorum: true,
            reads: ReadMode::ReadIndex,
            send_before_write: true,
        }
    }
}

impl NodeOptions {
    /// The raft-core config for peer `me` of `n` (validated by `Raft::new`).
    #[must_use]
    pub fn config(&self, me: usize, n: usize) -> Config {
        let seed = self.seed.unwrap_or_else(clock_seed).wrapping_add(me as u64);
        Config {
            id: peer_id(me),
            peers: (0..n).map(peer_id).collect(),
            election_timeout_ticks_min: self.election_timeout_ticks_min,
            election_timeout_ticks_max: self.election_timeout_ticks_max,
            heartbeat_interval_ticks: self.heartbeat_interval_ticks,
            entries_per_append_max: self.entries_per_append_max,
            append_bytes_max: Config::APPEND_BYTES_MAX_DEFAULT,
            send_before_write: self.send_before_write,
            uncommitted_entries_max: Config::UNCOMMITTED_ENTRIES_MAX_DEFAULT,
            append_entries_in_flight_max: Config::APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT,
            seed,
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            reads: self.reads,
            pending_reads_max: Config::PENDING_READS_MAX_DEFAULT,
        }
    }
}

/// The peer id of position `i` in the peer list.
pub(crate) fn peer_id(i: usize) -> PeerId {
    PeerId(u32::try_from(i).unwrap_or(u32::MAX))
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
