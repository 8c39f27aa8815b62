//! Criterion bench of the checker on random linearizable Lab 3-style histories (50 % Append,
//! 5 % Put, 45 % Get): the time to decide a whole history, for a few sizes.
//!
//! - `check/clients10_keys5/N`: 10 clients, N operations in all, over 5 keys (as in Lab 3's
//!   random-keys tests, which use 15 clients over 15 keys).
//! - `check/clients10_key1/N`: the same on a single key: one partition, every client contending.
//!
//! Each iteration asserts the verdict is Ok, so a broken search cannot pass for a fast one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linearizability::models::kv::KvModel;
use linearizability::{CheckOptions, CheckResult, check_operations};

use common::{Workload, linearizable_kv_history};

/// History sizes, in operations.
const SIZES: [usize; 3] = [1_000, 10_000, 50_000];
const CLIENTS: usize = 10;
const SEED: u64 = 42;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for (name, keys) in [("clients10_keys5", 5), ("clients10_key1", 1)] {
        for total in SIZES {
            let workload = Workload::lab3(CLIENTS, total / CLIENTS, keys);
            let history = linearizable_kv_history(SEED, &workload);
            group.throughput(Throughput::Elements(total as u64));
            group.bench_with_input(BenchmarkId::new(name, total), &history, |b, history| {
                b.iter(|| {
                    let report = check_operations(&KvModel, black_box(history), &CheckOptions::default())
                        .expect("a well-formed history");
                    assert_eq!(report.result, CheckResult::Ok);
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
