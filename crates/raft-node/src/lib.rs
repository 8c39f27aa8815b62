//! # raft-node: the runtime that makes a raft-core state machine a live peer
//!
//! [`make`] starts one peer: an event-loop thread that owns its [`raft_core::Raft`] and an
//! applier thread that delivers committed commands. The loop waits on one channel of
//! [`Event`](event_loop)s (incoming RPCs with their responders, replies to its own RPCs,
//! proposals, kill) with a deadline for its next tick. After every input it carries out the
//! state machine's [`raft_core::Ready`] in the one order Figure 2 allows: persist, then send,
//! then apply ([`event_loop`]).
//!
//! There is no mutex around Raft state: the loop owns it, so no lock can be taken twice and no
//! RPC can hold up an election. Outgoing RPCs are non-blocking labrpc calls whose replies come
//! back as events; the loop never waits on a peer.
//!
//! The API is the one MIT 6.824's tests drive: `make(peers, me, persister, apply_tx)`,
//! [`RaftNode::get_state`], [`RaftNode::start`], [`RaftNode::kill`].
//!
//! ```
//! use raft_labrpc::{Network, Server};
//! use raft_node::{make, ApplyMsg, NodeOptions};
//! use raft_storage::MemoryPersister;
//!
//! // A cluster of one over the simulated network elects itself and commits a command.
//! let net = Network::with_seed(1);
//! let own_end = net.make_end("0->0").unwrap(); // peers[me] is this peer's own end, never used
//! let (apply_tx, apply_rx) = flume::unbounded();
//! let node = make(vec![own_end], 0, MemoryPersister::new(), apply_tx, NodeOptions::default()).unwrap();
//! let mut server = Server::new();
//! server.add_service(node.service());
//! net.add_server("0", server);
//! while !node.get_state().1 {
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! }
//! let (index, _term) = node.start(b"x=1".to_vec()).unwrap();
//! match apply_rx.recv().unwrap() {
//!     ApplyMsg::Command { index: applied, command, .. } => {
//!         assert_eq!(applied, index);
//!         assert_eq!(command, b"x=1");
//!     }
//!     ApplyMsg::Snapshot { .. } => unreachable!("no snapshot was taken"),
//! }
//! node.kill();
//! ```
//!
//! ## Errors and panics
//! Bad input from the network is answered by the protocol or dropped; a storage failure stops
//! the peer (it must not answer what it could not persist) and is reported by tracing.
#![forbid(unsafe_code)]

mod event_loop;
mod node;
mod options;

pub use node::{ApplyMsg, NodeError, RaftNode, SERVICE, make};
pub use options::NodeOptions;
