//! Failures a server cannot serve through stop it, instead of leaving it wedged: a snapshot
//! that does not decode (from disk at restart, or from a leader) and the Raft peer stopping
//! on its own (its storage failed). The server then says why (`failure`), says it stopped
//! (`stopped`), has killed its Raft peer, and drops every request uncalled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft_core::message::{InstallSnapshotArgs, Request};
use raft_core::{Entry, HardState, LogIndex, PeerId, RoleKind, Snapshot, SnapshotMeta, Term};
use raft_kv::server::KvServer;
use raft_kv::{ClientId, Command, KvOp, KvStore, Response, Seq};
use raft_node::{Inbox, NodeOptions, Transport};
use raft_storage::{MemoryPersister, PersistedState, Storage, StorageError};

/// The longest any wait of these tests may take before it fails.
const WAIT_MAX: Duration = Duration::from_secs(10);

/// A transport that sends nothing (a cluster of one, or a peer whose others are silent).
struct Silent;

impl Transport for Silent {
    fn send(&mut self, _to: PeerId, _request: Request) {}
}

fn options() -> NodeOptions {
    NodeOptions {
        seed: Some(11),
        ..NodeOptions::default()
    }
}

/// Submits `op` and waits (bounded) for the answer; `None` if the reply was dropped uncalled.
fn call(server: &KvServer, seq: u64, op: KvOp) -> Option<Response<String>> {
    let (tx, rx) = flume::bounded(1);
    let command = Command {
        client_id: ClientId(1),
        seq: Seq(seq),
        op,
    };
    server.submit(command, move |response| {
        let _ = tx.send(response);
    });
    match rx.recv_timeout(WAIT_MAX) {
        Ok(response) => Some(response),
        Err(flume::RecvTimeoutError::Disconnected) => None,
        Err(flume::RecvTimeoutError::Timeout) => panic!("no answer within {WAIT_MAX:?}"),
    }
}

fn put(seq: u64) -> KvOp {
    KvOp::Put {
        key: "k".into(),
        value: format!("v{seq}"),
    }
}

/// Waits (bounded) until the server has stopped; returns its failure.
fn wait_for_failure(server: &KvServer) -> String {
    let deadline = Instant::now() + WAIT_MAX;
    while !server.stopped() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop within {WAIT_MAX:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server
        .failure()
        .expect("a server that stopped on its own says why")
}

/// What every server stopped by a failure shows: no leader, a Follower peer, requests
/// dropped uncalled.
fn assert_stopped_for_good(server: &KvServer) {
    assert!(!server.get_state().1, "a failed server leads nothing");
    let status = server.status();
    assert_eq!(status.node.role, RoleKind::Follower, "{status:?}");
    assert_eq!(status.node.leader, None, "{status:?}");
    assert_eq!(
        call(server, 100, put(100)),
        None,
        "a failed server answers nothing"
    );
}

/// A snapshot of `data` through index 5 of term 1.
fn snapshot(data: &[u8]) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_included_index: LogIndex(5),
            last_included_term: Term(1),
        },
        data: data.to_vec(),
    }
}

#[test]
fn a_snapshot_on_disk_that_does_not_decode_stops_the_server_at_restart() {
    let mut storage = MemoryPersister::new();
    storage
        .save_hard_state(&HardState {
            current_term: Term(1),
            voted_for: None,
        })
        .expect("save");
    storage
        .install_snapshot(&snapshot(b"these bytes are no snapshot of the store"))
        .expect("install");
    let server = KvServer::with_transport(0, 1, storage, None, KvStore::new(), options(), |_| Ok(Silent))
        .expect("the server starts (the snapshot is read by its loop)");
    let failure = wait_for_failure(&server);
    assert!(failure.contains("does not decode"), "{failure}");
    assert!(failure.contains("index 5"), "{failure}");
    assert_stopped_for_good(&server);
    assert_eq!(
        server.status().last_applied,
        LogIndex::ZERO,
        "nothing was applied"
    );
    server.kill();
    assert_eq!(server.failure(), Some(failure), "kill keeps the reason");
}

#[test]
fn a_snapshot_from_the_leader_that_does_not_decode_stops_the_server() {
    // Peer 0 of two; the test plays peer 1, the leader, through peer 0's inbox.
    let inbox_slot: Arc<Mutex<Option<Inbox>>> = Arc::default();
    let slot = Arc::clone(&inbox_slot);
    let connect = move |inbox: Inbox| {
        *slot.lock().expect("not poisoned") = Some(inbox);
        Ok(Silent)
    };
    let server = KvServer::with_transport(
        0,
        2,
        MemoryPersister::new(),
        None,
        KvStore::new(),
        options(),
        connect,
    )
    .expect("the server starts");
    let inbox = inbox_slot
        .lock()
        .expect("not poisoned")
        .clone()
        .expect("connect ran");
    let snapshot = snapshot(b"garbage from the leader");
    let args = InstallSnapshotArgs {
        term: Term(3),
        leader_id: PeerId(1),
        last_included_index: snapshot.meta.last_included_index,
        last_included_term: snapshot.meta.last_included_term,
        data: snapshot.data,
    };
    let (answered_tx, answered_rx) = flume::bounded(1);
    inbox.request(PeerId(1), Request::InstallSnapshot(args), move |reply| {
        let _ = answered_tx.send(reply);
    });
    // Raft installs it (the bytes are the service's business) and answers; the service
    // cannot decode it and stops.
    answered_rx
        .recv_timeout(WAIT_MAX)
        .expect("Raft answered the leader");
    let failure = wait_for_failure(&server);
    assert!(failure.contains("does not decode"), "{failure}");
    assert_stopped_for_good(&server);
}

/// A memory persister whose writes fail once the test says so.
struct Failing {
    inner: MemoryPersister,
    failing: Arc<AtomicBool>,
}

impl Failing {
    fn write(&self) -> Result<(), StorageError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::Io {
                path: "failing".into(),
                source: std::io::Error::other("the test's disk fails"),
            });
        }
        Ok(())
    }
}

impl Storage for Failing {
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), StorageError> {
        self.write()?;
        self.inner.save_hard_state(hard_state)
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.write()?;
        self.inner.append(entries)
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), StorageError> {
        self.write()?;
        self.inner.truncate_suffix(from)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.write()?;
        self.inner.install_snapshot(snapshot)
    }

    fn load(&self) -> Result<PersistedState, StorageError> {
        self.inner.load()
    }

    fn raft_state_size(&self) -> u64 {
        self.inner.raft_state_size()
    }

    fn snapshot_size(&self) -> u64 {
        self.inner.snapshot_size()
    }
}

#[test]
fn a_raft_peer_whose_storage_fails_stops_the_server() {
    let failing = Arc::new(AtomicBool::new(false));
    let storage = Failing {
        inner: MemoryPersister::new(),
        failing: Arc::clone(&failing),
    };
    let server = KvServer::with_transport(0, 1, storage, None, KvStore::new(), options(), |_| Ok(Silent))
        .expect("the server starts");
    // It serves while the disk works.
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        match call(&server, 1, put(1)) {
            Some(Response::Ok(_)) => break,
            Some(Response::WrongLeader) => {}
            None => panic!("the server dropped a call while its disk worked"),
        }
        assert!(Instant::now() < deadline, "no leader within {WAIT_MAX:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!server.stopped());
    assert_eq!(server.failure(), None);
    // The next write fails: Raft's peer stops rather than answer what it did not persist.
    failing.store(true, Ordering::SeqCst);
    let answer = call(&server, 2, put(2));
    assert_ne!(
        answer,
        Some(Response::Ok(String::new())),
        "nothing unpersisted is acknowledged"
    );
    let failure = wait_for_failure(&server);
    assert!(failure.contains("Raft peer stopped on its own"), "{failure}");
    assert_stopped_for_good(&server);
}

#[test]
fn a_plain_kill_is_no_failure() {
    let server = KvServer::with_transport(
        0,
        1,
        MemoryPersister::new(),
        None,
        KvStore::new(),
        options(),
        |_| Ok(Silent),
    )
    .expect("the server starts");
    assert!(!server.stopped());
    server.kill();
    assert!(server.stopped());
    assert_eq!(server.failure(), None);
}
