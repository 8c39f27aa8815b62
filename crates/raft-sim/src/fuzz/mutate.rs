//! The one place the fuzzer makes bad messages: a real message with some fields changed
//! ([`Mutator::mutate`]), a message made of random fields ([`Mutator::garbage`]), and a wrong
//! sender ([`Mutator::sender`]).
//!
//! Values lean to the edges, where arithmetic overflows and comparisons turn: 0, 1, one off
//! the real value, and peer ids that are this peer, another peer, or no peer at all; and, one
//! time in [`Mutator::edge_one_in`], `u64::MAX`, `u64::MAX - 1` or any 64-bit number. A term
//! that large spreads through the real messages and ends every election for good (a term
//! cannot pass `u64::MAX`), so the driver draws how often per epoch. Everything is drawn
//! from the caller's seeded RNG.

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, InstallSnapshotReply, Message,
    Reply, Request, RequestVoteArgs, RequestVoteReply, TimeoutNowArgs, TimeoutNowReply,
};
use raft_core::{Entry, LogIndex, PeerId, Term};
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

/// Most fields one mutation changes.
pub const FIELDS_PER_MUTATION_MAX: u32 = 3;
/// Most entries a garbage AppendEntries carries.
pub const GARBAGE_ENTRIES_MAX: usize = 8;
/// Most bytes of a garbage command or snapshot.
pub const GARBAGE_BYTES_MAX: usize = 16;

/// How a run makes bad messages: the cluster's size, and how rare the largest values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mutator {
    /// Peers in the cluster (ids `0..peers`).
    pub peers: usize,
    /// One changed number in this many is `u64::MAX`, `u64::MAX - 1` or any 64-bit number.
    pub edge_one_in: u32,
}

/// Numbers up to this are "small": where the peers' own terms and indices are.
const SMALL_MAX: u64 = 16;

impl Mutator {
    /// A number near `real` or at an edge: 0, 1, one off `real`, half or double it; one time
    /// in [`Mutator::edge_one_in`] the largest two or anything.
    pub fn extreme(&self, rng: &mut SmallRng, real: u64) -> u64 {
        if rng.random_range(0..self.edge_one_in.max(1)) == 0 {
            return match rng.random_range(0..3) {
                0 => u64::MAX,
                1 => u64::MAX - 1,
                _ => rng.random(),
            };
        }
        match rng.random_range(0..6) {
            0 => 0,
            1 => 1,
            2 => real.saturating_add(1),
            3 => real.saturating_sub(1),
            4 => real / 2,
            _ => real.saturating_mul(2),
        }
    }

    /// A small number most of the time (so terms and indices can meet the peers' own), an
    /// edge value otherwise.
    fn wild(&self, rng: &mut SmallRng) -> u64 {
        let small = rng.random_range(0..=SMALL_MAX);
        if rng.random_bool(0.7) {
            small
        } else {
            self.extreme(rng, small)
        }
    }

    fn term(&self, rng: &mut SmallRng, t: &mut Term) {
        t.0 = self.extreme(rng, t.0);
    }

    fn index(&self, rng: &mut SmallRng, i: &mut LogIndex) {
        i.0 = self.extreme(rng, i.0);
    }

    /// A peer id: one of the cluster's (maybe the receiver), or one outside it.
    fn any_peer(&self, rng: &mut SmallRng) -> PeerId {
        match rng.random_range(0..8) {
            0 => PeerId(u32::MAX),
            1 => PeerId(self.peers as u32 + rng.random_range(0..3)),
            _ => PeerId(rng.random_range(0..self.peers as u32)),
        }
    }

    /// The sender a delivery claims: usually the real one, sometimes the receiver itself,
    /// another peer, or an id outside the cluster.
    pub fn sender(&self, rng: &mut SmallRng, real: PeerId, to: PeerId) -> PeerId {
        match rng.random_range(0..16) {
            0 => to,
            1 => self.any_peer(rng),
            _ => real,
        }
    }

    /// Changes one to [`FIELDS_PER_MUTATION_MAX`] fields of a real message.
    pub fn mutate(&self, rng: &mut SmallRng, message: &mut Message) {
        for _ in 0..rng.random_range(1..=FIELDS_PER_MUTATION_MAX) {
            self.mutate_field(rng, message);
        }
    }

    fn mutate_field(&self, rng: &mut SmallRng, message: &mut Message) {
        match message {
            Message::Request(Request::RequestVote(m) | Request::PreVote(m)) => match rng.random_range(0..5) {
                0 => self.term(rng, &mut m.term),
                1 => m.candidate_id = self.any_peer(rng),
                2 => self.index(rng, &mut m.last_log_index),
                3 => m.transfer = !m.transfer,
                _ => self.term(rng, &mut m.last_log_term),
            },
            Message::Reply(Reply::RequestVote(m) | Reply::PreVote(m)) => match rng.random_range(0..2) {
                0 => self.term(rng, &mut m.term),
                _ => m.vote_granted = !m.vote_granted,
            },
            Message::Request(Request::AppendEntries(m)) => match rng.random_range(0..7) {
                0 => self.term(rng, &mut m.term),
                1 => m.leader_id = self.any_peer(rng),
                2 => self.index(rng, &mut m.prev_log_index),
                3 => self.term(rng, &mut m.prev_log_term),
                4 => self.index(rng, &mut m.leader_commit),
                _ => self.entries(rng, &mut m.entries),
            },
            Message::Reply(Reply::AppendEntries(m)) => match rng.random_range(0..2) {
                0 => self.term(rng, &mut m.term),
                _ => self.outcome(rng, &mut m.outcome),
            },
            Message::Request(Request::InstallSnapshot(m)) => match rng.random_range(0..5) {
                0 => self.term(rng, &mut m.term),
                1 => m.leader_id = self.any_peer(rng),
                2 => self.index(rng, &mut m.last_included_index),
                3 => self.term(rng, &mut m.last_included_term),
                _ => m.data = bytes(rng),
            },
            Message::Reply(Reply::InstallSnapshot(m)) => match rng.random_range(0..2) {
                0 => self.term(rng, &mut m.term),
                _ => self.index(rng, &mut m.match_index),
            },
            Message::Request(Request::TimeoutNow(m)) => match rng.random_range(0..2) {
                0 => self.term(rng, &mut m.term),
                _ => m.leader_id = self.any_peer(rng),
            },
            Message::Reply(Reply::TimeoutNow(m)) => self.term(rng, &mut m.term),
        }
    }

    /// Shuffles, duplicates, drops or reverses entries, or changes one entry's index, term
    /// or command; adds a garbage entry to an empty list.
    fn entries(&self, rng: &mut SmallRng, entries: &mut Vec<Entry>) {
        if entries.is_empty() {
            entries.push(self.garbage_entry(rng));
            return;
        }
        let at = rng.random_range(0..entries.len());
        match rng.random_range(0..7) {
            0 => entries.shuffle(rng),
            1 => entries.insert(at, entries[at].clone()),
            2 => {
                entries.remove(at);
            }
            3 => entries.reverse(),
            4 => self.index(rng, &mut entries[at].index),
            5 => self.term(rng, &mut entries[at].term),
            _ => entries[at].command = bytes(rng).into(),
        }
    }

    /// Another AppendEntries outcome: a different kind, or the same with an edge value.
    fn outcome(&self, rng: &mut SmallRng, outcome: &mut AppendOutcome) {
        *outcome = match (rng.random_range(0..3), &*outcome) {
            (0, AppendOutcome::Success { match_index }) => AppendOutcome::Success {
                match_index: LogIndex(self.extreme(rng, match_index.0)),
            },
            (
                0,
                AppendOutcome::Conflict {
                    conflict_term,
                    conflict_index,
                },
            ) => AppendOutcome::Conflict {
                conflict_term: conflict_term.map(|t| Term(self.extreme(rng, t.0))),
                conflict_index: LogIndex(self.extreme(rng, conflict_index.0)),
            },
            _ => self.garbage_outcome(rng),
        };
    }

    fn garbage_outcome(&self, rng: &mut SmallRng) -> AppendOutcome {
        match rng.random_range(0..3) {
            0 => AppendOutcome::StaleTerm,
            1 => AppendOutcome::Success {
                match_index: LogIndex(self.wild(rng)),
            },
            _ => AppendOutcome::Conflict {
                conflict_term: rng.random_bool(0.5).then(|| Term(self.wild(rng))),
                conflict_index: LogIndex(self.wild(rng)),
            },
        }
    }

    fn garbage_entry(&self, rng: &mut SmallRng) -> Entry {
        Entry {
            index: LogIndex(self.wild(rng)),
            term: Term(self.wild(rng)),
            command: bytes(rng).into(),
        }
    }

    /// Entries that continue `prev` with terms from `prev_term` up to `term` half of the
    /// time (so they pass a shape check and reach the log), any indices and terms otherwise.
    fn garbage_entries(&self, rng: &mut SmallRng, prev: LogIndex, prev_term: Term, term: Term) -> Vec<Entry> {
        let count = rng.random_range(0..=GARBAGE_ENTRIES_MAX);
        if rng.random_bool(0.5) {
            return (0..count).map(|_| self.garbage_entry(rng)).collect();
        }
        let mut entry_term = prev_term;
        (1..=count as u64)
            .map(|k| {
                if entry_term < term && rng.random_bool(0.3) {
                    entry_term = Term(rng.random_range(entry_term.0..=term.0));
                }
                Entry {
                    index: LogIndex(prev.0.wrapping_add(k)),
                    term: entry_term,
                    command: bytes(rng).into(),
                }
            })
            .collect()
    }

    /// A message of any kind with every field drawn at random, edges included.
    pub fn garbage(&self, rng: &mut SmallRng) -> Message {
        let t = Term(self.wild(rng));
        match rng.random_range(0..10) {
            0 => Message::Request(Request::RequestVote(RequestVoteArgs {
                term: t,
                candidate_id: self.any_peer(rng),
                last_log_index: LogIndex(self.wild(rng)),
                last_log_term: Term(self.wild(rng)),
                transfer: rng.random(),
            })),
            1 => Message::Reply(Reply::RequestVote(RequestVoteReply {
                term: t,
                vote_granted: rng.random(),
            })),
            2 => {
                let prev_log_index = LogIndex(self.wild(rng));
                let prev_log_term = Term(self.wild(rng));
                Message::Request(Request::AppendEntries(AppendEntriesArgs {
                    term: t,
                    leader_id: self.any_peer(rng),
                    prev_log_index,
                    prev_log_term,
                    entries: self.garbage_entries(rng, prev_log_index, prev_log_term, t),
                    leader_commit: LogIndex(self.wild(rng)),
                    round: self.wild(rng),
                }))
            }
            3 => Message::Reply(Reply::AppendEntries(AppendEntriesReply {
                term: t,
                outcome: self.garbage_outcome(rng),
                round: self.wild(rng),
            })),
            4 => Message::Request(Request::InstallSnapshot(InstallSnapshotArgs {
                term: t,
                leader_id: self.any_peer(rng),
                last_included_index: LogIndex(self.wild(rng)),
                last_included_term: Term(self.wild(rng)),
                data: bytes(rng),
            })),
            5 => Message::Reply(Reply::InstallSnapshot(InstallSnapshotReply {
                term: t,
                match_index: LogIndex(self.wild(rng)),
            })),
            6 => Message::Request(Request::PreVote(RequestVoteArgs {
                term: t,
                candidate_id: self.any_peer(rng),
                last_log_index: LogIndex(self.wild(rng)),
                last_log_term: Term(self.wild(rng)),
                transfer: rng.random(),
            })),
            7 => Message::Reply(Reply::PreVote(RequestVoteReply {
                term: t,
                vote_granted: rng.random(),
            })),
            8 => Message::Request(Request::TimeoutNow(TimeoutNowArgs {
                term: t,
                leader_id: self.any_peer(rng),
            })),
            _ => Message::Reply(Reply::TimeoutNow(TimeoutNowReply { term: t })),
        }
    }
}

fn bytes(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.random_range(0..=GARBAGE_BYTES_MAX);
    (0..len).map(|_| rng.random()).collect()
}
