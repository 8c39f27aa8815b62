//! What the simulated cluster did, kept two ways: a running hash of every event (two runs of
//! one seed are the same run exactly when their hashes match) and the last events in readable
//! form for a failure report.

use std::collections::VecDeque;
use std::fmt::Write as _;

use raft_core::message::{AppendOutcome, Reply, Request};

/// How many events a failure report shows.
pub(crate) const TAIL_LEN: usize = 60;

/// One traced event, compact: formatting waits until a report asks for it.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A peer's role or term changed.
    Role {
        peer: usize,
        term: u64,
        role: &'static str,
    },
    /// A message left a peer; `fate` says what the network decided.
    Send {
        from: usize,
        to: usize,
        what: Summary,
        fate: Fate,
    },
    /// A request reached its server.
    Deliver { from: usize, to: usize, what: Summary },
    /// A reply reached its caller.
    Reply { from: usize, to: usize, what: Summary },
    /// The harness did something to the cluster.
    Harness(String),
}

/// What became of a message when it was sent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fate {
    /// It will arrive after this many microseconds.
    Delayed(u64),
    /// The network loses it.
    Dropped,
    /// The end is disabled or the server is gone: the call fails.
    DeadEnd,
}

/// A message, reduced to what a reader of a trace needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Summary {
    kind: &'static str,
    term: u64,
    /// Entries carried, the vote, the outcome or the snapshot index, by kind.
    detail: u64,
}

impl Summary {
    /// The kind as a number, for the hash.
    fn code(&self) -> u64 {
        self.kind
            .bytes()
            .fold(0, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    }

    pub(crate) fn of_request(request: &Request) -> Summary {
        let detail = match request {
            Request::RequestVote(a) => a.last_log_index.0,
            Request::AppendEntries(a) => a.entries.len() as u64,
            Request::InstallSnapshot(a) => a.last_included_index.0,
        };
        Summary {
            kind: request.name(),
            term: request.term().0,
            detail,
        }
    }

    pub(crate) fn of_reply(reply: &Reply) -> Summary {
        let detail = match reply {
            Reply::RequestVote(r) => u64::from(r.vote_granted),
            Reply::AppendEntries(r) => match r.outcome {
                AppendOutcome::Success { match_index } => match_index.0,
                _ => 0,
            },
            Reply::InstallSnapshot(r) => r.match_index.0,
        };
        Summary {
            kind: reply.name(),
            term: reply.term().0,
            detail,
        }
    }
}

/// The running hash and the readable tail.
pub(crate) struct Trace {
    hash: u64,
    tail: VecDeque<(u64, Event)>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    pub(crate) fn new() -> Trace {
        Trace {
            hash: FNV_OFFSET,
            tail: VecDeque::with_capacity(TAIL_LEN),
        }
    }

    /// Folds `words` into the hash without keeping a readable copy (the frequent events:
    /// ticks, applies).
    pub(crate) fn mix(&mut self, words: &[u64]) {
        for w in words {
            for b in w.to_le_bytes() {
                self.hash ^= u64::from(b);
                self.hash = self.hash.wrapping_mul(FNV_PRIME);
            }
        }
    }

    /// Records an event at `at_us`: into the hash and the tail.
    pub(crate) fn note(&mut self, at_us: u64, event: Event) {
        match &event {
            Event::Role { peer, term, role } => self.mix(&[at_us, 1, *peer as u64, *term, role.len() as u64]),
            Event::Send { from, to, what, fate } => {
                let fate = match fate {
                    Fate::Delayed(us) => *us,
                    Fate::Dropped => u64::MAX,
                    Fate::DeadEnd => u64::MAX - 1,
                };
                self.mix(&[
                    at_us,
                    2,
                    *from as u64,
                    *to as u64,
                    what.code(),
                    what.term,
                    what.detail,
                    fate,
                ]);
            }
            Event::Deliver { from, to, what } => self.mix(&[
                at_us,
                3,
                *from as u64,
                *to as u64,
                what.code(),
                what.term,
                what.detail,
            ]),
            Event::Reply { from, to, what } => self.mix(&[
                at_us,
                4,
                *from as u64,
                *to as u64,
                what.code(),
                what.term,
                what.detail,
            ]),
            Event::Harness(text) => {
                self.mix(&[at_us, 5]);
                self.mix(&text.bytes().map(u64::from).collect::<Vec<_>>());
            }
        }
        if self.tail.len() == TAIL_LEN {
            self.tail.pop_front();
        }
        self.tail.push_back((at_us, event));
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The last events, one line each, oldest first.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().map(|(at, e)| line(*at, e)).collect()
    }
}

fn line(at_us: u64, event: &Event) -> String {
    let mut s = format!("{:>10.3} s  ", at_us as f64 / 1e6);
    let _ = match event {
        Event::Role { peer, term, role } => write!(s, "n{peer} is {role} in term {term}"),
        Event::Send { from, to, what, fate } => {
            let fate = match fate {
                Fate::Delayed(0) => String::new(),
                Fate::Delayed(us) => format!(" (delayed {} ms)", us / 1000),
                Fate::Dropped => " (dropped)".to_owned(),
                Fate::DeadEnd => " (dead end)".to_owned(),
            };
            write!(s, "n{from} -> n{to} {}{fate}", show(what))
        }
        Event::Deliver { from, to, what } => write!(s, "n{to} handles {} from n{from}", show(what)),
        Event::Reply { from, to, what } => write!(s, "n{to} gets {} from n{from}", show(what)),
        Event::Harness(text) => write!(s, "harness: {text}"),
    };
    s
}

fn show(what: &Summary) -> String {
    let detail = match what.kind {
        "RequestVote" => format!("last index {}", what.detail),
        "RequestVoteReply" => format!("granted {}", what.detail == 1),
        "AppendEntries" => format!("{} entries", what.detail),
        "AppendEntriesReply" if what.detail > 0 => format!("match {}", what.detail),
        "AppendEntriesReply" => "no match".to_owned(),
        _ => format!("index {}", what.detail),
    };
    format!("{} t{} ({detail})", what.kind, what.term)
}
