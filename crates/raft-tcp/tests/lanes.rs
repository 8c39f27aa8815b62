//! A heartbeat is not held back behind a large message: the Control lane delivers while the
//! Bulk lane is in the middle of a multi-megabyte snapshot.
//!
//! Peer 1 is played by the test: it accepts peer 0's two lanes, starts reading the snapshot
//! on the Bulk lane and stops after its first bytes. Peer 0 then sends a heartbeat. It
//! arrives on the Control lane while the snapshot, sent before it, is still far from fully
//! received: on one connection, which delivers in order, that could not happen.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Lane, Raw, RequestFrame, Role, Shared, WAIT_MAX, bind, identity, quiet_options, start_node};
use raft_core::message::{AppendEntriesArgs, InstallSnapshotArgs, Request};
use raft_core::{LogIndex, PeerId, Term};
use raft_node::Transport;
use raft_tcp::{PeerConfig, TcpStats, TcpTransport};

const SNAPSHOT_LEN: usize = 12 << 20;

/// Accepts peer 0's two lanes on `listener` and authenticates them: (control, bulk).
fn accept_lanes(listener: &TcpListener) -> (Raw, Raw) {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + WAIT_MAX;
    let (mut control, mut bulk) = (None, None);
    while control.is_none() || bulk.is_none() {
        assert!(Instant::now() < deadline, "peer 0 did not dial both lanes");
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                let (raw, hello) = Raw::accept(stream);
                match hello.role {
                    Role::Peer {
                        from: 0,
                        to: 1,
                        lane: Lane::Control,
                    } => control = Some(raw),
                    Role::Peer {
                        from: 0,
                        to: 1,
                        lane: Lane::Bulk,
                    } => bulk = Some(raw),
                    other => panic!("unexpected role {other:?}"),
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (control.expect("control"), bulk.expect("bulk"))
}

#[test]
fn a_heartbeat_passes_a_snapshot_in_flight() {
    let listeners = [bind(), bind()];
    let peers: Vec<String> = listeners.iter().map(|l| common::addr_of(l).to_string()).collect();
    let [own, fake] = listeners;
    // Peer 0's transport, shared by its Raft loop (quiet: it sends nothing of its own) and
    // the test, which sends on it directly.
    let transport: Arc<Mutex<Option<Arc<Mutex<TcpTransport>>>>> = Arc::default();
    let config = PeerConfig {
        me: PeerId(0),
        peers,
        identity: identity(),
    };
    let slot = Arc::clone(&transport);
    let (_node, _apply) = start_node(0, 2, quiet_options(), move |inbox| {
        let tcp = Arc::new(Mutex::new(TcpTransport::start(
            config,
            own,
            inbox,
            Arc::new(TcpStats::new()),
        )?));
        *slot.lock().expect("not poisoned") = Some(Arc::clone(&tcp));
        Ok(Shared(tcp))
    });
    let tcp = transport.lock().expect("not poisoned").clone().expect("started");
    let send = |request: Request| tcp.lock().expect("not poisoned").send(PeerId(1), request);
    let (mut control, mut bulk) = accept_lanes(&fake);

    // A snapshot goes out on the Bulk lane; peer 1 reads its length and a first piece only.
    let data: Vec<u8> = (0..SNAPSHOT_LEN).map(|i| (i % 251) as u8).collect();
    send(Request::InstallSnapshot(InstallSnapshotArgs {
        term: Term(7),
        leader_id: PeerId(0),
        last_included_index: LogIndex(100),
        last_included_term: Term(7),
        data: data.clone(),
    }));
    bulk.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let mut header = [0u8; 4];
    bulk.stream
        .read_exact(&mut header)
        .expect("the snapshot's frame starts");
    let frame_len = u32::from_le_bytes(header) as usize;
    assert!(frame_len > SNAPSHOT_LEN, "a frame of {frame_len} bytes");
    let mut first = vec![0u8; 64 << 10];
    bulk.stream.read_exact(&mut first).expect("its first bytes");

    // Then a heartbeat, on the Control lane: it arrives while the snapshot is unread.
    let sent = Instant::now();
    send(Request::AppendEntries(AppendEntriesArgs {
        term: Term(7),
        leader_id: PeerId(0),
        prev_log_index: LogIndex(100),
        prev_log_term: Term(7),
        entries: Vec::new(),
        leader_commit: LogIndex(100),
    }));
    control.stream.set_read_timeout(Some(WAIT_MAX)).expect("timeout");
    let heartbeat: RequestFrame = control.recv().expect("the heartbeat arrives");
    let waited = sent.elapsed();
    match &heartbeat.request {
        Request::AppendEntries(args) => {
            assert!(args.entries.is_empty());
            assert_eq!(args.leader_commit, LogIndex(100));
        }
        other => panic!("a {} instead of the heartbeat", other.name()),
    }
    assert!(waited < Duration::from_secs(1), "the heartbeat took {waited:?}");

    // The snapshot was in flight all along, and arrives whole once peer 1 reads on.
    let mut rest = vec![0u8; frame_len - first.len()];
    bulk.stream
        .read_exact(&mut rest)
        .expect("the rest of the snapshot");
    first.extend(rest);
    let snapshot: RequestFrame = postcard::from_bytes(&first).expect("decodes");
    match snapshot.request {
        Request::InstallSnapshot(args) => {
            assert_eq!(args.data.len(), SNAPSHOT_LEN);
            assert!(args.data == data, "the snapshot arrived intact");
        }
        other => panic!("a {} instead of the snapshot", other.name()),
    }
}
