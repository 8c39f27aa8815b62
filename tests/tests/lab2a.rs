//! Part 2A of MIT 6.824 Lab 2: leader election, on the real cluster: raft-node peers over raft-labrpc, on
//! the wall clock. The scenarios are in `src/scenarios/lab2a.rs`; `cargo xtask test-2a --sim`
//! runs the same ones on virtual time. Run one test at a time (`cargo xtask test-2a`):
//! these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab2a;

#[test]
fn test_initial_election_2a() {
    run_real(lab2a::initial_election_2a);
}

#[test]
fn test_re_election_2a() {
    run_real(lab2a::re_election_2a);
}

#[test]
fn test_many_elections_2a() {
    run_real(lab2a::many_elections_2a);
}
