//! The peer handle the tests and services hold: make (over labrpc) or
//! [`RaftNode::with_transport`] (over any [`Transport`]), get_state, start, snapshot,
//! transfer_leadership, kill, and the counters of what the peer dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use raft_core::{
    Bytes, LogIndex, NewError, PeerId, ProposeError, Raft, ReadError, ReadId, Refused, Restored, RoleKind,
    Term, TransferError,
};
use raft_labrpc::{ClientEnd, Service};
use raft_storage::Storage;

use crate::event_loop::{self, APPLY_QUEUE_MAX, EVENT_QUEUE_MAX, Event};
use crate::labrpc::{self, LabrpcTransport};
use crate::options::NodeOptions;
use crate::transport::{Inbox, Transport};

/// What the applier delivers to the service, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyMsg {
    /// A committed command, delivered exactly once, in index order.
    Command {
        /// The command's log index.
        index: LogIndex,
        /// The term in which it was proposed.
        term: Term,
        /// The command, as proposed: the same shared bytes the log holds, not a copy.
        command: Bytes,
    },
    /// The service's state through `index`, from the leader (or from disk at restart): the
    /// service replaces its state with `data`. Commands after it continue at `index + 1`.
    Snapshot {
        /// The last log index the snapshot covers.
        index: LogIndex,
        /// The term of that entry.
        term: Term,
        /// The service's snapshot.
        data: Vec<u8>,
    },
    /// The outcome of the read the service asked for with [`RaftNode::read`]. When it comes,
    /// every command through the read's index has come before it on this channel: the
    /// service answers the read from its state now (thesis section 6.4, step 4).
    Read {
        /// The service's name for the read.
        id: ReadId,
        /// The read's index, or why it failed (retry at the leader named, if any).
        result: Result<LogIndex, ReadError>,
    },
}

/// Why [`RaftNode::start`] did not take a command. Non-exhaustive: later features may refuse
/// with reasons of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// This peer is not the leader; `leader_hint` is the leader it knows of in its current
    /// term, if any, for a client to try instead.
    NotLeader {
        /// The leader this peer knows of, if any.
        leader_hint: Option<PeerId>,
    },
    /// The leader already holds `max` entries it has not committed (raft-core's
    /// `Config::uncommitted_entries_max`): the cluster is behind; retry once commits catch up.
    UncommittedFull {
        /// Uncommitted entries in the leader's log.
        uncommitted_entries: u64,
        /// The configured bound.
        max: usize,
    },
    /// This peer leads but is handing leadership to `target` ([`RaftNode::transfer_leadership`]):
    /// retry at `target` once it leads, or here once the transfer is abandoned (within an
    /// election timeout).
    Transferring {
        /// The peer leadership is being handed to.
        target: PeerId,
    },
    /// The peer has stopped (killed, its storage failed, or its loop panicked): it will never
    /// take a command again.
    Stopped,
}

impl From<ProposeError> for StartError {
    fn from(refusal: ProposeError) -> StartError {
        match refusal {
            ProposeError::NotLeader { leader_hint } => StartError::NotLeader { leader_hint },
            ProposeError::UncommittedFull {
                uncommitted_entries,
                max,
            } => StartError::UncommittedFull {
                uncommitted_entries,
                max,
            },
            ProposeError::Transferring { target } => StartError::Transferring { target },
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NotLeader {
                leader_hint: Some(leader),
            } => write!(f, "not the leader (try {leader})"),
            StartError::NotLeader { leader_hint: None } => write!(f, "not the leader (no leader known)"),
            StartError::UncommittedFull {
                uncommitted_entries,
                max,
            } => write!(
                f,
                "the leader holds {uncommitted_entries} uncommitted entries (at most {max}); retry later"
            ),
            StartError::Transferring { target } => {
                write!(f, "leadership is being handed to {target} (try it soon)")
            }
            StartError::Stopped => write!(f, "the peer has stopped"),
        }
    }
}

impl std::error::Error for StartError {}

/// What a peer dropped instead of handing to Raft, since it started: the signs of a bad
/// network, a hostile or mismatched peer, or overload. Read with [`RaftNode::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Messages that did not decode (a reply here, or a request at the peer that labrpc
    /// reports back), as the transport reported them.
    pub decode_failures: u64,
    /// Replies to no call this peer had outstanding, as the transport reported them.
    pub unknown_replies: u64,
    /// Incoming requests and replies dropped because the event queue was full.
    pub dropped_queue_full: u64,
    /// Snapshots from the service dropped because the event queue was full (the service may
    /// offer the next one; Raft's log grows until then).
    pub dropped_snapshots: u64,
    /// Messages raft-core's gate refused, per reason.
    pub refused: Refused,
}

/// Why a peer could not be made.
#[derive(Debug)]
pub enum NodeError {
    /// The persisted state could not be read.
    Storage(raft_storage::StorageError),
    /// The options or the persisted log cannot make a state machine.
    Raft(NewError),
    /// The event loop thread could not be started.
    Spawn(std::io::Error),
    /// The transport could not be started (the `connect` of [`RaftNode::with_transport`]
    /// failed: a listener, a thread).
    Transport(std::io::Error),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Storage(e) => write!(f, "cannot load persisted state: {e}"),
            NodeError::Raft(e) => write!(f, "cannot build the state machine: {e}"),
            NodeError::Spawn(e) => write!(f, "cannot start the peer's threads: {e}"),
            NodeError::Transport(e) => write!(f, "cannot start the peer's transport: {e}"),
        }
    }
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NodeError::Storage(e) => Some(e),
            NodeError::Raft(_) => None,
            NodeError::Spawn(e) | NodeError::Transport(e) => Some(e),
        }
    }
}

/// What a peer knows of itself and its cluster, as its event loop last published it (after
/// every input, once what the input changed is persisted). Read with [`RaftNode::status`],
/// which never waits on the loop: for a status page, a client's redirect, or a service that
/// decides when to snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The current term.
    pub term: Term,
    /// The peer's role. A stopped peer reports [`RoleKind::Follower`] (it leads nothing).
    pub role: RoleKind,
    /// The leader of the current term, if this peer knows it (itself, when it leads). `None`
    /// once the peer has stopped.
    pub leader: Option<PeerId>,
    /// The highest log index known to be committed.
    pub commit_index: LogIndex,
    /// This peer leads and no entry of an earlier term lies above its commit index
    /// ([`Raft::own_term_committed`]): a read it takes now ([`RaftNode::read`]) is not parked
    /// until an entry of this term commits (thesis section 6.4, step 1). A
    /// service may send reads through the log until then: that entry commits and makes the
    /// later reads cheap (the thesis's no-op at election, chosen by the service).
    pub own_term_committed: bool,
    /// Bytes of persisted Raft state ([`Storage::raft_state_size`]): what a service compares
    /// with its `maxraftstate` to decide when to snapshot.
    pub raft_state_size: u64,
}

impl NodeStatus {
    /// The status of `raft` over storage holding `raft_state_size` bytes of Raft state.
    pub(crate) fn of(raft: &Raft, raft_state_size: u64) -> NodeStatus {
        NodeStatus {
            term: raft.term(),
            role: raft.role(),
            leader: raft.leader_id(),
            commit_index: raft.commit_index(),
            own_term_committed: raft.is_leader() && raft.own_term_committed(),
            raft_state_size,
        }
    }
}

impl Default for NodeStatus {
    fn default() -> NodeStatus {
        NodeStatus {
            term: Term(0),
            role: RoleKind::Follower,
            leader: None,
            commit_index: LogIndex::ZERO,
            own_term_committed: false,
            raft_state_size: 0,
        }
    }
}

/// State the event loop publishes after every input, and the counters transports add to,
/// readable without asking the loop.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// `term << 1 | is_leader`, one word so that a reader never sees a torn pair.
    pub(crate) term_and_leader: AtomicU64,
    /// Set by kill: the loop and the applier stop.
    pub(crate) killed: AtomicBool,
    /// Set as the loop thread ends, however it ends (see `event_loop::StopGuard`).
    pub(crate) stopped: AtomicBool,
    pub(crate) decode_failures: AtomicU64,
    pub(crate) unknown_replies: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_snapshots: AtomicU64,
    pub(crate) refused: Mutex<Refused>,
    /// What [`RaftNode::status`] reads; the loop replaces it after every input. Held only to
    /// copy a few words in or out, never across anything that waits.
    pub(crate) status: Mutex<NodeStatus>,
}

impl Shared {
    /// Publishes what `get_state` and `status` read.
    pub(crate) fn publish(&self, status: NodeStatus) {
        let is_leader = status.role == RoleKind::Leader;
        self.term_and_leader
            .store(status.term.0 << 1 | u64::from(is_leader), Ordering::Release);
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// The loop has ended: no longer a leader, and stopped. `SeqCst`, so that a proposal
    /// queued after the loop's last drain sees the flag (see `RaftNode::start`).
    pub(crate) fn stop(&self) {
        self.term_and_leader.fetch_and(!1, Ordering::SeqCst);
        {
            let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status.role = RoleKind::Follower;
            status.leader = None;
            status.own_term_committed = false;
        }
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// A running peer. Cheap to share by reference; [`RaftNode::kill`] stops it.
pub struct RaftNode {
    events: flume::Sender<Event>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts a peer over labrpc, as 6.824's `Make`: `peers[i]` reaches peer `i` (`peers[me]` is
/// this peer's own end and is never used), `storage` holds what it persisted before (empty for
/// a new peer), and committed commands arrive on `apply_tx` in index order. Add
/// [`RaftNode::service`] to this peer's labrpc server for the others to reach it.
///
/// # Errors
/// [`NodeError`] if the persisted state cannot be read, the options cannot work, or the
/// threads cannot be started.
pub fn make(
    peers: Vec<ClientEnd>,
    me: usize,
    storage: impl Storage,
    apply_tx: flume::Sender<ApplyMsg>,
    options: NodeOptions,
) -> Result<RaftNode, NodeError> {
    let peer_count = peers.len();
    RaftNode::with_transport(me, peer_count, storage, apply_tx, options, |inbox| {
        Ok(LabrpcTransport::new(peers, inbox))
    })
}

impl RaftNode {
    /// Starts peer `me` of `peer_count` over the transport `connect` makes: it receives the
    /// peer's [`Inbox`], where the transport hands in what arrives for the peer. `storage`
    /// holds what the peer persisted before (empty for a new peer); committed commands arrive
    /// on `apply_tx` in index order. `connect` may fail (a transport that binds sockets or
    /// starts threads): the peer is then not started.
    ///
    /// # Errors
    /// [`NodeError`] if the persisted state cannot be read, the options cannot work, the
    /// transport cannot be started ([`NodeError::Transport`], with `connect`'s error), or the
    /// threads cannot be started.
    pub fn with_transport<S: Storage, T: Transport>(
        me: usize,
        peer_count: usize,
        storage: S,
        apply_tx: flume::Sender<ApplyMsg>,
        options: NodeOptions,
        connect: impl FnOnce(Inbox) -> std::io::Result<T>,
    ) -> Result<RaftNode, NodeError> {
        let persisted = storage.load().map_err(NodeError::Storage)?;
        let on_disk_snapshot = persisted.snapshot.clone();
        let restored = Restored {
            hard_state: persisted.hard_state,
            snapshot: persisted.snapshot,
            entries: persisted.entries,
        };
        let raft = Raft::restore(options.config(me, peer_count), restored).map_err(NodeError::Raft)?;
        let shared = Arc::new(Shared::default());
        shared.publish(NodeStatus::of(&raft, storage.raft_state_size()));
        let (events_tx, events_rx) = flume::bounded(EVENT_QUEUE_MAX);
        let (applier_tx, applier_rx) = flume::bounded(APPLY_QUEUE_MAX);
        if let Some(snapshot) = on_disk_snapshot {
            // A restarted peer hands its snapshot to the service first, then resumes after it.
            let meta = snapshot.meta;
            let msg = ApplyMsg::Snapshot {
                index: meta.last_included_index,
                term: meta.last_included_term,
                data: snapshot.data,
            };
            let _ = applier_tx.send(msg);
        }
        let transport =
            connect(Inbox::new(events_tx.clone(), Arc::clone(&shared))).map_err(NodeError::Transport)?;
        let applier = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("raft-{me}-applier"))
                .spawn(move || event_loop::run_applier(applier_rx, apply_tx, &shared))
                .map_err(NodeError::Spawn)?
        };
        let context = event_loop::Context {
            raft,
            storage,
            transport,
            applier_tx,
            shared: Arc::clone(&shared),
            tick: options.tick,
            next_request_id: 0,
            pending: HashMap::new(),
            refused_published: Refused::default(),
        };
        let looper = std::thread::Builder::new()
            .name(format!("raft-{me}"))
            .spawn(move || event_loop::run(context, events_rx));
        let node = RaftNode {
            events: events_tx,
            shared,
            threads: Mutex::new(vec![applier]),
        };
        // On failure, dropping `node` kills and joins the applier already running.
        let looper = looper.map_err(NodeError::Spawn)?;
        node.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(looper);
        Ok(node)
    }

    /// The current term and whether this peer believes it is the leader. A stopped peer is
    /// never the leader.
    #[must_use]
    pub fn get_state(&self) -> (Term, bool) {
        let word = self.shared.term_and_leader.load(Ordering::Acquire);
        (Term(word >> 1), word & 1 == 1)
    }

    /// What the peer knows of itself and its cluster (term, role, leader, commit index, size of
    /// its persisted Raft state), as its event loop last published it. Never waits on the loop.
    #[must_use]
    pub fn status(&self) -> NodeStatus {
        *self.shared.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Proposes a command. On the leader it returns at once with the index and term the
    /// command will have if it commits (it may not: leadership can be lost). Never waits on
    /// the network; waits for the loop only while the loop runs.
    ///
    /// # Errors
    /// [`StartError::NotLeader`] (with the leader it knows of) if this peer is not the leader;
    /// [`StartError::Stopped`] if the peer has stopped, however it stopped.
    pub fn start(&self, command: impl Into<Bytes>) -> Result<(LogIndex, Term), StartError> {
        self.start_batch(vec![command.into()])
    }

    /// Proposes several commands in one trip to the loop; they take consecutive indices, in
    /// order, and the result is the first one's index and term. All are taken or none
    /// (raft-core's [`Raft::propose_batch`]). A service that has many commands at once saves
    /// a thread hop per command, and they leave in one AppendEntries and one write.
    ///
    /// # Errors
    /// As [`RaftNode::start`].
    pub fn start_batch(&self, commands: Vec<Bytes>) -> Result<(LogIndex, Term), StartError> {
        self.ask(|tx| Event::Propose(commands, tx), Err(StartError::Stopped))
    }

    /// Hands the loop the event `make` builds around an answer channel, and waits for the
    /// answer; `stopped` if the peer has stopped, however it stopped. The loop answers, or
    /// stops first and drops the event (and with it the channel) in its last drain. An event
    /// queued after that drain is one whose sender sees `stopped` here: the flag is set before
    /// the drain, and the channel's lock orders the drain and the send.
    fn ask<T>(&self, make: impl FnOnce(flume::Sender<T>) -> Event, stopped: T) -> T {
        if self.stopped() {
            return stopped;
        }
        let (tx, rx) = flume::bounded(1);
        if self.events.send(make(tx)).is_err() {
            return stopped;
        }
        if self.shared.stopped.load(Ordering::SeqCst) {
            return rx.try_recv().unwrap_or(stopped);
        }
        rx.recv().unwrap_or(stopped)
    }

    /// Asks to read (thesis section 6.4): the outcome comes on the apply channel as
    /// [`ApplyMsg::Read`], after every command through the read's index. Waits only for the
    /// loop to take the request.
    ///
    /// # Errors
    /// What [`raft_core::Raft::read`] refuses with (not the leader, reads off, too many
    /// waiting); [`ReadError::NotLeader`] without a hint once the peer has stopped.
    pub fn read(&self, id: ReadId) -> Result<(), ReadError> {
        let stopped = Err(ReadError::NotLeader { leader_hint: None });
        self.ask(|tx| Event::Read(id, tx), stopped)
    }

    /// Asks this peer, if it leads, to hand leadership to `target` (the thesis's section 3.10):
    /// it stops taking commands ([`StartError::Transferring`]), brings `target` up to date and
    /// tells it to campaign at once. Returns as soon as the transfer has begun; whether it
    /// worked shows in [`RaftNode::status`] (`target` leads a later term) or in `start`
    /// taking commands here again, in the same term, once it is abandoned after an election
    /// timeout. Never waits on the network; waits for the loop only while the loop runs.
    ///
    /// # Errors
    /// raft-core's [`TransferError`]: `NotLeader` (with the leader it knows of) if this peer
    /// does not lead, or has stopped (a stopped peer leads nothing and knows no leader);
    /// `UnknownPeer` or `ToSelf` for a target that cannot take over.
    pub fn transfer_leadership(&self, target: PeerId) -> Result<(), TransferError> {
        let stopped = Err(TransferError::NotLeader { leader_hint: None });
        self.ask(|tx| Event::Transfer(target, tx), stopped)
    }

    /// The service's state through `index` is `data`: Raft discards its log through `index`
    /// and persists the snapshot in its place. Never waits (the tester calls it from the
    /// goroutine that reads the apply channel); a snapshot that is not newer than the current
    /// one is ignored. A full event queue drops it, counted in
    /// [`NodeStats::dropped_snapshots`] and traced.
    pub fn snapshot(&self, index: LogIndex, data: Vec<u8>) {
        if let Err(flume::TrySendError::Full(_)) = self.events.try_send(Event::Snapshot(index, data)) {
            self.shared.dropped_snapshots.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%index, "the event queue is full: the service's snapshot is dropped");
        }
    }

    /// Stops the peer: its event loop and applier end, it sends and answers nothing more.
    /// Returns once both threads have finished. Calling it again does nothing.
    pub fn kill(&self) {
        self.shared.killed.store(true, Ordering::Release);
        let _ = self.events.try_send(Event::Kill);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// True once [`RaftNode::kill`] was called.
    #[must_use]
    pub fn killed(&self) -> bool {
        self.shared.killed.load(Ordering::Acquire)
    }

    /// True once the event loop has ended: killed, its storage failed, or it panicked. A
    /// stopped peer sends and answers nothing, and `start` answers [`StartError::Stopped`].
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    /// What the peer dropped instead of handing to Raft, since it started.
    #[must_use]
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            decode_failures: self.shared.decode_failures.load(Ordering::Relaxed),
            unknown_replies: self.shared.unknown_replies.load(Ordering::Relaxed),
            dropped_queue_full: self.shared.dropped_queue_full.load(Ordering::Relaxed),
            dropped_snapshots: self.shared.dropped_snapshots.load(Ordering::Relaxed),
            refused: *self.shared.refused.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Where a transport hands this peer what arrives for it (for a transport of incoming
    /// connections started after the peer).
    #[must_use]
    pub fn inbox(&self) -> Inbox {
        Inbox::new(self.events.clone(), Arc::clone(&self.shared))
    }

    /// The labrpc service through which other peers call this one; add it to this peer's
    /// labrpc server ([`labrpc::service`] on this peer's inbox).
    #[must_use]
    pub fn service(&self) -> Service {
        labrpc::service(&self.inbox())
    }
}

impl Drop for RaftNode {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (term, leader) = self.get_state();
        f.debug_struct("RaftNode")
            .field("term", &term)
            .field("leader", &leader)
            .field("stopped", &self.stopped())
            .finish()
    }
}
