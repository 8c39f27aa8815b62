//! The two error types: why a call failed ([`CallError`]) and why the network refused a
//! configuration request ([`NetworkError`]).
//!
//! labrpc's `Call` returns a bare `false` for every failure. Here [`CallError::Failed`] is
//! that `false`; the other variants are programming errors that labrpc turns into a fatal
//! `log.Fatalf` (bad types, unknown methods) and that this port reports instead of panicking.

use std::fmt;

/// Why a call returned no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// labrpc's `false`: the request or the reply was dropped, the end is disabled or
    /// unconnected, the server is missing, was deleted or replaced while the call was in
    /// flight, the handler dropped its [`Responder`](crate::Responder), or the network was
    /// cleaned up. Raft treats all of these alike: the message was lost.
    Failed,
    /// The arguments (at the caller) or the reply (at the server) did not encode.
    Encode(String),
    /// The reply bytes did not decode into the type the caller asked for.
    Decode(String),
    /// The arguments did not decode into the type the server's handler takes.
    BadRequest(String),
    /// The server has no service of this name (the part of `"Service.Method"` before the
    /// last dot).
    UnknownService(String),
    /// The service has no method of this name (the part after the last dot).
    UnknownMethod(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Failed => write!(f, "rpc failed: no reply (lost, disconnected or dead)"),
            CallError::Encode(why) => write!(f, "rpc encode error: {why}"),
            CallError::Decode(why) => write!(f, "rpc reply did not decode: {why}"),
            CallError::BadRequest(why) => write!(f, "rpc arguments did not decode: {why}"),
            CallError::UnknownService(name) => write!(f, "rpc to unknown service {name:?}"),
            CallError::UnknownMethod(name) => write!(f, "rpc to unknown method {name:?}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Why the network refused a configuration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkError {
    /// [`Network::make_end`](crate::Network::make_end) was given a name that already
    /// names an end (labrpc calls `log.Fatalf` here).
    DuplicateEnd(String),
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::DuplicateEnd(name) => write!(f, "client end {name:?} already exists"),
        }
    }
}

impl std::error::Error for NetworkError {}
