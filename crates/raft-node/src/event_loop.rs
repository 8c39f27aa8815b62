//! The event loop that owns one peer's state machine, and the applier beside it.
//!
//! One thread waits on one bounded channel of [`Event`]s with a deadline for the next tick.
//! After each input it calls [`Context::carry_out`], the one function that keeps Figure 2's
//! order: persist, then send (and answer the request that was stepped), then apply.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, Message,
    RequestVoteArgs, RequestVoteReply,
};
use raft_core::{LogIndex, NotLeader, PeerId, Raft, Ready, Term};
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
    Reply(PeerId, Message),
    /// The service proposes a command; the answer goes back on the channel.
    Propose(Vec<u8>, flume::Sender<Result<(LogIndex, Term), NotLeader>>),
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
    /// Feeds one event to the state machine; returns the responder of a request, if it was one.
    fn handle(&mut self, event: Event) -> Option<Answer> {
        match event {
            Event::RequestVote(args, responder) => {
                self.raft.step(args.candidate_id, Message::RequestVote(args));
                Some(Answer::Vote(responder))
            }
            Event::AppendEntries(args, responder) => {
                self.raft.step(args.leader_id, Message::AppendEntries(args));
                Some(Answer::Append(responder))
            }
            Event::InstallSnapshot(args, responder) => {
                self.raft.step(args.leader_id, Message::InstallSnapshot(args));
                Some(Answer::Snapshot(responder))
            }
            Event::Snapshot(index, data) => {
                if let Err(err) = self.raft.snapshot(index, data) {
                    tracing::debug!(%err, "snapshot from the service not taken");
                }
                None
            }
            Event::Reply(from, message) => {
                self.raft.step(from, message);
                None
            }
            Event::Propose(command, answer) => {
                let _ = answer.send(self.raft.propose(command));
                None
            }
            Event::Kill => None,
        }
    }

    /// Carries out the state machine's outputs in the order the persistence contract requires:
    /// 1. persist term and vote, then cut the log, then the snapshot, then new entries (each
    ///    durable when its storage call returns; every prefix of this sequence is a state the
    ///    peer can restart from);
    /// 2. only then send messages and answer the request that was stepped, so that no vote or
    ///    acknowledgement leaves before what it promises is on stable storage;
    /// 3. then hand committed entries to the applier, in index order.
    fn carry_out(&mut self, answer: Option<Answer>) -> Result<(), StorageError> {
        let ready = self.raft.take_ready();
        self.persist(&ready)?;
        self.shared.publish(self.raft.term(), self.raft.is_leader());
        for (to, message) in ready.messages {
            self.send(to, message);
        }
        match (answer, ready.reply) {
            (Some(Answer::Vote(r)), Some(Message::RequestVoteReply(reply))) => r.respond(reply),
            (Some(Answer::Append(r)), Some(Message::AppendEntriesReply(reply))) => r.respond(reply),
            (Some(Answer::Snapshot(r)), Some(Message::InstallSnapshotReply(reply))) => r.respond(reply),
            (Some(_), _) => {} // ignored request (e.g. from an unknown peer): the call fails
            (None, _) => {}
        }
        if let (true, Some(snapshot)) = (ready.apply_snapshot, ready.snapshot) {
            let meta = snapshot.meta;
            let msg = ApplyMsg::Snapshot {
                index: meta.last_included_index,
                term: meta.last_included_term,
                data: snapshot.data,
            };
            let _ = self.applier_tx.send(msg);
        }
        for entry in ready.committed {
            let msg = ApplyMsg::Command {
                index: entry.index,
                term: entry.term,
                command: entry.command,
            };
            let _ = self.applier_tx.send(msg);
        }
        Ok(())
    }

    fn persist(&mut self, ready: &Ready) -> Result<(), StorageError> {
        if let Some(hard_state) = &ready.hard_state {
            self.storage.save_hard_state(hard_state)?;
        }
        // Truncate before installing a snapshot: a crash between the two then leaves an
        // older, valid log, never a snapshot followed by entries that conflict with it.
        if let Some(from) = ready.truncate_from {
            self.storage.truncate_suffix(from)?;
        }
        if let Some(snapshot) = &ready.snapshot {
            self.storage.install_snapshot(snapshot)?;
        }
        self.storage.append(&ready.entries)
    }

    /// Sends one message without waiting: its reply comes back to this loop as an event.
    fn send(&self, to: PeerId, message: Message) {
        let Some(end) = self.peers.get(to.as_usize()) else {
            return;
        };
        let events = self.events_tx.clone();
        let back = move |reply: Message| {
            let _ = events.try_send(Event::Reply(to, reply));
        };
        match message {
            Message::RequestVote(args) => {
                end.call_with(
                    "Raft.RequestVote",
                    &args,
                    move |r: Result<RequestVoteReply, _>| {
                        if let Ok(reply) = r {
                            back(Message::RequestVoteReply(reply));
                        }
                    },
                );
            }
            Message::AppendEntries(args) => {
                end.call_with(
                    "Raft.AppendEntries",
                    &args,
                    move |r: Result<AppendEntriesReply, _>| {
                        if let Ok(reply) = r {
                            back(Message::AppendEntriesReply(reply));
                        }
                    },
                );
            }
            Message::InstallSnapshot(args) => {
                end.call_with(
                    "Raft.InstallSnapshot",
                    &args,
                    move |r: Result<InstallSnapshotReply, _>| {
                        if let Ok(reply) = r {
                            back(Message::InstallSnapshotReply(reply));
                        }
                    },
                );
            }
            Message::RequestVoteReply(_)
            | Message::AppendEntriesReply(_)
            | Message::InstallSnapshotReply(_) => {
                tracing::error!(to = %to, "a reply is sent through its responder, not as a request");
            }
        }
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
