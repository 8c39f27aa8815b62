//! # The MIT 6.824 Lab 2 test harness, ported
//!
//! [`Config`] is config.go: a cluster of [`raft_node::RaftNode`] peers over a
//! [`raft_labrpc::Network`] with long delays on, each with a [`raft_storage::MemoryPersister`];
//! connect and disconnect, crash and restart, the unreliable network and long reordering; the
//! checkers (`check_one_leader`, `check_terms`, `check_no_leader`, `n_committed`, `one`,
//! `wait`); appliers that fail the test on an out-of-order or diverging apply; and the
//! `  ... Passed --` line. The Go names are kept, in snake_case, so a reader can set the
//! tests beside test_test.go.
//!
//! A scenario talks to the cluster only through the harness: it sleeps with
//! [`Config::sleep`] and draws random choices from [`Config::rand_int`], whose seed is printed
//! when a test fails and can be replayed with `RAFT_TEST_SEED`.
#![forbid(unsafe_code)]

mod config;

pub use config::{Config, RAFT_ELECTION_TIMEOUT, as_int, cmd};
