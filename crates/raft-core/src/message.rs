//! The RPCs of Figure 2 (RequestVote, AppendEntries) and section 7 (InstallSnapshot).
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
}

/// AppendEntries results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's current term, for the leader to update itself.
    pub term: Term,
    /// What the follower did with the request.
    pub outcome: AppendOutcome,
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

/// One message between peers: a request of Figure 2 or its reply.
///
/// The runtime tells [`crate::Raft::step`] who sent it; replies carry what the receiver needs
/// to act on them without remembering the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A candidate asks for a vote.
    RequestVote(RequestVoteArgs),
    /// A peer answers a vote request.
    RequestVoteReply(RequestVoteReply),
    /// A leader replicates entries or sends a heartbeat.
    AppendEntries(AppendEntriesArgs),
    /// A follower answers AppendEntries.
    AppendEntriesReply(AppendEntriesReply),
    /// A leader sends its snapshot to a follower that needs entries it discarded.
    InstallSnapshot(InstallSnapshotArgs),
    /// A follower answers InstallSnapshot.
    InstallSnapshotReply(InstallSnapshotReply),
}

impl Message {
    /// The sender's term, which every message carries (the term rule reads it).
    #[must_use]
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote(m) => m.term,
            Message::RequestVoteReply(m) => m.term,
            Message::AppendEntries(m) => m.term,
            Message::AppendEntriesReply(m) => m.term,
            Message::InstallSnapshot(m) => m.term,
            Message::InstallSnapshotReply(m) => m.term,
        }
    }

    /// True for requests (which get a reply), false for replies.
    #[must_use]
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::RequestVote(_) | Message::AppendEntries(_) | Message::InstallSnapshot(_)
        )
    }
}
