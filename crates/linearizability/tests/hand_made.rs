//! Small histories written by hand, each with the exact verdict and, where it says something,
//! the witness order or the place where the history breaks.

use linearizability::models::kv::{KvModel, KvOperation};
use linearizability::models::register::{RegisterModel, RegisterOperation};
use linearizability::{
    CheckOptions, CheckReport, CheckResult, Event, EventKind, HistoryError, PartitionVerdict, check_events,
    check_operations,
};

fn check_kv(history: &[KvOperation]) -> CheckReport {
    check_operations(&KvModel, history, &CheckOptions::default()).expect("well-formed history")
}

fn check_register(history: &[RegisterOperation]) -> CheckReport {
    check_operations(&RegisterModel, history, &CheckOptions::default()).expect("well-formed history")
}

/// The one illegal partition's longest prefix and breaking operation.
fn break_point(report: &CheckReport) -> (Vec<usize>, Option<usize>) {
    assert_eq!(report.result, CheckResult::Illegal, "{report:?}");
    let mut illegal = report.illegal_partitions();
    let partition = illegal.next().expect("an illegal partition");
    assert!(illegal.next().is_none(), "exactly one illegal partition");
    (partition.longest_prefix.clone(), partition.breaking_operation)
}

#[test]
fn a_read_after_a_completed_put_that_misses_it_is_illegal() {
    let history = [KvModel::put(0, "x", "1", 0, 10), KvModel::get(1, "x", "", 11, 20)];
    assert_eq!(break_point(&check_kv(&history)), (vec![0], Some(1)));
}

#[test]
fn a_read_of_an_overwritten_value_is_illegal() {
    let history = [
        KvModel::put(0, "x", "a", 0, 10),
        KvModel::put(0, "x", "b", 20, 30),
        KvModel::get(1, "x", "a", 40, 50),
    ];
    assert_eq!(break_point(&check_kv(&history)), (vec![0, 1], Some(2)));
}

#[test]
fn a_lost_append_is_illegal() {
    // Two overlapping appends both complete; a later read shows only one of them.
    let history = [
        KvModel::append(0, "x", "a", 0, 10),
        KvModel::append(1, "x", "b", 5, 15),
        KvModel::get(2, "x", "a", 20, 30),
    ];
    let (prefix, breaking) = break_point(&check_kv(&history));
    assert_eq!(
        prefix.len(),
        2,
        "both appends linearize, in some order: {prefix:?}"
    );
    assert_eq!(breaking, Some(2), "the read cannot follow them");
}

#[test]
fn a_duplicated_append_is_illegal() {
    let history = [
        KvModel::append(0, "x", "a", 0, 10),
        KvModel::get(1, "x", "aa", 20, 30),
    ];
    assert_eq!(break_point(&check_kv(&history)), (vec![0], Some(1)));
}

#[test]
fn concurrent_puts_may_be_read_in_either_order_but_not_both() {
    let puts = [KvModel::put(0, "x", "1", 0, 10), KvModel::put(1, "x", "2", 0, 10)];
    let read = |value, at| KvModel::get(2, "x", value, at, at + 10);

    let one = check_kv(&[puts[0].clone(), puts[1].clone(), read("1", 20)]);
    assert_eq!(one.result, CheckResult::Ok);
    assert_eq!(
        one.partitions[0].longest_prefix,
        vec![1, 0, 2],
        "put 2, put 1, read 1"
    );
    let two = check_kv(&[puts[0].clone(), puts[1].clone(), read("2", 20)]);
    assert_eq!(two.result, CheckResult::Ok);
    assert_eq!(
        two.partitions[0].longest_prefix,
        vec![0, 1, 2],
        "put 1, put 2, read 2"
    );

    // Once both puts are done the value is fixed: reading 1 and later 2 is illegal.
    let both = check_kv(&[puts[0].clone(), puts[1].clone(), read("1", 20), read("2", 40)]);
    assert_eq!(break_point(&both), (vec![1, 0, 2], Some(3)));
}

#[test]
fn concurrent_appends_read_in_either_order_are_linearizable() {
    for (value, witness) in [("ab", vec![0, 1, 2]), ("ba", vec![1, 0, 2])] {
        let history = [
            KvModel::append(0, "x", "a", 0, 10),
            KvModel::append(1, "x", "b", 2, 12),
            KvModel::get(2, "x", value, 20, 30),
        ];
        let report = check_kv(&history);
        assert_eq!(report.result, CheckResult::Ok, "read {value}");
        assert_eq!(report.partitions[0].longest_prefix, witness, "read {value}");
    }
    let history = [
        KvModel::append(0, "x", "a", 0, 10),
        KvModel::append(1, "x", "b", 2, 12),
        KvModel::get(2, "x", "abab", 20, 30),
    ];
    assert_eq!(check_kv(&history).result, CheckResult::Illegal);
}

#[test]
fn only_one_order_of_overlapping_writes_and_reads_works() {
    // Two long writes overlap two reads; the reads see 2 then 1, which fixes every position.
    let history = [
        RegisterModel::write(0, 1, 0, 100),
        RegisterModel::write(1, 2, 0, 100),
        RegisterModel::read(2, 2, 10, 20),
        RegisterModel::read(3, 1, 30, 40),
    ];
    let report = check_register(&history);
    assert_eq!(report.result, CheckResult::Ok);
    assert_eq!(report.partitions[0].longest_prefix, vec![1, 2, 0, 3]);

    // The same on the key/value model with appends: "b" first, then "a".
    let history = [
        KvModel::append(0, "x", "a", 0, 100),
        KvModel::append(1, "x", "b", 0, 100),
        KvModel::get(2, "x", "b", 10, 20),
        KvModel::get(3, "x", "ba", 30, 40),
    ];
    let report = check_kv(&history);
    assert_eq!(report.result, CheckResult::Ok);
    assert_eq!(report.partitions[0].longest_prefix, vec![1, 2, 0, 3]);

    // A last read of 2 after everything has no place: the reads fixed write(1) as the last.
    let history = [
        RegisterModel::write(0, 1, 0, 100),
        RegisterModel::write(1, 2, 0, 100),
        RegisterModel::read(2, 2, 10, 20),
        RegisterModel::read(3, 1, 30, 40),
        RegisterModel::read(3, 2, 110, 120),
    ];
    assert_eq!(
        break_point(&check_register(&history)),
        (vec![1, 2, 0, 3], Some(4))
    );
}

#[test]
fn intervals_that_touch_are_concurrent() {
    // The put returns at 5 and the read is called at 5: either may come first.
    let touching = [KvModel::put(0, "x", "1", 0, 5), KvModel::get(1, "x", "", 5, 9)];
    assert_eq!(check_kv(&touching).result, CheckResult::Ok);
    let apart = [KvModel::put(0, "x", "1", 0, 5), KvModel::get(1, "x", "", 6, 9)];
    assert_eq!(check_kv(&apart).result, CheckResult::Illegal);
}

#[test]
fn zero_length_operations_are_ordered_by_their_instant() {
    let same_instant = [KvModel::put(0, "x", "1", 3, 3), KvModel::get(1, "x", "", 3, 3)];
    assert_eq!(check_kv(&same_instant).result, CheckResult::Ok);
    let later = [KvModel::put(0, "x", "1", 3, 3), KvModel::get(1, "x", "", 4, 4)];
    assert_eq!(check_kv(&later).result, CheckResult::Illegal);
}

#[test]
fn missing_keys_read_empty_and_an_empty_history_is_linearizable() {
    assert_eq!(check_kv(&[]).result, CheckResult::Ok);
    let history = [
        KvModel::get(0, "nowhere", "", 0, 1),
        KvModel::append(0, "y", "v", 2, 3),
    ];
    assert_eq!(check_kv(&history).result, CheckResult::Ok);
    let history = [KvModel::get(0, "nowhere", "v", 0, 1)];
    assert_eq!(break_point(&check_kv(&history)), (vec![], Some(0)));
}

#[test]
fn keys_are_judged_apart_and_each_partition_reports() {
    // Key "a" is fine; key "b" has a stale read. The partitions come in key order.
    let history = [
        KvModel::put(0, "a", "1", 0, 10),
        KvModel::put(1, "b", "1", 0, 10),
        KvModel::get(0, "a", "1", 20, 30),
        KvModel::get(1, "b", "", 20, 30),
    ];
    let options = CheckOptions {
        stop_at_first_illegal: false,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &history, &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);
    let verdicts: Vec<_> = report.partitions.iter().map(|p| p.verdict).collect();
    assert_eq!(verdicts, [PartitionVerdict::Ok, PartitionVerdict::Illegal]);
    assert_eq!(report.partitions[0].operations, [0, 2]);
    assert_eq!(report.partitions[0].longest_prefix, [0, 2]);
    assert_eq!(report.partitions[1].breaking_operation, Some(3));
    // A linearization across keys need not exist in one piece: the same reads on one key
    // would be judged together.
    let one_key = [
        KvModel::put(0, "a", "1", 0, 10),
        KvModel::get(0, "a", "1", 20, 30),
        KvModel::get(1, "a", "1", 20, 30),
    ];
    assert_eq!(check_kv(&one_key).result, CheckResult::Ok);
}

#[test]
fn a_return_before_its_call_is_an_error() {
    let history = [
        KvModel::put(0, "x", "1", 0, 10),
        KvModel::get(1, "x", "1", 20, 19),
    ];
    let error = check_operations(&KvModel, &history, &CheckOptions::default()).unwrap_err();
    assert_eq!(
        error,
        HistoryError::ReturnBeforeCall {
            index: 1,
            call_time: 20,
            return_time: 19
        }
    );
}

fn call(
    client_id: usize,
    id: u64,
    value: i64,
    write: bool,
) -> Event<linearizability::models::register::RegisterInput, i64> {
    use linearizability::models::register::RegisterInput;
    let input = if write {
        RegisterInput::Write(value)
    } else {
        RegisterInput::Read
    };
    Event {
        client_id,
        kind: EventKind::Call(input),
        id,
    }
}

fn ret(
    client_id: usize,
    id: u64,
    value: i64,
) -> Event<linearizability::models::register::RegisterInput, i64> {
    Event {
        client_id,
        kind: EventKind::Return(value),
        id,
    }
}

#[test]
fn event_histories_are_ordered_by_position() {
    // write(1) overlaps a read of 0; a read that starts after the write returned sees 1.
    let events = vec![
        call(0, 1, 1, true),
        call(1, 2, 0, false),
        ret(1, 2, 0),
        ret(0, 1, 0),
        call(1, 3, 0, false),
        ret(1, 3, 1),
    ];
    let (report, operations) =
        check_events(&RegisterModel, events.clone(), &CheckOptions::default()).expect("paired");
    assert_eq!(report.result, CheckResult::Ok);
    assert_eq!(operations.len(), 3);
    assert_eq!((operations[0].call_time, operations[0].return_time), (0, 3));

    // The second read seeing 0 after the write returned is a stale read.
    let mut stale = events;
    stale[5] = ret(1, 3, 0);
    let (report, _) = check_events(&RegisterModel, stale, &CheckOptions::default()).expect("paired");
    assert_eq!(break_point(&report), (vec![1, 0], Some(2)));
}

#[test]
fn malformed_event_histories_are_errors() {
    let options = CheckOptions::default();
    let twice = vec![call(0, 1, 0, false), call(0, 1, 0, false)];
    assert_eq!(
        check_events(&RegisterModel, twice, &options).unwrap_err(),
        HistoryError::DuplicateCall { id: 1 }
    );
    let orphan = vec![ret(0, 7, 0)];
    assert_eq!(
        check_events(&RegisterModel, orphan, &options).unwrap_err(),
        HistoryError::UnmatchedReturn { id: 7 }
    );
    let pending = vec![call(0, 1, 0, false), call(1, 2, 0, false), ret(0, 1, 0)];
    assert_eq!(
        check_events(&RegisterModel, pending, &options).unwrap_err(),
        HistoryError::PendingCall { id: 2 }
    );
}
