//! The parts of MIT 6.824 Labs 2 and 3, each a test target of the `raft-tests` package.
//!
//! A part suite runs one test at a time, as `go test` runs them: these are timing tests, and a
//! test that shares two cores with another is not the test 6.824 wrote.

use std::time::Instant;

use crate::{cargo, cargo_run, run};

/// The package that holds the 6.824 harness and the part suites.
pub const PACKAGE: &str = "raft-tests";

/// One part of the lab: its id on the command line and its test target.
pub struct Part {
    /// `2a`, `2b`, ...: what `cargo xtask test-2a` names.
    pub id: &'static str,
    /// The test target (`tests/tests/<test>.rs`).
    pub test: &'static str,
    /// What it checks, for the summary.
    pub name: &'static str,
}

/// Every part, in the order the lab builds them.
pub const PARTS: &[Part] = &[
    Part {
        id: "2a",
        test: "lab2a",
        name: "part 2A (leader election)",
    },
    Part {
        id: "2b",
        test: "lab2b",
        name: "part 2B (log replication)",
    },
    Part {
        id: "2c",
        test: "lab2c",
        name: "part 2C (persistence)",
    },
    Part {
        id: "2d",
        test: "lab2d",
        name: "part 2D (snapshots)",
    },
    Part {
        id: "3a",
        test: "lab3a",
        name: "part 3A (key/value service)",
    },
    Part {
        id: "3b",
        test: "lab3b",
        name: "part 3B (key/value service with snapshots)",
    },
];

/// Finds a part by its id (`2a`) or test name (`lab2a`).
pub fn find(id: &str) -> Option<&'static Part> {
    let id = id.to_ascii_lowercase();
    PARTS.iter().find(|p| p.id == id || p.test == id)
}

/// True once the part's suite has been written.
pub fn exists(part: &Part) -> bool {
    has_test_target(part.test)
}

/// The harness package's test targets (`tests/tests/<name>.rs`) that are not a part suite: what `cargo test` runs beside the parts when nextest is missing.
pub fn non_part_test_targets() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tests");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?.to_owned();
            (!PARTS.iter().any(|p| p.test == stem)).then_some(stem)
        })
        .collect();
    targets.sort();
    targets
}

/// True if `tests/tests/<name>.rs` exists: a test target of the harness package.
pub fn has_test_target(name: &str) -> bool {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    valid
        && manifest
            .join("../tests/tests")
            .join(format!("{name}.rs"))
            .exists()
}

/// `cargo xtask test-2a [FILTER]`: runs one part, one test at a time, in release mode, on the
/// real cluster; `test-all` runs them all. With `--sim`, runs the part on virtual time
/// instead (see [`run_simulated`]).
pub fn run_part(id: &str, args: &[String]) -> bool {
    if args.iter().any(|a| a == "--sim") {
        return run_simulated(id, args);
    }
    if id.eq_ignore_ascii_case("all") {
        let mut ok = true;
        for part in PARTS {
            ok &= run_part(part.id, args);
        }
        return ok;
    }
    let Some(part) = find(id) else {
        eprintln!("xtask: unknown part `{id}` (expected one of 2a, 2b, 2c, 2d, 3a, 3b, all)");
        return false;
    };
    if !exists(part) {
        eprintln!(
            "xtask: {} is not built yet: tests/tests/{}.rs does not exist",
            part.name, part.test
        );
        return false;
    }
    let started = Instant::now();
    let ok = run(cargo()
        .args(["test", "--release", "-p", PACKAGE, "--test", part.test, "--"])
        .args(["--test-threads=1", "--nocapture"])
        .args(args));
    eprintln!(
        "xtask: {} {} in {:.1} s",
        part.name,
        if ok { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    ok
}

/// `cargo xtask test-2a --sim [--seed S] [--test NAME] [--seeds N] [--mutant NAME]`:
/// the part's scenarios on the simulated cluster, by the `raft-suite` binary of the harness
/// package (pass lines in virtual seconds).
pub fn run_simulated(id: &str, args: &[String]) -> bool {
    run_simulated_with(id, args, &[])
}

/// [`run_simulated`] with environment variables set for the suite (the harness's switches:
/// `RAFT_PRE_VOTE`, `RAFT_CHECK_QUORUM`, `RAFT_READS`).
pub fn run_simulated_with(id: &str, args: &[String], env: &[(&str, &str)]) -> bool {
    let mut mutant = None;
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sim" => {}
            "--mutant" => mutant = it.next().cloned(),
            _ => rest.push(arg.clone()),
        }
    }
    if let Some(mutant) = mutant.as_deref()
        && crate::sim::mutant_env(mutant).is_none()
    {
        eprintln!(
            "xtask: no crate has a mutant named {mutant} (known: {})",
            crate::sim::mutant_names()
        );
        return false;
    }
    run(cargo_run(PACKAGE, "--bin", "raft-suite", mutant.as_deref())
        .args(["--part", id])
        .args(rest)
        .envs(env.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_nextest_every_harness_target_but_the_part_suites_runs() {
        let targets = non_part_test_targets();
        for expected in ["file_storage", "virtual_time"] {
            assert!(
                targets.iter().any(|t| t == expected),
                "{expected} missing from {targets:?}"
            );
        }
        for part in PARTS {
            assert!(
                !targets.iter().any(|t| t == part.test),
                "{} is a part suite",
                part.test
            );
        }
    }
}
