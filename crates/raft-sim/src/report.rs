//! What a run hands back: a [`RunSummary`] when every invariant held, or a [`Violation`]
//! with everything needed to understand and replay the failure.

use std::fmt;

use crate::config::{FaultProfile, Switches, US_PER_MS, US_PER_S};

/// A run that kept every invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// The run's seed.
    pub seed: u64,
    /// Events processed.
    pub events: u64,
    /// A running hash over every event: the run's fingerprint.
    pub trace_hash: u64,
    /// Virtual time at the end.
    pub end_us: u64,
    /// Virtual time from the end of faults until a leader was in place and every pending
    /// proposal committed.
    pub recovery_us: u64,
    /// Distinct client commands committed.
    pub commands_committed: u64,
    /// Highest index committed anywhere.
    pub commit_index_max: u64,
    /// Terms in which some peer led.
    pub terms_with_leader: usize,
    /// Crashes injected.
    pub crashes: u64,
    /// Partitions formed.
    pub partitions: u64,
    /// Leadership transfers the nemesis began (with [`crate::SimConfig::transfers`]).
    pub transfers: u64,
    /// Snapshots the services took.
    pub snapshots: u64,
    /// Messages sent (before the network's decisions).
    pub messages: u64,
    /// Reads answered with an index (each checked), and reads failed by a leader that
    /// stepped down.
    pub reads: (u64, u64),
    /// Every trace line, if the config asked to keep them.
    pub full_trace: Option<Vec<String>>,
}

/// An invariant failed: the seed, the invariant's name, the last events, the replay command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// Cluster size (part of the replay command).
    pub peers: usize,
    /// Fault profile (part of the replay command).
    pub faults: FaultProfile,
    /// Pre-vote and check-quorum (part of the replay command).
    pub switches: Switches,
    /// The nemesis began leadership transfers (part of the replay command).
    pub transfers: bool,
    /// The invariant's name, as its checker's `NAME`.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// Virtual time of the failing event.
    pub at_us: u64,
    /// Events processed, the failing one included.
    pub events: u64,
    /// The last trace lines, oldest first.
    pub trace: Box<[String]>,
    /// Every trace line, if the config asked to keep them.
    pub full_trace: Option<Box<[String]>>,
}

impl Violation {
    /// The command that replays this run.
    #[must_use]
    pub fn replay_command(&self) -> String {
        let mutant = raft_core::MUTANT.map_or_else(String::new, |m| format!(" --mutant {m}"));
        let switches = if self.switches == Switches::OFF {
            String::new()
        } else {
            format!(" --switches {}", self.switches)
        };
        let transfers = if self.transfers { " --transfers" } else { "" };
        format!(
            "cargo xtask sim{mutant} --replay {} --peers {} --faults {}{switches}{transfers}",
            self.seed, self.peers, self.faults
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "VIOLATION of {} at t={}.{:03}s (event {}), seed {}",
            self.invariant,
            self.at_us / US_PER_S,
            (self.at_us % US_PER_S) / US_PER_MS,
            self.events,
            self.seed
        )?;
        writeln!(f, "  {}", self.detail)?;
        writeln!(f, "last {} events:", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(f, "replay: {}", self.replay_command())
    }
}

impl std::error::Error for Violation {}
