//! Incoming peer connections: the acceptor's handshake, then requests in and replies out.
//!
//! A connection that authenticated as peer `p` hands every request to the inbox as coming
//! from `p`, whatever id the request itself names: raft-core's gate then refuses a request
//! whose `candidate_id` or `leader_id` is not `p`. Each request's responder queues its reply
//! for this connection's writer thread, so the Raft loop, which runs the responder, never
//! waits on a socket.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use raft_core::PeerId;
use raft_core::message::{Reply, Request};
use raft_node::Inbox;

use crate::frame::{self, FrameError, FrameReader, ReplyFrame, RequestFrame};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, Lane, Role};
use crate::identity::Identity;
use crate::outgoing::{POLL, WRITE_STALL_MAX};
use crate::queue::{DropOldest, Queued};
use crate::runtime::{self, Accepted, Runtime, Tracked};
use crate::stats::{Counter, TcpStats};
use crate::{PEER_LANE_BYTES_MAX, PEER_QUEUE_MAX};

/// The acceptor's side of a transport, shared by its connection threads.
pub(crate) struct Incoming {
    pub(crate) me: PeerId,
    pub(crate) peer_count: usize,
    pub(crate) identity: Identity,
    pub(crate) inbox: Inbox,
    pub(crate) stats: Arc<TcpStats>,
    pub(crate) runtime: Arc<Runtime>,
    /// The live connection of each peer and lane, by tracked socket id: a peer that connects
    /// again for a lane replaces its old connection (which may be dead without anyone
    /// having noticed yet).
    pub(crate) live: Mutex<HashMap<(u32, Lane), u64>>,
}

impl Incoming {
    fn live(&self) -> MutexGuard<'_, HashMap<(u32, Lane), u64>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a dialer claiming `role` may connect: a peer of this cluster other than this
    /// one, dialing this one.
    fn check(&self, role: &Role) -> Result<(), String> {
        match *role {
            Role::Client => Err("a client on the peer port (clients use the client port)".to_string()),
            Role::Peer { from, to, .. } => {
                let me = self.me.0;
                if usize::try_from(from).map_or(true, |from| from >= self.peer_count) {
                    Err(format!(
                        "unknown peer {from}: this cluster has peers 0 to {}",
                        self.peer_count.saturating_sub(1)
                    ))
                } else if from == me {
                    Err(format!("peer {from} is this peer itself"))
                } else if to != me {
                    Err(format!("this is peer {me}, not peer {to}"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Serves one accepted connection until it ends.
    pub(crate) fn serve(&self, accepted: Accepted) {
        let Accepted {
            stream,
            addr,
            tracked,
            mut place,
        } = accepted;
        let reader = runtime::prepare(&stream).and_then(|()| stream.try_clone());
        let mut reader = match reader {
            Ok(clone) => FrameReader::new(clone),
            Err(e) => {
                tracing::warn!(%addr, %e, "cannot set up an accepted connection: closed");
                return;
            }
        };
        let checked = handshake::accept(
            &stream,
            &mut reader,
            &self.identity,
            |role| self.check(role),
            HANDSHAKE_TIMEOUT,
        );
        let (from, lane) = match checked {
            Ok(Role::Peer { from, lane, .. }) => (from, lane),
            Ok(Role::Client) => return, // `check` refuses clients
            Err(e) => {
                if !place.evicted() {
                    let counter = e.counter();
                    self.stats.count(counter);
                    if let Some(left_out) = self.runtime.warnings.allow(counter.name()) {
                        tracing::warn!(me = %self.me, %addr, reason = %e, left_out, "refused a peer connection");
                    }
                }
                return;
            }
        };
        if !place.authenticated() {
            if !place.evicted() {
                self.stats.count(Counter::RefusedBusy);
                if let Some(left_out) = self.runtime.warnings.allow(Counter::RefusedBusy.name()) {
                    tracing::warn!(me = %self.me, %addr, from, left_out, "too many peer connections: an authenticated one is closed");
                }
            }
            return;
        }
        self.stats.count(Counter::Accepted);
        tracing::info!(me = %self.me, %addr, from, lane = lane.name(), "accepted a peer connection");
        if let Some(old) = self.live().insert((from, lane), tracked.id()) {
            self.stats.count(Counter::Replaced);
            self.runtime.close_socket(old);
        }
        let timeouts = stream
            .set_write_timeout(Some(WRITE_STALL_MAX))
            .and_then(|()| reader.get_ref().set_read_timeout(None));
        if timeouts.is_ok() {
            self.exchange(&stream, &mut reader, &tracked, PeerId(from));
        }
        let mut live = self.live();
        if live.get(&(from, lane)) == Some(&tracked.id()) {
            live.remove(&(from, lane));
        }
    }

    /// Reads requests and writes their replies until the connection ends.
    fn exchange(
        &self,
        stream: &TcpStream,
        reader: &mut FrameReader<TcpStream>,
        tracked: &Tracked,
        from: PeerId,
    ) {
        let replies = Arc::new(DropOldest::<(u64, Reply)>::new(
            PEER_QUEUE_MAX,
            PEER_LANE_BYTES_MAX,
        ));
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writer = std::thread::Builder::new()
                .name(format!("raft-tcp-{}<{from}-w", self.me))
                .spawn_scoped(scope, || self.write_replies(stream, &replies, &done));
            if writer.is_ok() {
                self.read_requests(reader, &replies, from);
            }
            done.store(true, Ordering::Release);
            replies.close();
            tracked.close();
        });
    }

    fn read_requests(
        &self,
        reader: &mut FrameReader<TcpStream>,
        replies: &Arc<DropOldest<(u64, Reply)>>,
        from: PeerId,
    ) {
        loop {
            let body = match reader.read_frame() {
                Ok(body) => body,
                Err(e @ FrameError::TooLarge { .. }) => {
                    self.stats.count(Counter::RefusedFrame);
                    tracing::warn!(me = %self.me, %from, %e, "a peer sent a frame over the limit: closing");
                    return;
                }
                Err(FrameError::TimedOut) => continue,
                Err(e) => {
                    tracing::debug!(me = %self.me, %from, %e, "a peer connection ended");
                    return;
                }
            };
            match frame::decode::<RequestFrame<Request>>(&body) {
                Ok(RequestFrame { id, request }) => {
                    let replies = Arc::clone(replies);
                    let stats = Arc::clone(&self.stats);
                    self.inbox.request(from, request, move |reply| {
                        let pushed = replies.push((id, reply));
                        if pushed.overflowed > 0 {
                            stats.add(Counter::DroppedQueueFull, pushed.overflowed as u64);
                        }
                    });
                }
                Err(e) => {
                    self.stats.count(Counter::DecodeFailures);
                    self.inbox.decode_failed(from, &e);
                }
            }
        }
    }

    fn write_replies(&self, mut stream: &TcpStream, replies: &DropOldest<(u64, Reply)>, done: &AtomicBool) {
        while !done.load(Ordering::Acquire) && !self.runtime.stopping() {
            let Some((id, reply)) = replies.pop(POLL) else {
                continue;
            };
            let frame = match frame::encode(&ReplyFrame { id, reply: &reply }) {
                Ok(frame) => frame,
                Err(e) => {
                    self.stats.count(Counter::DroppedTooLarge);
                    tracing::error!(me = %self.me, %e, "a reply cannot be sent: dropped");
                    continue;
                }
            };
            if let Err(e) = stream.write_all(&frame) {
                tracing::debug!(me = %self.me, %e, "writing a reply failed: closing");
                break;
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A numbered reply waiting to be written: a few dozen bytes.
impl Queued for (u64, Reply) {
    fn cost(&self) -> usize {
        crate::outgoing::REPLY_FRAME_MAX
    }
}
