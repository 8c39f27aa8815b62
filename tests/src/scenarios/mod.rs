//! The 28 scenarios of 6.824 Lab 2 (the 2022 test_test.go with its two 2023 additions), each
//! written once against [`crate::Config`] and run on either cluster: the real-time test
//! binaries (`tests/lab2a.rs` ...) and the simulator runner (`raft-suite`) both call them from
//! [`SUITE`].

pub mod lab2a;
pub mod lab2b;
pub mod lab2c;
pub mod lab2d;

use crate::Tester;

/// One scenario: its Go test name, its part, and the function that runs it.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// The name in test_test.go, e.g. `TestInitialElection2A`.
    pub name: &'static str,
    /// `2A`, `2B`, `2C` or `2D`.
    pub part: &'static str,
    /// Runs the scenario; it panics on failure, as a Go test calls `t.Fatalf`.
    pub run: fn(&Tester),
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! suite {
    ($($name:literal $part:literal $f:path;)*) => {
        /// Every scenario, in test_test.go's order.
        pub const SUITE: &[Scenario] = &[$(Scenario { name: $name, part: $part, run: $f }),*];
    };
}

suite! {
    "TestInitialElection2A" "2A" lab2a::initial_election_2a;
    "TestReElection2A" "2A" lab2a::re_election_2a;
    "TestManyElections2A" "2A" lab2a::many_elections_2a;
    "TestBasicAgree2B" "2B" lab2b::basic_agree_2b;
    "TestRPCBytes2B" "2B" lab2b::rpc_bytes_2b;
    "TestFollowerFailure2B" "2B" lab2b::follower_failure_2b;
    "TestLeaderFailure2B" "2B" lab2b::leader_failure_2b;
    "TestFailAgree2B" "2B" lab2b::fail_agree_2b;
    "TestFailNoAgree2B" "2B" lab2b::fail_no_agree_2b;
    "TestConcurrentStarts2B" "2B" lab2b::concurrent_starts_2b;
    "TestRejoin2B" "2B" lab2b::rejoin_2b;
    "TestBackup2B" "2B" lab2b::backup_2b;
    "TestCount2B" "2B" lab2b::count_2b;
    "TestPersist12C" "2C" lab2c::persist1_2c;
    "TestPersist22C" "2C" lab2c::persist2_2c;
    "TestPersist32C" "2C" lab2c::persist3_2c;
    "TestFigure82C" "2C" lab2c::figure8_2c;
    "TestUnreliableAgree2C" "2C" lab2c::unreliable_agree_2c;
    "TestFigure8Unreliable2C" "2C" lab2c::figure8_unreliable_2c;
    "TestReliableChurn2C" "2C" lab2c::reliable_churn_2c;
    "TestUnreliableChurn2C" "2C" lab2c::unreliable_churn_2c;
    "TestSnapshotBasic2D" "2D" lab2d::snapshot_basic_2d;
    "TestSnapshotInstall2D" "2D" lab2d::snapshot_install_2d;
    "TestSnapshotInstallUnreliable2D" "2D" lab2d::snapshot_install_unreliable_2d;
    "TestSnapshotInstallCrash2D" "2D" lab2d::snapshot_install_crash_2d;
    "TestSnapshotInstallUnCrash2D" "2D" lab2d::snapshot_install_uncrash_2d;
    "TestSnapshotAllCrash2D" "2D" lab2d::snapshot_all_crash_2d;
    "TestSnapshotInit2D" "2D" lab2d::snapshot_init_2d;
}

/// The scenarios of one part (`2a`..`2d`, any case), or all of them for `all`.
#[must_use]
pub fn part(part: &str) -> Vec<Scenario> {
    SUITE
        .iter()
        .filter(|s| part.eq_ignore_ascii_case("all") || s.part.eq_ignore_ascii_case(part))
        .copied()
        .collect()
}

/// The scenario named `name` (its Go name, any case).
#[must_use]
pub fn find(name: &str) -> Option<Scenario> {
    SUITE.iter().find(|s| s.name.eq_ignore_ascii_case(name)).copied()
}
