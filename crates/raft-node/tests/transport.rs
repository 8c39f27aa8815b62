//! The transport seam: peers over a transport of the test's own (an in-memory switch that
//! pairs replies with calls), and the faults a transport reports (a reply to no call, a reply
//! that does not decode) or the gate refuses (a request that lies about its sender), each
//! counted in `RaftNode::stats` and never stepped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft_core::message::{Request, RequestVoteArgs};
use raft_core::{LogIndex, PeerId, Refusal, RoleKind, Term};
use raft_labrpc::{Network, Responder, Server, Service};
use raft_node::{ApplyMsg, Inbox, NodeError, NodeOptions, RaftNode, SERVICE, Transport, make};
use raft_storage::MemoryPersister;

/// The longest any wait of these tests may take before it fails.
const WAIT_MAX: Duration = Duration::from_secs(10);

/// The most calls the switch keeps outstanding; past it a request is dropped, as a network
/// out of buffers would.
const CALLS_OUTSTANDING_MAX: usize = 100_000;

/// An in-memory network: each peer's inbox, and the calls in flight by call id.
#[derive(Default)]
struct Switch {
    inboxes: Mutex<Vec<Option<Inbox>>>,
    /// Call id to the peer it was sent to.
    calls: Mutex<HashMap<u64, PeerId>>,
    next_call: AtomicU64,
    /// Delivers every reply twice, as a network that duplicates.
    duplicate_replies: AtomicBool,
}

impl Switch {
    fn inbox(&self, peer: PeerId) -> Option<Inbox> {
        let inboxes = self.inboxes.lock().expect("not poisoned");
        inboxes.get(peer.as_usize()).cloned().flatten()
    }

    fn connect(&self, peer: usize, inbox: Inbox) {
        let mut inboxes = self.inboxes.lock().expect("not poisoned");
        if inboxes.len() <= peer {
            inboxes.resize(peer + 1, None);
        }
        inboxes[peer] = Some(inbox);
    }
}

/// One peer's side of the switch.
struct SwitchTransport {
    me: PeerId,
    inbox: Inbox,
    switch: Arc<Switch>,
}

impl Transport for SwitchTransport {
    fn send(&mut self, to: PeerId, request: Request) {
        let Some(callee) = self.switch.inbox(to) else {
            return; // not connected yet: lost
        };
        let call = self.switch.next_call.fetch_add(1, Ordering::Relaxed);
        {
            let mut calls = self.switch.calls.lock().expect("not poisoned");
            if calls.len() >= CALLS_OUTSTANDING_MAX {
                return;
            }
            calls.insert(call, to);
        }
        let switch = Arc::clone(&self.switch);
        let caller = self.inbox.clone();
        // The switch knows who sends: the request goes out under this peer's own id.
        callee.request(self.me, request, move |reply| {
            let copies = if switch.duplicate_replies.load(Ordering::Relaxed) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let known = switch.calls.lock().expect("not poisoned").remove(&call) == Some(to);
                if known {
                    caller.reply(to, reply.clone());
                } else {
                    caller.unknown_reply(to);
                }
            }
        });
    }
}

/// `n` peers on one switch, with the runtime's default timing.
fn switch_cluster(n: usize) -> (Arc<Switch>, Vec<RaftNode>, Vec<flume::Receiver<ApplyMsg>>) {
    let switch = Arc::new(Switch::default());
    let mut nodes = Vec::new();
    let mut applied = Vec::new();
    for i in 0..n {
        let (apply_tx, apply_rx) = flume::bounded(64);
        let options = NodeOptions {
            seed: Some(13),
            ..NodeOptions::default()
        };
        let connect = |inbox: Inbox| {
            switch.connect(i, inbox.clone());
            Ok(SwitchTransport {
                me: PeerId(i as u32),
                inbox,
                switch: Arc::clone(&switch),
            })
        };
        let node = RaftNode::with_transport(i, n, MemoryPersister::new(), apply_tx, options, connect)
            .expect("a valid cluster");
        nodes.push(node);
        applied.push(apply_rx);
    }
    (switch, nodes, applied)
}

/// Waits, at most [`WAIT_MAX`], for `found` to find something.
fn wait_for<T>(what: &str, found: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(Instant::now() < deadline, "waited {WAIT_MAX:?} for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The one peer that leads in the highest term any peer reports.
fn leader(nodes: &[RaftNode]) -> Option<usize> {
    let states: Vec<(Term, bool)> = nodes.iter().map(RaftNode::get_state).collect();
    let top = states.iter().map(|(term, _)| *term).max()?;
    let leaders: Vec<usize> = (0..nodes.len()).filter(|&i| states[i] == (top, true)).collect();
    (leaders.len() == 1).then(|| leaders[0])
}

/// Proposes `command` until a leader takes it; waits until every peer applied it there.
fn commit_everywhere(nodes: &[RaftNode], applied: &[flume::Receiver<ApplyMsg>], command: &[u8]) {
    let index: LogIndex = wait_for("a leader to take the command", || {
        let i = leader(nodes)?;
        nodes[i].start(command.to_vec()).ok().map(|(index, _)| index)
    });
    for (i, apply_rx) in applied.iter().enumerate() {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match apply_rx.recv_timeout(left) {
                Ok(ApplyMsg::Command {
                    index: at,
                    command: c,
                    ..
                }) if at == index => {
                    assert_eq!(c, command, "peer {i} applied another command at {index:?}");
                    break;
                }
                Ok(ApplyMsg::Command { index: at, .. }) => assert!(at < index, "peer {i} skipped {index:?}"),
                Ok(ApplyMsg::Snapshot { .. }) => panic!("no snapshot is taken here"),
                Ok(ApplyMsg::Read { .. }) => panic!("no read is asked for here"),
                Err(err) => panic!("peer {i} did not apply index {index:?}: {err}"),
            }
        }
    }
}

#[test]
fn peers_over_a_transport_of_the_tests_own_elect_and_commit() {
    let (_switch, nodes, applied) = switch_cluster(3);
    commit_everywhere(&nodes, &applied, b"x=1");
    commit_everywhere(&nodes, &applied, b"x=2");
    for node in &nodes {
        assert_eq!(
            node.stats(),
            raft_node::NodeStats::default(),
            "nothing was dropped"
        );
    }
}

#[test]
fn a_reply_to_no_outstanding_call_is_counted_and_not_stepped() {
    let (switch, nodes, applied) = switch_cluster(3);
    commit_everywhere(&nodes, &applied, b"before");
    switch.duplicate_replies.store(true, Ordering::Relaxed);
    // The leader's heartbeats come back twice; the second copy answers no call.
    let at = wait_for("a reply to no outstanding call", || {
        let i = leader(&nodes)?;
        (nodes[i].stats().unknown_replies > 0).then_some(i)
    });
    let stats = nodes[at].stats();
    assert_eq!(stats.decode_failures, 0);
    assert_eq!(stats.refused.total(), 0, "the duplicate never reached the gate");
    // The cluster goes on.
    commit_everywhere(&nodes, &applied, b"after");
}

#[test]
fn a_request_that_lies_about_its_sender_is_refused_unanswered() {
    let (_switch, nodes, _applied) = switch_cluster(3);
    // Peer 2's connection, carrying a vote request that claims to come from peer 1.
    let forged = RequestVoteArgs {
        term: Term(1_000),
        candidate_id: PeerId(1),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        transfer: false,
    };
    let (answered_tx, answered_rx) = flume::bounded(1);
    nodes[0]
        .inbox()
        .request(PeerId(2), Request::RequestVote(forged), move |reply| {
            let _ = answered_tx.send(reply);
        });
    // The responder is dropped unanswered once the loop has refused the request.
    assert_eq!(
        answered_rx.recv_timeout(WAIT_MAX),
        Err(flume::RecvTimeoutError::Disconnected)
    );
    let stats = wait_for("the refusal to be published", || {
        let stats = nodes[0].stats();
        (stats.refused.total() > 0).then_some(stats)
    });
    assert_eq!(stats.refused.count(Refusal::Impersonation), 1);
    assert!(
        nodes[0].get_state().0 < Term(1_000),
        "the forged term was not adopted"
    );
}

#[test]
fn a_labrpc_reply_that_does_not_decode_is_counted_and_not_stepped() {
    // Peer 0 of two, whose only other peer answers every RequestVote with bytes that are no
    // RequestVoteReply (an empty reply).
    let net = Network::with_seed(5);
    let mut ends = Vec::new();
    for j in 0..2 {
        let name = format!("0->{j}");
        ends.push(net.make_end(name.clone()).expect("a fresh end"));
        net.connect(&name, &j.to_string());
        net.enable(&name, true);
    }
    let mut garbled = Service::new(SERVICE);
    garbled.method("RequestVote", |_: RequestVoteArgs, responder: Responder<()>| {
        responder.respond(())
    });
    let mut server = Server::new();
    server.add_service(garbled);
    net.add_server("1", server);
    let (apply_tx, _apply_rx) = flume::bounded(1);
    // Figure 2's elections: the candidate asks for votes at once, without a pre-vote round.
    let options = NodeOptions {
        pre_vote: false,
        ..NodeOptions::default()
    };
    let node = make(ends, 0, MemoryPersister::new(), apply_tx, options).expect("make");
    let mut own = Server::new();
    own.add_service(node.service());
    net.add_server("0", own);
    let failures = wait_for("a reply that does not decode", || {
        let failures = node.stats().decode_failures;
        (failures > 0).then_some(failures)
    });
    assert!(failures >= 1);
    // Had the garbage counted as a vote, the candidate would lead with two of two.
    assert!(!node.get_state().1, "no vote came back, so no leader");
    node.kill();
    net.cleanup();
}

#[test]
fn a_transport_that_cannot_start_fails_the_peer_with_its_error() {
    let (apply_tx, _apply_rx) = flume::bounded(1);
    let connect = |_inbox: Inbox| -> std::io::Result<SwitchTransport> {
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "the test's port is taken",
        ))
    };
    let made = RaftNode::with_transport(
        0,
        3,
        MemoryPersister::new(),
        apply_tx,
        NodeOptions::default(),
        connect,
    );
    match made {
        Err(NodeError::Transport(err)) => {
            assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
            let shown = NodeError::Transport(err).to_string();
            assert!(
                shown.contains("transport") && shown.contains("port is taken"),
                "{shown}"
            );
        }
        Err(other) => panic!("another error than the transport's: {other}"),
        Ok(_) => panic!("a peer started without its transport"),
    }
}

#[test]
fn status_names_the_leader_the_commit_index_and_the_state_size() {
    let (_switch, nodes, applied) = switch_cluster(3);
    let fresh = nodes[0].status();
    assert!(
        fresh.raft_state_size > 0,
        "even an empty peer persists term and vote"
    );
    commit_everywhere(&nodes, &applied, b"x=1");
    let at = wait_for("one leader", || leader(&nodes));
    let status = nodes[at].status();
    assert_eq!(status.role, RoleKind::Leader);
    assert_eq!(status.leader, Some(PeerId(at as u32)));
    assert_eq!((status.term, true), nodes[at].get_state());
    assert!(status.commit_index >= LogIndex(1), "x=1 committed: {status:?}");
    assert!(
        status.raft_state_size > fresh.raft_state_size,
        "the log grew: {status:?}"
    );
    // The followers learn the leader and the commit from its heartbeats.
    for (i, node) in nodes.iter().enumerate().filter(|&(i, _)| i != at) {
        let status = wait_for("a follower to know leader and commit", || {
            let status = node.status();
            (status.leader == Some(PeerId(at as u32)) && status.commit_index >= LogIndex(1)).then_some(status)
        });
        assert_eq!(status.role, RoleKind::Follower, "peer {i}");
    }
    // A killed peer leads nothing and names no leader.
    nodes[at].kill();
    let stopped = nodes[at].status();
    assert_eq!(stopped.role, RoleKind::Follower);
    assert_eq!(stopped.leader, None);
    assert!(stopped.term >= status.term, "the term never goes back");
}
