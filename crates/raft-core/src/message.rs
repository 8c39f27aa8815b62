//! The RPCs of Figure 2 (RequestVote, AppendEntries), section 7 (InstallSnapshot) and the
//! thesis's sections 9.6 (PreVote) and 3.10 (TimeoutNow).
//!
//! Field names are the paper's, in snake_case. Every type derives serde so the runtime can put
//! it on any wire; decoding bad bytes is the wire format's error, never a panic here.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::{Entry, LogIndex, PeerId, Term};

/// RequestVote arguments: "invoked by candidates to gather votes (section 5.2)".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// The candidate's term.
    pub term: Term,
    /// The candidate requesting the vote.
    pub candidate_id: PeerId,
    /// Index of the candidate's last log entry (section 5.4).
    pub last_log_index: LogIndex,
    /// Term of the candidate's last log entry (section 5.4).
    pub last_log_term: Term,
    /// True only on the RequestVote of a campaign that a [`Request::TimeoutNow`] started
    /// (thesis section 3.10): voters do not ignore it for having heard a leader recently
    /// (section 4.2.3). Always false on a PreVote, which is never exempt.
    pub transfer: bool,
}

/// RequestVote results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// The voter's current term, for the candidate to update itself.
    pub term: Term,
    /// True means the candidate received the vote.
    pub vote_granted: bool,
}

/// AppendEntries arguments: "invoked by leader to replicate log entries (section 5.3); also
/// used as heartbeat (section 5.2)".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    /// The leader's term.
    pub term: Term,
    /// So the follower can redirect clients.
    pub leader_id: PeerId,
    /// Index of the log entry immediately preceding the new ones.
    pub prev_log_index: LogIndex,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// Log entries to store (empty for heartbeat).
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
    /// The leader's heartbeat round when it sent this (not in Figure 2: the thesis's ReadIndex,
    /// section 6.4). Rounds count up within a term; the follower echoes the number, and a
    /// majority echoing round `r` proves no other leader had taken over when round `r` went
    /// out, which confirms the reads that arrived before it ([`crate::Raft::read`]).
    pub round: u64,
}

/// AppendEntries results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's current term, for the leader to update itself.
    pub term: Term,
    /// What the follower did with the request.
    pub outcome: AppendOutcome,
    /// The request's `round`, echoed.
    pub round: u64,
}

/// The follower's answer to one AppendEntries: the paper's `success` flag, made precise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendOutcome {
    /// The request's term was older than the follower's: the leader is stale.
    StaleTerm,
    /// The follower held an entry matching `prev_log_index` and `prev_log_term` and now
    /// matches the leader through `match_index` (`prev_log_index` plus the entries sent).
    Success {
        /// The last index this request made the follower's log agree on.
        match_index: LogIndex,
    },
    /// The consistency check failed. The hint lets the leader skip a whole term per round
    /// trip (the 6.824 "backs up quickly" optimisation).
    Conflict {
        /// The term of the follower's entry at `prev_log_index`, if it has one there.
        conflict_term: Option<Term>,
        /// With a term: the follower's first index of `conflict_term`. Without: the index
        /// after the follower's last entry.
        conflict_index: LogIndex,
    },
}

/// InstallSnapshot arguments (section 7): the whole snapshot in one message, as 6.824 allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    /// The leader's term.
    pub term: Term,
    /// So the follower can redirect clients.
    pub leader_id: PeerId,
    /// The snapshot replaces all entries up through and including this index.
    pub last_included_index: LogIndex,
    /// Term of `last_included_index`.
    pub last_included_term: Term,
    /// The service's snapshot bytes.
    pub data: Vec<u8>,
}

/// InstallSnapshot results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    /// The follower's current term, for the leader to update itself.
    pub term: Term,
    /// The snapshot's last included index, echoed when the follower now holds everything
    /// through it (installed now or already), so the leader can raise `matchIndex`; zero when
    /// the request was refused for its term.
    pub match_index: LogIndex,
}

/// TimeoutNow arguments (thesis section 3.10): the leader tells the target of a leadership
/// transfer, whose log it knows to match its own, to start an election at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutNowArgs {
    /// The leader's term.
    pub term: Term,
    /// The leader sending it: only the leader the target follows can start its election.
    pub leader_id: PeerId,
}

/// TimeoutNow results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutNowReply {
    /// The target's current term once it handled the request (the new term, if it
    /// campaigns), for the leader to update itself.
    pub term: Term,
}

/// A request of Figure 2 or section 7: what one peer asks of another, expecting a [`Reply`].
///
/// The runtime steps an incoming request with [`crate::Raft::step_request`], naming it with a
/// [`RequestId`] of its choice; the reply comes back in the Ready under that id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A candidate asks for a vote.
    RequestVote(RequestVoteArgs),
    /// A leader replicates entries or sends a heartbeat.
    AppendEntries(AppendEntriesArgs),
    /// A leader sends its snapshot to a follower that needs entries it discarded.
    InstallSnapshot(InstallSnapshotArgs),
    /// A pre-candidate asks whether the receiver would vote for it (thesis section 9.6;
    /// only with [`crate::Config::pre_vote`]). The arguments are RequestVote's, with `term`
    /// the term it would campaign in: its own plus one. Asking changes nothing on either side.
    ///
    /// A kind of its own rather than a flag on RequestVote: the term rule and the vote
    /// count treat the two differently (a PreVote never raises the receiver's term, and a
    /// pre-vote grant must never count as a vote), and the type keeps them apart. Added last,
    /// so the encodings of the other kinds are unchanged.
    PreVote(RequestVoteArgs),
    /// A leader tells the target of a leadership transfer to campaign now (thesis section
    /// 3.10). Added last, as PreVote was.
    TimeoutNow(TimeoutNowArgs),
}

impl Request {
    /// The sender's term (the term rule reads it).
    #[must_use]
    pub fn term(&self) -> Term {
        match self {
            Request::RequestVote(m) => m.term,
            Request::AppendEntries(m) => m.term,
            Request::InstallSnapshot(m) => m.term,
            Request::PreVote(m) => m.term,
            Request::TimeoutNow(m) => m.term,
        }
    }

    /// The request's name, as in Figure 2 (and the thesis for PreVote and TimeoutNow).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Request::RequestVote(_) => "RequestVote",
            Request::AppendEntries(_) => "AppendEntries",
            Request::InstallSnapshot(_) => "InstallSnapshot",
            Request::PreVote(_) => "PreVote",
            Request::TimeoutNow(_) => "TimeoutNow",
        }
    }
}

/// The answer to a [`Request`], of the same kind. Replies carry what the receiver needs to act
/// on them without remembering the request; the runtime steps them with
/// [`crate::Raft::step_reply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A peer answers a vote request.
    RequestVote(RequestVoteReply),
    /// A follower answers AppendEntries.
    AppendEntries(AppendEntriesReply),
    /// A follower answers InstallSnapshot.
    InstallSnapshot(InstallSnapshotReply),
    /// A peer answers a PreVote. A grant carries the term the request proposed (not the
    /// voter's own, which may lag: the pre-candidate would discard it as stale); a refusal
    /// carries the voter's term, so that a pre-candidate behind it catches up.
    PreVote(RequestVoteReply),
    /// The target of a transfer answers TimeoutNow.
    TimeoutNow(TimeoutNowReply),
}

impl Reply {
    /// The replier's term (the term rule reads it).
    #[must_use]
    pub fn term(&self) -> Term {
        match self {
            Reply::RequestVote(m) => m.term,
            Reply::AppendEntries(m) => m.term,
            Reply::InstallSnapshot(m) => m.term,
            Reply::PreVote(m) => m.term,
            Reply::TimeoutNow(m) => m.term,
        }
    }

    /// The reply's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Reply::RequestVote(_) => "RequestVoteReply",
            Reply::AppendEntries(_) => "AppendEntriesReply",
            Reply::InstallSnapshot(_) => "InstallSnapshotReply",
            Reply::PreVote(_) => "PreVoteReply",
            Reply::TimeoutNow(_) => "TimeoutNowReply",
        }
    }
}

/// The runtime's name for one incoming request, opaque to Raft: it comes back with the reply
/// ([`crate::Ready::replies`], [`crate::Effects::reply`]), so that a runtime that steps several
/// requests before it takes the Ready answers each caller with its own reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// A request or a reply, for a network that carries both on one queue (the simulators, the
/// test cluster). A runtime that pairs replies with its calls (labrpc) needs only [`Request`]
/// and [`Reply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A request, on its way to the peer that will answer it.
    Request(Request),
    /// A reply, on its way back to the peer that asked.
    Reply(Reply),
}

impl Message {
    /// The sender's term, which every message carries.
    #[must_use]
    pub fn term(&self) -> Term {
        match self {
            Message::Request(r) => r.term(),
            Message::Reply(r) => r.term(),
        }
    }

    /// The message's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Message::Request(r) => r.name(),
            Message::Reply(r) => r.name(),
        }
    }
}
