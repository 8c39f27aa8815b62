//! Check-quorum (with [`crate::Config::check_quorum`]): the leader steps down when it cannot
//! reach a majority (thesis section 6.2), and a peer that hears from a leader ignores votes
//! for a higher term (section 4.2.3). The two need each other: ignoring alone keeps a leader
//! that can no longer commit, followed by the peers it still reaches, forever (Howard and
//! Abraham's partial partition); stepping down alone leaves a working leader open to a peer
//! whose higher term deposes it.

use crate::PeerId;
use crate::message::{Reply, Request, RequestVoteReply};
use crate::raft::{Raft, Role};

impl Raft {
    /// Section 6.2: "a leader steps down if an election timeout elapses without a successful
    /// round of heartbeats to a majority of its cluster". Run on each of a leader's ticks,
    /// with check-quorum: every `election_timeout_ticks_min` ticks it counts the followers
    /// that answered in the window since the last check ([`crate::Progress::recent_active`]);
    /// if they and the leader are no majority, it becomes a follower in the same term (the
    /// vote it cast stays: clearing it would allow a second vote in the term), knowing no
    /// leader, its election timer restarted. Otherwise a new window starts. True if it
    /// stepped down.
    ///
    /// A window is counted whole: a leader cut off just after a check steps down between
    /// one and two election timeouts after the cut.
    pub(crate) fn check_quorum_tick(&mut self) -> bool {
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks < self.config.election_timeout_ticks_min {
            return false;
        }
        self.election_elapsed_ticks = 0;
        let quorum = self.quorum();
        let Role::Leader { progress, .. } = &mut self.role else {
            return false;
        };
        let active = 1 + progress.values().filter(|p| p.recent_active).count();
        for p in progress.values_mut() {
            p.recent_active = false;
        }
        if active >= quorum || cfg!(raft_mutant = "ignore-votes-forever") {
            return false;
        }
        tracing::warn!(
            peer = %self.config.id, term = %self.current_term, active, quorum,
            "no word from a majority for an election timeout: stepping down"
        );
        self.become_follower(self.current_term, None, true);
        true
    }

    /// Any reply of the leader's term from `peer` shows it follows this leader: it counts
    /// toward the next quorum check.
    pub(crate) fn record_active(&mut self, peer: PeerId) {
        if let Some(p) = self.progress_mut(peer) {
            p.recent_active = true;
        }
    }

    /// Section 4.2.3: "if a server receives a RequestVote request within the minimum election
    /// timeout of hearing from a current leader, it does not update its term or grant its
    /// vote." With check-quorum, a RequestVote or PreVote for a term above this peer's is
    /// ignored while it knows a leader and less than `election_timeout_ticks_min` ticks have
    /// passed since it last heard from it (etcd's "lease is not expired"). A leader knows
    /// itself, and its count restarts at each quorum check, so it ignores them all: only a
    /// failed check, or a higher term in a reply or a leader's request, deposes it.
    ///
    /// Normal elections are unaffected: nobody campaigns before a minimum timeout has passed
    /// without a leader. A pre-candidate forgot its leader, so two of them never ignore each
    /// other. How an ignored request is answered: [`Raft::refuse_ignored_vote`].
    ///
    /// The one exception (section 4.2.3, for section 3.10): a RequestVote flagged as part of
    /// a leadership transfer is never ignored, "since the leader itself asked the candidate
    /// to campaign" (its TimeoutNow). Only such a campaign sets the flag; a PreVote is never
    /// exempt, flag or not (a transfer skips pre-vote).
    pub(crate) fn ignores_vote(&self, request: &Request) -> bool {
        let args = match request {
            Request::RequestVote(args) if !args.transfer || cfg!(raft_mutant = "transfer-not-exempt") => args,
            Request::PreVote(args) => args,
            _ => return false,
        };
        self.config.check_quorum
            && args.term > self.current_term
            && (self.leader_id.is_some() || self.guards_lease_after_start())
            && (self.election_elapsed_ticks < self.config.election_timeout_ticks_min
                || cfg!(raft_mutant = "votes-ignored-after-leader-died"))
    }

    /// With lease reads, a peer that has just started ignores votes as if it had heard a
    /// leader then: it may have answered a leader's round just before it crashed, and that
    /// leader's lease counts on it to ignore votes for an election timeout (a peer that
    /// restarts at once would otherwise elect another leader under the lease). Until its
    /// first election timeout has passed.
    fn guards_lease_after_start(&self) -> bool {
        self.config.lease_ticks().is_some() && self.ticks < u64::from(self.config.election_timeout_ticks_min)
    }

    /// The answer to a vote request [`Raft::ignores_vote`] ignores: a refusal in this peer's
    /// term, of the request's kind, with nothing changed (the term rule does not run). The
    /// thesis makes dropping, refusing and delaying equivalent; etcd drops. A refusal keeps
    /// "every request past the gate is answered" for the runtimes: raft-tcp takes a lane on
    /// which requests get no answer for a while as dead, and labrpc fails the call late. The
    /// asker learns nothing it can act on: its term is at least this one, so a candidate
    /// discards the reply, and a pre-candidate of this very term counts a refusal.
    pub(crate) fn refuse_ignored_vote(&self, from: PeerId, request: &Request) -> Reply {
        tracing::debug!(
            peer = %self.config.id, term = %self.current_term, from = %from,
            message = request.name(), message_term = %request.term(),
            "vote request refused unread: a leader was heard within the minimum election timeout"
        );
        let refusal = RequestVoteReply {
            term: self.current_term,
            vote_granted: false,
        };
        match request {
            Request::PreVote(_) => Reply::PreVote(refusal),
            _ => Reply::RequestVote(refusal),
        }
    }
}
