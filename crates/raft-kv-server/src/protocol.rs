//! What a client and a `raftkv serve` process say to each other, inside raft-tcp's client
//! frames (which carry opaque bytes): one postcard-encoded [`ClientRequest`] per call, one
//! [`ClientReply`] back.
//!
//! A `Submit` carries the clerk's log command itself (client id, sequence number, op), so a
//! retry through another server is recognised by the duplicate table and applied once.

use raft_kv::{Command, KvOp, Response};
use serde::{Deserialize, Serialize};

use raft_tcp::TcpStatsSnapshot;

/// A client's request to one server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Apply this command through the log (answered once applied, or wrong leader).
    Submit(Command<KvOp>),
    /// Report this server's Raft state and counters, without going through the log.
    Status,
}

/// A server's answer to one [`ClientRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientReply {
    /// The answer to a `Submit`.
    Submit(Response<String>),
    /// The answer to a `Status`.
    Status(StatusReport),
    /// The request did not decode (another version of this protocol, or damaged bytes): the
    /// reason. It was not applied. Sent so the client learns at once rather than time out.
    Undecodable(String),
}

/// One server's state as it sees it, for `raftkv status` and the process harness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node's id (its position in the peer list).
    pub id: usize,
    /// Its Raft role: "leader", "candidate" or "follower"; "stopped" once it has stopped.
    pub role: String,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of, if any.
    pub leader: Option<usize>,
    /// The highest log index it knows committed.
    pub commit_index: u64,
    /// The highest log index its state machine applied.
    pub last_applied: u64,
    /// Its transport's counters: connections accepted and refused per reason, frames that did
    /// not decode, messages dropped.
    pub tcp: TcpStatsSnapshot,
    /// Client requests that did not decode (answered [`ClientReply::Undecodable`]).
    pub undecodable_requests: u64,
}

/// Encodes a message for the wire.
///
/// # Errors
/// The serializer's error (only on an internal bug: every type here encodes).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(message)
}

/// Decodes a message from the wire; bytes left over after it are an error, so that a
/// truncated or padded frame is never taken for a valid one.
///
/// # Errors
/// A description of why the bytes are not a `T`.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} bytes left over after the message", rest.len())),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_kv::{ClientId, Seq};

    #[test]
    fn requests_and_replies_round_trip() {
        let request = ClientRequest::Submit(Command {
            client_id: ClientId(7),
            seq: Seq(3),
            op: KvOp::Append {
                key: "k".into(),
                value: "v".into(),
            },
        });
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<ClientRequest>(&bytes).unwrap(), request);
        let reply = ClientReply::Status(StatusReport {
            id: 2,
            role: "leader".into(),
            term: 9,
            leader: Some(2),
            commit_index: 40,
            last_applied: 39,
            tcp: TcpStatsSnapshot::default(),
            undecodable_requests: 1,
        });
        let bytes = encode(&reply).unwrap();
        assert_eq!(decode::<ClientReply>(&bytes).unwrap(), reply);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors_not_panics() {
        assert!(decode::<ClientRequest>(&[]).is_err());
        assert!(decode::<ClientRequest>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        let mut bytes = encode(&ClientRequest::Status).unwrap();
        bytes.push(0);
        assert!(decode::<ClientRequest>(&bytes).is_err());
        // Every truncation of a valid request fails cleanly.
        let full = encode(&ClientRequest::Submit(Command {
            client_id: ClientId(u64::MAX),
            seq: Seq(1),
            op: KvOp::Put {
                key: "key".into(),
                value: "value".into(),
            },
        }))
        .unwrap();
        for len in 0..full.len() {
            assert!(
                decode::<ClientRequest>(&full[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }
}
