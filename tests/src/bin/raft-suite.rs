//! `raft-suite`: the 6.824 scenarios on the simulated cluster, on virtual time.
//!
//! ```text
//! raft-suite [--part 2a|2b|2c|2d|all] [--test NAME] [--seed S]
//!     one seed: every scenario of the part (or just NAME), with its pass line in virtual
//!     seconds, then the trace hash of each run; a failure prints the last events and the
//!     command that replays it.
//! raft-suite [--part ...] --seeds N [--first S] [--jobs J]
//!     N seeds (S, S+1, ...) of the part on J threads (default: every core), with a progress
//!     line; each failure is printed as above. Exits 1 if any run failed.
//! raft-suite ... --seeds N --expect-failure
//!     for a deliberately broken raft-core or raft-kv (a mutant, built by
//!     `cargo xtask mutants`): stops at the first failure, and exits 0 only if some run failed
//!     and replaying the first failure gives the same failure and trace hash twice.
//! raft-suite ... --seeds N --expect-failure-containing TEXT
//!     the same, and the first failure's message must contain TEXT (say, the
//!     linearizability checker's "history is not linearizable").
//! ```
//!
//! Whenever the first failure names the HTML page of a non-linearizable history, the page
//! must exist for an expected failure to count.
//!
//! `RAFT_PRE_VOTE=1` and `RAFT_CHECK_QUORUM=1` in the environment turn raft-core's pre-vote
//! and check-quorum on for every peer (both off otherwise: Lab 2's exact counts are checked
//! with them off; see raft_tests::switches).
//!
//! `RAFT_FULL_TRACE=FILE` writes the whole trace of each run to FILE (for one replayed seed:
//! a failure prints only its last events).
#![forbid(unsafe_code)]

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use raft_tests::kv::history_page;
use raft_tests::runner::{Outcome, run_simulated};
use raft_tests::scenarios::{self, Scenario};

/// How many failures a multi-seed run prints in full (with the last events).
const FAILURES_SHOWN_MAX: usize = 3;

/// The last tenth of the runs the progress line reported, when it is not redrawn in place.
static LAST_TENTH: AtomicUsize = AtomicUsize::new(0);

/// How many failures its summary lists (with their replay commands).
const FAILURES_LISTED_MAX: usize = 20;

struct Args {
    part: String,
    test: Option<String>,
    seed: u64,
    seeds: Option<u64>,
    jobs: usize,
    expect_failure: bool,
    /// With `--expect-failure-containing`: what the first failure must say.
    expect_containing: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        part: "all".to_owned(),
        test: None,
        seed: 1,
        seeds: None,
        jobs: std::thread::available_parallelism().map_or(2, usize::from),
        expect_failure: false,
        expect_containing: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--part" => args.part = value()?,
            "--test" => args.test = Some(value()?),
            "--seed" | "--first" => args.seed = number(&value()?)?,
            "--seeds" => args.seeds = Some(number(&value()?)?),
            "--jobs" => args.jobs = number(&value()?)?.max(1) as usize,
            "--expect-failure" => args.expect_failure = true,
            "--expect-failure-containing" => {
                args.expect_failure = true;
                args.expect_containing = Some(value()?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn number(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(err) => {
            if !err.is_empty() {
                eprintln!("raft-suite: {err}");
            }
            eprintln!(
                "usage: raft-suite [--part 2a|2b|2c|2d|3a|3b|lab2|lab3|all] [--test NAME] [--seed S] \
                 [--seeds N [--first S] [--jobs J] [--expect-failure | --expect-failure-containing TEXT]]"
            );
            eprintln!(
                "environment: RAFT_PRE_VOTE=1 and RAFT_CHECK_QUORUM=1 turn raft-core's pre-vote and \
                 check-quorum on for every peer (default: off); RAFT_READS=log|read-index|lease:<ppm> \
                 picks how a leader confirms a Get (default: read-index; a lease needs check-quorum)"
            );
            return ExitCode::from(2);
        }
    };
    let chosen: Vec<Scenario> = match &args.test {
        Some(name) => match scenarios::find(name) {
            Some(s) => vec![s],
            None => {
                eprintln!("raft-suite: no scenario named {name}");
                return ExitCode::from(2);
            }
        },
        None => scenarios::part(&args.part),
    };
    if chosen.is_empty() {
        eprintln!("raft-suite: no scenarios in part {}", args.part);
        return ExitCode::from(2);
    }
    if let Some(mutant) = raft_tests::runner::mutant() {
        println!("built with the mutant {mutant}: a deliberately broken rule");
    }
    let (pre_vote, check_quorum) = raft_tests::switches::from_env();
    let reads = match raft_tests::switches::reads_from_env() {
        Ok(reads) => reads,
        Err(e) => {
            eprintln!("raft-suite: {e}");
            return ExitCode::from(2);
        }
    };
    if pre_vote || check_quorum || reads != raft_tests::switches::READS_DEFAULT {
        println!(
            "raft-core switches from the environment: pre-vote {pre_vote}, check-quorum {check_quorum}, reads {reads}"
        );
    }
    let failures = match args.seeds {
        None => one_seed(&chosen, args.seed),
        Some(n) => many_seeds(&chosen, args.seed, n, args.jobs, args.expect_failure),
    };
    let ok = if args.expect_failure {
        caught(&failures, args.expect_containing.as_deref())
    } else {
        failures.is_empty()
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// With a mutant: which scenarios caught it, and whether the first failure replays bit for
/// bit (same failure, same trace hash, twice), says `containing` if given, and, if it names
/// the HTML page of a non-linearizable history, left that page on disk.
fn caught(failures: &[Outcome], containing: Option<&str>) -> bool {
    let Some(first) = failures.iter().min_by_key(|f| (f.seed, f.name)) else {
        println!("NOT CAUGHT: every run passed");
        return false;
    };
    let mut by_test: Vec<(&str, usize)> = Vec::new();
    for f in failures {
        match by_test.iter_mut().find(|(name, _)| *name == f.name) {
            Some((_, count)) => *count += 1,
            None => by_test.push((f.name, 1)),
        }
    }
    by_test.sort_by_key(|&(name, count)| (std::cmp::Reverse(count), name));
    let list: Vec<String> = by_test
        .iter()
        .map(|(name, count)| format!("{name} ({count})"))
        .collect();
    println!("caught by: {}", list.join(", "));
    let Some(scenario) = scenarios::find(first.name) else {
        return false;
    };
    let replays = [
        run_simulated(scenario, first.seed, true),
        run_simulated(scenario, first.seed, true),
    ];
    let same = replays
        .iter()
        .all(|r| r.failure == first.failure && r.report.trace_hash == first.report.trace_hash);
    println!(
        "first failure: {} seed {} ({}); replayed twice: {} (trace hash {:016x})\n  replay: {}",
        first.name,
        first.seed,
        first.failure.as_deref().unwrap_or_default(),
        if same {
            "same failure, same trace"
        } else {
            "DIFFERENT"
        },
        first.report.trace_hash,
        first.replay_command()
    );
    for (k, r) in replays.iter().enumerate() {
        if r.failure != first.failure || r.report.trace_hash != first.report.trace_hash {
            println!(
                "  replay {}: trace hash {:016x} after {} events: {}",
                k + 1,
                r.report.trace_hash,
                r.report.events,
                r.failure.as_deref().unwrap_or("passed")
            );
        }
    }
    let message = first.failure.as_deref().unwrap_or_default();
    let says = containing.is_none_or(|text| message.contains(text));
    if let Some(text) = containing.filter(|_| !says) {
        println!("WRONG FAILURE: the first failure does not say \"{text}\"");
    }
    let page = history_page(message);
    let page_kept = page.is_none_or(Path::exists);
    if let Some(page) = page {
        println!(
            "history page: {} ({})",
            page.display(),
            if page_kept { "exists" } else { "MISSING" }
        );
    }
    same && says && page_kept
}

/// Every chosen scenario from `seed`, with pass lines; returns the failures.
fn one_seed(chosen: &[Scenario], seed: u64) -> Vec<Outcome> {
    let started = Instant::now();
    let mut virtual_total = 0.0;
    let mut failures = Vec::new();
    println!("virtual time, seed {seed}: pass lines in virtual seconds");
    for scenario in chosen {
        let outcome = run_simulated(*scenario, seed, false);
        if outcome.failure.is_some() {
            eprint!("{}", outcome.failure_report());
            failures.push(outcome);
        } else {
            virtual_total += outcome.report.figures.map_or(0.0, |f| f.seconds);
            println!(
                "      {} {:.3} s wall, {} events, trace hash {:016x}",
                scenario.name,
                outcome.wall.as_secs_f64(),
                outcome.report.events,
                outcome.report.trace_hash
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{} of {} passed: {virtual_total:.1} virtual seconds in {wall:.2} s of wall time ({:.0}x)",
        chosen.len() - failures.len(),
        chosen.len(),
        virtual_total / wall.max(1e-9)
    );
    failures
}

/// `n` seeds from `first` of every chosen scenario, on `jobs` threads; returns the failures.
/// With `stop_at_failure`, no new run starts once one has failed (runs under way finish).
fn many_seeds(chosen: &[Scenario], first: u64, n: u64, jobs: usize, stop_at_failure: bool) -> Vec<Outcome> {
    let total = chosen.len() * n as usize;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let stopped = AtomicBool::new(false);
    let skipped = AtomicUsize::new(0);
    let virtual_secs = Mutex::new(0.0f64);
    let started = Instant::now();
    let progress_done = AtomicBool::new(false);
    // Each failure gets a full report below; the default hook's messages would only break up
    // the progress line.
    std::panic::set_hook(Box::new(|_| {}));
    println!(
        "virtual time: {n} seeds ({first}..{}) x {} scenarios = {total} runs on {jobs} threads",
        first + n - 1,
        chosen.len()
    );
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total {
                        break;
                    }
                    if stop_at_failure && stopped.load(Ordering::Relaxed) {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let seed = first + (k / chosen.len()) as u64;
                    let outcome = run_simulated(chosen[k % chosen.len()], seed, true);
                    if outcome.failure.is_some() {
                        let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
                        if f.len() < FAILURES_SHOWN_MAX {
                            eprint!("\n{}", outcome.failure_report());
                        } else {
                            eprintln!(
                                "\nFAILED {} with seed {}: {}",
                                outcome.name,
                                outcome.seed,
                                outcome.replay_command()
                            );
                        }
                        f.push(outcome);
                        stopped.store(true, Ordering::Relaxed);
                    } else {
                        *virtual_secs.lock().unwrap_or_else(|e| e.into_inner()) +=
                            outcome.report.figures.map_or(0.0, |f| f.seconds);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let (done, failures, progress_done) = (&done, &failures, &progress_done);
        s.spawn(move || {
            while !progress_done.load(Ordering::Acquire) {
                let d = done.load(Ordering::Relaxed);
                let f = failures.lock().unwrap_or_else(|e| e.into_inner()).len();
                progress(d, total, f, started.elapsed());
                if d >= total {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // The workers end when the runs do; then the progress line ends too.
        while done.load(Ordering::Relaxed) < total {
            std::thread::sleep(Duration::from_millis(5));
        }
        progress_done.store(true, Ordering::Release);
    });
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let wall = started.elapsed().as_secs_f64();
    let virtual_secs = virtual_secs.into_inner().unwrap_or_else(|e| e.into_inner());
    progress(total, total, failures.len(), started.elapsed());
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let skipped = skipped.into_inner();
    if skipped > 0 {
        println!("stopped at the first failure: {skipped} runs not started");
    }
    let ran = total - skipped;
    let per_seed = if skipped == 0 {
        format!(
            ", {:.2} s per seed of the {} scenarios",
            wall / n as f64,
            chosen.len()
        )
    } else {
        String::new()
    };
    println!(
        "{} of {ran} runs passed in {wall:.1} s of wall time: {:.0} virtual seconds ({:.0}x){per_seed}",
        ran - failures.len(),
        virtual_secs,
        virtual_secs / wall.max(1e-9),
    );
    for f in failures.iter().take(FAILURES_LISTED_MAX) {
        println!(
            "  FAILED {} seed {}: {}\n    replay: {}",
            f.name,
            f.seed,
            f.failure.as_deref().unwrap_or_default(),
            f.replay_command()
        );
    }
    if failures.len() > FAILURES_LISTED_MAX {
        println!("  ... and {} more", failures.len() - FAILURES_LISTED_MAX);
    }
    failures
}

/// The progress line: redrawn in place on a terminal; elsewhere (a CI log) a new line at
/// every tenth of the runs.
fn progress(done: usize, total: usize, failed: usize, elapsed: Duration) {
    const WIDTH: usize = 40;
    let filled = WIDTH * done / total.max(1);
    let mut err = std::io::stderr().lock();
    if !err.is_terminal() {
        let tenth = (10 * done / total.max(1)).min(10);
        if tenth > LAST_TENTH.swap(tenth, Ordering::Relaxed) || done == 0 {
            let _ = writeln!(
                err,
                "{done}/{total} runs, {failed} failed, {:.0} s",
                elapsed.as_secs_f64()
            );
        }
        return;
    }
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total} runs, {failed} failed, {:.0} s",
        "=".repeat(filled),
        " ".repeat(WIDTH - filled),
        elapsed.as_secs_f64()
    );
    let _ = err.flush();
}
