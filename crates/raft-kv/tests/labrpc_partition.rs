//! A leader cut off from its majority keeps its term and thinks it still leads (check-quorum
//! off, as in 6.824): a clerk that reached it is released after `REQUEST_WAIT_MAX` and served
//! by the majority; once the partition heals, the deposed leader fails its waiting requests
//! promptly, once it sees the new term (its loop reads Raft's state every `RAFT_STATE_POLL`),
//! not at the wait limit.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, SERVERS, submit};
use raft_kv::Response;
use raft_kv::server::REQUEST_WAIT_MAX;
use raft_node::NodeOptions;

/// How long the majority may take to elect a leader and serve once the clerk turns to it:
/// election timeouts are 300-600 ms; a split vote costs another.
const ELECTION_SLACK: Duration = Duration::from_secs(2);

/// When the partition heals, this long before the deposed leader's waiter would expire.
const HEAL_BEFORE_EXPIRY: Duration = Duration::from_millis(700);

#[test]
fn a_cut_off_leader_releases_its_clerk_and_a_healed_one_fails_its_waiters_promptly() {
    // With check-quorum (raft-node's default) the cut-off leader would step down after an
    // election timeout and fail its waiters then: this is the case of a leader that cannot.
    let mut cluster = Cluster::with_options(NodeOptions {
        check_quorum: false,
        ..NodeOptions::default()
    });
    let mut clerk = cluster.clerk("clerk", 1);
    clerk.put("a", "1");
    let old = cluster.leader().expect("the clerk's call had a leader");
    // A clerk that tries the old leader first.
    let order: Vec<usize> = (0..SERVERS).map(|j| (old + j) % SERVERS).collect();
    let mut stuck = cluster.clerk_over("stuck", 2, &order);
    assert_eq!(stuck.get("a"), "1");

    cluster.connect(old, false);
    let started = Instant::now();
    stuck.append("a", "2");
    let took = started.elapsed();
    assert!(
        took >= REQUEST_WAIT_MAX,
        "the cut-off leader cannot commit nor see a new term, so only the wait limit frees the clerk (took {took:?})"
    );
    assert!(took < REQUEST_WAIT_MAX + ELECTION_SLACK, "took {took:?}");
    assert_eq!(clerk.get("a"), "12");

    // A request waits at the old leader; the partition heals well before it would expire.
    let probe = cluster.end("probe", old);
    let waiting = std::thread::spawn(move || {
        let sent = Instant::now();
        (submit(&probe), sent.elapsed())
    });
    std::thread::sleep(REQUEST_WAIT_MAX - HEAL_BEFORE_EXPIRY);
    cluster.connect(old, true);
    let (answer, took) = waiting.join().expect("the probe thread ends");
    assert_eq!(answer, Ok(Response::WrongLeader));
    assert!(
        took < REQUEST_WAIT_MAX,
        "the deposed leader failed its waiter at the wait limit, not when it saw the new term ({took:?})"
    );
    assert_eq!(clerk.get("a"), "12");

    cluster.shutdown();
}
