//! Read-only queries without a log write (thesis section 6.4, ReadIndex; section 6.4.1, lease
//! reads), with [`crate::Config::reads`].
//!
//! A read must see every write acknowledged before it began. Sending it through the log gives
//! that at the price of a write on a majority. ReadIndex gives it with one heartbeat round,
//! in four steps (thesis section 6.4):
//!
//! 1. the leader must have committed an entry of its current term (or, here, hold no entry of
//!    an earlier term above its commit index: see [`Raft::own_term_committed`]);
//! 2. it notes its commit index as the read's index;
//! 3. it sends a heartbeat round and waits for a majority to answer it: then no newer leader
//!    had been elected when the round went out, so the index noted is at least as high as any
//!    commit acknowledged before the read arrived;
//! 4. the service waits until it has applied the read's index, then answers from its state.
//!
//! Raft does steps 1-3 and hands the index back in the [`crate::Ready`]
//! ([`crate::Effects::read`]); step 4 is the service's. Rounds are numbered within a term
//! (`AppendEntriesArgs::round`, echoed in the reply): a read that arrives while round `r` is
//! the last sent waits for a majority to echo `r + 1` or later, so an answer to a round sent
//! before the read never confirms it (etcd-io/raft #392). One round confirms every read that
//! waits for it, and at most one round is sent for reads at a time: reads that arrive while
//! it is out wait for the next, sent as soon as it is confirmed (or with the next heartbeat).
//!
//! Lease reads ([`ReadMode::Lease`]) skip step 3 while the leader's lease holds: a majority
//! answered a round sent at tick `t`, and each of them ignores votes for an election timeout
//! after hearing it (check-quorum), so no other leader exists before `t` plus
//! [`crate::Config::lease_ticks`]. Once a transfer has sent TimeoutNow the lease is over for
//! the term: the target campaigns with votes nobody ignores.
//!
//! A leader that steps down fails every read it holds ([`ReadError::LeadershipLost`]): a later
//! leader never answers them with an index chosen in an older term.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use crate::config::ReadMode;
use crate::raft::{Raft, Role};
use crate::{LogIndex, PeerId};

/// The caller's name for one read, handed back with its outcome ([`crate::Effects::read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadId(pub u64);

/// Why a read was refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// This peer is not the leader (the leader it knows of, if any, to redirect to).
    NotLeader {
        /// The leader of the current term, if known.
        leader_hint: Option<PeerId>,
    },
    /// [`ReadMode::Log`]: Raft offers no read path; send the read through the log.
    Off,
    /// The leader already holds [`crate::Config::pending_reads_max`] unconfirmed reads.
    TooMany {
        /// The configured bound.
        max: usize,
    },
    /// The leader stepped down before it could confirm the read. Retry at the new leader.
    LeadershipLost {
        /// The leader of the new term, if known.
        leader_hint: Option<PeerId>,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotLeader { leader_hint: Some(l) } => write!(f, "not the leader (try {l})"),
            ReadError::NotLeader { leader_hint: None } => write!(f, "not the leader"),
            ReadError::Off => write!(f, "reads go through the log (ReadMode::Log)"),
            ReadError::TooMany { max } => write!(f, "{max} reads already wait"),
            ReadError::LeadershipLost { .. } => write!(f, "leadership lost before the read was confirmed"),
        }
    }
}

impl core::error::Error for ReadError {}

/// One read with its index, waiting for a majority to echo `round`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiting {
    id: ReadId,
    index: LogIndex,
    round: u64,
}

/// Most rounds whose send tick a lease leader remembers while no majority answers: a round
/// forgotten only costs the lease it would have given.
const ROUNDS_REMEMBERED_MAX: usize = 1024;

/// A leader's reads and heartbeat rounds, for its term only (it lives in [`Role::Leader`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// The last round sent in this term (0: none yet).
    round: u64,
    /// Reads that wait for an entry of this term to commit (step 1), in arrival order.
    parked: VecDeque<ReadId>,
    /// Reads that have their index and wait for their round, in arrival (and round) order.
    waiting: VecDeque<Waiting>,
    /// Lease mode: rounds not yet confirmed, with the tick each went out.
    sent_at: VecDeque<(u64, u64)>,
    /// Lease mode: the lease holds while the leader's tick count is below this.
    lease_until: u64,
}

impl Reads {
    /// The last round sent.
    pub(crate) fn round(&self) -> u64 {
        self.round
    }

    fn len(&self) -> usize {
        self.parked.len() + self.waiting.len()
    }

    /// True if a round that some waiting read needs is out already.
    fn round_out_for_reads(&self) -> bool {
        self.waiting.front().is_some_and(|w| w.round <= self.round)
    }
}

impl Raft {
    /// Input: the service asks to read, naming the read `id`. The outcome comes in a later
    /// (or this) Ready ([`crate::Effects::read`]): the read's index once this peer has
    /// confirmed it still leads; the service answers once it has applied that index.
    ///
    /// # Errors
    /// [`ReadError::Off`] with [`ReadMode::Log`]; [`ReadError::NotLeader`] on a follower or
    /// candidate; [`ReadError::TooMany`] past [`crate::Config::pending_reads_max`]. Nothing
    /// changes then.
    pub fn read(&mut self, id: ReadId) -> Result<(), ReadError> {
        if self.config.reads == ReadMode::Log {
            return Err(ReadError::Off);
        }
        let max = self.config.pending_reads_max;
        let own_term_committed = self.own_term_committed();
        let Role::Leader { reads, .. } = &mut self.role else {
            return Err(ReadError::NotLeader {
                leader_hint: self.leader_id,
            });
        };
        if reads.len() >= max {
            return Err(ReadError::TooMany { max });
        }
        if own_term_committed {
            self.admit_read(id);
        } else {
            reads.parked.push_back(id);
        }
        self.check_invariants();
        Ok(())
    }

    /// Step 1, as the reference's rule 4.3(a): true when no entry of an earlier term lies
    /// above the commit index. By Leader Completeness every committed entry is in this
    /// leader's log; those of earlier terms lie at or below its last entry of an earlier term,
    /// and those of its own term it committed itself: so such a commit index covers every
    /// commit acknowledged before now. Once an entry of this term commits, this is the
    /// thesis's rule exactly; it also admits a new leader whose log was wholly committed
    /// already (common without the thesis's no-op at election, which the 6.824 tests forbid).
    #[must_use]
    pub fn own_term_committed(&self) -> bool {
        self.log
            .term_at(self.commit_index.next())
            .is_none_or(|term| term == self.current_term)
    }

    /// Steps 2-3 for a read that passed step 1: its index is the commit index now; served at
    /// once under a lease, in a cluster of one, or else after the next round.
    fn admit_read(&mut self, id: ReadId) {
        let index = self.commit_index;
        let at_once = self.quorum() == 1 || self.lease_holds() || cfg!(raft_mutant = "read-without-round");
        let Role::Leader { reads, .. } = &mut self.role else {
            return;
        };
        if at_once {
            self.ready.reads.push((id, Ok(index)));
            return;
        }
        let round = reads.round + 1;
        reads.waiting.push_back(Waiting { id, index, round });
        self.send_read_round();
    }

    /// Sends a round for the reads waiting, unless one they need is out already (its
    /// confirmation sends the next).
    fn send_read_round(&mut self) {
        let needed = match &self.role {
            Role::Leader { reads, .. } => !reads.waiting.is_empty() && !reads.round_out_for_reads(),
            _ => false,
        };
        if needed {
            self.broadcast_append_entries();
        }
    }

    /// A new round begins (each broadcast of AppendEntries is one): its number, and in lease
    /// mode the tick it went out.
    pub(crate) fn start_round(&mut self) -> u64 {
        let lease = self.config.lease_ticks().is_some();
        let now = self.ticks;
        let Role::Leader { reads, .. } = &mut self.role else {
            return 0;
        };
        reads.round += 1;
        if lease {
            if reads.sent_at.len() >= ROUNDS_REMEMBERED_MAX {
                reads.sent_at.pop_front();
            }
            reads.sent_at.push_back((reads.round, now));
        }
        reads.round
    }

    /// Peer `from` echoed `round` in a reply of this term: the round is confirmed once a
    /// majority (this leader included, which has seen every round it sent) echoed it or a later
    /// one. Releases the reads that waited for it, extends the lease from when it went out,
    /// and sends the next round if reads still wait.
    pub(crate) fn record_round_ack(&mut self, from: PeerId, round: u64) {
        let quorum = self.quorum();
        let lease_ticks = self.config.lease_ticks();
        let Role::Leader { progress, reads, .. } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&from) else {
            return;
        };
        if round <= p.acked_round {
            return;
        }
        p.acked_round = round;
        if reads.waiting.is_empty() && lease_ticks.is_none() {
            // Nothing waits on a round, and no lease to extend: the count can wait for a read.
            return;
        }
        let mut acked: Vec<u64> = progress.values().map(|p| p.acked_round).collect();
        acked.push(reads.round);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acked[quorum - 1];
        while let Some(w) = reads.waiting.front().copied().filter(|w| w.round <= confirmed) {
            reads.waiting.pop_front();
            self.ready.reads.push((w.id, Ok(w.index)));
        }
        if let Some(lease_ticks) = lease_ticks {
            let mut start = None;
            while let Some(&(r, tick)) = reads.sent_at.front().filter(|(r, _)| *r <= confirmed) {
                debug_assert!(r <= confirmed);
                start = Some(tick);
                reads.sent_at.pop_front();
            }
            if let Some(start) = start {
                reads.lease_until = reads.lease_until.max(start + lease_ticks);
            }
        }
        self.send_read_round();
    }

    /// True while a lease leader may answer reads without a round: its lease, from the last
    /// round a majority confirmed, has not run out in its own ticks, and it sent no TimeoutNow
    /// in this term.
    fn lease_holds(&self) -> bool {
        match &self.role {
            Role::Leader {
                reads,
                timeout_now_sent,
                ..
            } => self.config.lease_ticks().is_some() && !timeout_now_sent && self.ticks < reads.lease_until,
            _ => false,
        }
    }

    /// An entry of this term committed (or the commit index moved): the parked reads pass
    /// step 1 now, with the commit index as their index.
    pub(crate) fn unpark_reads(&mut self) {
        if !self.own_term_committed() {
            return;
        }
        let parked = match &mut self.role {
            Role::Leader { reads, .. } => core::mem::take(&mut reads.parked),
            _ => return,
        };
        for id in parked {
            self.admit_read(id);
        }
    }

    /// This peer stops leading: every read it holds fails, naming the new leader if known.
    pub(crate) fn fail_reads(&mut self, reads: Reads, leader_hint: Option<PeerId>) {
        let error = ReadError::LeadershipLost { leader_hint };
        let ids = reads
            .parked
            .into_iter()
            .chain(reads.waiting.into_iter().map(|w| w.id));
        self.ready.reads.extend(ids.map(|id| (id, Err(error))));
    }
}
