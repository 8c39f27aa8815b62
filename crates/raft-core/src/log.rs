//! The in-memory Raft log: entries after the last snapshot, addressed by [`LogIndex`].
//!
//! Indices are the paper's (1-based, never slice positions): entry `i` lives at position
//! `i - snapshot_index - 1`. The snapshot's last included index and term stand in for the
//! entries it replaced, so the consistency check and the up-to-date check work across the
//! compacted prefix.
//!
//! Invariant: `entries[k].index == snapshot_index + 1 + k` for every `k`, and terms never
//! decrease along the log. Both are asserted where entries are added.

use alloc::vec::Vec;

use crate::{Entry, LogIndex, SnapshotMeta, Term};

/// The log of one peer: a compacted prefix (the snapshot's meta) and the entries after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftLog {
    snapshot: SnapshotMeta,
    entries: Vec<Entry>,
    /// The longest command ever appended (never lowered): a bound that lets a leader tell in
    /// O(1) that a batch of small commands is far from a request's byte limit.
    command_len_max: usize,
}

/// Why persisted log state could not be restored: it is not a contiguous log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGap {
    /// The index the next entry should have had.
    pub expected: LogIndex,
    /// The index it had.
    pub found: LogIndex,
}

impl RaftLog {
    /// An empty log with no snapshot.
    #[must_use]
    pub fn new() -> RaftLog {
        RaftLog::default()
    }

    /// Rebuilds a log from persisted state: the snapshot's meta (if any) and the entries after
    /// it. Entries the snapshot already covers are skipped.
    ///
    /// # Errors
    /// [`LogGap`] if the entries do not continue the snapshot contiguously, or go back in term.
    pub fn restore(snapshot: Option<SnapshotMeta>, entries: Vec<Entry>) -> Result<RaftLog, LogGap> {
        let mut log = RaftLog {
            snapshot: snapshot.unwrap_or_default(),
            entries: Vec::new(),
            command_len_max: 0,
        };
        for entry in entries {
            if entry.index <= log.snapshot.last_included_index {
                continue;
            }
            if entry.index != log.last_index().next() || entry.term < log.last_term() {
                return Err(LogGap {
                    expected: log.last_index().next(),
                    found: entry.index,
                });
            }
            log.command_len_max = log.command_len_max.max(entry.command.len());
            log.entries.push(entry);
        }
        Ok(log)
    }

    /// The snapshot that replaced the log's prefix (index and term 0 when there is none).
    #[must_use]
    pub fn snapshot(&self) -> SnapshotMeta {
        self.snapshot
    }

    /// The index of the first entry still held (the one after the snapshot).
    #[must_use]
    pub fn first_index(&self) -> LogIndex {
        self.snapshot.last_included_index.next()
    }

    /// The index of the last entry (the snapshot's, if the log after it is empty).
    #[must_use]
    pub fn last_index(&self) -> LogIndex {
        self.entries
            .last()
            .map_or(self.snapshot.last_included_index, |e| e.index)
    }

    /// The term of the last entry (the snapshot's, if the log after it is empty).
    #[must_use]
    pub fn last_term(&self) -> Term {
        self.entries
            .last()
            .map_or(self.snapshot.last_included_term, |e| e.term)
    }

    /// The term of the entry at `index`: known for the snapshot's last index and every entry
    /// held; `None` inside the compacted prefix or past the end.
    #[must_use]
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.last_included_index {
            return Some(self.snapshot.last_included_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if it is held (not compacted, not past the end).
    #[must_use]
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let offset = index.0.checked_sub(self.first_index().0)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Up to `max` entries starting at `from` (which must not be compacted).
    #[must_use]
    pub fn entries_from(&self, from: LogIndex, max: usize) -> &[Entry] {
        let Some(offset) = from.0.checked_sub(self.first_index().0) else {
            return &[];
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        let end = start.saturating_add(max).min(self.entries.len());
        &self.entries[start..end]
    }

    /// Up to `max` entries starting at `from`, whose commands together hold at most
    /// `bytes_max` bytes, except that the first entry is always included (one larger command
    /// must still be sent). What one AppendEntries carries.
    #[must_use]
    pub fn entries_from_within(&self, from: LogIndex, max: usize, bytes_max: usize) -> &[Entry] {
        let entries = self.entries_from(from, max);
        let mut bytes = 0usize;
        let fit = entries
            .iter()
            .take_while(|e| {
                bytes = bytes.saturating_add(e.command.len());
                bytes <= bytes_max
            })
            .count();
        &entries[..fit.max(entries.len().min(1))]
    }

    /// Entries in `(after, through]`, for handing committed entries to the service.
    #[must_use]
    pub fn slice(&self, after: LogIndex, through: LogIndex) -> &[Entry] {
        let count = through.0.saturating_sub(after.0);
        self.entries_from(after.next(), usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Appends one entry after the last.
    ///
    /// # Panics
    /// If the entry does not continue the log (a bug in the caller, not bad input).
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index().next(),
            "log entries must be contiguous"
        );
        assert!(
            entry.term >= self.last_term(),
            "terms never decrease along the log"
        );
        self.command_len_max = self.command_len_max.max(entry.command.len());
        self.entries.push(entry);
    }

    /// The longest command ever appended to this log (an upper bound on every command held).
    #[must_use]
    pub fn command_len_max(&self) -> usize {
        self.command_len_max
    }

    /// Removes every entry at or after `from`; entries in the snapshot cannot be removed.
    pub fn truncate_from(&mut self, from: LogIndex) {
        assert!(
            from > self.snapshot.last_included_index,
            "cannot truncate into the snapshot"
        );
        let keep = usize::try_from(from.0 - self.first_index().0).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
    }

    /// True if the log holds an entry at `index` with `term` (index 0 matches term 0).
    #[must_use]
    pub fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term_at(index) == Some(term)
    }

    /// The first index of the run of entries with `term` that ends at `at`: what a rejecting
    /// follower reports so the leader can skip the whole term in one round trip.
    #[must_use]
    pub fn first_index_of_term(&self, term: Term, at: LogIndex) -> LogIndex {
        let mut index = at;
        while index > self.first_index() && self.term_at(index.prev()) == Some(term) {
            index = index.prev();
        }
        index
    }

    /// The last index holding an entry of `term`, if the log has any: where a leader that
    /// shares the follower's conflicting term resumes.
    #[must_use]
    pub fn last_index_of_term(&self, term: Term) -> Option<LogIndex> {
        if let Some(entry) = self.entries.iter().rev().find(|e| e.term <= term) {
            return (entry.term == term).then_some(entry.index);
        }
        (self.snapshot.last_included_term == term && self.snapshot.last_included_index > LogIndex::ZERO)
            .then_some(self.snapshot.last_included_index)
    }

    /// Section 5.4.1: "If the logs have last entries with different terms, then the log with
    /// the later term is more up-to-date. If the logs end with the same term, then whichever
    /// log is longer is more up-to-date." True if a log ending at (`last_index`,
    /// `last_term`) is at least as up-to-date as this one.
    #[must_use]
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// Replaces the prefix through `snapshot.last_included_index` by the snapshot. Later
    /// entries are kept if the log holds the snapshot's last entry with its term; otherwise
    /// the whole log is discarded (section 7).
    pub fn compact(&mut self, snapshot: SnapshotMeta) {
        if snapshot.last_included_index <= self.snapshot.last_included_index {
            return;
        }
        if self.matches(snapshot.last_included_index, snapshot.last_included_term) {
            let drop = usize::try_from(snapshot.last_included_index.0 - self.snapshot.last_included_index.0)
                .unwrap_or(usize::MAX)
                .min(self.entries.len());
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.snapshot = snapshot;
    }

    /// The number of entries held after the snapshot.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no entries are held after the snapshot.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn log_with_terms(terms: &[u64]) -> RaftLog {
        let mut log = RaftLog::new();
        for (i, t) in terms.iter().enumerate() {
            log.append(Entry {
                index: LogIndex(i as u64 + 1),
                term: Term(*t),
                command: vec![].into(),
            });
        }
        log
    }

    #[test]
    fn empty_log_matches_index_zero_term_zero() {
        let log = RaftLog::new();
        assert!(log.matches(LogIndex(0), Term(0)));
        assert!(!log.matches(LogIndex(1), Term(0)));
        assert_eq!(log.last_index(), LogIndex(0));
        assert_eq!(log.last_term(), Term(0));
    }

    #[test]
    fn conflict_search_skips_a_whole_term() {
        let log = log_with_terms(&[1, 1, 2, 2, 2, 3]);
        assert_eq!(log.first_index_of_term(Term(2), LogIndex(5)), LogIndex(3));
        assert_eq!(log.first_index_of_term(Term(1), LogIndex(2)), LogIndex(1));
        assert_eq!(log.last_index_of_term(Term(2)), Some(LogIndex(5)));
        assert_eq!(log.last_index_of_term(Term(4)), None);
        assert_eq!(log.last_index_of_term(Term(0)), None);
    }

    #[test]
    fn up_to_date_compares_last_term_then_length() {
        let log = log_with_terms(&[1, 2, 2]);
        assert!(log.is_up_to_date(LogIndex(3), Term(2)));
        assert!(
            log.is_up_to_date(LogIndex(1), Term(3)),
            "a later last term wins even if shorter"
        );
        assert!(
            !log.is_up_to_date(LogIndex(9), Term(1)),
            "an earlier last term loses even if longer"
        );
        assert!(
            !log.is_up_to_date(LogIndex(2), Term(2)),
            "same last term: the shorter log loses"
        );
    }

    #[test]
    fn truncate_and_slices_use_paper_indices() {
        let mut log = log_with_terms(&[1, 1, 1, 2]);
        assert_eq!(log.entries_from(LogIndex(3), 10).len(), 2);
        assert_eq!(log.slice(LogIndex(1), LogIndex(3)).len(), 2);
        log.truncate_from(LogIndex(3));
        assert_eq!(log.last_index(), LogIndex(2));
        assert_eq!(log.entries_from(LogIndex(3), 10).len(), 0);
    }

    #[test]
    fn a_batch_stops_at_its_byte_limit_but_always_holds_one_entry() {
        let mut log = RaftLog::new();
        for i in 1..=4u64 {
            log.append(Entry {
                index: LogIndex(i),
                term: Term(1),
                command: vec![0; 10].into(),
            });
        }
        assert_eq!(log.entries_from_within(LogIndex(1), 10, 25).len(), 2);
        assert_eq!(log.entries_from_within(LogIndex(1), 10, 40).len(), 4);
        assert_eq!(log.entries_from_within(LogIndex(1), 3, 1_000).len(), 3);
        assert_eq!(
            log.entries_from_within(LogIndex(2), 10, 5).len(),
            1,
            "a command larger than the limit still goes, alone"
        );
        assert!(log.entries_from_within(LogIndex(5), 10, 5).is_empty());
        assert_eq!(log.command_len_max(), 10);
        log.truncate_from(LogIndex(1));
        assert_eq!(log.command_len_max(), 10, "a bound, never lowered");
    }

    #[test]
    fn compaction_keeps_a_matching_suffix_and_answers_terms_at_the_boundary() {
        let mut log = log_with_terms(&[1, 1, 2, 2, 3]);
        log.compact(SnapshotMeta {
            last_included_index: LogIndex(3),
            last_included_term: Term(2),
        });
        assert_eq!(log.first_index(), LogIndex(4));
        assert_eq!(log.term_at(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term_at(LogIndex(2)), None, "compacted");
        assert_eq!(log.last_index(), LogIndex(5));
        assert_eq!(log.entry(LogIndex(4)).map(|e| e.term), Some(Term(2)));
        assert_eq!(log.first_index_of_term(Term(2), LogIndex(4)), LogIndex(4));
    }

    #[test]
    fn compaction_past_a_mismatch_discards_everything() {
        let mut log = log_with_terms(&[1, 1, 2]);
        log.compact(SnapshotMeta {
            last_included_index: LogIndex(5),
            last_included_term: Term(4),
        });
        assert!(log.is_empty());
        assert_eq!(log.last_index(), LogIndex(5));
        assert_eq!(log.last_term(), Term(4));
    }

    #[test]
    fn restore_rejects_a_gap() {
        let entries = vec![
            Entry {
                index: LogIndex(1),
                term: Term(1),
                command: vec![].into(),
            },
            Entry {
                index: LogIndex(3),
                term: Term(1),
                command: vec![].into(),
            },
        ];
        assert_eq!(
            RaftLog::restore(None, entries),
            Err(LogGap {
                expected: LogIndex(2),
                found: LogIndex(3)
            })
        );
    }
}
