//! Get latency on the real runtime, per read mode: three `KvServer`s over a reliable
//! in-process labrpc network (the cluster of the crate's labrpc tests, `MemoryPersister`s,
//! Lab 3B's `maxraftstate`), one clerk making one Get at a time.
//!
//! The modes (raft-core's `ReadMode`, through `NodeOptions::reads`):
//! - `log`: every Get is a log entry, answered once a majority stored it and the leader
//!   applied it (6.824's Lab 3);
//! - `read-index`: the leader notes its commit index, confirms its leadership with one
//!   heartbeat round answered by a majority, and answers from its state (thesis section 6.4);
//! - `lease`: while its lease holds the leader answers at once, without a round (thesis
//!   section 6.4.1; check-quorum on, a 100,000 ppm drift bound).
//!
//! Criterion benchmarks (group `reads`): `get/{log,read-index,lease}`, the time of one Get,
//! the clerk's labrpc call included. Each mode has its own cluster, elected and warmed up
//! (a Put and a few Gets, so that the leader has committed in its term) before measuring.
//!
//! After criterion, a plain pass (`reads/get/latency`, printed to stdout, not criterion)
//! makes [`PASS_GETS`] Gets per mode on a fresh cluster and prints the p50, p99 and max
//! latency and the entries committed per Get. It runs unless criterion is listing, or is
//! given a filter that is not a substring of `reads/get/latency`.
//!
//! Every run is seeded (elections, network); thread scheduling is not. Nothing here asserts a
//! timing; every Get asserts its value, so a broken read path cannot pass for a fast one.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../raft-node/benches/common/mod.rs"]
mod criterion_args;

use std::time::{Duration, Instant};

use common::{Cluster, SERVERS};
use criterion::{BenchmarkId, Criterion};
use raft_core::ReadMode;
use raft_kv::{Clerk, LabrpcClerkTransport};
use raft_node::NodeOptions;

/// The modes measured: name, mode, check-quorum.
const MODES: [(&str, ReadMode, bool); 3] = [
    ("log", ReadMode::Log, false),
    ("read-index", ReadMode::ReadIndex, false),
    (
        "lease",
        ReadMode::Lease {
            clock_drift_ppm: 100_000,
        },
        true,
    ),
];
/// Gets before measuring, on a fresh cluster.
const WARM_UP_GETS: usize = 50;
/// Gets measured per mode in the pass.
const PASS_GETS: usize = 2_000;
/// The same in test mode (`cargo test --benches`), where only a smoke run is wanted.
const PASS_GETS_TEST: usize = 20;
/// The pass's name, for criterion's filter.
const PASS_ID: &str = "reads/get/latency";
/// The key read.
const KEY: &str = "k";
/// Its value.
const VALUE: &str = "v";

/// A cluster in one mode with a clerk that has written [`KEY`] and read it
/// [`WARM_UP_GETS`] times.
fn warm_cluster(reads: ReadMode, check_quorum: bool) -> (Cluster, Clerk<LabrpcClerkTransport>) {
    let cluster = Cluster::with_options(NodeOptions {
        reads,
        check_quorum,
        ..NodeOptions::default()
    });
    let mut clerk = cluster.clerk("bench", 1);
    clerk.put(KEY, VALUE);
    for _ in 0..WARM_UP_GETS {
        get(&mut clerk);
    }
    (cluster, clerk)
}

fn get(clerk: &mut Clerk<LabrpcClerkTransport>) {
    assert_eq!(clerk.get(KEY), VALUE, "a Get sees the Put");
}

fn stop(mut cluster: Cluster) {
    for i in 0..SERVERS {
        cluster.kill(i);
    }
    cluster.net.cleanup();
}

/// The highest commit index any server reports.
fn commit_index(cluster: &Cluster) -> u64 {
    (0..SERVERS)
        .filter_map(|i| cluster.status(i))
        .map(|s| s.node.commit_index.0)
        .max()
        .unwrap_or(0)
}

fn bench_gets(c: &mut Criterion) {
    let mut group = c.benchmark_group("reads");
    for (name, reads, check_quorum) in MODES {
        // A cluster only for a benchmark the filter keeps.
        let mut live = None;
        group.bench_function(BenchmarkId::new("get", name), |b| {
            let (_, clerk) = live.get_or_insert_with(|| warm_cluster(reads, check_quorum));
            b.iter(|| get(clerk));
        });
        if let Some((cluster, _)) = live {
            stop(cluster);
        }
    }
    group.finish();
}

/// The `q` quantile (0..=1) of sorted `values` (nearest rank); zero if there are none.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    test_support::stats::nearest_rank(sorted, q).unwrap_or_default()
}

/// Makes `gets` Gets per mode on a fresh cluster and prints the latencies and the entries
/// committed per Get.
fn pass(gets: usize) {
    println!();
    println!(
        "{PASS_ID}: {gets} Gets per mode, one at a time, after {WARM_UP_GETS} unmeasured; \
         {SERVERS} servers, reliable labrpc, MemoryPersister"
    );
    println!(
        "{:>11} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "mode", "p50 us", "p99 us", "max us", "mean us", "entries/Get"
    );
    for (name, reads, check_quorum) in MODES {
        let (cluster, mut clerk) = warm_cluster(reads, check_quorum);
        let commit_before = commit_index(&cluster);
        let mut latencies = Vec::with_capacity(gets);
        let started = Instant::now();
        for _ in 0..gets {
            let t = Instant::now();
            get(&mut clerk);
            latencies.push(t.elapsed());
        }
        let elapsed = started.elapsed();
        let entries = commit_index(&cluster) - commit_before;
        stop(cluster);
        latencies.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{:>11} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>12.2}",
            name,
            us(quantile(&latencies, 0.50)),
            us(quantile(&latencies, 0.99)),
            us(latencies.last().copied().unwrap_or_default()),
            us(elapsed) / gets as f64,
            entries as f64 / gets as f64,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gets =
        criterion_args::extra_pass(&args, PASS_ID).map(
            |benchmarking| {
                if benchmarking { PASS_GETS } else { PASS_GETS_TEST }
            },
        );
    // Defaults sized for a shared 2-core machine; the command line (--sample-size,
    // --warm-up-time, --measurement-time) overrides them.
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench_gets(&mut c);
    c.final_summary();
    if let Some(gets) = gets {
        pass(gets);
    }
}
