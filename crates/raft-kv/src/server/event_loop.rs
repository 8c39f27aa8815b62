//! The server's one loop: it owns the [`ServerState`] and the responders of the requests it
//! waits to answer, and turns what arrives (requests, committed entries, read outcomes,
//! snapshots, Raft's state read every [`RAFT_STATE_POLL`]) into calls of the state's
//! decisions.
//!
//! Some failures leave nothing sensible to serve, and the loop stops on them instead of
//! going on wedged: a snapshot that does not decode (the replica cannot know the state it
//! stands for, so it could never apply the entries after it), entries skipped by Raft (or a
//! read confirmed ahead of its entries), and the Raft peer stopping on its own (its storage failed, or its loop panicked). The loop
//! then records why ([`Fatal`], read by `Server::failure`), kills the Raft peer, and ends;
//! a [`LoopGuard`] marks the server stopped however the loop ends, a panic included.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use raft_core::{Bytes, LogIndex, ReadError, ReadId, Term};
use raft_node::{ApplyMsg, RaftNode};

use super::{RAFT_STATE_POLL, REQUEST_WAIT_MAX, ReplyFn, Shared, Submitted};
use crate::pending::{Reply, RequestId, WrongLeader};
use crate::rpc::Response;
use crate::server_state::{RaftPeer, ServerState};
use crate::state_machine::StateMachine;

/// Why the server cannot go on: the loop stops, and `Server::failure` says this.
#[derive(Debug)]
pub(super) struct Fatal(String);

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

/// The server's Raft peer as [`ServerState::on_request`] calls it. A peer that does not lead
/// answers at once, without a trip through Raft's loop.
struct Peer<'a>(&'a RaftNode);

impl RaftPeer for Peer<'_> {
    fn start(&mut self, commands: Vec<Vec<u8>>) -> Option<(LogIndex, Term)> {
        if self.0.get_state().1 {
            self.0
                .start_batch(commands.into_iter().map(Bytes::from).collect())
                .ok()
        } else {
            None
        }
    }

    fn reads_ready(&mut self) -> bool {
        self.0.status().own_term_committed
    }

    fn read(&mut self, id: ReadId) -> Result<(), ReadError> {
        self.0.read(id)
    }
}

/// The most client requests taken into one batch (one `start_batch` on Raft's loop).
const REQUEST_BATCH_MAX: usize = 256;

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

    /// Forwarded requests that arrived together: Raft's `start` (one call for every command
    /// among them) or `read` if this peer leads (a follower answers at once, without a trip
    /// through Raft's loop), then each waits for its entry or its read.
    fn requests(&mut self, batch: Vec<Submitted<S>>) {
        let deadline = Instant::now() + REQUEST_WAIT_MAX;
        let mut requests = Vec::with_capacity(batch.len());
        for (command, reply) in batch {
            let id = RequestId(self.next_request_id);
            self.next_request_id = self.next_request_id.wrapping_add(1);
            self.waiting.insert(id, Waiting { reply, deadline });
            requests.push((id, command));
        }
        let replies = self.state.on_requests(requests, &mut Peer(&self.raft));
        self.answer(replies);
    }

    /// One message from Raft's applier.
    ///
    /// # Errors
    /// [`Fatal`] when the replica cannot go on: a snapshot that does not decode, entries
    /// skipped, or a read confirmed ahead of its entries.
    fn apply(&mut self, msg: ApplyMsg) -> Result<(), Fatal> {
        let replies = match msg {
            ApplyMsg::Command { index, term, command } => match self.state.on_apply(index, term, &command) {
                Ok(reply) => reply.into_iter().collect(),
                Err(gap) => {
                    return Err(Fatal(format!(
                        "Raft skipped entries ({gap}): the replica cannot apply past them"
                    )));
                }
            },
            ApplyMsg::Read { id, result } => match self.state.on_read(id, result) {
                Ok(reply) => reply.into_iter().collect(),
                Err(behind) => {
                    return Err(Fatal(format!(
                        "Raft confirmed a read before delivering its entries ({behind}): the replica cannot answer it"
                    )));
                }
            },
            ApplyMsg::Snapshot { index, data, .. } => match self.state.on_snapshot(&data) {
                Ok(replies) => replies,
                Err(err) => {
                    return Err(Fatal(format!(
                        "the snapshot through index {index} does not decode ({err}): the state it stands for is unknown"
                    )));
                }
            },
        };
        // Published before anyone is answered: a client that has its answer sees the server's
        // status at or past that entry.
        self.publish();
        self.answer(replies);
        Ok(())
    }

    /// The Raft peer stopped though this server did not kill it: its storage failed (it will
    /// not answer what it could not persist) or its loop panicked.
    fn raft_stopped_on_its_own(&self) -> Option<Fatal> {
        (self.raft.stopped() && !self.raft.killed()).then(|| {
            Fatal(
                "the Raft peer stopped on its own (its storage failed or its loop panicked; see the log)"
                    .into(),
            )
        })
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

/// On the loop thread, dropped however the loop ends: records a panic as the failure, kills
/// the Raft peer after any failure (a replica that stopped applying must not go on voting and
/// replicating as if it served), then marks the server stopped.
struct LoopGuard {
    raft: Arc<RaftNode>,
    shared: Arc<Shared>,
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.fail("the server loop panicked (see the log)".into());
        }
        let failed = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if failed {
            self.raft.kill();
        }
        self.shared.stopped.store(true, Ordering::Release);
    }
}

/// The loop: runs until killed (the stop flag, or a channel disconnected by kill) or until a
/// [`Fatal`] failure. Every waiting reply is dropped uncalled on the way out, which fails its
/// call.
pub(super) fn run<S: StateMachine>(
    mut cx: Context<S>,
    applies: &flume::Receiver<ApplyMsg>,
    requests: &flume::Receiver<Submitted<S>>,
) {
    let _guard = LoopGuard {
        raft: Arc::clone(&cx.raft),
        shared: Arc::clone(&cx.shared),
    };
    if let Err(Fatal(why)) = serve(&mut cx, applies, requests) {
        tracing::error!(%why, "the server stops");
        cx.shared.fail(why);
    }
    drop(cx);
    requests.drain().for_each(drop);
}

/// The loop proper, until killed (`Ok`) or a failure.
fn serve<S: StateMachine>(
    cx: &mut Context<S>,
    applies: &flume::Receiver<ApplyMsg>,
    requests: &flume::Receiver<Submitted<S>>,
) -> Result<(), Fatal> {
    let mut next_poll = Instant::now();
    while !cx.stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= next_poll {
            if let Some(fatal) = cx.raft_stopped_on_its_own() {
                return Err(fatal);
            }
            cx.poll(now);
            next_poll = now + RAFT_STATE_POLL;
        }
        let input = flume::Selector::new()
            .recv(applies, Input::Apply)
            .recv(requests, Input::Request)
            .wait_deadline(next_poll);
        match input {
            Ok(Input::Apply(Ok(msg))) => cx.apply(msg)?,
            Ok(Input::Request(Ok(first))) => {
                // Whatever else is queued joins it: one start for all of them.
                let mut batch = vec![first];
                batch.extend(requests.try_iter().take(REQUEST_BATCH_MAX - 1));
                cx.requests(batch);
            }
            // The applier ended (the peer was killed, or stopped on its own) or every sender
            // is gone (kill).
            Ok(Input::Apply(Err(_)) | Input::Request(Err(_))) => {
                return match cx.raft_stopped_on_its_own() {
                    Some(fatal) if !cx.stop.load(Ordering::Acquire) => Err(fatal),
                    _ => Ok(()),
                };
            }
            Err(flume::select::SelectError::Timeout) => {}
        }
        // Raft's deliveries first: keep its applier moving, whatever the requests.
        while let Ok(msg) = applies.try_recv() {
            cx.apply(msg)?;
        }
        cx.offer_snapshot();
    }
    Ok(())
}
