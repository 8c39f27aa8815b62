//! Selects a mutant of raft-kv for `cargo xtask mutants`, and nothing else.
//!
//! A mutant breaks one rule of the Lab 3 service on purpose (exactly once, reads through the
//! log, the duplicate table in snapshots), so that the 6.824 Lab 3 suite's linearizability
//! check can prove it catches the bug. It is chosen by `--cfg kv_mutant="NAME"`, which this
//! script passes to rustc for raft-kv alone when the environment names one in
//! [`MUTANT_ENV`]; only xtask sets it, in a target directory of its own (`target/mutants`),
//! as raft-core's build script does for `raft_mutant`. Not a Cargo feature: any crate in a
//! build can switch a feature on, and a mutant must never reach a user.

/// The variable xtask sets to the mutant's name.
const MUTANT_ENV: &str = "RAFT_KV_MUTANT";

/// The mutants raft-kv knows (the values `kv_mutant` may take).
const MUTANTS: [&str; 3] = ["no-dedup", "read-local", "snapshot-forgets-sessions"];

fn main() {
    println!("cargo::rerun-if-env-changed={MUTANT_ENV}");
    let values = MUTANTS.map(|m| format!("\"{m}\"")).join(", ");
    println!("cargo::rustc-check-cfg=cfg(kv_mutant, values({values}))");
    let Ok(mutant) = std::env::var(MUTANT_ENV) else {
        return;
    };
    if mutant.is_empty() {
        return;
    }
    assert!(
        MUTANTS.contains(&mutant.as_str()),
        "{MUTANT_ENV}={mutant} names no mutant of raft-kv (known: {})",
        MUTANTS.join(", ")
    );
    println!("cargo::rustc-cfg=kv_mutant=\"{mutant}\"");
    println!("cargo::warning=raft-kv is built with the mutant `{mutant}`: a deliberately broken rule");
}
