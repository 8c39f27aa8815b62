//! raft-core's switches for the harness's peers, from the environment:
//!
//! - `RAFT_PRE_VOTE=1` and `RAFT_CHECK_QUORUM=1` turn pre-vote and check-quorum on (any other
//!   value, or none, is off). With both off the suite checks Lab 2's exact counts, as always;
//!   with them on, it is a stress check of the two features (the reference's scenario 28);
//! - `RAFT_READS` picks how a leader confirms a read (raft-core's `Config::reads`), one of
//!   [`ReadMode::NAMES`]: `read-index` (the default), `log` (every Get through the log, as
//!   6.824's Lab 3 has it) or `lease:<ppm>` (lease reads with that clock drift bound, which
//!   need `RAFT_CHECK_QUORUM=1`). Lab 3's servers take the read path for Gets unless it is
//!   `log`; Lab 2 has no reads.
//!
//! ```text
//! RAFT_PRE_VOTE=1 RAFT_CHECK_QUORUM=1 cargo run -p raft-tests --release --bin raft-suite -- --part lab2 --seeds 40
//! RAFT_READS=log cargo run -p raft-tests --release --bin raft-suite -- --part lab3 --seeds 30
//! ```
//!
//! Every peer the harness starts, on either cluster, reads them; a replay command carries
//! them.

use raft_core::ReadMode;

/// Turns raft-core's pre-vote on for every peer when set to `1`.
pub const PRE_VOTE_ENV: &str = "RAFT_PRE_VOTE";
/// Turns raft-core's check-quorum on for every peer when set to `1`.
pub const CHECK_QUORUM_ENV: &str = "RAFT_CHECK_QUORUM";
/// Names raft-core's read mode for every peer ([`ReadMode::NAMES`]).
pub const READS_ENV: &str = "RAFT_READS";

/// The read mode when [`READS_ENV`] is not set: raft-node's default.
pub const READS_DEFAULT: ReadMode = ReadMode::ReadIndex;

fn on(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

/// `(pre_vote, check_quorum)` as the environment sets them.
#[must_use]
pub fn from_env() -> (bool, bool) {
    (on(PRE_VOTE_ENV), on(CHECK_QUORUM_ENV))
}

/// The read mode the environment sets ([`READS_DEFAULT`] when unset).
///
/// # Errors
/// What is wrong with [`READS_ENV`]: a value that names no mode, or a lease without
/// check-quorum (raft-core refuses that config: nothing would stop another leader from being
/// elected under the lease).
pub fn reads_from_env() -> Result<ReadMode, String> {
    let Some(value) = std::env::var_os(READS_ENV) else {
        return Ok(READS_DEFAULT);
    };
    let value = value.to_string_lossy();
    let mode: ReadMode = value.parse().map_err(|e| format!("{READS_ENV}={value}: {e}"))?;
    if matches!(mode, ReadMode::Lease { .. }) && !on(CHECK_QUORUM_ENV) {
        return Err(format!(
            "{READS_ENV}={value}: lease reads need check-quorum ({CHECK_QUORUM_ENV}=1)"
        ));
    }
    Ok(mode)
}

/// [`reads_from_env`], for the harness's peers.
///
/// # Panics
/// If the environment's read mode is wrong: a run must not go on with another mode than the
/// one asked for (the suite's binary checks it before it starts).
#[must_use]
pub fn reads() -> ReadMode {
    reads_from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// The variables to put before a replay command so that it runs with the same switches
/// (empty when all are at their defaults).
#[must_use]
pub fn env_prefix() -> String {
    let (pre_vote, check_quorum) = from_env();
    let mut prefix = String::new();
    if pre_vote {
        prefix.push_str(&format!("{PRE_VOTE_ENV}=1 "));
    }
    if check_quorum {
        prefix.push_str(&format!("{CHECK_QUORUM_ENV}=1 "));
    }
    if let Ok(reads) = reads_from_env()
        && reads != READS_DEFAULT
    {
        prefix.push_str(&format!("{READS_ENV}={reads} "));
    }
    prefix
}

/// raft-node's options for a harness peer seeded with `seed`, with the switches of the
/// environment.
///
/// # Panics
/// If the environment's read mode is wrong (see [`reads`]).
#[must_use]
pub fn node_options(seed: u64) -> raft_node::NodeOptions {
    let (pre_vote, check_quorum) = from_env();
    raft_node::NodeOptions {
        seed: Some(seed),
        pre_vote,
        check_quorum,
        reads: reads(),
        ..raft_node::NodeOptions::default()
    }
}
