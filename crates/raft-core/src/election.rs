//! Leader election (section 5.2): campaigning, the RequestVote receiver rules, counting votes;
//! and the pre-vote round before a campaign (thesis section 9.6, with
//! [`crate::Config::pre_vote`]).

use crate::message::{Request, RequestVoteArgs, RequestVoteReply};
use crate::raft::{Raft, Role};
use crate::{PeerId, Term};

impl Raft {
    /// Figure 2, Rules for Servers, Followers: "If election timeout elapses without receiving
    /// AppendEntries RPC from current leader or granting vote to candidate: convert to
    /// candidate." Candidates: "If election timeout elapses: start new election."
    ///
    /// Starting an election: become candidate (new term, vote for self, reset the timer) and
    /// "send RequestVote RPCs to all other servers". A cluster of one wins at once.
    /// A peer whose term cannot grow any more (`u64::MAX`, some 2^63 elections past what the
    /// gate lets a message name) stays a follower rather than overflow.
    ///
    /// `transfer`: the campaign was started by the leader's TimeoutNow (thesis section 3.10),
    /// and its RequestVotes say so ([`RequestVoteArgs::transfer`]).
    pub(crate) fn campaign(&mut self, transfer: bool) {
        if self.current_term.checked_next().is_none() {
            tracing::error!(peer = %self.config.id, term = %self.current_term, "the term cannot grow: no campaign");
            self.reset_election_timer();
            return;
        }
        self.become_candidate();
        tracing::debug!(peer = %self.config.id, term = %self.current_term, "election timeout: campaigning");
        if self.quorum() == 1 {
            self.become_leader();
            self.broadcast_append_entries();
            return;
        }
        let args = self.vote_args(self.current_term, transfer);
        let peers: alloc::vec::Vec<PeerId> = self.others().collect();
        for peer in peers {
            self.send(peer, Request::RequestVote(args.clone()));
        }
    }

    /// What a vote request in `term` says of this peer's log (section 5.4.1), flagged as
    /// part of a leadership transfer if `transfer`.
    fn vote_args(&self, term: Term, transfer: bool) -> RequestVoteArgs {
        RequestVoteArgs {
            term,
            candidate_id: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            transfer,
        }
    }

    /// The thesis, section 9.6: before a campaign, a peer first asks the others whether its
    /// log is up to date enough to get their votes, and raises its term and campaigns only if
    /// a majority say so. Its election timeout elapsed: it becomes a pre-candidate (same term,
    /// same vote, leader forgotten, timer restarted) and sends PreVote for the term it would
    /// campaign in, `currentTerm + 1`, to every other peer. Alone, it campaigns at once.
    pub(crate) fn pre_campaign(&mut self) {
        let Some(proposed) = self.current_term.checked_next() else {
            tracing::error!(peer = %self.config.id, term = %self.current_term, "the term cannot grow: no campaign");
            self.reset_election_timer();
            return;
        };
        self.become_pre_candidate();
        tracing::debug!(peer = %self.config.id, term = %self.current_term, "election timeout: pre-vote");
        if self.quorum() == 1 {
            self.campaign(false);
            return;
        }
        let args = self.vote_args(proposed, false);
        let peers: alloc::vec::Vec<PeerId> = self.others().collect();
        for peer in peers {
            self.send(peer, Request::PreVote(args.clone()));
        }
    }

    /// The PreVote receiver (thesis section 9.6): grant iff a RequestVote in the proposed term
    /// would be granted, that is, the pre-candidate's log is at least as up to date as this
    /// peer's, and either the proposed term is above this peer's (where it has not voted) or
    /// it is this peer's and the vote is free or already the pre-candidate's. A proposed term
    /// below this peer's is refused (etcd #8501: never dropped, so that a pre-candidate that
    /// fell behind learns the term).
    ///
    /// Nothing changes here: no term, no vote, no timer (only a real vote restarts it), so
    /// nothing is persisted. A grant carries the proposed term, a refusal this peer's (etcd
    /// #8243: a grant at a lagging voter's own term would be discarded as stale).
    pub(crate) fn handle_pre_vote(&self, args: &RequestVoteArgs) -> RequestVoteReply {
        let can_vote = args.term > self.current_term
            || (args.term == self.current_term
                && (self.voted_for.is_none() || self.voted_for == Some(args.candidate_id)));
        let up_to_date = cfg!(raft_mutant = "prevote-ignores-log")
            || self.log.is_up_to_date(args.last_log_index, args.last_log_term);
        let granted = can_vote && up_to_date;
        tracing::debug!(
            peer = %self.config.id, term = %self.current_term, candidate = %args.candidate_id,
            proposed = %args.term, granted, "PreVote"
        );
        RequestVoteReply {
            term: if granted { args.term } else { self.current_term },
            vote_granted: granted,
        }
    }

    /// A pre-candidate counts the answers to its PreVotes (thesis section 9.6): grants for the
    /// term it proposed, refusals in its own term. Grants from a majority (itself included):
    /// it campaigns for real. Refusals from a majority: it is a follower again, in the same
    /// term. A refusal from a later term made it a follower already (the term rule); anything
    /// else, and every answer once it is no longer a pre-candidate, is ignored (a candidate
    /// counts only real votes).
    pub(crate) fn handle_pre_vote_reply(&mut self, from: PeerId, reply: RequestVoteReply) {
        let quorum = self.quorum();
        let term = self.current_term;
        let Role::PreCandidate { granted, refused } = &mut self.role else {
            return;
        };
        if reply.vote_granted && Some(reply.term) == term.checked_next() {
            granted.insert(from);
        } else if !reply.vote_granted && reply.term == term {
            refused.insert(from);
        } else {
            return;
        }
        if granted.len() >= quorum {
            tracing::debug!(peer = %self.config.id, term = %term, "won the pre-vote");
            self.campaign(false);
        } else if refused.len() >= quorum {
            tracing::debug!(peer = %self.config.id, term = %term, "lost the pre-vote");
            self.become_follower(term, None, false);
        }
    }

    /// Figure 2, RequestVote RPC, Receiver implementation:
    /// 1. "Reply false if term < currentTerm (section 5.1)."
    /// 2. "If votedFor is null or candidateId, and candidate's log is at least as up-to-date as
    ///    receiver's log, grant vote (sections 5.2, 5.4)."
    ///
    /// Granting a vote resets the election timer (Rules for Servers, Followers). A candidate
    /// has voted for itself in its term, so it never grants another.
    pub(crate) fn handle_request_vote(&mut self, args: RequestVoteArgs) -> RequestVoteReply {
        let can_vote = self.voted_for.is_none() || self.voted_for == Some(args.candidate_id);
        let up_to_date = cfg!(raft_mutant = "vote-ignores-log")
            || self.log.is_up_to_date(args.last_log_index, args.last_log_term);
        let granted = args.term == self.current_term && can_vote && up_to_date;
        if granted {
            self.voted_for = Some(args.candidate_id);
            self.reset_election_timer();
        }
        tracing::debug!(
            peer = %self.config.id, term = %self.current_term, candidate = %args.candidate_id,
            granted, "RequestVote"
        );
        RequestVoteReply {
            term: self.current_term,
            vote_granted: granted,
        }
    }

    /// Figure 2, Rules for Servers, Candidates: "If votes received from majority of servers:
    /// become leader." A reply from an older term, or to a candidacy already over, is ignored.
    pub(crate) fn handle_request_vote_reply(&mut self, from: PeerId, reply: RequestVoteReply) {
        if reply.term != self.current_term || !reply.vote_granted {
            return;
        }
        let quorum = self.quorum();
        let Role::Candidate { votes } = &mut self.role else {
            return;
        };
        votes.insert(from);
        if votes.len() >= quorum {
            tracing::debug!(peer = %self.config.id, term = %self.current_term, "won the election");
            self.become_leader();
            self.broadcast_append_entries();
        }
    }
}
