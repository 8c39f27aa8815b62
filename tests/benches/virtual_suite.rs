//! The 6.824 suite on virtual time: wall time of the scenarios on the simulated cluster.
//!
//! Criterion benchmarks (group `virtual_suite`), each a run from seed 1, quiet:
//!
//! - `part/{2A,2B,2C,2D,3A,3B}`: every scenario of one part, in order;
//! - `lab2`: the 28 scenarios of Lab 2, the unit `cargo xtask stress --sim --part lab2`
//!   repeats per seed;
//! - `scenario/TestReliableChurn2C`, `scenario/TestUnreliableAgree2C`: the two runs with the
//!   most concurrent clients, where the baton passes between threads most often.
//!
//! The speed-up against the real cluster is the suite's virtual seconds (printed by
//! `cargo xtask test-all --sim`, about 296) over this wall time. Nothing here asserts a time.

use criterion::{Criterion, criterion_group, criterion_main};
use raft_tests::runner::run_simulated;
use raft_tests::scenarios::{self, Scenario};

fn run_all(chosen: &[Scenario]) {
    for s in chosen {
        let outcome = run_simulated(*s, 1, true);
        assert!(outcome.failure.is_none(), "{}", outcome.failure_report());
    }
}

fn virtual_suite(c: &mut Criterion) {
    let mut group = c.benchmark_group("virtual_suite");
    group.sample_size(10);
    for part in ["2A", "2B", "2C", "2D", "3A", "3B"] {
        let chosen = scenarios::part(part);
        group.bench_function(format!("part/{part}"), |b| b.iter(|| run_all(&chosen)));
    }
    let lab2 = scenarios::part("lab2");
    group.bench_function("lab2", |b| b.iter(|| run_all(&lab2)));
    for name in ["TestReliableChurn2C", "TestUnreliableAgree2C"] {
        let chosen = scenarios::find(name).map(|s| vec![s]).unwrap_or_default();
        group.bench_function(format!("scenario/{name}"), |b| b.iter(|| run_all(&chosen)));
    }
    group.finish();
}

criterion_group!(benches, virtual_suite);
criterion_main!(benches);
