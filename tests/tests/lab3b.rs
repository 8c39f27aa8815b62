//! Part 3B of MIT 6.824 Lab 3: the key/value service with snapshots, on the real cluster: raft-kv servers
//! over raft-labrpc, on the wall clock. The scenarios are in `src/scenarios/lab3b.rs`; `cargo
//! xtask test-3b --sim` runs the same ones on virtual time. Run one test at a time (`cargo
//! xtask test-3b`): these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab3b;

#[test]
fn test_snapshot_rpc_3b() {
    run_real(lab3b::snapshot_rpc_3b);
}

#[test]
fn test_snapshot_size_3b() {
    run_real(lab3b::snapshot_size_3b);
}

#[test]
fn test_speed_3b() {
    run_real(lab3b::speed_3b);
}

#[test]
fn test_snapshot_recover_3b() {
    run_real(lab3b::snapshot_recover_3b);
}

#[test]
fn test_snapshot_recover_many_clients_3b() {
    run_real(lab3b::snapshot_recover_many_clients_3b);
}

#[test]
fn test_snapshot_unreliable_3b() {
    run_real(lab3b::snapshot_unreliable_3b);
}

#[test]
fn test_snapshot_unreliable_recover_3b() {
    run_real(lab3b::snapshot_unreliable_recover_3b);
}

#[test]
fn test_snapshot_unreliable_recover_concurrent_partition_3b() {
    run_real(lab3b::snapshot_unreliable_recover_concurrent_partition_3b);
}

#[test]
fn test_snapshot_unreliable_recover_concurrent_partition_linearizable_3b() {
    run_real(lab3b::snapshot_unreliable_recover_concurrent_partition_linearizable_3b);
}
