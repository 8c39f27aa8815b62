//! The handshake: before any Raft byte, both ends prove they hold the port's secret.
//!
//! ```text
//! dialer                                           acceptor
//!   Hello { magic, version, cluster_id, role, nonce_d } ->
//!                                  checks magic, version, cluster id, role
//!   <- Challenge::Proceed { nonce_a, proof_a }    (or Challenge::Refused { reason })
//! checks proof_a
//!   Response::Proof { proof_d } ->                (or Response::ProofRejected)
//!                                  checks proof_d
//!   <- Verdict::Accepted                          (or Verdict::Refused { reason })
//! ```
//!
//! `proof_a = HMAC-SHA256(secret, "acceptor" label, Hello's bytes, nonce_a)` and `proof_d` the
//! same under the "dialer" label. The Hello's bytes hold the dialer's fresh nonce and the role
//! it claims, and `nonce_a` is the acceptor's fresh nonce, so a proof is good for one
//! connection and one claim only: a recorded handshake replays nowhere, and the two labels
//! keep an acceptor's proof from being reflected back to it as a dialer's. Proofs are
//! compared in constant time. The secret never crosses the wire.
//!
//! The magic and version come first in the Hello, so a later version with another Hello can
//! still be told apart and refused by version; `Challenge::Refused` must keep its shape
//! across versions for the same reason.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::frame::{self, FrameError, FrameReader};
use crate::identity::Identity;
use crate::stats::Counter;
use crate::{FRAME_MAX, PROTOCOL_VERSION};

/// The first bytes of every Hello: what tells a raft-tcp dialer from anything else.
pub(crate) const MAGIC: [u8; 8] = *b"raft-tcp";

/// The longest a handshake may take, end to end, on either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest an acceptor waits for the dialer's Hello, from the moment it accepted the
/// connection. A dialer sends its Hello at once, so this is short: a stranger that connects
/// and says nothing (or trickles) holds a handshake place for no longer.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest frame the handshake reads: its messages are small, so a dialer cannot make
/// an acceptor hold a large buffer before it has proved anything.
pub(crate) const HANDSHAKE_FRAME_MAX: usize = 1024;

/// The longest refusal reason shown from the other side (the rest is cut).
const REASON_SHOWN_MAX: usize = 200;

const ACCEPTOR_LABEL: &[u8] = b"raft-tcp/1 acceptor proof";
const DIALER_LABEL: &[u8] = b"raft-tcp/1 dialer proof";

/// Bytes of a nonce and of a proof.
const NONCE_LEN: usize = 32;
type Nonce = [u8; NONCE_LEN];
type Proof = [u8; 32];

/// Which of the two connections of an ordered peer pair: Control carries what must not wait
/// (votes, heartbeats), Bulk what may be large (entries, snapshots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lane {
    /// RequestVote, and AppendEntries without entries (heartbeats).
    Control,
    /// AppendEntries with entries, and InstallSnapshot.
    Bulk,
}

impl Lane {
    /// Both lanes.
    pub const ALL: [Lane; 2] = [Lane::Control, Lane::Bulk];

    /// The lane's name, for traces and thread names.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Lane::Control => "control",
            Lane::Bulk => "bulk",
        }
    }
}

/// Who the dialer says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    /// Peer `from` dialing peer `to` for one lane.
    Peer { from: u32, to: u32, lane: Lane },
    /// A client of the key/value service.
    Client,
}

/// The dialer's first message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u16,
    pub(crate) cluster_id: String,
    pub(crate) role: Role,
    pub(crate) nonce: Nonce,
}

/// The acceptor's answer to a Hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Challenge {
    /// Refused: the connection closes after this.
    Refused { reason: String },
    /// The acceptor's nonce and its proof.
    Proceed { nonce: Nonce, proof: Proof },
}

/// The dialer's answer to the challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Response {
    /// The acceptor's proof did not verify: the dialer closes.
    ProofRejected,
    /// The dialer's proof.
    Proof { proof: Proof },
}

/// The acceptor's last word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    /// Refused: the connection closes after this.
    Refused { reason: String },
    /// Accepted: frames of the role's protocol follow.
    Accepted,
}

/// Why a handshake failed, on either side.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// (Acceptor) the dialer speaks another protocol version.
    Version { theirs: u16 },
    /// (Acceptor) the dialer belongs to another cluster.
    Cluster { theirs: String },
    /// (Acceptor) the role claimed is not one this end accepts.
    Role { reason: String },
    /// A proof did not verify: the two ends hold different secrets.
    Auth { reason: &'static str },
    /// (Dialer) the acceptor refused, for the reason it gives.
    Refused { reason: String },
    /// Bytes that are not the handshake message expected.
    Malformed { reason: String },
    /// Reading or writing a frame failed (too large, timed out, closed, socket error).
    Frame(FrameError),
    /// No random nonce could be drawn.
    Random(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Version { theirs } => write!(
                f,
                "protocol version {theirs} is not spoken here (this build speaks {PROTOCOL_VERSION})"
            ),
            HandshakeError::Cluster { theirs } => write!(f, "another cluster ({theirs:?})"),
            HandshakeError::Role { reason } => write!(f, "{reason}"),
            HandshakeError::Auth { reason } => write!(f, "authentication failed: {reason}"),
            HandshakeError::Refused { reason } => write!(f, "refused by the other end: {reason}"),
            HandshakeError::Malformed { reason } => write!(f, "not a raft-tcp handshake: {reason}"),
            HandshakeError::Frame(e) => write!(f, "{e}"),
            HandshakeError::Random(e) => write!(f, "no random nonce: {e}"),
        }
    }
}

impl HandshakeError {
    /// The counter an acceptor adds to when it refuses for this reason.
    pub(crate) fn counter(&self) -> Counter {
        match self {
            HandshakeError::Version { .. } => Counter::RefusedVersion,
            HandshakeError::Cluster { .. } => Counter::RefusedCluster,
            HandshakeError::Role { .. } => Counter::RefusedPeer,
            HandshakeError::Auth { .. } => Counter::RefusedAuth,
            HandshakeError::Frame(FrameError::TooLarge { .. }) => Counter::RefusedFrame,
            HandshakeError::Refused { .. }
            | HandshakeError::Malformed { .. }
            | HandshakeError::Frame(_)
            | HandshakeError::Random(_) => Counter::RefusedHandshake,
        }
    }
}

impl From<FrameError> for HandshakeError {
    fn from(e: FrameError) -> HandshakeError {
        HandshakeError::Frame(e)
    }
}

/// Runs the dialer's side on `stream` (whose frames `reader` reads) as `role`.
pub(crate) fn dial(
    stream: &TcpStream,
    reader: &mut FrameReader<TcpStream>,
    identity: &Identity,
    role: Role,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let deadline = Instant::now() + timeout;
    let hello = Hello {
        magic: MAGIC,
        version: PROTOCOL_VERSION,
        cluster_id: identity.cluster_id.clone(),
        role,
        nonce: nonce()?,
    };
    let hello_frame = frame::encode(&hello)?;
    let transcript = &hello_frame[4..];
    send_raw(stream, &hello_frame, deadline)?;
    let (their_nonce, their_proof) = match receive::<Challenge>(reader, deadline)? {
        Challenge::Refused { reason } => {
            return Err(HandshakeError::Refused {
                reason: shown(&reason),
            });
        }
        Challenge::Proceed { nonce, proof } => (nonce, proof),
    };
    let expected = prove(identity, ACCEPTOR_LABEL, transcript, &their_nonce)?;
    if !bool::from(expected.ct_eq(&their_proof)) {
        let _ = send(stream, &Response::ProofRejected, deadline);
        return Err(HandshakeError::Auth {
            reason: "the other end's proof does not verify: its secret differs from ours",
        });
    }
    let proof = prove(identity, DIALER_LABEL, transcript, &their_nonce)?;
    send(stream, &Response::Proof { proof }, deadline)?;
    match receive::<Verdict>(reader, deadline)? {
        Verdict::Accepted => Ok(()),
        Verdict::Refused { reason } => Err(HandshakeError::Refused {
            reason: shown(&reason),
        }),
    }
}

/// Runs the acceptor's side on `stream`: `check` decides whether the role the dialer claims is
/// welcome (its `Err` is the reason given). Returns the role, now proved. A refusal is sent
/// to the dialer with its reason, except for bytes that are no handshake at all. The Hello
/// must arrive within [`HELLO_TIMEOUT`], the whole handshake within `timeout`.
pub(crate) fn accept(
    stream: &TcpStream,
    reader: &mut FrameReader<TcpStream>,
    identity: &Identity,
    check: impl FnOnce(&Role) -> Result<(), String>,
    timeout: Duration,
) -> Result<Role, HandshakeError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let transcript = read(reader, deadline.min(started + HELLO_TIMEOUT))?;
    let hello = match parse_hello(&transcript, &identity.cluster_id).and_then(|hello| {
        check(&hello.role).map_err(|reason| HandshakeError::Role { reason })?;
        Ok(hello)
    }) {
        Ok(hello) => hello,
        Err(e) => {
            let reason = match &e {
                // Not a raft-tcp dialer: it would not understand an answer.
                HandshakeError::Malformed { .. } | HandshakeError::Frame(_) => return Err(e),
                // Our cluster id is not the stranger's business.
                HandshakeError::Cluster { .. } => "this end belongs to another cluster".to_string(),
                other => other.to_string(),
            };
            let _ = send(stream, &Challenge::Refused { reason }, deadline);
            return Err(e);
        }
    };
    let our_nonce = nonce()?;
    let proof = prove(identity, ACCEPTOR_LABEL, &transcript, &our_nonce)?;
    send(
        stream,
        &Challenge::Proceed {
            nonce: our_nonce,
            proof,
        },
        deadline,
    )?;
    let their_proof = match receive::<Response>(reader, deadline)? {
        Response::Proof { proof } => proof,
        Response::ProofRejected => {
            return Err(HandshakeError::Auth {
                reason: "the dialer rejected our proof: its secret differs from ours",
            });
        }
    };
    let expected = prove(identity, DIALER_LABEL, &transcript, &our_nonce)?;
    if !bool::from(expected.ct_eq(&their_proof)) {
        let reason = "authentication failed: the proof does not verify".to_string();
        let _ = send(stream, &Verdict::Refused { reason }, deadline);
        return Err(HandshakeError::Auth {
            reason: "the dialer's proof does not verify: its secret differs from ours",
        });
    }
    send(stream, &Verdict::Accepted, deadline)?;
    Ok(hello.role)
}

/// Decodes a Hello and checks what needs no secret: magic, version (read before the rest, so
/// a Hello of another shape is still refused by version), cluster id.
pub(crate) fn parse_hello(body: &[u8], cluster_id: &str) -> Result<Hello, HandshakeError> {
    let malformed = |reason: String| HandshakeError::Malformed { reason };
    let ((magic, version), _) = postcard::take_from_bytes::<([u8; 8], u16)>(body)
        .map_err(|e| malformed(format!("no magic and version: {e}")))?;
    if magic != MAGIC {
        return Err(malformed("wrong magic bytes".to_string()));
    }
    if version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version { theirs: version });
    }
    let hello: Hello = frame::decode(body).map_err(|e| malformed(format!("bad hello: {e}")))?;
    if hello.cluster_id != cluster_id {
        return Err(HandshakeError::Cluster {
            theirs: shown(&hello.cluster_id),
        });
    }
    Ok(hello)
}

/// The HMAC of `label`, the Hello's bytes and the acceptor's nonce, under the secret.
fn prove(identity: &Identity, label: &[u8], hello: &[u8], nonce: &Nonce) -> Result<Proof, HandshakeError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(identity.secret.bytes())
        .map_err(|e| HandshakeError::Random(format!("HMAC key refused: {e}")))?;
    mac.update(label);
    mac.update(&u64::try_from(hello.len()).unwrap_or(u64::MAX).to_le_bytes());
    mac.update(hello);
    mac.update(nonce);
    Ok(mac.finalize().into_bytes().into())
}

/// A fresh nonce from the operating system.
fn nonce() -> Result<Nonce, HandshakeError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| HandshakeError::Random(e.to_string()))?;
    Ok(nonce)
}

fn send_raw(stream: &TcpStream, bytes: &[u8], deadline: Instant) -> Result<(), HandshakeError> {
    frame::write_all_before(stream, bytes, deadline).map_err(|(_, e)| {
        HandshakeError::Frame(if frame::is_timeout(&e) {
            FrameError::TimedOut
        } else {
            FrameError::Io(e)
        })
    })
}

fn send<T: Serialize>(stream: &TcpStream, message: &T, deadline: Instant) -> Result<(), HandshakeError> {
    send_raw(stream, &frame::encode(message)?, deadline)
}

/// Reads one handshake frame (at most [`HANDSHAKE_FRAME_MAX`] bytes) before `deadline`.
fn read(reader: &mut FrameReader<TcpStream>, deadline: Instant) -> Result<Vec<u8>, HandshakeError> {
    reader.set_limit(HANDSHAKE_FRAME_MAX);
    let body = reader.read_frame_before(deadline);
    reader.set_limit(FRAME_MAX);
    Ok(body?)
}

fn receive<T: serde::de::DeserializeOwned>(
    reader: &mut FrameReader<TcpStream>,
    deadline: Instant,
) -> Result<T, HandshakeError> {
    let body = read(reader, deadline)?;
    frame::decode(&body).map_err(|e| HandshakeError::Malformed {
        reason: e.to_string(),
    })
}

/// Text from the other end, made safe to show: control characters escaped, length capped.
pub(crate) fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(REASON_SHOWN_MAX)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > REASON_SHOWN_MAX {
        out.push_str("...");
    }
    out
}
