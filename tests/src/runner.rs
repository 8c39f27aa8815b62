//! Running a scenario on the simulated cluster from a seed, and what a run leaves behind.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::config::panic_message;
use crate::scenarios::Scenario;
use crate::{Report, Tester};

/// One scenario run on virtual time.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scenario's Go name.
    pub name: &'static str,
    /// The seed it ran from.
    pub seed: u64,
    /// `None` if it passed, else why it failed.
    pub failure: Option<String>,
    /// Its figures and trace.
    pub report: Report,
    /// Wall time the run took.
    pub wall: Duration,
}

impl Outcome {
    /// The command that replays this run bit for bit.
    #[must_use]
    pub fn replay_command(&self) -> String {
        let mutant = mutant().map_or_else(String::new, |m| format!(" --mutant {m}"));
        format!(
            "{}cargo xtask test-all --sim{mutant} --seed {} --test {}",
            crate::switches::env_prefix(),
            self.seed,
            self.name
        )
    }

    /// A failure report: seed, test, why, the last events, and the replay command.
    #[must_use]
    pub fn failure_report(&self) -> String {
        let mut s = format!(
            "FAILED {} with seed {}: {}\n  last events of the simulated cluster (virtual time):\n",
            self.name,
            self.seed,
            self.failure.as_deref().unwrap_or("passed")
        );
        for line in &self.report.trace_tail {
            s.push_str("    ");
            s.push_str(line);
            s.push('\n');
        }
        s.push_str(&format!(
            "  trace hash {:016x} after {} events\n  replay: {}\n",
            self.report.trace_hash,
            self.report.events,
            self.replay_command()
        ));
        s
    }
}

/// Runs `scenario` on the simulated cluster from `seed`; `quiet` prints nothing.
#[must_use]
pub fn run_simulated(scenario: Scenario, seed: u64, quiet: bool) -> Outcome {
    let t = Tester::simulated(seed);
    let t = if quiet { t.quiet() } else { t };
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| (scenario.run)(&t)));
    let wall = started.elapsed();
    let report = t.report();
    // A client's failure comes first: it is the earliest, and the scenario may have failed
    // only in consequence (a join that found the client dead, a stopped wait).
    let failure = result.err().map(|payload| {
        report
            .task_failure
            .clone()
            .unwrap_or_else(|| panic_message(payload.as_ref()))
    });
    Outcome {
        name: scenario.name,
        seed,
        failure,
        report,
        wall,
    }
}

/// Runs `scenario` on the real cluster; a failure panics, as a cargo test should.
pub fn run_real(scenario: fn(&Tester)) {
    scenario(&Tester::real());
}

/// The deliberately broken rule this build runs against, if any: raft-core's or raft-kv's
/// (for `cargo xtask mutants`, which builds one at a time; see [`raft_core::MUTANT`] and
/// [`raft_kv::MUTANT`]).
#[must_use]
pub fn mutant() -> Option<&'static str> {
    raft_core::MUTANT.or(raft_kv::MUTANT)
}
