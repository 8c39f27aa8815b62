//! `cargo xtask stress`: runs one suite many times, some at once, and keeps the full log of
//! every failing run, because a timing bug that shows once in fifty runs is still a bug.
//!
//! The test binaries are built once, then executed directly (no cargo per run).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::{cargo, parts};

/// Where the logs of failing runs are kept.
const LOG_DIR: &str = "stress-logs";

struct Options {
    part: String,
    iterations: usize,
    jobs: usize,
    filter: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        part: String::new(),
        iterations: 20,
        jobs: 2,
        filter: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--part" => options.part = value()?,
            "--iterations" => {
                options.iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--jobs" => options.jobs = value()?.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--filter" => options.filter.push(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.part.is_empty() {
        return Err(
            "--part is required (2a .. 2d, 3a, 3b, labrpc, storage, core, node, or a test target of tests/)"
                .into(),
        );
    }
    if options.iterations == 0 || options.jobs == 0 {
        return Err("--iterations and --jobs must be at least 1".into());
    }
    Ok(options)
}

/// What to build for a part: the package, an optional single test target, and the extra
/// arguments each run of its binaries gets.
fn target(part: &str) -> Result<(String, Option<String>, Vec<String>), String> {
    if let Some(p) = parts::find(part) {
        return Ok((
            parts::PACKAGE.into(),
            Some(p.test.into()),
            vec!["--test-threads=1".into()],
        ));
    }
    match part {
        "labrpc" | "storage" | "core" | "node" => Ok((format!("raft-{part}"), None, Vec::new())),
        other if parts::has_test_target(other) => Ok((parts::PACKAGE.into(), Some(other.into()), Vec::new())),
        other => Err(format!("unknown part `{other}`")),
    }
}

/// `cargo xtask stress --part P --iterations N --jobs J [--filter F]`, on virtual time
/// `cargo xtask stress --sim --part P --seeds N [--first S] [--jobs J] [--mutant NAME]`, or
/// the message fuzzer `cargo xtask stress --fuzz [--steps N] [--seeds K] [--first S] [--debug]`.
pub fn main(args: &[String]) -> bool {
    if args.iter().any(|a| a == "--sim") {
        return simulated(args);
    }
    if args.iter().any(|a| a == "--fuzz") {
        return fuzzed(args);
    }
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask stress: {e}");
            return false;
        }
    };
    let (package, test, mut run_args) = match target(&options.part) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xtask stress: {e}");
            return false;
        }
    };
    if let Some(p) = parts::find(&options.part)
        && !parts::exists(p)
    {
        eprintln!("xtask stress: {} is not built yet", p.name);
        return false;
    }
    run_args.extend(options.filter.iter().cloned());
    let Some(binaries) = build(&package, test.as_deref()) else {
        return false;
    };
    if binaries.is_empty() {
        eprintln!("xtask stress: no test binaries found for {package}");
        return false;
    }
    let _ = fs::create_dir_all(LOG_DIR);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..options.jobs.min(options.iterations) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= options.iterations {
                        break;
                    }
                    let run_started = Instant::now();
                    let log = PathBuf::from(LOG_DIR).join(format!("{}-{}.log", options.part, i + 1));
                    let ok = run_once(&binaries, &run_args, &log);
                    let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if ok {
                        let _ = fs::remove_file(&log);
                    } else {
                        failures.lock().unwrap_or_else(|e| e.into_inner()).push(log.clone());
                    }
                    let failed = failures.lock().unwrap_or_else(|e| e.into_inner()).len();
                    eprintln!(
                        "[{finished:>4}/{}] run {:>4} {} in {:>6.1} s   ({failed} failed so far, {:.0} s elapsed)",
                        options.iterations,
                        i + 1,
                        if ok { "passed" } else { "FAILED" },
                        run_started.elapsed().as_secs_f64(),
                        started.elapsed().as_secs_f64(),
                    );
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "stress {}: {} runs, {} passed, {} failed, {:.0} s with {} jobs",
        options.part,
        options.iterations,
        options.iterations - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64(),
        options.jobs
    );
    for log in &failures {
        eprintln!("  failing run log: {}", log.display());
    }
    failures.is_empty()
}

/// Runs every binary once, sequentially, writing all output into `log`; true if all passed.
fn run_once(binaries: &[PathBuf], args: &[String], log: &Path) -> bool {
    let Ok(file) = fs::File::create(log) else {
        eprintln!("xtask stress: cannot write {}", log.display());
        return false;
    };
    binaries.iter().all(|bin| {
        let (Ok(out), Ok(err)) = (file.try_clone(), file.try_clone()) else {
            return false;
        };
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

/// Builds the test binaries of a package (or one test target) in release mode and returns
/// their paths, read from cargo's JSON messages.
fn build(package: &str, test: Option<&str>) -> Option<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "--no-run",
        "--message-format=json",
        "-p",
        package,
    ]);
    match test {
        Some(t) => cmd.args(["--test", t]),
        None => cmd.args(["--lib", "--tests"]),
    };
    eprintln!(
        "xtask stress: building {package} {}",
        test.unwrap_or("(all tests)")
    );
    let out = match cmd.stderr(Stdio::inherit()).output() {
        Ok(out) if out.status.success() => out,
        Ok(_) | Err(_) => {
            eprintln!("xtask stress: build failed");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let binaries = stdout
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\"") && built_as_test(line))
        .filter_map(|line| json_string(line, "\"executable\":\""))
        .map(PathBuf::from)
        .collect();
    Some(binaries)
}

/// True if the artifact of this line of cargo's JSON was built as a test harness: its
/// `profile` says `"test":true`. (The `target` object has a `test` flag too, true for every
/// binary that has tests, such as raft-cluster: a plain binary must not be run as a test.)
fn built_as_test(line: &str) -> bool {
    line.find("\"profile\":{").is_some_and(|at| {
        let profile = &line[at..];
        profile[..profile.find('}').unwrap_or(profile.len())].contains("\"test\":true")
    })
}

/// The string value after `key` in one line of JSON (paths here hold no escaped quotes).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let len = line[start..].find('"')?;
    Some(line[start..start + len].replace("\\\\", "\\"))
}

/// `stress --sim`: N seeds of a part (or `all`) on the simulated cluster, on every core, by
/// `raft-suite`; each failure prints its seed, test, last events and replay command.
fn simulated(args: &[String]) -> bool {
    let mut part = "all".to_string();
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--part" => {
                if let Some(p) = it.next() {
                    part.clone_from(p);
                }
            }
            _ => rest.push(arg.clone()),
        }
    }
    if !rest.iter().any(|a| a == "--seeds") {
        eprintln!("xtask stress --sim: --seeds N is required");
        return false;
    }
    if part == "scenarios" {
        return scenarios(&rest);
    }
    let suite = parts::run_simulated(&part, &rest);
    if part == "all" {
        // The scripted scenarios too, each to the end whatever the suite did.
        return scenarios(&rest) && suite;
    }
    suite
}

/// `stress --sim --part scenarios`: every scripted scenario of raft_sim::scenario (pre-vote,
/// check-quorum, transfer, reads) over the seeds asked, each with its own switches.
fn scenarios(args: &[String]) -> bool {
    let mut rest = vec!["--scenario".to_string(), "all".to_string()];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" | "--first" => {
                let flag = if arg == "--first" { "--start" } else { "--seeds" };
                rest.push(flag.to_string());
                rest.extend(it.next().cloned());
            }
            "--jobs" => {
                it.next();
            }
            "--sim" => {}
            _ => rest.push(arg.clone()),
        }
    }
    crate::sim::main(&rest)
}

/// Steps per seed of `stress --fuzz` unless `--steps` says otherwise: the issue's million.
const FUZZ_STRESS_STEPS: &str = "1000000";
/// Seeds of `stress --fuzz` unless `--seeds` says otherwise.
const FUZZ_STRESS_SEEDS: &str = "4";

/// `stress --fuzz`: the message fuzzer on K seeds of N steps (`--first S` is the first seed),
/// in release or, with `--debug`, in the dev profile; every finding printed with its replay
/// command.
fn fuzzed(args: &[String]) -> bool {
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--fuzz" => {}
            "--first" => {
                rest.push("--seed".into());
                rest.extend(it.next().cloned());
            }
            _ => rest.push(arg.clone()),
        }
    }
    for (flag, default) in [("--steps", FUZZ_STRESS_STEPS), ("--seeds", FUZZ_STRESS_SEEDS)] {
        if !rest.iter().any(|a| a == flag) {
            rest.extend([flag.to_string(), default.to_string()]);
        }
    }
    crate::sim::fuzz(&rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_harnesses_are_run_not_binaries_that_have_tests() {
        let harness = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"test":true},"profile":{"opt_level":"3","test":true},"executable":"/t/lab2b-1"}"#;
        let binary = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"raft-cluster","test":true},"profile":{"opt_level":"3","test":false},"executable":"/t/raft-cluster"}"#;
        assert!(built_as_test(harness));
        assert!(
            !built_as_test(binary),
            "a binary whose target has tests is not a harness"
        );
        assert!(!built_as_test(r#"{"reason":"compiler-artifact"}"#));
    }
}
