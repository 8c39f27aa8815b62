//! The sequential specification a history is judged against.
//!
//! A [`Model`] is a deterministic state machine: from a state, an operation's input and the
//! output the system actually returned, [`Model::step`] says whether that output was allowed
//! and, if so, what the next state is. A history is linearizable when its operations can be
//! put in one order that respects real time and that the model accepts step by step.

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Operation;

/// A sequential object (a register, a key/value store) as the checker sees it.
///
/// The model must be deterministic and `step` must not depend on anything but its arguments:
/// the search replays and backtracks, and caches `(operations linearized, state)` pairs, so two
/// equal states must behave identically. `State: Eq + Hash` is what makes that cache work
/// (porcupine's `Equal`; its later `Hash`); a state that is expensive to clone or hash makes the
/// search slower, not wrong.
pub trait Model: Sync {
    /// What a client asked for (`Get(key)`, `Write(v)`).
    type Input: Sync;
    /// What the system answered (the value read; nothing for a write).
    type Output: Sync;
    /// The object's state between operations.
    type State: Clone + Eq + Hash + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies one operation: `Some(next state)` if `output` is a legal answer to `input` in
    /// `state`, `None` if it is not.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;

    /// Splits a history into parts that can be judged on their own, as lists of indices into
    /// `history` (every index exactly once). Linearizability is local (Herlihy & Wing): a
    /// history of independent objects, such as the keys of a key/value store, is linearizable
    /// if and only if each object's sub-history is. The default keeps one part.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }

    /// A hint for the search: `false` if `input` always changes the state (a write), so the
    /// search need not try it as a state-preserving step. The search places a step that leaves
    /// the state unchanged (a read of the current value) at once, without alternatives (see
    /// the crate docs); it finds such steps by trying the inputs this returns `true` for.
    /// `true`, the default, is always correct; `false` for an input that can leave the state
    /// unchanged only loses that pruning, never changes a verdict.
    fn may_leave_state_unchanged(&self, input: &Self::Input) -> bool {
        let _ = input;
        true
    }

    /// A one-line description of an operation, for reports and the HTML page.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String;

    /// A short description of a state, for reports and the HTML page.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// An operation of `M`'s history.
pub type OperationOf<M> = Operation<<M as Model>::Input, <M as Model>::Output>;
