//! The `StateMachine` trait: what a user replicates through Raft.
//!
//! A state machine must be deterministic: every replica applies the same operations in the same
//! (log) order and must reach the same state and give the same outputs. Its state travels in
//! snapshots as bytes; bytes that do not decode are a [`DecodeError`], never a panic, because
//! they come from the disk or the network.

use core::fmt;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A deterministic state machine replicated by [`crate::Rsm`].
pub trait StateMachine: Sized {
    /// One operation a client asks for; it travels in log commands.
    type Op: Serialize + DeserializeOwned;
    /// What an operation answers; kept in the duplicate table, so it travels in snapshots.
    type Output: Serialize + DeserializeOwned + Clone;

    /// Applies `op` and returns its output. Must depend on nothing but `self` and `op`.
    fn apply(&mut self, op: &Self::Op) -> Self::Output;

    /// Whether `op` only reads: applying it changes nothing and only its output matters.
    /// With reads on ([`crate::ServerState::with_reads`]) a leader answers such an op without
    /// a log entry (ReadIndex, Raft thesis section 6.4), with [`StateMachine::read`], once it
    /// has confirmed that its state is current. The default, `false`, is always safe: every
    /// op then goes through the log.
    fn is_read_only(op: &Self::Op) -> bool {
        let _ = op;
        false
    }

    /// The output of `op`, one [`StateMachine::is_read_only`] says only reads, on the state
    /// as it is, which stays as it is: what `apply` would answer. `None` if it cannot be
    /// computed (the request is then answered wrong leader).
    ///
    /// The default applies `op` to a copy of the state rebuilt from its encoding, which is
    /// right for any state machine and costs a copy of the whole state per read; a state
    /// machine that has read-only ops should answer them in place.
    fn read(&self, op: &Self::Op) -> Option<Self::Output> {
        let mut copy = Self::restore(&self.encode()).ok()?;
        Some(copy.apply(op))
    }

    /// The whole state as bytes, for a snapshot. Equal states should encode to equal bytes.
    fn encode(&self) -> Vec<u8>;

    /// Rebuilds a state from [`StateMachine::encode`]'s bytes.
    ///
    /// # Errors
    /// [`DecodeError`] when `bytes` are not an encoded state.
    fn restore(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// Bytes (a command or a snapshot) that do not decode; says what was being decoded and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being decoded ("command", "snapshot", "kv state").
    pub what: &'static str,
    /// Why it failed, as the decoder said.
    pub reason: String,
}

impl DecodeError {
    /// A decode error of `what` caused by `err`.
    pub fn new(what: &'static str, err: impl fmt::Display) -> DecodeError {
        DecodeError {
            what,
            reason: err.to_string(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} does not decode: {}", self.what, self.reason)
    }
}

impl std::error::Error for DecodeError {}
