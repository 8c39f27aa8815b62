//! Leadership transfer (thesis section 3.10): the leader hands its role to a chosen peer, for
//! maintenance (a leader about to restart) or because another peer would lead better. The
//! target is brought up to date, told to time out now (TimeoutNow), and wins the election it
//! starts in the next term, within about a round trip instead of an election timeout.
//!
//! Safety needs nothing new: TimeoutNow only makes the target's clock run out early, which
//! Raft tolerates anyway (thesis). The rules here are for liveness: proposals wait while the
//! target catches up, the transfer gives up after an election timeout, and the target's
//! RequestVote is exempt from vote ignoring ([`Raft::ignores_vote`]).

use core::fmt;

use crate::PeerId;
use crate::message::{Request, TimeoutNowArgs, TimeoutNowReply};
use crate::raft::{Raft, Role};

/// A leadership transfer in progress on the leader ([`Role::Leader`]'s `transfer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The peer leadership is handed to.
    pub target: PeerId,
    /// Leader ticks since the transfer began: at
    /// [`crate::Config::election_timeout_ticks_min`] it is abandoned.
    pub elapsed_ticks: u32,
    /// TimeoutNow went to the target for this transfer: it is sent once per transfer.
    pub sent: bool,
}

/// Why [`Raft::transfer_leadership`] did not start a transfer. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    /// This peer is not the leader: only the leader can hand its role on.
    NotLeader {
        /// The leader this peer knows of in its current term, to ask instead.
        leader_hint: Option<PeerId>,
    },
    /// The target is not in the cluster.
    UnknownPeer(PeerId),
    /// The target is the leader itself.
    ToSelf,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::NotLeader {
                leader_hint: Some(leader),
            } => write!(f, "not the leader; the leader is {leader}"),
            TransferError::NotLeader { leader_hint: None } => write!(f, "not the leader; no leader known"),
            TransferError::UnknownPeer(peer) => write!(f, "peer {peer} is not in the cluster"),
            TransferError::ToSelf => write!(f, "the leader cannot transfer leadership to itself"),
        }
    }
}

impl core::error::Error for TransferError {}

impl Raft {
    /// Input: hand leadership to `target`. Thesis section 3.10: "The prior leader stops
    /// accepting new client requests", brings the target's log up to date, then "sends it a
    /// TimeoutNow request. This request has the same effect as the target server's election
    /// timer firing: the target server starts a new election (incrementing its term and
    /// becoming a candidate)." And: "If the transfer does not complete within about one
    /// election timeout, the prior leader aborts the transfer and resumes accepting client
    /// requests."
    ///
    /// So: if the target's `matchIndex` is already this leader's last index, TimeoutNow goes
    /// out at once; otherwise an AppendEntries goes to the target (if its window of unanswered
    /// requests has room, as for a proposal), and TimeoutNow follows from the reply that
    /// brings its `matchIndex` to the last index. Until the transfer
    /// ends, [`Raft::propose`] refuses ([`crate::ProposeError::Transferring`]), so the last
    /// index stops moving. A repeat for the target in progress changes nothing; another
    /// target replaces it (and gets a whole election timeout of its own).
    ///
    /// # Errors
    /// [`TransferError::UnknownPeer`] for a target outside the cluster,
    /// [`TransferError::NotLeader`] on a follower or candidate, [`TransferError::ToSelf`] for
    /// the leader itself. Nothing changes then.
    pub fn transfer_leadership(&mut self, target: PeerId) -> Result<(), TransferError> {
        if !self.config.peers.contains(&target) {
            return Err(TransferError::UnknownPeer(target));
        }
        let Role::Leader { transfer, .. } = &mut self.role else {
            return Err(TransferError::NotLeader {
                leader_hint: self.leader_id,
            });
        };
        if target == self.config.id {
            return Err(TransferError::ToSelf);
        }
        if transfer.is_some_and(|t| t.target == target) {
            return Ok(());
        }
        *transfer = Some(Transfer {
            target,
            elapsed_ticks: 0,
            sent: false,
        });
        tracing::info!(peer = %self.config.id, term = %self.current_term, %target, "leadership transfer begins");
        // A target behind gets the rest of the log with the next Ready (Raft::send_appends),
        // and the TimeoutNow once it acknowledges the last entry (Raft::transfer_on_match).
        let last_index = self.log.last_index();
        if let Some(p) = self.progress_mut(target).copied()
            && (p.match_index == last_index || cfg!(raft_mutant = "timeout-now-before-caught-up"))
        {
            self.send_timeout_now();
        }
        self.check_invariants();
        Ok(())
    }

    /// The target of the leadership transfer in progress on this leader, if any.
    #[must_use]
    pub fn transferring(&self) -> Option<PeerId> {
        match &self.role {
            Role::Leader { transfer, .. } => transfer.map(|t| t.target),
            _ => None,
        }
    }

    /// True if this peer leads and has sent a TimeoutNow during this leadership (whether or
    /// not that transfer was abandoned since): an election it did not start may be under
    /// way, so it holds no lease.
    #[must_use]
    pub fn timeout_now_sent(&self) -> bool {
        matches!(
            self.role,
            Role::Leader {
                timeout_now_sent: true,
                ..
            }
        )
    }

    /// A leader's tick counts toward the transfer's timeout: "If the transfer does not
    /// complete within about one election timeout, the prior leader aborts the transfer and
    /// resumes accepting client requests" (thesis section 3.10). The term stays; a
    /// TimeoutNow already sent stays sent ([`Raft::timeout_now_sent`]).
    pub(crate) fn transfer_tick(&mut self) {
        let timeout = self.config.election_timeout_ticks_min;
        let Role::Leader { transfer, .. } = &mut self.role else {
            return;
        };
        let Some(t) = transfer else {
            return;
        };
        t.elapsed_ticks += 1;
        if t.elapsed_ticks >= timeout {
            tracing::warn!(
                peer = %self.config.id, term = %self.current_term, target = %t.target,
                "leadership transfer not done within an election timeout: abandoned"
            );
            *transfer = None;
        }
    }

    /// Called when `peer`'s `matchIndex` rose: if it is the transfer's target and now holds
    /// this leader's whole log, TimeoutNow goes out (once per transfer).
    pub(crate) fn transfer_on_match(&mut self, peer: PeerId) {
        let last_index = self.log.last_index();
        let Role::Leader {
            transfer: Some(t),
            progress,
            ..
        } = &self.role
        else {
            return;
        };
        let caught_up = progress.get(&peer).is_some_and(|p| p.match_index == last_index);
        if t.target == peer && !t.sent && caught_up {
            self.send_timeout_now();
        }
    }

    /// Sends TimeoutNow to the transfer's target, and records that it went out, for this
    /// transfer and for the rest of this leadership.
    fn send_timeout_now(&mut self) {
        let Role::Leader {
            transfer: Some(t),
            timeout_now_sent,
            ..
        } = &mut self.role
        else {
            return;
        };
        t.sent = true;
        *timeout_now_sent = true;
        let target = t.target;
        tracing::info!(peer = %self.config.id, term = %self.current_term, %target, "TimeoutNow: the target is up to date");
        let args = TimeoutNowArgs {
            term: self.current_term,
            leader_id: self.config.id,
        };
        self.send(target, Request::TimeoutNow(args));
    }

    /// The TimeoutNow receiver (thesis section 3.10): a follower told by the leader it follows
    /// in its current term "starts a new election": at once, without a pre-vote round, its
    /// RequestVotes flagged as a transfer so that voters who just heard the leader do not
    /// ignore them. A candidate or pre-candidate is already campaigning and ignores it (etcd);
    /// so does anyone for a TimeoutNow of an older term, or from a peer it does not follow.
    /// The answer carries this peer's term afterwards (its new term, if it campaigned).
    pub(crate) fn handle_timeout_now(&mut self, from: PeerId, args: &TimeoutNowArgs) -> TimeoutNowReply {
        let from_leader = args.term == self.current_term && self.leader_id == Some(from);
        if from_leader && matches!(self.role, Role::Follower) {
            tracing::info!(peer = %self.config.id, term = %self.current_term, leader = %from, "TimeoutNow: campaigning at once");
            self.campaign(true);
        } else {
            tracing::debug!(
                peer = %self.config.id, term = %self.current_term, from = %from, message_term = %args.term,
                role = ?self.role(), "TimeoutNow ignored"
            );
        }
        TimeoutNowReply {
            term: self.current_term,
        }
    }
}
