//! The checker's driver: partition the history, search each partition on a small pool of
//! threads under one time limit, and fold the answers into a three-way verdict.
//!
//! Real-time order and ties: an operation precedes another only if it returned strictly
//! before the other was called. On equal times the call sorts before the return, so touching
//! intervals count as concurrent. Times come from a clock of finite resolution: two readings
//! that are equal do not say which came first, and treating them as concurrent can only allow
//! more orders, so the checker never reports a violation that a finer clock would not. This is
//! porcupine's rule (its fix of 2021, which the lab's copy has). A zero-length operation also
//! needs it: its call must come before its own return.
//!
//! Verdict: [`CheckResult::Illegal`] if any partition was found illegal, else
//! [`CheckResult::Unknown`] if any partition was left undecided (time limit, cache bound, or
//! stopped after another partition failed), else [`CheckResult::Ok`]. Each partition's search
//! is deterministic, so without a time limit the verdict and every partition's report are the
//! same on every run whatever the thread count; a time limit makes only the Ok/Unknown line
//! depend on the machine's speed.

use std::cmp::Reverse;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::history::{self, Event, HistoryError, Operation};
use crate::model::{Model, OperationOf};
use crate::search::{self, SearchOutcome, SearchVerdict};

/// The most worker threads a check starts, whatever the machine offers.
pub const THREADS_MAX: usize = 8;

/// The default bound on cached `(set, state)` pairs per partition. An entry costs about 50
/// bytes plus its state's own heap (a key/value state is its value's text), so this is a few
/// hundred MB for small states; the searches the Lab 3 tester allows one second make about
/// a million entries.
pub const CACHE_ENTRIES_MAX: usize = 5_000_000;

/// How a check runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Give up with [`CheckResult::Unknown`] after this long (the Lab 3 tester allows 1 s);
    /// `None` searches to the end.
    pub time_limit: Option<Duration>,
    /// Stop every other partition as soon as one is found illegal (the verdict is then
    /// known); `false` decides every partition, for a fuller report.
    pub stop_at_first_illegal: bool,
    /// Worker threads; 0 means the machine's parallelism, at most [`THREADS_MAX`].
    pub threads: usize,
    /// Cached pairs per partition before that partition is given up as undecided.
    pub cache_entries_max: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            time_limit: None,
            stop_at_first_illegal: true,
            threads: 0,
            cache_entries_max: CACHE_ENTRIES_MAX,
        }
    }
}

impl CheckOptions {
    /// The defaults with a time limit.
    pub fn with_time_limit(time_limit: Duration) -> Self {
        Self {
            time_limit: Some(time_limit),
            ..Self::default()
        }
    }

    fn worker_threads(&self, partitions: usize) -> usize {
        let wanted = match self.threads {
            0 => thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        wanted.clamp(1, THREADS_MAX).min(partitions.max(1))
    }
}

/// The verdict on a whole history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Every partition has a linearization.
    Ok,
    /// Some partition has none: the history is not linearizable.
    Illegal,
    /// The check ended before deciding (time limit or cache bound) and found nothing illegal.
    Unknown,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "linearizable",
            Self::Illegal => "not linearizable",
            Self::Unknown => "unknown (the check ended before deciding)",
        })
    }
}

/// Why a partition was left undecided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecided {
    /// The time limit ran out.
    TimeLimit,
    /// Another partition was found illegal and the check stopped early.
    StoppedAfterIllegal,
    /// The partition's cache reached [`CheckOptions::cache_entries_max`].
    CacheFull,
}

/// The verdict on one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionVerdict {
    /// Linearizable; the longest prefix is a whole linearization.
    Ok,
    /// Not linearizable.
    Illegal,
    /// Not decided, and why.
    Unknown(Undecided),
}

/// What the check found in one partition. Operation numbers are indices into the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition's operations, as the model's `partition` listed them.
    pub operations: Vec<usize>,
    /// The partition's verdict.
    pub verdict: PartitionVerdict,
    /// The longest sequence of operations found to linearize, in linearization order (for an
    /// Ok partition, a whole linearization; for an undecided one, the longest seen so far).
    pub longest_prefix: Vec<usize>,
    /// For an Illegal partition, the operation that cannot follow the longest prefix: its
    /// response arrived before any legal order could place it.
    pub breaking_operation: Option<usize>,
    /// Entries the search visited.
    pub steps: u64,
    /// `(set, state)` pairs the search cached.
    pub cache_entries: usize,
}

/// What a check found: the verdict, and per partition (in the model's order) the details.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The verdict on the whole history.
    pub result: CheckResult,
    /// One report per partition.
    pub partitions: Vec<PartitionReport>,
    /// Wall time of the whole check.
    pub elapsed: Duration,
}

impl CheckReport {
    /// The partitions found illegal.
    pub fn illegal_partitions(&self) -> impl Iterator<Item = &PartitionReport> {
        self.partitions
            .iter()
            .filter(|p| p.verdict == PartitionVerdict::Illegal)
    }
}

/// Checks an operation history against `model`.
///
/// # Errors
/// [`HistoryError`] if an operation returns before it is called.
///
/// # Panics
/// If the model's `partition` does not list every operation exactly once (a bug in the model).
pub fn check_operations<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    history::validate(history)?;
    let started = Instant::now();
    let partitions = model.partition(history);
    assert_partition_covers(&partitions, history.len());
    let (outcomes, stop_reason) = run_partitions(model, history, &partitions, options, started);
    let reports: Vec<PartitionReport> = partitions
        .into_iter()
        .zip(outcomes)
        .map(|(operations, outcome)| partition_report(operations, outcome, stop_reason))
        .collect();
    let result = if reports.iter().any(|p| p.verdict == PartitionVerdict::Illegal) {
        CheckResult::Illegal
    } else if reports.iter().all(|p| p.verdict == PartitionVerdict::Ok) {
        CheckResult::Ok
    } else {
        CheckResult::Unknown
    };
    Ok(CheckReport {
        result,
        partitions: reports,
        elapsed: started.elapsed(),
    })
}

/// Checks an event history: converts it with [`history::operations_from_events`] (an event's
/// position is its time) and checks the operations, which are returned with the report so
/// the report's indices can be read (and drawn with [`crate::write_html`]).
///
/// # Errors
/// [`HistoryError`] if the events do not pair into complete operations.
pub fn check_events<M: Model>(
    model: &M,
    events: Vec<Event<M::Input, M::Output>>,
    options: &CheckOptions,
) -> Result<(CheckReport, Vec<OperationOf<M>>), HistoryError> {
    let operations = history::operations_from_events(events)?;
    let report = check_operations(model, &operations, options)?;
    Ok((report, operations))
}

fn assert_partition_covers(partitions: &[Vec<usize>], operations: usize) {
    let mut seen = vec![false; operations];
    for &op in partitions.iter().flatten() {
        assert!(
            op < operations,
            "Model::partition lists operation {op} of {operations}"
        );
        assert!(!seen[op], "Model::partition lists operation {op} twice");
        seen[op] = true;
    }
    let missing = seen.iter().position(|&s| !s);
    assert!(
        missing.is_none(),
        "Model::partition leaves out operation {missing:?}"
    );
}

/// Why the collector stopped the workers, if it did.
#[derive(Clone, Copy)]
enum StopReason {
    None,
    TimeLimit,
    Illegal,
}

/// Searches every partition on the worker pool; a partition never started has no outcome.
fn run_partitions<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partitions: &[Vec<usize>],
    options: &CheckOptions,
    started: Instant,
) -> (Vec<Option<SearchOutcome>>, StopReason) {
    let deadline = options.time_limit.map(|limit| started + limit);
    // Largest first, so a big partition does not start last and hold up the end.
    let mut work: Vec<usize> = (0..partitions.len()).collect();
    work.sort_by_key(|&p| Reverse(partitions[p].len()));
    let stop = AtomicBool::new(false);
    let next_work = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, SearchOutcome)>();
    let mut outcomes: Vec<Option<SearchOutcome>> = vec![None; partitions.len()];
    let mut stop_reason = StopReason::None;
    thread::scope(|scope| {
        for _ in 0..options.worker_threads(partitions.len()) {
            let sender = sender.clone();
            let (stop, next_work, work) = (&stop, &next_work, &work);
            scope.spawn(move || {
                while let Some(&p) = work.get(next_work.fetch_add(1, Ordering::Relaxed)) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let outcome = search_partition(model, history, &partitions[p], stop, options);
                    if sender.send((p, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for _ in 0..partitions.len() {
            let received = match deadline {
                Some(deadline) => receiver
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .map_err(|e| matches!(e, mpsc::RecvTimeoutError::Timeout)),
                None => receiver.recv().map_err(|_| false),
            };
            match received {
                Ok((p, outcome)) => {
                    let illegal = outcome.verdict == SearchVerdict::Illegal;
                    outcomes[p] = Some(outcome);
                    if illegal && options.stop_at_first_illegal {
                        stop_reason = StopReason::Illegal;
                        break;
                    }
                }
                Err(timed_out) => {
                    if timed_out {
                        stop_reason = StopReason::TimeLimit;
                    }
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    // Searches that ended while the workers were being stopped: their answers are as true as
    // any other (a cancelled search says so in its verdict).
    for (p, outcome) in receiver.try_iter() {
        outcomes[p] = Some(outcome);
    }
    (outcomes, stop_reason)
}

/// Searches one partition; the outcome's operations are indices into `history`.
///
/// The search numbers the partition's operations by call time, which keeps the sets it caches
/// close to a prefix (see `Bitset::window`).
fn search_partition<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition: &[usize],
    stop: &AtomicBool,
    options: &CheckOptions,
) -> SearchOutcome {
    let mut by_call: Vec<usize> = partition.to_vec();
    by_call.sort_by_key(|&i| (history[i].call_time, i));
    let operations: Vec<(&M::Input, &M::Output)> = by_call
        .iter()
        .map(|&i| (&history[i].input, &history[i].output))
        .collect();
    let times: Vec<(u64, u64)> = by_call
        .iter()
        .map(|&i| (history[i].call_time, history[i].return_time))
        .collect();
    let mut outcome = search::search(model, &operations, &times, stop, options.cache_entries_max);
    for op in &mut outcome.longest_prefix {
        *op = by_call[*op];
    }
    outcome.breaking_operation = outcome.breaking_operation.map(|op| by_call[op]);
    outcome
}

fn partition_report(
    operations: Vec<usize>,
    outcome: Option<SearchOutcome>,
    stop_reason: StopReason,
) -> PartitionReport {
    let undecided = match stop_reason {
        StopReason::Illegal => Undecided::StoppedAfterIllegal,
        StopReason::TimeLimit | StopReason::None => Undecided::TimeLimit,
    };
    let Some(outcome) = outcome else {
        return PartitionReport {
            operations,
            verdict: PartitionVerdict::Unknown(undecided),
            longest_prefix: Vec::new(),
            breaking_operation: None,
            steps: 0,
            cache_entries: 0,
        };
    };
    let verdict = match outcome.verdict {
        SearchVerdict::Linearizable => PartitionVerdict::Ok,
        SearchVerdict::Illegal => PartitionVerdict::Illegal,
        SearchVerdict::Cancelled => PartitionVerdict::Unknown(undecided),
        SearchVerdict::CacheFull => PartitionVerdict::Unknown(Undecided::CacheFull),
    };
    PartitionReport {
        longest_prefix: outcome.longest_prefix,
        breaking_operation: match verdict {
            PartitionVerdict::Illegal => outcome.breaking_operation,
            _ => None,
        },
        verdict,
        steps: outcome.steps,
        cache_entries: outcome.cache_entries,
        operations,
    }
}
