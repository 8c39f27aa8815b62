//! Requests a leader waits on: the index-and-term check of the handout.
//!
//! When the runtime's `start` returns (index, term), the request is registered here. When the
//! entry at that index is applied, the request is answered with the output if the applied
//! entry's term equals the term `start` returned, else [`WrongLeader`]: "a different request
//! has appeared at the index returned by Start()" (handout, kvraft). When the runtime sees the
//! term change or leadership lost, every waiting request is failed at once (the handout's
//! "or … Raft's term has changed"), so that no client waits on a deposed leader.

use raft_core::{LogIndex, Term};
use std::collections::BTreeMap;

/// The most requests one server waits on at once; beyond it `register` refuses, and the runtime
/// answers the client at once (it retries, as after a wrong-leader answer).
pub const PENDING_REQUESTS_MAX: usize = 1024;

/// The runtime's name for one client request it waits to answer (an RPC, a channel slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A request was not applied here as proposed: the clerk should try another server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongLeader;

/// The answer to a waiting request: its output, or [`WrongLeader`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<O> {
    /// The request answered.
    pub request_id: RequestId,
    /// Its output, or why it has none.
    pub outcome: Result<O, WrongLeader>,
}

/// `register` refused: [`PENDING_REQUESTS_MAX`] requests already wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingFull;

impl std::fmt::Display for PendingFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PENDING_REQUESTS_MAX} requests already wait")
    }
}

impl std::error::Error for PendingFull {}

#[derive(Clone, Copy, Debug)]
struct Waiting {
    term: Term,
    request_id: RequestId,
}

/// The requests waiting for their index to be applied, by index.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    by_index: BTreeMap<LogIndex, Waiting>,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Waits on `request_id` at (index, term). A request already waiting at that index was
    /// displaced (its entry was overwritten by this newer one) and is returned, answered.
    pub(crate) fn register<O>(
        &mut self,
        index: LogIndex,
        term: Term,
        request_id: RequestId,
    ) -> Result<Option<Reply<O>>, PendingFull> {
        if !self.by_index.contains_key(&index) && self.by_index.len() >= PENDING_REQUESTS_MAX {
            return Err(PendingFull);
        }
        let displaced = self.by_index.insert(index, Waiting { term, request_id });
        Ok(displaced.map(|w| wrong_leader(w.request_id)))
    }

    /// The answer for the request waiting at `index`, if any, now that the entry of `term` was
    /// applied there: `output` if the terms match, else [`WrongLeader`].
    pub(crate) fn answer<O>(&mut self, index: LogIndex, term: Term, output: Option<O>) -> Option<Reply<O>> {
        let waiting = self.by_index.remove(&index)?;
        let outcome = match output {
            Some(output) if waiting.term == term => Ok(output),
            _ => Err(WrongLeader),
        };
        Some(Reply {
            request_id: waiting.request_id,
            outcome,
        })
    }

    /// Fails every request waiting at an index up to `index`: a snapshot covered them, so what
    /// was applied there is not known here.
    pub(crate) fn fail_through<O>(&mut self, index: LogIndex) -> Vec<Reply<O>> {
        let later = self.by_index.split_off(&index.next());
        let covered = std::mem::replace(&mut self.by_index, later);
        covered
            .into_values()
            .map(|w| wrong_leader(w.request_id))
            .collect()
    }

    /// Stops waiting for `request_id` and answers it [`WrongLeader`], if it still waits.
    pub(crate) fn give_up<O>(&mut self, request_id: RequestId) -> Option<Reply<O>> {
        let index = self
            .by_index
            .iter()
            .find(|(_, w)| w.request_id == request_id)
            .map(|(index, _)| *index)?;
        self.by_index.remove(&index);
        Some(wrong_leader(request_id))
    }

    /// Fails every waiting request.
    pub(crate) fn fail_all<O>(&mut self) -> Vec<Reply<O>> {
        std::mem::take(&mut self.by_index)
            .into_values()
            .map(|w| wrong_leader(w.request_id))
            .collect()
    }
}

fn wrong_leader<O>(request_id: RequestId) -> Reply<O> {
    Reply {
        request_id,
        outcome: Err(WrongLeader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_refuses_beyond_the_limit_but_may_replace_at_a_waited_index() {
        let mut pending = Pending::default();
        for i in 1..=PENDING_REQUESTS_MAX as u64 {
            assert_eq!(
                pending.register::<()>(LogIndex(i), Term(1), RequestId(i)),
                Ok(None)
            );
        }
        let beyond = LogIndex(PENDING_REQUESTS_MAX as u64 + 1);
        assert_eq!(
            pending.register::<()>(beyond, Term(1), RequestId(0)),
            Err(PendingFull)
        );
        // A request at an index already waited on displaces the older one (its entry was
        // overwritten), even when full.
        let displaced = pending.register::<()>(LogIndex(1), Term(2), RequestId(0));
        assert_eq!(
            displaced,
            Ok(Some(Reply {
                request_id: RequestId(1),
                outcome: Err(WrongLeader)
            }))
        );
        assert_eq!(pending.len(), PENDING_REQUESTS_MAX);
    }

    #[test]
    fn answer_needs_the_term_and_an_output() {
        let mut pending = Pending::default();
        pending
            .register::<u8>(LogIndex(1), Term(2), RequestId(1))
            .unwrap();
        pending
            .register::<u8>(LogIndex(2), Term(2), RequestId(2))
            .unwrap();
        let ok = pending.answer(LogIndex(1), Term(2), Some(7u8)).unwrap();
        assert_eq!(ok.outcome, Ok(7));
        let none = pending.answer(LogIndex(2), Term(2), None::<u8>).unwrap();
        assert_eq!(none.outcome, Err(WrongLeader));
        assert_eq!(pending.answer(LogIndex(3), Term(2), Some(1u8)), None);
    }
}
