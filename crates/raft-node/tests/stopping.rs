//! However a peer's event loop ends (a storage failure, a panic, kill), the peer says so:
//! `stopped`, no leader in `get_state`, and `start` answers `Stopped` at once, also for a
//! proposal that was waiting in the queue when the loop ended. And a service that does not
//! read holds the loop up at the applier's bound instead of growing a queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raft_core::{Entry, HardState, LogIndex, Snapshot};
use raft_labrpc::Network;
use raft_node::{
    APPLY_QUEUE_MAX, ApplyMsg, EVENT_QUEUE_MAX, EVENTS_PER_READY_MAX, NodeOptions, RaftNode, StartError, make,
};
use raft_storage::{MemoryPersister, PersistedState, Storage, StorageError};

/// The longest any wait of these tests may take before it fails.
const WAIT_MAX: Duration = Duration::from_secs(10);

/// How long `start` may take to answer `Stopped` on a stopped peer.
const STOPPED_ANSWER_MAX: Duration = Duration::from_secs(1);

/// What the storage below does with a write.
const WRITE_OK: u8 = 0;
/// Fails every write with an I/O error.
const WRITE_FAILS: u8 = 1;
/// Panics in every write.
const WRITE_PANICS: u8 = 2;
/// Says it has begun, waits for the test's go-ahead, then fails.
const WRITE_WAITS_THEN_FAILS: u8 = 3;

/// A memory persister whose writes fail, panic or wait, as the test switches it.
struct Faulty {
    inner: MemoryPersister,
    mode: Arc<AtomicU8>,
    entered: flume::Sender<()>,
    go_ahead: flume::Receiver<()>,
}

impl Faulty {
    fn write(&self) -> Result<(), StorageError> {
        match self.mode.load(Ordering::SeqCst) {
            WRITE_OK => Ok(()),
            WRITE_PANICS => panic!("the test's storage panics"),
            mode => {
                if mode == WRITE_WAITS_THEN_FAILS {
                    let _ = self.entered.try_send(());
                    let _ = self.go_ahead.recv_timeout(WAIT_MAX);
                }
                Err(StorageError::Io {
                    path: "faulty".into(),
                    source: std::io::Error::other("the test's storage fails"),
                })
            }
        }
    }
}

impl Storage for Faulty {
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

/// A single peer with 1 ms ticks, over labrpc with nobody else on the network.
struct OnePeer {
    node: Arc<RaftNode>,
    mode: Arc<AtomicU8>,
    entered: flume::Receiver<()>,
    go_ahead: flume::Sender<()>,
    apply_rx: flume::Receiver<ApplyMsg>,
    _net: Network,
}

fn one_peer() -> OnePeer {
    let net = Network::with_seed(7);
    let own = net.make_end("0->0").expect("a fresh end");
    let mode = Arc::new(AtomicU8::new(WRITE_OK));
    let (entered_tx, entered) = flume::bounded(1);
    let (go_ahead, go_ahead_rx) = flume::bounded(1);
    let storage = Faulty {
        inner: MemoryPersister::new(),
        mode: Arc::clone(&mode),
        entered: entered_tx,
        go_ahead: go_ahead_rx,
    };
    let (apply_tx, apply_rx) = flume::bounded(0);
    let options = NodeOptions {
        tick: Duration::from_millis(1),
        election_timeout_ticks_min: 3,
        election_timeout_ticks_max: 6,
        heartbeat_interval_ticks: 1,
        seed: Some(7),
        ..NodeOptions::default()
    };
    let node = make(vec![own], 0, storage, apply_tx, options).expect("make");
    let peer = OnePeer {
        node: Arc::new(node),
        mode,
        entered,
        go_ahead,
        apply_rx,
        _net: net,
    };
    wait_for("the single peer to lead", || peer.node.get_state().1);
    peer
}

/// Waits, at most [`WAIT_MAX`], until `done`.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT_MAX;
    while !done() {
        assert!(Instant::now() < deadline, "waited {WAIT_MAX:?} for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The peer has stopped without being killed, leads no more, and refuses a command at once.
fn assert_stopped(node: &RaftNode) {
    wait_for("the loop to stop", || node.stopped());
    assert!(!node.killed(), "the loop stopped by itself, not by kill");
    assert!(!node.get_state().1, "a stopped peer reports no leader");
    let asked = Instant::now();
    assert_eq!(node.start(b"after".to_vec()), Err(StartError::Stopped));
    assert!(
        asked.elapsed() < STOPPED_ANSWER_MAX,
        "start took {:?}",
        asked.elapsed()
    );
}

#[test]
fn a_storage_failure_stops_the_peer_and_start_says_stopped() {
    let peer = one_peer();
    peer.mode.store(WRITE_FAILS, Ordering::SeqCst);
    // The proposal is taken (the answer comes before its entry is written); the write of its
    // entry fails, and the peer stops rather than go on without it.
    let taken = peer.node.start(b"lost".to_vec());
    assert!(taken.is_ok(), "the leader took the proposal: {taken:?}");
    assert_stopped(&peer.node);
    peer.node.kill();
}

#[test]
fn a_panic_in_the_loop_stops_the_peer_and_start_says_stopped() {
    let peer = one_peer();
    peer.mode.store(WRITE_PANICS, Ordering::SeqCst);
    let _ = peer.node.start(b"panics".to_vec());
    assert_stopped(&peer.node);
    // The loop thread ended in a panic; kill still returns.
    peer.node.kill();
    assert!(peer.node.killed());
}

#[test]
fn a_proposal_queued_when_the_loop_stops_is_answered_stopped() {
    let peer = one_peer();
    peer.mode.store(WRITE_WAITS_THEN_FAILS, Ordering::SeqCst);
    // The loop takes this proposal and then waits inside the write of its entry. Only once
    // it waits there is the next proposal sure to queue: until then, the loop steps whatever
    // arrives into the same Ready (group commit) and answers it before writing.
    let _ = peer.node.start(b"first".to_vec());
    peer.entered
        .recv_timeout(WAIT_MAX)
        .expect("the loop writes the first proposal's entry");
    // Meanwhile a second proposal waits in the queue for an answer.
    let node = Arc::clone(&peer.node);
    let queued = std::thread::spawn(move || node.start(b"queued".to_vec()));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !queued.is_finished(),
        "the second proposal waits while the loop writes"
    );
    // The write fails: the loop stops, and the waiting proposal hears so.
    let released = Instant::now();
    peer.go_ahead.send(()).expect("the write waits for the go-ahead");
    let answer = queued.join().expect("the proposing thread ends");
    assert_eq!(answer, Err(StartError::Stopped));
    assert!(
        released.elapsed() < STOPPED_ANSWER_MAX,
        "answered after {:?}",
        released.elapsed()
    );
    assert_stopped(&peer.node);
    peer.node.kill();
}

#[test]
fn a_service_that_does_not_read_holds_the_loop_at_the_applier_bound() {
    let peer = one_peer();
    let accepted = Arc::new(AtomicU64::new(0));
    let proposals = 4 * APPLY_QUEUE_MAX as u64;
    let proposer = {
        let node = Arc::clone(&peer.node);
        let accepted = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for k in 0..proposals {
                match node.start(k.to_le_bytes().to_vec()) {
                    Ok(_) => accepted.fetch_add(1, Ordering::SeqCst),
                    Err(err) => return Err(err),
                };
            }
            Ok(())
        })
    };
    // Nobody reads the apply channel: the proposals stop being taken once the loop waits on
    // the applier's full queue. The queue's worth is taken; then, however long one waits, at
    // most a few more: what the applier and the loop hold in hand.
    let bound = APPLY_QUEUE_MAX as u64;
    wait_for("the applier's queue to fill", || {
        accepted.load(Ordering::SeqCst) >= bound
    });
    std::thread::sleep(Duration::from_millis(300));
    let held_at = accepted.load(Ordering::SeqCst);
    assert!(!proposer.is_finished(), "the proposer is held up, not done");
    // One in the applier's hand, and the Ready the loop is handing over: a peer of one
    // commits its proposals in the Ready that persists them, and a Ready steps at most
    // EVENTS_PER_READY_MAX events (proposals queued together are taken together).
    let in_hand = 1 + EVENTS_PER_READY_MAX as u64;
    assert!(
        held_at <= bound + in_hand,
        "{held_at} proposals taken with the service not reading (bound {bound})"
    );
    // The service reads what the loop and the applier hold in hand: the loop goes on, and
    // takes more.
    for _ in 0..=in_hand {
        assert!(matches!(
            peer.apply_rx.recv_timeout(WAIT_MAX),
            Ok(ApplyMsg::Command { .. })
        ));
    }
    wait_for("one more proposal", || accepted.load(Ordering::SeqCst) > held_at);
    // kill ends a loop that waits on the applier, and the proposer hears it stopped.
    peer.node.kill();
    let ended = proposer.join().expect("the proposer ends");
    assert_eq!(ended, Err(StartError::Stopped));
}

#[test]
fn snapshots_the_full_event_queue_cannot_take_are_counted() {
    let peer = one_peer();
    // Hold the loop: nobody reads the apply channel, so once the applier's queue is full the
    // loop waits on it and takes no event (the proposer is then held in `start`).
    let accepted = Arc::new(AtomicU64::new(0));
    let proposer = {
        let node = Arc::clone(&peer.node);
        let accepted = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for k in 0..4 * APPLY_QUEUE_MAX as u64 {
                if node.start(k.to_le_bytes().to_vec()).is_err() {
                    return;
                }
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_for("the applier's queue to fill", || {
        accepted.load(Ordering::SeqCst) >= APPLY_QUEUE_MAX as u64
    });
    std::thread::sleep(Duration::from_millis(300));
    let extra = 10;
    for _ in 0..EVENT_QUEUE_MAX + extra {
        peer.node.snapshot(LogIndex(1), vec![1]);
    }
    let dropped = peer.node.stats().dropped_snapshots;
    assert!(
        dropped >= extra as u64,
        "{dropped} snapshots counted as dropped, {} offered to a queue of {EVENT_QUEUE_MAX}",
        EVENT_QUEUE_MAX + extra
    );
    peer.node.kill();
    proposer
        .join()
        .expect("the proposer ends once the peer is killed");
}
