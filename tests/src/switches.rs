//! raft-core's pre-vote and check-quorum for the harness's peers, both off unless the
//! environment turns them on: `RAFT_PRE_VOTE=1` and `RAFT_CHECK_QUORUM=1` (any other value,
//! or none, is off). With both off the suite checks Lab 2's exact counts, as always; with
//! them on, it is a stress check of the two features (the reference's scenario 28):
//!
//! ```text
//! RAFT_PRE_VOTE=1 RAFT_CHECK_QUORUM=1 cargo run -p raft-tests --release --bin raft-suite -- --part lab2 --seeds 40
//! ```
//!
//! Every peer the harness starts, on either cluster, reads them; a replay command carries
//! them.

/// Turns raft-core's pre-vote on for every peer when set to `1`.
pub const PRE_VOTE_ENV: &str = "RAFT_PRE_VOTE";
/// Turns raft-core's check-quorum on for every peer when set to `1`.
pub const CHECK_QUORUM_ENV: &str = "RAFT_CHECK_QUORUM";

fn on(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

/// `(pre_vote, check_quorum)` as the environment sets them.
#[must_use]
pub fn from_env() -> (bool, bool) {
    (on(PRE_VOTE_ENV), on(CHECK_QUORUM_ENV))
}

/// The variables to put before a replay command so that it runs with the same switches
/// (empty when both are off).
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
    prefix
}

/// raft-node's options for a harness peer seeded with `seed`, with the switches of the
/// environment.
#[must_use]
pub fn node_options(seed: u64) -> raft_node::NodeOptions {
    let (pre_vote, check_quorum) = from_env();
    raft_node::NodeOptions {
        seed: Some(seed),
        pre_vote,
        check_quorum,
        ..raft_node::NodeOptions::default()
    }
}
