//! Proof that the checkers can fail: each is fed bad input directly, and a deliberately
//! broken runtime is caught by a run.

use raft_core::{Entry, LogIndex, PeerId, RaftLog, Snapshot, SnapshotMeta, Term};
use raft_sim::checkers::{ElectionSafety, LeaderCompleteness, LogMatching, StateMachineSafety};
use raft_sim::service::ServiceState;
use raft_sim::{FaultProfile, Sabotage, SimConfig};

/// Seeds a sabotaged runtime gets before the test gives up on catching it. A forgotten vote
/// shows in about 1 run in 430 of seeds 0-2999 (3 peers, heavy faults; 1 in 1000 before the
/// one world, whose replies go back along their call): the first is seed 738.
const SABOTAGE_SEEDS_MAX: u64 = 3000;

fn entry(index: u64, term: u64, command: u8) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: vec![command].into(),
    }
}

fn log(entries: &[(u64, u8)]) -> RaftLog {
    let entries = entries
        .iter()
        .enumerate()
        .map(|(i, (term, cmd))| entry(i as u64 + 1, *term, *cmd))
        .collect();
    RaftLog::restore(None, entries).expect("a contiguous log")
}

#[test]
fn election_safety_reports_two_leaders_in_one_term() {
    let mut checker = ElectionSafety::default();
    checker.observe_leader(Term(3), PeerId(1)).expect("first leader");
    checker
        .observe_leader(Term(3), PeerId(1))
        .expect("same leader again");
    checker.observe_leader(Term(4), PeerId(2)).expect("next term");
    let breach = checker
        .observe_leader(Term(3), PeerId(2))
        .expect_err("two leaders");
    assert_eq!(breach.invariant, ElectionSafety::NAME);
    assert!(breach.detail.contains("term 3"), "{breach}");
}

#[test]
fn log_matching_reports_same_index_and_term_over_different_prefixes() {
    let a = log(&[(1, 1), (1, 2), (2, 3)]);
    let b = log(&[(1, 1), (1, 9), (2, 3)]);
    let breach = LogMatching::check_pair(PeerId(0), &a, PeerId(1), &b).expect_err("differ at 2");
    assert_eq!(breach.invariant, LogMatching::NAME);
    let c = log(&[(1, 1), (1, 2), (3, 7)]);
    LogMatching::check_pair(PeerId(0), &a, PeerId(2), &c).expect("diverge only after the match");
    let mut written = LogMatching::default();
    written
        .record_written(PeerId(0), &[entry(5, 2, 1)])
        .expect("first write");
    written
        .record_written(PeerId(1), &[entry(5, 2, 2)])
        .expect_err("same index and term, other command");
}

#[test]
fn leader_completeness_reports_a_leader_missing_a_committed_entry() {
    let mut checker = LeaderCompleteness::default();
    checker.record_committed(&entry(1, 1, 1), Term(1));
    checker.record_committed(&entry(2, 1, 2), Term(3));
    checker.record_committed(&entry(2, 1, 2), Term(1));
    checker
        .check_new_leader(PeerId(0), Term(2), &log(&[(1, 1), (1, 2)]))
        .expect("holds both");
    let breach = checker
        .check_new_leader(PeerId(1), Term(2), &log(&[(1, 1)]))
        .expect_err("lacks index 2");
    assert_eq!(breach.invariant, LeaderCompleteness::NAME);
    checker
        .check_new_leader(PeerId(1), Term(1), &log(&[]))
        .expect("a leader of the commit's own term, elected late, is not held to it");
}

#[test]
fn state_machine_safety_reports_different_commands_and_going_backwards() {
    let mut checker = StateMachineSafety::default();
    let s0 = ServiceState::empty();
    let s1 = checker
        .apply(PeerId(0), s0, &entry(1, 1, 1))
        .expect("first apply");
    let breach = checker
        .apply(PeerId(1), s0, &entry(1, 1, 2))
        .expect_err("another command at 1");
    assert_eq!(breach.invariant, StateMachineSafety::NAME);
    checker
        .apply(PeerId(0), s1, &entry(3, 1, 3))
        .expect_err("skips index 2");
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_included_index: LogIndex(1),
            last_included_term: Term(1),
        },
        data: s1.encode(),
    };
    checker
        .install(PeerId(0), s1, &snapshot)
        .expect_err("a snapshot at the applied index");
}

#[test]
fn a_violation_names_seed_invariant_trace_and_replay_command() {
    let violation = find_violation(Sabotage::ForgetVote);
    let text = violation.to_string();
    assert!(text.contains(&format!("seed {}", violation.seed)), "{text}");
    assert!(text.contains(violation.invariant), "{text}");
    assert!(
        text.contains(&format!("cargo xtask sim --replay {}", violation.seed)),
        "{text}"
    );
    assert!(!violation.trace.is_empty() && violation.trace.len() <= raft_sim::trace::TRACE_TAIL_LINES);
    assert!(violation.trace.iter().all(|l| l.starts_with("t=")), "{text}");
    let again = raft_sim::run(sabotaged(violation.seed, Sabotage::ForgetVote))
        .expect_err("the replay fails the same way");
    assert_eq!(again, violation, "replay is bit for bit");
}

#[test]
fn a_runtime_that_loses_acknowledged_entries_is_caught() {
    let violation = find_violation(Sabotage::LoseLastEntry);
    println!("{violation}");
}

fn find_violation(sabotage: Sabotage) -> raft_sim::Violation {
    for seed in 0..SABOTAGE_SEEDS_MAX {
        let config = sabotaged(seed, sabotage);
        if let Err(v) = raft_sim::run(config) {
            println!("{sabotage:?} caught at seed {seed}: {}", v.invariant);
            return v;
        }
    }
    panic!("{sabotage:?} not caught in {SABOTAGE_SEEDS_MAX} seeds");
}

/// A small cluster under heavy faults: crashes are frequent, so sabotage shows quickly.
fn sabotaged(seed: u64, sabotage: Sabotage) -> SimConfig {
    SimConfig {
        sabotage: Some(sabotage),
        peers: 3,
        faults: FaultProfile::Heavy,
        ..SimConfig::new(seed)
    }
}
