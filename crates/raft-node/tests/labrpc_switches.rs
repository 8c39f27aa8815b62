//! raft-core's pre-vote, check-quorum and leadership transfer through raft-node over labrpc,
//! on the wall clock: a PreVote must travel as `Raft.PreVote` and its reply come back, or no
//! peer could ever campaign; a leader cut off must step down on its own; a TimeoutNow must
//! travel as `Raft.TimeoutNow`, or no transfer could finish.

use std::time::{Duration, Instant};

use raft_core::{PeerId, TransferError};
use raft_labrpc::{Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, StartError, make};
use raft_storage::MemoryPersister;

const PEERS: usize = 3;
/// The longest a wait may take: far above the 300-600 ms election timeouts.
const WAIT_MAX: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// The peers, killed when the test ends, passed or not.
struct Cluster {
    net: Network,
    nodes: Vec<RaftNode>,
    applied: Vec<flume::Receiver<ApplyMsg>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.kill();
        }
    }
}

fn end_name(from: usize, to: usize) -> String {
    format!("end-{from}-{to}")
}

fn cluster() -> Cluster {
    let net = Network::new();
    let mut nodes = Vec::new();
    let mut applied = Vec::new();
    for i in 0..PEERS {
        let ends = (0..PEERS)
            .map(|j| {
                let name = end_name(i, j);
                let end = net.make_end(name.clone()).expect("fresh end name");
                net.connect(&name, &j.to_string());
                net.enable(&name, true);
                end
            })
            .collect();
        let (tx, rx) = flume::unbounded();
        let options = NodeOptions {
            seed: Some(40 + i as u64),
            pre_vote: true,
            check_quorum: true,
            ..NodeOptions::default()
        };
        let node = make(ends, i, MemoryPersister::new(), tx, options).expect("make succeeds");
        let mut server = Server::new();
        server.add_service(node.service());
        net.add_server(i.to_string(), server);
        nodes.push(node);
        applied.push(rx);
    }
    Cluster { net, nodes, applied }
}

fn wait_for<T>(what: &str, found: impl Fn() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < WAIT_MAX {
        if let Some(t) = found() {
            return t;
        }
        std::thread::sleep(POLL);
    }
    panic!("{what}: not within {WAIT_MAX:?}");
}

fn leader(nodes: &[RaftNode], among: impl Fn(usize) -> bool) -> Option<usize> {
    (0..nodes.len()).find(|i| among(*i) && nodes[*i].get_state().1)
}

#[test]
fn with_pre_vote_and_check_quorum_peers_elect_commit_and_a_cut_off_leader_steps_down() {
    let c = cluster();
    let first = wait_for("a leader", || leader(&c.nodes, |_| true));
    let (term, _) = c.nodes[first].get_state();
    let (index, _) = c.nodes[first]
        .start(b"x".to_vec())
        .expect("the leader takes a command");
    for rx in &c.applied {
        let got = wait_for("the command applied everywhere", || {
            rx.try_iter().find_map(|m| match m {
                ApplyMsg::Command {
                    index: i, command, ..
                } if i == index => Some(command),
                _ => None,
            })
        });
        assert_eq!(got, b"x"[..]);
    }
    for j in 0..PEERS {
        if j != first {
            c.net.enable(&end_name(first, j), false);
            c.net.enable(&end_name(j, first), false);
        }
    }
    let cut = Instant::now();
    wait_for("the cut-off leader steps down", || {
        (!c.nodes[first].get_state().1).then_some(())
    });
    let (after, _) = c.nodes[first].get_state();
    assert_eq!(
        after, term,
        "it steps down in its own term (no vote asked can reach it)"
    );
    let second = wait_for("a new leader", || leader(&c.nodes, |i| i != first));
    assert!(c.nodes[second].get_state().0 > term);
    assert!(cut.elapsed() < WAIT_MAX);
}

#[test]
fn a_leader_hands_its_role_to_the_peer_it_names() {
    let c = cluster();
    let old = wait_for("a leader", || leader(&c.nodes, |_| true));
    let (term, _) = c.nodes[old].get_state();
    let (index, _) = c.nodes[old]
        .start(b"x".to_vec())
        .expect("the leader takes a command");
    for rx in &c.applied {
        wait_for("the command applied everywhere", || {
            rx.try_iter()
                .any(|m| matches!(m, ApplyMsg::Command { index: i, .. } if i == index))
                .then_some(())
        });
    }
    let target = (old + 1) % PEERS;
    let other = (old + 2) % PEERS;
    let id = |i: usize| PeerId(i as u32);
    assert_eq!(
        c.nodes[other].transfer_leadership(id(target)),
        Err(TransferError::NotLeader {
            leader_hint: Some(id(old))
        }),
        "only the leader transfers"
    );
    assert_eq!(
        c.nodes[old].transfer_leadership(id(old)),
        Err(TransferError::ToSelf)
    );
    c.nodes[old]
        .transfer_leadership(id(target))
        .expect("the leader begins the transfer");
    match c.nodes[old].start(b"y".to_vec()) {
        Err(StartError::Transferring { target: t }) => assert_eq!(t, id(target)),
        Err(StartError::NotLeader { .. }) => {}
        other => panic!("a command taken during the transfer: {other:?}"),
    }
    wait_for("the target leads", || {
        let (t, leads) = c.nodes[target].get_state();
        (leads && t > term).then_some(())
    });
    let (new_term, _) = c.nodes[target].get_state();
    assert_eq!(new_term, term.next(), "elected in the very next term");
}
