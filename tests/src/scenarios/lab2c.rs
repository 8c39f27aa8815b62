//! Part 2C of MIT 6.824 Lab 2: persistence across crashes, ported step for step from
//! test_test.go. On the real cluster these are timing tests, run one at a time (`cargo xtask
//! test-2c`); on virtual time (`cargo xtask test-2c --sim`) the part takes about a second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Config, RAFT_ELECTION_TIMEOUT, Tester, as_int, cmd};

/// TestPersist12C: "Test (2C): basic persistence".
pub fn persist1_2c(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2C): basic persistence");

    cfg.one(&cmd(11), servers, true);

    // crash and re-start all
    for i in 0..servers {
        cfg.start1(i);
    }
    for i in 0..servers {
        cfg.disconnect(i);
        cfg.connect(i);
    }

    cfg.one(&cmd(12), servers, true);

    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    cfg.start1(leader1);
    cfg.connect(leader1);

    cfg.one(&cmd(13), servers, true);

    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    cfg.one(&cmd(14), servers - 1, true);
    cfg.start1(leader2);
    cfg.connect(leader2);

    cfg.wait(4, servers, None); // wait for leader2 to join before killing i3

    let i3 = (cfg.check_one_leader() + 1) % servers;
    cfg.disconnect(i3);
    cfg.one(&cmd(15), servers - 1, true);
    cfg.start1(i3);
    cfg.connect(i3);

    cfg.one(&cmd(16), servers, true);

    cfg.end();
}

/// TestPersist22C: "Test (2C): more persistence".
pub fn persist2_2c(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2C): more persistence");

    let mut index = 1;
    for _iters in 0..5 {
        cfg.one(&cmd(10 + index), servers, true);
        index += 1;

        let leader1 = cfg.check_one_leader();

        cfg.disconnect((leader1 + 1) % servers);
        cfg.disconnect((leader1 + 2) % servers);

        cfg.one(&cmd(10 + index), servers - 2, true);
        index += 1;

        cfg.disconnect(leader1 % servers);
        cfg.disconnect((leader1 + 3) % servers);
        cfg.disconnect((leader1 + 4) % servers);

        cfg.start1((leader1 + 1) % servers);
        cfg.start1((leader1 + 2) % servers);
        cfg.connect((leader1 + 1) % servers);
        cfg.connect((leader1 + 2) % servers);

        cfg.sleep(RAFT_ELECTION_TIMEOUT);

        cfg.start1((leader1 + 3) % servers);
        cfg.connect((leader1 + 3) % servers);

        cfg.one(&cmd(10 + index), servers - 2, true);
        index += 1;

        cfg.connect((leader1 + 4) % servers);
        cfg.connect(leader1 % servers);
    }

    cfg.one(&cmd(1000), servers, true);

    cfg.end();
}

/// TestPersist32C: "Test (2C): partitioned leader and one follower crash, leader restarts".
pub fn persist3_2c(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2C): partitioned leader and one follower crash, leader restarts");

    cfg.one(&cmd(101), 3, true);

    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 2) % servers);

    cfg.one(&cmd(102), 2, true);

    cfg.crash1(leader % servers);
    cfg.crash1((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.start1(leader % servers);
    cfg.connect(leader % servers);

    cfg.one(&cmd(103), 2, true);

    cfg.start1((leader + 1) % servers);
    cfg.connect((leader + 1) % servers);

    cfg.one(&cmd(104), servers, true);

    cfg.end();
}

/// Test the scenarios described in Figure 8 of the extended Raft paper. Each iteration asks a
/// leader, if there is one, to insert a command in the Raft log. If there is a leader, that
/// leader will fail quickly with a high probability (perhaps without committing the command),
/// or crash after a while with low probability (most likely committing the command). If the
/// number of alive servers isn't enough to form a majority, perhaps start a new server. The
/// leader in a new term may try to finish replicating log entries that haven't been committed
/// yet.
pub fn figure8_2c(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2C): Figure 8");

    cfg.one(&cmd(cfg.rand_int()), 1, true);

    let mut nup = servers;
    for _iters in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            if cfg.start(i, &cmd(cfg.rand_int())).is_some() {
                leader = Some(i);
            }
        }

        figure8_sleep(&cfg);

        if let Some(leader) = leader {
            cfg.crash1(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = (cfg.rand_int() % servers as u64) as usize;
            if !cfg.running(s) {
                cfg.start1(s);
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.running(i) {
            cfg.start1(i);
            cfg.connect(i);
        }
    }

    cfg.one(&cmd(cfg.rand_int()), servers, true);

    cfg.end();
}

/// TestUnreliableAgree2C: "Test (2C): unreliable agreement".
pub fn unreliable_agree_2c(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, true);
    cfg.begin("Test (2C): unreliable agreement");

    cfg.scope(|s| {
        for iters in 1..50 {
            for j in 0..4 {
                let cfg = &cfg;
                s.spawn(move || {
                    cfg.one(&cmd(100 * iters + j), 1, true);
                });
            }
            cfg.one(&cmd(iters), 1, true);
        }

        cfg.set_unreliable(false);
        // the scope waits for every client here
    });

    cfg.one(&cmd(100), servers, true);

    cfg.end();
}

/// TestFigure8Unreliable2C: "Test (2C): Figure 8 (unreliable)".
pub fn figure8_unreliable_2c(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, true);
    cfg.begin("Test (2C): Figure 8 (unreliable)");

    cfg.one(&cmd(cfg.rand_int() % 10000), 1, true);

    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            cfg.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            let accepted = cfg.start(i, &cmd(cfg.rand_int() % 10000)).is_some();
            if accepted && cfg.connected(i) {
                leader = Some(i);
            }
        }

        figure8_sleep(&cfg);

        let half_timeout_ms = RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2;
        if let Some(leader) = leader
            && cfg.rand_int() % 1000 < half_timeout_ms
        {
            cfg.disconnect(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = (cfg.rand_int() % servers as u64) as usize;
            if !cfg.connected(s) {
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.connected(i) {
            cfg.connect(i);
        }
    }

    cfg.one(&cmd(cfg.rand_int() % 10000), servers, true);

    cfg.end();
}

/// TestReliableChurn2C: "Test (2C): churn".
pub fn reliable_churn_2c(t: &Tester) {
    internal_churn(t, false);
}

/// TestUnreliableChurn2C: "Test (2C): unreliable churn".
pub fn unreliable_churn_2c(t: &Tester) {
    internal_churn(t, true);
}

/// The Figure 8 tests' pause: with probability 10 % up to half an election timeout, else 0-12 ms.
fn figure8_sleep(cfg: &Config) {
    let ms = if cfg.rand_int() % 1000 < 100 {
        cfg.rand_int() % (RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2)
    } else {
        cfg.rand_int() % 13
    };
    cfg.sleep(Duration::from_millis(ms));
}

/// One churn client: proposes random values to every live peer until told to stop, and
/// returns those it saw committed.
fn churn_client(cfg: &Config, me: u64, stop: &AtomicBool) -> Vec<u64> {
    let mut values = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let x = cfg.rand_int();
        let mut index = None;
        for i in 0..cfg.n() {
            // try them all, maybe one of them is a leader
            if let Some((index1, _)) = cfg.start(i, &cmd(x)) {
                index = Some(index1);
            }
        }
        if let Some(index) = index {
            // maybe leader will commit our value, maybe not. but don't wait forever.
            for to in [10, 20, 50, 100, 200] {
                let (nd, command) = cfg.n_committed(index);
                if nd > 0 {
                    let Some(xx) = command.as_deref().and_then(as_int) else {
                        panic!("wrong command type");
                    };
                    if xx == x {
                        values.push(x);
                    }
                    break;
                }
                cfg.sleep(Duration::from_millis(to));
            }
        } else {
            cfg.sleep(Duration::from_millis(79 + me * 17));
        }
    }
    values
}

fn internal_churn(t: &Tester, unreliable: bool) {
    let servers = 5;
    let cfg = Config::new(t, servers, unreliable);
    cfg.begin(if unreliable {
        "Test (2C): unreliable churn"
    } else {
        "Test (2C): churn"
    });

    let stop = AtomicBool::new(false);
    let ncli = 3;
    let values: Vec<u64> = cfg.scope(|s| {
        let clients: Vec<_> = (0..ncli)
            .map(|me| {
                let (cfg, stop) = (&cfg, &stop);
                s.spawn(move || churn_client(cfg, me, stop))
            })
            .collect();

        for _iters in 0..20 {
            if cfg.rand_int() % 1000 < 200 {
                let i = (cfg.rand_int() % servers as u64) as usize;
                cfg.disconnect(i);
            }

            if cfg.rand_int() % 1000 < 500 {
                let i = (cfg.rand_int() % servers as u64) as usize;
                if !cfg.running(i) {
                    cfg.start1(i);
                }
                cfg.connect(i);
            }

            if cfg.rand_int() % 1000 < 200 {
                let i = (cfg.rand_int() % servers as u64) as usize;
                if cfg.running(i) {
                    cfg.crash1(i);
                }
            }

            // Make crash/restart infrequent enough that the peers can often keep up, but not
            // so infrequent that everything has settled down from one change to the next.
            // Pick a value smaller than the election timeout, but not hugely smaller.
            cfg.sleep(RAFT_ELECTION_TIMEOUT * 7 / 10);
        }

        cfg.sleep(RAFT_ELECTION_TIMEOUT);
        cfg.set_unreliable(false);
        for i in 0..servers {
            if !cfg.running(i) {
                cfg.start1(i);
            }
            cfg.connect(i);
        }

        stop.store(true, Ordering::Release);

        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client failed"))
            .collect()
    });

    cfg.sleep(RAFT_ELECTION_TIMEOUT);

    let last_index = cfg.one(&cmd(cfg.rand_int()), servers, true);

    let mut really = Vec::new();
    for index in 1..=last_index {
        let v = cfg.wait(index, servers, None);
        let Some(vi) = v.as_deref().and_then(as_int) else {
            panic!("not an int");
        };
        really.push(vi);
    }

    for v1 in values {
        assert!(really.contains(&v1), "didn't find a value");
    }

    cfg.end();
}
