//! Part 2D of MIT 6.824 Lab 2: log compaction with snapshots, ported step for step from
//! test_test.go (the 2022 suite with the 2023 addition TestSnapshotInit2D). Run one test at a
//! time on the real cluster (`cargo xtask test-2d`); `cargo xtask test-2d --sim` runs them on
//! virtual time.
//!
//! MAXLOGSIZE is 6.824's bound on persisted Raft state, in bytes. It was set for gob, whose
//! entries are larger than postcard's, so in entries it is a looser bound here than in Go.

use crate::{Config, Tester, cmd};

/// test_test.go: the largest persisted Raft state (term, vote, log) allowed, in bytes.
const MAXLOGSIZE: u64 = 2000;

/// config.go's SnapShotInterval.
const SNAPSHOT_INTERVAL: u64 = 10;

fn snapcommon(t: &Tester, name: &str, disconnect: bool, reliable: bool, crash: bool) {
    let iters = 30;
    let servers = 3;
    let cfg = Config::with_snapshots(t, servers, !reliable);
    cfg.begin(name);

    cfg.one(&cmd(cfg.rand_int()), servers, true);
    let mut leader1 = cfg.check_one_leader();

    for i in 0..iters {
        let mut victim = (leader1 + 1) % servers;
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }

        if disconnect {
            cfg.disconnect(victim);
            cfg.one(&cmd(cfg.rand_int()), servers - 1, true);
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(&cmd(cfg.rand_int()), servers - 1, true);
        }

        // perhaps send enough to get a snapshot
        let nn = SNAPSHOT_INTERVAL / 2 + cfg.rand_int() % SNAPSHOT_INTERVAL;
        for _ in 0..nn {
            let _ = cfg.start(sender, &cmd(cfg.rand_int()));
        }

        // let applier threads catch up with the Start()'s
        if !disconnect && !crash {
            // make sure all followers have caught up, so that an InstallSnapshot RPC isn't
            // required for TestSnapshotBasic2D().
            cfg.one(&cmd(cfg.rand_int()), servers, true);
        } else {
            cfg.one(&cmd(cfg.rand_int()), servers - 1, true);
        }

        assert!(cfg.log_size() < MAXLOGSIZE, "Log size too large");

        if disconnect {
            // reconnect a follower, who maybe behind and needs to receive a snapshot to catch up.
            cfg.connect(victim);
            cfg.one(&cmd(cfg.rand_int()), servers, true);
            leader1 = cfg.check_one_leader();
        }
        if crash {
            cfg.start1(victim);
            cfg.connect(victim);
            cfg.one(&cmd(cfg.rand_int()), servers, true);
            leader1 = cfg.check_one_leader();
        }
    }
    cfg.end();
}

/// TestSnapshotBasic2D: "Test (2D): snapshots basic".
pub fn snapshot_basic_2d(t: &Tester) {
    snapcommon(t, "Test (2D): snapshots basic", false, true, false);
}

/// TestSnapshotInstall2D: "Test (2D): install snapshots (disconnect)".
pub fn snapshot_install_2d(t: &Tester) {
    snapcommon(t, "Test (2D): install snapshots (disconnect)", true, true, false);
}

/// TestSnapshotInstallUnreliable2D: "Test (2D): install snapshots (disconnect+unreliable)".
pub fn snapshot_install_unreliable_2d(t: &Tester) {
    snapcommon(
        t,
        "Test (2D): install snapshots (disconnect+unreliable)",
        true,
        false,
        false,
    );
}

/// TestSnapshotInstallCrash2D: "Test (2D): install snapshots (crash)".
pub fn snapshot_install_crash_2d(t: &Tester) {
    snapcommon(t, "Test (2D): install snapshots (crash)", false, true, true);
}

/// TestSnapshotInstallUnCrash2D: "Test (2D): install snapshots (unreliable+crash)".
pub fn snapshot_install_uncrash_2d(t: &Tester) {
    snapcommon(
        t,
        "Test (2D): install snapshots (unreliable+crash)",
        false,
        false,
        true,
    );
}

/// Crash and restart all servers.
pub fn snapshot_all_crash_2d(t: &Tester) {
    let servers = 3;
    let iters = 5;
    let cfg = Config::with_snapshots(t, servers, false);
    cfg.begin("Test (2D): crash and restart all servers");

    cfg.one(&cmd(cfg.rand_int()), servers, true);

    for _ in 0..iters {
        // perhaps enough to get a snapshot
        let nn = SNAPSHOT_INTERVAL / 2 + cfg.rand_int() % SNAPSHOT_INTERVAL;
        for _ in 0..nn {
            cfg.one(&cmd(cfg.rand_int()), servers, true);
        }

        let index1 = cfg.one(&cmd(cfg.rand_int()), servers, true);

        // crash all
        for i in 0..servers {
            cfg.crash1(i);
        }

        // revive all
        for i in 0..servers {
            cfg.start1(i);
            cfg.connect(i);
        }

        let index2 = cfg.one(&cmd(cfg.rand_int()), servers, true);
        assert!(index2 > index1, "index decreased from {index1} to {index2}");
    }
    cfg.end();
}

/// Do servers correctly initialize their in-memory copy of the snapshot, making sure that
/// future writes to persistent state don't lose state?
pub fn snapshot_init_2d(t: &Tester) {
    let servers = 3;
    let cfg = Config::with_snapshots(t, servers, false);
    cfg.begin("Test (2D): snapshot initialization after crash");
    cfg.one(&cmd(cfg.rand_int()), servers, true);

    // enough ops to make a snapshot
    let nn = SNAPSHOT_INTERVAL + 1;
    for _ in 0..nn {
        cfg.one(&cmd(cfg.rand_int()), servers, true);
    }

    // crash all
    for i in 0..servers {
        cfg.crash1(i);
    }

    // revive all
    for i in 0..servers {
        cfg.start1(i);
        cfg.connect(i);
    }

    // a single op, to get something to be written back to persistent storage.
    cfg.one(&cmd(cfg.rand_int()), servers, true);

    // crash all
    for i in 0..servers {
        cfg.crash1(i);
    }

    // revive all
    for i in 0..servers {
        cfg.start1(i);
        cfg.connect(i);
    }

    // do another op to trigger potential bug
    cfg.one(&cmd(cfg.rand_int()), servers, true);
    cfg.end();
}
