//! Counters of what the transport and the client port accepted, refused and dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters, shared by the threads of a [`crate::TcpTransport`] or a
/// [`crate::ClientServer`] (one `TcpStats` may serve both). Read with [`TcpStats::snapshot`].
#[derive(Debug, Default)]
pub struct TcpStats {
    accepted: AtomicU64,
    refused_version: AtomicU64,
    refused_cluster: AtomicU64,
    refused_peer: AtomicU64,
    refused_auth: AtomicU64,
    refused_frame: AtomicU64,
    refused_handshake: AtomicU64,
    refused_busy: AtomicU64,
    evicted_handshakes: AtomicU64,
    decode_failures: AtomicU64,
    unknown_replies: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_superseded: AtomicU64,
    dropped_unreachable: AtomicU64,
    dropped_too_large: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    replaced: AtomicU64,
}

/// The counters at one moment. Every refusal is counted by the side that refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpStatsSnapshot {
    /// Incoming connections that completed the handshake.
    pub accepted: u64,
    /// Handshakes refused for a protocol version this build does not speak.
    pub refused_version: u64,
    /// Handshakes refused for another cluster id.
    pub refused_cluster: u64,
    /// Handshakes refused for the role claimed: an unknown peer id, this peer itself, a
    /// dialer that meant another peer, or a client on the peer port (and the reverse).
    pub refused_peer: u64,
    /// Handshakes refused because a proof did not verify (the secrets differ).
    pub refused_auth: u64,
    /// Connections closed for a frame over [`crate::FRAME_MAX`].
    pub refused_frame: u64,
    /// Handshakes refused for bytes that are no handshake, or that stalled or ended early.
    pub refused_handshake: u64,
    /// Connections closed at once because too many were open or being authenticated.
    pub refused_busy: u64,
    /// Connections closed in their handshake to make room for a newer one: every handshake
    /// place was taken (a flood of connections, or many slow dialers).
    pub evicted_handshakes: u64,
    /// Frames of an authenticated connection that did not decode (dropped, not stepped).
    pub decode_failures: u64,
    /// Replies to no outstanding request (dropped, not stepped).
    pub unknown_replies: u64,
    /// Requests or replies dropped because their queue was full, by count or by bytes (the
    /// oldest goes first).
    pub dropped_queue_full: u64,
    /// Queued requests dropped because a newer one made them useless: a newer
    /// InstallSnapshot, or an AppendEntries carrying everything an older one did.
    pub dropped_superseded: u64,
    /// Requests dropped because their peer could not be reached.
    pub dropped_unreachable: u64,
    /// Requests or replies dropped because they would make a frame over the limit.
    pub dropped_too_large: u64,
    /// Outgoing connections that completed the handshake.
    pub connects: u64,
    /// Outgoing connections that failed to connect or to complete the handshake.
    pub connect_failures: u64,
    /// Incoming peer connections closed because the same peer and lane connected again.
    pub replaced: u64,
}

/// One counter of [`TcpStats`], named for the code that adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    Accepted,
    RefusedVersion,
    RefusedCluster,
    RefusedPeer,
    RefusedAuth,
    RefusedFrame,
    RefusedHandshake,
    RefusedBusy,
    EvictedHandshakes,
    DecodeFailures,
    UnknownReplies,
    DroppedQueueFull,
    DroppedSuperseded,
    DroppedUnreachable,
    DroppedTooLarge,
    Connects,
    ConnectFailures,
    Replaced,
}

impl Counter {
    /// The counter's name (its field in [`TcpStatsSnapshot`]), for traces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Counter::Accepted => "accepted",
            Counter::RefusedVersion => "refused_version",
            Counter::RefusedCluster => "refused_cluster",
            Counter::RefusedPeer => "refused_peer",
            Counter::RefusedAuth => "refused_auth",
            Counter::RefusedFrame => "refused_frame",
            Counter::RefusedHandshake => "refused_handshake",
            Counter::RefusedBusy => "refused_busy",
            Counter::EvictedHandshakes => "evicted_handshakes",
            Counter::DecodeFailures => "decode_failures",
            Counter::UnknownReplies => "unknown_replies",
            Counter::DroppedQueueFull => "dropped_queue_full",
            Counter::DroppedSuperseded => "dropped_superseded",
            Counter::DroppedUnreachable => "dropped_unreachable",
            Counter::DroppedTooLarge => "dropped_too_large",
            Counter::Connects => "connects",
            Counter::ConnectFailures => "connect_failures",
            Counter::Replaced => "replaced",
        }
    }
}

impl TcpStats {
    /// Fresh counters, all zero.
    #[must_use]
    pub fn new() -> TcpStats {
        TcpStats::default()
    }

    /// Reads every counter.
    #[must_use]
    pub fn snapshot(&self) -> TcpStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStatsSnapshot {
            accepted: get(&self.accepted),
            refused_version: get(&self.refused_version),
            refused_cluster: get(&self.refused_cluster),
            refused_peer: get(&self.refused_peer),
            refused_auth: get(&self.refused_auth),
            refused_frame: get(&self.refused_frame),
            refused_handshake: get(&self.refused_handshake),
            refused_busy: get(&self.refused_busy),
            evicted_handshakes: get(&self.evicted_handshakes),
            decode_failures: get(&self.decode_failures),
            unknown_replies: get(&self.unknown_replies),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_superseded: get(&self.dropped_superseded),
            dropped_unreachable: get(&self.dropped_unreachable),
            dropped_too_large: get(&self.dropped_too_large),
            connects: get(&self.connects),
            connect_failures: get(&self.connect_failures),
            replaced: get(&self.replaced),
        }
    }

    /// Adds `n` to `counter` (saturating: a counter never wraps back to small numbers).
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let cell = match counter {
            Counter::Accepted => &self.accepted,
            Counter::RefusedVersion => &self.refused_version,
            Counter::RefusedCluster => &self.refused_cluster,
            Counter::RefusedPeer => &self.refused_peer,
            Counter::RefusedAuth => &self.refused_auth,
            Counter::RefusedFrame => &self.refused_frame,
            Counter::RefusedHandshake => &self.refused_handshake,
            Counter::RefusedBusy => &self.refused_busy,
            Counter::EvictedHandshakes => &self.evicted_handshakes,
            Counter::DecodeFailures => &self.decode_failures,
            Counter::UnknownReplies => &self.unknown_replies,
            Counter::DroppedQueueFull => &self.dropped_queue_full,
            Counter::DroppedSuperseded => &self.dropped_superseded,
            Counter::DroppedUnreachable => &self.dropped_unreachable,
            Counter::DroppedTooLarge => &self.dropped_too_large,
            Counter::Connects => &self.connects,
            Counter::ConnectFailures => &self.connect_failures,
            Counter::Replaced => &self.replaced,
        };
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_add(n))
        });
    }

    /// Adds one to `counter`.
    pub(crate) fn count(&self, counter: Counter) {
        self.add(counter, 1);
    }
}

impl TcpStatsSnapshot {
    /// Handshakes refused for any reason (not counting `refused_busy` nor
    /// `evicted_handshakes`).
    #[must_use]
    pub fn refused_total(&self) -> u64 {
        [
            self.refused_version,
            self.refused_cluster,
            self.refused_peer,
            self.refused_auth,
            self.refused_frame,
            self.refused_handshake,
        ]
        .iter()
        .fold(0, |sum, n| sum.saturating_add(*n))
    }
}
