//! The peer handle the tests and services hold: make, get_state, start, kill, and the labrpc
//! service through which other peers reach this one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, RequestVoteArgs,
    RequestVoteReply,
};
use raft_core::{LogIndex, NewError, ProposeError, Raft, Restored, Term};
use raft_labrpc::{ClientEnd, Responder, Service};
use raft_storage::Storage;

use crate::event_loop::{self, EVENT_QUEUE_MAX, Event};
use crate::options::NodeOptions;

/// How often a waiting `start` checks whether the loop has stopped.
const START_KILL_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// The labrpc service name peers call: `Raft.RequestVote`, `Raft.AppendEntries`.
pub const SERVICE: &str = "Raft";

/// What the applier delivers to the service, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyMsg {
    /// A committed command, delivered exactly once, in index order.
    Command {
        /// The command's log index.
        index: LogIndex,
        /// The term in which it was proposed.
        term: Term,
        /// The command, as proposed.
        command: Vec<u8>,
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
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Storage(e) => write!(f, "cannot load persisted state: {e}"),
            NodeError::Raft(e) => write!(f, "cannot build the state machine: {e}"),
            NodeError::Spawn(e) => write!(f, "cannot start the peer's threads: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// State the event loop publishes after every input, readable without asking it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// `term << 1 | is_leader`, one word so that a reader never sees a torn pair.
    pub(crate) term_and_leader: AtomicU64,
    /// Set by kill: the loop and the applier stop.
    pub(crate) killed: AtomicBool,
}

impl Shared {
    pub(crate) fn publish(&self, term: Term, is_leader: bool) {
        self.term_and_leader
            .store(term.0 << 1 | u64::from(is_leader), Ordering::Release);
    }
}

/// A running peer. Cheap to share by reference; [`RaftNode::kill`] stops it.
pub struct RaftNode {
    events: flume::Sender<Event>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts a peer: `peers[i]` reaches peer `i` (`peers[me]` is this peer's own end and is never
/// used), `storage` holds what it persisted before (empty for a new peer), and committed
/// commands arrive on `apply_tx` in index order.
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
    let persisted = storage.load().map_err(NodeError::Storage)?;
    let on_disk_snapshot = persisted.snapshot.clone();
    let restored = Restored {
        hard_state: persisted.hard_state,
        snapshot: persisted.snapshot,
        entries: persisted.entries,
    };
    let raft = Raft::restore(options.config(me, peers.len()), restored).map_err(NodeError::Raft)?;
    let shared = Arc::new(Shared::default());
    shared.publish(raft.term(), raft.is_leader());
    let (events_tx, events_rx) = flume::bounded(EVENT_QUEUE_MAX);
    let (applier_tx, applier_rx) = flume::unbounded();
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
    let applier = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("raft-{me}-applier"))
            .spawn(move || event_loop::run_applier(applier_rx, apply_tx, &shared))
            .map_err(NodeError::Spawn)?
    };
    let looper = {
        let shared = Arc::clone(&shared);
        let events_tx = events_tx.clone();
        let context = event_loop::Context {
            raft,
            storage,
            peers,
            events_tx,
            applier_tx,
            shared,
            tick: options.tick,
            next_request_id: 0,
        };
        std::thread::Builder::new()
            .name(format!("raft-{me}"))
            .spawn(move || event_loop::run(context, events_rx))
            .map_err(NodeError::Spawn)?
    };
    Ok(RaftNode {
        events: events_tx,
        shared,
        threads: Mutex::new(vec![looper, applier]),
    })
}

impl RaftNode {
    /// The current term and whether this peer believes it is the leader.
    #[must_use]
    pub fn get_state(&self) -> (Term, bool) {
        let word = self.shared.term_and_leader.load(Ordering::Acquire);
        (Term(word >> 1), word & 1 == 1)
    }

    /// Proposes a command. On the leader it returns at once with the index and term the
    /// command will have if it commits (it may not: leadership can be lost); elsewhere it
    /// refuses with the leader it knows of. Never waits on the network.
    ///
    /// # Errors
    /// [`ProposeError::NotLeader`] if this peer is not the leader (or has been killed);
    /// [`ProposeError::UncommittedFull`] if it leads but holds too many uncommitted entries.
    pub fn start(&self, command: Vec<u8>) -> Result<(LogIndex, Term), ProposeError> {
        let killed = ProposeError::NotLeader { leader_hint: None };
        if self.shared.killed.load(Ordering::Acquire) {
            return Err(killed);
        }
        let (tx, rx) = flume::bounded(1);
        if self.events.send(Event::Propose(command, tx)).is_err() {
            return Err(killed);
        }
        // The loop answers at once, unless it stopped (killed, or its storage failed) with the
        // proposal still queued: then the answer never comes, so wait only while it runs.
        loop {
            match rx.recv_timeout(START_KILL_POLL) {
                Ok(answer) => return answer,
                Err(flume::RecvTimeoutError::Timeout) if !self.killed() => {}
                Err(_) => return Err(killed),
            }
        }
    }

    /// The service's state through `index` is `data`: Raft discards its log through `index`
    /// and persists the snapshot in its place. Never waits (the tester calls it from the
    /// goroutine that reads the apply channel); a snapshot that is not newer than the current
    /// one is ignored.
    pub fn snapshot(&self, index: LogIndex, data: Vec<u8>) {
        let _ = self.events.try_send(Event::Snapshot(index, data));
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

    /// The labrpc service through which other peers call this one; add it to this peer's
    /// server. Requests are queued to the event loop with their responders; a full queue or a
    /// killed peer drops them, which the caller sees as a failed RPC.
    #[must_use]
    pub fn service(&self) -> Service {
        let mut service = Service::new(SERVICE);
        let events = self.events.clone();
        service.method(
            "RequestVote",
            move |args: RequestVoteArgs, responder: Responder<RequestVoteReply>| {
                let _ = events.try_send(Event::RequestVote(args, responder));
            },
        );
        let events = self.events.clone();
        service.method(
            "AppendEntries",
            move |args: AppendEntriesArgs, responder: Responder<AppendEntriesReply>| {
                let _ = events.try_send(Event::AppendEntries(args, responder));
            },
        );
        let events = self.events.clone();
        service.method(
            "InstallSnapshot",
            move |args: InstallSnapshotArgs, responder: Responder<InstallSnapshotReply>| {
                let _ = events.try_send(Event::InstallSnapshot(args, responder));
            },
        );
        service
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
            .finish()
    }
}
