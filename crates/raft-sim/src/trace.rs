//! The one trace notation of every simulated run, whichever suite drives it: a compact,
//! paper-named line per notable event, the last few kept for a failure report, and a running
//! hash over every event (FNV-1a's shape, a word at a time) so a run has a fingerprint.
//!
//! Notation:
//!
//! ```text
//! t=1.230s n1@3 follower -> candidate
//! t=1.231s n1 -> n2 RequestVote term=3 last=5@2 (+4ms)
//! t=1.235s n2 <- n1 RequestVote term=3 last=5@2
//! t=1.236s n2 -> n1 Vote term=3 granted (dropped)
//! t=1.300s n3 -> n1 PreVote term=4 last=5@2 (+2ms)
//! t=1.302s n1 -> n3 PreVoteReply term=4 granted (+3ms)
//! t=1.402s n1 -> n0 AppendEntries term=3 prev=5@2 entries=3 commit=4 (dead end)
//! t=1.500s n1 -> n2 TimeoutNow term=3 (+1ms)
//! t=1.502s n2 -> n0 RequestVote term=4 last=7@3 transfer (+3ms)
//! t=2.000s crash n2
//! ```
//!
//! Events are kept as small values ([`TraceEvent`]) and formatted only when a report asks for
//! them (or, for a replay, as they come), so tracing costs a few words of hashing per event.
//! Ticks and applies are hashed but not kept as lines.

use std::collections::VecDeque;
use std::fmt;

use raft_core::message::{AppendOutcome, Reply, Request};

use crate::config::{US_PER_MS, US_PER_S};

/// How many of the latest lines a failure report shows.
pub const TRACE_TAIL_LINES: usize = 60;
/// Most lines a full trace keeps (a replay of a very long run is cut, not unbounded).
pub const FULL_TRACE_LINES_MAX: usize = 2_000_000;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The rotation after each word's multiply in [`Trace::mix`].
const WORD_MIX_ROTATION: u32 = 29;

/// FNV-1a over `bytes`, continuing from `hash`.
#[must_use]
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// A message reduced to what a reader of a trace needs, in the paper's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// RequestVote: the candidate's term and last log entry (`last=index@term`), and
    /// `transfer` if a TimeoutNow started the campaign.
    RequestVote {
        /// The candidate's term.
        term: u64,
        /// lastLogIndex.
        last_index: u64,
        /// lastLogTerm.
        last_term: u64,
        /// Flagged as part of a leadership transfer.
        transfer: bool,
    },
    /// The RequestVote reply.
    Vote {
        /// The voter's term.
        term: u64,
        /// voteGranted.
        granted: bool,
    },
    /// PreVote: the term the pre-candidate proposes and its last log entry.
    PreVote {
        /// The proposed term (the pre-candidate's own plus one).
        term: u64,
        /// lastLogIndex.
        last_index: u64,
        /// lastLogTerm.
        last_term: u64,
    },
    /// The PreVote reply.
    PreVoteReply {
        /// The proposed term if granted, else the voter's term.
        term: u64,
        /// Granted.
        granted: bool,
    },
    /// AppendEntries: `prev=prevLogIndex@prevLogTerm entries=N commit=leaderCommit`.
    AppendEntries {
        /// The leader's term.
        term: u64,
        /// prevLogIndex.
        prev_index: u64,
        /// prevLogTerm.
        prev_term: u64,
        /// How many entries it carries.
        entries: u64,
        /// leaderCommit.
        commit: u64,
    },
    /// The AppendEntries reply.
    AppendReply {
        /// The follower's term.
        term: u64,
        /// What the follower answered.
        outcome: Outcome,
    },
    /// InstallSnapshot: `last=lastIncludedIndex@lastIncludedTerm`.
    InstallSnapshot {
        /// The leader's term.
        term: u64,
        /// lastIncludedIndex.
        last_index: u64,
        /// lastIncludedTerm.
        last_term: u64,
    },
    /// The InstallSnapshot reply.
    SnapshotReply {
        /// The follower's term.
        term: u64,
        /// The index the follower now matches.
        match_index: u64,
    },
    /// TimeoutNow: the leader's term.
    TimeoutNow {
        /// The leader's term.
        term: u64,
    },
    /// The TimeoutNow reply.
    TimeoutNowReply {
        /// The target's term once it handled the request.
        term: u64,
    },
}

/// An AppendEntries reply's answer, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The leader's term was stale.
    Stale,
    /// The entries matched through `match_index`.
    Ok(u64),
    /// The consistency check failed: the conflict term (if any) and index.
    Conflict(Option<u64>, u64),
}

impl Msg {
    /// The summary of a request (with [`Msg::of_reply`], the one place the trace matches on
    /// message kinds).
    #[must_use]
    pub fn of_request(request: &Request) -> Msg {
        match request {
            Request::RequestVote(m) => Msg::RequestVote {
                term: m.term.0,
                last_index: m.last_log_index.0,
                last_term: m.last_log_term.0,
                transfer: m.transfer,
            },
            Request::AppendEntries(m) => Msg::AppendEntries {
                term: m.term.0,
                prev_index: m.prev_log_index.0,
                prev_term: m.prev_log_term.0,
                entries: m.entries.len() as u64,
                commit: m.leader_commit.0,
            },
            Request::InstallSnapshot(m) => Msg::InstallSnapshot {
                term: m.term.0,
                last_index: m.last_included_index.0,
                last_term: m.last_included_term.0,
            },
            Request::PreVote(m) => Msg::PreVote {
                term: m.term.0,
                last_index: m.last_log_index.0,
                last_term: m.last_log_term.0,
            },
            Request::TimeoutNow(m) => Msg::TimeoutNow { term: m.term.0 },
        }
    }

    /// The summary of a reply.
    #[must_use]
    pub fn of_reply(reply: &Reply) -> Msg {
        match reply {
            Reply::RequestVote(m) => Msg::Vote {
                term: m.term.0,
                granted: m.vote_granted,
            },
            Reply::AppendEntries(m) => Msg::AppendReply {
                term: m.term.0,
                outcome: match m.outcome {
                    AppendOutcome::StaleTerm => Outcome::Stale,
                    AppendOutcome::Success { match_index } => Outcome::Ok(match_index.0),
                    AppendOutcome::Conflict {
                        conflict_term,
                        conflict_index,
                    } => Outcome::Conflict(conflict_term.map(|t| t.0), conflict_index.0),
                },
            },
            Reply::InstallSnapshot(m) => Msg::SnapshotReply {
                term: m.term.0,
                match_index: m.match_index.0,
            },
            Reply::PreVote(m) => Msg::PreVoteReply {
                term: m.term.0,
                granted: m.vote_granted,
            },
            Reply::TimeoutNow(m) => Msg::TimeoutNowReply { term: m.term.0 },
        }
    }

    /// The summary as words, for the hash.
    fn words(&self) -> [u64; 6] {
        match *self {
            Msg::RequestVote {
                term,
                last_index,
                last_term,
                transfer,
            } => [1, term, last_index, last_term, u64::from(transfer), 0],
            Msg::Vote { term, granted } => [2, term, u64::from(granted), 0, 0, 0],
            Msg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
            } => [3, term, prev_index, prev_term, entries, commit],
            Msg::AppendReply { term, outcome } => match outcome {
                Outcome::Stale => [4, term, 0, 0, 0, 0],
                Outcome::Ok(m) => [4, term, 1, m, 0, 0],
                Outcome::Conflict(t, i) => [4, term, 2, t.map_or(0, |t| t + 1), i, 0],
            },
            Msg::InstallSnapshot {
                term,
                last_index,
                last_term,
            } => [5, term, last_index, last_term, 0, 0],
            Msg::SnapshotReply { term, match_index } => [6, term, match_index, 0, 0, 0],
            Msg::PreVote {
                term,
                last_index,
                last_term,
            } => [7, term, last_index, last_term, 0, 0],
            Msg::PreVoteReply { term, granted } => [8, term, u64::from(granted), 0, 0, 0],
            Msg::TimeoutNow { term } => [9, term, 0, 0, 0, 0],
            Msg::TimeoutNowReply { term } => [10, term, 0, 0, 0, 0],
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Msg::RequestVote {
                term,
                last_index,
                last_term,
                transfer,
            } => {
                write!(f, "RequestVote term={term} last={last_index}@{last_term}")?;
                if transfer {
                    f.write_str(" transfer")?;
                }
                Ok(())
            }
            Msg::Vote { term, granted } => {
                let verdict = if granted { "granted" } else { "denied" };
                write!(f, "Vote term={term} {verdict}")
            }
            Msg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
            } => write!(
                f,
                "AppendEntries term={term} prev={prev_index}@{prev_term} entries={entries} commit={commit}"
            ),
            Msg::AppendReply { term, outcome } => match outcome {
                Outcome::Stale => write!(f, "AppendReply term={term} stale"),
                Outcome::Ok(m) => write!(f, "AppendReply term={term} ok match={m}"),
                Outcome::Conflict(Some(t), i) => write!(f, "AppendReply term={term} conflict {i}@{t}"),
                Outcome::Conflict(None, i) => write!(f, "AppendReply term={term} conflict short={i}"),
            },
            Msg::InstallSnapshot {
                term,
                last_index,
                last_term,
            } => write!(f, "InstallSnapshot term={term} last={last_index}@{last_term}"),
            Msg::SnapshotReply { term, match_index } => {
                write!(f, "SnapshotReply term={term} match={match_index}")
            }
            Msg::PreVote {
                term,
                last_index,
                last_term,
            } => write!(f, "PreVote term={term} last={last_index}@{last_term}"),
            Msg::PreVoteReply { term, granted } => {
                let verdict = if granted { "granted" } else { "denied" };
                write!(f, "PreVoteReply term={term} {verdict}")
            }
            Msg::TimeoutNow { term } => write!(f, "TimeoutNow term={term}"),
            Msg::TimeoutNowReply { term } => write!(f, "TimeoutNowReply term={term}"),
        }
    }
}

/// What the network decided for a message as it left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It arrives after this many microseconds.
    Delayed(u64),
    /// It arrives after the first delay, and a duplicate after the second.
    Duplicated(u64, u64),
    /// The network loses it.
    Dropped,
    /// Sender and receiver are on different sides of a partition.
    Partitioned,
    /// The end is disabled or the receiver is down: the call fails.
    DeadEnd,
}

impl Fate {
    fn word(self) -> [u64; 2] {
        match self {
            Fate::Delayed(us) => [us, 0],
            Fate::Duplicated(a, b) => [a, b.wrapping_add(1)],
            Fate::Dropped => [u64::MAX, 0],
            Fate::Partitioned => [u64::MAX - 1, 0],
            Fate::DeadEnd => [u64::MAX - 2, 0],
        }
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fate::Delayed(us) => write!(f, "(+{}ms)", us / US_PER_MS),
            Fate::Duplicated(a, b) => write!(f, "(+{}ms, again +{}ms)", a / US_PER_MS, b / US_PER_MS),
            Fate::Dropped => f.write_str("(dropped)"),
            Fate::Partitioned => f.write_str("(partitioned)"),
            Fate::DeadEnd => f.write_str("(dead end)"),
        }
    }
}

/// Why a message that arrived was not handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Its receiver crashed (or restarted) since it was sent.
    Crash,
    /// The network decided at arrival (a partition formed, an end was disabled).
    Network,
}

/// One traced event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A peer's role or term changed: `n1@3 follower -> candidate`.
    Role {
        /// The peer.
        node: usize,
        /// Its term after.
        term: u64,
        /// Its role before.
        from: &'static str,
        /// Its role after.
        to: &'static str,
    },
    /// A message left: `n1 -> n2 RequestVote term=3 last=5@2 (+4ms)`.
    Send {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// The message.
        msg: Msg,
        /// What the network decided.
        fate: Fate,
    },
    /// A message reached its receiver, which handles it: `n2 <- n1 RequestVote ...`.
    Deliver {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// The message.
        msg: Msg,
    },
    /// A message arrived but was not handled: `n2 <- n1 ... lost (crash)`.
    Lost {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// The message.
        msg: Msg,
        /// Why.
        why: Lost,
    },
    /// A proposal a leader accepted: `client -> n1 at 7@3`.
    Propose {
        /// The peer asked.
        node: usize,
        /// The index it was given.
        index: u64,
        /// The term it was given in.
        term: u64,
    },
    /// The service asked its peer to snapshot: `n1 snapshot through 30`.
    Snapshot {
        /// The peer.
        node: usize,
        /// The index the snapshot covers.
        index: u64,
    },
    /// Anything else the world or its driver did: crash, restart, partition, connect.
    Note(String),
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Role { node, term, from, to } if from == to => {
                write!(f, "n{node}@{term} {to} (new term)")
            }
            TraceEvent::Role { node, term, from, to } => write!(f, "n{node}@{term} {from} -> {to}"),
            TraceEvent::Send { from, to, msg, fate } => write!(f, "n{from} -> n{to} {msg} {fate}"),
            TraceEvent::Deliver { from, to, msg } => write!(f, "n{to} <- n{from} {msg}"),
            TraceEvent::Lost { from, to, msg, why } => {
                let why = match why {
                    Lost::Crash => "crash",
                    Lost::Network => "network",
                };
                write!(f, "n{to} <- n{from} {msg} lost ({why})")
            }
            TraceEvent::Propose { node, index, term } => write!(f, "client -> n{node} at {index}@{term}"),
            TraceEvent::Snapshot { node, index } => write!(f, "n{node} snapshot through {index}"),
            TraceEvent::Note(text) => f.write_str(text),
        }
    }
}

/// A traced event at its virtual time, as a line: `t=1.230s n1@3 follower -> candidate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Virtual time.
    pub at_us: u64,
    /// What happened.
    pub event: TraceEvent,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, ms) = (self.at_us / US_PER_S, (self.at_us % US_PER_S) / US_PER_MS);
        write!(f, "t={s}.{ms:03}s {}", self.event)
    }
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    events: u64,
    tail: VecDeque<Line>,
    full: Option<Vec<String>>,
}

impl Trace {
    /// An empty trace; `full` keeps every line as text, not only the tail.
    #[must_use]
    pub fn new(full: bool) -> Trace {
        Trace {
            hash: FNV_OFFSET_BASIS,
            events: 0,
            tail: VecDeque::with_capacity(TRACE_TAIL_LINES),
            full: full.then(Vec::new),
        }
    }

    /// Counts one event of the world's queue (each is counted once, whatever it records).
    pub fn count(&mut self) {
        self.events += 1;
    }

    /// Folds `words` into the hash without keeping a line (ticks, applies): FNV-1a's step
    /// on whole words, then a rotation so that every bit of a word reaches the low bits.
    pub fn mix(&mut self, words: &[u64]) {
        for w in words {
            self.hash = (self.hash ^ w)
                .wrapping_mul(FNV_PRIME)
                .rotate_left(WORD_MIX_ROTATION);
        }
    }

    /// Records `event` at `at_us`: into the hash and the tail (and the full trace if kept).
    pub fn record(&mut self, at_us: u64, event: TraceEvent) {
        self.mix(&[at_us]);
        match &event {
            TraceEvent::Role { node, term, from, to } => {
                self.mix(&[1, *node as u64, *term, from.len() as u64, to.len() as u64]);
            }
            TraceEvent::Send { from, to, msg, fate } => {
                self.mix(&[2, *from as u64, *to as u64]);
                self.mix(&msg.words());
                self.mix(&fate.word());
            }
            TraceEvent::Deliver { from, to, msg } => {
                self.mix(&[3, *from as u64, *to as u64]);
                self.mix(&msg.words());
            }
            TraceEvent::Lost { from, to, msg, why } => {
                self.mix(&[4, *from as u64, *to as u64, *why as u64]);
                self.mix(&msg.words());
            }
            TraceEvent::Propose { node, index, term } => self.mix(&[5, *node as u64, *index, *term]),
            TraceEvent::Snapshot { node, index } => self.mix(&[6, *node as u64, *index]),
            TraceEvent::Note(text) => {
                self.mix(&[7]);
                self.hash = fnv1a(self.hash, text.as_bytes());
            }
        }
        let line = Line { at_us, event };
        if let Some(full) = &mut self.full
            && full.len() < FULL_TRACE_LINES_MAX
        {
            full.push(line.to_string());
        }
        if self.tail.len() == TRACE_TAIL_LINES {
            self.tail.pop_front();
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

    /// The last [`TRACE_TAIL_LINES`] lines, oldest first.
    #[must_use]
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().map(Line::to_string).collect()
    }

    /// Every line, if the full trace was kept.
    #[must_use]
    pub fn into_full(self) -> Option<Vec<String>> {
        self.full
    }

    /// Every line kept so far, if the full trace is kept.
    #[must_use]
    pub fn full(&self) -> Option<&[String]> {
        self.full.as_deref()
    }

    /// Takes every line kept so far, if the full trace is kept, leaving it empty.
    pub fn take_full(&mut self) -> Option<Vec<String>> {
        self.full.as_mut().map(std::mem::take)
    }
}
