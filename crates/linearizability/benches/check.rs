//! Criterion bench of the checker on random linearizable key/value histories (tests/common):
//! the time to decide a whole history, for a few sizes and three shapes.
//!
//! - `check/lab3_10clients_5keys/N`: Lab 3's random-keys mix (50 % Append, 5 % Put, 45 % Get),
//!   10 clients, N operations in all over 5 keys.
//! - `check/put_get_10clients_1key/N`: half Puts, half Gets, 10 clients on one key: about nine
//!   operations in flight on the one partition at any time.
//! - `check/lab3_3clients_1key/N`: the Lab 3 mix, 3 clients appending to one key.
//!
//! Each iteration asserts the verdict is Ok, so a broken search cannot pass for a fast one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use linearizability::models::kv::KvModel;
use linearizability::{CheckOptions, CheckResult, check_operations};

use common::{Workload, linearizable_kv_history};

/// History sizes, in operations.
const SIZES: [usize; 3] = [1_000, 10_000, 30_000];
const SEED: u64 = 42;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    let shapes = [
        ("lab3_10clients_5keys", Workload::lab3(10, 1, 5)),
        (
            "put_get_10clients_1key",
            Workload {
                put_percent: 50,
                get_percent: 50,
                ..Workload::lab3(10, 1, 1)
            },
        ),
        ("lab3_3clients_1key", Workload::lab3(3, 1, 1)),
    ];
    for (name, shape) in shapes {
        for total in SIZES {
            let workload = Workload {
                operations_per_client: total / shape.clients,
                ..shape
            };
            let history = linearizable_kv_history(SEED, &workload);
            group.throughput(Throughput::Elements(history.len() as u64));
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
