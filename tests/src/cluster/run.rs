//! One whole run on a [`ProcessCluster`]: start it, run the clients under a [`Plan`] of
//! faults, stop the clients, heal everything, stop every node with SIGTERM and start them all
//! again, read every key back, check the read-back ([`verify_read_back`]) and the whole
//! history ([`check_kv_history`]), and sum it all up in a [`Summary`].
//!
//! A run passes only if the history is linearizable (an undecided check fails it too), no
//! acknowledged write is lost, the read-back finds nothing wrong, and the nemesis met no
//! problem (a leader missing for [`super::nemesis::LEADER_WAIT`], a node that would not
//! restart, a node that did not exit 0 on SIGTERM), and the run checked something: at least
//! one write acknowledged, no client thread panicked.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linearizability::{CheckOptions, CheckResult};
use raft_kv::KvOp;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::interrupt::{self, interrupted};
use super::nemesis::{FaultKind, Nemesis, failovers, schedule};
use super::verify::{ReadBack, verify_read_back};
use super::workload::{Clients, OpCounts, Outcome, Recorder, WorkloadConfig, key_name};
use super::{ClusterOptions, ProcessCluster};
use crate::kv::check_kv_history;

/// What a run does between the start of its clients and the final checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A short scripted run: SIGKILL of the leader and its restart, a follower paused and
    /// resumed, the link between the leader and a follower cut and healed.
    Demo,
    /// Clients for `duration`, with fault rounds throughout if `faults`.
    Steady {
        /// How long the clients run.
        duration: Duration,
        /// Whether the nemesis runs meanwhile.
        faults: bool,
    },
    /// `rounds` fault rounds, every kind in turn ([`schedule`]).
    Jepsen {
        /// How many rounds.
        rounds: usize,
    },
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Demo => write!(f, "demo"),
            Plan::Steady { duration, faults } => write!(
                f,
                "cluster for {} s {}",
                duration.as_secs(),
                if *faults { "with faults" } else { "without faults" }
            ),
            Plan::Jepsen { rounds } => write!(f, "jepsen, {rounds} rounds"),
        }
    }
}

/// How a run is made.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The `raftkv` binary.
    pub raftkv: PathBuf,
    /// The run's directory (must not exist): data, secret, logs, and the history's drawing if
    /// it is not linearizable.
    pub run_dir: PathBuf,
    /// Seeds the clients' choices and the nemesis's targets.
    pub seed: u64,
    /// Client threads.
    pub clients: usize,
    /// Keys.
    pub keys: usize,
    /// How long each fault lasts.
    pub fault_for: Duration,
    /// How long a client call may go unanswered before the client gives it up.
    pub op_deadline: Duration,
    /// The longest pause between two calls of one client.
    pub pause_max: Duration,
    /// The linearizability check's time limit (running out fails the run).
    pub check_time_limit: Duration,
    /// `--maxraftstate` of the nodes.
    pub maxraftstate: Option<usize>,
    /// Print every step to stderr as it happens.
    pub verbose: bool,
}

impl RunConfig {
    /// The harness's defaults for a run in `run_dir` with `raftkv`: 3 nodes' worth of load
    /// from 4 clients over 3 keys, faults of 2 s, calls given up after 10 s.
    #[must_use]
    pub fn new(raftkv: PathBuf, run_dir: PathBuf, seed: u64) -> RunConfig {
        RunConfig {
            raftkv,
            run_dir,
            seed,
            clients: 4,
            keys: 3,
            fault_for: Duration::from_secs(2),
            op_deadline: Duration::from_secs(10),
            pause_max: Duration::from_millis(20),
            check_time_limit: Duration::from_secs(120),
            maxraftstate: Some(64 << 10),
            verbose: true,
        }
    }
}

/// The nodes of every run.
pub const NODES: usize = 3;

/// How long the reads of the final read-back may go unanswered.
const READ_BACK_DEADLINE: Duration = Duration::from_secs(30);

/// A pause between rounds, so that clients make progress on the whole cluster too.
const BETWEEN_ROUNDS: Duration = Duration::from_millis(500);

/// How long a run stopped by a signal waits for its clients to see the stop (a call in
/// flight may take the whole client deadline; the process is about to exit anyway).
const INTERRUPTED_CLIENTS_WAIT: Duration = Duration::from_secs(1);

/// What a run did and found.
#[derive(Clone, Debug)]
pub struct Summary {
    /// What ran.
    pub plan: Plan,
    /// The seed.
    pub seed: u64,
    /// Client threads.
    pub clients: usize,
    /// Keys.
    pub keys: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// The clients' calls (and the read-back's).
    pub counts: OpCounts,
    /// Faults injected, per kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Failover times of the leader SIGKILLs that had one (see [`failovers`]).
    pub failovers: Vec<Duration>,
    /// Leader SIGKILLs after which no write was acknowledged before the restart.
    pub failovers_unmeasured: usize,
    /// SIGTERMs sent, and how many ended with exit 0 in time.
    pub stops: (usize, usize),
    /// The read-back.
    pub read_back: ReadBack,
    /// The checker's verdict, over how many operations, in how long.
    pub check: (CheckResult, usize, Duration),
    /// Why the history fails the check, if it does (names the drawing).
    pub check_failure: Option<String>,
    /// What the nemesis or the read-back ran into.
    pub problems: Vec<String>,
    /// Where the data and logs are.
    pub run_dir: PathBuf,
}

impl Summary {
    /// Acknowledged writes lost (must be 0).
    #[must_use]
    pub fn lost_writes(&self) -> usize {
        self.read_back.lost.len()
    }

    /// True if the run passed: linearizable, nothing lost or wrong, no problem.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.check.0 == CheckResult::Ok
            && self.check_failure.is_none()
            && self.read_back.ok()
            && self.problems.is_empty()
    }
}

/// The median and the maximum of some durations.
#[must_use]
pub fn median_max(durations: &[Duration]) -> Option<(Duration, Duration)> {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let max = *sorted.last()?;
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    };
    Some((median, max))
}

/// The `percent`-th percentile of some durations by nearest rank: the smallest of them that
/// at least `percent` % of them do not exceed (`percentile(d, 100.0)` is the maximum).
/// `None` if there are none.
#[must_use]
pub fn percentile(durations: &[Duration], percent: f64) -> Option<Duration> {
    let mut sorted = durations.to_vec();
    sorted.sort();
    test_support::stats::nearest_rank(&sorted, percent / 100.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "== raft-cluster {}: {NODES} nodes, {} clients, {} keys, seed {}, {:.1} s",
            self.plan,
            self.clients,
            self.keys,
            self.seed,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "operations       {} (gets {}, puts {}, appends {}): {} answered, {} given up after \
             reaching a server, {} never sent",
            c.total(),
            c.gets,
            c.puts,
            c.appends,
            c.answered,
            c.uncertain,
            c.not_sent
        )?;
        let faults: Vec<String> = self.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(
            f,
            "faults           {}",
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            }
        )?;
        let unmeasured = if self.failovers_unmeasured > 0 {
            format!(
                "; {} without a write before the restart",
                self.failovers_unmeasured
            )
        } else {
            String::new()
        };
        match median_max(&self.failovers) {
            Some((median, max)) => writeln!(
                f,
                "failovers        {} (SIGKILL of the leader to the first write acknowledged by a new \
                 leader): median {:.2} s, max {:.2} s{unmeasured}",
                self.failovers.len(),
                median.as_secs_f64(),
                max.as_secs_f64()
            )?,
            None => writeln!(f, "failovers        none measured{unmeasured}")?,
        }
        writeln!(
            f,
            "SIGTERM stops    {} of {} clean (exit 0)",
            self.stops.1, self.stops.0
        )?;
        writeln!(f, "read-back        {}", self.read_back)?;
        for line in self
            .read_back
            .lost
            .iter()
            .chain(&self.read_back.anomalies)
            .chain(&self.read_back.not_read_back)
            .take(20)
        {
            writeln!(f, "                 {line}")?;
        }
        let (result, operations, elapsed) = self.check;
        writeln!(
            f,
            "linearizability  {result} ({operations} operations, checked in {:.1} ms)",
            elapsed.as_secs_f64() * 1e3
        )?;
        if let Some(failure) = &self.check_failure {
            writeln!(f, "                 {failure}")?;
        }
        writeln!(
            f,
            "lost writes      {} acknowledged writes lost",
            self.lost_writes()
        )?;
        if self.problems.is_empty() {
            writeln!(f, "problems         none")?;
        } else {
            for problem in &self.problems {
                writeln!(f, "problem          {problem}")?;
            }
        }
        writeln!(f, "data and logs    {}", self.run_dir.display())?;
        write!(
            f,
            "verdict          {}",
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

/// Runs `plan`; see the [module](self) documentation.
///
/// # Errors
/// If the cluster cannot be started, or a client thread cannot be. Everything that goes
/// wrong after that is in the [`Summary`]. A signal ([`interrupt`]) ends the run early with
/// an [`io::ErrorKind::Interrupted`] error, once every node is killed.
pub fn run(config: &RunConfig, plan: &Plan) -> io::Result<Summary> {
    let started = Instant::now();
    let mut cluster = ProcessCluster::start(&ClusterOptions {
        raftkv: config.raftkv.clone(),
        run_dir: config.run_dir.clone(),
        nodes: NODES,
        maxraftstate: config.maxraftstate,
        send_before_write: None,
        env: Vec::new(),
        peer_proxies: true,
    })?;
    if config.verbose {
        eprintln!(
            "raft-cluster: {NODES} nodes up (clients at {}); data and logs in {}",
            cluster.client_addrs().join(", "),
            cluster.run_dir().display()
        );
    }
    let recorder = Recorder::new();
    let workload = WorkloadConfig {
        clients: config.clients,
        keys: config.keys,
        seed: config.seed,
        pause_max: config.pause_max,
        ops_max: 1_000_000,
    };
    let mut nemesis = Nemesis::new(
        &mut cluster,
        Arc::clone(&recorder),
        config.seed,
        config.fault_for,
        config.verbose,
    );
    nemesis.settle();
    if interrupted() {
        return Err(interrupt::error());
    }
    let clients = {
        let cluster = nemesis.cluster();
        Clients::start(&workload, &recorder, |_| cluster.kv_client(config.op_deadline))?
    };
    nemesis.event(format_args!("{} clients started", config.clients));
    run_plan(&mut nemesis, plan, config.seed);
    if interrupted() {
        // The nodes first (their guards SIGKILL them, paused ones too), then the clients,
        // which may be in a call to a node that is gone.
        nemesis.event("interrupted: killing every node");
        drop(nemesis);
        drop(cluster);
        let _ = clients.stop_within(INTERRUPTED_CLIENTS_WAIT);
        return Err(interrupt::error());
    }
    nemesis.event("stopping the clients");
    let panicked = clients.stop();
    nemesis.settle();
    nemesis.event("SIGTERM and restart of every node");
    nemesis.restart_all();
    nemesis.settle();
    let mut log = nemesis.finish();
    log.problems.extend(panicked);

    let mut reader = cluster.kv_client(READ_BACK_DEADLINE);
    let mut finals = BTreeMap::new();
    for k in 0..config.keys {
        if interrupted() {
            return Err(interrupt::error());
        }
        let key = key_name(k);
        match recorder.run(config.clients, reader.as_mut(), &KvOp::Get { key: key.clone() }) {
            Outcome::Done(value) => {
                finals.insert(key, value);
            }
            other => log
                .problems
                .push(format!("the read-back of {key} got no answer ({other:?})")),
        }
    }
    if interrupted() {
        return Err(interrupt::error());
    }
    // Every node stopped before the check, which needs the machine more than they do.
    drop(reader);
    drop(cluster);
    let history = recorder.history();
    let read_back = verify_read_back(&history, &finals);
    let (failover_times, failovers_unmeasured) = failovers(&history, &log.leader_kills);
    if config.verbose {
        eprintln!(
            "raft-cluster: checking {} operations for linearizability",
            history.len()
        );
    }
    let options = CheckOptions {
        stop_at_first_illegal: false,
        ..CheckOptions::with_time_limit(config.check_time_limit)
    };
    let page = config.run_dir.join("history.html");
    let (check, check_failure) = match check_kv_history(&history, &options, &page) {
        Ok(checked) => (
            (checked.report.result, history.len(), checked.report.elapsed),
            checked.failure,
        ),
        Err(err) => (
            (CheckResult::Unknown, history.len(), Duration::ZERO),
            Some(format!("the recorded history is malformed: {err}")),
        ),
    };
    let counts = recorder.counts();
    log.problems.extend(coverage_problem(&counts));
    Ok(Summary {
        plan: plan.clone(),
        seed: config.seed,
        clients: config.clients,
        keys: config.keys,
        elapsed: started.elapsed(),
        counts,
        faults: log.counts,
        failovers: failover_times,
        failovers_unmeasured,
        stops: (
            log.stops.len(),
            log.stops.iter().filter(|(_, s)| s.clean()).count(),
        ),
        read_back,
        check,
        check_failure,
        problems: log.problems,
        run_dir: config.run_dir.clone(),
    })
}

/// A problem if the run checked nothing: no write acknowledged, so the read-back had nothing
/// to find and the history nothing to order (every call given up, say, or no client ran).
fn coverage_problem(counts: &OpCounts) -> Option<String> {
    (counts.writes_acknowledged == 0).then(|| {
        format!(
            "no write was acknowledged ({} calls: {} answered, {} given up after reaching a \
             server, {} never sent): the run checked nothing",
            counts.total(),
            counts.answered,
            counts.uncertain,
            counts.not_sent
        )
    })
}

fn run_plan(nemesis: &mut Nemesis<'_>, plan: &Plan, seed: u64) {
    let fault_for = nemesis.fault_for();
    match plan {
        Plan::Demo => {
            interrupt::sleep(Duration::from_secs(2));
            nemesis.event("kill the leader with SIGKILL, restart it once a new leader took a write");
            nemesis.round(FaultKind::KillLeader);
            nemesis.settle();
            // The waiting leader(): a leader missing for its whole wait is a problem, so a
            // step is never skipped silently.
            if let Some(leader) = nemesis.leader() {
                let follower = (leader + 1) % NODES;
                nemesis.event(format_args!(
                    "pause a follower, n{follower} (the leader is n{leader})"
                ));
                nemesis.pause(follower, fault_for);
                nemesis.settle();
            }
            if let Some(leader) = nemesis.leader() {
                let follower = (leader + 2) % NODES;
                nemesis.event(format_args!(
                    "cut the link between the leader n{leader} and n{follower}"
                ));
                nemesis.cut_link(leader, follower, fault_for);
                nemesis.settle();
            }
            interrupt::sleep(Duration::from_secs(1));
        }
        Plan::Steady { duration, faults } => {
            let deadline = Instant::now() + *duration;
            if *faults {
                let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
                // More rounds than can fit: the deadline ends the run.
                let kinds = schedule(
                    usize::try_from(duration.as_secs()).unwrap_or(usize::MAX).max(1),
                    &mut rng,
                );
                for kind in kinds {
                    if Instant::now() >= deadline || interrupted() {
                        break;
                    }
                    nemesis.round(kind);
                    nemesis.settle();
                    interrupt::sleep(BETWEEN_ROUNDS);
                }
            }
            interrupt::sleep(deadline.saturating_duration_since(Instant::now()));
        }
        Plan::Jepsen { rounds } => {
            let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
            for (i, kind) in schedule(*rounds, &mut rng).into_iter().enumerate() {
                if interrupted() {
                    break;
                }
                nemesis.event(format_args!("round {} of {rounds}: {kind}", i + 1));
                nemesis.round(kind);
                nemesis.settle();
                interrupt::sleep(BETWEEN_ROUNDS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let us = Duration::from_micros;
        assert_eq!(percentile(&[], 50.0), None);
        // 1..=100 µs, shuffled: the p-th percentile of 100 values is the p-th smallest.
        let values: Vec<Duration> = (1..=100).map(|i| us((i * 37) % 100 + 1)).collect();
        assert_eq!(percentile(&values, 50.0), Some(us(50)));
        assert_eq!(percentile(&values, 99.0), Some(us(99)));
        assert_eq!(percentile(&values, 100.0), Some(us(100)));
        assert_eq!(percentile(&values, 0.0), Some(us(1)));
        // Few values: p99 of ten is the largest, p50 of three the middle one.
        let ten: Vec<Duration> = (1..=10).map(us).collect();
        assert_eq!(percentile(&ten, 99.0), Some(us(10)));
        assert_eq!(percentile(&ten, 50.0), Some(us(5)));
        assert_eq!(percentile(&[us(3), us(1), us(2)], 50.0), Some(us(2)));
        assert_eq!(percentile(&[us(7)], 99.0), Some(us(7)));
    }

    #[test]
    fn a_run_without_an_acknowledged_write_is_a_problem() {
        let nothing = OpCounts {
            gets: 3,
            answered: 3,
            ..OpCounts::default()
        };
        let problem = coverage_problem(&nothing).expect("a problem");
        assert!(problem.contains("checked nothing"), "{problem}");
        let one = OpCounts {
            appends: 1,
            answered: 1,
            writes_acknowledged: 1,
            ..OpCounts::default()
        };
        assert_eq!(coverage_problem(&one), None);
    }

    #[test]
    fn median_and_max_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median_max(&[]), None);
        assert_eq!(median_max(&[ms(300), ms(100), ms(200)]), Some((ms(200), ms(300))));
        assert_eq!(
            median_max(&[ms(400), ms(100), ms(200), ms(300)]),
            Some((ms(250), ms(400)))
        );
    }
}
