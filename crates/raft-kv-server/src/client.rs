//! The client side: a [`raft_kv::Clerk`] over raft-tcp client connections
//! ([`TcpClerkTransport`], made by [`clerk`]), and one server's [`status`].
//!
//! The transport connects to each server lazily and keeps the connection; a call that fails
//! (no answer within [`CALL_TIMEOUT`], a broken connection, a reply that does not decode)
//! drops it, and the next call to that server connects again. The clerk's own rules pick the
//! server and retry; the transport decides when to give up: after the deadline set with
//! [`TcpClerkTransport::with_deadline`], counted from the call's first attempt, or at once
//! when every server refused this client at the handshake (a wrong secret or cluster id does
//! not heal by waiting).

use std::time::{Duration, Instant};

use raft_kv::{CallFailed, Clerk, ClerkTransport, ClientId, Command, KvOp, Response};

use crate::protocol::{self, ClientReply, ClientRequest, StatusReport};
use raft_tcp::{CallError, ClientConn, ConnectError, Identity};

/// The longest one call waits for its answer before it counts as failed. A leader answers
/// once the command is applied (a few heartbeats) or, cut off from its majority, says wrong
/// leader after raft-kv's one-second wait; two seconds covers both.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a connection and its handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The shortest connect or call timeout the transport uses, even when its deadline is
/// nearer: below it a loopback handshake could not finish.
pub const WAIT_MIN: Duration = Duration::from_millis(100);

/// A [`ClerkTransport`] over raft-tcp client connections, one per server, made on first use.
pub struct TcpClerkTransport {
    servers: Vec<String>,
    identity: Identity,
    conns: Vec<Option<ClientConn>>,
    /// Per server: the last connection attempt was refused at the handshake.
    refused: Vec<bool>,
    /// Per server: the last failure, for the operator.
    last_errors: Vec<Option<String>>,
    give_up_after: Option<Duration>,
    /// When the call in progress made its first attempt.
    call_started: Option<Instant>,
    /// The call in progress reached a server (its bytes were sent): it may have been applied.
    call_reached: bool,
    /// Whether the last call given up may have been applied.
    abandoned_reached: bool,
}

impl std::fmt::Debug for TcpClerkTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpClerkTransport")
            .field("servers", &self.servers)
            .field("give_up_after", &self.give_up_after)
            .finish_non_exhaustive()
    }
}

impl TcpClerkTransport {
    /// A transport to `servers` (client addresses, in the clerk's order), proving `identity`.
    /// It never gives up until [`TcpClerkTransport::with_deadline`] says when.
    #[must_use]
    pub fn new(servers: Vec<String>, identity: Identity) -> Self {
        let count = servers.len();
        TcpClerkTransport {
            servers,
            identity,
            conns: (0..count).map(|_| None).collect(),
            refused: vec![false; count],
            last_errors: vec![None; count],
            give_up_after: None,
            call_started: None,
            call_reached: false,
            abandoned_reached: false,
        }
    }

    /// Gives up a call that has had no answer `give_up_after` after its first attempt
    /// (`None`: never, except when every server refuses this client).
    #[must_use]
    pub fn with_deadline(mut self, give_up_after: Option<Duration>) -> Self {
        self.give_up_after = give_up_after;
        self
    }

    /// Whether the call last given up may have taken effect: it reached at least one server.
    /// `false` means no server ever received it (all unreachable or refusing), so it did not.
    #[must_use]
    pub fn gave_up_after_reaching_a_server(&self) -> bool {
        self.abandoned_reached
    }

    /// Whether every server refused this client at its last handshake (wrong secret, cluster
    /// id or protocol version).
    #[must_use]
    pub fn refused_by_all(&self) -> bool {
        !self.refused.is_empty() && self.refused.iter().all(|refused| *refused)
    }

    /// The last failure seen per server that failed, each naming the server's address.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        self.last_errors.iter().flatten().cloned().collect()
    }

    /// Makes sure there is a connection to `server`, connecting if there is none.
    fn conn(&mut self, server: usize) -> Result<(), CallFailed> {
        if self.conns[server].is_none() {
            let timeout = self.bounded(CONNECT_TIMEOUT);
            match ClientConn::connect(&self.servers[server], &self.identity, timeout) {
                Ok(conn) => {
                    self.refused[server] = false;
                    self.conns[server] = Some(conn);
                }
                Err(error) => {
                    self.refused[server] = is_refusal(&error);
                    self.last_errors[server] = Some(error.to_string());
                    return Err(CallFailed);
                }
            }
        }
        Ok(())
    }

    /// `wait`, cut to what is left before the call's deadline (but at least
    /// [`WAIT_MIN`]), so that a client gives up close to its `--timeout`.
    fn bounded(&self, wait: Duration) -> Duration {
        match (self.give_up_after, self.call_started) {
            (Some(limit), Some(started)) => wait.min(limit.saturating_sub(started.elapsed()).max(WAIT_MIN)),
            _ => wait,
        }
    }

    /// Records a failed call on `server`'s connection and drops the connection.
    fn failed(&mut self, server: usize, reason: String) -> CallFailed {
        self.conns[server] = None;
        self.last_errors[server] = Some(format!("{}: {reason}", self.servers[server]));
        CallFailed
    }
}

/// Whether a connection failure is the server refusing this client (which waiting will not
/// change), rather than the network or the server being down.
fn is_refusal(error: &ConnectError) -> bool {
    matches!(
        error,
        ConnectError::Refused { .. } | ConnectError::Auth { .. } | ConnectError::Identity(_)
    )
}

impl ClerkTransport<KvOp, String> for TcpClerkTransport {
    fn call(&mut self, server: usize, request: &Command<KvOp>) -> Result<Response<String>, CallFailed> {
        if server >= self.servers.len() {
            return Err(CallFailed);
        }
        if self.call_started.is_none() {
            self.call_started = Some(Instant::now());
            self.call_reached = false;
        }
        let payload = protocol::encode(&ClientRequest::Submit(request.clone()))
            .map_err(|error| self.failed(server, format!("cannot encode the request: {error}")))?;
        self.conn(server)?;
        self.call_reached = true;
        let timeout = self.bounded(CALL_TIMEOUT);
        let answer = match self.conns[server].as_mut() {
            Some(conn) => conn.call(&payload, timeout),
            None => return Err(CallFailed),
        };
        let bytes = answer.map_err(|error: CallError| self.failed(server, error.to_string()))?;
        match protocol::decode::<ClientReply>(&bytes) {
            Ok(ClientReply::Submit(response)) => {
                if matches!(response, Response::Ok(_)) {
                    self.call_started = None;
                    self.call_reached = false;
                }
                Ok(response)
            }
            Ok(ClientReply::Undecodable(reason)) => Err(self.failed(
                server,
                format!("the server could not decode the request: {reason}"),
            )),
            Ok(ClientReply::Status(_)) => Err(self.failed(server, "a status reply to a submit".to_string())),
            Err(reason) => Err(self.failed(server, format!("the reply did not decode: {reason}"))),
        }
    }

    fn sleep(&mut self, pause: Duration) {
        let pause = match (self.give_up_after, self.call_started) {
            (Some(limit), Some(started)) => pause.min(limit.saturating_sub(started.elapsed())),
            _ => pause,
        };
        std::thread::sleep(pause);
    }

    /// Whether the clerk should stop retrying the call in progress. Called by the clerk after
    /// each failed attempt; when it says yes, the next call starts a new deadline.
    fn give_up(&mut self) -> bool {
        let timed_out = match (self.give_up_after, self.call_started) {
            (Some(limit), Some(started)) => started.elapsed() >= limit,
            _ => false,
        };
        let give_up = timed_out || self.refused_by_all();
        if give_up {
            self.abandoned_reached = self.call_reached;
            self.call_started = None;
            self.call_reached = false;
        }
        give_up
    }
}

/// A clerk over `servers` (client addresses) with a random client id, so that clerks in
/// separate processes (and restarts of one) never share a duplicate-table row.
///
/// # Panics
/// If `servers` is empty (a clerk needs a server; callers check) or the OS has no random
/// source.
#[must_use]
pub fn clerk(servers: Vec<String>, identity: Identity) -> Clerk<TcpClerkTransport> {
    let count = servers.len();
    let transport = TcpClerkTransport::new(servers, identity);
    Clerk::new(random_client_id(), count, transport).expect("clerk needs at least one server")
}

/// A fresh random client id.
///
/// # Panics
/// If the OS has no random source.
#[must_use]
pub fn random_client_id() -> ClientId {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    ClientId(u64::from_le_bytes(bytes))
}

/// Why [`status`] got no report.
#[derive(Debug)]
pub enum ClientError {
    /// The connection or its handshake failed (or the server refused this client).
    Connect(ConnectError),
    /// The call got no answer.
    Call(CallError),
    /// The answer did not decode or was not a status report.
    BadReply(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(error) => write!(f, "cannot connect: {error}"),
            ClientError::Call(error) => write!(f, "no answer: {error}"),
            ClientError::BadReply(reason) => write!(f, "bad reply: {reason}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Asks the server at `addr` for its [`StatusReport`], waiting at most `timeout` for the
/// connection and again for the answer.
///
/// # Errors
/// [`ClientError`]: unreachable, refused, no answer, or a bad answer.
pub fn status(addr: &str, identity: &Identity, timeout: Duration) -> Result<StatusReport, ClientError> {
    let mut conn = ClientConn::connect(addr, identity, timeout).map_err(ClientError::Connect)?;
    let payload =
        protocol::encode(&ClientRequest::Status).map_err(|error| ClientError::BadReply(error.to_string()))?;
    let bytes = conn.call(&payload, timeout).map_err(ClientError::Call)?;
    match protocol::decode::<ClientReply>(&bytes) {
        Ok(ClientReply::Status(report)) => Ok(report),
        Ok(ClientReply::Undecodable(reason)) => Err(ClientError::BadReply(format!(
            "the server could not decode the request: {reason}"
        ))),
        Ok(ClientReply::Submit(_)) => Err(ClientError::BadReply("a submit reply to a status".into())),
        Err(reason) => Err(ClientError::BadReply(reason)),
    }
}
