//! Part 3A of MIT 6.824 Lab 3: the key/value service without snapshots, on the real cluster: raft-kv servers
//! over raft-labrpc, on the wall clock. The scenarios are in `src/scenarios/lab3a.rs`; `cargo
//! xtask test-3a --sim` runs the same ones on virtual time. Run one test at a time (`cargo
//! xtask test-3a`): these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab3a;

#[test]
fn test_basic_3a() {
    run_real(lab3a::basic_3a);
}

#[test]
fn test_speed_3a() {
    run_real(lab3a::speed_3a);
}

#[test]
fn test_concurrent_3a() {
    run_real(lab3a::concurrent_3a);
}

#[test]
fn test_unreliable_3a() {
    run_real(lab3a::unreliable_3a);
}

#[test]
fn test_unreliable_one_key_3a() {
    run_real(lab3a::unreliable_one_key_3a);
}

#[test]
fn test_one_partition_3a() {
    run_real(lab3a::one_partition_3a);
}

#[test]
fn test_many_partitions_one_client_3a() {
    run_real(lab3a::many_partitions_one_client_3a);
}

#[test]
fn test_many_partitions_many_clients_3a() {
    run_real(lab3a::many_partitions_many_clients_3a);
}

#[test]
fn test_persist_one_client_3a() {
    run_real(lab3a::persist_one_client_3a);
}

#[test]
fn test_persist_concurrent_3a() {
    run_real(lab3a::persist_concurrent_3a);
}

#[test]
fn test_persist_concurrent_unreliable_3a() {
    run_real(lab3a::persist_concurrent_unreliable_3a);
}

#[test]
fn test_persist_partition_3a() {
    run_real(lab3a::persist_partition_3a);
}

#[test]
fn test_persist_partition_unreliable_3a() {
    run_real(lab3a::persist_partition_unreliable_3a);
}

#[test]
fn test_persist_partition_unreliable_linearizable_3a() {
    run_real(lab3a::persist_partition_unreliable_linearizable_3a);
}
