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

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cache::Cache;
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

/// Where the walk is.
#[derive(Clone, Copy)]
enum Cursor {
    /// A new configuration was reached: look for a state-preserving operation first.
    Fresh,
    /// Scanning the list at this node.
    At(usize),
    /// The current configuration has no completion: undo choices.
    Backtrack,
}

/// One choice on the search's stack.
struct Choice<S> {
    /// The call node of the operation placed.
    call: usize,
    /// The state before it.
    previous: S,
    /// Placed because it left the state unchanged: such a choice is never undone alone.
    preserving: bool,
}

/// The search's working state for one partition.
struct Search<'a, M: Model> {
    model: &'a M,
    operations: &'a [(&'a M::Input, &'a M::Output)],
    list: EntryList,
    linearized: Bitset,
    cache: Cache<M::State>,
    state: M::State,
    choices: Vec<Choice<M::State>>,
    /// The operations placed, in order (the stack's operations).
    order: Vec<usize>,
    longest: LongestPrefix,
    steps: u64,
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
    let mut search = Search {
        model,
        operations,
        list: EntryList::new(times),
        linearized: Bitset::new(operations.len()),
        cache: Cache::default(),
        state: model.init(),
        choices: Vec::with_capacity(operations.len()),
        order: Vec::with_capacity(operations.len()),
        longest: LongestPrefix {
            best: Vec::new(),
            agree: 0,
            breaking: None,
        },
        steps: 0,
    };
    let verdict = search.run(stop, cache_entries_max);
    SearchOutcome {
        verdict,
        longest_prefix: search.longest.best,
        breaking_operation: search.longest.breaking,
        steps: search.steps,
        cache_entries: search.cache.len(),
    }
}

impl<M: Model> Search<'_, M> {
    fn run(&mut self, stop: &AtomicBool, cache_entries_max: usize) -> SearchVerdict {
        let mut cursor = Cursor::Fresh;
        loop {
            if stop.load(Ordering::Relaxed) {
                return SearchVerdict::Cancelled;
            }
            if self.cache.len() > cache_entries_max {
                return SearchVerdict::CacheFull;
            }
            cursor = match cursor {
                Cursor::Fresh if self.list.first() == self.list.tail() => {
                    debug_assert_eq!(self.order.len(), self.operations.len(), "all placed");
                    return SearchVerdict::Linearizable;
                }
                Cursor::Fresh => self.place_state_preserving(),
                Cursor::At(node) => self.visit(node),
                Cursor::Backtrack => match self.backtrack() {
                    Some(cursor) => cursor,
                    None => return SearchVerdict::Illegal,
                },
            };
        }
    }

    /// Wing & Gong's step at one entry: a return ends this configuration; a call is placed if
    /// the model accepts it and the configuration it leads to is new.
    fn visit(&mut self, node: usize) -> Cursor {
        self.steps += 1;
        let op = self.list.operation(node);
        if self.list.kind(node) == EntryKind::Return {
            self.longest.blocked(self.order.len(), op);
            return Cursor::Backtrack;
        }
        let (input, output) = self.operations[op];
        let placed = match self.model.step(&self.state, input, output) {
            Some(next_state) => self.place(node, next_state, false),
            None => false,
        };
        if placed {
            Cursor::Fresh
        } else {
            Cursor::At(self.list.next(node))
        }
    }

    /// A pruning of our own, sound for any deterministic model: if an operation that may go
    /// next leaves the state unchanged (a read that returns the current value), placing it
    /// now loses nothing. Any completion that places it later still works with it moved to
    /// the front: the states after it are the same, and nothing unplaced had to precede it
    /// (it was called before every unplaced operation returned). So it is placed without
    /// trying alternatives, and if its configuration fails (now, or was already cached as
    /// failed) the configuration before it fails too. This removes the most common wrong
    /// turn of the plain search, placing a concurrent write before a read that saw the old
    /// value, whose cost is exponential in the number of operations in flight.
    fn place_state_preserving(&mut self) -> Cursor {
        let mut node = self.list.first();
        while self.list.kind(node) == EntryKind::Call {
            let (input, output) = self.operations[self.list.operation(node)];
            if !self.model.may_leave_state_unchanged(input) {
                node = self.list.next(node);
                continue;
            }
            self.steps += 1;
            match self.model.step(&self.state, input, output) {
                Some(next_state) if next_state == self.state => {
                    return if self.place(node, next_state, true) {
                        Cursor::Fresh
                    } else {
                        self.longest
                            .blocked(self.order.len(), self.first_return_operation());
                        Cursor::Backtrack
                    };
                }
                _ => node = self.list.next(node),
            }
        }
        Cursor::At(self.list.first())
    }

    /// The operation of the first return still in the list (the next deadline).
    fn first_return_operation(&self) -> usize {
        let mut node = self.list.first();
        while self.list.kind(node) == EntryKind::Call {
            node = self.list.next(node);
        }
        self.list.operation(node)
    }

    /// Places the call at `node`, reaching `next_state`, unless that configuration is cached;
    /// returns whether it did.
    fn place(&mut self, node: usize, next_state: M::State, preserving: bool) -> bool {
        let op = self.list.operation(node);
        self.linearized.set(op);
        if !self.cache.insert_if_new(&self.linearized, &next_state) {
            self.linearized.clear(op);
            return false;
        }
        let previous = std::mem::replace(&mut self.state, next_state);
        self.choices.push(Choice {
            call: node,
            previous,
            preserving,
        });
        self.order.push(op);
        self.longest.pushed(&self.order);
        self.list.lift(node);
        true
    }

    /// Undoes choices up to and including the last one that had alternatives, and resumes the
    /// scan after it; `None` when no choice is left (no linearization exists).
    fn backtrack(&mut self) -> Option<Cursor> {
        loop {
            let choice = self.choices.pop()?;
            self.state = choice.previous;
            let undone = self.order.pop().expect("one order entry per choice");
            self.linearized.clear(undone);
            self.longest.popped(self.order.len());
            self.list.unlift(choice.call);
            if !choice.preserving {
                return Some(Cursor::At(self.list.next(choice.call)));
            }
        }
    }
}
