//! The message fuzzer: 3 to 5 raft-core peers fed, one seeded step at a time, a mix of their
//! own messages, mutated copies of them and garbage, with every per-peer property checked
//! after every step.
//!
//! Each step draws one input from the seed: a tick; a real message from the bag of messages
//! the peers sent (in random order, sometimes duplicated, sometimes dropped); a mutated copy
//! of one ([`mutate::Mutator::mutate`]: fields set to 0, 1, `u64::MAX`, one off the real
//! value, another peer's id; entries shuffled, duplicated, dropped or renumbered; outcomes
//! changed); a garbage message ([`mutate::Mutator::garbage`]); a claimed sender that is the
//! receiver itself or no peer; a proposal on a leader (now and then a leadership transfer
//! instead, to any id); a snapshot at a peer's applied index;
//! a crash and restart from the peer's durable model ([`crate::durable::Durable`], fed by
//! [`raft_core::Ready::carry_out`] as in the simulator), each through one
//! [`peer::FuzzedPeer`]. A fresh cluster starts every [`EPOCH_STEPS`] steps.
//!
//! Every input runs under `catch_unwind`: a panic is a finding, with its message and
//! location. After every input the properties of [`watch`] are checked (and raft-core's own
//! debug invariants ran inside the input, in a debug build). Raft does not defend against a
//! lying peer, so the cluster-wide checkers are not used: see [`watch`] for why each
//! property holds whatever a peer is sent.
//!
//! One seed gives one run. By default the run stops at its first finding; with
//! `keep_going` it records each distinct finding once (keyed by property, panic location and
//! message with its numbers blanked), counts repeats, replaces the peer that failed by a
//! fresh one, and goes on. A finding prints the input, the peer's state before it and the
//! command that replays it.
//!
//! ```
//! use raft_sim::fuzz::{self, FuzzConfig};
//!
//! let report = fuzz::run(FuzzConfig { keep_going: true, ..FuzzConfig::new(7, 2_000) });
//! assert_eq!(report.steps, 2_000);
//! assert!(report.counts.delivered_real > 0 && report.counts.delivered_garbage > 0);
//! ```

mod driver;
pub mod mutate;

pub use driver::{BAG_MESSAGES_MAX, COMPACT_LAG_MAX, EPOCH_STEPS, FINDINGS_MAX};
pub mod peer;
pub mod watch;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

/// Fewest peers in a fuzzed cluster.
pub const PEERS_MIN: usize = 3;
/// Most peers in a fuzzed cluster.
pub const PEERS_MAX: usize = 5;
/// The property every input must keep first: it returns.
pub const NO_PANIC: &str = "No Panic";

/// What to fuzz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuzzConfig {
    /// Everything random comes from this.
    pub seed: u64,
    /// Steps to run (a forced snapshot is part of the step that needed it).
    pub steps: u64,
    /// Cluster size, [`PEERS_MIN`] to [`PEERS_MAX`].
    pub peers: usize,
    /// Record every distinct finding and go on, instead of stopping at the first.
    pub keep_going: bool,
}

impl FuzzConfig {
    /// `steps` steps of seed `seed`, on 3, 4 or 5 peers as the seed says, stopping at the
    /// first finding.
    #[must_use]
    pub fn new(seed: u64, steps: u64) -> FuzzConfig {
        let sizes = (PEERS_MAX - PEERS_MIN + 1) as u64;
        FuzzConfig {
            seed,
            steps,
            peers: PEERS_MIN + (seed % sizes) as usize,
            keep_going: false,
        }
    }

    /// The command that runs this config again, through `steps` steps.
    #[must_use]
    pub fn replay_command(&self, steps: u64) -> String {
        let mut cmd = format!(
            "cargo xtask fuzz --seed {} --peers {} --steps {steps}",
            self.seed, self.peers
        );
        if self.keep_going {
            cmd.push_str(" --keep-going");
        }
        if cfg!(debug_assertions) {
            cmd.push_str(" --debug");
        }
        cmd
    }
}

/// How many steps of each kind a run took, and how the peers took them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Ticks.
    pub ticks: u64,
    /// Real messages delivered as sent.
    pub delivered_real: u64,
    /// Real messages delivered twice (the copy stays in the bag).
    pub duplicated: u64,
    /// Real messages dropped (by choice, or because the bag was full).
    pub dropped: u64,
    /// Mutated copies of real messages delivered.
    pub delivered_mutated: u64,
    /// Garbage messages delivered.
    pub delivered_garbage: u64,
    /// Deliveries that claimed a sender other than the real one.
    pub wrong_sender: u64,
    /// Messages raft-core's gate refused (dropped unanswered, counted by `Raft::refused`).
    pub refused_at_gate: u64,
    /// Requests past the gate answered with a refusal (vote denied, stale term, conflict,
    /// snapshot refused).
    pub refused: u64,
    /// Requests past the gate that got no answer at all.
    pub unanswered: u64,
    /// Proposals a leader accepted.
    pub proposals: u64,
    /// Proposals refused (no leader, too many uncommitted, a transfer in progress).
    pub proposals_refused: u64,
    /// Leadership transfers begun.
    pub transfers: u64,
    /// Leadership transfers refused (no leader, the leader itself, an unknown peer).
    pub transfers_refused: u64,
    /// Snapshots taken, the forced ones included.
    pub snapshots: u64,
    /// Snapshots refused.
    pub snapshots_refused: u64,
    /// Crashes and restarts from the durable model.
    pub restarts: u64,
    /// Entries the peers' services were handed, all peers together.
    pub applied: u64,
}

/// One distinct thing that went wrong, the first time it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The property broken ([`NO_PANIC`] or one of [`watch`]'s).
    pub property: &'static str,
    /// For a panic: where (`file:line:column`).
    pub location: Option<String>,
    /// The panic message, or what the property check saw.
    pub detail: String,
    /// The step at which it was first seen (0-based).
    pub step: u64,
    /// The peer that broke it.
    pub peer: usize,
    /// The input of that step, in full.
    pub input: String,
    /// The peer's state just before the input.
    pub before: String,
    /// The command that replays the run through this step.
    pub replay: String,
    /// How many times it was seen (repeats only counted with `keep_going`).
    pub count: u64,
}

impl Finding {
    /// What makes two findings the same: the property, the panic location, and the detail
    /// with every number blanked (values differ between occurrences, the cause does not).
    #[must_use]
    pub fn key(&self) -> (&'static str, Option<&str>, String) {
        let mut blanked = String::with_capacity(self.detail.len());
        for c in self.detail.chars() {
            if !c.is_ascii_digit() {
                blanked.push(c);
            } else if !blanked.ends_with('#') {
                blanked.push('#');
            }
        }
        (self.property, self.location.as_deref(), blanked)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => writeln!(f, "{} at {at}: {}", self.property, self.detail)?,
            None => writeln!(f, "{}: {}", self.property, self.detail)?,
        }
        writeln!(
            f,
            "  seen {} times, first at step {} on n{}",
            self.count, self.step, self.peer
        )?;
        writeln!(f, "  n{} before: {}", self.peer, self.before)?;
        writeln!(f, "  input: {}", self.input)?;
        write!(f, "  replay: {}", self.replay)
    }
}

/// What a run did and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuzzReport {
    /// The run's config.
    pub config: FuzzConfig,
    /// Steps run (fewer than asked if the run stopped at a finding).
    pub steps: u64,
    /// Steps of each kind.
    pub counts: StepCounts,
    /// The highest commit index any peer reached.
    pub commit_index_max: u64,
    /// The highest term any peer reached.
    pub term_max: u64,
    /// Distinct findings, in the order first seen.
    pub findings: Vec<Finding>,
    /// FNV-1a over every step's kind, peer, and the peer's term and commit index after it:
    /// the run's fingerprint.
    pub fingerprint: u64,
}

impl FuzzReport {
    /// True if nothing was found.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for FuzzReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "seed {} ({} peers): {} steps, fingerprint {:016x}, commit index max {}, term max {}",
            self.config.seed,
            self.config.peers,
            self.steps,
            self.fingerprint,
            self.commit_index_max,
            self.term_max
        )?;
        writeln!(
            f,
            "  {} ticks; delivered {} real ({} duplicated, {} dropped), {} mutated, {} garbage, \
             {} with a wrong sender",
            c.ticks,
            c.delivered_real,
            c.duplicated,
            c.dropped,
            c.delivered_mutated,
            c.delivered_garbage,
            c.wrong_sender
        )?;
        writeln!(
            f,
            "  {} messages refused at the gate; {} requests refused, {} unanswered; {} proposals \
             ({} refused); {} transfers ({} refused); {} snapshots ({} refused); {} restarts; \
             {} entries applied",
            c.refused_at_gate,
            c.refused,
            c.unanswered,
            c.proposals,
            c.proposals_refused,
            c.transfers,
            c.transfers_refused,
            c.snapshots,
            c.snapshots_refused,
            c.restarts,
            c.applied
        )?;
        write!(f, "  {} distinct findings", self.findings.len())
    }
}

/// Runs one seed.
#[must_use]
pub fn run(config: FuzzConfig) -> FuzzReport {
    driver::Fuzzer::new(config).run()
}

/// A panic caught by [`guarded`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panic {
    /// `file:line:column`.
    pub location: String,
    /// The panic message.
    pub message: String,
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<Panic>> = const { RefCell::new(None) };
}
static HOOK: Once = Once::new();

/// Runs `f`, turning a panic into a [`Panic`] with its location, without printing it.
///
/// A panic hook is installed once per process; it records panics on threads inside
/// `guarded` and hands every other panic to the hook that was there before.
///
/// # Errors
/// The panic, if `f` panicked.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Panic> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                let location = info.location().map_or_else(String::new, ToString::to_string);
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(panic without a message)".into());
                CAUGHT.set(Some(Panic { location, message }));
            } else {
                previous(info);
            }
        }));
    });
    let was_catching = CATCHING.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(was_catching);
    result.map_err(|_| {
        CAUGHT.take().unwrap_or_else(|| Panic {
            location: String::new(),
            message: "(panic not seen by the hook)".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn guarded_returns_the_value_or_the_panic_with_its_location() {
        assert_eq!(guarded(|| 5), Ok(5));
        let caught = guarded(|| -> u32 { panic!("boom {}", 7) }).expect_err("it panicked");
        assert_eq!(caught.message, "boom 7");
        assert!(caught.location.contains("fuzz"), "location {}", caught.location);
        assert_eq!(guarded(|| 6), Ok(6), "the next call runs normally");
    }
}
