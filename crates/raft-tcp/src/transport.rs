//! [`TcpTransport`]: raft-node's [`Transport`] over TCP.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use raft_core::PeerId;
use raft_core::message::Request;
use raft_node::{Inbox, Transport};

use crate::handshake::Lane;
use crate::identity::Identity;
use crate::incoming::Incoming;
use crate::outgoing::{self, LaneCtx};
use crate::queue::DropOldest;
use crate::runtime::{self, Budgets, Runtime};
use crate::stats::{Counter, TcpStats};
use crate::{PEER_LANE_BYTES_MAX, PEER_QUEUE_MAX};

/// Where the peers of a cluster are and who this one is.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This peer's id: its position in `peers`.
    pub me: PeerId,
    /// The address this peer dials to reach peer `i` (`host:port`); `peers[me]` is unused.
    pub peers: Vec<String>,
    /// The cluster's id and the peers' secret (not the clients': see [`crate::Secret`]).
    pub identity: Identity,
}

/// Handshake places of a peer's listener beyond one per lane of every other peer (see
/// [`crate::TcpTransport`]'s budgets): room for strangers and for redials, which a stranger
/// cannot keep for long (the oldest handshake is closed to make room for a new one).
pub const PEER_HANDSHAKES_EXTRA: usize = 8;

/// The queues of the two lanes to one peer.
type Lanes = [Arc<DropOldest<Request>>; 2];

/// A peer's connections to the others: two outgoing lanes per peer (this peer dials), and the
/// connections the others dial to it (accepted on its listener). Dropping it closes every
/// connection and joins every thread.
pub struct TcpTransport {
    me: PeerId,
    lanes: Vec<Option<Lanes>>,
    stats: Arc<TcpStats>,
    runtime: Arc<Runtime>,
}

impl TcpTransport {
    /// Starts the transport of peer `config.me`: accepts peers on `listener` and dials
    /// `config.peers`, handing what arrives to `inbox`. Counts go to `stats`.
    ///
    /// # Errors
    /// `InvalidInput` if `me` is not a position in `peers` or the identity is not valid; the
    /// listener's or the threads' errors if they cannot be set up.
    pub fn start(
        config: PeerConfig,
        listener: TcpListener,
        inbox: Inbox,
        stats: Arc<TcpStats>,
    ) -> io::Result<TcpTransport> {
        config.identity.check()?;
        let peer_count = config.peers.len();
        if config.me.as_usize() >= peer_count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("peer {} is not in a list of {peer_count} peers", config.me.0),
            ));
        }
        if u32::try_from(peer_count).is_err() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many peers"));
        }
        listener.set_nonblocking(true)?;
        let runtime = Runtime::new();
        let mut transport = TcpTransport {
            me: config.me,
            lanes: Vec::with_capacity(peer_count),
            stats: Arc::clone(&stats),
            runtime: Arc::clone(&runtime),
        };
        let incoming = Arc::new(Incoming {
            me: config.me,
            peer_count,
            identity: config.identity.clone(),
            inbox: inbox.clone(),
            stats: Arc::clone(&stats),
            runtime: Arc::clone(&runtime),
            live: Mutex::new(HashMap::new()),
        });
        // Authenticated: each other peer's two lanes, and as many again for a lane that
        // connects anew while its old connection winds down. Handshaking: every lane at once
        // (a restarted cluster), and a few more; strangers wait there, never in the first.
        let others = peer_count.saturating_sub(1);
        let budgets = Budgets {
            handshaking: 2 * others + PEER_HANDSHAKES_EXTRA,
            authenticated: 4 * others,
        };
        {
            let runtime = Arc::clone(&runtime);
            let stats = Arc::clone(&stats);
            let name = format!("raft-tcp-{}", config.me);
            transport.runtime.spawn(format!("{name}-accept"), move || {
                runtime::accept_loop(&runtime, &listener, &stats, budgets, &name, move |accepted| {
                    incoming.serve(accepted)
                });
            })?;
        }
        for (i, addr) in config.peers.iter().enumerate() {
            if i == config.me.as_usize() {
                transport.lanes.push(None);
                continue;
            }
            let to = PeerId(u32::try_from(i).unwrap_or(u32::MAX));
            let lanes: Lanes = [
                Arc::new(DropOldest::new(PEER_QUEUE_MAX, PEER_LANE_BYTES_MAX)),
                Arc::new(DropOldest::new(PEER_QUEUE_MAX, PEER_LANE_BYTES_MAX)),
            ];
            for (lane, queue) in Lane::ALL.into_iter().zip(&lanes) {
                let ctx = LaneCtx {
                    me: config.me,
                    to,
                    lane,
                    addr: addr.clone(),
                    identity: config.identity.clone(),
                    inbox: inbox.clone(),
                    stats: Arc::clone(&stats),
                    runtime: Arc::clone(&runtime),
                    queue: Arc::clone(queue),
                };
                let name = format!("raft-tcp-{}>{to}-{}", config.me, lane.name());
                transport.runtime.spawn(name, move || outgoing::run(&ctx))?;
            }
            transport.lanes.push(Some(lanes));
        }
        Ok(transport)
    }

    /// The transport's counters (the `stats` it was started with).
    #[must_use]
    pub fn stats(&self) -> &Arc<TcpStats> {
        &self.stats
    }
}

impl Transport for TcpTransport {
    fn send(&mut self, to: PeerId, request: Request) {
        let Some(Some(lanes)) = self.lanes.get(to.as_usize()) else {
            tracing::error!(me = %self.me, %to, "no connection to this peer: the request is dropped");
            return;
        };
        let lane = outgoing::lane_of(&request);
        let queue = &lanes[usize::from(lane == Lane::Bulk)];
        // What the push drops is freed in it, after the queue's lock is released.
        let pushed = queue.push(request);
        if pushed.superseded > 0 {
            self.stats
                .add(Counter::DroppedSuperseded, pushed.superseded as u64);
        }
        if pushed.overflowed > 0 {
            self.stats
                .add(Counter::DroppedQueueFull, pushed.overflowed as u64);
            tracing::debug!(me = %self.me, %to, lane = lane.name(), dropped = pushed.overflowed, "the queue to the peer is full: the oldest requests are dropped");
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.runtime.stop();
        for queue in self.lanes.iter().flatten().flatten() {
            queue.wake();
        }
        self.runtime.stop_and_join();
    }
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("me", &self.me)
            .field("peers", &self.lanes.len())
            .finish_non_exhaustive()
    }
}
