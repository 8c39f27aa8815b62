//! `cargo xtask sim`: the deterministic simulator (crates/raft-sim) over many seeds, or one
//! seed replayed with its full trace. The work is done by the `raft-sim` binary, built in
//! release mode; xtask only passes the arguments on (it keeps no dependencies).
//!
//! `cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--mutant NAME]`
//! `cargo xtask sim --replay SEED [--peers P] [--faults F] [--mutant NAME]`
//! `cargo xtask sim --scenario NAME|list --seeds N [--switches W] [--figures] [--mutant NAME]`
//! `cargo xtask sim --scenario NAME --replay SEED [--mutant NAME]`
//! `cargo xtask fuzz [--seed S] [--seeds K] [--steps N] [--peers P] [--keep-going] [--debug]`

use crate::{cargo, cargo_run, run};

/// Runs the simulator binary with `args`; true if every seed kept every invariant.
pub fn main(args: &[String]) -> bool {
    if args.is_empty() {
        eprintln!(
            "usage: cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--mutant NAME]"
        );
        eprintln!("       cargo xtask sim --replay SEED [--peers P] [--faults F] [--mutant NAME]");
        eprintln!(
            "       cargo xtask sim --scenario NAME|list --seeds N [--switches off|pre-vote|check-quorum|both] [--figures]"
        );
        eprintln!("       cargo xtask sim --scenario NAME --replay SEED [--mutant NAME]");
        return false;
    }
    let (mutant, rest) = take_mutant(args);
    if let Some(mutant) = mutant.as_deref()
        && mutant_env(mutant) != Some(CORE_MUTANT_ENV)
    {
        eprintln!(
            "xtask sim: {mutant} is no mutant of raft-core, the only crate the simulator runs (known: {})",
            core_mutant_names().join(", ")
        );
        return false;
    }
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
/// when [`CORE_MUTANT_ENV`] names one). Not a Cargo feature: any crate of a build can switch a
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

/// A mutant of raft-core's pre-vote, check-quorum or leadership transfer (switches off by
/// default and a call nobody makes there, so neither the 6.824 suite nor the random safety runs
/// use them) and the scripted scenario that must catch it (`raft-sim --scenario`,
/// crates/raft-sim/src/scenario/production.rs and transfer.rs).
pub struct ScenarioMutant {
    /// Its name, as raft-core's build script knows it.
    pub name: &'static str,
    /// The rule it breaks, in a few words.
    pub what: &'static str,
    /// The scenario run against it, with the scenario's own switches.
    pub scenario: &'static str,
    /// Seeds 0 to this are run; the run stops at the first failure.
    pub seeds: &'static str,
}

/// The mutants of pre-vote, check-quorum, leadership transfer and reads. Each is caught by
/// the scenario's own bound or by the read checker: prevote-ignores-log first at seed 22, and
/// on 26 of seeds 0-199 (only a rejoining peer whose timer runs out before the first heartbeat
/// after the heal asks, and is wrongly granted); votes-ignored-after-leader-died first at seed
/// 1 (only where the voter's own timeout is later than the bound); lease-ignores-drift first at seed 3, and on
/// 10 of seeds 0-199 (only where a voter times out within a few ticks of the shortest
/// timeout); the others at seed 0 and on every seed.
pub const SCENARIO_MUTANTS: [ScenarioMutant; 8] = [
    ScenarioMutant {
        name: "prevote-ignores-log",
        what: "grants a pre-vote without the up-to-date check",
        scenario: "rejoining-peer",
        seeds: "200",
    },
    ScenarioMutant {
        name: "precandidate-keeps-leader",
        what: "a pre-candidate keeps the leader it knew (etcd #8334)",
        scenario: "isolated-leader",
        seeds: "200",
    },
    ScenarioMutant {
        name: "ignore-votes-forever",
        what: "check-quorum ignores votes but its leader never steps down",
        scenario: "partial-partition-b",
        seeds: "200",
    },
    ScenarioMutant {
        name: "votes-ignored-after-leader-died",
        what: "a follower ignores votes while it remembers its leader, not only for an ET",
        scenario: "dead-leader-voter",
        seeds: "200",
    },
    ScenarioMutant {
        name: "read-without-round",
        what: "ReadIndex serves a read without a heartbeat round",
        scenario: "stale-read-partition",
        seeds: "200",
    },
    ScenarioMutant {
        name: "lease-ignores-drift",
        what: "a lease of a whole election timeout, no margin for clock drift",
        scenario: "lease-read-drift",
        seeds: "200",
    },
    ScenarioMutant {
        name: "transfer-not-exempt",
        what: "a transfer's RequestVote is ignored like any other (thesis 4.2.3)",
        scenario: "transfer-under-vote-ignoring",
        seeds: "200",
    },
    ScenarioMutant {
        name: "timeout-now-before-caught-up",
        what: "TimeoutNow goes out before the target matches the leader's log",
        scenario: "transfer-lagging",
        seeds: "200",
    },
];

/// Mutants of raft-core's reads that a Lab 3 scenario must catch as well as their own
/// simulator scenario ([`SCENARIO_MUTANTS`], which lists them): a wrong read is a stale
/// answer to a client, and the Lab 3 servers take the read path for Gets by default, so the
/// Lab 3 linearizability check must see it. Built like every raft-core mutant, run like
/// [`KV_MUTANTS`]. `read-without-round` fails 22 of seeds 1-100, first seed 10 (a deposed
/// leader in the minority answers a Get from its stale state); TestOnePartition3A fails it on
/// every seed with its own check ("Get in minority completed"), but the linearizability check
/// is the judge that draws the history.
pub const CORE_LAB3_MUTANTS: [KvMutant; 1] = [KvMutant {
    name: "read-without-round",
    what: "a leader serves a read at once, without a heartbeat round",
    scenario: "TestPersistPartitionUnreliableLinearizable3A",
    seeds: "30",
}];

/// Every mutant of raft-core: Figure 2's, then pre-vote's and check-quorum's.
pub fn core_mutant_names() -> Vec<&'static str> {
    let figure2 = MUTANTS.iter().map(|&(m, _)| m);
    figure2.chain(SCENARIO_MUTANTS.iter().map(|m| m.name)).collect()
}

/// The environment variable raft-core's build script reads to select a mutant.
pub const CORE_MUTANT_ENV: &str = "RAFT_CORE_MUTANT";

/// A mutant of raft-kv (a deliberately wrong rule of the Lab 3 service, selected by
/// `--cfg kv_mutant="NAME"`, which crates/raft-kv/build.rs passes to rustc for raft-kv alone
/// when [`KV_MUTANT_ENV`] names one), or one of raft-core's reads ([`CORE_LAB3_MUTANTS`]),
/// and the Lab 3 scenario that must catch it.
pub struct KvMutant {
    /// Its name, as its crate's build script knows it.
    pub name: &'static str,
    /// The rule it breaks, in a few words.
    pub what: &'static str,
    /// The scenario run against it: one with random keys, where the linearizability checker
    /// is the only judge, so that a failure shows the history's HTML page.
    pub scenario: &'static str,
    /// Seeds 1 to this are run; the run stops at the first failure.
    pub seeds: &'static str,
}

/// The mutants of raft-kv.
pub const KV_MUTANTS: [KvMutant; 3] = [
    KvMutant {
        name: "no-dedup",
        what: "executes every committed request, duplicates too",
        scenario: "TestPersistPartitionUnreliableLinearizable3A",
        seeds: "3",
    },
    KvMutant {
        name: "read-local",
        what: "a leader answers a Get from its own state, not through the log",
        scenario: "TestPersistPartitionUnreliableLinearizable3A",
        seeds: "3",
    },
    KvMutant {
        name: "snapshot-forgets-sessions",
        what: "installs a snapshot's state without its duplicate table",
        scenario: "TestSnapshotUnreliableRecoverConcurrentPartitionLinearizable3B",
        seeds: "3",
    },
];

/// The environment variable raft-kv's build script reads to select a mutant.
pub const KV_MUTANT_ENV: &str = "RAFT_KV_MUTANT";

/// Every crate's mutant variable: a mutant build sets its own and clears the others, so
/// that one build never has two mutants.
pub const MUTANT_ENVS: [&str; 2] = [CORE_MUTANT_ENV, KV_MUTANT_ENV];

/// The variable that selects mutant `name` in its crate's build script; `None` for a name
/// no crate knows.
pub fn mutant_env(name: &str) -> Option<&'static str> {
    if core_mutant_names().contains(&name) {
        Some(CORE_MUTANT_ENV)
    } else if KV_MUTANTS.iter().any(|m| m.name == name) {
        Some(KV_MUTANT_ENV)
    } else {
        None
    }
}

/// Every mutant's name, for error messages.
pub fn mutant_names() -> String {
    let core = core_mutant_names().into_iter();
    let kv = KV_MUTANTS.iter().map(|m| m.name);
    core.chain(kv).collect::<Vec<_>>().join(", ")
}

/// How a failure of the Lab 3 linearizability check begins (tests/src/kv/history.rs,
/// `NOT_LINEARIZABLE`; xtask keeps no dependencies, so the text is repeated here).
const NOT_LINEARIZABLE: &str = "history is not linearizable";

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
/// which must fail some seed and replay that failure bit for bit; then runs each mutant of
/// pre-vote and check-quorum against its scripted scenario ([`SCENARIO_MUTANTS`]), whose
/// bound must fail within its seeds; then runs each mutant of raft-core's reads in
/// [`CORE_LAB3_MUTANTS`] and each mutant of raft-kv against its Lab 3 scenario, whose
/// linearizability check must fail some seed, write the history's HTML page and replay bit
/// for bit. True only if every mutant is caught
/// (by the simulator alone for [`NOT_CAUGHT_BY_THE_SUITE`]).
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
    for m in SCENARIO_MUTANTS {
        eprintln!(
            "xtask mutants: scenario {} against {} ({}): its bound must fail",
            m.scenario, m.name, m.what
        );
        let caught = run(cargo_run("raft-sim", "--bin", "raft-sim", Some(m.name)).args([
            "--scenario",
            m.scenario,
            "--seeds",
            m.seeds,
            "--expect-violation",
        ]));
        if caught {
            eprintln!(
                "xtask mutants: {} caught; replay the seed above with \
                 cargo xtask sim --mutant {} --scenario {} --replay SEED",
                m.name, m.name, m.scenario
            );
        } else {
            missed.push(m.name);
        }
    }
    for m in CORE_LAB3_MUTANTS.iter().chain(&KV_MUTANTS) {
        eprintln!(
            "xtask mutants: {} on virtual time against {} ({}): the linearizability check must fail",
            m.scenario, m.name, m.what
        );
        let caught = run(
            crate::cargo_run(crate::parts::PACKAGE, "--bin", "raft-suite", Some(m.name)).args([
                "--test",
                m.scenario,
                "--seeds",
                m.seeds,
                "--expect-failure-containing",
                NOT_LINEARIZABLE,
            ]),
        );
        if !caught {
            missed.push(m.name);
        }
    }
    if missed.is_empty() {
        eprintln!(
            "xtask mutants: all {} mutants caught",
            MUTANTS.len() + SCENARIO_MUTANTS.len() + KV_MUTANTS.len()
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `MUTANTS` list of a crate's build script, as written there.
    fn build_script_mutants(krate: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates")
            .join(krate)
            .join("build.rs");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let start = text
            .find("const MUTANTS")
            .expect("the build script lists its mutants");
        let list = &text[start..];
        let list = &list[list.find("= [").expect("its value") + 3..list.find("];").expect("its end")];
        list.split(',')
            .map(|m| m.trim().trim_matches('"').to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }

    #[test]
    fn each_mutant_name_selects_the_variable_of_the_crate_that_has_it() {
        let core: Vec<&str> = core_mutant_names();
        let kv: Vec<&str> = KV_MUTANTS.iter().map(|m| m.name).collect();
        assert_eq!(build_script_mutants("raft-core"), core);
        assert_eq!(build_script_mutants("raft-kv"), kv);
        for m in &core {
            assert_eq!(mutant_env(m), Some(CORE_MUTANT_ENV), "{m}");
        }
        for m in &kv {
            assert_eq!(mutant_env(m), Some(KV_MUTANT_ENV), "{m}");
        }
        for m in CORE_LAB3_MUTANTS {
            assert!(core.contains(&m.name), "{} is a mutant of raft-core", m.name);
        }
        assert_eq!(mutant_env("no-such-mutant"), None);
    }
}
