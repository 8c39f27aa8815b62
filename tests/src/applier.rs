//! The appliers of config.go, shared by both clusters: what every peer applied, and the checks
//! made of each apply.
//!
//! `applier` (2A-2C) checks every applied command against every other peer's at the same
//! index, and that indices arrive in order; `applierSnap` (2D) also requires each command to
//! follow the last one (or the snapshot) exactly, ingests snapshots, and asks for a snapshot
//! after every tenth command.
//!
//! An apply error fails the test at once, as Go's `log.Fatalf` in the applier goroutine ends
//! the run, on either clock:
//! - on virtual time the applier runs inside one event of the simulated world, as the
//!   world's service, and returns the error: the service's breach stops the world at that event
//!   and the scenario fails with the applier's message at its next wait (the world's fault,
//!   [`crate::sim`]), the other runs of the process going on;
//! - on the real cluster each peer's applier is a thread: it records the error and wakes every
//!   harness sleep; the sleeper, and every later harness call, panics with the message
//!   ([`Applier::error`], [`Applier::sleep`]). A scenario that does not reach the harness
//!   again is a hung test, which the watchdog ends ([`crate::real`]).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use raft_node::ApplyMsg;

use crate::config::as_int;

/// config.go's `SnapShotInterval`: the 2D applier snapshots after indices 9, 19, 29, ...
pub(crate) const SNAPSHOT_INTERVAL: u64 = 10;

/// What the appliers record: each peer's applied commands by index, and the first error.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) logs: Vec<HashMap<u64, Vec<u8>>>,
    /// The last index each peer applied (2D: commands must follow it exactly).
    last_applied: Vec<u64>,
    pub(crate) apply_err: Option<String>,
    pub(crate) max_index: u64,
}

/// The appliers of every peer of one cluster.
pub(crate) struct Applier {
    /// 2D: snapshot every `SNAPSHOT_INTERVAL` commands and check the strict order.
    snapshot: bool,
    applied: Mutex<Applied>,
    /// Notified when the first apply error is recorded: real-time harness sleeps wait on it.
    failed: Condvar,
}

/// A snapshot the 2D applier asks its peer to take: the index it covers and the data.
pub(crate) type SnapshotRequest = (u64, Vec<u8>);

impl Applier {
    pub(crate) fn new(n: usize, snapshot: bool) -> Applier {
        Applier {
            snapshot,
            applied: Mutex::new(Applied {
                logs: vec![HashMap::new(); n],
                last_applied: vec![0; n],
                ..Applied::default()
            }),
            failed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One message from peer `i`'s apply channel. Returns the snapshot the service wants
    /// the peer to take, if any.
    ///
    /// # Errors
    /// The applier's message if `msg` breaks one of its rules; the error is also recorded
    /// (and wakes every real-time harness sleep), so the test fails at once on either clock.
    pub(crate) fn apply(&self, i: usize, msg: ApplyMsg) -> Result<Option<SnapshotRequest>, String> {
        let mut a = self.lock();
        let (err, snap) = match msg {
            ApplyMsg::Command { index, command, .. } => {
                apply_command(&mut a, i, index.0, command.to_vec(), self.snapshot)
            }
            ApplyMsg::Snapshot { index, data, .. } if self.snapshot => {
                (ingest_snap(&mut a, i, &data, Some(index.0)).err(), None)
            }
            ApplyMsg::Snapshot { .. } => (None, None),
            ApplyMsg::Read { id, result } => (
                Some(format!(
                    "server {i}: the outcome of read {id:?} ({result:?}), which Lab 2 never asks for"
                )),
                None,
            ),
        };
        let Some(err) = err else {
            return Ok(snap);
        };
        if a.apply_err.is_none() {
            eprintln!("apply error: {err}");
            a.apply_err = Some(err.clone());
            self.failed.notify_all();
        }
        Err(err)
    }

    /// The first apply error, if any: the test has failed.
    pub(crate) fn error(&self) -> Option<String> {
        self.lock().apply_err.clone()
    }

    /// Sleeps `duration` of wall time, or less if an apply error is recorded meanwhile;
    /// returns the error, if any.
    pub(crate) fn sleep(&self, duration: Duration) -> Option<String> {
        let a = self.lock();
        let (a, _) = self
            .failed
            .wait_timeout_while(a, duration, |a| a.apply_err.is_none())
            .unwrap_or_else(|e| e.into_inner());
        a.apply_err.clone()
    }

    /// start1's "mimic KV server and process snapshot now": peer `i`'s service restarts from
    /// the snapshot it persisted (empty data: from nothing).
    pub(crate) fn restart(&self, i: usize, snapshot: Option<&[u8]>) {
        let mut a = self.lock();
        a.last_applied[i] = 0;
        if let Some(data) = snapshot.filter(|d| !d.is_empty())
            && let Err(err) = ingest_snap(&mut a, i, data, None)
        {
            panic!("{err}");
        }
    }
}

/// One command at the applier: `applierSnap`'s strict order check in 2D, then checkLogs; in
/// 2D, the snapshot to take when the index is the ninth of ten.
fn apply_command(
    a: &mut Applied,
    i: usize,
    index: u64,
    command: Vec<u8>,
    snapshot: bool,
) -> (Option<String>, Option<SnapshotRequest>) {
    if !snapshot {
        return (check_logs(a, i, index, command), None);
    }
    let expected = a.last_applied[i] + 1;
    let mut err = (index != expected)
        .then(|| format!("server {i} apply out of order, expected index {expected}, got {index}"));
    if err.is_none() {
        err = check_logs(a, i, index, command);
    }
    a.last_applied[i] = index;
    let snap = (index + 1).is_multiple_of(SNAPSHOT_INTERVAL).then(|| {
        let xlog: Vec<Option<Vec<u8>>> = (0..=index).map(|j| a.logs[i].get(&j).cloned()).collect();
        let data = postcard::to_stdvec(&(index, xlog)).expect("a snapshot encodes");
        (index, data)
    });
    (err, snap)
}

/// ingestSnap: the service's state becomes the snapshot's: the commands through its last
/// included index, which must match `index` when the snapshot came on the apply channel.
fn ingest_snap(a: &mut Applied, i: usize, data: &[u8], index: Option<u64>) -> Result<(), String> {
    let (last_included_index, xlog): (u64, Vec<Option<Vec<u8>>>) =
        postcard::from_bytes(data).map_err(|e| format!("snapshot Decode() error: {e}"))?;
    if index.is_some_and(|index| index != last_included_index) {
        return Err(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
    }
    a.logs[i] = xlog
        .into_iter()
        .enumerate()
        .filter_map(|(j, c)| c.map(|c| (j as u64, c)))
        .collect();
    a.last_applied[i] = last_included_index;
    Ok(())
}

/// checkLogs: records peer `i`'s apply of `command` at `index`; an error if another peer
/// applied something else there, or if `index` arrived before `index - 1`.
fn check_logs(a: &mut Applied, i: usize, index: u64, command: Vec<u8>) -> Option<String> {
    for (j, log) in a.logs.iter().enumerate() {
        if let Some(old) = log.get(&index)
            && *old != command
        {
            return Some(format!(
                "commit index={index} server={i} {} != server={j} {}",
                show(&command),
                show(old)
            ));
        }
    }
    let prev_ok = index <= 1 || a.logs[i].contains_key(&(index - 1));
    a.logs[i].insert(index, command);
    a.max_index = a.max_index.max(index);
    (!prev_ok).then(|| format!("server {i} apply out of order {index}"))
}

/// A command for messages: the integer if it is one, else its length.
pub(crate) fn show(command: &[u8]) -> String {
    as_int(command).map_or_else(|| format!("<{} bytes>", command.len()), |x| x.to_string())
}

#[cfg(test)]
mod tests {
    //! An apply error on virtual time stops the simulated world at the event whose apply broke
    //! the rule, and fails that run alone, with the applier's message.

    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::Duration;

    use super::Applied;
    use crate::runner::run_simulated;
    use crate::scenarios::{self, Scenario};
    use crate::{Config, Report, Tester, cmd, panic_message};

    /// Seed 1, three reliable peers: a leader is elected, `corrupt` tampers with what the
    /// appliers recorded (told which peer leads), the leader takes `cmd(101)` (index 1), and
    /// the scenario sleeps `sleep` of virtual time. Returns the scenario's failure, if any,
    /// and the run's report.
    fn run(
        snapshots: bool,
        corrupt: fn(&mut Applied, usize),
        sleep: Option<Duration>,
    ) -> (Option<String>, Report) {
        let t = Tester::simulated(1).quiet();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let cfg = if snapshots {
                Config::with_snapshots(&t, 3, false)
            } else {
                Config::new(&t, 3, false)
            };
            let leader = cfg.check_one_leader();
            corrupt(&mut cfg.applier().lock(), leader);
            let (index, _) = cfg.start(leader, &cmd(101)).expect("the leader takes a command");
            assert_eq!(index, 1);
            if let Some(sleep) = sleep {
                cfg.sleep(sleep);
            }
        }));
        (result.err().map(|p| panic_message(p.as_ref())), t.report())
    }

    /// Another peer of `leader` is recorded as having applied 999 at index 1.
    fn other_applied_999(a: &mut Applied, leader: usize) {
        a.logs[(leader + 1) % 3].insert(1, cmd(999));
    }

    /// `leader` is recorded as having applied through index 5 already (2D's strict order).
    fn leader_applied_through_5(a: &mut Applied, leader: usize) {
        a.last_applied[leader] = 5;
    }

    fn untouched(_: &mut Applied, _: usize) {}

    /// The failure of a run that corrupts with `corrupt`, checked against two runs of the same
    /// seed left alone: one that stops where the sleep would begin, one that sleeps.
    fn fails_at_the_event(snapshots: bool, corrupt: fn(&mut Applied, usize)) -> String {
        let sleep = Some(Duration::from_secs(5));
        let (none, before_sleep) = run(snapshots, untouched, None);
        let (none_either, slept) = run(snapshots, untouched, sleep);
        assert_eq!((none, none_either), (None, None), "the untouched runs pass");
        let (failure, failed) = run(snapshots, corrupt, sleep);
        let failure = failure.expect("a broken applier rule fails the scenario");
        // The same seed runs the same events up to the apply that breaks the rule: then the
        // world stops. Committing index 1 takes one round trip on the reliable network, three
        // events at one instant (the request handled by each follower, the first reply, on
        // which the leader commits and applies), where the sleep left alone runs five seconds
        // of ticks and heartbeats.
        let after = failed.events - before_sleep.events;
        assert!(
            failed.events > before_sleep.events && after <= 3,
            "the world ran {after} events past the apply: it did not stop there"
        );
        assert!(
            slept.events > failed.events + 1000,
            "left alone, the sleep runs on: {} events against {}",
            slept.events,
            failed.events
        );
        failure
    }

    #[test]
    fn a_value_that_differs_at_an_index_stops_the_world_at_that_apply() {
        let t = Tester::simulated(1).quiet();
        let leader = Config::new(&t, 3, false).check_one_leader();
        let failure = fails_at_the_event(false, other_applied_999);
        let other = (leader + 1) % 3;
        assert_eq!(
            failure,
            format!("6.824 applier: commit index=1 server={leader} 101 != server={other} 999")
        );
    }

    #[test]
    fn a_command_out_of_the_strict_2d_order_stops_the_world_at_that_apply() {
        let t = Tester::simulated(1).quiet();
        let leader = Config::with_snapshots(&t, 3, false).check_one_leader();
        let failure = fails_at_the_event(true, leader_applied_through_5);
        assert_eq!(
            failure,
            format!("6.824 applier: server {leader} apply out of order, expected index 6, got 1")
        );
    }

    /// A scenario whose leader finds index 1 already applied differently elsewhere, then
    /// would wait for agreement.
    fn a_differing_apply(t: &Tester) {
        let cfg = Config::new(t, 3, false);
        let leader = cfg.check_one_leader();
        other_applied_999(&mut cfg.applier().lock(), leader);
        cfg.one(&cmd(101), 3, false);
        cfg.end();
    }

    #[test]
    fn an_apply_error_fails_its_run_alone_and_the_next_run_passes() {
        let broken = Scenario {
            name: "ADifferingApply",
            part: "test",
            run: a_differing_apply,
        };
        let outcome = run_simulated(broken, 1, true);
        let failure = outcome.failure.as_deref().expect("the run fails");
        assert!(
            failure.starts_with("6.824 applier: commit index=1 server="),
            "the applier's message: {failure}"
        );
        assert!(outcome.report.figures.is_none(), "no pass line");
        let basic = scenarios::find("TestBasicAgree2B").expect("the scenario exists");
        let next = run_simulated(basic, 1, true);
        assert!(next.failure.is_none(), "{}", next.failure_report());
    }
}
