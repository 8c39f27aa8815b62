//! Random histories from a store that is linearizable by construction (tests/common): they
//! must be judged Ok inside a time limit; the same histories with one read changed must be
//! judged Illegal, at that read. Seeds are fixed; a failure names its seed.

mod common;

use std::time::Duration;

use common::{
    Workload, linearizable_kv_history, linearizable_kv_history_with_reads, perturb_with_stale_read,
    perturb_with_unwritten_value,
};
use linearizability::models::kv::{KvModel, KvOperation};
use linearizability::{CheckOptions, CheckReport, CheckResult, PartitionVerdict, check_operations};

/// The budget for one history here: ten times the Lab 3 tester's one second, since these tests
/// run unoptimized beside other work. In release builds these histories take tens to a few
/// hundred milliseconds (docs/BENCHMARKS.md); a search gone wrong takes hours, not seconds.
const TIME_LIMIT: Duration = Duration::from_secs(10);

fn check(history: &[KvOperation]) -> CheckReport {
    let options = CheckOptions::with_time_limit(TIME_LIMIT);
    check_operations(&KvModel, history, &options).expect("well-formed history")
}

fn assert_linearizable(seed: u64, workload: &Workload) {
    let history = linearizable_kv_history(seed, workload);
    let report = check(&history);
    eprintln!(
        "seed {seed}: {} operations decided in {:?}",
        history.len(),
        report.elapsed
    );
    assert_eq!(report.result, CheckResult::Ok, "seed {seed}, {workload:?}");
    for partition in &report.partitions {
        assert_eq!(
            partition.longest_prefix.len(),
            partition.operations.len(),
            "a full witness"
        );
    }
}

#[test]
fn ten_clients_a_thousand_operations_each_over_five_keys_are_linearizable() {
    for seed in 1..=5 {
        assert_linearizable(seed, &Workload::lab3(10, 1_000, 5));
    }
}

#[test]
fn fifteen_clients_over_fifteen_keys_as_in_lab3_random_keys_are_linearizable() {
    for seed in 1..=3 {
        assert_linearizable(seed, &Workload::lab3(15, 1_000, 15));
    }
}

#[test]
fn ten_clients_writing_and_reading_one_key_are_linearizable() {
    // Every client on one key, about nine operations in flight at any time, half of them
    // Puts: the search's worst kind of history short of appends (see the next test).
    let workload = Workload {
        put_percent: 50,
        get_percent: 50,
        ..Workload::lab3(10, 1_000, 1)
    };
    for seed in 1..=3 {
        assert_linearizable(seed, &workload);
    }
}

#[test]
fn three_clients_appending_to_one_key_are_linearizable() {
    // Appends make every order of concurrent writes a different state, so nothing merges in
    // the cache; the cost grows steeply with the appends in flight (docs/BENCHMARKS.md).
    for seed in 1..=3 {
        assert_linearizable(seed, &Workload::lab3(3, 1_000, 1));
    }
}

#[test]
fn a_read_of_a_value_never_written_is_found_where_it_is() {
    let workload = Workload::lab3(10, 1_000, 5);
    for seed in 1..=5 {
        let mut history = linearizable_kv_history(seed, &workload);
        let changed = perturb_with_unwritten_value(&mut history, 97 * seed as usize);
        let report = check(&history);
        assert_eq!(report.result, CheckResult::Illegal, "seed {seed}");
        let broken: Vec<_> = report.illegal_partitions().collect();
        assert_eq!(broken.len(), 1, "seed {seed}: only the changed key");
        assert!(broken[0].operations.contains(&changed), "seed {seed}");
        assert_eq!(broken[0].breaking_operation, Some(changed), "seed {seed}");
    }
}

#[test]
fn a_read_that_misses_a_completed_append_is_illegal() {
    let workload = Workload {
        put_percent: 0,
        ..Workload::lab3(10, 1_000, 5)
    };
    for seed in 1..=5 {
        let (mut history, reads) = linearizable_kv_history_with_reads(seed, &workload);
        let changed = perturb_with_stale_read(&mut history, &reads, 3_000 + 500 * seed as usize)
            .expect("some read follows a completed append");
        let report = check(&history);
        assert_eq!(report.result, CheckResult::Illegal, "seed {seed}");
        let broken: Vec<_> = report.illegal_partitions().collect();
        assert_eq!(broken.len(), 1, "seed {seed}: only the changed key");
        assert!(broken[0].operations.contains(&changed), "seed {seed}");
    }
}

#[test]
fn the_verdict_and_every_report_are_the_same_on_one_thread_and_on_several() {
    let mut history = linearizable_kv_history(11, &Workload::lab3(10, 300, 5));
    perturb_with_unwritten_value(&mut history, 40);
    let run = |threads| {
        let options = CheckOptions {
            threads,
            stop_at_first_illegal: false,
            ..CheckOptions::default()
        };
        check_operations(&KvModel, &history, &options).expect("well-formed history")
    };
    let (one, several) = (run(1), run(4));
    assert_eq!(one.result, CheckResult::Illegal);
    assert_eq!(one.result, several.result);
    assert_eq!(one.partitions, several.partitions);
    let verdicts: Vec<_> = one.partitions.iter().map(|p| p.verdict).collect();
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == PartitionVerdict::Illegal)
            .count(),
        1
    );
    assert_eq!(verdicts.iter().filter(|v| **v == PartitionVerdict::Ok).count(), 4);
}
