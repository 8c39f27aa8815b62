//! # The MIT 6.824 Lab 2 test harness, ported, on two clusters
//!
//! [`Config`] is config.go: connect and disconnect, crash and restart, the unreliable network
//! and long reordering; the checkers (`check_one_leader`, `check_terms`, `check_no_leader`,
//! `n_committed`, `one`, `wait`); appliers that fail the test on an out-of-order or diverging
//! apply; and the `  ... Passed --` line. The Go names are kept, in snake_case, so a reader can
//! set the scenarios beside test_test.go.
//!
//! Every scenario ([`scenarios`]) is written once and runs on either cluster, chosen by the
//! [`Tester`] it is given:
//! - the real cluster: raft-node peers over raft-labrpc, on the wall clock (`cargo xtask
//!   test-2a` ...);
//! - the simulated cluster ([`sim`]): raft-core peers on a virtual clock, with labrpc's fault
//!   model draw for draw and the scenario's clients as tasks scheduled from the seed (`cargo
//!   xtask test-2a --sim`, `cargo xtask stress --sim`). A run is fixed by its seed.
//!
//! A scenario talks to the cluster only through the harness: it sleeps with [`Config::sleep`],
//! runs clients with [`Config::scope`] and draws random choices from [`Config::rand_int`].
#![forbid(unsafe_code)]

mod applier;
pub mod cluster;
mod config;
pub mod kv;
mod real;
pub mod runner;
pub mod scenarios;
pub mod sim;
pub mod switches;

pub use config::{
    Clock, Config, Figures, RAFT_ELECTION_TIMEOUT, Report, Scope, Task, Tester, as_int, cmd, is_aborted,
    panic_message,
};
