//! Part 2D of MIT 6.824 Lab 2: log compaction with snapshots, on the real cluster: raft-node peers over raft-labrpc, on
//! the wall clock. The scenarios are in `src/scenarios/lab2d.rs`; `cargo xtask test-2d --sim`
//! runs the same ones on virtual time. Run one test at a time (`cargo xtask test-2d`):
//! these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab2d;

#[test]
fn test_snapshot_basic_2d() {
    run_real(lab2d::snapshot_basic_2d);
}

#[test]
fn test_snapshot_install_2d() {
    run_real(lab2d::snapshot_install_2d);
}

#[test]
fn test_snapshot_install_unreliable_2d() {
    run_real(lab2d::snapshot_install_unreliable_2d);
}

#[test]
fn test_snapshot_install_crash_2d() {
    run_real(lab2d::snapshot_install_crash_2d);
}

#[test]
fn test_snapshot_install_uncrash_2d() {
    run_real(lab2d::snapshot_install_uncrash_2d);
}

#[test]
fn test_snapshot_all_crash_2d() {
    run_real(lab2d::snapshot_all_crash_2d);
}

#[test]
fn test_snapshot_init_2d() {
    run_real(lab2d::snapshot_init_2d);
}
