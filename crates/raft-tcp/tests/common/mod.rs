//! What the integration tests share: identities, peers over TCP on loopback, a raw-socket
//! client that speaks the wire format byte by byte, and bounded waits.
//!
//! The wire types below are written out again here, independently of the crate: a change to
//! the wire format breaks these tests, as it would break a peer of the previous build.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use raft_core::PeerId;
use raft_core::message::{Reply, Request};
use raft_node::{ApplyMsg, Inbox, NodeOptions, RaftNode, Transport};
use raft_storage::MemoryPersister;
use raft_tcp::{Identity, PeerConfig, Secret, TcpStats, TcpTransport};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest any wait of these tests may take before the test fails.
pub const WAIT_MAX: Duration = Duration::from_secs(10);

pub const CLUSTER: &str = "test-cluster";
pub const SECRET: &[u8] = b"0123456789abcdef-the-test-secret";

pub fn identity() -> Identity {
    identity_of(CLUSTER, SECRET)
}

pub fn identity_of(cluster: &str, secret: &[u8]) -> Identity {
    Identity::new(cluster, Secret::new(secret.to_vec()).expect("long enough")).expect("valid id")
}

/// A listener on a free loopback port.
pub fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port")
}

/// An address nobody listens on (a port bound and released): dialing it is refused.
pub fn dead_addr() -> String {
    bind().local_addr().expect("local addr").to_string()
}

/// Starts a raft-node peer over `make`'s transport.
pub fn start_node<T: Transport>(
    me: usize,
    n: usize,
    options: NodeOptions,
    make: impl FnOnce(Inbox) -> io::Result<T>,
) -> (RaftNode, flume::Receiver<ApplyMsg>) {
    start_node_on(me, n, MemoryPersister::new(), options, make)
}

/// Starts a raft-node peer over `make`'s transport, on `storage`.
pub fn start_node_on<T: Transport>(
    me: usize,
    n: usize,
    storage: MemoryPersister,
    options: NodeOptions,
    make: impl FnOnce(Inbox) -> io::Result<T>,
) -> (RaftNode, flume::Receiver<ApplyMsg>) {
    let (apply_tx, apply_rx) = flume::bounded(1024);
    let node = RaftNode::with_transport(me, n, storage, apply_tx, options, make).expect("the peer starts");
    (node, apply_rx)
}

/// Options whose elections are far off: a peer that stays a quiet follower for the test.
pub fn quiet_options() -> NodeOptions {
    NodeOptions {
        election_timeout_ticks_min: 100_000,
        election_timeout_ticks_max: 100_001,
        seed: Some(1),
        ..NodeOptions::default()
    }
}

/// Peer `me` of `peers.len()` over TCP on `listener`, with its counters.
pub fn tcp_node(
    me: usize,
    peers: Vec<String>,
    listener: TcpListener,
    identity: Identity,
    options: NodeOptions,
) -> (RaftNode, flume::Receiver<ApplyMsg>, Arc<TcpStats>) {
    tcp_node_on(me, peers, listener, identity, options, MemoryPersister::new())
}

/// Peer `me` over TCP, on `storage`.
pub fn tcp_node_on(
    me: usize,
    peers: Vec<String>,
    listener: TcpListener,
    identity: Identity,
    options: NodeOptions,
    storage: MemoryPersister,
) -> (RaftNode, flume::Receiver<ApplyMsg>, Arc<TcpStats>) {
    let stats = Arc::new(TcpStats::new());
    let n = peers.len();
    let config = PeerConfig {
        me: PeerId(u32::try_from(me).expect("small id")),
        peers,
        identity,
    };
    let tcp_stats = Arc::clone(&stats);
    let (node, apply_rx) = start_node_on(me, n, storage, options, move |inbox| {
        TcpTransport::start(config, listener, inbox, tcp_stats)
    });
    (node, apply_rx, stats)
}

/// Peer 0 of 3, quiet, whose peers are unreachable: a target for raw clients. Returns the
/// node, its counters and its peer address.
pub fn lone_peer() -> (RaftNode, Arc<TcpStats>, String) {
    let listener = bind();
    let addr = listener.local_addr().expect("local addr").to_string();
    let peers = vec![addr.clone(), dead_addr(), dead_addr()];
    let (node, _apply, stats) = tcp_node(0, peers, listener, identity(), quiet_options());
    (node, stats, addr)
}

/// A transport the test can also send on: the node's loop and the test share it.
pub struct Shared(pub Arc<Mutex<TcpTransport>>);

impl Transport for Shared {
    fn send(&mut self, to: PeerId, request: Request) {
        self.0.lock().expect("not poisoned").send(to, request);
    }
}

/// Polls `done` every 10 ms until it holds or `limit` passes; true if it held.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---- The wire format, written out independently. ----

pub const MAGIC: [u8; 8] = *b"raft-tcp";
pub const ACCEPTOR_LABEL: &[u8] = b"raft-tcp/1 acceptor proof";
pub const DIALER_LABEL: &[u8] = b"raft-tcp/1 dialer proof";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lane {
    Control,
    Bulk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Peer { from: u32, to: u32, lane: Lane },
    Client,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 8],
    pub version: u16,
    pub cluster_id: String,
    pub role: Role,
    pub nonce: [u8; 32],
}

impl Hello {
    pub fn new(cluster_id: &str, role: Role) -> Hello {
        Hello {
            magic: MAGIC,
            version: 1,
            cluster_id: cluster_id.to_string(),
            role,
            nonce: [0x5a; 32],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Challenge {
    Refused { reason: String },
    Proceed { nonce: [u8; 32], proof: [u8; 32] },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    ProofRejected,
    Proof { proof: [u8; 32] },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Verdict {
    Refused { reason: String },
    Accepted,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    pub request: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyFrame {
    pub id: u64,
    pub reply: Reply,
}

/// HMAC-SHA256 of the label, the Hello's length and bytes, and the acceptor's nonce.
pub fn proof(secret: &[u8], label: &[u8], hello: &[u8], nonce: &[u8; 32]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(label);
    mac.update(&(hello.len() as u64).to_le_bytes());
    mac.update(hello);
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

/// One frame's bytes: the length, then the postcard body.
pub fn frame_of<T: Serialize>(message: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(message).expect("encodes");
    let mut frame = u32::try_from(body.len()).expect("small").to_le_bytes().to_vec();
    frame.extend(body);
    frame
}

/// A raw socket that speaks the wire format by hand.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Raw { stream }
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        self.send_bytes(&frame_of(message))
    }

    pub fn recv_body(&mut self) -> io::Result<Vec<u8>> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header)?;
        let mut body = vec![0u8; u32::from_le_bytes(header) as usize];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    pub fn recv<T: for<'de> Deserialize<'de>>(&mut self) -> io::Result<T> {
        let body = self.recv_body()?;
        postcard::from_bytes(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// True if the other end closes the connection within `limit` (whatever it sends first
    /// is read and discarded).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return false;
                }
                Err(_) => return true, // reset
            }
        }
        false
    }

    /// Runs the dialer's side of the handshake with `secret`: whether the acceptor's proof
    /// verified under `secret` (our proof is sent either way, to see the acceptor check it),
    /// and the acceptor's verdict.
    pub fn handshake(&mut self, hello: &Hello, secret: &[u8]) -> io::Result<(bool, Result<(), String>)> {
        let hello_frame = frame_of(hello);
        self.send_bytes(&hello_frame)?;
        let (nonce, their_proof) = match self.recv::<Challenge>()? {
            Challenge::Refused { reason } => return Ok((false, Err(reason))),
            Challenge::Proceed { nonce, proof } => (nonce, proof),
        };
        let transcript = &hello_frame[4..];
        let verified = their_proof == proof(secret, ACCEPTOR_LABEL, transcript, &nonce);
        let ours = proof(secret, DIALER_LABEL, transcript, &nonce);
        self.send(&Response::Proof { proof: ours })?;
        let verdict = match self.recv::<Verdict>()? {
            Verdict::Accepted => Ok(()),
            Verdict::Refused { reason } => Err(reason),
        };
        Ok((verified, verdict))
    }
}

/// The peer address a dialer should use for `listener`.
pub fn addr_of(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("local addr")
}

impl Raw {
    /// Runs the acceptor's side of the handshake with the test secret on an accepted socket;
    /// the Hello the dialer sent.
    pub fn accept(stream: TcpStream) -> (Raw, Hello) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut raw = Raw { stream };
        let transcript = raw.recv_body().expect("a hello");
        let hello: Hello = postcard::from_bytes(&transcript).expect("a hello");
        let nonce = [0x33; 32];
        let proof_a = proof(SECRET, ACCEPTOR_LABEL, &transcript, &nonce);
        raw.send(&Challenge::Proceed {
            nonce,
            proof: proof_a,
        })
        .expect("sent");
        match raw.recv::<Response>().expect("a response") {
            Response::Proof { proof: theirs } => {
                assert_eq!(
                    theirs,
                    proof(SECRET, DIALER_LABEL, &transcript, &nonce),
                    "dialer's proof"
                );
            }
            Response::ProofRejected => panic!("the dialer rejected the test's proof"),
        }
        raw.send(&Verdict::Accepted).expect("sent");
        (raw, hello)
    }
}
