//! test_test.go's recording wrappers and its linearizability check.
//!
//! Every clerk call a scenario records goes through [`get`], [`put`] or [`append`]: they take
//! the time before and after the call (nanoseconds since the cluster was made: wall time, or
//! virtual time on the simulated cluster), count the operation for the pass line and, given
//! an [`OpLog`], add it to the history. At the end of a test [`OpLog::check`] asks the
//! linearizability checker about the whole history with the Lab 3 key/value model.

use std::path::Path;
use std::sync::Mutex;

use linearizability::models::kv::{KvModel, KvOperation};
use linearizability::{
    CheckOptions, CheckReport, CheckResult, HistoryError, check_operations, describe_failure, write_html,
};

use super::config::{Clerk, KvConfig, LINEARIZABILITY_CHECK_TIMEOUT};
use crate::Clock;

/// How a failure of the linearizability check begins: what `cargo xtask mutants` expects of
/// the raft-kv mutants, which only the checker judges.
pub const NOT_LINEARIZABLE: &str = "history is not linearizable";

/// What precedes the HTML page's path in the failure of [`OpLog::check`].
const PAGE_WRITTEN: &str = "wrote history visualization to ";

/// The HTML page a failure of [`OpLog::check`] says it wrote, if it says so: `None` for any
/// other failure, or when the page could not be written.
#[must_use]
pub fn history_page(failure: &str) -> Option<&Path> {
    let rest = failure.strip_prefix(NOT_LINEARIZABLE)?.strip_prefix(" (")?;
    let path = rest.strip_prefix(PAGE_WRITTEN)?;
    let end = path.find("): ")?;
    Some(Path::new(&path[..end]))
}

/// The history of a test: every recorded operation. The Lab 3 harness's clerks never give up,
/// so its operations are all complete; the process cluster's clients may give a write up, and
/// record it with an unknown end ([`INDEFINITE`]).
#[derive(Default)]
pub struct OpLog {
    operations: Mutex<Vec<KvOperation>>,
}

/// The return time of an operation whose outcome the client never learnt (it gave up after
/// its request reached a server): it may take effect at any time after its call, which a
/// return at the end of time says to the checker.
pub const INDEFINITE: u64 = u64::MAX;

impl OpLog {
    /// An empty history.
    #[must_use]
    pub fn new() -> OpLog {
        OpLog::default()
    }

    /// Adds one operation.
    pub fn push(&self, operation: KvOperation) {
        self.operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(operation);
    }

    /// How many operations it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.operations.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True if it holds none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the history so far.
    #[must_use]
    pub fn read(&self) -> Vec<KvOperation> {
        self.operations.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// porcupine's `CheckOperationsVerbose(models.KvModel, opLog.Read(), 1 s)`, as GenericTest
    /// runs it after its three rounds. A history that is not linearizable fails the test and
    /// is drawn as an HTML page, whose path the failure names, with every key that breaks. Stricter than Go: a check that
    /// runs out of time also fails (Go assumes such a history is fine).
    ///
    /// On virtual time the check has no time limit (a wall-clock limit would make a seed's
    /// verdict depend on the machine's load); it runs on one thread and gives up only at the
    /// checker's cache bound, which is deterministic, so a failed seed fails again on replay.
    pub fn check(&self, cfg: &KvConfig) {
        let history = self.read();
        // Every partition (key) decided, not only the first found illegal: which one a
        // parallel search finds first is a race, and a failure must read the same each time
        // the same history is checked (a seed's replay on virtual time compares it). Costs
        // nothing more on a linearizable history, whose every partition is decided anyway.
        let options = match cfg.tester().clock() {
            Clock::Real => CheckOptions {
                stop_at_first_illegal: false,
                ..CheckOptions::with_time_limit(LINEARIZABILITY_CHECK_TIMEOUT)
            },
            Clock::Virtual => CheckOptions {
                stop_at_first_illegal: false,
                threads: 1,
                ..CheckOptions::default()
            },
        };
        let page = std::env::temp_dir().join(format!(
            "raft-kv-history-{}-{}.html",
            cfg.tester().seed(),
            std::process::id()
        ));
        let checked = match check_kv_history(&history, &options, &page) {
            Ok(checked) => checked,
            Err(err) => panic!("the recorded history is malformed: {err}"),
        };
        let report = &checked.report;
        cfg.record_check(history.len(), report.elapsed);
        if !cfg.tester().is_quiet() {
            println!(
                "  info: linearizability check of {} operations: {:?} in {:.1} ms",
                history.len(),
                report.result,
                report.elapsed.as_secs_f64() * 1e3
            );
        }
        match (report.result, checked.failure) {
            (_, None) => {}
            (CheckResult::Unknown, Some(failure)) => {
                panic!("{failure} (the Go tester would assume the history is fine; this port fails it)")
            }
            (_, Some(failure)) => panic!("{failure}"),
        }
    }
}

/// What [`check_kv_history`] found: the checker's report, and why the history fails, if it
/// does.
#[derive(Debug)]
pub struct KvCheck {
    /// The checker's report.
    pub report: CheckReport,
    /// `None` if the history is linearizable; otherwise the failure: not linearizable
    /// (beginning with [`NOT_LINEARIZABLE`], naming the HTML page drawn and every key that
    /// breaks), or undecided.
    pub failure: Option<String>,
}

/// The linearizability check of a key/value history with the Lab 3 model, for every
/// harness (the Lab 3 tests' [`OpLog::check`] and the process cluster): a history that is
/// not linearizable is drawn as an HTML page at `page`, and its failure names the page and
/// describes each key that breaks; a check left undecided (time or cache bound) fails too.
///
/// # Errors
/// The history is malformed (an operation returns before its call).
pub fn check_kv_history(
    history: &[KvOperation],
    options: &CheckOptions,
    page: &Path,
) -> Result<KvCheck, HistoryError> {
    let report = check_operations(&KvModel, history, options)?;
    let failure = match report.result {
        CheckResult::Ok => None,
        CheckResult::Illegal => {
            let written = match write_html(page, &KvModel, history, &report) {
                Ok(path) => format!("{PAGE_WRITTEN}{}", path.display()),
                Err(err) => format!(
                    "failed to write history visualization to {}: {err}",
                    page.display()
                ),
            };
            let why = describe_failure(&KvModel, history, &report);
            Some(format!("{NOT_LINEARIZABLE} ({written}): {why}"))
        }
        CheckResult::Unknown => Some(format!(
            "linearizability check of {} operations undecided after {:.1} s",
            history.len(),
            report.elapsed.as_secs_f64()
        )),
    };
    Ok(KvCheck { report, failure })
}

/// test_test.go `Get`: a recorded `Get` by client `cli` (its number in the history).
pub fn get(cfg: &KvConfig, ck: &mut Clerk<'_>, key: &str, log: Option<&OpLog>, cli: usize) -> String {
    let start = cfg.now_ns();
    let value = ck.get(key);
    let end = cfg.now_ns();
    cfg.op();
    if let Some(log) = log {
        log.push(KvModel::get(cli, key, &value, start, end));
    }
    value
}

/// test_test.go `Put`: a recorded `Put` by client `cli`.
pub fn put(cfg: &KvConfig, ck: &mut Clerk<'_>, key: &str, value: &str, log: Option<&OpLog>, cli: usize) {
    let start = cfg.now_ns();
    ck.put(key, value);
    let end = cfg.now_ns();
    cfg.op();
    if let Some(log) = log {
        log.push(KvModel::put(cli, key, value, start, end));
    }
}

/// test_test.go `Append`: a recorded `Append` by client `cli`.
pub fn append(cfg: &KvConfig, ck: &mut Clerk<'_>, key: &str, value: &str, log: Option<&OpLog>, cli: usize) {
    let start = cfg.now_ns();
    ck.append(key, value);
    let end = cfg.now_ns();
    cfg.op();
    if let Some(log) = log {
        log.push(KvModel::append(cli, key, value, start, end));
    }
}

/// test_test.go `check`: an unrecorded `Get` (still counted) that must read `value`.
pub fn check(cfg: &KvConfig, ck: &mut Clerk<'_>, key: &str, value: &str) {
    let v = get(cfg, ck, key, None, 0);
    assert!(v == value, "Get({key}): expected:\n{value}\nreceived:\n{v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_read_back_from_the_checkers_failure_only() {
        let failure = format!("{NOT_LINEARIZABLE} ({PAGE_WRITTEN}/tmp/h-7-42.html): get(\"0\") read x");
        assert_eq!(history_page(&failure), Some(Path::new("/tmp/h-7-42.html")));
        let unwritten =
            format!("{NOT_LINEARIZABLE} (failed to write history visualization to /tmp/h.html: denied): x");
        assert_eq!(history_page(&unwritten), None);
        assert_eq!(history_page("get wrong value, key 0"), None);
    }
}
