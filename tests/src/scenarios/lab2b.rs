//! Part 2B of MIT 6.824 Lab 2: log replication, ported step for step from test_test.go (the
//! 2022 suite with the two 2023 additions, TestFollowerFailure2B and TestLeaderFailure2B).
//! On the real cluster these are timing tests, run one at a time (`cargo xtask test-2b`); on
//! virtual time (`cargo xtask test-2b --sim`) a whole part takes well under a second.

use crate::{Config, RAFT_ELECTION_TIMEOUT, Tester, as_int, cmd};

/// TestBasicAgree2B: "Test (2B): basic agreement".
pub fn basic_agree_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): basic agreement");

    let iters = 3;
    for index in 1..=iters {
        let (nd, _) = cfg.n_committed(index);
        assert!(nd == 0, "some have committed before Start()");

        let xindex = cfg.one(&cmd(index * 100), servers, false);
        assert_eq!(xindex, index, "got index {xindex} but expected {index}");
    }

    cfg.end();
}

/// Check, based on counting bytes of RPCs, that each command is sent to each peer just once.
pub fn rpc_bytes_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): RPC byte count");

    cfg.one(&cmd(99), servers, false);
    let bytes0 = cfg.bytes_total();

    let iters = 10;
    let mut sent = 0;
    for index in 2..iters + 2 {
        let command = cfg.rand_string(5000).into_bytes();
        let xindex = cfg.one(&command, servers, false);
        assert_eq!(xindex, index, "got index {xindex} but expected {index}");
        sent += command.len() as u64;
    }

    let bytes1 = cfg.bytes_total();
    let got = bytes1 - bytes0;
    let expected = servers as u64 * sent;
    assert!(
        got <= expected + 50_000,
        "too many RPC bytes; got {got}, expected {expected}"
    );

    cfg.end();
}

/// Test just failure of followers.
pub fn follower_failure_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): test progressive failure of followers");

    cfg.one(&cmd(101), servers, false);

    // disconnect one follower from the network.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect((leader1 + 1) % servers);

    // the leader and remaining follower should be able to agree despite the disconnected
    // follower.
    cfg.one(&cmd(102), servers - 1, false);
    cfg.sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(&cmd(103), servers - 1, false);

    // disconnect the remaining follower
    let leader2 = cfg.check_one_leader();
    cfg.disconnect((leader2 + 1) % servers);
    cfg.disconnect((leader2 + 2) % servers);

    // submit a command.
    let Some((index, _)) = cfg.start(leader2, &cmd(104)) else {
        panic!("leader rejected Start()");
    };
    assert_eq!(index, 4, "expected index 4, got {index}");

    cfg.sleep(2 * RAFT_ELECTION_TIMEOUT);

    // check that command 104 did not commit.
    let (n, _) = cfg.n_committed(index);
    assert!(n == 0, "{n} committed but no majority");

    cfg.end();
}

/// Test just failure of leaders.
pub fn leader_failure_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): test failure of leaders");

    cfg.one(&cmd(101), servers, false);

    // disconnect the first leader.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);

    // the remaining followers should elect a new leader.
    cfg.one(&cmd(102), servers - 1, false);
    cfg.sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(&cmd(103), servers - 1, false);

    // disconnect the new leader.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);

    // submit a command to each server.
    for i in 0..servers {
        let _ = cfg.start(i, &cmd(104));
    }

    cfg.sleep(2 * RAFT_ELECTION_TIMEOUT);

    // check that command 104 did not commit.
    let (n, _) = cfg.n_committed(4);
    assert!(n == 0, "{n} committed but no majority");

    cfg.end();
}

/// Test that a follower participates after disconnect and re-connect.
pub fn fail_agree_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): agreement after follower reconnects");

    cfg.one(&cmd(101), servers, false);

    // disconnect one follower from the network.
    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 1) % servers);

    // the leader and remaining follower should be able to agree despite the disconnected
    // follower.
    cfg.one(&cmd(102), servers - 1, false);
    cfg.one(&cmd(103), servers - 1, false);
    cfg.sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(&cmd(104), servers - 1, false);
    cfg.one(&cmd(105), servers - 1, false);

    // re-connect
    cfg.connect((leader + 1) % servers);

    // the full set of servers should preserve previous agreements, and be able to agree on
    // new commands.
    cfg.one(&cmd(106), servers, true);
    cfg.sleep(RAFT_ELECTION_TIMEOUT);
    cfg.one(&cmd(107), servers, true);

    cfg.end();
}

/// TestFailNoAgree2B: "Test (2B): no agreement if too many followers disconnect".
pub fn fail_no_agree_2b(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): no agreement if too many followers disconnect");

    cfg.one(&cmd(10), servers, false);

    // 3 of 5 followers disconnect
    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 1) % servers);
    cfg.disconnect((leader + 2) % servers);
    cfg.disconnect((leader + 3) % servers);

    let Some((index, _)) = cfg.start(leader, &cmd(20)) else {
        panic!("leader rejected Start()");
    };
    assert_eq!(index, 2, "expected index 2, got {index}");

    cfg.sleep(2 * RAFT_ELECTION_TIMEOUT);

    let (n, _) = cfg.n_committed(index);
    assert!(n == 0, "{n} committed but no majority");

    // repair
    cfg.connect((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.connect((leader + 3) % servers);

    // the disconnected majority may have chosen a leader from among their own ranks,
    // forgetting index 2.
    let leader2 = cfg.check_one_leader();
    let Some((index2, _)) = cfg.start(leader2, &cmd(30)) else {
        panic!("leader2 rejected Start()");
    };
    assert!((2..=3).contains(&index2), "unexpected index {index2}");

    cfg.one(&cmd(1000), servers, true);

    cfg.end();
}

/// TestConcurrentStarts2B: "Test (2B): concurrent Start()s".
pub fn concurrent_starts_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): concurrent Start()s");

    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // give solution some time to settle
            cfg.sleep(std::time::Duration::from_secs(3));
        }

        let leader = cfg.check_one_leader();
        let Some((_, term)) = cfg.start(leader, &cmd(1)) else {
            // leader moved on really quickly
            continue;
        };

        let iters = 5;
        let indices: Vec<u64> = cfg.scope(|s| {
            let handles: Vec<_> = (0..iters)
                .map(|i| {
                    let cfg = &cfg;
                    s.spawn(move || match cfg.start(leader, &cmd(100 + i)) {
                        Some((index, term1)) if term1 == term => Some(index),
                        _ => None,
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().expect("a starter thread panicked"))
                .collect()
        });

        for j in 0..servers {
            if cfg.get_state(j).0 != term {
                // term changed -- can't expect low RPC counts
                continue 'tries;
            }
        }

        let mut cmds = Vec::new();
        for index in indices {
            let Some(command) = cfg.wait(index, servers, Some(term)) else {
                // peers have moved on to later terms so we can't expect all Start()s to have
                // succeeded
                continue 'tries;
            };
            let Some(ix) = as_int(&command) else {
                panic!("value {command:?} is not an int");
            };
            cmds.push(ix);
        }

        for ii in 0..iters {
            let x = 100 + ii;
            assert!(cmds.contains(&x), "cmd {x} missing in {cmds:?}");
        }

        success = true;
        break;
    }

    assert!(success, "term changed too often");

    cfg.end();
}

/// TestRejoin2B: "Test (2B): rejoin of partitioned leader".
pub fn rejoin_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): rejoin of partitioned leader");

    cfg.one(&cmd(101), servers, true);

    // leader network failure
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);

    // make old leader try to agree on some entries
    let _ = cfg.start(leader1, &cmd(102));
    let _ = cfg.start(leader1, &cmd(103));
    let _ = cfg.start(leader1, &cmd(104));

    // new leader commits, also for index=2
    cfg.one(&cmd(103), 2, true);

    // new leader network failure
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);

    // old leader connected again
    cfg.connect(leader1);

    cfg.one(&cmd(104), 2, true);

    // all together now
    cfg.connect(leader2);

    cfg.one(&cmd(105), servers, true);

    cfg.end();
}

/// TestBackup2B: "Test (2B): leader backs up quickly over incorrect follower logs".
pub fn backup_2b(t: &Tester) {
    let servers = 5;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): leader backs up quickly over incorrect follower logs");

    cfg.one(&cmd(cfg.rand_int()), servers, true);

    // put leader and one follower in a partition
    let leader1 = cfg.check_one_leader();
    cfg.disconnect((leader1 + 2) % servers);
    cfg.disconnect((leader1 + 3) % servers);
    cfg.disconnect((leader1 + 4) % servers);

    // submit lots of commands that won't commit
    for _ in 0..50 {
        let _ = cfg.start(leader1, &cmd(cfg.rand_int()));
    }

    cfg.sleep(RAFT_ELECTION_TIMEOUT / 2);

    cfg.disconnect(leader1 % servers);
    cfg.disconnect((leader1 + 1) % servers);

    // allow other partition to recover
    cfg.connect((leader1 + 2) % servers);
    cfg.connect((leader1 + 3) % servers);
    cfg.connect((leader1 + 4) % servers);

    // lots of successful commands to new group.
    for _ in 0..50 {
        cfg.one(&cmd(cfg.rand_int()), 3, true);
    }

    // now another partitioned leader and one follower
    let leader2 = cfg.check_one_leader();
    let mut other = (leader1 + 2) % servers;
    if leader2 == other {
        other = (leader2 + 1) % servers;
    }
    cfg.disconnect(other);

    // lots more commands that won't commit
    for _ in 0..50 {
        let _ = cfg.start(leader2, &cmd(cfg.rand_int()));
    }

    cfg.sleep(RAFT_ELECTION_TIMEOUT / 2);

    // bring original leader back to life,
    for i in 0..servers {
        cfg.disconnect(i);
    }
    cfg.connect(leader1 % servers);
    cfg.connect((leader1 + 1) % servers);
    cfg.connect(other);

    // lots of successful commands to new group.
    for _ in 0..50 {
        cfg.one(&cmd(cfg.rand_int()), 3, true);
    }

    // now everyone
    for i in 0..servers {
        cfg.connect(i);
    }
    cfg.one(&cmd(cfg.rand_int()), servers, true);

    cfg.end();
}

/// TestCount2B: "Test (2B): RPC counts aren't too high".
pub fn count_2b(t: &Tester) {
    let servers = 3;
    let cfg = Config::new(t, servers, false);
    cfg.begin("Test (2B): RPC counts aren't too high");

    let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<u64>();

    cfg.check_one_leader();

    let mut total1 = rpcs();

    assert!(
        (1..=30).contains(&total1),
        "too many or few RPCs ({total1}) to elect initial leader"
    );

    let mut total2 = 0;
    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // give solution some time to settle
            cfg.sleep(std::time::Duration::from_secs(3));
        }

        let leader = cfg.check_one_leader();
        total1 = rpcs();

        let iters = 10;
        let Some((starti, term)) = cfg.start(leader, &cmd(1)) else {
            // leader moved on really quickly
            continue;
        };
        let mut cmds = Vec::new();
        for i in 1..iters + 2 {
            let x = cfg.rand_int() % (1 << 31);
            cmds.push(x);
            let Some((index1, term1)) = cfg.start(leader, &cmd(x)) else {
                // no longer the leader, so term has changed
                continue 'tries;
            };
            if term1 != term {
                // Term changed while starting
                continue 'tries;
            }
            assert_eq!(starti + i, index1, "Start() failed");
        }

        for i in 1..iters + 1 {
            let Some(command) = cfg.wait(starti + i, servers, Some(term)) else {
                // term changed -- try again
                continue 'tries;
            };
            let expected = cmds[i as usize - 1];
            assert_eq!(
                as_int(&command),
                Some(expected),
                "wrong value {command:?} committed for index {}; expected {expected}",
                starti + i
            );
        }

        let failed = (0..servers).any(|j| cfg.get_state(j).0 != term);
        total2 = rpcs();
        if failed {
            continue 'tries;
        }

        assert!(
            total2 - total1 <= (iters + 1 + 3) * 3,
            "too many RPCs ({}) for {iters} entries",
            total2 - total1
        );

        success = true;
        break;
    }

    assert!(success, "term changed too often");

    cfg.sleep(RAFT_ELECTION_TIMEOUT);

    let total3 = rpcs();

    assert!(
        total3 - total2 <= 3 * 20,
        "too many RPCs ({}) for 1 second of idleness",
        total3 - total2
    );

    cfg.end();
}
