//! Part 2C of MIT 6.824 Lab 2: persistence across crashes, on the real cluster: raft-node peers over raft-labrpc, on
//! the wall clock. The scenarios are in `src/scenarios/lab2c.rs`; `cargo xtask test-2c --sim`
//! runs the same ones on virtual time. Run one test at a time (`cargo xtask test-2c`):
//! these are timing tests.

use raft_tests::runner::run_real;
use raft_tests::scenarios::lab2c;

#[test]
fn test_persist1_2c() {
    run_real(lab2c::persist1_2c);
}

#[test]
fn test_persist2_2c() {
    run_real(lab2c::persist2_2c);
}

#[test]
fn test_persist3_2c() {
    run_real(lab2c::persist3_2c);
}

#[test]
fn test_figure8_2c() {
    run_real(lab2c::figure8_2c);
}

#[test]
fn test_unreliable_agree_2c() {
    run_real(lab2c::unreliable_agree_2c);
}

#[test]
fn test_figure8_unreliable_2c() {
    run_real(lab2c::figure8_unreliable_2c);
}

#[test]
fn test_reliable_churn_2c() {
    run_real(lab2c::reliable_churn_2c);
}

#[test]
fn test_unreliable_churn_2c() {
    run_real(lab2c::unreliable_churn_2c);
}
