//! [`ClientServer`]: the client port. Clients authenticate as the peers do, then send
//! requests of opaque bytes; a handler answers each through its [`ClientReplier`], whenever
//! it likes and from any thread (a key/value server answers once the command commits).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::frame::{self, ClientFrame, FrameError, FrameReader};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, Role};
use crate::identity::Identity;
use crate::outgoing::{POLL, WRITE_STALL_MAX};
use crate::queue::{DropOldest, Queued};
use crate::runtime::{self, Accepted, Budgets, Runtime, Tracked};
use crate::stats::{Counter, TcpStats};

/// The most authenticated client connections open at once (each costs two threads); past
/// it a newly authenticated one is closed and counted in `refused_busy`.
pub const CLIENT_CONNS_MAX: usize = 256;

/// The most client connections in their handshake at once, a budget apart from
/// [`CLIENT_CONNS_MAX`] so that strangers never take authenticated clients' places. A new
/// connection that finds them all taken closes the oldest (counted in `evicted_handshakes`).
pub const CLIENT_HANDSHAKES_MAX: usize = 32;

/// The most replies waiting to be written to one client; past it the oldest is dropped.
pub const CLIENT_REPLY_QUEUE_MAX: usize = 1024;

/// The most bytes of replies waiting to be written to one client (64 MiB); past it the
/// oldest are dropped.
pub const CLIENT_REPLY_BYTES_MAX: usize = 64 << 20;

type Handler = dyn Fn(Vec<u8>, ClientReplier) + Send + Sync;
type Replies = DropOldest<(u64, Vec<u8>)>;

/// A running client port. Dropping it stops accepting, closes every connection and joins
/// every thread.
pub struct ClientServer {
    runtime: Arc<Runtime>,
}

/// Answers one client request. `Send`: keep it and answer from any thread, any time later;
/// dropped unanswered, the client sees a timeout.
pub struct ClientReplier {
    id: u64,
    replies: Arc<Replies>,
    stats: Arc<TcpStats>,
}

impl ClientReplier {
    /// Sends `payload` as the reply. Never blocks; if the client has gone, it is dropped.
    pub fn reply(self, payload: Vec<u8>) {
        let pushed = self.replies.push((self.id, payload));
        if pushed.overflowed > 0 {
            self.stats
                .add(Counter::DroppedQueueFull, pushed.overflowed as u64);
            tracing::warn!(
                dropped = pushed.overflowed,
                "a client's reply queue is full: its oldest replies are dropped"
            );
        }
    }
}

impl std::fmt::Debug for ClientReplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientReplier")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClientServer {
    /// Accepts clients of `identity`'s cluster (holding its secret, which should not be the
    /// peers': see [`crate::Secret`]) on `listener`; `handler` gets each request
    /// with the replier that answers it. The handler runs on the connection's reader thread:
    /// it should hand the work on rather than wait for it.
    ///
    /// # Errors
    /// `InvalidInput` for a bad identity; the listener's or the thread's error.
    pub fn start(
        listener: TcpListener,
        identity: Identity,
        stats: Arc<TcpStats>,
        handler: impl Fn(Vec<u8>, ClientReplier) + Send + Sync + 'static,
    ) -> std::io::Result<ClientServer> {
        identity.check()?;
        listener.set_nonblocking(true)?;
        let runtime = Runtime::new();
        let port = Arc::new(Port {
            identity,
            stats: Arc::clone(&stats),
            runtime: Arc::clone(&runtime),
            handler: Box::new(handler),
        });
        let accept_runtime = Arc::clone(&runtime);
        runtime.spawn("raft-tcp-clients".to_string(), move || {
            runtime::accept_loop(
                &accept_runtime,
                &listener,
                &stats,
                Budgets {
                    handshaking: CLIENT_HANDSHAKES_MAX,
                    authenticated: CLIENT_CONNS_MAX,
                },
                "raft-tcp-client",
                move |accepted| port.serve(accepted),
            );
        })?;
        Ok(ClientServer { runtime })
    }
}

impl Drop for ClientServer {
    fn drop(&mut self) {
        self.runtime.stop_and_join();
    }
}

impl std::fmt::Debug for ClientServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientServer").finish_non_exhaustive()
    }
}

/// What the connection threads of a client port share.
struct Port {
    identity: Identity,
    stats: Arc<TcpStats>,
    runtime: Arc<Runtime>,
    handler: Box<Handler>,
}

impl Port {
    fn serve(&self, accepted: Accepted) {
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
                tracing::warn!(%addr, %e, "cannot set up a client connection: closed");
                return;
            }
        };
        let check = |role: &Role| match role {
            Role::Client => Ok(()),
            Role::Peer { .. } => Err("a peer on the client port (peers use the peer port)".to_string()),
        };
        if let Err(e) = handshake::accept(&stream, &mut reader, &self.identity, check, HANDSHAKE_TIMEOUT) {
            if !place.evicted() {
                let counter = e.counter();
                self.stats.count(counter);
                if let Some(left_out) = self.runtime.warnings.allow(counter.name()) {
                    tracing::warn!(%addr, reason = %e, left_out, "refused a client connection");
                }
            }
            return;
        }
        if !place.authenticated() {
            if !place.evicted() {
                self.stats.count(Counter::RefusedBusy);
                if let Some(left_out) = self.runtime.warnings.allow(Counter::RefusedBusy.name()) {
                    tracing::warn!(%addr, left_out, max = CLIENT_CONNS_MAX, "too many clients: an authenticated one is closed");
                }
            }
            return;
        }
        self.stats.count(Counter::Accepted);
        tracing::debug!(%addr, "accepted a client connection");
        let timeouts = stream
            .set_write_timeout(Some(WRITE_STALL_MAX))
            .and_then(|()| reader.get_ref().set_read_timeout(None));
        if timeouts.is_ok() {
            self.exchange(&stream, &mut reader, &tracked, addr);
        }
    }

    fn exchange(
        &self,
        stream: &TcpStream,
        reader: &mut FrameReader<TcpStream>,
        tracked: &Tracked,
        addr: SocketAddr,
    ) {
        let replies = Arc::new(Replies::new(CLIENT_REPLY_QUEUE_MAX, CLIENT_REPLY_BYTES_MAX));
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writer = std::thread::Builder::new()
                .name("raft-tcp-client-w".to_string())
                .spawn_scoped(scope, || self.write_replies(stream, &replies, &done));
            if writer.is_ok() {
                self.read_requests(reader, &replies, addr);
            }
            done.store(true, Ordering::Release);
            replies.close();
            tracked.close();
        });
    }

    fn read_requests(&self, reader: &mut FrameReader<TcpStream>, replies: &Arc<Replies>, addr: SocketAddr) {
        loop {
            let body = match reader.read_frame() {
                Ok(body) => body,
                Err(e @ FrameError::TooLarge { .. }) => {
                    self.stats.count(Counter::RefusedFrame);
                    tracing::warn!(%addr, %e, "a client sent a frame over the limit: closing");
                    return;
                }
                Err(FrameError::TimedOut) => continue,
                Err(e) => {
                    tracing::debug!(%addr, %e, "a client connection ended");
                    return;
                }
            };
            match frame::decode::<ClientFrame<Vec<u8>>>(&body) {
                Ok(ClientFrame { id, payload }) => {
                    let replier = ClientReplier {
                        id,
                        replies: Arc::clone(replies),
                        stats: Arc::clone(&self.stats),
                    };
                    (self.handler)(payload, replier);
                }
                Err(e) => {
                    self.stats.count(Counter::DecodeFailures);
                    tracing::warn!(%addr, %e, "a client request did not decode: dropped");
                }
            }
        }
    }

    fn write_replies(&self, mut stream: &TcpStream, replies: &Replies, done: &AtomicBool) {
        while !done.load(Ordering::Acquire) && !self.runtime.stopping() {
            let Some((id, payload)) = replies.pop(POLL) else {
                continue;
            };
            let frame = match frame::encode(&ClientFrame { id, payload }) {
                Ok(frame) => frame,
                Err(e) => {
                    self.stats.count(Counter::DroppedTooLarge);
                    tracing::error!(%e, "a reply to a client cannot be sent: dropped");
                    continue;
                }
            };
            if let Err(e) = stream.write_all(&frame) {
                tracing::debug!(%e, "writing to a client failed: closing");
                break;
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A numbered reply to a client: its payload, and a little for its frame.
impl Queued for (u64, Vec<u8>) {
    fn cost(&self) -> usize {
        self.1.len().saturating_add(32)
    }
}
