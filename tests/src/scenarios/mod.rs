//! The 28 scenarios of 6.824 Lab 2 (the 2022 test_test.go with its two 2023 additions) and the
//! 23 of Lab 3 (kvraft's 2022/2023 test_test.go), each written once against the harness
//! ([`crate::Config`], [`crate::kv::KvConfig`]) and run on either cluster: the real-time test
//! binaries (`tests/lab2a.rs` ... `tests/lab3b.rs`) and the simulator runner (`raft-suite`)
//! both call them from [`SUITE`].

pub mod lab2a;
pub mod lab2b;
pub mod lab2c;
pub mod lab2d;
pub mod lab3;
pub mod lab3a;
pub mod lab3b;

use crate::Tester;

/// One scenario: its Go test name, its part, and the function that runs it.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// The name in test_test.go, e.g. `TestInitialElection2A`.
    pub name: &'static str,
    /// `2A`, `2B`, `2C`, `2D`, `3A` or `3B`.
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
    "TestBasic3A" "3A" lab3a::basic_3a;
    "TestSpeed3A" "3A" lab3a::speed_3a;
    "TestConcurrent3A" "3A" lab3a::concurrent_3a;
    "TestUnreliable3A" "3A" lab3a::unreliable_3a;
    "TestUnreliableOneKey3A" "3A" lab3a::unreliable_one_key_3a;
    "TestOnePartition3A" "3A" lab3a::one_partition_3a;
    "TestManyPartitionsOneClient3A" "3A" lab3a::many_partitions_one_client_3a;
    "TestManyPartitionsManyClients3A" "3A" lab3a::many_partitions_many_clients_3a;
    "TestPersistOneClient3A" "3A" lab3a::persist_one_client_3a;
    "TestPersistConcurrent3A" "3A" lab3a::persist_concurrent_3a;
    "TestPersistConcurrentUnreliable3A" "3A" lab3a::persist_concurrent_unreliable_3a;
    "TestPersistPartition3A" "3A" lab3a::persist_partition_3a;
    "TestPersistPartitionUnreliable3A" "3A" lab3a::persist_partition_unreliable_3a;
    "TestPersistPartitionUnreliableLinearizable3A" "3A" lab3a::persist_partition_unreliable_linearizable_3a;
    "TestSnapshotRPC3B" "3B" lab3b::snapshot_rpc_3b;
    "TestSnapshotSize3B" "3B" lab3b::snapshot_size_3b;
    "TestSpeed3B" "3B" lab3b::speed_3b;
    "TestSnapshotRecover3B" "3B" lab3b::snapshot_recover_3b;
    "TestSnapshotRecoverManyClients3B" "3B" lab3b::snapshot_recover_many_clients_3b;
    "TestSnapshotUnreliable3B" "3B" lab3b::snapshot_unreliable_3b;
    "TestSnapshotUnreliableRecover3B" "3B" lab3b::snapshot_unreliable_recover_3b;
    "TestSnapshotUnreliableRecoverConcurrentPartition3B" "3B" lab3b::snapshot_unreliable_recover_concurrent_partition_3b;
    "TestSnapshotUnreliableRecoverConcurrentPartitionLinearizable3B" "3B" lab3b::snapshot_unreliable_recover_concurrent_partition_linearizable_3b;
}

/// The scenarios of one part (`2a`..`2d`, `3a`, `3b`, any case), of one lab (`lab2`,
/// `lab3`), or all of them for `all`.
#[must_use]
pub fn part(part: &str) -> Vec<Scenario> {
    let part = part.to_ascii_uppercase();
    SUITE
        .iter()
        .filter(|s| match part.as_str() {
            "ALL" => true,
            "LAB2" => s.part.starts_with('2'),
            "LAB3" => s.part.starts_with('3'),
            p => s.part == p,
        })
        .copied()
        .collect()
}

/// The scenario named `name` (its Go name, any case).
#[must_use]
pub fn find(name: &str) -> Option<Scenario> {
    SUITE.iter().find(|s| s.name.eq_ignore_ascii_case(name)).copied()
}
