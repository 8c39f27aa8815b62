//! `cargo xtask sim`: the deterministic simulator (crates/raft-sim) over many seeds, or one
//! seed replayed with its full trace. The work is done by the `raft-sim` binary, built in
//! release mode; xtask only passes the arguments on (it keeps no dependencies).
//!
//! `cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy]`
//! `cargo xtask sim --replay SEED [--peers P] [--faults F]`

use crate::{cargo, run};

/// Runs the simulator binary with `args`; true if every seed kept every invariant.
pub fn main(args: &[String]) -> bool {
    if args.is_empty() {
        eprintln!("usage: cargo xtask sim --seeds N [--start S] [--peers P] [--faults none|default|heavy]");
        eprintln!("       cargo xtask sim --replay SEED [--peers P] [--faults F]");
        return false;
    }
    run(cargo()
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "raft-sim",
            "--bin",
            "raft-sim",
            "--",
        ])
        .args(args))
}
