//! # raft-node: the runtime that makes a raft-core state machine a live peer
//!
//! [`RaftNode::with_transport`] starts one peer over any [`Transport`]; [`make`] is 6.824's
//! `Make(peers, me, persister, applyCh)`, the same over raft-labrpc ([`LabrpcTransport`]).
//! A peer is an event-loop thread that owns its [`raft_core::Raft`] and an applier thread
//! that delivers committed commands. The loop waits on one bounded channel of events
//! (requests from peers with their responders, replies to its own requests, proposals, kill)
//! with a deadline for its next tick. After every input it carries out the state machine's
//! [`raft_core::Ready`] in the one order Figure 2 allows: persist, then send, then apply
//! (the `event_loop` module).
//!
//! There is no mutex around Raft state: the loop owns it, so no lock can be taken twice and no
//! RPC can hold up an election. The loop hands each request to its transport and never waits
//! on a peer; what comes back reaches it through the peer's [`Inbox`] ([`Transport`] says
//! what a transport promises: the true sender, replies paired with calls, bad bytes counted).
//! It does wait on the service: committed entries go through a bounded queue
//! ([`APPLY_QUEUE_MAX`]), and a service that stops reading its apply channel holds the loop,
//! ticks included, once that queue is full. Keep reading it.
//!
//! The API is the one MIT 6.824's tests drive: `make(peers, me, persister, apply_tx)`,
//! [`RaftNode::get_state`], [`RaftNode::start`], [`RaftNode::snapshot`], [`RaftNode::kill`];
//! plus [`RaftNode::stats`], the counts of what the peer dropped, [`RaftNode::status`], what
//! it knows of itself (term, role, leader, commit index, state size), published by its loop,
//! and [`RaftNode::transfer_leadership`], which hands a leader's role to another peer.
//!
//! ```
//! use raft_core::ReadId;
//! use raft_labrpc::{Network, Server};
//! use raft_node::{make, ApplyMsg, NodeOptions, StartError};
//! use raft_storage::MemoryPersister;
//!
//! // A cluster of one over the simulated network elects itself and commits a command.
//! let net = Network::with_seed(1);
//! let own_end = net.make_end("0->0").unwrap(); // peers[me] is this peer's own end, never used
//! let (apply_tx, apply_rx) = flume::bounded(16);
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
//!         assert_eq!(command, b"x=1"[..]);
//!     }
//!     other => unreachable!("no snapshot was taken, no read asked yet: {other:?}"),
//! }
//! // A read (ReadIndex, the default; a cluster of one confirms it at once): its index comes
//! // behind the commands it must see.
//! node.read(ReadId(1)).unwrap();
//! let read = ApplyMsg::Read { id: ReadId(1), result: Ok(index) };
//! assert_eq!(apply_rx.recv().unwrap(), read);
//! // A killed peer is no leader, and says it stopped rather than "not leader".
//! node.kill();
//! assert!(!node.get_state().1);
//! assert_eq!(node.start(b"x=2".to_vec()), Err(StartError::Stopped));
//! assert_eq!(node.stats().decode_failures, 0);
//! ```
//!
//! ## Errors and panics
//! Bad input from the network is answered by the protocol, refused by raft-core's gate, or
//! dropped by the transport, and counted ([`NodeStats`]). A storage failure stops the peer (it
//! must not answer what it could not persist) and is reported by tracing. However the loop
//! ends (killed, storage failure, a panic), the peer says so: [`RaftNode::stopped`],
//! `get_state` reports no leader, and `start` answers [`StartError::Stopped`].
//!
//! ## Bounds
//! Every queue has a named bound: the loop's events ([`EVENT_QUEUE_MAX`]: a full queue drops an
//! incoming message, counted, and makes a proposal wait), the committed entries waiting for
//! the applier ([`APPLY_QUEUE_MAX`]: past it the loop waits for the service, backpressure
//! instead of growth), and the responders of requests being handled (one Ready's worth).
#![forbid(unsafe_code)]

mod event_loop;
mod labrpc;
mod node;
mod options;
mod transport;

pub use event_loop::{APPLY_QUEUE_MAX, EVENT_QUEUE_MAX, EVENTS_PER_READY_MAX};
pub use labrpc::{LabrpcTransport, SERVICE, service};
pub use node::{ApplyMsg, NodeError, NodeStats, NodeStatus, RaftNode, StartError, make};
pub use options::NodeOptions;
pub use transport::{Inbox, Responder, Transport};
