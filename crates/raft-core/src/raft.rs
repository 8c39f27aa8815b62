//! The state machine of one peer: its inputs (`tick`, `step`, `propose`), the term rule that
//! gates every message, and the role transitions. The rules of each RPC live in
//! [`crate::election`] and [`crate::replication`]; check-quorum in [`crate::quorum`];
//! leadership transfer in [`crate::transfer`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, ConfigError};
use crate::gate::{LOG_INDEX_MAX, Refused};
use crate::log::{LogGap, RaftLog};
use crate::message::{Reply, Request, RequestId};
use crate::read::Reads;
use crate::ready::Ready;
use crate::transfer::Transfer;
use crate::{Entry, HardState, LogIndex, PeerId, Snapshot, Term};

/// What a peer is doing in its current term (section 5.1). Role-only state lives inside the
/// variant, so follower code cannot touch a leader's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Passive: answers leaders and candidates.
    Follower,
    /// Asking whether it could win an election, before it raises its term (thesis section
    /// 9.6; only with [`Config::pre_vote`]): same term, same vote as the follower it was.
    PreCandidate {
        /// The peers that would vote for it in the next term (itself included).
        granted: BTreeSet<PeerId>,
        /// The peers that refused, in its current term.
        refused: BTreeSet<PeerId>,
    },
    /// Campaigning: the peers that granted a vote this term (itself included).
    Candidate {
        /// Votes received in the current term.
        votes: BTreeSet<PeerId>,
    },
    /// Replicating: the leader's view of every other peer (Figure 2's volatile leader state).
    Leader {
        /// Replication progress per follower.
        progress: BTreeMap<PeerId, Progress>,
        /// The last index of the log this leader inherited when it was elected: entries up to
        /// it are not its own proposals and do not count toward
        /// [`Config::uncommitted_entries_max`].
        inherited: LogIndex,
        /// Its reads and heartbeat rounds (see `read.rs`).
        reads: Reads,
        /// The leadership transfer in progress, if any (thesis section 3.10): it lives and
        /// dies with this leadership, so any change of role or term ends it.
        transfer: Option<Transfer>,
        /// A TimeoutNow went out during this leadership. Set when it is sent and never
        /// cleared while the leadership lasts, not even by an abort: a TimeoutNow still on
        /// its way can start an election at any time (raft-rs #234), so lease reads stop for
        /// good (thesis section 6.4.1: expire the lease before transferring).
        timeout_now_sent: bool,
    },
}

/// A leader's knowledge of one follower (Figure 2: `nextIndex[]`, `matchIndex[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Index of the next log entry to send to that server (optimistic: while
    /// [`Progress::pipelining`], it runs ahead of the replies, past every entry already sent).
    pub next_index: LogIndex,
    /// Index of the highest log entry known to be replicated on that server (conservative:
    /// raised only by a successful AppendEntries reply).
    pub match_index: LogIndex,
    /// AppendEntries (or InstallSnapshot) sent since the last heartbeat and not yet answered.
    /// At the window ([`Progress::window`]), new entries wait for a reply (or the next
    /// heartbeat), and then leave together in one request.
    pub in_flight: usize,
    /// The follower's log is known to match the leader's just before `next_index`: new
    /// entries are sent ahead without waiting for the replies to the earlier ones, up to
    /// [`Config::append_entries_in_flight_max`] requests, and `next_index` moves past them as
    /// they leave. False after the election and after a conflict: then one request at a time
    /// probes for the point where the two logs agree (the fast backtracking), and the first
    /// success there starts the pipeline again.
    pub pipelining: bool,
    /// A successful AppendEntries reply came since the last heartbeat: the pipeline moves.
    /// A heartbeat that finds it still false takes what was sent ahead as lost.
    pub answered: bool,
    /// The follower answered an AppendEntries or InstallSnapshot of this term since the last
    /// quorum check (whatever the answer: any reply of the term shows it follows this
    /// leader). Only [`Config::check_quorum`] reads it.
    pub recent_active: bool,
    /// The highest heartbeat round the follower echoed in a reply of this term (ReadIndex:
    /// [`crate::Raft::read`]).
    pub acked_round: u64,
}

impl Progress {
    /// How many requests may be unanswered at once: the configured window while pipelining,
    /// one while probing (a second probe would only repeat the first).
    #[must_use]
    pub fn window(&self, config: &Config) -> usize {
        if self.pipelining {
            config.append_entries_in_flight_max
        } else {
            1
        }
    }

    /// True if one more request may go to this follower now.
    #[must_use]
    pub fn has_room(&self, config: &Config) -> bool {
        self.in_flight < self.window(config)
    }
}

/// The role, as a plain tag, for callers that only need to know which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// See [`Role::Follower`].
    Follower,
    /// See [`Role::PreCandidate`].
    PreCandidate,
    /// See [`Role::Candidate`].
    Candidate,
    /// See [`Role::Leader`].
    Leader,
}

/// What a peer restores at start from what it persisted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Term and vote.
    pub hard_state: HardState,
    /// The latest snapshot, if one was taken or installed.
    pub snapshot: Option<Snapshot>,
    /// The log entries after the snapshot.
    pub entries: Vec<Entry>,
}

/// Why a state machine could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewError {
    /// The config cannot work.
    Config(ConfigError),
    /// The restored log is not contiguous.
    Log(LogGap),
    /// The restored term is older than the last term in the log: the state was not written
    /// by a correct peer (term and vote are persisted before the entries of a term).
    TermBehindLog {
        /// The restored current term.
        current_term: Term,
        /// The term of the log's last entry.
        last_log_term: Term,
    },
    /// The restored snapshot ends past [`crate::LOG_INDEX_MAX`], which the gate lets no message
    /// name and so no committed entry reach: not state a correct peer wrote. (Terms are not
    /// bounded here: a peer's own campaigns may take it past [`crate::TERM_MAX`].)
    OutOfRange,
}

impl core::fmt::Display for NewError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NewError::Config(e) => write!(f, "invalid config: {e}"),
            NewError::Log(g) => write!(
                f,
                "restored log is not a log: expected index {} with a term no lower than the last, found index {}",
                g.expected, g.found
            ),
            NewError::TermBehindLog {
                current_term,
                last_log_term,
            } => write!(
                f,
                "restored term {current_term} is older than the log's last term {last_log_term}"
            ),
            NewError::OutOfRange => write!(
                f,
                "restored snapshot index is beyond the highest a peer accepts ({LOG_INDEX_MAX})"
            ),
        }
    }
}

impl core::error::Error for NewError {}

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// This peer is not the leader.
    NotLeader {
        /// The leader this peer knows of in its current term, so a client can redirect.
        leader_hint: Option<PeerId>,
    },
    /// The leader already holds [`Config::uncommitted_entries_max`] entries of its own
    /// proposals past its commit index: the client should retry once some commit (or go to
    /// another peer, if this one is cut off from its majority).
    UncommittedFull {
        /// The leader's own entries past the commit index.
        uncommitted_entries: u64,
        /// The configured bound.
        max: usize,
    },
    /// A leadership transfer to `target` is in progress: the leader takes no proposal until
    /// it ends (thesis section 3.10), so that the target can catch up with a log that stops
    /// growing. The client should retry, at the new leader once the transfer succeeds, or
    /// here once it is abandoned (within an election timeout).
    Transferring {
        /// The peer leadership is being handed to.
        target: PeerId,
    },
}

impl core::fmt::Display for ProposeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProposeError::NotLeader {
                leader_hint: Some(leader),
            } => write!(f, "not the leader; the leader is {leader}"),
            ProposeError::NotLeader { leader_hint: None } => write!(f, "not the leader; no leader known"),
            ProposeError::UncommittedFull {
                uncommitted_entries,
                max,
            } => write!(
                f,
                "{uncommitted_entries} entries are uncommitted, the most a leader holds is {max}"
            ),
            ProposeError::Transferring { target } => {
                write!(f, "leadership is being transferred to {target}; retry there")
            }
        }
    }
}

impl core::error::Error for ProposeError {}

/// One peer's Raft state machine.
#[derive(Debug)]
pub struct Raft {
    pub(crate) config: Config,
    /// Figure 2 `currentTerm` (persistent).
    pub(crate) current_term: Term,
    /// Figure 2 `votedFor` (persistent).
    pub(crate) voted_for: Option<PeerId>,
    /// Figure 2 `log[]` (persistent).
    pub(crate) log: RaftLog,
    /// The service's state through `log.snapshot()`: what a lagging follower is sent.
    pub(crate) snapshot_data: Vec<u8>,
    /// Figure 2 `commitIndex`: highest entry known to be committed.
    pub(crate) commit_index: LogIndex,
    /// Figure 2 `lastApplied`: highest entry handed to the service.
    pub(crate) last_applied: LogIndex,
    pub(crate) role: Role,
    /// The leader of the current term, once known.
    pub(crate) leader_id: Option<PeerId>,
    pub(crate) election_elapsed_ticks: u32,
    pub(crate) election_timeout_ticks: u32,
    pub(crate) heartbeat_elapsed_ticks: u32,
    /// Ticks since this peer started: its own clock, which lease reads count in.
    pub(crate) ticks: u64,
    /// A commit advanced since the last broadcast: followers learn it on the next tick.
    pub(crate) commit_unannounced: bool,
    /// The last index of the log known to be on stable storage: what a leader counts for
    /// itself toward a commit (thesis section 10.2.1: it sends entries before its own write
    /// of them is durable, so its log alone proves nothing). Raised when a Ready is taken,
    /// to the log's end when the previous Ready was taken (each Ready is carried out before
    /// the next is taken); lowered when the log is cut.
    pub(crate) durable_index: LogIndex,
    /// The last entry of the log (index and term) when the previous Ready was taken: durable
    /// once that Ready was carried out, if the log still holds it.
    written_through: (LogIndex, Term),
    rng: SmallRng,
    persisted_hard_state: HardState,
    /// Messages the gate refused, per reason.
    pub(crate) refused: Refused,
    pub(crate) ready: Ready,
}

impl Raft {
    /// A fresh peer: term 0, no vote, empty log, a follower.
    ///
    /// # Errors
    /// [`NewError::Config`] if the config cannot work.
    pub fn new(config: Config) -> Result<Raft, NewError> {
        Raft::restore(config, Restored::default())
    }

    /// A peer restarted from what it persisted. It comes back as a follower; its commit index
    /// is rebuilt by the protocol (it is not persisted), except that a snapshot is committed.
    ///
    /// # Errors
    /// [`NewError`] if the config cannot work or the restored log is not contiguous.
    pub fn restore(config: Config, restored: Restored) -> Result<Raft, NewError> {
        config.validate().map_err(NewError::Config)?;
        let meta = restored.snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        if meta.last_included_index > LOG_INDEX_MAX {
            return Err(NewError::OutOfRange);
        }
        let (meta, snapshot_data) = match restored.snapshot {
            Some(snapshot) => (Some(snapshot.meta), snapshot.data),
            None => (None, Vec::new()),
        };
        let log = RaftLog::restore(meta, restored.entries).map_err(NewError::Log)?;
        if restored.hard_state.current_term < log.last_term() {
            return Err(NewError::TermBehindLog {
                current_term: restored.hard_state.current_term,
                last_log_term: log.last_term(),
            });
        }
        let compacted = log.snapshot().last_included_index;
        // What was restored is on stable storage.
        let log_end = (log.last_index(), log.last_term());
        let mut raft = Raft {
            rng: SmallRng::seed_from_u64(config.seed),
            config,
            current_term: restored.hard_state.current_term,
            voted_for: restored.hard_state.voted_for,
            log,
            snapshot_data,
            commit_index: compacted,
            last_applied: compacted,
            role: Role::Follower,
            leader_id: None,
            election_elapsed_ticks: 0,
            election_timeout_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            ticks: 0,
            commit_unannounced: false,
            durable_index: log_end.0,
            written_through: log_end,
            persisted_hard_state: restored.hard_state,
            refused: Refused::default(),
            ready: Ready::default(),
        };
        raft.reset_election_timer();
        Ok(raft)
    }

    /// This peer's id.
    #[must_use]
    pub fn id(&self) -> PeerId {
        self.config.id
    }

    /// The config this peer runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current term.
    #[must_use]
    pub fn term(&self) -> Term {
        self.current_term
    }

    /// The vote cast in the current term, if any.
    #[must_use]
    pub fn voted_for(&self) -> Option<PeerId> {
        self.voted_for
    }

    /// Which role this peer has now.
    #[must_use]
    pub fn role(&self) -> RoleKind {
        match self.role {
            Role::Follower => RoleKind::Follower,
            Role::PreCandidate { .. } => RoleKind::PreCandidate,
            Role::Candidate { .. } => RoleKind::Candidate,
            Role::Leader { .. } => RoleKind::Leader,
        }
    }

    /// True if this peer believes it is the leader.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// The leader of the current term, if known.
    #[must_use]
    pub fn leader_id(&self) -> Option<PeerId> {
        self.leader_id
    }

    /// The highest index known to be committed.
    #[must_use]
    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    /// The log, for inspection.
    #[must_use]
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// How many messages the gate refused, per reason, since this peer started.
    #[must_use]
    pub fn refused(&self) -> Refused {
        self.refused
    }

    /// The leader's progress for each follower, if this peer leads.
    #[must_use]
    pub fn progress(&self) -> Option<&BTreeMap<PeerId, Progress>> {
        match &self.role {
            Role::Leader { progress, .. } => Some(progress),
            _ => None,
        }
    }

    /// Input: one unit of logical time has passed.
    ///
    /// Followers, pre-candidates and candidates count towards their election timeout, at
    /// which they campaign (after a pre-vote round, with [`Config::pre_vote`]); leaders
    /// towards their next heartbeat (and, with [`Config::check_quorum`], their next check).
    pub fn tick(&mut self) {
        self.ticks += 1;
        if self.is_leader() {
            self.tick_leader();
        } else {
            self.election_elapsed_ticks += 1;
            if self.election_elapsed_ticks >= self.election_timeout_ticks {
                if self.config.pre_vote {
                    self.pre_campaign();
                } else {
                    self.campaign(false);
                }
            }
        }
        self.check_invariants();
    }

    /// Input: a request from peer `from`, which the runtime names `id`. Its reply goes into
    /// the Ready under `id` ([`Ready::replies`]), so requests stepped one after the other
    /// before the Ready is taken each get their own answer.
    ///
    /// Requests and replies are two inputs, not one: a runtime receives them by different
    /// paths (a request with the means to answer it, a reply as the answer to a call it made),
    /// and the types then say what it must do with each: only a request has an id, and only a
    /// request is answered.
    ///
    /// The gate ([`crate::gate`]) checks the request first: one it refuses is dropped without
    /// a reply and counted in [`Raft::refused`], and nothing else changes. A vote request that
    /// check-quorum ignores (section 4.2.3) is refused before the term rule runs, so nothing
    /// changes but the answer.
    pub fn step_request(&mut self, from: PeerId, id: RequestId, request: Request) {
        if let Err(reason) = self.admit_request(from, &request) {
            self.refuse(from, request.name(), request.term(), reason);
            return;
        }
        let reply = if self.ignores_vote(&request) {
            self.refuse_ignored_vote(from, &request)
        } else {
            let from_leader = matches!(
                request,
                Request::AppendEntries(_) | Request::InstallSnapshot(_) | Request::TimeoutNow(_)
            );
            if !matches!(request, Request::PreVote(_)) {
                self.apply_term_rule(request.term(), from_leader.then_some(from));
            }
            match request {
                Request::RequestVote(args) => Reply::RequestVote(self.handle_request_vote(args)),
                Request::AppendEntries(args) => Reply::AppendEntries(self.handle_append_entries(args)),
                Request::InstallSnapshot(args) => Reply::InstallSnapshot(self.handle_install_snapshot(args)),
                Request::PreVote(args) => Reply::PreVote(self.handle_pre_vote(&args)),
                Request::TimeoutNow(args) => Reply::TimeoutNow(self.handle_timeout_now(from, &args)),
            }
        };
        self.ready.replies.push((id, reply));
        self.check_invariants();
    }

    /// Input: peer `from` answered one of this peer's requests.
    ///
    /// The gate ([`crate::gate`]) checks the reply first, as for a request.
    pub fn step_reply(&mut self, from: PeerId, reply: Reply) {
        if let Err(reason) = self.admit_reply(from, &reply) {
            self.refuse(from, reply.name(), reply.term(), reason);
            return;
        }
        if !matches!(&reply, Reply::PreVote(r) if r.vote_granted) {
            self.apply_term_rule(reply.term(), None);
        }
        match reply {
            Reply::RequestVote(reply) => self.handle_request_vote_reply(from, reply),
            Reply::AppendEntries(reply) => self.handle_append_entries_reply(from, reply),
            Reply::InstallSnapshot(reply) => self.handle_install_snapshot_reply(from, reply),
            Reply::PreVote(reply) => self.handle_pre_vote_reply(from, reply),
            // The term rule above is all a TimeoutNow reply can teach: a target that
            // campaigned answers in its new term, and the leader steps down at once.
            Reply::TimeoutNow(_) => {}
        }
        self.check_invariants();
    }

    /// Figure 2, Rules for Servers, All Servers: "If RPC request or response contains term
    /// T > currentTerm: set currentTerm = T, convert to follower (section 5.1)."
    ///
    /// This is the one place that rule lives; it runs before any role's handling. `leader` is
    /// the sender if the message came from a leader (AppendEntries, InstallSnapshot,
    /// TimeoutNow).
    ///
    /// Two carve-outs, both in the callers ([`Raft::step_request`], [`Raft::step_reply`]),
    /// as in etcd's `Step`: (1) a PreVote, and a granted PreVote reply, never raise the
    /// receiver's term: their term is one someone only proposes (thesis section 9.6); (2) a
    /// RequestVote or PreVote that check-quorum ignores is refused before this rule runs, or
    /// the ignored request would still depose a working leader (section 4.2.3).
    fn apply_term_rule(&mut self, term: Term, leader: Option<PeerId>) {
        if term > self.current_term {
            // Stepping down does not reset the election timer: Figure 2 resets it only for
            // AppendEntries from the current leader, a granted vote, or a new election. A
            // rejoining peer with a stale log must not hold off the others' timeouts.
            self.become_follower(term, leader, false);
        }
    }

    /// The leader's progress for `peer`; `None` on a follower or candidate, or for a peer
    /// outside the cluster.
    pub(crate) fn progress_mut(&mut self, peer: PeerId) -> Option<&mut Progress> {
        match &mut self.role {
            Role::Leader { progress, .. } => progress.get_mut(&peer),
            _ => None,
        }
    }

    /// Takes everything the inputs since the last call asked of the runtime. Carry it out with
    /// [`Ready::carry_out`], which keeps the order [`Ready`] documents.
    ///
    /// On a leader this is also when new entries leave: everything
    /// proposed and acknowledged since the last call goes in one AppendEntries per follower
    /// with room in its window, and in one write, however many inputs brought it.
    pub fn take_ready(&mut self) -> Ready {
        // The previous Ready was carried out: what the log held then is durable, if the log
        // still holds it, and a leader may now count it toward a commit.
        let (index, term) = self.written_through;
        if self.log.matches(index, term) && index > self.durable_index {
            self.durable_index = index;
            self.advance_commit_index();
        }
        self.written_through = (self.log.last_index(), self.log.last_term());
        self.send_appends();
        let mut hard_state = HardState {
            current_term: self.current_term,
            voted_for: self.voted_for,
        };
        if cfg!(raft_mutant = "forget-vote") {
            hard_state.voted_for = None;
        }
        if hard_state != self.persisted_hard_state {
            self.ready.hard_state = Some(hard_state);
            self.persisted_hard_state = hard_state;
        }
        if self.commit_index > self.last_applied {
            self.ready
                .committed
                .extend_from_slice(self.log.slice(self.last_applied, self.commit_index));
            self.last_applied = self.commit_index;
        }
        self.ready.send_before_write = self.config.send_before_write;
        core::mem::take(&mut self.ready)
    }

    /// Becomes a follower in `term` (a new term clears the vote), knowing `leader` if given;
    /// restarts the election timer if `reset_timer`.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<PeerId>, reset_timer: bool) {
        assert!(term >= self.current_term, "a term never decreases");
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
        }
        // A follower stays one (every AppendEntries passes here): nothing to move or drop.
        if !matches!(self.role, Role::Follower)
            && let Role::Leader { reads, .. } = core::mem::replace(&mut self.role, Role::Follower)
        {
            self.fail_reads(reads, leader);
        }
        self.leader_id = leader;
        if reset_timer {
            self.reset_election_timer();
        }
    }

    /// Becomes a pre-candidate (thesis section 9.6): same term, same vote, nothing to
    /// persist. It forgets the leader it knew, or a peer that still trusts a dead leader
    /// would ignore the others' pre-votes while they ignore its own (etcd #8334); and it
    /// restarts its timer, so that another timeout starts another round.
    pub(crate) fn become_pre_candidate(&mut self) {
        if !cfg!(raft_mutant = "precandidate-keeps-leader") {
            self.leader_id = None;
        }
        let mut granted = BTreeSet::new();
        granted.insert(self.config.id);
        self.role = Role::PreCandidate {
            granted,
            refused: BTreeSet::new(),
        };
        self.reset_election_timer();
    }

    /// Becomes a candidate: "increment currentTerm, vote for self, reset election timer"
    /// (Figure 2, Rules for Servers, Candidates).
    pub(crate) fn become_candidate(&mut self) {
        self.current_term = self.current_term.next();
        self.voted_for = Some(self.config.id);
        self.leader_id = None;
        let mut votes = BTreeSet::new();
        votes.insert(self.config.id);
        self.role = Role::Candidate { votes };
        self.reset_election_timer();
    }

    /// Becomes leader of the current term, with `nextIndex` just past its log and
    /// `matchIndex` 0 for every follower (Figure 2, volatile state on leaders).
    ///
    /// The peers that voted for it answered in this term: they count toward its first quorum
    /// check ([`Progress::recent_active`]). Else a leader whose first heartbeats' replies take
    /// longer than an election timeout would step down at once, though a majority has just
    /// answered it (6.824's long reordering holds two replies in three back up to 2.2 s).
    pub(crate) fn become_leader(&mut self) {
        let Role::Candidate { votes } = &self.role else {
            unreachable!("only a candidate can win an election");
        };
        let voters = votes.clone();
        let next_index = self.log.last_index().next();
        let progress = self
            .config
            .peers
            .iter()
            .filter(|p| **p != self.config.id)
            .map(|p| {
                (
                    *p,
                    Progress {
                        next_index,
                        match_index: LogIndex::ZERO,
                        in_flight: 0,
                        pipelining: false,
                        answered: false,
                        recent_active: voters.contains(p),
                        acked_round: 0,
                    },
                )
            })
            .collect();
        let inherited = self.log.last_index();
        self.role = Role::Leader {
            progress,
            inherited,
            reads: Reads::default(),
            transfer: None,
            timeout_now_sent: false,
        };
        self.leader_id = Some(self.config.id);
        self.heartbeat_elapsed_ticks = 0;
        if self.config.check_quorum {
            // The first quorum check comes one whole election timeout after the election.
            // (Without check-quorum a leader's count is left alone: a deposed leader keeps
            // exactly the timing it always had.)
            self.election_elapsed_ticks = 0;
        }
    }

    /// Draws a new election timeout uniformly from the configured range and restarts the count.
    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed_ticks = 0;
        self.election_timeout_ticks = self
            .rng
            .random_range(self.config.election_timeout_ticks_min..=self.config.election_timeout_ticks_max);
    }

    /// The number of votes (or matching logs) that make a majority of the cluster.
    pub(crate) fn quorum(&self) -> usize {
        self.config.peers.len() / 2 + 1
    }

    /// The other peers, in id order.
    pub(crate) fn others(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.config
            .peers
            .iter()
            .copied()
            .filter(move |p| *p != self.config.id)
    }

    /// Removes every entry at or after `from` from the log, and from storage with the Ready.
    pub(crate) fn truncate_log(&mut self, from: LogIndex) {
        self.log.truncate_from(from);
        self.ready.record_truncate(from);
        self.durable_index = self.durable_index.min(from.prev());
    }

    /// Queues a request to one peer.
    pub(crate) fn send(&mut self, to: PeerId, request: Request) {
        self.ready.messages.push((to, request));
    }

    /// The invariants every input must keep, checked after each one in debug builds.
    pub(crate) fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            assert!(
                self.commit_index <= self.log.last_index(),
                "commit index never passes the last log index"
            );
            assert!(
                self.last_applied <= self.commit_index,
                "nothing is applied before it commits"
            );
            assert!(
                self.persisted_hard_state.current_term <= self.current_term,
                "a term never decreases"
            );
            if let Role::Candidate { .. } = self.role {
                assert_eq!(
                    self.voted_for,
                    Some(self.config.id),
                    "a candidate votes only for itself"
                );
            }
            if self.is_leader() {
                assert_eq!(self.leader_id, Some(self.config.id), "a leader knows it leads");
            }
            if let Role::PreCandidate { .. } = self.role
                && !cfg!(raft_mutant = "precandidate-keeps-leader")
            {
                assert_eq!(self.leader_id, None, "a pre-candidate knows no leader");
            }
        }
    }
}
