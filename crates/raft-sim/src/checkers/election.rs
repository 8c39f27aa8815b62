//! The leader properties of Figure 3: Election Safety, Leader Append-Only, Leader
//! Completeness.

use std::collections::BTreeMap;

use raft_core::{Entry, LogIndex, PeerId, Raft, RaftLog, Term};

use super::Breach;

/// Election Safety: "at most one leader can be elected in a given term" (over the whole run,
/// crashes included).
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<Term, PeerId>,
}

impl ElectionSafety {
    /// The invariant's name.
    pub const NAME: &'static str = "Election Safety";

    /// `peer` leads in `term`.
    ///
    /// # Errors
    /// A [`Breach`] if another peer led in that term.
    pub fn observe_leader(&mut self, term: Term, peer: PeerId) -> Result<(), Breach> {
        match self.leaders.get(&term) {
            Some(other) if *other != peer => Err(Breach::new(
                Self::NAME,
                format!("{other} and {peer} both led in term {term}"),
            )),
            Some(_) => Ok(()),
            None => {
                self.leaders.insert(term, peer);
                Ok(())
            }
        }
    }

    /// How many terms had a leader.
    #[must_use]
    pub fn terms_with_leader(&self) -> usize {
        self.leaders.len()
    }
}

/// The terms of a leader's log as last seen, from `first` on.
#[derive(Debug)]
struct LeaderLog {
    term: Term,
    incarnation: u64,
    first: LogIndex,
    terms: Vec<Term>,
}

/// Leader Append-Only: "a leader never overwrites or deletes entries in its log; it only
/// appends new entries". Checked on the leader's log after every event while it leads
/// (entries are compared by term: the same index and term name one command, which
/// [`super::LogMatching`] checks).
#[derive(Debug, Default)]
pub struct LeaderAppendOnly {
    seen: BTreeMap<PeerId, LeaderLog>,
}

impl LeaderAppendOnly {
    /// The invariant's name.
    pub const NAME: &'static str = "Leader Append-Only";

    /// Checks `raft`'s log against what it held while leading in this term and incarnation.
    ///
    /// # Errors
    /// A [`Breach`] if an entry it held as leader changed or disappeared.
    pub fn observe(&mut self, raft: &Raft, incarnation: u64) -> Result<(), Breach> {
        let id = raft.id();
        if !raft.is_leader() {
            self.seen.remove(&id);
            return Ok(());
        }
        let log = raft.log();
        match self.seen.get_mut(&id) {
            Some(old) if old.term == raft.term() && old.incarnation == incarnation => {
                compare_and_update(id, old, log)
            }
            _ => {
                let first = log.first_index();
                let terms = collect_terms(log, first);
                self.seen.insert(
                    id,
                    LeaderLog {
                        term: raft.term(),
                        incarnation,
                        first,
                        terms,
                    },
                );
                Ok(())
            }
        }
    }
}

fn collect_terms(log: &RaftLog, from: LogIndex) -> Vec<Term> {
    log.entries_from(from, usize::MAX)
        .iter()
        .map(|e| e.term)
        .collect()
}

fn compare_and_update(id: PeerId, old: &mut LeaderLog, log: &RaftLog) -> Result<(), Breach> {
    let old_last = LogIndex(old.first.0 + old.terms.len() as u64).prev();
    if log.last_index() < old_last {
        return Err(Breach::new(
            LeaderAppendOnly::NAME,
            format!("leader {id} log shrank from {old_last} to {}", log.last_index()),
        ));
    }
    let start = log.first_index().max(old.first);
    for (k, term) in old.terms.iter().enumerate() {
        let index = LogIndex(old.first.0 + k as u64);
        if index < start {
            continue;
        }
        if log.term_at(index) != Some(*term) {
            return Err(Breach::new(
                LeaderAppendOnly::NAME,
                format!("leader {id} entry {index}@{term} became {:?}", log.term_at(index)),
            ));
        }
    }
    let skip = usize::try_from(start.0 - old.first.0).unwrap_or(usize::MAX);
    old.terms.drain(..skip.min(old.terms.len()));
    old.first = start;
    let next = LogIndex(old.first.0 + old.terms.len() as u64);
    old.terms
        .extend(log.entries_from(next, usize::MAX).iter().map(|e| e.term));
    Ok(())
}

/// Leader Completeness: "if a log entry is committed in a given term, then that entry will be
/// present in the logs of the leaders for all higher-numbered terms". Every entry any service
/// is handed is recorded with the term it was committed in (the lowest term of a peer seen
/// applying it: the leader that committed it applies it in the same input). Each new leader
/// of term T must hold every entry committed in a term below T (entries below its snapshot
/// are covered by the snapshot, whose last entry must agree). A leader of an older term
/// elected late (its votes were delayed) is rightly not held to later terms' commits.
#[derive(Debug, Default)]
pub struct LeaderCompleteness {
    committed: BTreeMap<LogIndex, (Entry, Term)>,
}

impl LeaderCompleteness {
    /// The invariant's name.
    pub const NAME: &'static str = "Leader Completeness";

    /// Records `entry` as committed, seen applied by a peer in `term`.
    pub fn record_committed(&mut self, entry: &Entry, term: Term) {
        let slot = self
            .committed
            .entry(entry.index)
            .or_insert_with(|| (entry.clone(), term));
        slot.1 = slot.1.min(term);
    }

    /// The highest committed index seen.
    #[must_use]
    pub fn committed_max(&self) -> LogIndex {
        self.committed.keys().next_back().copied().unwrap_or_default()
    }

    /// `leader` has just become leader of `term`: it must hold every entry committed in an
    /// earlier term.
    ///
    /// # Errors
    /// A [`Breach`] naming the first such entry its log lacks.
    pub fn check_new_leader(&self, leader: PeerId, term: Term, log: &RaftLog) -> Result<(), Breach> {
        let snap = log.snapshot();
        if let Some((e, committed_in)) = self.committed.get(&snap.last_included_index)
            && *committed_in < term
            && e.term != snap.last_included_term
        {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "leader {leader}@{term} snapshot ends {}@{} but {}@{} was committed in term {committed_in}",
                    snap.last_included_index, snap.last_included_term, e.index, e.term
                ),
            ));
        }
        let earlier = self
            .committed
            .range(log.first_index()..)
            .filter(|(_, (_, c))| *c < term);
        for (index, (entry, committed_in)) in earlier {
            if log.entry(*index) != Some(entry) {
                return Err(Breach::new(
                    Self::NAME,
                    format!(
                        "leader {leader}@{term} lacks entry {index}@{} committed in term {committed_in} \
                         (holds {:?})",
                        entry.term,
                        log.entry(*index).map(|e| e.term)
                    ),
                ));
            }
        }
        Ok(())
    }
}
