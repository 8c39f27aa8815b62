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
//! (counted in [`TcpStatsSnapshot::dropped_queue_full`]), as a newer request drops a queued
//! one it carries all of (counted in [`TcpStatsSnapshot::dropped_superseded`]). What Raft
//! does *not* tolerate is a
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
//! not the acceptor itself, dialing the acceptor), then both prove they hold the [`Secret`]
//! this port was given with an HMAC-SHA256 over the Hello and the acceptor's nonce. Neither
//! end's proof can be replayed on another connection, and the secret never crosses the wire.
//! Each refusal is traced with the address and the reason, counted in [`TcpStats`], and told
//! to the dialer when that is safe.
//!
//! What the handshake proves, precisely: that the dialer holds the secret given to the port
//! it dialed (and, to the dialer, that the acceptor holds it too). No more. The peers of a
//! cluster share one secret, so the peer id a dialer claims is believed, not proved: any
//! holder of the peer secret could claim to be any peer. The server binary gives the peer
//! port and the client port different secrets, so a client, who holds only the client
//! secret, cannot pose as a peer. A request arriving on a peer connection is handed to Raft
//! as coming from the peer the connection claimed, whatever the request itself names, and
//! raft-core's gate refuses a request whose `candidate_id` or `leader_id` is another peer.
//!
//! Frames after the handshake carry no MAC and are not encrypted. The handshake keeps out an
//! attacker off the path, who cannot complete it nor write into a connection it is not part
//! of; an attacker on the path can read every frame, and inject or alter frames of an
//! authenticated connection. Run the cluster on a network you trust; TLS, or a MAC on each
//! frame under a key derived in the handshake, is future work.
//!
//! ## Two lanes per peer pair
//!
//! Peer `i` dials peer `j` twice: a **Control** lane for RequestVote, heartbeats (empty
//! AppendEntries) and AppendEntries whose entries are small (at most
//! [`outgoing::CONTROL_ENTRIES_MAX`] bytes: the common append to a follower a little behind),
//! a **Bulk** lane for larger AppendEntries and InstallSnapshot. On one connection a heartbeat
//! queued behind a multi-megabyte snapshot would wait for all of it to be written, and a
//! follower that hears no heartbeat for an election timeout starts an election: the leader
//! would be deposed by its own large message. Raft does not mind that the two lanes reorder
//! messages between them (a small append may overtake a large one sent before it: the
//! follower checks each against its log on its own, and the leader never lowers a follower's
//! `match_index` for a late reply).
//!
//! A known limitation: raft-core sends a follower that needs a snapshot the snapshot *instead
//! of* a heartbeat, so while it needs one its heartbeats travel on Bulk, as InstallSnapshot,
//! and one can wait behind the snapshot sent before it (a newer queued snapshot replaces an
//! older one, so never behind more than the one being written). To be fixed in raft-core,
//! which should send a heartbeat beside the snapshot.
//!
//! Each lane has one writer thread (connect, authenticate, write queued requests, each with a
//! number) and, while connected, one reader thread (replies come back on the same connection,
//! each paired with its request by number; a reply to no outstanding number is counted and
//! dropped). A lane that fails reconnects after a pause of 50 ms doubling to 1 s, and drops
//! what was queued for the unreachable peer: Raft will send the current state again. A lane
//! on which a request and a later one have each waited [`outgoing::SILENCE_MAX`] with no
//! reply at all coming back is taken for dead and redialed (one unanswered request is no
//! sign: the receiver's gate refuses some without a reply). The acceptor runs a reader (requests to the peer's inbox) and a
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
//! Every queue is bounded by a count and by bytes ([`PEER_QUEUE_MAX`],
//! [`PEER_LANE_BYTES_MAX`], [`server::CLIENT_REPLY_QUEUE_MAX`],
//! [`server::CLIENT_REPLY_BYTES_MAX`]); a newer InstallSnapshot replaces a queued one, and an
//! AppendEntries replaces a queued one whose entries it all carries. Each wait is bounded
//! (connect, handshake, a stalled write), a deadline as a whole however the other end trickles
//! its bytes.
//!
//! The connections a listener serves at once are bounded too, in two budgets: those still in
//! their handshake (strangers among them: the Hello must come within [`HELLO_TIMEOUT`], and
//! when every place is taken the oldest handshake is closed to make room, counted in
//! [`TcpStatsSnapshot::evicted_handshakes`]) and those authenticated (on the peer port, two
//! lanes of each other peer and as many again for redials; on the client port
//! [`server::CLIENT_CONNS_MAX`]). So strangers never take an authenticated connection's place,
//! and to keep a peer out they would have to open [`PEER_HANDSHAKES_EXTRA`] and more
//! connections within each of its handshakes. Warning lines about refusals are limited to one
//! per reason per second, each counting the lines left out. A listener's accept thread
//! sleeps in poll(2) until a connection comes or the transport stops (no timer). Dropping
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
pub use handshake::{HANDSHAKE_TIMEOUT, HELLO_TIMEOUT, Lane};
pub use identity::{CLUSTER_ID_MAX, Identity, IdentityError, SECRET_MIN, Secret, SecretError};
pub use server::{ClientReplier, ClientServer};
pub use stats::{TcpStats, TcpStatsSnapshot};
pub use transport::{PEER_HANDSHAKES_EXTRA, PeerConfig, TcpTransport};

/// The protocol version this build speaks; a dialer of another version is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// The most body bytes one frame may have (16 MiB); a longer frame is refused, and a request
/// that would need one (a larger snapshot) is dropped and counted.
pub const FRAME_MAX: usize = 16 << 20;

/// The most requests queued per peer and lane; a full queue drops its oldest.
pub const PEER_QUEUE_MAX: usize = 1024;

/// The most bytes of requests queued per peer and lane (64 MiB); past it the oldest are
/// dropped. raft-core sends a follower that needs a snapshot the whole snapshot (up to
/// [`FRAME_MAX`]) every heartbeat: a count alone would let a slow lane hold gigabytes.
pub const PEER_LANE_BYTES_MAX: usize = 64 << 20;
