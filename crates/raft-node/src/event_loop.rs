//! The event loop that owns one peer's state machine, and the applier beside it.
//!
//! One thread waits on one bounded channel of [`Event`]s with a deadline for the next tick.
//! After each input [`Context::carry_out`] hands the Ready, with this runtime's storage,
//! network and applier as [`PeerEffects`], to [`raft_core::Ready::carry_out`]: raft-core's one
//! implementation of Figure 2's order (persist, then send and answer the request that was
//! stepped, then apply).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, Reply, Request,
    RequestId, RequestVoteArgs, RequestVoteReply,
};
use raft_core::{Effects, Entry, HardState, LogIndex, PeerId, ProposeError, Raft, Snapshot, Term};
use raft_labrpc::{ClientEnd, Responder};
use raft_storage::{Storage, StorageError};

use crate::node::{ApplyMsg, Shared};

/// The most events waiting for one peer's loop. Past it, incoming RPCs and replies are dropped
/// (the network may drop them anyway); proposals wait for room.
pub(crate) const EVENT_QUEUE_MAX: usize = 4096;

/// How far behind its tick schedule the loop may fall before it skips the missed ticks instead
/// of running them back to back (a stalled machine must not fire a burst of elections).
const TICKS_BEHIND_MAX: u32 = 5;

/// How often a blocked applier checks whether its peer was killed.
const APPLIER_KILL_POLL: Duration = Duration::from_millis(10);

/// Everything that can wake the loop.
pub(crate) enum Event {
    /// A candidate asks for this peer's vote.
    RequestVote(RequestVoteArgs, Responder<RequestVoteReply>),
    /// A leader replicates entries or sends a heartbeat.
    AppendEntries(AppendEntriesArgs, Responder<AppendEntriesReply>),
    /// A leader sends its snapshot.
    InstallSnapshot(InstallSnapshotArgs, Responder<InstallSnapshotReply>),
    /// The service took a snapshot through an index.
    Snapshot(LogIndex, Vec<u8>),
    /// A peer answered one of this peer's RPCs.
    Reply(PeerId, Reply),
    /// The service proposes a command; the answer goes back on the channel.
    Propose(Vec<u8>, flume::Sender<Result<(LogIndex, Term), ProposeError>>),
    /// Stop.
    Kill,
}

/// The responder of the request being handled, typed by the RPC it answers.
enum Answer {
    Vote(Responder<RequestVoteReply>),
    Append(Responder<AppendEntriesReply>),
    Snapshot(Responder<InstallSnapshotReply>),
}

/// What the loop owns.
pub(crate) struct Context<S> {
    pub(crate) raft: Raft,
    pub(crate) storage: S,
    pub(crate) peers: Vec<ClientEnd>,
    pub(crate) events_tx: flume::Sender<Event>,
    pub(crate) applier_tx: flume::Sender<ApplyMsg>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) tick: Duration,
    /// The id the next incoming request gets: its responder is kept under it until the
    /// Ready that answers it is carried out.
    pub(crate) next_request_id: u64,
}

/// The event loop: runs until killed or until storage fails.
pub(crate) fn run<S: Storage>(mut cx: Context<S>, events: flume::Receiver<Event>) {
    let span = tracing::debug_span!("peer", id = %cx.raft.id(), term = tracing::field::Empty, role = tracing::field::Empty);
    let _enter = span.enter();
    let mut next_tick = Instant::now() + cx.tick;
    while !cx.shared.killed.load(Ordering::Acquire) {
        // A tick that is due runs before any queued event: a steady stream of events must not
        // starve heartbeats and elections (recv_deadline pops a queued event before it looks
        // at the clock).
        let received = if Instant::now() >= next_tick {
            Err(flume::RecvTimeoutError::Timeout)
        } else {
            events.recv_deadline(next_tick)
        };
        let answer = match received {
            Ok(Event::Kill) | Err(flume::RecvTimeoutError::Disconnected) => break,
            Ok(event) => cx.handle(event),
            Err(flume::RecvTimeoutError::Timeout) => {
                cx.raft.tick();
                next_tick += cx.tick;
                let now = Instant::now();
                if now > next_tick + cx.tick * TICKS_BEHIND_MAX {
                    next_tick = now + cx.tick;
                }
                None
            }
        };
        span.record("term", cx.raft.term().0);
        span.record("role", tracing::field::debug(cx.raft.role()));
        if let Err(err) = cx.carry_out(answer) {
            tracing::error!(%err, "storage failed: the peer stops rather than answer what it did not persist");
            cx.shared.killed.store(true, Ordering::Release);
            break;
        }
    }
    cx.shared.publish(cx.raft.term(), false);
    // Answer nothing more: queued requests and proposals are dropped with their responders.
    events.drain().for_each(drop);
}

impl<S: Storage> Context<S> {
    /// Feeds one event to the state machine; returns the responder of a request, if it was
    /// one, under the id the request was stepped with.
    fn handle(&mut self, event: Event) -> Option<(RequestId, Answer)> {
        match event {
            Event::RequestVote(args, responder) => {
                let from = args.candidate_id;
                Some(self.step_request(from, Request::RequestVote(args), Answer::Vote(responder)))
            }
            Event::AppendEntries(args, responder) => {
                let from = args.leader_id;
                Some(self.step_request(from, Request::AppendEntries(args), Answer::Append(responder)))
            }
            Event::InstallSnapshot(args, responder) => {
                let from = args.leader_id;
                let answer = Answer::Snapshot(responder);
                Some(self.step_request(from, Request::InstallSnapshot(args), answer))
            }
            Event::Snapshot(index, data) => {
                if let Err(err) = self.raft.snapshot(index, data) {
                    tracing::debug!(%err, "snapshot from the service not taken");
                }
                None
            }
            Event::Reply(from, reply) => {
                self.raft.step_reply(from, reply);
                None
            }
            Event::Propose(command, answer) => {
                let _ = answer.send(self.raft.propose(command));
                None
            }
            Event::Kill => None,
        }
    }

    /// Steps a request under a fresh id; returns the id with the responder that answers it.
    /// labrpc tells a handler nothing of its caller, so the sender is the one the request
    /// names (an authenticated transport will know better).
    fn step_request(&mut self, from: PeerId, request: Request, answer: Answer) -> (RequestId, Answer) {
        let id = RequestId(self.next_request_id);
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.raft.step_request(from, id, request);
        (id, answer)
    }

    /// Carries out the state machine's outputs through [`raft_core::Ready::carry_out`], which
    /// keeps the order the persistence contract requires: persist (each write durable when its
    /// storage call returns), publish term and leadership, then send and answer the request
    /// that was stepped, then hand the applier the snapshot and the committed entries.
    fn carry_out(&mut self, answer: Option<(RequestId, Answer)>) -> Result<(), StorageError> {
        let ready = self.raft.take_ready();
        let mut effects = PeerEffects {
            storage: &mut self.storage,
            peers: &self.peers,
            events_tx: &self.events_tx,
            answer,
            applier_tx: &self.applier_tx,
            shared: &self.shared,
            term: self.raft.term(),
            is_leader: self.raft.is_leader(),
        };
        // A request the state machine did not answer (the gate refused it) gets no reply: its
        // responder is dropped with `effects`, and the call fails.
        ready.carry_out(&mut effects)
    }
}

/// What one Ready does to this peer's world: its storage, the ends to its peers, the
/// responder of the request being handled, the applier and the state `get_state` reads.
struct PeerEffects<'a, S> {
    storage: &'a mut S,
    peers: &'a [ClientEnd],
    events_tx: &'a flume::Sender<Event>,
    /// The responder of the request being handled, under the id it was stepped with.
    answer: Option<(RequestId, Answer)>,
    applier_tx: &'a flume::Sender<ApplyMsg>,
    shared: &'a Shared,
    /// The term after the input, published once the Ready is persisted.
    term: Term,
    /// Whether the peer leads after the input, published with `term`.
    is_leader: bool,
}

impl<S: Storage> Effects for PeerEffects<'_, S> {
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
        self.shared.publish(self.term, self.is_leader);
        Ok(())
    }

    /// Sends one request without waiting: its reply comes back to the loop as an event.
    fn send(&mut self, to: PeerId, request: Request) -> Result<(), StorageError> {
        let Some(end) = self.peers.get(to.as_usize()) else {
            return Ok(());
        };
        let events = self.events_tx.clone();
        let back = move |reply: Reply| {
            let _ = events.try_send(Event::Reply(to, reply));
        };
        match request {
            Request::RequestVote(args) => {
                end.call_with(
                    "Raft.RequestVote",
                    &args,
                    move |r: Result<RequestVoteReply, _>| {
                        if let Ok(reply) = r {
                            back(Reply::RequestVote(reply));
                        }
                    },
                );
            }
            Request::AppendEntries(args) => {
                end.call_with(
                    "Raft.AppendEntries",
                    &args,
                    move |r: Result<AppendEntriesReply, _>| {
                        if let Ok(reply) = r {
                            back(Reply::AppendEntries(reply));
                        }
                    },
                );
            }
            Request::InstallSnapshot(args) => {
                end.call_with(
                    "Raft.InstallSnapshot",
                    &args,
                    move |r: Result<InstallSnapshotReply, _>| {
                        if let Ok(reply) = r {
                            back(Reply::InstallSnapshot(reply));
                        }
                    },
                );
            }
        }
        Ok(())
    }

    /// Answers the request stepped under `id` through its responder. raft-core answers a
    /// request with a reply of its kind; a reply for another id or of another kind would leave
    /// the responder to be dropped, and the call to fail.
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), StorageError> {
        let Some((_, answer)) = self.answer.take_if(|(asked, _)| *asked == id) else {
            return Ok(());
        };
        match (answer, reply) {
            (Answer::Vote(r), Reply::RequestVote(reply)) => r.respond(reply),
            (Answer::Append(r), Reply::AppendEntries(reply)) => r.respond(reply),
            (Answer::Snapshot(r), Reply::InstallSnapshot(reply)) => r.respond(reply),
            (_, reply) => tracing::error!(
                ?id,
                kind = reply.name(),
                "a reply of another kind than its request"
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
}

/// The applier: moves committed commands from the loop to the service's channel, so that a
/// slow consumer never stalls the loop. Ends when the peer is killed or the service hangs up.
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
