//! The seam between a peer's event loop and its network.
//!
//! The loop owns a [`Transport`] and calls [`Transport::send`] for every request raft-core
//! asks it to send; it never waits on a peer. Everything that comes back from the network
//! reaches the loop through the peer's [`Inbox`]: a request from another peer with the
//! [`Responder`] that answers it, a reply to one of this peer's requests, and the faults a
//! transport sees that Raft cannot (bytes that did not decode, a reply to no call it made).
//! raft-labrpc is one transport ([`crate::LabrpcTransport`]); a TCP transport is another.
//! [`Transport`]'s doc says what a transport promises.
//!
//! The inbox's queue is bounded ([`crate::EVENT_QUEUE_MAX`]): a request or reply
//! that finds it full is dropped and counted ([`crate::NodeStats::dropped_queue_full`]), as a
//! lossy network would drop it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use raft_core::PeerId;
use raft_core::message::{Reply, Request};

use crate::event_loop::Event;
use crate::node::Shared;

/// How one peer reaches the others. The event loop owns it (and drops it when the peer
/// stops: a transport closes its connections in `Drop`).
///
/// What a transport promises:
/// - **Who sent it.** The `from` of [`Inbox::request`] and [`Inbox::reply`] is the peer the
///   transport knows the message came from (an authenticated connection). raft-core's gate
///   refuses a request that claims another sender. A transport that cannot know (labrpc tells
///   a handler nothing of its caller) says so in its doc and passes the id the request claims.
/// - **Replies pair with calls.** A reply is handed over only for a request this peer sent; a
///   reply the transport cannot pair with a call of its own is counted with
///   [`Inbox::unknown_reply`], never stepped.
/// - **Bad bytes are counted, not stepped.** What does not decode is counted with
///   [`Inbox::decode_failed`] and traced; it never reaches raft-core and never panics.
/// - **Nothing blocks the loop.** `send` queues or drops; a lost request or reply needs no
///   word, since Raft retries.
pub trait Transport: Send + 'static {
    /// Sends `request` to peer `to` without waiting. Its reply, if one comes, goes to the
    /// peer's [`Inbox::reply`]. Must not block: queue the request or drop it.
    fn send(&mut self, to: PeerId, request: Request);
}

/// Answers one incoming request with raft-core's reply, of the request's kind. Dropped
/// unanswered (the gate refused the request, or the peer stopped), the caller sees a lost
/// call. Runs on the loop thread: it must not block.
pub type Responder = Box<dyn FnOnce(Reply) + Send>;

/// Where a transport hands a peer what arrives for it. Cheap to clone; it never blocks.
#[derive(Clone)]
pub struct Inbox {
    events: flume::Sender<Event>,
    shared: Arc<Shared>,
}

impl Inbox {
    pub(crate) fn new(events: flume::Sender<Event>, shared: Arc<Shared>) -> Inbox {
        Inbox { events, shared }
    }

    /// A request from peer `from` (the peer the transport knows sent it); `responder` answers
    /// it once raft-core has decided, after what the answer depends on is persisted.
    pub fn request(&self, from: PeerId, request: Request, responder: impl FnOnce(Reply) + Send + 'static) {
        self.enqueue(Event::Request(from, request, Box::new(responder)));
    }

    /// Peer `from`'s reply to a request this peer sent it.
    pub fn reply(&self, from: PeerId, reply: Reply) {
        self.enqueue(Event::Reply(from, reply));
    }

    /// Bytes from (or about a request to) peer `from` did not decode: counted in
    /// [`crate::NodeStats::decode_failures`] and traced; nothing reaches raft-core.
    pub fn decode_failed(&self, from: PeerId, why: &dyn fmt::Display) {
        count(&self.shared.decode_failures);
        tracing::warn!(%from, %why, "a message did not decode: dropped");
    }

    /// Peer `from` sent a reply to no call this peer has outstanding (a duplicate, or a call
    /// the transport gave up on): counted in [`crate::NodeStats::unknown_replies`] and traced.
    pub fn unknown_reply(&self, from: PeerId) {
        count(&self.shared.unknown_replies);
        tracing::warn!(%from, "a reply to no outstanding call: dropped");
    }

    /// Queues an event without waiting. A full queue drops it (counted); a stopped peer's
    /// queue drops everything, and its responder with it.
    fn enqueue(&self, event: Event) {
        if let Err(flume::TrySendError::Full(_)) = self.events.try_send(event) {
            count(&self.shared.dropped_queue_full);
            tracing::debug!("the event queue is full: an incoming message is dropped");
        }
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("queued", &self.events.len())
            .finish()
    }
}

/// Adds one to a counter (saturating: a counter never wraps back to small numbers).
fn count(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_add(1))
    });
}
