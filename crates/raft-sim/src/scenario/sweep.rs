//! One scenario over many seeds, on every core: what a test, the `raft-sim --scenario`
//! command line and `cargo xtask mutants` run, and the summary of what it measured.

use std::fmt;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Failure, Figures, Named, Switches};
use crate::config::US_PER_MS;

/// What a sweep found: every failure (or the first, if it stopped there) and the figures of
/// every seed that passed, in seed order.
#[derive(Clone, Debug, Default)]
pub struct SweepReport {
    /// The failures, in seed order.
    pub failures: Vec<Failure>,
    /// Each passing seed's figures, in seed order.
    pub figures: Vec<(u64, Figures)>,
    /// Seeds run.
    pub seeds_run: u64,
}

/// Runs `scenario` with `switches` on `seeds`, on `threads` threads. With `stop_at_failure`
/// (a mutant run) the sweep stops soon after the first failure: seeds already started finish.
#[must_use]
pub fn sweep(
    scenario: &Named,
    switches: Switches,
    seeds: Range<u64>,
    threads: usize,
    stop_at_failure: bool,
) -> SweepReport {
    let next = AtomicU64::new(seeds.start);
    let done = AtomicU64::new(0);
    let report = Mutex::new(SweepReport::default());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        return;
                    }
                    let result = (scenario.run)(seed, switches, false);
                    done.fetch_add(1, Ordering::Relaxed);
                    let mut report = report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    match result {
                        Ok(figures) => report.figures.push((seed, figures)),
                        Err(failure) => {
                            report.failures.push(failure);
                            if stop_at_failure {
                                next.store(seeds.end, Ordering::Relaxed);
                            }
                        }
                    }
                }
            });
        }
    });
    let mut report = report
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    report.failures.sort_by_key(|f| f.seed);
    report.figures.sort_by_key(|(seed, _)| *seed);
    report.seeds_run = done.load(Ordering::Relaxed);
    report
}

/// The spread of one figure over a sweep: lowest, median, highest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    /// Lowest.
    pub min: u64,
    /// Median (the upper one of an even count).
    pub median: u64,
    /// Highest.
    pub max: u64,
}

impl Spread {
    /// The spread of `values` (zeros if there are none).
    #[must_use]
    pub fn of(mut values: Vec<u64>) -> Spread {
        values.sort_unstable();
        match (values.first(), values.last()) {
            (Some(min), Some(max)) => Spread {
                min: *min,
                median: values[values.len() / 2],
                max: *max,
            },
            _ => Spread::default(),
        }
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {} / {}", self.min, self.median, self.max)
    }
}

/// The figures of a sweep, each as a [`Spread`] (times in milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Seeds summed up.
    pub seeds: usize,
    /// [`Figures::terms_raised`].
    pub terms_raised: Spread,
    /// [`Figures::leader_changes`].
    pub leader_changes: Spread,
    /// [`Figures::settled_after_us`], in ms.
    pub settled_after_ms: Spread,
    /// [`Figures::commits`].
    pub commits: Spread,
    /// [`Figures::event_us`], in ms, over the seeds that have it.
    pub event_ms: Spread,
    /// [`Figures::reads_served`].
    pub reads_served: Spread,
}

impl Summary {
    /// The summary of `figures`.
    #[must_use]
    pub fn of(figures: &[(u64, Figures)]) -> Summary {
        let field =
            |f: fn(&Figures) -> Option<u64>| Spread::of(figures.iter().filter_map(|(_, x)| f(x)).collect());
        Summary {
            seeds: figures.len(),
            terms_raised: field(|f| Some(f.terms_raised)),
            leader_changes: field(|f| Some(f.leader_changes)),
            settled_after_ms: field(|f| Some(f.settled_after_us / US_PER_MS)),
            commits: field(|f| Some(f.commits)),
            event_ms: field(|f| f.event_us.map(|us| us / US_PER_MS)),
            reads_served: field(|f| Some(f.reads_served)),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seeds (min / median / max): terms raised {}; leader changes {}; settled after {} ms; \
             commits {}; scenario's own time {} ms; reads served {}",
            self.seeds,
            self.terms_raised,
            self.leader_changes,
            self.settled_after_ms,
            self.commits,
            self.event_ms,
            self.reads_served
        )
    }
}
