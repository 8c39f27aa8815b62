//! Three `KvServer`s over a raft-labrpc network, driven by a labrpc `Clerk`: reads return
//! what was written, sequential appends are fast enough for 6.824's TestSpeed3A, snapshots
//! keep Raft's state bounded, the cluster serves with a follower down, a restarted server
//! catches up (its own snapshot, then the leader's), and killed servers fail their calls
//! and leave no thread behind.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, MAXRAFTSTATE, SERVERS, submit};
use raft_labrpc::{CallError, ClientEnd};
use raft_storage::Storage;

/// Sequential appends timed.
const TIMED_OPS: usize = 500;
/// 6.824's TestSpeed3A: "at least 3 ops per" 100 ms heartbeat interval.
const TIME_PER_OP_MAX: Duration = Duration::from_millis(100 / 3);

#[test]
fn a_three_server_cluster_serves_snapshots_and_survives_a_crash() {
    let mut cluster = Cluster::new();
    let mut clerk = cluster.clerk("clerk", 1);
    clerk.put("a", "x");
    clerk.append("a", "y");
    assert_eq!(clerk.get("a"), "xy");
    assert_eq!(clerk.get("missing"), "");

    let mut expected = String::new();
    let mut latencies = Vec::with_capacity(TIMED_OPS);
    let timed = Instant::now();
    for i in 0..TIMED_OPS {
        let value = format!("{i},");
        let started = Instant::now();
        clerk.append("k", &value);
        latencies.push(started.elapsed());
        expected.push_str(&value);
    }
    let total = timed.elapsed();
    latencies.sort();
    eprintln!(
        "sequential append on 3 labrpc servers: median {:?}, p90 {:?}, max {:?}, mean {:?}",
        latencies[TIMED_OPS / 2],
        latencies[TIMED_OPS * 9 / 10],
        latencies[TIMED_OPS - 1],
        total / TIMED_OPS as u32
    );
    assert!(
        total < TIME_PER_OP_MAX * TIMED_OPS as u32,
        "operations completed too slowly: {:?}/op",
        total / TIMED_OPS as u32
    );
    assert_eq!(clerk.get("k"), expected);

    for (i, persister) in cluster.persisters.iter().enumerate() {
        let (raft_state, snapshot) = (persister.raft_state_size(), persister.snapshot_size());
        assert!(
            raft_state < 8 * MAXRAFTSTATE as u64,
            "server {i}: Raft state {raft_state} bytes: snapshots do not trim the log"
        );
        assert!(snapshot > 0, "server {i} never snapshotted");
    }

    // A follower crashes: the other two still serve, and the dead one fails its calls.
    let leader = cluster.leader().expect("the clerk's last call had a leader");
    let follower = (leader + 1) % SERVERS;
    cluster.kill(follower);
    clerk.append("k", "f,");
    expected.push_str("f,");
    assert_eq!(clerk.get("k"), expected);
    let probe: ClientEnd = cluster.end("probe", follower);
    assert_eq!(submit(&probe), Err(CallError::Failed));

    // It restarts from what it persisted; then the leader crashes, and the restarted server
    // must have caught up for the two left to serve everything.
    cluster.start(follower);
    clerk.append("k", "r,");
    expected.push_str("r,");
    assert_eq!(clerk.get("k"), expected);
    let leader = cluster.leader().expect("the clerk's last call had a leader");
    cluster.kill(leader);
    clerk.append("k", "l,");
    expected.push_str("l,");
    assert_eq!(clerk.get("k"), expected);
    let mut other = cluster.clerk("other", 2);
    assert_eq!(other.get("a"), "xy");

    cluster.shutdown();
}
