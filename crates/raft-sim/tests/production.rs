//! Issue 16: pre-vote, check-quorum, leadership transfer and reads in the scripted scenarios
//! of `raft_sim::scenario` (`production`, `transfer`, `reads`), each over 200 seeds with its own
//! switches (every claim and every safety checker must hold on every seed), then the
//! contrasts that document what the same scripts do with the switches off. A transfer needs
//! neither switch, so scenarios 12-14 make every claim with both off too.

use raft_sim::scenario::{self, Figures, Summary, Switches};

/// Seeds per scenario.
const SEEDS: u64 = 200;
/// Seeds per contrast (they only measure).
const CONTRAST_SEEDS: u64 = 40;

/// Runs scenario `name` with its own switches on every seed: none may fail.
fn passes(name: &str) {
    let named = scenario::find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    passes_with(name, named.switches);
}

/// Runs scenario `name` with `switches` on every seed: no claim and no invariant may fail.
fn passes_with(name: &str, switches: Switches) {
    let named = scenario::find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let report = scenario::sweep(named, switches, 0..SEEDS, 1, false);
    for failure in report.failures.iter().take(3) {
        eprintln!("{failure}\n");
    }
    assert!(
        report.failures.is_empty(),
        "{name} with {switches}: {} of {SEEDS} seeds failed (first ones above)",
        report.failures.len()
    );
    eprintln!("{name} [{switches}]: {}", Summary::of(&report.figures));
}

/// Runs scenario `name` with `switches` (a contrast): safety must hold, and every seed's
/// figures are returned.
fn contrast(name: &str, switches: Switches) -> Vec<Figures> {
    let named = scenario::find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let report = scenario::sweep(named, switches, 0..CONTRAST_SEEDS, 1, false);
    for failure in report.failures.iter().take(3) {
        eprintln!("{failure}\n");
    }
    assert!(
        report.failures.is_empty(),
        "{name} with {switches}: safety failed"
    );
    eprintln!("{name} [{switches}]: {}", Summary::of(&report.figures));
    report.figures.into_iter().map(|(_, f)| f).collect()
}

#[test]
fn scenario_1_a_rejoining_peer_keeps_its_term_with_pre_vote() {
    passes("rejoining-peer");
}

#[test]
fn scenario_3_a_voter_three_terms_behind_still_elects() {
    passes("lagging-voter");
}

#[test]
fn scenario_5_an_isolated_leaders_followers_elect_in_etcds_order() {
    passes("isolated-leader");
}

#[test]
fn scenario_2_2_a_voter_stops_ignoring_votes_one_timeout_after_its_leader_died() {
    passes("dead-leader-voter");
}

#[test]
fn scenario_6_an_isolated_leader_steps_down_keeping_term_and_vote() {
    passes("isolated-leader-steps-down");
}

#[test]
fn scenario_7_partial_partition_a_changes_no_term_in_100_timeouts() {
    passes("partial-partition-a");
}

#[test]
fn scenario_8_partial_partition_b_a_leader_that_reaches_one_peer_gives_way() {
    passes("partial-partition-b");
}

#[test]
fn scenario_10a_a_peer_that_cannot_hear_disturbs_nobody() {
    passes("send-only-peer");
}

#[test]
fn scenario_10b_a_leader_that_cannot_hear_steps_down() {
    passes("deaf-leader");
}

#[test]
fn scenario_11_a_peer_stuck_at_a_higher_term_is_freed() {
    passes("stuck-higher-term");
}

#[test]
fn scenario_17_an_old_leader_cut_off_serves_no_read() {
    passes("stale-read-partition");
}

#[test]
fn scenario_23_a_lease_with_its_drift_margin_outlives_no_voter() {
    passes("lease-read-drift");
}

#[test]
fn contrast_23_without_a_lease_a_cut_off_leader_serves_no_read_at_all() {
    let figures = contrast("lease-read-drift", Switches::OFF);
    assert!(
        figures.iter().all(|f| f.reads_served == 0),
        "ReadIndex needs a round, which a cut-off leader cannot complete"
    );
}

#[test]
fn scenario_12_a_transfer_to_an_up_to_date_peer_elects_it_within_three_delays() {
    passes("transfer-up-to-date");
    passes_with("transfer-up-to-date", Switches::OFF);
}

#[test]
fn scenario_13_a_lagging_target_is_told_to_campaign_only_once_it_holds_the_whole_log() {
    passes("transfer-lagging");
    passes_with("transfer-lagging", Switches::OFF);
}

#[test]
fn scenario_14_a_transfer_to_a_crashed_target_is_abandoned_and_commits_resume_in_the_term() {
    passes("transfer-target-crash");
    passes_with("transfer-target-crash", Switches::OFF);
}

#[test]
fn scenario_15_a_transfer_wins_where_an_unflagged_election_is_ignored() {
    passes("transfer-under-vote-ignoring");
    // Check-quorum alone ignores the forced peer's RequestVotes (no pre-vote to hold it).
    passes_with("transfer-under-vote-ignoring", Switches::CHECK_QUORUM);
}

#[test]
fn every_scenario_has_a_unique_name_and_is_found_by_it() {
    for (i, s) in scenario::SCENARIOS.iter().enumerate() {
        assert!(scenario::SCENARIOS[..i].iter().all(|o| o.name != s.name));
        assert_eq!(scenario::find(s.name).map(|f| f.name), Some(s.name));
    }
    assert!(scenario::find("no-such-scenario").is_none());
}

#[test]
fn one_seed_gives_one_run_and_a_failure_replays() {
    let named = scenario::find("rejoining-peer").expect("known");
    assert_eq!(named.run_seed(5), named.run_seed(5));
    let replay = (named.run)(5, named.switches, true);
    assert_eq!(
        replay,
        named.run_seed(5),
        "keeping the full trace changes nothing"
    );
}

// ---- contrasts: the base behaviour the switches change ---------------------------------------

#[test]
fn contrast_1_without_pre_vote_the_rejoining_peer_raises_the_term_and_deposes_the_leader() {
    for f in contrast("rejoining-peer", Switches::OFF) {
        assert!(f.terms_raised >= 5, "{f:?}: ten timeouts alone raise its term");
        assert!(f.leader_changes >= 1, "{f:?}: its term deposes the leader");
    }
}

#[test]
fn contrast_7_without_the_switches_partial_partition_a_churns() {
    for f in contrast("partial-partition-a", Switches::OFF) {
        assert!(f.terms_raised >= 30 && f.leader_changes >= 20, "{f:?}");
    }
    // Check-quorum alone keeps the leader (x ignores p), though p's own term climbs.
    for f in contrast("partial-partition-a", Switches::CHECK_QUORUM) {
        assert_eq!(f.leader_changes, 0, "{f:?}");
    }
}

#[test]
fn contrast_8_pre_vote_without_step_down_keeps_a_leader_that_cannot_commit() {
    // Howard and Abraham's 2.1(b): the leader reaches only x, x refuses y's and z's
    // pre-votes (its log is longer), and nobody replaces a leader that commits nothing.
    for f in contrast("partial-partition-b", Switches::PRE_VOTE) {
        assert_eq!((f.terms_raised, f.leader_changes), (0, 0), "{f:?}");
    }
}

#[test]
fn contrast_10a_without_the_switches_a_peer_that_cannot_hear_raises_everyones_term() {
    for f in contrast("send-only-peer", Switches::OFF) {
        assert!(f.terms_raised >= 5 && f.leader_changes >= 2, "{f:?}");
    }
}

#[test]
fn contrast_10b_without_check_quorum_a_deaf_leader_is_never_replaced() {
    for f in contrast("deaf-leader", Switches::OFF) {
        assert_eq!((f.leader_changes, f.commits), (0, 0), "{f:?}");
    }
}

#[test]
fn contrast_15_without_check_quorum_the_unflagged_election_is_not_ignored() {
    // Only safety: the forced peer's RequestVotes are answered, and either peer may win.
    contrast("transfer-under-vote-ignoring", Switches::OFF);
}
