//! One seed gives one run, bit for bit; different seeds give different runs.

use raft_sim::{FaultProfile, SimConfig};

fn config(seed: u64, faults: FaultProfile) -> SimConfig {
    SimConfig {
        faults,
        ..SimConfig::new(seed)
    }
}

#[test]
fn same_seed_twice_gives_the_same_trace_hash_and_event_count() {
    for faults in [FaultProfile::None, FaultProfile::Default, FaultProfile::Heavy] {
        for seed in [0, 1, 42, 0xdead_beef] {
            let a = raft_sim::run(config(seed, faults)).expect("run a");
            let b = raft_sim::run(config(seed, faults)).expect("run b");
            assert_eq!(a, b, "seed {seed} faults {faults}: two runs differ");
        }
    }
}

#[test]
fn keeping_the_full_trace_does_not_change_the_run() {
    let quiet = raft_sim::run(config(9, FaultProfile::Default)).expect("quiet run");
    let full = raft_sim::run(SimConfig {
        record_full_trace: true,
        ..config(9, FaultProfile::Default)
    })
    .expect("full run");
    assert_eq!(quiet.trace_hash, full.trace_hash);
    assert_eq!(quiet.events, full.events);
    let lines = full.full_trace.expect("full trace kept");
    assert!(
        lines.iter().any(|l| l.contains("follower -> candidate")),
        "trace shows elections"
    );
    assert!(
        lines.iter().any(|l| l.contains("RequestVote")),
        "trace shows messages"
    );
}

#[test]
fn different_seeds_give_different_runs() {
    let hashes: std::collections::BTreeSet<u64> = (0..50)
        .map(|seed| {
            raft_sim::run(config(seed, FaultProfile::Default))
                .expect("run")
                .trace_hash
        })
        .collect();
    assert_eq!(hashes.len(), 50, "every seed has its own fingerprint");
}

#[test]
fn peers_draw_different_election_timeouts() {
    let seeds: std::collections::BTreeSet<u64> = (0..7).map(|p| raft_sim::sim::peer_seed(1, p, 0)).collect();
    assert_eq!(seeds.len(), 7);
    assert_ne!(
        raft_sim::sim::peer_seed(1, 0, 0),
        raft_sim::sim::peer_seed(1, 0, 1)
    );
}
