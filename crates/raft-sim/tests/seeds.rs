//! The quick sweep: a fixed set of seeds with faults keeps every invariant, and liveness
//! holds once faults stop (a run that misses the bound is a `Violation`, so `Ok` proves it).

use raft_sim::{FaultProfile, RunSummary, SimConfig, Switches};

/// Seeds in the quick sweep of the default cluster.
const QUICK_SEEDS: u64 = 200;
/// Seeds per other cluster size and profile.
const OTHER_SEEDS: u64 = 40;

fn sweep(seeds: std::ops::Range<u64>, peers: usize, faults: FaultProfile) -> Vec<RunSummary> {
    seeds
        .map(|seed| {
            let config = SimConfig {
                peers,
                faults,
                ..SimConfig::new(seed)
            };
            raft_sim::run(config).unwrap_or_else(|v| panic!("\n{v}"))
        })
        .collect()
}

#[test]
fn quick_seeds_with_default_faults_keep_every_invariant_and_recover() {
    let runs = sweep(0..QUICK_SEEDS, 5, FaultProfile::Default);
    let bound_us = SimConfig::new(0).liveness_bound_us;
    assert!(runs.iter().all(|r| r.recovery_us <= bound_us), "liveness bound");
    assert!(
        runs.iter().all(|r| r.commands_committed > 0),
        "every run commits commands"
    );
    let total = |f: fn(&RunSummary) -> u64| runs.iter().map(f).sum::<u64>();
    assert!(total(|r| r.crashes) > QUICK_SEEDS, "crashes were injected");
    assert!(total(|r| r.partitions) > QUICK_SEEDS, "partitions were formed");
    assert!(total(|r| r.snapshots) > QUICK_SEEDS, "services took snapshots");
    assert!(runs.iter().any(|r| r.terms_with_leader > 3), "leaders changed");
}

#[test]
fn other_cluster_sizes_and_profiles_keep_every_invariant() {
    for peers in [3, 7] {
        for faults in [FaultProfile::None, FaultProfile::Default, FaultProfile::Heavy] {
            let runs = sweep(1000..1000 + OTHER_SEEDS, peers, faults);
            assert!(
                runs.iter().all(|r| r.commands_committed > 0),
                "{peers} peers {faults}"
            );
        }
    }
}

#[test]
fn without_faults_a_run_ends_as_soon_as_faults_stop() {
    for r in sweep(0..20, 5, FaultProfile::None) {
        assert_eq!(r.crashes + r.partitions, 0);
        assert!(
            r.recovery_us < SimConfig::new(0).liveness_bound_us / 10,
            "recovery {} us",
            r.recovery_us
        );
    }
}

#[test]
fn with_leadership_transfers_in_the_nemesis_every_invariant_holds_and_the_cluster_recovers() {
    for switches in [Switches::OFF, Switches::BOTH] {
        for faults in [FaultProfile::Default, FaultProfile::Heavy] {
            let runs: Vec<RunSummary> = (0..OTHER_SEEDS)
                .map(|seed| {
                    let config = SimConfig {
                        faults,
                        switches,
                        transfers: true,
                        ..SimConfig::new(seed)
                    };
                    raft_sim::run(config).unwrap_or_else(|v| panic!("\n{v}"))
                })
                .collect();
            let bound_us = SimConfig::new(0).liveness_bound_us;
            assert!(runs.iter().all(|r| r.recovery_us <= bound_us), "liveness bound");
            let transfers: u64 = runs.iter().map(|r| r.transfers).sum();
            assert!(
                transfers > OTHER_SEEDS,
                "{faults} {switches}: only {transfers} transfers begun in {OTHER_SEEDS} runs"
            );
            assert!(runs.iter().all(|r| r.commands_committed > 0));
        }
    }
}
