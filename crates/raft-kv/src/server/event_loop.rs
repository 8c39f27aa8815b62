//! The server's one loop: it owns the [`ServerState`] and the responders of the requests it
//! waits to answer, and turns what arrives (requests, committed entries, snapshots, Raft's
//! state read every [`RAFT_STATE_POLL`]) into calls of the state's decisions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use raft_core::LogIndex;
use raft_node::{ApplyMsg, RaftNode};

use super::{RAFT_STATE_POLL, REQUEST_WAIT_MAX, ReplyFn, Shared, Submitted};
use crate::pending::{Reply, RequestId, WrongLeader};
use crate::rpc::Response;
use crate::server_state::ServerState;
use crate::state_machine::StateMachine;

/// A request waiting for its entry: how to answer it, and until when it may wait.
struct Waiting<O> {
    reply: ReplyFn<O>,
    deadline: Instant,
}

/// What the loop owns.
pub(super) struct Context<S: StateMachine> {
    state: ServerState<S>,
    raft: Arc<RaftNode>,
    /// What the loop publishes for `Server::status`.
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    waiting: HashMap<RequestId, Waiting<S::Output>>,
    next_request_id: u64,
    /// The last index offered to Raft's `snapshot`: not offered again.
    snapshot_offered: LogIndex,
}

/// What woke the loop.
enum Input<T> {
    Apply(Result<ApplyMsg, flume::RecvError>),
    Request(Result<T, flume::RecvError>),
}

impl<S: StateMachine> Context<S> {
    pub(super) fn new(
        state: ServerState<S>,
        raft: Arc<RaftNode>,
        shared: Arc<Shared>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Context {
            state,
            raft,
            shared,
            stop,
            waiting: HashMap::new(),
            next_request_id: 0,
            snapshot_offered: LogIndex::ZERO,
        }
    }

    /// A forwarded request: Raft's `start` if this peer leads (a follower answers at once,
    /// without a trip through Raft's loop), then wait for its entry.
    fn request(&mut self, command: crate::rsm::Command<S::Op>, reply: ReplyFn<S::Output>) {
        let id = RequestId(self.next_request_id);
        self.next_request_id = self.next_request_id.wrapping_add(1);
        let deadline = Instant::now() + REQUEST_WAIT_MAX;
        self.waiting.insert(id, Waiting { reply, deadline });
        let raft = &self.raft;
        let replies = self.state.on_request(id, command, |bytes| {
            if raft.get_state().1 {
                raft.start(bytes).ok()
            } else {
                None
            }
        });
        self.answer(replies);
    }

    /// One message from Raft's applier.
    fn apply(&mut self, msg: ApplyMsg) {
        match msg {
            ApplyMsg::Command { index, term, command } => match self.state.on_apply(index, term, &command) {
                Ok(reply) => self.answer(reply),
                Err(gap) => tracing::error!(%gap, "raft-node skipped entries: not applied"),
            },
            ApplyMsg::Snapshot { index, data, .. } => match self.state.on_snapshot(&data) {
                Ok(replies) => self.answer(replies),
                Err(err) => tracing::error!(%index, %err, "a snapshot from Raft was not installed"),
            },
        }
    }

    /// After applying what Raft delivered: offers Raft a snapshot if its state is too large
    /// (once per applied index; Raft takes it asynchronously).
    fn offer_snapshot(&mut self) {
        if self.state.rsm().last_applied() <= self.snapshot_offered {
            return;
        }
        let failures = self.state.snapshot_encode_failures();
        let raft_state_size = self.raft.status().raft_state_size;
        if let Some((index, data)) = self.state.snapshot_due(raft_state_size) {
            self.raft.snapshot(index, data);
            self.snapshot_offered = index;
        } else if self.state.snapshot_encode_failures() > failures {
            tracing::error!(
                "the state machine's outputs do not encode: no snapshot, Raft's log keeps growing"
            );
        }
    }

    /// Reads Raft's state (failing the waiting requests of a deposed leader) and answers the
    /// requests that waited too long.
    fn poll(&mut self, now: Instant) {
        let (term, is_leader) = self.raft.get_state();
        let replies = self.state.on_raft_state(term, is_leader);
        self.answer(replies);
        let expired: Vec<RequestId> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let replies: Vec<_> = expired
            .into_iter()
            .map(|request_id| {
                // Also forgotten by the state (it would count toward its bound until the term
                // changed); answered here if the state had not registered it.
                self.state.expire(request_id).unwrap_or(Reply {
                    request_id,
                    outcome: Err(WrongLeader),
                })
            })
            .collect();
        self.answer(replies);
    }

    /// Sends each reply to its waiting request, if it still waits (one answered on expiry is
    /// answered once).
    fn answer(&mut self, replies: impl IntoIterator<Item = Reply<S::Output>>) {
        for reply in replies {
            if let Some(waiting) = self.waiting.remove(&reply.request_id) {
                (waiting.reply)(Response::from(reply.outcome));
            }
        }
    }

    /// Publishes how far the replica has applied, for `Server::status`.
    fn publish(&self) {
        let last_applied = self.state.rsm().last_applied();
        self.shared.last_applied.store(last_applied.0, Ordering::Release);
    }
}

/// The loop: runs until killed (the stop flag, or a channel disconnected by kill). Every
/// waiting reply is dropped uncalled on the way out, which fails its call.
pub(super) fn run<S: StateMachine>(
    mut cx: Context<S>,
    applies: &flume::Receiver<ApplyMsg>,
    requests: &flume::Receiver<Submitted<S>>,
) {
    let mut next_poll = Instant::now();
    while !cx.stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= next_poll {
            cx.poll(now);
            next_poll = now + RAFT_STATE_POLL;
        }
        let input = flume::Selector::new()
            .recv(applies, Input::Apply)
            .recv(requests, Input::Request)
            .wait_deadline(next_poll);
        match input {
            Ok(Input::Apply(Ok(msg))) => cx.apply(msg),
            Ok(Input::Request(Ok((command, responder)))) => cx.request(command, responder),
            // The applier ended (the peer was killed) or every sender is gone (kill).
            Ok(Input::Apply(Err(_)) | Input::Request(Err(_))) => break,
            Err(flume::select::SelectError::Timeout) => {}
        }
        // Raft's deliveries first: keep its applier moving, whatever the requests.
        while let Ok(msg) = applies.try_recv() {
            cx.apply(msg);
        }
        cx.publish();
        cx.offer_snapshot();
    }
    drop(cx);
    requests.drain().for_each(drop);
}
