//! raft-labrpc as a [`Transport`]: the 6.824 network, one labrpc method per RPC
//! (`Raft.RequestVote`, `Raft.AppendEntries`, `Raft.InstallSnapshot`, `Raft.PreVote` when
//! raft-core's pre-vote is on, and `Raft.TimeoutNow` for a leadership transfer).
//!
//! Outgoing requests are non-blocking labrpc calls; each call's callback hands its reply to
//! the peer's [`Inbox`], so a reply always pairs with the call that made it (labrpc never
//! delivers a reply to an unknown call). Incoming requests arrive through the [`Service`]
//! that [`service`] builds, which the harness adds to this peer's labrpc server.
//!
//! labrpc does not tell a handler who called. The sender of an incoming request is therefore
//! the peer the request claims to come from (`candidate_id`, `leader_id`): a network that
//! lies about it is outside labrpc's model (an authenticated transport knows better).

use raft_core::PeerId;
use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, Reply, Request,
    RequestVoteArgs, RequestVoteReply, TimeoutNowArgs, TimeoutNowReply,
};
use raft_labrpc::{CallError, ClientEnd, Service};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::transport::{Inbox, Transport};

/// The labrpc service name peers call: `Raft.RequestVote`, `Raft.AppendEntries`,
/// `Raft.InstallSnapshot`, `Raft.PreVote`, `Raft.TimeoutNow`.
pub const SERVICE: &str = "Raft";

/// A peer's labrpc ends: `peers[i]` reaches peer `i` (`peers[me]` is never used).
#[derive(Debug)]
pub struct LabrpcTransport {
    peers: Vec<ClientEnd>,
    inbox: Inbox,
}

impl LabrpcTransport {
    /// The transport of the peer whose inbox is `inbox`, over `peers`.
    #[must_use]
    pub fn new(peers: Vec<ClientEnd>, inbox: Inbox) -> LabrpcTransport {
        LabrpcTransport { peers, inbox }
    }
}

impl Transport for LabrpcTransport {
    fn send(&mut self, to: PeerId, request: Request) {
        let Some(end) = self.peers.get(to.as_usize()) else {
            tracing::error!(%to, "no labrpc end for this peer: the request is dropped");
            return;
        };
        let inbox = self.inbox.clone();
        match request {
            Request::RequestVote(args) => call(end, "RequestVote", &args, to, inbox, Reply::RequestVote),
            Request::AppendEntries(args) => {
                call(end, "AppendEntries", &args, to, inbox, Reply::AppendEntries)
            }
            Request::InstallSnapshot(args) => {
                call(end, "InstallSnapshot", &args, to, inbox, Reply::InstallSnapshot);
            }
            Request::PreVote(args) => call(end, "PreVote", &args, to, inbox, Reply::PreVote),
            Request::TimeoutNow(args) => call(end, "TimeoutNow", &args, to, inbox, Reply::TimeoutNow),
        }
    }
}

/// Calls `method` of peer `to` without waiting; its reply, as `wrap` makes it a [`Reply`],
/// goes to `inbox`. A lost call is Raft's to retry; bytes that did not decode (the reply
/// here, or the request at the peer) are counted; the rest is a bug of this build, traced.
fn call<A, R>(end: &ClientEnd, method: &str, args: &A, to: PeerId, inbox: Inbox, wrap: fn(R) -> Reply)
where
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let name = format!("{SERVICE}.{method}");
    end.call_with(&name, args, move |outcome: Result<R, CallError>| match outcome {
        Ok(reply) => inbox.reply(to, wrap(reply)),
        Err(CallError::Failed) => {}
        Err(err @ (CallError::Decode(_) | CallError::BadRequest(_))) => inbox.decode_failed(to, &err),
        Err(err) => tracing::error!(%to, %err, "an RPC this build should always be able to make failed"),
    });
}

/// The labrpc service through which other peers reach the peer whose inbox is `inbox`; add it
/// to that peer's server. Requests are queued to its event loop with their responders; a
/// full queue or a stopped peer drops them, which the caller sees as a failed RPC.
#[must_use]
pub fn service(inbox: &Inbox) -> Service {
    let mut service = Service::new(SERVICE);
    method(
        &mut service,
        inbox,
        "RequestVote",
        |args: RequestVoteArgs| (args.candidate_id, Request::RequestVote(args)),
        |reply| match reply {
            Reply::RequestVote(reply) => Ok::<RequestVoteReply, Reply>(reply),
            other => Err(other),
        },
    );
    method(
        &mut service,
        inbox,
        "AppendEntries",
        |args: AppendEntriesArgs| (args.leader_id, Request::AppendEntries(args)),
        |reply| match reply {
            Reply::AppendEntries(reply) => Ok::<AppendEntriesReply, Reply>(reply),
            other => Err(other),
        },
    );
    method(
        &mut service,
        inbox,
        "InstallSnapshot",
        |args: InstallSnapshotArgs| (args.leader_id, Request::InstallSnapshot(args)),
        |reply| match reply {
            Reply::InstallSnapshot(reply) => Ok::<InstallSnapshotReply, Reply>(reply),
            other => Err(other),
        },
    );
    method(
        &mut service,
        inbox,
        "PreVote",
        |args: RequestVoteArgs| (args.candidate_id, Request::PreVote(args)),
        |reply| match reply {
            Reply::PreVote(reply) => Ok::<RequestVoteReply, Reply>(reply),
            other => Err(other),
        },
    );
    method(
        &mut service,
        inbox,
        "TimeoutNow",
        |args: TimeoutNowArgs| (args.leader_id, Request::TimeoutNow(args)),
        |reply| match reply {
            Reply::TimeoutNow(reply) => Ok::<TimeoutNowReply, Reply>(reply),
            other => Err(other),
        },
    );
    service
}

/// Registers one RPC: `request` names the sender the arguments claim and makes the
/// [`Request`]; `reply` takes the typed reply back out of raft-core's [`Reply`], which is of
/// the request's kind (raft-core's contract; another kind is traced and the call fails).
fn method<A, R>(
    service: &mut Service,
    inbox: &Inbox,
    name: &'static str,
    request: fn(A) -> (PeerId, Request),
    reply: fn(Reply) -> Result<R, Reply>,
) where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let inbox = inbox.clone();
    service.method(name, move |args: A, responder: raft_labrpc::Responder<R>| {
        let (from, request) = request(args);
        inbox.request(from, request, move |answer| match reply(answer) {
            Ok(typed) => responder.respond(typed),
            Err(other) => tracing::error!(%from, method = name, kind = other.name(), "a reply of another kind than its request"),
        });
    });
}
