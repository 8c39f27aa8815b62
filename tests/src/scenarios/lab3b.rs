//! Part 3B of 6.824 Lab 3: the key/value service with snapshots (maxraftstate 1000), the 9
//! tests of test_test.go in its order.

use super::lab3::{ELECTION_TIMEOUT, Generic, MAXRAFTSTATE_3B, generic_test, generic_test_speed};
use crate::Tester;
use crate::kv::{KvConfig, check, put};

/// TestSnapshotSize3B's bound on a snapshot: "500 bytes is a generous bound".
const MAX_SNAPSHOT_STATE: u64 = 500;

/// Fails unless every server's Raft state is within 8 x maxraftstate.
fn assert_logs_trimmed(cfg: &KvConfig) {
    let size = cfg.log_size();
    let max = MAXRAFTSTATE_3B as u64;
    assert!(size <= 8 * max, "logs were not trimmed ({size} > 8*{max})");
}

/// TestSnapshotRPC3B: a server cut off while the majority snapshots and trims its log must
/// catch up through InstallSnapshot once it is needed for a majority.
pub fn snapshot_rpc_3b(t: &Tester) {
    let cfg = KvConfig::new(t, 3, false, Some(MAXRAFTSTATE_3B));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: InstallSnapshot RPC (3B)");
    put(&cfg, &mut ck, "a", "A", None, 0);
    check(&cfg, &mut ck, "a", "A");

    // A bunch of puts into the majority partition.
    cfg.partition(&[0, 1], &[2]);
    {
        let mut ck1 = cfg.make_client(&[0, 1]);
        for i in 0..50 {
            put(&cfg, &mut ck1, &i.to_string(), &i.to_string(), None, 0);
        }
        cfg.sleep(ELECTION_TIMEOUT);
        put(&cfg, &mut ck1, "b", "B", None, 0);
    }
    // The majority has thrown away most of its log.
    assert_logs_trimmed(&cfg);

    // A group that needs the lagging server, so that it has to catch up.
    cfg.partition(&[0, 2], &[1]);
    {
        let mut ck1 = cfg.make_client(&[0, 2]);
        put(&cfg, &mut ck1, "c", "C", None, 0);
        put(&cfg, &mut ck1, "d", "D", None, 0);
        check(&cfg, &mut ck1, "a", "A");
        check(&cfg, &mut ck1, "b", "B");
        check(&cfg, &mut ck1, "1", "1");
        check(&cfg, &mut ck1, "49", "49");
    }

    // Now everybody.
    cfg.partition(&[0, 1, 2], &[]);
    put(&cfg, &mut ck, "e", "E", None, 0);
    check(&cfg, &mut ck, "c", "C");
    check(&cfg, &mut ck, "e", "E");
    check(&cfg, &mut ck, "1", "1");
    cfg.end();
}

/// TestSnapshotSize3B: 800 operations on one key by one clerk; the log is trimmed and a
/// snapshot stays within 500 bytes.
pub fn snapshot_size_3b(t: &Tester) {
    let cfg = KvConfig::new(t, 3, false, Some(MAXRAFTSTATE_3B));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: snapshot size is reasonable (3B)");
    for _ in 0..200 {
        put(&cfg, &mut ck, "x", "0", None, 0);
        check(&cfg, &mut ck, "x", "0");
        put(&cfg, &mut ck, "x", "1", None, 0);
        check(&cfg, &mut ck, "x", "1");
    }
    assert_logs_trimmed(&cfg);
    let size = cfg.snapshot_size();
    assert!(
        size <= MAX_SNAPSHOT_STATE,
        "snapshot too large ({size} > {MAX_SNAPSHOT_STATE})"
    );
    cfg.end();
}

/// TestSpeed3B: 1000 sequential appends at no more than 33.3 ms each, while snapshotting.
pub fn speed_3b(t: &Tester) {
    generic_test_speed(t, "3B", Some(MAXRAFTSTATE_3B));
}

const fn snapshots(nclients: usize, nservers: usize) -> Generic {
    Generic {
        maxraftstate: Some(MAXRAFTSTATE_3B),
        ..Generic::new("3B", nclients, nservers)
    }
}

/// TestSnapshotRecover3B: restarts, snapshots, one client.
pub fn snapshot_recover_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            crash: true,
            ..snapshots(1, 5)
        },
    );
}

/// TestSnapshotRecoverManyClients3B: restarts, snapshots, 20 clients.
pub fn snapshot_recover_many_clients_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            crash: true,
            ..snapshots(20, 5)
        },
    );
}

/// TestSnapshotUnreliable3B: unreliable net, snapshots, many clients.
pub fn snapshot_unreliable_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            ..snapshots(5, 5)
        },
    );
}

/// TestSnapshotUnreliableRecover3B: unreliable net, restarts, snapshots, many clients.
pub fn snapshot_unreliable_recover_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            ..snapshots(5, 5)
        },
    );
}

/// TestSnapshotUnreliableRecoverConcurrentPartition3B: unreliable net, restarts,
/// partitions, snapshots, many clients.
pub fn snapshot_unreliable_recover_concurrent_partition_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            partitions: true,
            ..snapshots(5, 5)
        },
    );
}

/// TestSnapshotUnreliableRecoverConcurrentPartitionLinearizable3B: everything, random keys,
/// 15 clients on 7 servers, judged by the linearizability checker.
pub fn snapshot_unreliable_recover_concurrent_partition_linearizable_3b(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            partitions: true,
            randomkeys: true,
            ..snapshots(15, 7)
        },
    );
}
