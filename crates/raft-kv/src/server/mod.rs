//! The threaded runtime: a [`Server`] is one Lab 3 server over a raft-node peer, over
//! raft-labrpc (6.824's `StartKVServer`, [`Server::start`]) or any raft-node transport
//! ([`Server::with_transport`]).
//!
//! One loop thread owns the server's [`crate::ServerState`] (no mutex around it) and waits on
//! its two channels: the requests [`Server::submit`] forwards, each with the closure that
//! answers it, and the committed entries and snapshots raft-node delivers. It also wakes
//! every [`RAFT_STATE_POLL`] to read Raft's term and leadership, so that a deposed leader's
//! waiting requests fail promptly. `submit` never blocks: it forwards the request or, if
//! [`REQUEST_QUEUE_MAX`] requests already wait to be read, answers wrong leader at once. The
//! labrpc handler ([`Server::service`]) is `submit` with the labrpc responder; a server over
//! another network calls `submit` from its own handler.
//! The loop waits only on its own channels; the one call into Raft that waits (`start`, for
//! Raft's own loop to take the command) is why the apply channel is unbounded (see
//! [`Server::start`]).
//!
//! [`LabrpcClerkTransport`] is the clerk's side: a [`crate::Clerk`] over labrpc ends.

mod clerk_transport;
mod event_loop;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use raft_core::{LogIndex, Term};
use raft_labrpc::{ClientEnd, Responder, Service};
use raft_node::{Inbox, LabrpcTransport, NodeError, NodeOptions, NodeStatus, RaftNode, Transport};
use raft_storage::Storage;

use crate::kv::KvStore;
use crate::rpc::Response;
use crate::rsm::Command;
use crate::server_state::ServerState;
use crate::state_machine::StateMachine;

pub use clerk_transport::LabrpcClerkTransport;

/// The labrpc service clerks call; it has one method, [`SUBMIT`].
pub const SERVICE: &str = "KVServer";

/// The one method clerks call: arguments a [`Command`] of the state machine's op, reply a
/// [`Response`] of its output.
pub const SUBMIT: &str = "KVServer.Submit";

/// [`SUBMIT`]'s method name within [`SERVICE`].
const SUBMIT_METHOD: &str = "Submit";

/// How often the loop reads Raft's term and leadership (and expires requests) when nothing
/// else wakes it: a deposed leader's waiting requests fail within this time of Raft's loop
/// publishing the change. The length of one raft-node tick.
pub const RAFT_STATE_POLL: Duration = Duration::from_millis(10);

/// The most requests forwarded by the handler and not yet read by the loop. Past it the
/// handler answers wrong leader at once (the clerk tries elsewhere) rather than wait.
pub const REQUEST_QUEUE_MAX: usize = 1024;

/// The longest a request waits for its entry to be applied before the server answers wrong
/// leader. A leader cut off from its majority keeps its term and its leadership as far as it
/// knows, so nothing else would release a clerk that reached it; after this wait the clerk
/// tries the others, which elect a new leader within an election timeout (300-600 ms). Should
/// the entry still commit later, the retry is a duplicate and is applied once.
pub const REQUEST_WAIT_MAX: Duration = Duration::from_secs(1);

/// What answers one submitted request, once: called with the response, or dropped uncalled
/// if the server stops first.
pub(crate) type ReplyFn<O> = Box<dyn FnOnce(Response<O>) + Send>;

/// A forwarded request: the command and what answers it.
type Submitted<S> = (
    Command<<S as StateMachine>::Op>,
    ReplyFn<<S as StateMachine>::Output>,
);

/// What the server loop publishes for [`Server::status`], [`Server::failure`] and
/// [`Server::stopped`], readable without asking it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The index of the last entry applied (or covered by the last snapshot installed).
    pub(crate) last_applied: AtomicU64,
    /// Why the loop stopped on its own, if it did (the first reason).
    pub(crate) failure: Mutex<Option<String>>,
    /// Set as the loop ends, however it ends.
    pub(crate) stopped: AtomicBool,
}

impl Shared {
    /// Records why the server stops, unless a reason was recorded already.
    pub(crate) fn fail(&self, why: String) {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(why);
    }
}

/// What a server knows of itself: its Raft peer's status and how far it has applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerStatus {
    /// The Raft peer's status (term, role, leader, commit index, state size).
    pub node: NodeStatus,
    /// The index of the last entry this server applied (or that the last snapshot it
    /// installed covers).
    pub last_applied: LogIndex,
}

/// One server of the replicated service over a raft-node peer.
pub struct Server<S: StateMachine> {
    raft: Arc<RaftNode>,
    /// The one strong sender of the request channel: dropped by kill, so that `submit` and
    /// the handler (which hold only a weak one) can no longer forward.
    requests: Mutex<Option<flume::Sender<Submitted<S>>>>,
    requests_weak: flume::WeakSender<Submitted<S>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The Lab 3 key/value server.
pub type KvServer = Server<KvStore>;

impl<S> Server<S>
where
    S: StateMachine + Send + 'static,
    S::Op: Send + 'static,
    S::Output: Send + 'static,
{
    /// 6.824's `StartKVServer`: starts the Raft peer over labrpc (`peers[i]` reaches peer `i`;
    /// `peers[me]` is never used) and the server's loop thread, and returns at once; see
    /// [`Server::with_transport`], which it calls. Add [`Server::service`] and
    /// [`Server::raft_service`] to this peer's labrpc server.
    ///
    /// # Errors
    /// [`NodeError`] when the peer cannot be made or a thread cannot be started.
    pub fn start<St: Storage>(
        peers: Vec<ClientEnd>,
        me: usize,
        storage: St,
        maxraftstate: Option<usize>,
        state: S,
        options: NodeOptions,
    ) -> Result<Arc<Server<S>>, NodeError> {
        let peer_count = peers.len();
        Server::with_transport(me, peer_count, storage, maxraftstate, state, options, |inbox| {
            Ok(LabrpcTransport::new(peers, inbox))
        })
    }

    /// Starts peer `me` of `peer_count` (raft-node's `RaftNode::with_transport` over
    /// `storage`, `options` and the transport `connect` makes from the peer's inbox) and the
    /// server's loop thread, and returns at once. The server snapshots when Raft's state
    /// reaches `maxraftstate` bytes (`None`: never), as the peer's status reports the size; a
    /// persisted snapshot is restored first (raft-node delivers it before any entry). Clients
    /// reach it through [`Server::submit`].
    ///
    /// raft-node's `start` waits for Raft's loop, which waits for its applier once
    /// `raft_node::APPLY_QUEUE_MAX` entries are queued, and the applier waits for this loop:
    /// a bounded apply channel here could close that circle while the loop is in `start`.
    /// So the channel from the applier is unbounded; raft-node's own queue still bounds the
    /// Raft side, and the loop empties this one before it reads the next request.
    ///
    /// # Errors
    /// [`NodeError`] when the peer cannot be made (its storage cannot be read, its transport
    /// cannot start) or a thread cannot be started.
    pub fn with_transport<St: Storage, T: Transport>(
        me: usize,
        peer_count: usize,
        storage: St,
        maxraftstate: Option<usize>,
        state: S,
        options: NodeOptions,
        connect: impl FnOnce(Inbox) -> std::io::Result<T>,
    ) -> Result<Arc<Server<S>>, NodeError> {
        let (apply_tx, apply_rx) = flume::unbounded();
        let reads = options.reads;
        let raft = Arc::new(RaftNode::with_transport(
            me, peer_count, storage, apply_tx, options, connect,
        )?);
        let (requests_tx, requests_rx) = flume::bounded(REQUEST_QUEUE_MAX);
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let context = event_loop::Context::new(
            ServerState::new(state, maxraftstate).with_reads(reads),
            Arc::clone(&raft),
            Arc::clone(&shared),
            Arc::clone(&stop),
        );
        // On failure `raft` is dropped here, which kills the peer.
        let thread = std::thread::Builder::new()
            .name(format!("kv-{me}"))
            .spawn(move || event_loop::run(context, &apply_rx, &requests_rx))
            .map_err(NodeError::Spawn)?;
        Ok(Arc::new(Server {
            raft,
            requests_weak: requests_tx.downgrade(),
            requests: Mutex::new(Some(requests_tx)),
            shared,
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Hands a client's request to the server; `reply` is called once with the response:
    /// the output once the command is applied, or [`Response::WrongLeader`] (not the
    /// leader, leadership or term lost, waited [`REQUEST_WAIT_MAX`], too many waiting) for
    /// the client to try another server. Never blocks: when [`REQUEST_QUEUE_MAX`] requests
    /// already wait to be read, `reply` is called at once with wrong leader. Once the server
    /// is killed or stopped, `reply` is dropped uncalled (as is that of a request waiting
    /// when it stops): the caller sees a lost call.
    pub fn submit(&self, command: Command<S::Op>, reply: impl FnOnce(Response<S::Output>) + Send + 'static) {
        submit_to::<S>(&self.requests_weak, command, Box::new(reply));
    }

    /// The labrpc service clerks call ([`SERVICE`], method [`SUBMIT`]); add it to this peer's
    /// labrpc server. Its handler is [`Server::submit`] with the labrpc responder: it never
    /// blocks, and after [`Server::kill`] it drops every call's responder, so the call fails.
    #[must_use]
    pub fn service(&self) -> Service {
        let requests = self.requests_weak.clone();
        let mut service = Service::new(SERVICE);
        service.method(
            SUBMIT_METHOD,
            move |command: Command<S::Op>, responder: Responder<Response<S::Output>>| {
                submit_to::<S>(
                    &requests,
                    command,
                    Box::new(move |response| responder.respond(response)),
                );
            },
        );
        service
    }
}

/// Forwards a request to the loop through `requests` without waiting: a full queue answers
/// wrong leader at once; a server killed or stopped drops `reply` uncalled.
fn submit_to<S: StateMachine>(
    requests: &flume::WeakSender<Submitted<S>>,
    command: Command<S::Op>,
    reply: ReplyFn<S::Output>,
) {
    let Some(sender) = requests.upgrade() else {
        return; // killed: the dropped reply fails the call
    };
    match sender.try_send((command, reply)) {
        Ok(()) => {}
        Err(flume::TrySendError::Full((_, reply))) => reply(Response::WrongLeader),
        Err(flume::TrySendError::Disconnected(_)) => {}
    }
}

impl<S: StateMachine> Server<S> {
    /// The Raft peer's labrpc service (`raft_node::SERVICE`), to add to the same labrpc
    /// server as [`Server::service`].
    #[must_use]
    pub fn raft_service(&self) -> Service {
        self.raft.service()
    }

    /// Raft's current term and whether this peer believes it leads.
    #[must_use]
    pub fn get_state(&self) -> (Term, bool) {
        self.raft.get_state()
    }

    /// What the server knows of itself: its Raft peer's status and the last index it applied.
    /// Never waits on the server's loop or Raft's.
    #[must_use]
    pub fn status(&self) -> ServerStatus {
        ServerStatus {
            node: self.raft.status(),
            last_applied: LogIndex(self.shared.last_applied.load(Ordering::Acquire)),
        }
    }

    /// Why the server stopped on its own, if it did: a snapshot that did not decode (from
    /// disk at restart, or from the leader), entries Raft skipped, the Raft peer stopping by
    /// itself (its storage failed), or a panic of the server loop. The server then serves
    /// nothing more, its Raft peer is killed, and [`Server::stopped`] is true; restart it
    /// once the cause is fixed. `None` while it runs, and after a plain [`Server::kill`].
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True once the server's loop has ended: killed, or stopped by a failure
    /// ([`Server::failure`] says which). A stopped server answers no request.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    /// Stops the server loop and the Raft peer, and returns once both have ended. Waiting
    /// calls and calls that arrive later fail (their responders are dropped). Calling it
    /// again does nothing.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::Release);
        drop(
            self.requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        // Ends the applier, which disconnects the loop's apply channel and so wakes it; a
        // `start` the loop is waiting in answers "stopped".
        self.raft.kill();
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl<S: StateMachine> Drop for Server<S> {
    fn drop(&mut self) {
        self.kill();
    }
}

impl<S: StateMachine> std::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("raft", &self.raft)
            .field("stopped", &self.stopped())
            .field("failure", &self.failure())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_is_the_service_s_method() {
        assert_eq!(SUBMIT, format!("{SERVICE}.{SUBMIT_METHOD}"));
    }
}
