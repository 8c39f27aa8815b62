//! `cargo xtask demo`, `cluster` and `jepsen`: the `raftkv` binary built, then the harness's
//! `raft-cluster` binary run against it (three real processes on loopback, faults by signals
//! and TCP proxies, the read-back and the linearizability check at the end). `cargo xtask
//! bench-cluster`: the same binaries in release, `raft-cluster bench` (latency, throughput and
//! the floors under them; see docs/BENCHMARKS.md).
//!
//! `cargo xtask demo --labrpc` is the older demo: a live 5-peer cluster of threads over the
//! lossy labrpc network (raft-node's `demo` example).

use std::path::PathBuf;

use crate::{cargo, cargo_run, run};

/// The package and binary of the server.
const SERVER_PACKAGE: &str = "raft-kv-server";
/// The server binary.
const SERVER_BIN: &str = "raftkv";

/// How many jepsen rounds `cargo xtask test` runs: one of each of the seven kinds of fault
/// (about 20 s of wall time).
pub const JEPSEN_QUICK_ROUNDS: &str = "7";

const DEMO_USAGE: &str = "\
usage: cargo xtask demo [OPTIONS]
       cargo xtask demo --labrpc [ARGS..]

Builds the raftkv binary, starts 3 `raftkv serve` processes on loopback (each peer link
through a TCP proxy), runs clients throughout, and in turn: SIGKILL of the leader and its
restart, a follower paused (SIGSTOP) and resumed, a link cut and healed. Ends by stopping
every node with SIGTERM, starting them again, reading every key back and checking the whole
history for linearizability, with a summary (operations, faults, failover times, verdict,
acknowledged writes lost).

options (passed to raft-cluster demo):
  --seed S        the clients' and the nemesis's choices
  --clients N     client threads (default 4)
  --keys N        keys (default 3)
  --keep          keep the run's data and logs (target/cluster/..) even when it passes
  --quiet         print only the summary

--labrpc runs the older demo instead: a live 5-peer cluster of threads over the lossy
labrpc network (ARGS go to it; see `cargo xtask demo --labrpc --help`).
";

/// Where cargo puts this workspace's builds: CARGO_TARGET_DIR, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// Builds `raftkv` (dev profile, or release if `release`); its path, or `None` if the build
/// failed.
fn build_raftkv(release: bool) -> Option<PathBuf> {
    let mut build = cargo();
    build.args(["build", "-p", SERVER_PACKAGE, "--bin", SERVER_BIN]);
    if release {
        build.arg("--release");
    }
    if !run(&mut build) {
        eprintln!("xtask: could not build {SERVER_BIN}");
        return None;
    }
    let profile = if release { "release" } else { "debug" };
    Some(target_dir().join(profile).join(SERVER_BIN))
}

/// `raft-cluster COMMAND --raftkv PATH ARGS..` after building raftkv (dev profile: the
/// runs check behaviour, and debug assertions help them).
pub fn raft_cluster(command: &str, args: &[String]) -> bool {
    raft_cluster_with(command, args, false)
}

fn raft_cluster_with(command: &str, args: &[String], release: bool) -> bool {
    let Some(raftkv) = build_raftkv(release) else {
        return false;
    };
    run(cargo_run(crate::parts::PACKAGE, "--bin", "raft-cluster", None)
        .arg(command)
        .arg("--raftkv")
        .arg(raftkv)
        .args(args))
}

/// `cargo xtask bench-cluster ARGS..`: `raft-cluster bench`, both it and raftkv built with
/// `--release` (a benchmark of a debug build measures the debug build).
pub fn bench_cluster(args: &[String]) -> bool {
    raft_cluster_with("bench", args, true)
}

/// `cargo xtask demo [--labrpc] ARGS..`.
pub fn demo(args: &[String]) -> bool {
    if args.iter().any(|a| a == "--labrpc") {
        let rest: Vec<&String> = args.iter().filter(|a| *a != "--labrpc").collect();
        return run(cargo_run("raft-node", "--example", "demo", None).args(rest));
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{DEMO_USAGE}");
        return true;
    }
    raft_cluster("demo", args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_help_prints_usage_and_succeeds_without_building_anything() {
        assert!(demo(&["--help".to_owned()]));
        assert!(DEMO_USAGE.contains("--labrpc"));
    }

    #[test]
    fn the_target_dir_is_the_workspaces_unless_told_otherwise() {
        if std::env::var_os("CARGO_TARGET_DIR").is_none() {
            assert!(target_dir().ends_with("xtask/../target"));
        }
    }
}
