//! The time limit, the early stop and the cache bound: a history whose search would take
//! hours must come back Unknown promptly, and an illegal partition must win over one that is
//! still running.

use std::time::Duration;

use linearizability::models::kv::{KvModel, KvOperation};
use linearizability::{CheckOptions, CheckResult, PartitionVerdict, Undecided, check_operations};

/// How long a stopped check may take to return; the searches poll their stop flag at every
/// step, so this is scheduling slack for a loaded machine, not search time.
const STOP_LATENCY_MAX: Duration = Duration::from_secs(5);

/// Twelve appends to key "p" all overlapping, then a read of a value none of their 12! orders
/// makes: every order leads to a different state, so the cache cannot help and proving the
/// read illegal takes about 10^9 configurations.
fn hopeless_key() -> Vec<KvOperation> {
    let mut history: Vec<KvOperation> = (0..12)
        .map(|c| KvModel::append(c, "p", &format!("<{c}>"), 0, 1_000))
        .collect();
    history.push(KvModel::get(12, "p", "no such order", 2_000, 2_001));
    history
}

/// A stale read on key "q", found illegal at once.
fn stale_key() -> Vec<KvOperation> {
    vec![
        KvModel::put(20, "q", "1", 0, 10),
        KvModel::get(21, "q", "", 20, 30),
    ]
}

#[test]
fn a_search_past_the_time_limit_is_unknown_and_returns_promptly() {
    let options = CheckOptions::with_time_limit(Duration::from_millis(100));
    let report = check_operations(&KvModel, &hopeless_key(), &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Unknown);
    assert_eq!(
        report.partitions[0].verdict,
        PartitionVerdict::Unknown(Undecided::TimeLimit)
    );
    assert!(report.partitions[0].steps > 0, "the search ran");
    assert!(report.elapsed < STOP_LATENCY_MAX, "took {:?}", report.elapsed);
}

#[test]
fn an_illegal_partition_stops_the_others_when_asked() {
    let mut history = hopeless_key();
    history.extend(stale_key());
    // No time limit: only the early stop can end the hopeless search.
    let options = CheckOptions {
        threads: 2,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &history, &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);
    let verdicts: Vec<_> = report.partitions.iter().map(|p| p.verdict).collect();
    assert_eq!(
        verdicts,
        [
            PartitionVerdict::Unknown(Undecided::StoppedAfterIllegal),
            PartitionVerdict::Illegal
        ]
    );
    assert_eq!(report.partitions[1].breaking_operation, Some(14));
    assert!(report.elapsed < STOP_LATENCY_MAX, "took {:?}", report.elapsed);
}

#[test]
fn illegal_wins_over_a_partition_left_undecided_by_the_time_limit() {
    let mut history = hopeless_key();
    history.extend(stale_key());
    let options = CheckOptions {
        time_limit: Some(Duration::from_millis(200)),
        stop_at_first_illegal: false,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &history, &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);
    assert_eq!(
        report.partitions[0].verdict,
        PartitionVerdict::Unknown(Undecided::TimeLimit)
    );
    assert_eq!(report.partitions[1].verdict, PartitionVerdict::Illegal);
}

#[test]
fn a_full_cache_leaves_the_partition_undecided() {
    let options = CheckOptions {
        cache_entries_max: 1_000,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &hopeless_key(), &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Unknown);
    assert_eq!(
        report.partitions[0].verdict,
        PartitionVerdict::Unknown(Undecided::CacheFull)
    );
    assert_eq!(
        report.partitions[0].cache_entries, 1_001,
        "stops at the first entry too many"
    );
}
