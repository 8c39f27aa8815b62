//! What a clerk and a server say to each other over any transport.
//!
//! The request is the log command itself, [`crate::Command`] (client id, sequence number,
//! op): the server proposes exactly what the clerk sent, so a retry of the same call carries
//! the same pair and the duplicate table recognises it. The answer is a [`Response`].

use crate::pending::WrongLeader;
use serde::{Deserialize, Serialize};

/// A server's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<O> {
    /// The request was applied (now or, for a retry, before): its output.
    Ok(O),
    /// Not applied here as proposed (not the leader, leadership or term lost, too many
    /// waiting): the clerk tries the next server.
    WrongLeader,
}

impl<O> From<Result<O, WrongLeader>> for Response<O> {
    /// A [`crate::Reply`]'s outcome as it goes on the wire.
    fn from(outcome: Result<O, WrongLeader>) -> Response<O> {
        match outcome {
            Ok(output) => Response::Ok(output),
            Err(WrongLeader) => Response::WrongLeader,
        }
    }
}
