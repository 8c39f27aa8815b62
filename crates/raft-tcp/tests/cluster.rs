//! Three raft-node peers over TCP on loopback elect one leader and commit commands, every
//! peer applying the same commands at the same indices.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{WAIT_MAX, bind, identity, tcp_node, wait_until};
use raft_core::LogIndex;
use raft_node::{ApplyMsg, NodeOptions};

#[test]
fn three_peers_over_tcp_elect_a_leader_and_commit() {
    let listeners: Vec<_> = (0..3).map(|_| bind()).collect();
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").to_string())
        .collect();
    let mut peers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let options = NodeOptions {
            seed: Some(11),
            ..NodeOptions::default()
        };
        peers.push(tcp_node(i, addrs.clone(), listener, identity(), options));
    }

    // One leader, within a few election timeouts.
    let leader = || peers.iter().position(|(node, _, _)| node.get_state().1);
    assert!(
        wait_until(Duration::from_secs(5), || leader().is_some()),
        "no leader elected"
    );
    let leader = leader().expect("a leader");
    let term = peers[leader].0.get_state().0;
    let leaders = peers
        .iter()
        .filter(|(node, _, _)| node.get_state() == (term, true))
        .count();
    assert_eq!(leaders, 1, "one leader in term {term}");

    // Commands proposed to the leader are applied by all three, in order.
    let commands: Vec<Vec<u8>> = (0..5).map(|i| format!("cmd-{i}").into_bytes()).collect();
    let mut indices = Vec::new();
    for command in &commands {
        let (index, _) = peers[leader]
            .0
            .start(command.clone())
            .expect("the leader takes it");
        indices.push(index);
    }
    let deadline = Instant::now() + WAIT_MAX;
    for (i, (_, apply_rx, _)) in peers.iter().enumerate() {
        let mut applied: BTreeMap<LogIndex, Vec<u8>> = BTreeMap::new();
        while applied.len() < commands.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match apply_rx.recv_timeout(left) {
                Ok(ApplyMsg::Command { index, command, .. }) => {
                    applied.insert(index, command);
                }
                Ok(ApplyMsg::Snapshot { .. }) => panic!("peer {i}: no snapshot was taken"),
                Err(e) => panic!("peer {i} applied only {} commands: {e}", applied.len()),
            }
        }
        let expected: BTreeMap<LogIndex, Vec<u8>> =
            indices.iter().copied().zip(commands.iter().cloned()).collect();
        assert_eq!(applied, expected, "peer {i} applied other commands");
    }

    // Every peer accepted both lanes from both others, refused nothing, dropped nothing as bad.
    for (i, (node, _, stats)) in peers.iter().enumerate() {
        let tcp = stats.snapshot();
        assert!(
            tcp.accepted >= 4,
            "peer {i} accepted {} connections",
            tcp.accepted
        );
        assert!(tcp.connects >= 4, "peer {i} made {} connections", tcp.connects);
        assert_eq!(tcp.refused_total(), 0, "peer {i}: {tcp:?}");
        assert_eq!(tcp.decode_failures, 0, "peer {i}: {tcp:?}");
        let node_stats = node.stats();
        assert_eq!(node_stats.decode_failures, 0, "peer {i}: {node_stats:?}");
        assert_eq!(node_stats.refused.total(), 0, "peer {i}: {node_stats:?}");
    }
    // Dropping the peers stops their transports and joins their threads, within the test.
    let stopped = Instant::now();
    drop(peers);
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        stopped.elapsed()
    );
}
