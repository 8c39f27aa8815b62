//! Three raft-node peers over TCP on loopback elect one leader and commit commands, every
//! peer applying the same commands at the same indices.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{WAIT_MAX, bind, identity, tcp_node, tcp_node_on, wait_until};
use raft_core::LogIndex;
use raft_node::{ApplyMsg, NodeOptions};
use raft_storage::MemoryPersister;

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
                    applied.insert(index, command.to_vec());
                }
                Ok(ApplyMsg::Snapshot { .. }) => panic!("peer {i}: no snapshot was taken"),
                Ok(ApplyMsg::Read { .. }) => panic!("peer {i}: no read was asked for"),
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

/// Waits until `apply_rx` has delivered `command`; the commands it delivered up to it.
fn applied_through(apply_rx: &flume::Receiver<ApplyMsg>, command: &[u8]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT_MAX;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match apply_rx.recv_timeout(left) {
            Ok(ApplyMsg::Command { command: got, .. }) => {
                let done = got == command;
                seen.push(got.to_vec());
                if done {
                    return seen;
                }
            }
            Ok(ApplyMsg::Snapshot { .. }) => panic!("no snapshot was taken"),
            Ok(ApplyMsg::Read { .. }) => panic!("no read was asked for"),
            Err(e) => panic!(
                "{:?} not applied (saw {seen:?}): {e}",
                String::from_utf8_lossy(command)
            ),
        }
    }
}

#[test]
fn a_restarted_peer_is_dialed_again_and_catches_up() {
    let listeners: Vec<_> = (0..3).map(|_| bind()).collect();
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").to_string())
        .collect();
    let disks: Vec<MemoryPersister> = (0..3).map(|_| MemoryPersister::new()).collect();
    // Election timeouts of 1.5-3 s rather than 300-600 ms: the test is about redialing a
    // restarted peer, and assumes the first leader keeps its lead throughout. With the
    // defaults, a loaded machine that starves the leader for a few hundred ms, or the restarted
    // peer timing out before the leader's redial (its backoff reaches 1 s), starts an election
    // that can strand an uncommitted command (raft-core appends no entry on election).
    let options = NodeOptions {
        seed: Some(5),
        election_timeout_ticks_min: 150,
        election_timeout_ticks_max: 300,
        ..NodeOptions::default()
    };
    let mut peers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            Some(tcp_node_on(
                i,
                addrs.clone(),
                l,
                identity(),
                options.clone(),
                disks[i].clone(),
            ))
        })
        .collect();
    let leader_of = |peers: &[Option<_>]| {
        peers.iter().position(|p: &Option<(raft_node::RaftNode, _, _)>| {
            p.as_ref().is_some_and(|(node, _, _)| node.get_state().1)
        })
    };
    assert!(wait_until(WAIT_MAX, || leader_of(&peers).is_some()), "no leader");
    let leader = leader_of(&peers).expect("a leader");
    let follower = (leader + 1) % 3;
    let start = |peers: &[Option<(raft_node::RaftNode, _, _)>], command: &[u8]| {
        let (node, _, _) = peers[leader].as_ref().expect("running");
        node.start(command.to_vec()).expect("the leader takes it");
    };
    start(&peers, b"one");
    let (_, apply_rx, _) = peers[follower].as_ref().expect("running");
    applied_through(apply_rx, b"one");

    // The follower stops (its transport closes its connections and its listener); the
    // other two still commit.
    peers[follower] = None;
    start(&peers, b"two");
    let (_, leader_rx, leader_stats) = peers[leader].as_ref().expect("running");
    applied_through(leader_rx, b"two");
    assert!(
        wait_until(WAIT_MAX, || leader_stats.snapshot().connect_failures > 0),
        "the leader never noticed the follower was gone"
    );

    // It comes back on the same address and its own disk; the peers dial it again and it
    // applies what it missed, in order. (It may start an election before a leader reaches
    // it; whoever leads then has both commands.)
    let listener = std::net::TcpListener::bind(&addrs[follower]).expect("the same port again");
    peers[follower] = Some(tcp_node_on(
        follower,
        addrs.clone(),
        listener,
        identity(),
        options,
        disks[follower].copy(),
    ));
    let (_, apply_rx, stats) = peers[follower].as_ref().expect("running");
    let seen = applied_through(apply_rx, b"two");
    assert_eq!(seen, vec![b"one".to_vec(), b"two".to_vec()]);
    // Its lanes to and from the others come up on their own schedules (redial backoffs,
    // accept polls): wait for them, bounded, rather than read the counts at once.
    assert!(
        wait_until(WAIT_MAX, || {
            let tcp = stats.snapshot();
            tcp.accepted >= 2 && tcp.connects >= 2
        }),
        "{:?}",
        stats.snapshot()
    );
    let tcp = stats.snapshot();
    assert_eq!(tcp.refused_total(), 0, "{tcp:?}");
}

#[test]
fn a_transport_that_cannot_start_fails_the_peer_with_its_error() {
    // Peer 5 of a list of 3: the transport refuses, and the peer is not made.
    let listener = bind();
    let peers = vec![common::dead_addr(), common::dead_addr(), common::dead_addr()];
    let config = raft_tcp::PeerConfig {
        me: raft_core::PeerId(5),
        peers,
        identity: identity(),
    };
    let (apply_tx, _apply_rx) = flume::bounded(16);
    let made = raft_node::RaftNode::with_transport(
        0,
        3,
        MemoryPersister::new(),
        apply_tx,
        NodeOptions::default(),
        |inbox| raft_tcp::TcpTransport::start(config, listener, inbox, std::sync::Arc::default()),
    );
    match made {
        Err(raft_node::NodeError::Transport(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("peer 5"), "{e}");
        }
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("the peer started"),
    }
}
