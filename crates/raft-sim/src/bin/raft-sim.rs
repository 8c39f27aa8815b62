//! The simulator's command line, which `cargo xtask sim` runs:
//! `raft-sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--threads T]`
//! sweeps seeds on all cores; `raft-sim --replay SEED [--peers P] [--faults F]` runs one
//! seed and prints its full trace. With `--expect-violation` a sweep succeeds only if some seed
//! breaks an invariant, and stops at the first: how a mutant of raft-core is shown to be caught.
//! `--switches off|pre-vote|check-quorum|both` runs every peer with raft-core's pre-vote and
//! check-quorum (default off); `--transfers` lets the nemesis begin leadership transfers.
//!
//! `raft-sim --scenario NAME --seeds N [--start S] [--switches W] [--figures]` sweeps a scripted
//! scenario (raft_sim::scenario; `--scenario list` names them, `--scenario all` sweeps each) with its own switches or `W`
//! (other switches than its own only measure: a contrast); `--figures` prints what it
//! measured. `raft-sim --scenario NAME --replay SEED` prints one run's full trace.
//! `--expect-violation` works as for the sweep.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use raft_sim::scenario::{self, Summary};
use raft_sim::{FaultProfile, SimConfig, Switches, Violation};

/// How often the sweep prints a progress line.
const PROGRESS_INTERVAL_S: u64 = 3;
/// Most failing seeds a sweep reports in full.
const FAILURES_REPORTED_MAX: usize = 10;
/// How long the progress thread sleeps between checks for the end of the sweep.
const PROGRESS_POLL_MS: u64 = 50;

struct Options {
    seeds: u64,
    start: u64,
    peers: usize,
    faults: FaultProfile,
    threads: usize,
    replay: Option<u64>,
    /// Succeed only if a violation is found (a mutant run), stopping at the first.
    expect_violation: bool,
    switches: Option<Switches>,
    /// A scripted scenario instead of the safety runs.
    scenario: Option<String>,
    /// Print a scenario sweep's figures.
    figures: bool,
    /// The nemesis begins leadership transfers too.
    transfers: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut o = Options {
        seeds: 0,
        start: 0,
        peers: SimConfig::new(0).peers,
        faults: FaultProfile::Default,
        threads,
        replay: None,
        expect_violation: false,
        switches: None,
        scenario: None,
        figures: false,
        transfers: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--expect-violation" {
            o.expect_violation = true;
            continue;
        }
        if arg == "--figures" {
            o.figures = true;
            continue;
        }
        if arg == "--transfers" {
            o.transfers = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{arg} {value}: {e}");
        match arg.as_str() {
            "--seeds" => o.seeds = value.parse().map_err(bad)?,
            "--start" => o.start = value.parse().map_err(bad)?,
            "--peers" => o.peers = value.parse().map_err(bad)?,
            "--threads" => o.threads = value.parse().map_err(bad)?,
            "--replay" => o.replay = Some(value.parse().map_err(bad)?),
            "--faults" => o.faults = value.parse()?,
            "--switches" => o.switches = Some(value.parse()?),
            "--scenario" => o.scenario = Some(value.clone()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if o.replay.is_none() && o.seeds == 0 && o.scenario.as_deref() != Some("list") {
        return Err("give --seeds N (N >= 1) or --replay SEED".into());
    }
    Ok(o)
}

fn config(o: &Options, seed: u64) -> SimConfig {
    SimConfig {
        peers: o.peers,
        faults: o.faults,
        switches: o.switches.unwrap_or(Switches::OFF),
        transfers: o.transfers,
        ..SimConfig::new(seed)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("raft-sim: {e}");
            eprintln!(
                "usage: raft-sim --seeds N [--start S] [--peers P] [--faults none|default|heavy] [--switches W] [--transfers]"
            );
            eprintln!("       raft-sim --replay SEED [--peers P] [--faults F] [--switches W] [--transfers]");
            eprintln!(
                "       raft-sim --scenario NAME|list --seeds N [--start S] [--switches W] [--figures]"
            );
            eprintln!("       raft-sim --scenario NAME --replay SEED [--switches W]");
            eprintln!("       W: off, pre-vote, check-quorum, both");
            return ExitCode::FAILURE;
        }
    };
    if let Some(name) = options.scenario.as_deref() {
        return if scripted(&options, name) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let ok = match options.replay {
        Some(seed) => replay(&options, seed),
        None => sweep(&options),
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn replay(o: &Options, seed: u64) -> bool {
    let cfg = SimConfig {
        record_full_trace: true,
        ..config(o, seed)
    };
    match raft_sim::run(cfg) {
        Ok(summary) => {
            for line in summary.full_trace.iter().flatten() {
                println!("{line}");
            }
            println!(
                "seed {seed}: ok, {} events, trace hash {:016x}, {} commands committed, \
                 recovered {} ms after faults stopped",
                summary.events,
                summary.trace_hash,
                summary.commands_committed,
                summary.recovery_us / 1000
            );
            true
        }
        Err(v) => {
            for line in v.full_trace.iter().flatten() {
                println!("{line}");
            }
            println!("{v}");
            false
        }
    }
}

/// Shared counters of a sweep.
struct Sweep {
    next: AtomicU64,
    done: AtomicU64,
    events: AtomicU64,
    /// Reads answered with an index (each checked against every commit before it), and failed.
    reads_served: AtomicU64,
    reads_failed: AtomicU64,
    /// Workers still running; the progress thread stops when none is.
    active: AtomicUsize,
    failures: Mutex<Vec<Violation>>,
}

fn sweep(o: &Options) -> bool {
    let s = Sweep {
        next: AtomicU64::new(o.start),
        done: AtomicU64::new(0),
        events: AtomicU64::new(0),
        reads_served: AtomicU64::new(0),
        reads_failed: AtomicU64::new(0),
        active: AtomicUsize::new(o.threads.max(1)),
        failures: Mutex::new(Vec::new()),
    };
    let end = o.start.saturating_add(o.seeds);
    let started = Instant::now();
    eprintln!(
        "raft-sim: seeds {}..{end}, {} peers, faults {}, {} threads",
        o.start, o.peers, o.faults, o.threads
    );
    std::thread::scope(|scope| {
        for _ in 0..o.threads.max(1) {
            scope.spawn(|| worker(o, &s, end));
        }
        scope.spawn(|| progress(o, &s, started));
    });
    let elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
    let (done, events) = (s.done.load(Ordering::Relaxed), s.events.load(Ordering::Relaxed));
    eprintln!(
        "raft-sim: {done} seeds in {elapsed:.1} s: {:.0} seeds/s, {:.0} events/s ({events} events)",
        done as f64 / elapsed,
        events as f64 / elapsed
    );
    eprintln!(
        "raft-sim: reads checked: {} served, {} failed by a leader that stepped down",
        s.reads_served.load(Ordering::Relaxed),
        s.reads_failed.load(Ordering::Relaxed)
    );
    let failures = s
        .failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if o.expect_violation {
        return report_caught(failures, done);
    }
    report_failures(failures)
}

fn worker(o: &Options, s: &Sweep, end: u64) {
    loop {
        let seed = s.next.fetch_add(1, Ordering::Relaxed);
        if seed >= end {
            s.active.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        match raft_sim::run(config(o, seed)) {
            Ok(summary) => {
                s.events.fetch_add(summary.events, Ordering::Relaxed);
                s.reads_served.fetch_add(summary.reads.0, Ordering::Relaxed);
                s.reads_failed.fetch_add(summary.reads.1, Ordering::Relaxed);
            }
            Err(v) => {
                s.events.fetch_add(v.events, Ordering::Relaxed);
                eprintln!("raft-sim: seed {seed} FAILED: {}: {}", v.invariant, v.detail);
                if o.expect_violation {
                    // One violation is what a mutant run looks for: stop the other workers.
                    s.next.store(end, Ordering::Relaxed);
                }
                let mut failures = s
                    .failures
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                failures.push(v);
            }
        }
        s.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn progress(o: &Options, s: &Sweep, started: Instant) {
    let mut last_print = Instant::now();
    while s.active.load(Ordering::Relaxed) > 0 {
        std::thread::sleep(Duration::from_millis(PROGRESS_POLL_MS));
        if last_print.elapsed() >= Duration::from_secs(PROGRESS_INTERVAL_S) {
            last_print = Instant::now();
            let done = s.done.load(Ordering::Relaxed);
            let elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
            let rate = done as f64 / elapsed;
            let eta = (o.seeds - done.min(o.seeds)) as f64 / rate.max(f64::MIN_POSITIVE);
            let failed = s.failures.lock().map_or(0, |f| f.len());
            eprintln!(
                "raft-sim: {done}/{} seeds ({:.0}%), {rate:.0} seeds/s, {failed} failed, eta {eta:.0} s",
                o.seeds,
                100.0 * done as f64 / o.seeds as f64
            );
        }
    }
}

fn report_failures(mut failures: Vec<Violation>) -> bool {
    if failures.is_empty() {
        eprintln!("raft-sim: no violation");
        return true;
    }
    failures.sort_by_key(|v| v.seed);
    eprintln!("raft-sim: {} seeds FAILED", failures.len());
    for v in failures.iter().take(FAILURES_REPORTED_MAX) {
        eprintln!("\n{v}");
    }
    eprintln!("\nfailing seeds (replay each with the command shown):");
    for v in &failures {
        eprintln!("  {}  # {}", v.replay_command(), v.invariant);
    }
    false
}

/// A mutant run: true if some seed broke an invariant (the bug was caught).
fn report_caught(mut failures: Vec<Violation>, seeds_run: u64) -> bool {
    failures.sort_by_key(|v| v.seed);
    match failures.first() {
        Some(v) => {
            eprintln!(
                "raft-sim: caught at seed {} by {} ({} seeds run): {}",
                v.seed, v.invariant, seeds_run, v.detail
            );
            true
        }
        None => {
            eprintln!("raft-sim: NOT caught: {seeds_run} seeds kept every invariant");
            false
        }
    }
}

/// A scripted scenario: listed, replayed, or swept (and its figures printed). True if it
/// went as asked (every seed passed; with `--expect-violation`, some seed failed).
fn scripted(o: &Options, name: &str) -> bool {
    if name == "list" {
        for s in scenario::SCENARIOS {
            println!("{:28} [{}] {}", s.name, s.switches, s.what);
        }
        return true;
    }
    if name == "all" && o.replay.is_none() {
        // Every scenario, each to the end: one that fails does not hide the next.
        let passed: Vec<bool> = scenario::SCENARIOS
            .iter()
            .map(|named| sweep_one(o, named))
            .collect();
        return passed.iter().all(|p| *p);
    }
    let Some(named) = scenario::find(name) else {
        eprintln!(
            "raft-sim: no scenario named {name} (known: {}; or all)",
            scenario::names()
        );
        return false;
    };
    let switches = o.switches.unwrap_or(named.switches);
    if let Some(seed) = o.replay {
        return match (named.run)(seed, switches, true) {
            Ok(figures) => {
                println!("seed {seed}: ok, {figures:?}");
                true
            }
            Err(failure) => {
                for line in failure.full_trace.iter().flat_map(|t| t.iter()) {
                    println!("{line}");
                }
                println!("{failure}");
                false
            }
        };
    }
    sweep_one(o, named)
}

/// Sweeps one scenario over the seeds asked, with its own switches or the ones asked. True if
/// it went as asked.
fn sweep_one(o: &Options, named: &scenario::Named) -> bool {
    let name = named.name;
    let switches = o.switches.unwrap_or(named.switches);
    let end = o.start.saturating_add(o.seeds);
    eprintln!(
        "raft-sim: scenario {name} with {switches}, seeds {}..{end}, {} threads",
        o.start, o.threads
    );
    let report = scenario::sweep(named, switches, o.start..end, o.threads, o.expect_violation);
    if o.figures {
        println!("{name} with {switches}: {}", Summary::of(&report.figures));
    }
    if o.expect_violation {
        return match report.failures.first() {
            Some(f) => {
                eprintln!(
                    "raft-sim: caught at seed {} by {} ({} seeds run): {}",
                    f.seed, f.invariant, report.seeds_run, f.detail
                );
                true
            }
            None => {
                eprintln!("raft-sim: NOT caught: {} seeds passed", report.seeds_run);
                false
            }
        };
    }
    for f in report.failures.iter().take(FAILURES_REPORTED_MAX) {
        eprintln!("\n{f}");
    }
    if report.failures.is_empty() {
        eprintln!("raft-sim: {} seeds passed", report.seeds_run);
        true
    } else {
        eprintln!(
            "raft-sim: {} of {} seeds FAILED",
            report.failures.len(),
            report.seeds_run
        );
        false
    }
}
