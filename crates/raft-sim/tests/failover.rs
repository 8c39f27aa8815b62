//! The shape of a Figure-16 measurement on the public API: elect a leader without faults,
//! crash it, and time how long the others take to elect a new one.

use raft_sim::{FaultProfile, SimConfig, Simulation};

/// Most events a failover may take before the test gives up.
const FAILOVER_EVENTS_MAX: u64 = 200_000;

/// Steps `sim` until a leader other than `not` is in place; the virtual time then.
fn until_leader(sim: &mut Simulation, not: Option<raft_core::PeerId>) -> u64 {
    for _ in 0..FAILOVER_EVENTS_MAX {
        if let Some(leader) = sim.leader()
            && Some(leader) != not
        {
            return sim.now_us();
        }
        sim.step().unwrap_or_else(|v| panic!("\n{v}"));
    }
    panic!("no leader after {FAILOVER_EVENTS_MAX} events");
}

#[test]
fn a_new_leader_is_elected_after_the_leader_crashes() {
    for seed in 0..20 {
        let config = SimConfig {
            faults: FaultProfile::None,
            ..SimConfig::new(seed)
        };
        let timeout_min_us = config.tick_us * u64::from(config.election_timeout_ticks_min);
        let mut sim = Simulation::new(config).expect("valid config");
        until_leader(&mut sim, None);
        let old = sim.leader().expect("a leader");
        let crashed_at = sim.now_us();
        sim.crash(old.as_usize()).expect("crash keeps invariants");
        let elected_at = until_leader(&mut sim, Some(old));
        let failover_us = elected_at - crashed_at;
        assert!(
            failover_us >= timeout_min_us / 2,
            "seed {seed}: failover {failover_us} us"
        );
        assert!(
            failover_us < 10 * timeout_min_us,
            "seed {seed}: failover {failover_us} us"
        );
    }
}
