//! # raft-tcp: Raft peers and their clients over TCP
//!
//! raft-node runs a Raft peer over any [`raft_node::Transport`]; this crate is the one for a
//! real network. [`TcpTransport`] connects the peers of a cluster to each other;
//! [`ClientServer`] and [`ClientConn`] carry a service's client requests (opaque bytes) to a
//! peer and its replies back.
//!
//! ## What Raft needs from a network, and what this one adds
//!
//! Raft tolerates a network that loses, delays, duplicates and reorders messages: every
//! request is retried in a later heartbeat or election, and every reply carries what the
//! receiver needs to act on it. So a transport may drop rather than wait, and this one does:
//! [`raft_node::Transport::send`] only queues, and a full queue drops its oldest request
//! (counted in [`TcpStatsSnapshot::dropped_queue_full`]). What Raft does *not* tolerate is a
//! message from someone who is not a peer: a stranger's RequestVote with a huge term would
//! depose the leader. So before any Raft byte, each connection is authenticated.
//!
//! ## Frames
//!
//! TCP carries a stream of bytes; [`frame`] cuts it into messages: a 4-byte little-endian
//! length, then that many bytes of postcard. A length over [`FRAME_MAX`] is refused before
//! anything is allocated for it, and a body's buffer grows only as its bytes arrive.
//!
//! ## The handshake
//!
//! The dialer says who it is (`Hello`: protocol version, cluster id, role, a random nonce);
//! the acceptor checks the version, the cluster id and the role (a peer id of this cluster,
//! not the acceptor itself, dialing the acceptor), then both prove they hold the cluster's
//! shared [`Secret`] with an HMAC-SHA256 over the Hello and the acceptor's nonce. Neither
//! end's proof can be replayed on another connection, and the secret never crosses the wire.
//! Each refusal is traced with the address and the reason, counted in [`TcpStats`], and told
//! to the dialer when that is safe. From then on the connection *is* the peer it proved to
//! be: a request arriving on it is handed to Raft as coming from that peer, whatever the
//! request claims, and raft-core's gate refuses a request whose `candidate_id` or
//! `leader_id` is someone else.
//!
//! ## Two lanes per peer pair
//!
//! Peer `i` dials peer `j` twice: a **Control** lane for RequestVote and heartbeats (empty
//! AppendEntries), a **Bulk** lane for AppendEntries with entries and InstallSnapshot. On one
//! connection a heartbeat queued behind a multi-megabyte snapshot would wait for all of it to
//! be written, and a follower that hears no heartbeat for an election timeout starts an
//! election: the leader would be deposed by its own large message. Raft does not mind that the
//! two lanes reorder messages between them.
//!
//! Each lane has one writer thread (connect, authenticate, write queued requests, each with a
//! number) and, while connected, one reader thread (replies come back on the same connection,
//! each paired with its request by number; a reply to no outstanding number is counted and
//! dropped). A lane that fails reconnects after a pause of 50 ms doubling to 1 s, and drops
//! what was queued for the unreachable peer: Raft will send the current state again. A lane
//! on which requests went out and nothing came back for [`outgoing::SILENCE_MAX`] is taken
//! for dead and redialed. The acceptor runs a reader (requests to the peer's inbox) and a
//! writer (the replies, queued by the responders, so the Raft loop never waits on a socket)
//! per connection; a peer that connects a lane again replaces its old connection.
//!
//! ## Clients
//!
//! [`ClientServer`] authenticates clients with the same handshake (role `Client`) and hands
//! each request's bytes to a handler with a [`ClientReplier`]; [`ClientConn`] makes one call
//! at a time and matches replies by id, so a late reply to a call that timed out is skipped.
//!
//! ## Errors and bounds
//!
//! Nothing that arrives from the network panics: bad bytes are refused, counted and traced.
//! Every queue is bounded ([`PEER_QUEUE_MAX`], [`server::CLIENT_REPLY_QUEUE_MAX`]), as are
//! the connections open at once and each wait (connect, handshake, a stalled write). Dropping
//! a [`TcpTransport`] or a [`ClientServer`] closes its connections and joins its threads.
#![forbid(unsafe_code)]

mod client;
pub mod frame;
mod handshake;
mod identity;
mod incoming;
pub mod outgoing;
mod queue;
mod runtime;
pub mod server;
mod stats;
mod transport;

#[cfg(test)]
mod fuzz_tests;

pub use client::{CallError, ClientConn, ConnectError};
pub use handshake::{HANDSHAKE_TIMEOUT, Lane};
pub use identity::{CLUSTER_ID_MAX, Identity, IdentityError, SECRET_MIN, Secret, SecretError};
pub use server::{ClientReplier, ClientServer};
pub use stats::{TcpStats, TcpStatsSnapshot};
pub use transport::{PeerConfig, TcpTransport};

/// The protocol version this build speaks; a dialer of another version is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// The most body bytes one frame may have (16 MiB); a longer frame is refused, and a request
/// that would need one (a larger snapshot) is dropped and counted.
pub const FRAME_MAX: usize = 16 << 20;

/// The most requests queued per peer and lane; a full queue drops its oldest.
pub const PEER_QUEUE_MAX: usize = 1024;
