//! The message fuzzer's command line, which `cargo xtask fuzz` and `cargo xtask stress
//! --fuzz` run: `raft-fuzz [--seed S] [--seeds K] [--steps N] [--peers P] [--keep-going]`.
//!
//! Runs seeds S to S+K-1 (default: seed 1 only), N steps each (default 1,000,000), prints
//! each run's counts, its speed in steps per second and its findings, each with the command
//! that replays it. Exits non-zero if anything was found.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use raft_sim::fuzz::{self, FuzzConfig};

/// Steps per seed unless `--steps` says otherwise: the million.
const STEPS_DEFAULT: u64 = 1_000_000;

struct Options {
    seed: u64,
    seeds: u64,
    steps: u64,
    peers: Option<usize>,
    keep_going: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seed: 1,
        seeds: 1,
        steps: STEPS_DEFAULT,
        peers: None,
        keep_going: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--keep-going" {
            o.keep_going = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{arg} {value}: {e}");
        match arg.as_str() {
            "--seed" => o.seed = value.parse().map_err(bad)?,
            "--seeds" => o.seeds = value.parse().map_err(bad)?,
            "--steps" => o.steps = value.parse().map_err(bad)?,
            "--peers" => o.peers = Some(value.parse().map_err(bad)?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if let Some(p) = o.peers
        && !(fuzz::PEERS_MIN..=fuzz::PEERS_MAX).contains(&p)
    {
        return Err(format!(
            "--peers {p}: must be {} to {}",
            fuzz::PEERS_MIN,
            fuzz::PEERS_MAX
        ));
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("raft-fuzz: {e}");
            eprintln!("usage: raft-fuzz [--seed S] [--seeds K] [--steps N] [--peers P] [--keep-going]");
            return ExitCode::FAILURE;
        }
    };
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut found = 0;
    for seed in o.seed..o.seed.saturating_add(o.seeds) {
        let config = FuzzConfig {
            peers: o.peers.unwrap_or(FuzzConfig::new(seed, o.steps).peers),
            keep_going: o.keep_going,
            ..FuzzConfig::new(seed, o.steps)
        };
        let started = Instant::now();
        let report = fuzz::run(config);
        let elapsed = started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
        println!("{report}");
        println!(
            "  {:.0} steps/s ({build} build, {:.1} s)",
            report.steps as f64 / elapsed,
            elapsed
        );
        for (i, finding) in report.findings.iter().enumerate() {
            println!("\nfinding {} of seed {seed}: {finding}", i + 1);
        }
        found += report.findings.len();
    }
    if found == 0 {
        println!("raft-fuzz: nothing found");
        ExitCode::SUCCESS
    } else {
        println!("raft-fuzz: {found} findings");
        ExitCode::FAILURE
    }
}
