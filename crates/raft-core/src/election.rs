//! Leader election (section 5.2): campaigning, the RequestVote receiver rules, counting votes.

use crate::PeerId;
use crate::message::{Request, RequestVoteArgs, RequestVoteReply};
use crate::raft::{Raft, Role};

impl Raft {
    /// Figure 2, Rules for Servers, Followers: "If election timeout elapses without receiving
    /// AppendEntries RPC from current leader or granting vote to candidate: convert to
    /// candidate." Candidates: "If election timeout elapses: start new election."
    ///
    /// Starting an election: become candidate (new term, vote for self, reset the timer) and
    /// "send RequestVote RPCs to all other servers". A cluster of one wins at once.
    pub(crate) fn campaign(&mut self) {
        self.become_candidate();
        tracing::debug!(peer = %self.config.id, term = %self.current_term, "election timeout: campaigning");
        if self.quorum() == 1 {
            self.become_leader();
            self.broadcast_append_entries();
            return;
        }
        let args = RequestVoteArgs {
            term: self.current_term,
            candidate_id: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        let peers: alloc::vec::Vec<PeerId> = self.others().collect();
        for peer in peers {
            self.send(peer, Request::RequestVote(args.clone()));
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
        let up_to_date = cfg!(feature = "mutant-vote-ignores-log")
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
