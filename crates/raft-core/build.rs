//! Selects a mutant of raft-core for `cargo xtask mutants`, and nothing else.
//!
//! A mutant breaks one rule of Figure 2, pre-vote, check-quorum, leadership transfer or reads
//! on purpose, so that the simulator and the 6.824 suite can prove they catch the bug. It is chosen by `--cfg raft_mutant="NAME"`, which this script
//! passes to rustc for raft-core alone when the environment names one in
//! [`MUTANT_ENV`]; only xtask sets it, in a target directory of its own (`target/mutants`).
//! Not a Cargo feature: any crate in a build can switch a feature on, and a mutant must never
//! reach a user. Not RUSTFLAGS either: that would rebuild every dependency for each mutant.

/// The variable xtask sets to the mutant's name.
const MUTANT_ENV: &str = "RAFT_CORE_MUTANT";

/// The mutants raft-core knows (the values `raft_mutant` may take).
const MUTANTS: [&str; 12] = [
    "vote-ignores-log",
    "commit-old-term",
    "truncate-on-stale-append",
    "forget-vote",
    "prevote-ignores-log",
    "precandidate-keeps-leader",
    "ignore-votes-forever",
    "votes-ignored-after-leader-died",
    "read-without-round",
    "lease-ignores-drift",
    "transfer-not-exempt",
    "timeout-now-before-caught-up",
];

fn main() {
    println!("cargo::rerun-if-env-changed={MUTANT_ENV}");
    let values = MUTANTS.map(|m| format!("\"{m}\"")).join(", ");
    println!("cargo::rustc-check-cfg=cfg(raft_mutant, values({values}))");
    let Ok(mutant) = std::env::var(MUTANT_ENV) else {
        return;
    };
    if mutant.is_empty() {
        return;
    }
    assert!(
        MUTANTS.contains(&mutant.as_str()),
        "{MUTANT_ENV}={mutant} names no mutant of raft-core (known: {})",
        MUTANTS.join(", ")
    );
    println!("cargo::rustc-cfg=raft_mutant=\"{mutant}\"");
    println!("cargo::warning=raft-core is built with the mutant `{mutant}`: a deliberately broken rule");
}
