//! # linearizability: does a concurrent history have a legal sequential order?
//!
//! A history is what the clients of a concurrent system saw: for each operation, its input,
//! the output it got, and the times it was called and returned. It is *linearizable*
//! (Herlihy & Wing 1990) when the operations can be put in one sequence that (1) keeps every
//! pair that did not overlap in real time in its real order and (2) is legal for the object's
//! sequential specification, a [`Model`]. This crate decides that question, the way the 6.824
//! Lab 3 tester does with porcupine, and draws a failing history as an HTML page.
//!
//! ```
//! use linearizability::models::kv::KvModel;
//! use linearizability::{check_operations, CheckOptions, CheckResult};
//!
//! // Client 0 puts "1" and is done at time 10; client 1 reads afterwards and sees "".
//! let history = vec![
//!     KvModel::put(0, "x", "1", 0, 10),
//!     KvModel::get(1, "x", "", 11, 20),
//! ];
//! let report = check_operations(&KvModel, &history, &CheckOptions::default()).unwrap();
//! assert_eq!(report.result, CheckResult::Illegal);
//! let broken = report.illegal_partitions().next().unwrap();
//! assert_eq!(broken.longest_prefix, vec![0]); // the put linearizes...
//! assert_eq!(broken.breaking_operation, Some(1)); // ...and the stale read cannot follow it.
//!
//! // Had the read overlapped the put, reading the old value would be fine.
//! let history = vec![
//!     KvModel::put(0, "x", "1", 0, 10),
//!     KvModel::get(1, "x", "", 5, 20),
//! ];
//! let report = check_operations(&KvModel, &history, &CheckOptions::default()).unwrap();
//! assert_eq!(report.result, CheckResult::Ok);
//! assert_eq!(report.partitions[0].longest_prefix, vec![1, 0]); // the witness: get, then put
//! ```
//!
//! ## The algorithm
//!
//! Wing & Gong (1993) search for a linearization by backtracking: repeatedly pick an operation
//! that may go next (one called before every unplaced operation's return), apply it to the
//! model, and undo the choice when no operation may follow. Lowe ("Testing for
//! linearizability", 2017) made this practical with two ideas this crate follows, as
//! porcupine does. The history becomes a list of call and return entries sorted by time; an
//! operation that is placed is unlinked from the list and relinked when the choice is undone,
//! so each step looks only at what is left. And a cache of `(set of operations placed, state)`
//! pairs prunes the search: two orders that place the same operations and reach equal states
//! have the same futures, so only the first is explored.
//!
//! One pruning is our own, and sound for any deterministic model: an operation that may go
//! next and leaves the state unchanged (a read of the current value) is placed at once,
//! without trying alternatives, because any order that places it later still works with it
//! moved to the front. It removes the plain search's most common wrong turn, a concurrent
//! write placed before a read that saw the old value ([`Model::may_leave_state_unchanged`]
//! says which inputs to try). The cache finds a pair by a Zobrist hash of the set, kept up to
//! date in O(1), mixed with the state's hash, and stores only the part of the set past its
//! leading run of placed operations; the key/value model's states share their text and carry
//! their hash. Each verdict is checked against trying every order on 2,000 small random
//! histories (tests/brute_force.rs).
//!
//! The problem is NP-complete (Gibbons & Korach 1997), and the search is exponential in the
//! worst case: appends in flight on one key are the hard case, since every order of them is a
//! different state. On the Lab 3 tests' histories, where few operations on one key overlap,
//! it is close to linear (docs/BENCHMARKS.md has figures).
//!
//! Horn & Kroening ("Faster linearizability checking via P-compositionality", 2015) observed
//! that a history of independent objects can be split and each part checked alone
//! (linearizability is local). [`Model::partition`] does the splitting (the key/value model
//! splits by key); the parts run on a few threads, largest first, and the first illegal part
//! stops the others ([`CheckOptions::stop_at_first_illegal`]).
//!
//! The answer is three-way ([`CheckResult`]): `Ok`, `Illegal`, or `Unknown` when the time
//! limit ([`CheckOptions::time_limit`], 1 s in the Lab 3 tester, which then passes the test)
//! or the cache bound ends the search first. The searches poll a stop flag at every step; a
//! stopped check returns once they have freed their caches (about a tenth of the limit for
//! the key/value model). Intervals are closed: an operation that returns at the very time
//! another is called counts as concurrent with it (see [`check`] for why). A [`CheckReport`]
//! carries, per partition, the longest linearizable prefix found and, for an illegal one, the
//! operation where it breaks; [`write_html`] draws them, and the Lab 3 tester prints the
//! path it returns.
//!
//! ## What is where
//!
//! - [`Model`]: the sequential specification; [`models::kv`] is the Lab 3 key/value model,
//!   [`models::register`] a plain register.
//! - [`Operation`], [`Event`]: histories; [`check_operations`], [`check_events`]: the checks.
//! - [`write_html`], [`describe_failure`]: a failing history as a page and as text;
//!   `cargo run -p linearizability --example failing_history` writes one.
//!
//! ## Pending operations
//!
//! A call that never returned, because its client gave up after sending it, may take effect
//! at any time after its call, or never: [`Operation::pending`] records it with the return
//! time [`NEVER_RETURNED`], which lets the search place it anywhere after its call, last of
//! all included. That is exact for an operation the model accepts whatever its output (a
//! write); a pending read is best left out. The page shows its return as "never returned".
//!
//! ## Left out
//!
//! Pending reads (see above), event histories with a call that never returns, models
//! with several possible next states (porcupine's `NondeterministicModel`), annotations on
//! the page, and a time limit inside a single `Model::step`: the search polls its stop flag
//! between steps, so one step must be quick.
#![forbid(unsafe_code)]

mod cache;
pub mod check;
mod entries;
pub mod history;
pub mod html;
pub mod model;
pub mod models;
mod search;

pub use check::{
    CheckOptions, CheckReport, CheckResult, PartitionReport, PartitionVerdict, Undecided, check_events,
    check_operations,
};
pub use history::{Event, EventKind, HistoryError, NEVER_RETURNED, Operation};
pub use html::{describe_failure, write_html};
pub use model::{Model, OperationOf};
