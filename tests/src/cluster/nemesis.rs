//! The nemesis: rounds of faults against a [`ProcessCluster`] while the clients run. Each
//! round injects one fault, waits, and heals it; [`Nemesis::settle`] then heals everything
//! and waits for a leader, so that every round starts from a whole cluster.
//!
//! Faults ([`FaultKind`]): SIGKILL of the leader or of any node, then a restart on the same
//! directory; SIGSTOP of a node, then SIGCONT; the leader cut off from both others; a partial
//! partition (two nodes cut from each other while the third sees both, or one direction of
//! one link cut); one link cut both ways; SIGTERM of a node (it must exit 0), then a restart.
//!
//! A leader's SIGKILL is timed: its failover is the time from the SIGKILL to the first write
//! called after it that is acknowledged while the old leader is still down (so by a new
//! leader); see [`failovers`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use linearizability::models::kv::{KvInput, KvOperation};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::workload::Recorder;
use super::{ProcessCluster, Stopped, describe_status};
use crate::kv::INDEFINITE;

/// How long a round waits for a leader before its fault, and [`Nemesis::settle`] after it.
pub const LEADER_WAIT: Duration = Duration::from_secs(15);

/// The longest a leader's SIGKILL waits for a write acknowledged by a new leader before the
/// old one is restarted anyway.
pub const FAILOVER_WAIT_MAX: Duration = Duration::from_secs(15);

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL of the leader, restart after a new leader acknowledged a write.
    KillLeader,
    /// SIGKILL of a random node (the leader, maybe), restart.
    KillNode,
    /// SIGSTOP of a random node (the leader, maybe), SIGCONT.
    Pause,
    /// The leader cut from both other nodes (clients still reach it), healed.
    IsolateLeader,
    /// Two nodes cut from each other while the third sees both, or one direction of one
    /// link cut; healed.
    PartialPartition,
    /// The link between the leader and a follower cut both ways, healed.
    CutLink,
    /// SIGTERM of a random node (it must stop cleanly, exit 0), restart.
    Restart,
}

impl FaultKind {
    /// The kinds a jepsen run cycles through.
    pub const JEPSEN: [FaultKind; 7] = [
        FaultKind::KillLeader,
        FaultKind::KillNode,
        FaultKind::Pause,
        FaultKind::IsolateLeader,
        FaultKind::PartialPartition,
        FaultKind::CutLink,
        FaultKind::Restart,
    ];

    /// What the summary calls it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill -9 of the leader",
            FaultKind::KillNode => "kill -9 of a node",
            FaultKind::Pause => "pause (SIGSTOP)",
            FaultKind::IsolateLeader => "leader isolated",
            FaultKind::PartialPartition => "partial partition",
            FaultKind::CutLink => "link cut",
            FaultKind::Restart => "restart (SIGTERM)",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The kinds of `rounds` rounds: [`FaultKind::JEPSEN`] shuffled, again and again, so that
/// every kind comes once in each stretch of seven rounds.
#[must_use]
pub fn schedule(rounds: usize, rng: &mut SmallRng) -> Vec<FaultKind> {
    let mut out = Vec::with_capacity(rounds);
    while out.len() < rounds {
        let mut cycle = FaultKind::JEPSEN;
        cycle.shuffle(rng);
        out.extend(cycle.iter().take(rounds - out.len()));
    }
    out
}

/// A leader's SIGKILL: when it was sent and when the node was started again (history clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderKill {
    /// Just before the SIGKILL.
    pub killed_ns: u64,
    /// Just before the restart.
    pub restarted_ns: u64,
}

/// The failover of each leader SIGKILL that has one: from the SIGKILL to the acknowledgement
/// of the first write called after it, acknowledged before the old leader came back. The
/// second number counts the kills with no such write (not measured).
#[must_use]
pub fn failovers(history: &[KvOperation], kills: &[LeaderKill]) -> (Vec<Duration>, usize) {
    let mut measured = Vec::new();
    let mut unmeasured = 0;
    for kill in kills {
        let first = history
            .iter()
            .filter(|op| matches!(op.input, KvInput::Put { .. } | KvInput::Append { .. }))
            .filter(|op| op.return_time != INDEFINITE)
            .filter(|op| op.call_time >= kill.killed_ns && op.return_time <= kill.restarted_ns)
            .map(|op| op.return_time)
            .min();
        match first {
            Some(ret) => measured.push(Duration::from_nanos(ret - kill.killed_ns)),
            None => unmeasured += 1,
        }
    }
    (measured, unmeasured)
}

/// What the nemesis did and saw.
#[derive(Clone, Debug, Default)]
pub struct NemesisLog {
    /// Faults injected, per kind.
    pub counts: BTreeMap<FaultKind, u64>,
    /// Every SIGKILL of a leader.
    pub leader_kills: Vec<LeaderKill>,
    /// Every SIGTERM: the node and how it ended.
    pub stops: Vec<(usize, Stopped)>,
    /// What went wrong (no leader in time, a node that would not restart, an unclean stop):
    /// each fails the run.
    pub problems: Vec<String>,
    /// One line per step, in order, with its time.
    pub events: Vec<String>,
}

/// The nemesis of one run; see the [module](self) documentation.
pub struct Nemesis<'a> {
    cluster: &'a mut ProcessCluster,
    recorder: Arc<Recorder>,
    rng: SmallRng,
    /// How long a fault lasts.
    fault_for: Duration,
    verbose: bool,
    log: NemesisLog,
}

impl<'a> Nemesis<'a> {
    /// A nemesis over `cluster`, timing against `recorder`'s clock, drawing its targets from
    /// `seed`; each fault lasts `fault_for`. With `verbose`, every step is printed to stderr
    /// as it happens.
    pub fn new(
        cluster: &'a mut ProcessCluster,
        recorder: Arc<Recorder>,
        seed: u64,
        fault_for: Duration,
        verbose: bool,
    ) -> Nemesis<'a> {
        Nemesis {
            cluster,
            recorder,
            rng: SmallRng::seed_from_u64(seed),
            fault_for,
            verbose,
            log: NemesisLog::default(),
        }
    }

    /// The cluster.
    pub fn cluster(&mut self) -> &mut ProcessCluster {
        self.cluster
    }

    /// How long each fault lasts.
    #[must_use]
    pub fn fault_for(&self) -> Duration {
        self.fault_for
    }

    /// What it did so far.
    #[must_use]
    pub fn log(&self) -> &NemesisLog {
        &self.log
    }

    /// Ends the nemesis, giving back what it did.
    #[must_use]
    pub fn finish(self) -> NemesisLog {
        self.log
    }

    /// Notes a step (and prints it when verbose).
    pub fn event(&mut self, what: impl fmt::Display) {
        let line = format!("{:8.3} s  {what}", self.recorder.now_ns() as f64 / 1e9);
        if self.verbose {
            eprintln!("{line}");
        }
        self.log.events.push(line);
    }

    fn problem(&mut self, what: String) {
        self.event(format_args!("PROBLEM: {what}"));
        self.log.problems.push(what);
    }

    /// The leader, waited for up to [`LEADER_WAIT`]; a problem if there is none.
    fn leader(&mut self) -> Option<usize> {
        let leader = self.cluster.wait_leader(LEADER_WAIT);
        if leader.is_none() {
            self.problem(format!("no leader within {LEADER_WAIT:?}"));
        }
        leader
    }

    fn random_node(&mut self) -> usize {
        self.rng.random_range(0..self.cluster.n())
    }

    /// A node other than `id`.
    fn other_than(&mut self, id: usize) -> usize {
        let n = self.cluster.n();
        (id + self.rng.random_range(1..n.max(2))) % n
    }

    /// Restarts node `id`; a problem if it does not come back.
    fn restart(&mut self, id: usize) {
        self.event(format_args!("restart n{id}"));
        if let Err(err) = self.cluster.restart(id) {
            self.problem(format!("n{id} did not restart: {err}"));
        }
    }

    /// One round: `kind`'s fault, its duration, its end. Node-level failures become
    /// problems in the log (the run goes on, healed, and fails at the end).
    pub fn round(&mut self, kind: FaultKind) {
        // Pauses and link cuts are counted by the steps that make them (a demo calls those
        // directly).
        if !matches!(kind, FaultKind::Pause | FaultKind::CutLink) {
            self.count(kind);
        }
        let fault_for = self.fault_for;
        match kind {
            FaultKind::KillLeader => {
                let Some(leader) = self.leader() else { return };
                let killed_ns = self.recorder.now_ns();
                self.event(format_args!("SIGKILL n{leader} (the leader)"));
                if let Err(err) = self.cluster.kill9(leader) {
                    self.problem(format!("SIGKILL of n{leader} failed: {err}"));
                    return;
                }
                let started = Instant::now();
                thread::sleep(fault_for);
                while !self.recorder.write_acknowledged_since(killed_ns)
                    && started.elapsed() < FAILOVER_WAIT_MAX
                {
                    thread::sleep(Duration::from_millis(20));
                }
                let new_leader = self.cluster.leader();
                self.event(format_args!(
                    "new leader: {}",
                    new_leader.map_or_else(|| "none".to_owned(), |l| format!("n{l}"))
                ));
                let restarted_ns = self.recorder.now_ns();
                self.log.leader_kills.push(LeaderKill {
                    killed_ns,
                    restarted_ns,
                });
                self.restart(leader);
            }
            FaultKind::KillNode => {
                let id = self.random_node();
                self.event(format_args!("SIGKILL n{id}"));
                if let Err(err) = self.cluster.kill9(id) {
                    self.problem(format!("SIGKILL of n{id} failed: {err}"));
                    return;
                }
                thread::sleep(fault_for);
                self.restart(id);
            }
            FaultKind::Pause => {
                let id = self.random_node();
                self.pause(id, fault_for);
            }
            FaultKind::IsolateLeader => {
                let Some(leader) = self.leader() else { return };
                self.event(format_args!(
                    "isolate n{leader} (the leader) from the other nodes"
                ));
                self.cluster.isolate(leader);
                thread::sleep(fault_for);
                self.event("heal");
                self.cluster.heal();
            }
            FaultKind::PartialPartition => {
                let a = self.random_node();
                let c = self.other_than(a);
                if self.rng.random_bool(0.5) {
                    self.event(format_args!("cut n{a} <-> n{c}; the third node sees both"));
                    self.cluster.cut(a, c);
                } else {
                    self.event(format_args!("cut n{a} -> n{c} only (n{c} still reaches n{a})"));
                    self.cluster.cut_one_way(a, c);
                }
                thread::sleep(fault_for);
                self.event("heal");
                self.cluster.heal();
            }
            FaultKind::CutLink => {
                let Some(leader) = self.leader() else { return };
                let follower = self.other_than(leader);
                self.cut_link(leader, follower, fault_for);
            }
            FaultKind::Restart => {
                let id = self.random_node();
                self.terminate(id);
                thread::sleep(fault_for / 2);
                self.restart(id);
            }
        }
    }

    fn count(&mut self, kind: FaultKind) {
        *self.log.counts.entry(kind).or_default() += 1;
    }

    /// Pauses node `id` for `duration`, then resumes it.
    pub fn pause(&mut self, id: usize, duration: Duration) {
        self.count(FaultKind::Pause);
        self.event(format_args!("SIGSTOP n{id}"));
        if let Err(err) = self.cluster.pause(id) {
            self.problem(format!("SIGSTOP of n{id} failed: {err}"));
            return;
        }
        thread::sleep(duration);
        self.event(format_args!("SIGCONT n{id}"));
        if let Err(err) = self.cluster.resume(id) {
            self.problem(format!("SIGCONT of n{id} failed: {err}"));
        }
    }

    /// Cuts the link between `a` and `b` both ways for `duration`, then heals it.
    pub fn cut_link(&mut self, a: usize, b: usize, duration: Duration) {
        self.count(FaultKind::CutLink);
        self.event(format_args!("cut n{a} <-> n{b}"));
        self.cluster.cut(a, b);
        thread::sleep(duration);
        self.event("heal");
        self.cluster.heal();
    }

    /// Stops node `id` with SIGTERM; a problem unless it exits 0 in time.
    pub fn terminate(&mut self, id: usize) {
        self.event(format_args!("SIGTERM n{id}"));
        match self.cluster.terminate(id) {
            Ok(stopped) => {
                self.log.stops.push((id, stopped));
                if !stopped.clean() {
                    let how = describe_status(stopped.status);
                    let forced = if stopped.forced {
                        ", killed after the grace period"
                    } else {
                        ""
                    };
                    self.problem(format!("n{id} did not stop cleanly on SIGTERM ({how}{forced})"));
                }
            }
            Err(err) => self.problem(format!("SIGTERM of n{id} failed: {err}")),
        }
    }

    /// Heals every link, resumes every paused node, restarts every stopped one, and waits
    /// for a leader.
    pub fn settle(&mut self) {
        let faulty = self.cluster.faulty_links();
        if !faulty.is_empty() {
            self.event(format_args!("heal {}", faulty.join(", ")));
            self.cluster.heal();
        }
        for id in 0..self.cluster.n() {
            if self.cluster.is_paused(id) {
                self.event(format_args!("SIGCONT n{id}"));
                if let Err(err) = self.cluster.resume(id) {
                    self.problem(format!("SIGCONT of n{id} failed: {err}"));
                }
            }
            if !self.cluster.has_process(id) {
                self.restart(id);
            }
        }
        if let Some(leader) = self.leader() {
            self.event(format_args!("leader n{leader}"));
        }
    }

    /// Stops every node with SIGTERM (each must exit 0) and starts them all again.
    pub fn restart_all(&mut self) {
        for id in 0..self.cluster.n() {
            if self.cluster.has_process(id) {
                self.terminate(id);
            }
        }
        for id in 0..self.cluster.n() {
            self.restart(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use linearizability::models::kv::KvModel;

    use super::*;

    #[test]
    fn every_kind_comes_once_in_each_stretch_of_seven_rounds() {
        let mut rng = SmallRng::seed_from_u64(3);
        let rounds = schedule(16, &mut rng);
        assert_eq!(rounds.len(), 16);
        for stretch in rounds.chunks(7).take(2) {
            let mut kinds = stretch.to_vec();
            kinds.sort();
            assert_eq!(kinds, FaultKind::JEPSEN.to_vec());
        }
        assert_eq!(schedule(3, &mut SmallRng::seed_from_u64(9)).len(), 3);
        let again = schedule(16, &mut SmallRng::seed_from_u64(3));
        assert_eq!(rounds, again, "a seed fixes the schedule");
    }

    #[test]
    fn a_failover_ends_at_the_first_write_called_after_the_kill_and_acknowledged_before_the_restart() {
        let ms = 1_000_000;
        let history = vec![
            // Called before the kill: does not count, however late its answer.
            KvModel::append(0, "k", "[0.0]", 90 * ms, 150 * ms),
            // A read: does not count.
            KvModel::get(1, "k", "", 110 * ms, 120 * ms),
            // Given up: does not count.
            KvModel::append(2, "k", "[2.0]", 105 * ms, INDEFINITE),
            KvModel::put(1, "k", "[1.1]", 130 * ms, 400 * ms),
            KvModel::append(0, "k", "[0.1]", 160 * ms, 300 * ms),
            // After the restart: does not count.
            KvModel::append(2, "k", "[2.1]", 900 * ms, 1100 * ms),
        ];
        let kills = [
            LeaderKill {
                killed_ns: 100 * ms,
                restarted_ns: 1000 * ms,
            },
            LeaderKill {
                killed_ns: 800 * ms,
                restarted_ns: 1000 * ms,
            },
        ];
        let (measured, unmeasured) = failovers(&history, &kills);
        assert_eq!(measured, vec![Duration::from_millis(200)]);
        assert_eq!(unmeasured, 1);
    }
}
