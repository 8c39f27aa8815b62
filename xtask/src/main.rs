//! `cargo xtask`: the project's runner, a small plain binary (no dependencies).
//!
//! Subcommands: `test` (everything CI checks), `test-2a` .. `test-3b` (one 6.824 part),
//! `stress` (a suite many times, logs of failures kept), `bench` (criterion), `demo`,
//! `cluster` and `jepsen` (real `raftkv` processes under faults), `bench-cluster` (their
//! latency and throughput).
//! Each step prints what it runs, and the process exits non-zero on the first failure
//! (`test` runs every step and reports all failures at the end).

#![forbid(unsafe_code)]

mod cluster;
mod parts;
mod sim;
mod stress;

use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command>

  test                 everything CI checks: fmt, clippy, build, no_std build, unit and
                       integration tests, doc tests, docs without warnings, quick seeds
                       on virtual time, the mutants, every part of Labs 2 and 3 on the
                       real cluster, and a short jepsen run on real processes
  test-2a .. test-2d, test-3a, test-3b, test-all
                       one part (or all six) of MIT 6.824 Labs 2 and 3, one test at a time,
                       on the real cluster, with pass lines
  test-2a .. test-all --sim [--seed S] [--test NAME] [--seeds N] [--mutant NAME]
                       the same scenarios on the simulated cluster, on virtual time (pass
                       lines in virtual seconds; a seed fixes the run), optionally against
                       a mutant of raft-core or raft-kv
  stress --part P [--iterations N] [--jobs J] [--filter F]
                       run a suite N times, J at a time; keeps the log of every failure
                       (P: 2a .. 3b, labrpc storage core node, or a test target
                       of tests/ such as file_storage)
  stress --sim --part P --seeds N [--first S] [--jobs J]
                       N seeds of a part (lab2, lab3, scenarios or all) on virtual time on every
                       core; scenarios: every scripted scenario of raft-sim (pre-vote,
                       check-quorum, transfer, reads); a failure prints its seed, test, last
                       events and the command that replays it
  sim --seeds N [--start S] [--peers P] [--faults none|default|heavy]
                       the deterministic simulator over N seeds on all cores
  sim --replay SEED [--peers P] [--faults F]
                       one seed again, with its full trace
  fuzz [--seed S] [--seeds K] [--steps N] [--peers P] [--keep-going] [--debug]
                       the message fuzzer: 3-5 peers fed real, mutated and garbage
                       messages, every per-peer property checked after every step
                       (default seed 1, 1,000,000 steps, release; --debug: dev build)
  stress --fuzz [--steps N] [--seeds K] [--first S] [--debug]
                       the fuzzer on K seeds (default 4) of N steps (default 1,000,000)
  mutants              the simulator and the suite on virtual time against each
                       deliberately broken raft-core, and a Lab 3 scenario against each
                       deliberately broken raft-kv (its linearizability check must fail):
                       every mutant must be caught within a bounded number of seeds
  figure16 [--trials N] the Raft paper's Figure 16 on the simulator (docs/figure16.md)
  bench [ARGS..]       the criterion benchmarks (ARGS go to cargo bench)
  demo [OPTIONS]       3 raftkv processes on loopback with clients throughout: the
                       leader SIGKILLed and restarted, a follower paused and resumed, a
                       link cut and healed; ends with a summary and a linearizability
                       verdict (see --help)
  demo --labrpc [ARGS..]
                       the older demo: a live 5-peer cluster over the lossy labrpc network
  cluster [--seconds N] [--faults] [OPTIONS]
                       3 raftkv processes and clients for N seconds (default 30), with
                       fault rounds if --faults; the same checks and summary
  jepsen --rounds N [--seed S] [OPTIONS]
                       N fault rounds on 3 raftkv processes (SIGKILL of the leader or any
                       node, pause, leader isolated, partial partition, link cut, SIGTERM
                       and restart); every acknowledged write read back after restarting
                       every node, the history checked for linearizability; fails on a
                       lost write or a history that is not (or not surely) linearizable
                       (options of cluster/jepsen: --seed S --clients N --keys N --keep
                       --quiet)
  bench-cluster [--seconds N] [--through-proxies] [--keep] [--quiet]
                       a benchmark of 3 raftkv processes on loopback, fsync on (release
                       builds): one client's Put latency, throughput at 1, 8 and 64
                       clients (N measured seconds each, default 3), and the floors beside
                       them (append + fdatasync, loopback TCP and raft-tcp round trips);
                       prints a markdown table (docs/BENCHMARKS.md)
  bench-raft-rs [--profile one|proposals|in-one]
                       raft-core beside raft-rs 0.7 in one process (crates/vs-raft-rs, its
                       own workspace, release): three workloads, alternating rounds, the
                       ratio per workload; --profile runs only raft-core's side of one
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let rest = &args[1..];
    let ok = match command.as_str() {
        "test" => test_all(),
        "bench" => run(cargo().args(["bench", "--workspace"]).args(rest)),
        "stress" => stress::main(rest),
        "sim" => sim::main(rest),
        "mutants" => sim::mutants(),
        "fuzz" => sim::fuzz(rest),
        "figure16" => sim::figure16(rest),
        "demo" => cluster::demo(rest),
        "cluster" => cluster::raft_cluster("cluster", rest),
        "jepsen" => cluster::raft_cluster("jepsen", rest),
        "bench-cluster" => cluster::bench_cluster(rest),
        "bench-raft-rs" => bench_raft_rs(rest),
        part if part.starts_with("test-") => parts::run_part(&part["test-".len()..], rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            true
        }
        other => {
            eprintln!("unknown command `{other}`\n{USAGE}");
            false
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `cargo xtask bench-raft-rs ARGS..`: crates/vs-raft-rs in release, in a target directory of
/// its own under target/ (it is a workspace of its own, so that no other build compiles
/// raft-rs).
fn bench_raft_rs(args: &[String]) -> bool {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    run(cargo()
        .args(["run", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("crates/vs-raft-rs/Cargo.toml"))
        .env("CARGO_TARGET_DIR", root.join("target/vs-raft-rs"))
        .arg("--")
        .args(args))
}

/// A `cargo` command for the toolchain that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

/// `cargo run --release --quiet -p PACKAGE KIND NAME --`: one of the project's binaries
/// (`--bin`) or examples (`--example`), built for speed; append its arguments. With a
/// `mutant`, the crate that has it (raft-core, see [`sim::MUTANTS`], or raft-kv, see
/// [`sim::KV_MUTANTS`]) is built with that deliberately broken rule, and no other mutant, in
/// a target directory of its own so that no ordinary build ever links it. A name no crate
/// knows goes to raft-core, whose build script then fails listing its mutants (the entry
/// points check names first, see [`sim::mutant_env`]).
pub fn cargo_run(package: &str, kind: &str, name: &str, mutant: Option<&str>) -> Command {
    let mut cmd = cargo();
    cmd.args(["run", "--release", "--quiet", "-p", package]);
    if let Some(mutant) = mutant {
        for var in sim::MUTANT_ENVS {
            cmd.env_remove(var);
        }
        cmd.env(sim::mutant_env(mutant).unwrap_or(sim::CORE_MUTANT_ENV), mutant);
        cmd.env("CARGO_TARGET_DIR", sim::mutants_target_dir());
    }
    cmd.args([kind, name, "--"]);
    cmd
}

/// Runs a command, echoing it first; true if it exited zero.
pub fn run(cmd: &mut Command) -> bool {
    eprintln!("$ {}", show(cmd));
    match cmd.status() {
        Ok(status) => status.success(),
        Err(err) => {
            eprintln!("xtask: could not start {}: {err}", show(cmd));
            false
        }
    }
}

/// The command as a shell would take it: the variables it sets (a mutant's, say) first, an
/// argument with a space quoted.
fn show(cmd: &Command) -> String {
    let mut s = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            s.push_str(&format!("{}={} ", key.to_string_lossy(), value.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') {
            s.push_str(&format!(" \"{arg}\""));
        } else {
            s.push(' ');
            s.push_str(&arg);
        }
    }
    s
}

/// How many simulator seeds `cargo xtask test` runs: a few seconds on two cores.
const SIM_QUICK_SEEDS: &str = "3000";

/// The fuzzer in `cargo xtask test`: seeds 1 to this, [`FUZZ_QUICK_STEPS`] steps each, in
/// release (about a second); the long run is `cargo xtask stress --fuzz`.
const FUZZ_QUICK_SEEDS: &str = "3";
/// Steps of each quick fuzzer seed.
const FUZZ_QUICK_STEPS: &str = "100000";

/// How many seeds of Lab 2 on virtual time `cargo xtask test` runs (fixed: seeds 1 to this),
/// a few seconds on two cores.
const SUITE_QUICK_SEEDS: &str = "40";

/// How many seeds of Lab 3 on virtual time `cargo xtask test` runs (fixed: seeds 1 to this);
/// the long run is `cargo xtask stress --sim --part lab3`.
const LAB3_QUICK_SEEDS: &str = "4";

/// The bare-metal target raft-core must build for: proof that it stays `no_std`.
const NO_STD_TARGET: &str = "thumbv7em-none-eabihf";

/// Everything CI checks. Every step runs; failures are listed at the end.
fn test_all() -> bool {
    let started = Instant::now();
    let mut failed: Vec<&str> = Vec::new();
    let mut step = |name: &'static str, ok: bool| {
        eprintln!("xtask: {name}: {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(name);
        }
    };
    step("fmt", run(cargo().args(["fmt", "--all", "--", "--check"])));
    step(
        "clippy",
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])),
    );
    step("no_std build", no_std_build());
    step("unit and integration tests", unit_tests());
    step("doc tests", run(cargo().args(["test", "--workspace", "--doc"])));
    // Public docs that link to private or missing items read as broken links to a user.
    step(
        "docs build without warnings",
        run(cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings")),
    );
    // A fixed, quick set of simulator seeds (a few seconds); longer runs: cargo xtask sim.
    let quick_seeds: Vec<String> = ["--seeds", SIM_QUICK_SEEDS]
        .iter()
        .map(|s| s.to_string())
        .collect();
    step("simulator (quick seeds)", sim::main(&quick_seeds));
    step(
        "6.824 Lab 2 on virtual time (quick seeds)",
        parts::run_simulated("lab2", &["--seeds".into(), SUITE_QUICK_SEEDS.into()]),
    );
    step(
        "6.824 Lab 3 on virtual time (quick seeds)",
        parts::run_simulated("lab3", &["--seeds".into(), LAB3_QUICK_SEEDS.into()]),
    );
    // The harness runs Figure 2 exactly unless told; the library's defaults (pre-vote and
    // check-quorum on) get the same suites on quick seeds.
    let switches_on = [("RAFT_PRE_VOTE", "1"), ("RAFT_CHECK_QUORUM", "1")];
    step(
        "6.824 Lab 2 on virtual time, pre-vote and check-quorum on (quick seeds)",
        parts::run_simulated_with(
            "lab2",
            &["--seeds".into(), SUITE_QUICK_SEEDS.into()],
            &switches_on,
        ),
    );
    step(
        "6.824 Lab 3 on virtual time, pre-vote and check-quorum on (quick seeds)",
        parts::run_simulated_with("lab3", &["--seeds".into(), LAB3_QUICK_SEEDS.into()], &switches_on),
    );
    let quick_fuzz: Vec<String> = ["--seeds", FUZZ_QUICK_SEEDS, "--steps", FUZZ_QUICK_STEPS]
        .iter()
        .map(|s| s.to_string())
        .collect();
    step("fuzzer (quick seeds)", sim::fuzz(&quick_fuzz));
    step("simulator and suite catch every mutant", sim::mutants());
    for part in parts::PARTS {
        if parts::exists(part) {
            step(part.name, parts::run_part(part.id, &[]));
        } else {
            eprintln!("xtask: part {} is not built yet; skipped", part.id);
        }
    }
    step(
        "process cluster: a short jepsen run on raftkv processes",
        cluster::raft_cluster(
            "jepsen",
            &[
                "--rounds".into(),
                cluster::JEPSEN_QUICK_ROUNDS.into(),
                "--quiet".into(),
            ],
        ),
    );
    eprintln!("xtask: test finished in {:.0} s", started.elapsed().as_secs_f64());
    if failed.is_empty() {
        eprintln!("xtask: all steps passed");
        true
    } else {
        eprintln!("xtask: FAILED steps: {}", failed.join(", "));
        false
    }
}

/// Builds raft-core for a bare-metal target, adding the target with rustup if missing.
/// If the target cannot be had (no network), says so and fails this step only.
fn no_std_build() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains(NO_STD_TARGET))
        .unwrap_or(false);
    if !installed && !run(Command::new("rustup").args(["target", "add", NO_STD_TARGET])) {
        eprintln!("xtask: could not add the {NO_STD_TARGET} target (download failed?)");
        return false;
    }
    run(cargo().args(["build", "-p", "raft-core", "--target", NO_STD_TARGET]))
}

/// Unit and integration tests of every crate, in parallel (nextest when installed), but not
/// the Lab 2 part suites: those are timing tests and run one at a time in `parts`.
fn unit_tests() -> bool {
    let nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if nextest {
        // One regex for every part suite: nextest refuses a filter that names a binary that
        // does not exist yet, and the parts arrive one by one.
        let filter = "not binary(/^lab(2[a-d]|3[ab])$/)";
        run(cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--release",
            "--no-fail-fast",
            "-E",
            filter,
        ]))
    } else {
        eprintln!("xtask: cargo-nextest not found; using cargo test");
        let others = run(cargo().args(["test", "--workspace", "--release", "--exclude", parts::PACKAGE]));
        // The harness's own tests and every test target but the real-time part suites.
        let mut harness = cargo();
        harness.args(["test", "--release", "-p", parts::PACKAGE, "--lib"]);
        for target in parts::non_part_test_targets() {
            harness.args(["--test", &target]);
        }
        let harness = run(&mut harness);
        others && harness
    }
}
