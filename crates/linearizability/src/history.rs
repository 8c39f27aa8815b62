//! Histories: what the clients of the system under test did and saw.
//!
//! The checker takes a list of [`Operation`]s, each with the time it was called and the time
//! it returned, as the 6.824 tester records them. An operation whose caller never learnt its
//! outcome (it gave up waiting after the request was sent) is *pending*
//! ([`Operation::pending`]): its return time is [`NEVER_RETURNED`]. A history of [`Event`]s (calls and
//! returns in the order they happened, without times) converts to operations with
//! [`operations_from_events`]: an event's position becomes its time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One operation: a client called it at `call_time` and it returned `output` at
/// `return_time` ([`NEVER_RETURNED`] if it is pending: see [`Operation::pending`]).
///
/// Times come from one monotonic clock, in any unit (the Lab 3 harness uses nanoseconds since
/// the process started); the checker only compares them. Intervals are closed: an operation
/// that returns at `t` and one that is called at `t` count as concurrent (see
/// [`crate::check`] for why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Who issued the operation; used only to draw the history.
    pub client_id: usize,
    /// What the client asked for.
    pub input: I,
    /// When the client called it (taken before the request left).
    pub call_time: u64,
    /// What the system answered.
    pub output: O,
    /// When the answer reached the client (taken after it arrived).
    pub return_time: u64,
}

/// The return time of a pending operation ([`Operation::pending`]): the end of time, so that
/// the checker may place the operation anywhere after its call, including after every other
/// operation, which is the same as never.
pub const NEVER_RETURNED: u64 = u64::MAX;

impl<I, O> Operation<I, O> {
    /// A pending operation: called at `call_time`, never returned (its caller gave up
    /// waiting, say, after the request was sent). It may take effect at any time after its
    /// call, or never; the checker accepts a history if some such choice is legal.
    ///
    /// Use it only for an operation whose `output` the model accepts in every state (a write
    /// whose answer says nothing, like the key/value model's put and append), as "never" is
    /// modelled by placing it after every other operation; a pending read has no output to
    /// check and is best left out of the history.
    pub fn pending(client_id: usize, input: I, call_time: u64, output: O) -> Self {
        Operation {
            client_id,
            input,
            call_time,
            output,
            return_time: NEVER_RETURNED,
        }
    }

    /// True for a pending operation (its return time is [`NEVER_RETURNED`]).
    pub fn is_pending(&self) -> bool {
        self.return_time == NEVER_RETURNED
    }
}

/// What an [`Event`] records: an operation's invocation or its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind<I, O> {
    /// The client invoked the operation with this input.
    Call(I),
    /// The operation returned this output.
    Return(O),
}

/// One call or return in an event history; `id` pairs a return with its call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<I, O> {
    /// Who issued the operation; used only to draw the history.
    pub client_id: usize,
    /// The call or the return.
    pub kind: EventKind<I, O>,
    /// The operation this event belongs to: one call and one return share it.
    pub id: u64,
}

/// A history the checker cannot judge, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// Operation `index` returned before it was called.
    ReturnBeforeCall {
        /// Position of the operation in the history.
        index: usize,
        /// Its call time.
        call_time: u64,
        /// Its return time, earlier than the call.
        return_time: u64,
    },
    /// An event history has a second call with this id.
    DuplicateCall {
        /// The operation id.
        id: u64,
    },
    /// An event history has a return with no earlier call, or a second return, with this id.
    UnmatchedReturn {
        /// The operation id.
        id: u64,
    },
    /// An event history has a call that never returned (an event history must be complete:
    /// give a pending operation as [`Operation::pending`] instead).
    PendingCall {
        /// The operation id.
        id: u64,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReturnBeforeCall {
                index,
                call_time,
                return_time,
            } => write!(
                f,
                "operation {index} returns at {return_time}, before its call at {call_time}"
            ),
            Self::DuplicateCall { id } => write!(f, "operation id {id} is called twice"),
            Self::UnmatchedReturn { id } => {
                write!(f, "operation id {id} returns without a pending call")
            }
            Self::PendingCall { id } => write!(
                f,
                "operation id {id} never returns (an event history must be complete; give a \
                 pending operation as Operation::pending)"
            ),
        }
    }
}

impl std::error::Error for HistoryError {}

/// Checks that every operation returns no earlier than it is called.
///
/// # Errors
/// [`HistoryError::ReturnBeforeCall`] for the first operation that does not.
pub fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), HistoryError> {
    match history.iter().position(|op| op.return_time < op.call_time) {
        Some(index) => Err(HistoryError::ReturnBeforeCall {
            index,
            call_time: history[index].call_time,
            return_time: history[index].return_time,
        }),
        None => Ok(()),
    }
}

/// Turns an event history into operations, in the order of their calls; an event's position
/// in `events` becomes its time, so real-time order is exactly the order of the events.
///
/// # Errors
/// A [`HistoryError`] if a call is repeated, a return has no pending call, or a call never
/// returns.
pub fn operations_from_events<I, O>(events: Vec<Event<I, O>>) -> Result<Vec<Operation<I, O>>, HistoryError> {
    // Operation index (in call order) of every call still waiting for its return.
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    let mut seen_calls: BTreeSet<u64> = BTreeSet::new();
    let mut calls: Vec<(usize, I, u64)> = Vec::new();
    let mut returns: Vec<Option<(O, u64)>> = Vec::new();
    for (position, event) in events.into_iter().enumerate() {
        let time = position as u64;
        match event.kind {
            EventKind::Call(input) => {
                if !seen_calls.insert(event.id) {
                    return Err(HistoryError::DuplicateCall { id: event.id });
                }
                pending.insert(event.id, calls.len());
                calls.push((event.client_id, input, time));
                returns.push(None);
            }
            EventKind::Return(output) => {
                let Some(index) = pending.remove(&event.id) else {
                    return Err(HistoryError::UnmatchedReturn { id: event.id });
                };
                returns[index] = Some((output, time));
            }
        }
    }
    if let Some((&id, _)) = pending.iter().next() {
        return Err(HistoryError::PendingCall { id });
    }
    let operations = calls
        .into_iter()
        .zip(returns)
        .map(|((client_id, input, call_time), ret)| {
            let (output, return_time) = ret.expect("every call was matched above");
            Operation {
                client_id,
                input,
                call_time,
                output,
                return_time,
            }
        })
        .collect();
    Ok(operations)
}

#[cfg(test)]
mod tests {
    use crate::models::kv::{KvInput, KvModel, KvOutput};
    use crate::{CheckOptions, CheckResult, Operation, check_operations};

    use super::NEVER_RETURNED;

    /// A pending `put(x, value)` by client 9, called at `call`.
    fn pending_put(value: &str, call: u64) -> Operation<KvInput, KvOutput> {
        let input = KvInput::Put {
            key: "x".to_owned(),
            value: value.to_owned(),
        };
        Operation::pending(9, input, call, KvOutput::default())
    }

    fn check(history: &[Operation<KvInput, KvOutput>]) -> CheckResult {
        check_operations(&KvModel, history, &CheckOptions::default())
            .expect("well-formed")
            .result
    }

    #[test]
    fn a_pending_operation_returns_at_the_end_of_time() {
        let op = pending_put("1", 5);
        assert!(op.is_pending());
        assert_eq!((op.call_time, op.return_time), (5, NEVER_RETURNED));
        assert!(!KvModel::put(0, "x", "1", 5, 6).is_pending());
    }

    #[test]
    fn a_pending_write_that_never_took_effect_is_linearizable() {
        let history = [
            KvModel::put(0, "x", "0", 0, 5),
            pending_put("1", 10),
            KvModel::get(1, "x", "0", 20, 30),
            KvModel::get(1, "x", "0", 40, 50),
        ];
        assert_eq!(check(&history), CheckResult::Ok);
    }

    #[test]
    fn a_pending_write_that_took_effect_later_is_linearizable() {
        let history = [
            pending_put("1", 0),
            KvModel::get(1, "x", "", 10, 20),
            KvModel::get(1, "x", "1", 30, 40),
            KvModel::get(2, "x", "1", 50, 60),
        ];
        assert_eq!(check(&history), CheckResult::Ok);
    }

    #[test]
    fn a_pending_write_seen_then_unseen_is_illegal() {
        let history = [
            pending_put("1", 0),
            KvModel::get(1, "x", "1", 10, 20),
            KvModel::get(1, "x", "", 30, 40),
        ];
        assert_eq!(check(&history), CheckResult::Illegal);
    }

    #[test]
    fn a_pending_write_seen_before_its_call_is_illegal() {
        let history = [KvModel::get(1, "x", "1", 0, 10), pending_put("1", 20)];
        assert_eq!(check(&history), CheckResult::Illegal);
    }
}
