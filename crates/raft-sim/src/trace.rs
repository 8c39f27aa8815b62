//! The run's trace: a compact line per notable event, the last few kept for a violation
//! report, and a running FNV-1a hash over every event so a run has a fingerprint.
//!
//! Notation (as in the scenario transcripts): `t=1.230s n1@3 follower -> candidate`,
//! `t=1.231s n1 -> n2 RequestVote t=3 last=5@2`. Ticks are hashed but not kept as lines.

use std::collections::VecDeque;
use std::fmt::Write as _;

use raft_core::message::{AppendOutcome, Message, Reply, Request};

use crate::config::{US_PER_MS, US_PER_S};

/// How many of the latest lines a violation report shows.
pub const TRACE_TAIL_LINES: usize = 50;
/// Most lines a full trace keeps (a replay of a very long run is cut, not unbounded).
pub const FULL_TRACE_LINES_MAX: usize = 2_000_000;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from `hash`.
#[must_use]
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    events: u64,
    tail: VecDeque<String>,
    full: Option<Vec<String>>,
    line: String,
}

impl Trace {
    /// An empty trace; `full` keeps every line, not only the tail.
    #[must_use]
    pub fn new(full: bool) -> Trace {
        Trace {
            hash: FNV_OFFSET_BASIS,
            events: 0,
            tail: VecDeque::with_capacity(TRACE_TAIL_LINES),
            full: full.then(Vec::new),
            line: String::new(),
        }
    }

    /// Counts one event and hashes its compact form without keeping a line (ticks).
    pub fn quiet(&mut self, tag: u8, peer: u32, now_us: u64) {
        self.events += 1;
        self.hash = fnv1a(self.hash, &[tag]);
        self.hash = fnv1a(self.hash, &peer.to_le_bytes());
        self.hash = fnv1a(self.hash, &now_us.to_le_bytes());
    }

    /// Counts one event and records its line, `t=...s` first.
    pub fn event(&mut self, now_us: u64, text: std::fmt::Arguments<'_>) {
        self.events += 1;
        self.note(now_us, text);
    }

    /// Records a line that belongs to the current event (a role change it caused).
    pub fn note(&mut self, now_us: u64, text: std::fmt::Arguments<'_>) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(
            line,
            "t={}.{:03}s ",
            now_us / US_PER_S,
            (now_us % US_PER_S) / US_PER_MS
        );
        let _ = line.write_fmt(text);
        self.hash = fnv1a(self.hash, line.as_bytes());
        if let Some(full) = &mut self.full
            && full.len() < FULL_TRACE_LINES_MAX
        {
            full.push(line.clone());
        }
        if self.tail.len() == TRACE_TAIL_LINES {
            if let Some(old) = self.tail.pop_front() {
                self.line = old;
            }
        }
        self.tail.push_back(line);
    }

    /// The fingerprint so far.
    #[must_use]
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Events counted so far.
    #[must_use]
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last [`TRACE_TAIL_LINES`] lines.
    #[must_use]
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// Every line, if the full trace was kept.
    #[must_use]
    pub fn into_full(self) -> Option<Vec<String>> {
        self.full
    }
}

/// A message in the compact notation: `RequestVote t=3 last=5@2`.
pub struct Compact<'a>(pub &'a Message);

impl std::fmt::Display for Compact<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Message::Request(Request::RequestVote(m)) => {
                write!(
                    f,
                    "RequestVote t={} last={}@{}",
                    m.term, m.last_log_index, m.last_log_term
                )
            }
            Message::Reply(Reply::RequestVote(m)) => {
                let verdict = if m.vote_granted { "granted" } else { "denied" };
                write!(f, "VoteReply t={} {verdict}", m.term)
            }
            Message::Request(Request::AppendEntries(m)) => write!(
                f,
                "AppendEntries t={} prev={}@{} n={} commit={}",
                m.term,
                m.prev_log_index,
                m.prev_log_term,
                m.entries.len(),
                m.leader_commit
            ),
            Message::Reply(Reply::AppendEntries(m)) => match &m.outcome {
                AppendOutcome::StaleTerm => write!(f, "AppendReply t={} stale", m.term),
                AppendOutcome::Success { match_index } => {
                    write!(f, "AppendReply t={} ok match={match_index}", m.term)
                }
                AppendOutcome::Conflict {
                    conflict_term,
                    conflict_index,
                } => match conflict_term {
                    Some(ct) => write!(f, "AppendReply t={} conflict {conflict_index}@{ct}", m.term),
                    None => write!(f, "AppendReply t={} conflict short={conflict_index}", m.term),
                },
            },
            Message::Request(Request::InstallSnapshot(m)) => write!(
                f,
                "InstallSnapshot t={} last={}@{}",
                m.term, m.last_included_index, m.last_included_term
            ),
            Message::Reply(Reply::InstallSnapshot(m)) => {
                write!(f, "SnapshotReply t={} match={}", m.term, m.match_index)
            }
        }
    }
}
