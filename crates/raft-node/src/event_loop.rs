//! The event loop that owns one peer's state machine, and the applier beside it.
//!
//! One thread waits on one bounded channel of [`Event`]s with a deadline for the next tick.
//! It steps the event that woke it and whatever else is queued (group commit: one write for
//! all of it), then [`Context::carry_out`] hands the Ready, with this runtime's storage,
//! transport and applier as [`PeerEffects`], to [`raft_core::Ready::carry_out`]: raft-core's
//! one implementation of Figure 2's order (persist, then send and answer the requests that
//! were stepped, then apply).
//!
//! However the loop ends (killed, a storage failure, a panic), a [`StopGuard`] on its thread
//! says so on the way out: `get_state` stops reporting a leader, `start` answers
//! [`StartError::Stopped`], and queued requests and proposals are dropped with their
//! responders.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use raft_core::message::{Reply, Request, RequestId};
use raft_core::{
    Bytes, Effects, Entry, HardState, LogIndex, PeerId, Raft, ReadError, ReadId, Refused, Snapshot, Term,
    TransferError,
};
use raft_storage::{Storage, StorageError};

use crate::node::{ApplyMsg, NodeStatus, Shared, StartError};
use crate::transport::{Responder, Transport};

/// The most events waiting for one peer's loop. Past it, incoming RPCs and replies are dropped
/// (the network may drop them anyway); proposals wait for room.
pub const EVENT_QUEUE_MAX: usize = 4096;

/// The most committed entries (and snapshots) waiting between the loop and the applier. Past
/// it the loop waits for the service to take some: backpressure on a service that does not
/// keep up, instead of a queue that grows with the log.
pub const APPLY_QUEUE_MAX: usize = 1024;

/// The most events stepped into one Ready. Whatever is queued when the loop wakes is stepped
/// before the Ready is carried out, so proposals and AppendEntries that arrive together cost
/// one write and one round of messages (group commit, on the leader and on each follower);
/// the bound keeps one Ready's write, and the wait of the first event in it, short.
pub const EVENTS_PER_READY_MAX: usize = 256;

/// How far behind its tick schedule the loop may fall before it skips the missed ticks instead
/// of running them back to back (a stalled machine must not fire a burst of elections).
const TICKS_BEHIND_MAX: u32 = 5;

/// How often a blocked applier checks whether its peer was killed.
const APPLIER_KILL_POLL: Duration = Duration::from_millis(10);

/// Everything that can wake the loop.
pub(crate) enum Event {
    /// A peer's request, with the responder that answers it.
    Request(PeerId, Request, Responder),
    /// A peer answered one of this peer's requests.
    Reply(PeerId, Reply),
    /// The service took a snapshot through an index.
    Snapshot(LogIndex, Vec<u8>),
    /// The service proposes commands, which take consecutive indices; the answer (the first
    /// one's index and term) goes back on the channel.
    Propose(Vec<Bytes>, flume::Sender<Result<(LogIndex, Term), StartError>>),
    /// The service asks to read; the answer (taken or refused) goes back on the channel.
    Read(ReadId, flume::Sender<Result<(), ReadError>>),
    /// The service asks the leader to hand leadership to a peer; the answer goes back on the
    /// channel.
    Transfer(PeerId, flume::Sender<Result<(), TransferError>>),
    /// Stop.
    Kill,
}

/// What the loop owns.
pub(crate) struct Context<S, T> {
    pub(crate) raft: Raft,
    pub(crate) storage: S,
    pub(crate) transport: T,
    pub(crate) applier_tx: flume::Sender<ApplyMsg>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) tick: Duration,
    /// The id the next incoming request gets.
    pub(crate) next_request_id: u64,
    /// The responders of the requests stepped since the last Ready, by the id each was
    /// stepped with. Emptied after every Ready.
    pub(crate) pending: HashMap<RequestId, Responder>,
    /// The gate's refusals as last published to [`Shared`].
    pub(crate) refused_published: Refused,
}

/// On the loop thread, dropped however the loop ends: marks the peer stopped, then drops what
/// is queued (requests with their responders, proposals with their answer channels).
struct StopGuard {
    shared: Arc<Shared>,
    events: flume::Receiver<Event>,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("the event loop panicked: the peer stops");
        }
        // Stopped before the drain: an event queued after the drain is one whose sender sees
        // the flag (the channel's lock orders the two), so no proposal waits forever.
        self.shared.stop();
        self.events.drain().for_each(drop);
    }
}

/// The event loop: runs until killed, until storage fails, or until it panics.
pub(crate) fn run<S: Storage, T: Transport>(mut cx: Context<S, T>, events: flume::Receiver<Event>) {
    let span = tracing::debug_span!("peer", id = %cx.raft.id(), term = tracing::field::Empty, role = tracing::field::Empty);
    let _enter = span.enter();
    // Dropped first, inside the span, however the function ends.
    let guard = StopGuard {
        shared: Arc::clone(&cx.shared),
        events,
    };
    let mut next_tick = Instant::now() + cx.tick;
    while !cx.shared.killed.load(Ordering::Acquire) {
        // A tick that is due runs before any queued event: a steady stream of events must not
        // starve heartbeats and elections (recv_deadline pops a queued event before it looks
        // at the clock).
        let received = if Instant::now() >= next_tick {
            Err(flume::RecvTimeoutError::Timeout)
        } else {
            guard.events.recv_deadline(next_tick)
        };
        match received {
            Ok(Event::Kill) | Err(flume::RecvTimeoutError::Disconnected) => break,
            Ok(event) => {
                cx.handle(event);
                if !cx.handle_queued(&guard.events) {
                    break;
                }
            }
            Err(flume::RecvTimeoutError::Timeout) => {
                cx.raft.tick();
                next_tick += cx.tick;
                let now = Instant::now();
                if now > next_tick + cx.tick * TICKS_BEHIND_MAX {
                    next_tick = now + cx.tick;
                }
            }
        }
        span.record("term", cx.raft.term().0);
        span.record("role", tracing::field::debug(cx.raft.role()));
        // A leader counts its own write toward a commit once the Ready that wrote it has been
        // carried out, when the next is taken (thesis section 10.2.1). With followers, their
        // replies bring the next Ready; a leader alone takes it at once, rather than wait for
        // the next event (its own write is the majority).
        let alone = cx.raft.config().peers.len() == 1;
        let carried = cx.carry_out().and_then(|wrote| {
            if wrote && alone && cx.raft.is_leader() {
                cx.carry_out().map(drop)
            } else {
                Ok(())
            }
        });
        if let Err(err) = carried {
            tracing::error!(%err, "storage failed: the peer stops rather than answer what it did not persist");
            break;
        }
        cx.publish_refused();
    }
}

impl<S: Storage, T: Transport> Context<S, T> {
    /// Steps the events already queued, up to [`EVENTS_PER_READY_MAX`] in all, so that they
    /// share one Ready; false if one of them was [`Event::Kill`] (the loop then stops without
    /// carrying out what it stepped, as a crash would).
    fn handle_queued(&mut self, events: &flume::Receiver<Event>) -> bool {
        for _ in 1..EVENTS_PER_READY_MAX {
            match events.try_recv() {
                Ok(Event::Kill) => return false,
                Ok(event) => self.handle(event),
                Err(_) => break,
            }
        }
        true
    }

    /// Feeds one event to the state machine.
    fn handle(&mut self, event: Event) {
        match event {
            Event::Request(from, request, responder) => {
                let id = RequestId(self.next_request_id);
                self.next_request_id = self.next_request_id.wrapping_add(1);
                self.pending.insert(id, responder);
                self.raft.step_request(from, id, request);
            }
            Event::Reply(from, reply) => self.raft.step_reply(from, reply),
            Event::Snapshot(index, data) => {
                if let Err(err) = self.raft.snapshot(index, data) {
                    tracing::debug!(%err, "snapshot from the service not taken");
                }
            }
            Event::Read(id, answer) => {
                let _ = answer.send(self.raft.read(id));
            }
            Event::Propose(commands, answer) => {
                let _ = answer.send(self.raft.propose_batch(commands).map_err(StartError::from));
            }
            Event::Transfer(target, answer) => {
                let _ = answer.send(self.raft.transfer_leadership(target));
            }
            Event::Kill => {}
        }
    }

    /// Carries out the state machine's outputs through [`raft_core::Ready::carry_out`], which
    /// keeps the order the persistence contract requires: a leader's AppendEntries, then
    /// persist (each write durable when its storage call returns), publish term and
    /// leadership, then send and answer the requests that were stepped, then hand the applier
    /// the snapshot and the committed entries.
    ///
    /// Returns whether the Ready wrote log entries.
    fn carry_out(&mut self) -> Result<bool, StorageError> {
        let ready = self.raft.take_ready();
        let wrote = !ready.entries().is_empty();
        let mut effects = PeerEffects {
            storage: &mut self.storage,
            transport: &mut self.transport,
            pending: &mut self.pending,
            applier_tx: &self.applier_tx,
            shared: &self.shared,
            status: NodeStatus::of(&self.raft, 0),
        };
        let done = ready.carry_out(&mut effects);
        // A request the state machine did not answer (the gate refused it) gets no reply: its
        // responder is dropped, and the call fails.
        self.pending.clear();
        done.map(|()| wrote)
    }

    /// Publishes the gate's refusal counts for [`crate::RaftNode::stats`], when they changed.
    fn publish_refused(&mut self) {
        let refused = self.raft.refused();
        if refused != self.refused_published {
            self.refused_published = refused;
            *self.shared.refused.lock().unwrap_or_else(|e| e.into_inner()) = refused;
        }
    }
}

/// What one Ready does to this peer's world: its storage, its transport, the responders of
/// the requests being handled, the applier and the state `get_state` reads.
struct PeerEffects<'a, S, T> {
    storage: &'a mut S,
    transport: &'a mut T,
    pending: &'a mut HashMap<RequestId, Responder>,
    applier_tx: &'a flume::Sender<ApplyMsg>,
    shared: &'a Shared,
    /// The peer's status after the input, published once the Ready is persisted (with the
    /// storage's size then).
    status: NodeStatus,
}

impl<S: Storage, T: Transport> Effects for PeerEffects<'_, S, T> {
    type Error = StorageError;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        self.storage.save_hard_state(hard_state)
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.storage.truncate_suffix(from)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.storage.install_snapshot(snapshot)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.storage.append(entries)
    }

    fn persisted(&mut self) -> Result<(), StorageError> {
        self.status.raft_state_size = self.storage.raft_state_size();
        self.shared.publish(self.status);
        Ok(())
    }

    /// Hands one request to the transport, which sends it without waiting: its reply comes
    /// back to the loop through the inbox.
    fn send(&mut self, to: PeerId, request: Request) -> Result<(), StorageError> {
        self.transport.send(to, request);
        Ok(())
    }

    /// Answers the request stepped under `id` through its responder.
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), StorageError> {
        match self.pending.remove(&id) {
            Some(responder) => responder(reply),
            None => tracing::error!(
                ?id,
                kind = reply.name(),
                "a reply to no request stepped since the last Ready"
            ),
        }
        Ok(())
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        let meta = snapshot.meta;
        let msg = ApplyMsg::Snapshot {
            index: meta.last_included_index,
            term: meta.last_included_term,
            data: snapshot.data,
        };
        // Waits while APPLY_QUEUE_MAX messages wait; fails only once the applier has ended
        // (killed, or the service hung up), when nobody is left to deliver to.
        let _ = self.applier_tx.send(msg);
        Ok(())
    }

    fn apply(&mut self, entry: Entry) -> Result<(), StorageError> {
        let msg = ApplyMsg::Command {
            index: entry.index,
            term: entry.term,
            command: entry.command,
        };
        let _ = self.applier_tx.send(msg);
        Ok(())
    }

    /// Hands a read's outcome to the service, behind the commands applied before it.
    fn read(&mut self, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), StorageError> {
        let _ = self.applier_tx.send(ApplyMsg::Read { id, result });
        Ok(())
    }
}

/// The applier: moves committed commands from the loop to the service's channel, so that a
/// consumer slower than the loop holds the loop up only once [`APPLY_QUEUE_MAX`] messages
/// wait. Delivers what the loop queued before it stopped; ends when the peer is killed, the
/// loop has stopped and nothing is left, or the service hangs up.
pub(crate) fn run_applier(
    from_loop: flume::Receiver<ApplyMsg>,
    apply_tx: flume::Sender<ApplyMsg>,
    shared: &Shared,
) {
    while !shared.killed.load(Ordering::Acquire) {
        let mut msg = match from_loop.recv_timeout(APPLIER_KILL_POLL) {
            Ok(msg) => msg,
            Err(flume::RecvTimeoutError::Timeout) => continue,
            Err(flume::RecvTimeoutError::Disconnected) => return,
        };
        loop {
            match apply_tx.send_timeout(msg, APPLIER_KILL_POLL) {
                Ok(()) => break,
                Err(flume::SendTimeoutError::Timeout(m)) if !shared.killed.load(Ordering::Acquire) => msg = m,
                Err(_) => return,
            }
        }
    }
}
