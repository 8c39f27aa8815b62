//! The Clerk's decisions: whom to ask, with what, and what a reply means.
//!
//! [`ClerkState`] never waits and never sends: the runtime sends each [`Attempt`] it returns,
//! waits for the reply (or a failed call), and hands it to [`ClerkState::on_reply`]. The rules
//! are the handout's: retry forever on a failed call or "wrong leader", each time at the next
//! server; a retry carries the same (client id, sequence number), so the servers apply the
//! call exactly once; remember the server that answered and try it first next time. Servers are
//! positions in the clerk's own list (the tester shuffles it per clerk).

use crate::rsm::{ClientId, Seq};

/// What the runtime sends next: request `seq` of `client_id` to server `server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The position of the server in the clerk's list.
    pub server: usize,
    /// The clerk's id (the same on every attempt).
    pub client_id: ClientId,
    /// The call's number (the same on every attempt of one call).
    pub seq: Seq,
    /// How many times every server has been tried for this call: the runtime may back off
    /// between rounds (a partitioned cluster answers no one). The clerk itself never gives
    /// up; its caller may ([`ClerkState::abandon`]).
    pub round: u64,
}

/// How an attempt ended, as the runtime saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClerkReply<O> {
    /// The server applied the call: its output ("" for Put and Append, and for a missing key).
    Ok(O),
    /// The server is not the leader, or lost its term before the call was applied.
    WrongLeader,
    /// No reply: the message or the reply was lost, or the server is down.
    CallFailed,
}

/// What the clerk does after a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next<O> {
    /// The call is complete with this output; the next call gets a new sequence number.
    Done(O),
    /// Send this attempt (the same call, to the next server).
    Retry(Attempt),
    /// The reply was for another attempt than the one outstanding (late, or a stray): ignore it.
    Stale,
}

/// A clerk's state between calls and during one.
#[derive(Clone, Debug)]
pub struct ClerkState {
    client_id: ClientId,
    servers: usize,
    next_seq: Seq,
    leader: usize,
    outstanding: Option<Attempt>,
    attempts: u64,
}

/// A clerk needs at least one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoServers;

impl std::fmt::Display for NoServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a clerk needs at least one server")
    }
}

impl std::error::Error for NoServers {}

impl ClerkState {
    /// A clerk named `client_id` over `servers` servers, believing the first leads.
    ///
    /// # Errors
    /// [`NoServers`] when `servers` is zero.
    pub fn new(client_id: ClientId, servers: usize) -> Result<ClerkState, NoServers> {
        if servers == 0 {
            return Err(NoServers);
        }
        Ok(ClerkState {
            client_id,
            servers,
            next_seq: Seq(1),
            leader: 0,
            outstanding: None,
            attempts: 0,
        })
    }

    /// The clerk's id.
    #[must_use]
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    /// The server the clerk believes leads (a position in its list).
    #[must_use]
    pub fn leader(&self) -> usize {
        self.leader
    }

    /// The sequence number the next (or the current) call carries.
    #[must_use]
    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// The attempt outstanding, if a call is in progress.
    #[must_use]
    pub fn outstanding(&self) -> Option<Attempt> {
        self.outstanding
    }

    /// Starts a call: the first attempt goes to the server believed to lead. A call already
    /// in progress is continued, not restarted (one call at a time, as the handout assumes):
    /// its outstanding attempt is returned again.
    pub fn begin(&mut self) -> Attempt {
        if let Some(attempt) = self.outstanding {
            return attempt;
        }
        self.attempts = 0;
        let attempt = self.attempt();
        self.outstanding = Some(attempt);
        attempt
    }

    /// Abandons the call in progress, if any (its caller gave up waiting): the next call
    /// gets a new sequence number, since the abandoned one may yet be applied, and must not
    /// be mistaken for the next call's (the servers would answer that with the abandoned
    /// call's output). Should the abandoned request commit later than the next call, the
    /// servers find it older than the client's last and do not apply it. Replies to its
    /// attempts become [`Next::Stale`].
    pub fn abandon(&mut self) {
        if self.outstanding.take().is_some() {
            self.next_seq = Seq(self.next_seq.0 + 1);
        }
    }

    /// Decides what a reply to `attempt` means: done, or the same call at the next server.
    pub fn on_reply<O>(&mut self, attempt: Attempt, reply: ClerkReply<O>) -> Next<O> {
        if self.outstanding != Some(attempt) {
            return Next::Stale;
        }
        match reply {
            ClerkReply::Ok(output) => {
                self.leader = attempt.server;
                self.outstanding = None;
                self.next_seq = Seq(self.next_seq.0 + 1);
                Next::Done(output)
            }
            ClerkReply::WrongLeader | ClerkReply::CallFailed => {
                self.leader = (attempt.server + 1) % self.servers;
                self.attempts += 1;
                let retry = self.attempt();
                self.outstanding = Some(retry);
                Next::Retry(retry)
            }
        }
    }

    fn attempt(&self) -> Attempt {
        Attempt {
            server: self.leader,
            client_id: self.client_id,
            seq: self.next_seq,
            round: self.attempts / self.servers as u64,
        }
    }
}
