//! The search for a linearization of one partition: Wing & Gong's backtracking over the
//! time-ordered entries, with Lowe's cache of `(operations linearized, state)` pairs.
//!
//! The entries are walked from the front. At a call, the search tries to linearize the
//! operation now: if the model accepts its output in the current state and the resulting
//! `(set, state)` pair has not been reached before, the operation is lifted out of the list,
//! pushed on a stack with the state before it, and the walk restarts from the front (any
//! operation whose call precedes every remaining return may come next). At a return, an
//! operation's response has been reached while it is still unplaced: no order extends the
//! current one, so the last choice is undone and the walk resumes after that choice's call.
//! An empty list means every operation is placed (the stack is the witness); a return with an
//! empty stack means none is possible.
//!
//! The cache is what makes this practical (Lowe 2017): two different orders that linearize
//! the same set of operations and reach equal states have the same futures, so the second is
//! pruned. A set of operations plus a state is also exactly the search's progress measure,
//! so the number of cache entries bounds the work.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::entries::{Bitset, EntryKind, EntryList};
use crate::model::Model;

/// How one partition's search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SearchVerdict {
    /// Every operation placed; the longest prefix is the whole linearization.
    Linearizable,
    /// No order works.
    Illegal,
    /// Stopped from outside (time limit, or another partition failed) before a verdict.
    Cancelled,
    /// The cache reached its bound before a verdict.
    CacheFull,
}

/// The result of one partition's search, in partition-local operation indices.
#[derive(Clone, Debug)]
pub(crate) struct SearchOutcome {
    pub(crate) verdict: SearchVerdict,
    /// The longest sequence of operations the search linearized, in linearization order.
    pub(crate) longest_prefix: Vec<usize>,
    /// The operation whose response came before it could be placed after the longest prefix.
    pub(crate) breaking_operation: Option<usize>,
    /// Entries visited, a measure of the work done.
    pub(crate) steps: u64,
    /// `(set, state)` pairs cached.
    pub(crate) cache_entries: usize,
}

/// Tracks the longest linearizable prefix seen without copying the stack at every push: `best`
/// shares its first `agree` operations with the stack, so a new record copies only the part
/// pushed since the two diverged.
struct LongestPrefix {
    best: Vec<usize>,
    agree: usize,
    breaking: Option<usize>,
}

impl LongestPrefix {
    fn pushed(&mut self, stack: &[usize]) {
        let top = stack.len() - 1;
        if self.agree == top && self.best.get(top) == Some(&stack[top]) {
            self.agree += 1;
        }
        if stack.len() > self.best.len() {
            self.best.truncate(self.agree);
            self.best.extend_from_slice(&stack[self.agree..]);
            self.agree = stack.len();
            self.breaking = None;
        }
    }

    fn popped(&mut self, depth: usize) {
        self.agree = self.agree.min(depth);
    }

    /// A return reached with the stack at `depth`: if the stack is the longest prefix, this
    /// return's operation is where that prefix breaks.
    fn blocked(&mut self, depth: usize, operation: usize) {
        if self.breaking.is_none() && self.agree == depth && depth == self.best.len() {
            self.breaking = Some(operation);
        }
    }
}

/// Searches for a linearization of `operations` (the partition's inputs, outputs and times).
///
/// Polls `stop` at every entry; returns [`SearchVerdict::Cancelled`] once it is set. At most
/// `cache_entries_max` pairs are cached; beyond that the verdict is
/// [`SearchVerdict::CacheFull`].
pub(crate) fn search<M: Model>(
    model: &M,
    operations: &[(&M::Input, &M::Output)],
    times: &[(u64, u64)],
    stop: &AtomicBool,
    cache_entries_max: usize,
) -> SearchOutcome {
    assert_eq!(operations.len(), times.len(), "one time interval per operation");
    let mut list = EntryList::new(times);
    let mut linearized = Bitset::new(operations.len());
    let mut cache: HashSet<(Bitset, M::State), BuildHasherDefault<MixHasher>> = HashSet::default();
    let mut state = model.init();
    // The choices made: each linearized operation's call node and the state before it.
    let mut choices: Vec<(usize, M::State)> = Vec::with_capacity(operations.len());
    let mut order: Vec<usize> = Vec::with_capacity(operations.len());
    let mut longest = LongestPrefix {
        best: Vec::new(),
        agree: 0,
        breaking: None,
    };
    let mut steps = 0u64;
    let mut node = list.first();
    let verdict = loop {
        if node == list.tail() {
            debug_assert_eq!(order.len(), operations.len(), "an empty list means all placed");
            break SearchVerdict::Linearizable;
        }
        if stop.load(Ordering::Relaxed) {
            break SearchVerdict::Cancelled;
        }
        steps += 1;
        let op = list.operation(node);
        if list.kind(node) == EntryKind::Return {
            longest.blocked(order.len(), op);
            let Some((call, previous)) = choices.pop() else {
                break SearchVerdict::Illegal;
            };
            state = previous;
            let undone = order.pop().expect("one order entry per choice");
            linearized.clear(undone);
            longest.popped(order.len());
            list.unlift(call);
            node = list.next(call);
            continue;
        }
        let (input, output) = operations[op];
        let Some(next_state) = model.step(&state, input, output) else {
            node = list.next(node);
            continue;
        };
        linearized.set(op);
        if !cache.insert((linearized.clone(), next_state.clone())) {
            linearized.clear(op);
            node = list.next(node);
            continue;
        }
        if cache.len() > cache_entries_max {
            break SearchVerdict::CacheFull;
        }
        choices.push((node, std::mem::replace(&mut state, next_state)));
        order.push(op);
        longest.pushed(&order);
        list.lift(node);
        node = list.first();
    };
    SearchOutcome {
        verdict,
        longest_prefix: longest.best,
        breaking_operation: longest.breaking,
        steps,
        cache_entries: cache.len(),
    }
}

/// A fast non-cryptographic hasher for the cache (a multiply-rotate mix in the style of
/// rustc's FxHasher): the keys are our own bitsets and states, not adversarial input, and
/// SipHash would dominate the search's time.
#[derive(Default)]
pub(crate) struct MixHasher {
    hash: u64,
}

/// An odd constant with well spread bits (from the golden ratio).
const MIX_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl MixHasher {
    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MIX_MULTIPLIER);
    }
}

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ bytes.len() as u64);
    }

    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.mix(word as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its bucket from the low bits.
        self.hash ^ (self.hash >> 29)
    }
}
