//! The safety checkers: one named invariant each, run after every event of a run.
//!
//! Each checker is its own type with a `NAME` and methods that return a [`Breach`] when the
//! invariant fails, so a test can drive one directly with bad input and watch it fire.
//! [`Checkers`] holds one of each and is what the simulator calls:
//!
//! | invariant | type | when |
//! |---|---|---|
//! | Election Safety | [`ElectionSafety`] | after every event, for the peer it touched |
//! | Leader Append-Only | [`LeaderAppendOnly`] | after every event, on a leader |
//! | Log Matching | [`LogMatching`] | on every persisted entry; pairwise after every event |
//! | Committed Entries Never Contradicted | [`CommittedNeverContradicted`] | after every event (the gate's count) |
//! | Leader Completeness | [`LeaderCompleteness`] | when a peer becomes leader |
//! | State Machine Safety | [`StateMachineSafety`] | on every applied entry and snapshot |
//! | Terms Never Decrease | [`TermsNeverDecrease`] | after every event and restart |
//! | Commit Index Never Decreases | [`CommitNeverDecreases`] | after every event |
//! | Persisted State Survives Crash | [`PersistedSurvivesCrash`] | at every crash and restart |
//! | Reads See Every Acknowledged Write | [`ReadsSeeWrites`] | on every read decided (scripted runs that read) |

mod apply;
mod election;
mod log;
mod monotonic;
mod reads;

use std::fmt;

use raft_core::{PeerId, Raft, Term};

pub use apply::StateMachineSafety;
pub use election::{ElectionSafety, LeaderAppendOnly, LeaderCompleteness};
pub use log::{CommittedNeverContradicted, LogMatching};
pub use monotonic::{CommitNeverDecreases, PersistedSurvivesCrash, TermsNeverDecrease};
pub use reads::ReadsSeeWrites;

/// A named invariant failed, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The invariant's name, as its checker's `NAME`.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Breach {
    /// A breach of `invariant`.
    #[must_use]
    pub fn new(invariant: &'static str, detail: String) -> Breach {
        Breach { invariant, detail }
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// One of each checker, and what they need to remember between events.
#[derive(Debug)]
pub struct Checkers {
    /// Election Safety.
    pub election: ElectionSafety,
    /// Leader Append-Only.
    pub append_only: LeaderAppendOnly,
    /// Log Matching.
    pub matching: LogMatching,
    /// Leader Completeness.
    pub completeness: LeaderCompleteness,
    /// State Machine Safety.
    pub state_machine: StateMachineSafety,
    /// Terms Never Decrease.
    pub terms: TermsNeverDecrease,
    /// Commit Index Never Decreases.
    pub commits: CommitNeverDecreases,
    /// Reads See Every Acknowledged Write.
    pub reads: ReadsSeeWrites,
    /// The (term, incarnation) each peer was last seen leading in.
    leading: Vec<Option<(Term, u64)>>,
}

impl Checkers {
    /// Checkers for a cluster of `peers`.
    #[must_use]
    pub fn new(peers: usize) -> Checkers {
        Checkers {
            election: ElectionSafety::default(),
            append_only: LeaderAppendOnly::default(),
            matching: LogMatching::default(),
            completeness: LeaderCompleteness::default(),
            state_machine: StateMachineSafety::default(),
            terms: TermsNeverDecrease::new(peers),
            commits: CommitNeverDecreases::new(peers),
            reads: ReadsSeeWrites::default(),
            leading: vec![None; peers],
        }
    }

    /// Everything checked after an event that touched peer `changed` (in its incarnation
    /// `incarnation`); `peers` are all peers, `None` while crashed.
    ///
    /// # Errors
    /// The first [`Breach`] found.
    pub fn after_event(
        &mut self,
        changed: usize,
        incarnation: u64,
        peers: &[Option<Raft>],
    ) -> Result<(), Breach> {
        self.reads.observe(peers);
        let Some(Some(raft)) = peers.get(changed) else {
            return Ok(());
        };
        self.terms.observe(raft)?;
        self.commits.observe(raft)?;
        CommittedNeverContradicted::check(raft)?;
        self.append_only.observe(raft, incarnation)?;
        if raft.is_leader() {
            self.election.observe_leader(raft.term(), raft.id())?;
            let now = Some((raft.term(), incarnation));
            if self.leading[changed] != now {
                self.leading[changed] = now;
                self.completeness
                    .check_new_leader(raft.id(), raft.term(), raft.log())?;
            }
        } else {
            self.leading[changed] = None;
        }
        for other in peers.iter().flatten() {
            if other.id() != raft.id() {
                LogMatching::check_pair(raft.id(), raft.log(), other.id(), other.log())?;
            }
        }
        Ok(())
    }

    /// Forgets what a crashed peer led, and the reads it was asked (lost with it: their
    /// clients time out).
    pub fn crashed(&mut self, peer: PeerId) {
        self.reads.forget(peer.as_usize());
        if let Some(slot) = self.leading.get_mut(peer.as_usize()) {
            *slot = None;
        }
    }
}
