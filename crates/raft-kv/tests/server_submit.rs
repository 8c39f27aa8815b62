//! A `Server` over a raft-node transport of the test's own, reached through `submit` (no
//! labrpc): commands are applied and answered, `status` reports the peer and the applied
//! index, snapshots keep Raft's state (as the peer's status reports it) bounded, and a killed
//! server drops replies uncalled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_core::message::Request;
use raft_core::{LogIndex, PeerId, RoleKind};
use raft_kv::server::KvServer;
use raft_kv::{ClientId, Command, KvOp, KvStore, Response, Seq};
use raft_node::{Inbox, NodeOptions, Transport};
use raft_storage::{MemoryPersister, Storage};

/// The longest any wait of these tests may take before it fails.
const WAIT_MAX: Duration = Duration::from_secs(10);
/// A small `maxraftstate`, so that a few hundred commands force several snapshots.
const MAXRAFTSTATE: usize = 2000;

/// The transport of a cluster of one: there is nobody to send to.
struct Alone;

impl Transport for Alone {
    fn send(&mut self, to: PeerId, _request: Request) {
        panic!("a cluster of one sent a request to {to}");
    }
}

fn alone(_inbox: Inbox) -> std::io::Result<Alone> {
    Ok(Alone)
}

/// A server that is the whole cluster, over `storage`.
fn single(storage: MemoryPersister, maxraftstate: Option<usize>) -> Arc<KvServer> {
    let options = NodeOptions {
        seed: Some(7),
        ..NodeOptions::default()
    };
    KvServer::with_transport(0, 1, storage, maxraftstate, KvStore::new(), options, alone)
        .expect("the server starts")
}

/// Submits `op` as request `seq` of client 1 and waits (bounded) for its answer; `None` if
/// the reply was dropped uncalled.
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

/// Calls `op` until the server, once it leads, applies it.
fn call_until_ok(server: &KvServer, seq: u64, op: &KvOp) -> String {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        match call(server, seq, op.clone()) {
            Some(Response::Ok(output)) => return output,
            Some(Response::WrongLeader) => {}
            None => panic!("the server dropped the call"),
        }
        assert!(Instant::now() < deadline, "not applied within {WAIT_MAX:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn put(key: &str, value: &str) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn get(key: &str) -> KvOp {
    KvOp::Get { key: key.into() }
}

#[test]
fn submitted_commands_are_applied_and_status_reports_them() {
    let server = single(MemoryPersister::new(), None);
    assert_eq!(call_until_ok(&server, 1, &put("a", "1")), "");
    assert_eq!(call_until_ok(&server, 2, &get("a")), "1");
    // A retry of the last request is answered from the duplicate table, not re-applied.
    assert_eq!(call_until_ok(&server, 3, &put("a", "2")), "");
    assert_eq!(call_until_ok(&server, 3, &put("a", "2")), "");
    assert_eq!(call_until_ok(&server, 4, &get("a")), "2");

    let status = server.status();
    assert_eq!(status.node.role, RoleKind::Leader);
    assert_eq!(status.node.leader, Some(PeerId(0)));
    assert_eq!((status.node.term, true), server.get_state());
    // Three entries: the two Puts and the retry (a duplicate, committed but not re-applied).
    // The Gets are reads (raft-node's default, ReadIndex; a cluster of one confirms them at
    // once) and write nothing.
    assert_eq!(status.node.commit_index, LogIndex(3), "{status:?}");
    assert_eq!(status.last_applied, LogIndex(3), "{status:?}");
    assert!(status.node.raft_state_size > 0, "{status:?}");
}

#[test]
fn snapshots_keep_raft_state_bounded_without_a_storage_handle() {
    let storage = MemoryPersister::new();
    let server = single(storage.clone(), Some(MAXRAFTSTATE));
    for seq in 1..=300 {
        call_until_ok(&server, seq, &put("k", &format!("value {seq}")));
    }
    assert_eq!(call_until_ok(&server, 301, &get("k")), "value 300");
    // The server saw the size through the peer's status only; the storage says the same.
    assert!(storage.snapshot_size() > 0, "the server never snapshotted");
    let size = storage.raft_state_size();
    assert!(
        size < 4 * MAXRAFTSTATE as u64,
        "Raft state {size} bytes: snapshots do not trim the log"
    );
    let reported = server.status().node.raft_state_size;
    assert!(
        reported < 4 * MAXRAFTSTATE as u64,
        "status reports {reported} bytes"
    );
}

#[test]
fn a_restarted_server_restores_its_snapshot_and_reports_it_applied() {
    let storage = MemoryPersister::new();
    let server = single(storage.clone(), Some(MAXRAFTSTATE));
    let mut seq = 0;
    // Raft takes the server's snapshot asynchronously: write until one is persisted.
    let deadline = Instant::now() + WAIT_MAX;
    while storage.snapshot_size() == 0 {
        assert!(Instant::now() < deadline, "no snapshot within {WAIT_MAX:?}");
        seq += 1;
        call_until_ok(&server, seq, &put("k", &format!("v{seq}")));
    }
    server.kill();
    let applied_before = server.status().last_applied;
    let restarted = single(storage.copy(), Some(MAXRAFTSTATE));
    // The snapshot and the log after it are applied again before the server answers.
    assert_eq!(call_until_ok(&restarted, seq + 1, &get("k")), format!("v{seq}"));
    // Everything applied before the kill is applied again, and the Get adds at most its own
    // entry: one when the log holds entries above the snapshot (a new leader must commit an
    // entry of its term before it serves a read), none when the snapshot covers the whole
    // log (then ReadIndex serves it at once). Which one depends on when the snapshot landed.
    let status = restarted.status();
    assert!(
        status.last_applied >= applied_before && status.last_applied <= applied_before.next(),
        "applied {applied_before:?} before the kill; after the restart {status:?}"
    );
}

#[test]
fn a_killed_server_drops_replies_uncalled() {
    let server = single(MemoryPersister::new(), None);
    call_until_ok(&server, 1, &put("a", "1"));
    server.kill();
    assert_eq!(
        call(&server, 2, get("a")),
        None,
        "a killed server answers nothing"
    );
    assert!(!server.get_state().1);
}
