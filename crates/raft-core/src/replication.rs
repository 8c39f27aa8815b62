//! Log replication (section 5.3) and commitment (section 5.4.2): proposals, the AppendEntries
//! sender and receiver rules, fast backtracking, and advancing the commit index.

use alloc::vec::Vec;
use bytes::Bytes;

use crate::message::{AppendEntriesArgs, AppendEntriesReply, AppendOutcome, Request};
use crate::raft::{ProposeError, Raft, Role};
use crate::{Entry, LogIndex, PeerId, Term};

impl Raft {
    /// Input: the service proposes a command. On the leader it is appended to the log; it
    /// leaves for the followers when the runtime next takes the Ready, together with every
    /// other entry proposed since ([`Raft::take_ready`]). The result is the index and term
    /// the command will have if it commits.
    ///
    /// # Errors
    /// [`ProposeError::NotLeader`] (with the leader this peer knows of, if any) on a follower
    /// or candidate; [`ProposeError::Transferring`] on a leader handing its role on (thesis
    /// section 3.10, [`Raft::transfer_leadership`]); [`ProposeError::UncommittedFull`] on a
    /// leader that already holds [`crate::Config::uncommitted_entries_max`] entries of its
    /// own past its commit index. Nothing changes then.
    ///
    /// Only the leader's own proposals count: the entries it inherited at its election can
    /// commit only once an entry of its own term does (section 5.4.2), so counting them could
    /// refuse that entry forever (a whole cluster restarted with a long uncommitted log).
    pub fn propose(&mut self, command: impl Into<Bytes>) -> Result<(LogIndex, Term), ProposeError> {
        self.propose_batch(core::iter::once(command.into()))
    }

    /// Input: the service proposes several commands at once, which take consecutive indices
    /// in the order given: the result is the index and term of the first (the `i`-th command
    /// gets that index plus `i`). All are taken or, with the errors of [`Raft::propose`],
    /// none: a batch that would pass [`crate::Config::uncommitted_entries_max`] is refused
    /// whole. An empty batch changes nothing and returns the index the next command would get.
    ///
    /// # Errors
    /// As [`Raft::propose`].
    pub fn propose_batch<I>(&mut self, commands: I) -> Result<(LogIndex, Term), ProposeError>
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
        I::IntoIter: ExactSizeIterator,
    {
        let commands = commands.into_iter();
        let inherited = match &self.role {
            Role::Leader {
                transfer: Some(t), ..
            } => return Err(ProposeError::Transferring { target: t.target }),
            Role::Leader { inherited, .. } => *inherited,
            _ => {
                return Err(ProposeError::NotLeader {
                    leader_hint: self.leader_id,
                });
            }
        };
        let counted_from = inherited.max(self.commit_index);
        let uncommitted_entries = self.log.last_index().0.saturating_sub(counted_from.0);
        let max = self.config.uncommitted_entries_max;
        let after = uncommitted_entries.saturating_add(commands.len() as u64);
        if commands.len() > 0 && after > u64::try_from(max).unwrap_or(u64::MAX) {
            return Err(ProposeError::UncommittedFull {
                uncommitted_entries,
                max,
            });
        }
        let first = (self.log.last_index().next(), self.current_term);
        for command in commands {
            let entry = Entry {
                index: self.log.last_index().next(),
                term: self.current_term,
                command: command.into(),
            };
            self.log.append(entry.clone());
            self.ready.entries.push(entry);
        }
        // Nothing can commit here, not even alone: the new entries count only once durable,
        // when the Ready after the one that writes them is taken (Raft::take_ready).
        self.check_invariants();
        Ok(first)
    }

    /// Sends what waits to every follower it is due to ([`Raft::append_due`]): the entries
    /// from its `nextIndex` on (Figure 2, Rules for Servers, Leaders: "If last log index >=
    /// nextIndex for a follower: send AppendEntries RPC with log entries starting at
    /// nextIndex"), or the snapshot if they were compacted. Called as the Ready is taken, so
    /// that whatever the inputs since the last one proposed or had acknowledged leaves in as
    /// few requests as the size limits allow: the batching of section 10.2.1 of the thesis.
    pub(crate) fn send_appends(&mut self) {
        if !self.is_leader() {
            return;
        }
        // By position in the config, not over the progress map: no allocation on this path,
        // which runs with every Ready.
        for i in 0..self.config.peers.len() {
            let peer = self.config.peers[i];
            let due = |raft: &Raft| {
                raft.progress()
                    .and_then(|all| all.get(&peer))
                    .is_some_and(|p| raft.append_due(p))
            };
            // Each request takes a slot of the window, so this ends within the window's size.
            while due(self) {
                self.send_append_entries(peer);
            }
        }
    }

    /// True if an AppendEntries should go to the follower of `p` now: entries wait past its
    /// `nextIndex`, there is room in its window ([`crate::Progress::has_room`]), and either
    /// nothing is in flight to it, or a full request waits (as many entries or bytes as one
    /// carries). So a trickle of proposals waits for the reply to the request in flight and
    /// then leaves in one request (the batch grows with the load, as Nagle's algorithm does),
    /// while a backlog (a burst, a follower catching up) fills the pipeline with full requests.
    pub(crate) fn append_due(&self, p: &crate::Progress) -> bool {
        let last_index = self.log.last_index();
        if p.next_index > last_index || !p.has_room(&self.config) {
            return false;
        }
        if p.in_flight == 0 {
            return true;
        }
        let waiting = last_index.0 - p.next_index.0 + 1;
        let entries_max = self.config.entries_per_append_max as u64;
        if waiting >= entries_max {
            return true;
        }
        // Fewer entries than a request carries: full only by bytes, which small commands,
        // however many wait, cannot be (no need to add them up with every Ready).
        let bytes_bound = waiting.saturating_mul(self.log.command_len_max() as u64);
        if bytes_bound < self.config.append_bytes_max as u64 {
            return false;
        }
        let one_request = self
            .log
            .entries_from_within(
                p.next_index,
                self.config.entries_per_append_max,
                self.config.append_bytes_max,
            )
            .len() as u64;
        one_request < waiting
    }

    /// A leader's tick. Figure 2, Rules for Servers, Leaders: "send initial empty AppendEntries
    /// RPCs (heartbeat) to each server; repeat during idle periods to prevent election
    /// timeouts (section 5.2)." A commit that followers have not heard of is announced on the
    /// next tick, so that several commits in quick succession cost one round of messages.
    /// With check-quorum the tick first counts toward the quorum check, which may depose it
    /// ([`Raft::check_quorum_tick`]); then toward a leadership transfer's timeout
    /// ([`Raft::transfer_tick`]).
    pub(crate) fn tick_leader(&mut self) {
        if self.config.check_quorum && self.check_quorum_tick() {
            return;
        }
        self.transfer_tick();
        self.heartbeat_elapsed_ticks += 1;
        if self.heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks || self.commit_unannounced {
            self.broadcast_append_entries();
        }
    }

    /// Sends AppendEntries to every follower and restarts the heartbeat interval, and with it
    /// each follower's window of unanswered requests: a heartbeat is also the timeout of the
    /// requests before it. One lost on the way must not hold its slot forever, so the window
    /// empties. A pipelining follower that answered nothing since the last heartbeat may have
    /// lost everything sent ahead: its `nextIndex` goes back to just after its `matchIndex`,
    /// and it is sent again. One that answered keeps its `nextIndex`: if a request in between
    /// was lost, the next one finds the gap, and the conflict starts a probe. A probing
    /// follower keeps its `nextIndex`: the walk back goes on.
    pub(crate) fn broadcast_append_entries(&mut self) {
        self.start_round();
        self.heartbeat_elapsed_ticks = 0;
        self.commit_unannounced = false;
        if let Role::Leader { progress, .. } = &mut self.role {
            for p in progress.values_mut() {
                p.in_flight = 0;
                if p.pipelining && !p.answered {
                    p.next_index = p.match_index.next();
                }
                p.answered = false;
            }
        }
        let peers: Vec<PeerId> = self.others().collect();
        for peer in peers {
            self.send_append_entries(peer);
        }
    }

    /// Figure 2, Rules for Servers, Leaders: "If last log index >= nextIndex for a follower:
    /// send AppendEntries RPC with log entries starting at nextIndex", at most
    /// `entries_per_append_max` of them and `append_bytes_max` bytes of commands (but always
    /// one, if there is one); with none, it is a heartbeat. While pipelining, `nextIndex`
    /// moves past the entries sent, so the next request carries the ones after them.
    pub(crate) fn send_append_entries(&mut self, peer: PeerId) {
        let Some(next_index) = self.progress_mut(peer).map(|p| p.next_index) else {
            return;
        };
        let prev_log_index = next_index.prev();
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            // The entry before next_index was compacted away: only the snapshot can help.
            self.send_install_snapshot(peer);
            return;
        };
        let entries = self
            .log
            .entries_from_within(
                next_index,
                self.config.entries_per_append_max,
                self.config.append_bytes_max,
            )
            .to_vec();
        let sent = entries.len() as u64;
        let round = match &mut self.role {
            Role::Leader { progress, reads, .. } => {
                if let Some(p) = progress.get_mut(&peer) {
                    p.in_flight = p.in_flight.saturating_add(1);
                    if p.pipelining {
                        p.next_index = LogIndex(next_index.0 + sent);
                    }
                }
                reads.round()
            }
            _ => 0,
        };
        let args = AppendEntriesArgs {
            term: self.current_term,
            leader_id: self.config.id,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
            round,
        };
        self.send(peer, Request::AppendEntries(args));
    }

    /// Figure 2, AppendEntries RPC, Receiver implementation:
    /// 1. "Reply false if term < currentTerm (section 5.1)."
    /// 2. "Reply false if log doesn't contain an entry at prevLogIndex whose term matches
    ///    prevLogTerm (section 5.3)", with the conflict hint of the 6.824 handout.
    /// 3. "If an existing entry conflicts with a new one (same index but different terms),
    ///    delete the existing entry and all that follow it (section 5.3)." Only then: an
    ///    entry that matches is kept, so a stale or reordered request never cuts the log.
    /// 4. "Append any new entries not already in the log."
    /// 5. "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last
    ///    new entry)."
    ///
    /// A request from the current term's leader also resets the election timer, and turns a
    /// candidate of that term back into a follower (Rules for Servers, Candidates).
    pub(crate) fn handle_append_entries(&mut self, args: AppendEntriesArgs) -> AppendEntriesReply {
        // A refusal echoes no round: its term is not the request's, and a round is a number
        // only within the term of the leader that sent it.
        let stale = AppendEntriesReply {
            term: self.current_term,
            outcome: AppendOutcome::StaleTerm,
            round: 0,
        };
        if args.term < self.current_term {
            return stale;
        }
        if self.is_leader() {
            tracing::error!(peer = %self.config.id, term = %self.current_term, other = %args.leader_id,
                "two leaders in one term: AppendEntries ignored");
            return stale;
        }
        self.become_follower(args.term, Some(args.leader_id), true);
        let round = args.round;
        let outcome = match self.check_prev_entry(&args) {
            Some(conflict) => conflict,
            None => self.merge_entries(args),
        };
        AppendEntriesReply {
            term: self.current_term,
            outcome,
            round,
        }
    }

    /// Rule 2 of the receiver: `None` if the log holds `prev_log_index` with `prev_log_term`
    /// (or it lies inside the snapshot, which is committed and so matches), else the conflict.
    fn check_prev_entry(&self, args: &AppendEntriesArgs) -> Option<AppendOutcome> {
        if args.prev_log_index > self.log.last_index() {
            return Some(AppendOutcome::Conflict {
                conflict_term: None,
                conflict_index: self.log.last_index().next(),
            });
        }
        if args.prev_log_index < self.log.snapshot().last_included_index {
            return None;
        }
        match self.log.term_at(args.prev_log_index) {
            Some(term) if term == args.prev_log_term => None,
            Some(term) => Some(AppendOutcome::Conflict {
                conflict_term: Some(term),
                conflict_index: self.log.first_index_of_term(term, args.prev_log_index),
            }),
            None => Some(AppendOutcome::Conflict {
                conflict_term: None,
                conflict_index: self.log.first_index(),
            }),
        }
    }

    /// Rules 3-5 of the receiver, after the consistency check passed.
    fn merge_entries(&mut self, args: AppendEntriesArgs) -> AppendOutcome {
        // The gate checked that this sum fits below LOG_INDEX_MAX.
        let last_new_index = LogIndex(args.prev_log_index.0 + args.entries.len() as u64);
        let snapshot_index = self.log.snapshot().last_included_index;
        let mut appending = false;
        for entry in args.entries.into_iter().filter(|e| e.index > snapshot_index) {
            if !appending {
                match self.log.term_at(entry.index) {
                    Some(term) if term == entry.term => continue,
                    Some(_) => {
                        assert!(!self.is_leader(), "a leader never overwrites its own log");
                        assert!(
                            entry.index > self.commit_index,
                            "a committed entry is never removed: the gate refuses a request that contradicts one"
                        );
                        self.truncate_log(entry.index);
                    }
                    None => {}
                }
                appending = true;
            }
            self.log.append(entry.clone());
            self.ready.entries.push(entry);
        }
        if cfg!(raft_mutant = "truncate-on-stale-append")
            && last_new_index < self.log.last_index()
            && last_new_index >= self.log.first_index()
        {
            self.truncate_log(last_new_index.next());
        }
        if args.leader_commit > self.commit_index {
            let commit = args.leader_commit.min(last_new_index);
            if commit > self.commit_index {
                self.commit_index = commit;
            }
        }
        AppendOutcome::Success {
            match_index: last_new_index,
        }
    }

    /// The leader's side of AppendEntries: on success raise `matchIndex` and `nextIndex` and try
    /// to commit ("If successful: update nextIndex and matchIndex for follower (section
    /// 5.3)"); on a conflict move `nextIndex` back by the follower's hint ("If AppendEntries
    /// fails because of log inconsistency: decrement nextIndex and retry"), one term per round
    /// trip, and stop pipelining: the requests still in flight were sent past the conflict and
    /// will fail too, so the window empties and one probe goes out with the next Ready.
    /// Replies from an older term are ignored.
    ///
    /// A conflict only ever moves `nextIndex` back. The answer to the request a probe sent
    /// from `nextIndex` hints at most its `prevLogIndex`: the follower's conflict index is at
    /// most that, and the leader's last entry of a term the follower holds there lies before
    /// it (Log Matching). A hint at or past `nextIndex` therefore answers an older request
    /// (overtaken on the way: 6.824's long reordering holds replies back for up to 2.2 s, or
    /// sent ahead in the same pipeline); it is ignored instead of undoing the walk back since,
    /// and frees no slot of the window: the probe it did not answer is still on its way.
    pub(crate) fn handle_append_entries_reply(&mut self, from: PeerId, reply: AppendEntriesReply) {
        if reply.term != self.current_term {
            return;
        }
        self.record_active(from);
        self.record_round_ack(from, reply.round);
        // Only a leader of this term has sent AppendEntries that could be answered in it (a
        // reply of a higher term has just made this peer a follower of that term).
        let Some(p) = self.progress_mut(from) else {
            return;
        };
        match reply.outcome {
            AppendOutcome::StaleTerm => {}
            AppendOutcome::Success { match_index } => {
                p.in_flight = p.in_flight.saturating_sub(1);
                p.answered = true;
                self.record_match(from, match_index);
            }
            AppendOutcome::Conflict {
                conflict_term,
                conflict_index,
            } => {
                // The 6.824 hint: a leader that has the follower's conflicting term resumes
                // after its own last entry of that term; otherwise at the follower's first
                // index of it (or after the follower's log, if it was too short).
                let hint = match conflict_term {
                    Some(term) => self
                        .log
                        .last_index_of_term(term)
                        .map_or(conflict_index, LogIndex::next),
                    None => conflict_index,
                };
                let last_index = self.log.last_index();
                let Some(p) = self.progress_mut(from) else {
                    return;
                };
                let back_to = hint.max(p.match_index.next()).min(last_index.next());
                if back_to >= p.next_index {
                    return;
                }
                p.next_index = back_to;
                p.pipelining = false;
                p.in_flight = 0;
            }
        }
    }

    /// A follower now holds the leader's log through `match_index`: raise `matchIndex` (never
    /// lower it: replies can arrive out of order) and `nextIndex`, and try to commit. If the
    /// follower now holds everything before `nextIndex`, the probe found the point where the
    /// logs agree and pipelining (re)starts. What follows goes with the next Ready
    /// ([`Raft::send_appends`]); if it is a transfer's target now holding the whole log, the
    /// TimeoutNow goes at once ([`Raft::transfer_on_match`]). A claim past the leader's log
    /// never gets here: the gate refuses it ([`crate::gate`]).
    pub(crate) fn record_match(&mut self, peer: PeerId, match_index: LogIndex) {
        let last_index = self.log.last_index();
        assert!(
            match_index <= last_index,
            "the gate refuses a match past the leader's log"
        );
        let Some(p) = self.progress_mut(peer) else {
            return;
        };
        p.match_index = p.match_index.max(match_index);
        if p.next_index <= p.match_index.next() {
            p.next_index = p.match_index.next();
            p.pipelining = true;
        }
        // Only a match past the commit index can move it (most replies to a heartbeat or to
        // a commit's announcement do not).
        if match_index > self.commit_index {
            self.advance_commit_index();
        }
        self.transfer_on_match(peer);
    }

    /// Figure 2, Rules for Servers, Leaders: "If there exists an N such that N > commitIndex, a
    /// majority of matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N
    /// (sections 5.3, 5.4)." The term condition is Figure 8's lesson: an entry from an older
    /// term is never committed by counting replicas.
    pub(crate) fn advance_commit_index(&mut self) {
        let Role::Leader { progress, .. } = &self.role else {
            return;
        };
        // The leader counts for itself only what is on its stable storage (thesis section
        // 10.2.1): its AppendEntries may leave before its own write of the same entries.
        let matched = || {
            progress
                .values()
                .map(|p| p.match_index)
                .chain(core::iter::once(self.durable_index))
        };
        // The highest index a majority holds, among those past the commit index: quadratic
        // in the cluster's size, which is small, and with no allocation on this path of
        // every reply.
        let quorum = self.quorum();
        let n = matched()
            .filter(|&m| m > self.commit_index)
            .filter(|&m| matched().filter(|&other| other >= m).count() >= quorum)
            .max()
            .unwrap_or(LogIndex::ZERO);
        let of_current_term =
            cfg!(raft_mutant = "commit-old-term") || self.log.term_at(n) == Some(self.current_term);
        if n > self.commit_index && of_current_term && self.log.term_at(n).is_some() {
            tracing::trace!(peer = %self.config.id, term = %self.current_term, index = %n, "committed");
            self.commit_index = n;
            self.commit_unannounced = true;
            self.unpark_reads();
        }
    }
}
