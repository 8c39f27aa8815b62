//! Part 2A of MIT 6.824 Lab 2: leader election, ported step for step from test_test.go.
//! On the real cluster these are timing tests, run one at a time (`cargo xtask test-2a`); on
//! virtual time (`cargo xtask test-2a --sim`) a whole part takes well under a second.

use crate::{Config, RAFT_ELECTION_TIMEOUT, Tester};

/// TestInitialElection2A: "Test (2A): initial election".
pub fn initial_election_2a(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2A): initial election");

    // is a leader elected?
    cfg.check_one_leader();

    // sleep a bit to avoid racing with followers learning of the election, then check that
    // all peers agree on the term.
    cfg.sleep(std::time::Duration::from_millis(50));
    let term1 = cfg.check_terms();
    assert!(term1.0 >= 1, "term is {term1}, but should be at least 1");

    // does the leader+term stay the same if there is no network failure?
    cfg.sleep(2 * RAFT_ELECTION_TIMEOUT);
    let term2 = cfg.check_terms();
    if term1 != term2 {
        println!("warning: term changed even though there were no failures");
    }

    // there should still be a leader.
    cfg.check_one_leader();

    cfg.end();
}

/// TestReElection2A: "Test (2A): election after network failure".
pub fn re_election_2a(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2A): election after network failure");

    let leader1 = cfg.check_one_leader();

    // if the leader disconnects, a new one should be elected.
    cfg.disconnect(leader1);
    cfg.check_one_leader();

    // if the old leader rejoins, that shouldn't disturb the new leader.
    cfg.connect(leader1);
    let leader2 = cfg.check_one_leader();

    // if there's no quorum, no new leader should be elected.
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % servers);
    cfg.sleep(2 * RAFT_ELECTION_TIMEOUT);

    // check that the one connected server does not think it is the leader.
    cfg.check_no_leader();

    // if a quorum arises, it should elect a leader.
    cfg.connect((leader2 + 1) % servers);
    cfg.check_one_leader();

    // re-join of last node shouldn't prevent leader from existing.
    cfg.connect(leader2);
    cfg.check_one_leader();

    cfg.end();
}

/// TestManyElections2A: "Test (2A): multiple elections".
pub fn many_elections_2a(t: &Tester) {
    let servers = 7;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2A): multiple elections");

    cfg.check_one_leader();

    let iters = 10;
    for _ii in 1..iters {
        // disconnect three nodes
        let i1 = (cfg.rand_int() % servers as u64) as usize;
        let i2 = (cfg.rand_int() % servers as u64) as usize;
        let i3 = (cfg.rand_int() % servers as u64) as usize;
        cfg.disconnect(i1);
        cfg.disconnect(i2);
        cfg.disconnect(i3);

        // either the current leader should still be alive, or the remaining four should elect
        // a new one.
        cfg.check_one_leader();

        cfg.connect(i1);
        cfg.connect(i2);
        cfg.connect(i3);
    }

    cfg.check_one_leader();

    cfg.end();
}
