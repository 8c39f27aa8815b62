//! `cargo xtask sim`: the deterministic simulator (crates/raft-sim) over many seeds, or one
//! seed replayed with its full trace. The work is done by the `raft-sim` binary, built in
//! release mode; xtask only passes the arguments on (it keeps no dependencies).
//!
//! `cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--mutant NAME]`
//! `cargo xtask sim --replay SEED [--peers P] [--faults F] [--mutant NAME]`
//! `cargo xtask fuzz [--seed S] [--seeds K] [--steps N] [--peers P] [--keep-going] [--debug]`

use crate::{cargo, cargo_run, run};

/// Runs the simulator binary with `args`; true if every seed kept every invariant.
pub fn main(args: &[String]) -> bool {
    if args.is_empty() {
        eprintln!(
            "usage: cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--mutant NAME]"
        );
        eprintln!("       cargo xtask sim --replay SEED [--peers P] [--faults F] [--mutant NAME]");
        return false;
    }
    let (mutant, rest) = take_mutant(args);
    run(cargo_run("raft-sim", "--bin", "raft-sim", mutant.as_deref()).args(rest))
}

/// Splits `--mutant NAME` off a command line.
pub fn take_mutant(args: &[String]) -> (Option<String>, Vec<String>) {
    let mut mutant = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--mutant" {
            mutant = it.next().cloned();
        } else {
            rest.push(arg.clone());
        }
    }
    (mutant, rest)
}

/// `cargo xtask fuzz`: the message fuzzer (crates/raft-sim/src/fuzz) by the `raft-fuzz`
/// binary, built in release mode, or with `--debug` in the dev profile (overflow checks and
/// raft-core's debug invariants on). The other arguments go to the binary. True if nothing
/// was found.
pub fn fuzz(args: &[String]) -> bool {
    let debug = args.iter().any(|a| a == "--debug");
    let rest = args.iter().filter(|a| *a != "--debug");
    let mut cmd = if debug {
        let mut cmd = cargo();
        cmd.args(["run", "--quiet", "-p", "raft-sim", "--bin", "raft-fuzz", "--"]);
        cmd
    } else {
        cargo_run("raft-sim", "--bin", "raft-fuzz", None)
    };
    run(cmd.args(rest))
}

/// The mutants of raft-core, each a deliberately wrong rule, selected by
/// `--cfg raft_mutant="NAME"` (crates/raft-core/build.rs passes it to rustc for raft-core alone
/// when [`MUTANT_ENV`] names one). Not a Cargo feature: any crate of a build can switch a
/// feature on, and a mutant must never reach a user.
pub const MUTANTS: [(&str, &str); 4] = [
    ("vote-ignores-log", "grants a vote without the up-to-date check"),
    (
        "commit-old-term",
        "commits an old-term entry by counting replicas",
    ),
    (
        "truncate-on-stale-append",
        "truncates the log on a stale AppendEntries",
    ),
    ("forget-vote", "forgets to persist the vote"),
];

/// The environment variable raft-core's build script reads to select a mutant.
pub const MUTANT_ENV: &str = "RAFT_CORE_MUTANT";

/// Where mutant builds go: apart from every ordinary build, and shared by the mutants, so that
/// switching from one to the next rebuilds raft-core and what depends on it, not the world.
pub fn mutants_target_dir() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), Into::into);
    target.join("mutants")
}

/// How many seeds each mutant gets to be caught in (heavy faults).
const MUTANT_SEEDS_MAX: &str = "60000";

/// How many seeds of the Lab 2 suite on virtual time each mutant gets (seeds 1 to this;
/// the run stops at the first failure). The old-term commit is the rarest: seeds 45, 216 and
/// 287 of 1-300 catch it, all in TestFigure8Unreliable2C.
const MUTANT_SUITE_SEEDS: &str = "300";

/// The mutant the 6.824 suite does not catch: an unpersisted vote matters only if a peer
/// crashes between granting a vote and a second candidate's request in the same term, and
/// the suite's crashes never fall there (28,000 runs, seeds 1-1000, passed). The simulator
/// catches it, at seed 0, with its check that nothing persisted is lost.
const NOT_CAUGHT_BY_THE_SUITE: &str = "forget-vote";

/// `cargo xtask mutants`: builds the simulator against each mutant of raft-core and runs
/// seeds until an invariant breaks, then runs the 6.824 suite on virtual time against it,
/// which must fail some seed and replay that failure bit for bit; true only if every mutant
/// is caught by both (by the simulator alone for [`NOT_CAUGHT_BY_THE_SUITE`]).
pub fn mutants() -> bool {
    let mut missed = Vec::new();
    for (mutant, what) in MUTANTS {
        if mutant == NOT_CAUGHT_BY_THE_SUITE {
            eprintln!("xtask mutants: {mutant} is left to the simulator: the 6.824 suite does not catch it");
        } else {
            eprintln!("xtask mutants: the 6.824 suite on virtual time against {mutant} ({what})");
            let caught = run(
                crate::cargo_run(crate::parts::PACKAGE, "--bin", "raft-suite", Some(mutant)).args([
                    "--part",
                    "lab2",
                    "--seeds",
                    MUTANT_SUITE_SEEDS,
                    "--expect-failure",
                ]),
            );
            if !caught {
                missed.push(mutant);
            }
        }
        eprintln!("xtask mutants: the simulator against {mutant} ({what})");
        let caught = run(cargo_run("raft-sim", "--bin", "raft-sim", Some(mutant)).args([
            "--seeds",
            MUTANT_SEEDS_MAX,
            "--faults",
            "heavy",
            "--expect-violation",
        ]));
        if caught {
            eprintln!(
                "xtask mutants: {mutant} caught; replay the seed above with \
                 cargo xtask sim --mutant {mutant} --replay SEED --faults heavy"
            );
        } else {
            missed.push(mutant);
        }
    }
    if missed.is_empty() {
        eprintln!("xtask mutants: all {} mutants caught", MUTANTS.len());
        true
    } else {
        eprintln!("xtask mutants: NOT caught: {}", missed.join(", "));
        false
    }
}

/// `cargo xtask figure16 [--trials N] [--cap-s S] [--out DIR]`: the Raft paper's Figure 16 on
/// the simulator; writes docs/figure16.md and docs/figure16.svg. True if it ran.
pub fn figure16(args: &[String]) -> bool {
    run(cargo_run("raft-sim", "--bin", "figure16", None).args(args))
}
