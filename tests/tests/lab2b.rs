//! Part 2B of MIT 6.824 Lab 2: log replication, on the real cluster: raft-node peers over raft-labrpc, on
//! the wall clock. The scenarios are in `src/scenarios/lab2b.rs`; `cargo xtask test-2b --sim`
//! runs the same ones on virtual time. Run one test at a time (`cargo xtask test-2b`):
//! these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab2b;

#[test]
fn test_basic_agree_2b() {
    run_real(lab2b::basic_agree_2b);
}

#[test]
fn test_rpc_bytes_2b() {
    run_real(lab2b::rpc_bytes_2b);
}

#[test]
fn test_follower_failure_2b() {
    run_real(lab2b::follower_failure_2b);
}

#[test]
fn test_leader_failure_2b() {
    run_real(lab2b::leader_failure_2b);
}

#[test]
fn test_fail_agree_2b() {
    run_real(lab2b::fail_agree_2b);
}

#[test]
fn test_fail_no_agree_2b() {
    run_real(lab2b::fail_no_agree_2b);
}

#[test]
fn test_concurrent_starts_2b() {
    run_real(lab2b::concurrent_starts_2b);
}

#[test]
fn test_rejoin_2b() {
    run_real(lab2b::rejoin_2b);
}

#[test]
fn test_backup_2b() {
    run_real(lab2b::backup_2b);
}

#[test]
fn test_count_2b() {
    run_real(lab2b::count_2b);
}
