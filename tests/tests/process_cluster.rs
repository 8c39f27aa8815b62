//! The process cluster's own controls against real `raftkv` processes: leader, writes and
//! reads through clerks, isolating the leader, SIGKILL and restart on the same directory,
//! SIGSTOP and SIGCONT, SIGTERM (exit 0), and a node that exits on its own reported and
//! restarted by the nemesis. And `raft-cluster` itself: stopped by SIGINT in the middle of a
//! pause, or killed by SIGKILL, it leaves no node behind.
//!
//! The `raftkv` processes are this very test binary: run with [`AS_RAFTKV`] set, it is
//! `raftkv` (`raft_kv_server::cli::main`). So the test needs no binary built beforehand and
//! always runs the server of this build. It has no libtest harness (`harness = false`) for
//! that reason, and answers the runners' `--list` itself (the tests of [`TESTS`]).

use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use raft_tests::cluster::interrupt::EXIT_INTERRUPTED;
use raft_tests::cluster::nemesis::Nemesis;
use raft_tests::cluster::{ChildGuard, ClusterOptions, LinkState, ProcessCluster, Recorder};

/// Set in the environment of the processes the test starts: they act as `raftkv`.
const AS_RAFTKV: &str = "RAFT_TESTS_AS_RAFTKV";

/// The tests of this binary, by name.
const TESTS: [(&str, fn()); 2] = [
    ("process_cluster_controls_on_real_raftkv_processes", controls),
    (
        "raft_cluster_leaves_no_node_behind_when_interrupted_or_killed",
        no_node_left_behind,
    ),
];

/// How long a wait for a leader, or for a node to see it is no longer one, may take.
const WAIT: Duration = Duration::from_secs(20);

/// How long a clerk call may take before it is given up (fails the test).
const CALL: Duration = Duration::from_secs(20);

/// How long a status request to a node that runs may take: far more than the harness's own
/// [`raft_tests::cluster::STATUS_TIMEOUT`], as the CI machine may be loaded.
const STATUS: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    if std::env::var_os(AS_RAFTKV).is_some() {
        return raft_kv_server::cli::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in TESTS {
                println!("{name}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let chosen: Vec<(&str, fn())> = TESTS
        .into_iter()
        .filter(|(name, _)| selected(&args, name))
        .collect();
    println!("running {} tests", chosen.len());
    let started = Instant::now();
    let mut failed = 0;
    for &(name, test) in &chosen {
        let ok = std::panic::catch_unwind(test).is_ok();
        failed += usize::from(!ok);
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
    }
    let ok = failed == 0;
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s",
        if ok { "ok" } else { "FAILED" },
        chosen.len() - failed,
        TESTS.len() - chosen.len(),
        started.elapsed().as_secs_f64()
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Whether the runner's filters (libtest's: names, `--exact`, `--skip NAME`) select the
/// test `test`.
fn selected(args: &[String], test: &str) -> bool {
    let exact = args.iter().any(|a| a == "--exact");
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--skip" => {
                if it.next().is_some_and(|skip| test.contains(skip.as_str())) {
                    return false;
                }
            }
            // Flags that take a value.
            "--format" | "--test-threads" | "--color" | "--logfile" | "-Z" => {
                it.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    filters.is_empty()
        || filters
            .iter()
            .any(|f| if exact { *f == test } else { test.contains(f) })
}

/// Waits up to [`WAIT`] for `done`, polling.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn controls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cluster = ProcessCluster::start(&ClusterOptions {
        raftkv: exe,
        run_dir: dir.path().join("run"),
        nodes: 3,
        maxraftstate: None,
        send_before_write: None,
        env: vec![(AS_RAFTKV.to_owned(), "1".to_owned())],
        peer_proxies: true,
    })
    .expect("three nodes start");
    // Every process runs the copy of the binary in the run directory.
    let copy = cluster.raftkv_path().to_path_buf();
    assert_eq!(copy, cluster.run_dir().join("raftkv"));
    for id in 0..3 {
        let pid = cluster.pid(id).expect("a process");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the process's binary");
        assert_eq!(exe, copy, "n{id} runs another binary");
    }
    for id in 0..3 {
        assert!(cluster.is_up(id));
        assert_eq!(cluster.status_within(id, STATUS).expect("status").id, id);
    }
    // The leader and its term from one answer (asking again could find another leader).
    let mut found = None;
    wait_until("a leader", || {
        found = cluster.leader_and_term();
        found.is_some()
    });
    let (first, first_term) = found.expect("a leader was found");

    let mut clerk = cluster.clerk(CALL);
    clerk.try_put("k", "a").expect("put");
    assert_eq!(clerk.try_get("k").expect("get"), "a");

    // The leader cut off from both others: they elect another in a later term, which takes
    // writes; the old one's peers could no longer reach it through its proxies.
    cluster.isolate(first);
    // The new leader as the wait found it: the isolated old one may still claim its own
    // (older) term, and a status request may time out under load, so nothing is asked again.
    let mut found = None;
    wait_until("a new leader while the old one is isolated", || {
        found = cluster.leader_and_term().filter(|&(l, _)| l != first);
        found.is_some()
    });
    let (second, second_term) = found.expect("a new leader was found");
    assert!(second_term > first_term, "{second_term} <= {first_term}");
    clerk
        .try_append("k", "b")
        .expect("append while the old leader is isolated");
    let cut = cluster.link_stats(second, first).expect("a link");
    assert!(cut.severed + cut.refused > 0, "{cut:?}");
    cluster.heal();
    wait_until("the old leader learns the new term once healed", || {
        cluster
            .status(first)
            .is_ok_and(|s| s.role != "leader" && s.term > first_term)
    });

    // SIGKILL of the leader: another leads; the value survives; the killed node comes back on
    // its directory and catches up.
    cluster.kill9(second).expect("kill -9");
    assert!(!cluster.is_up(second));
    assert!(cluster.status(second).is_err());
    wait_until("a leader after the SIGKILL", || {
        cluster.leader().is_some_and(|l| l != second)
    });
    clerk.try_append("k", "c").expect("append after the SIGKILL");
    assert_eq!(clerk.try_get("k").expect("get"), "abc");
    cluster.restart(second).expect("restart on the same directory");
    let leader = cluster.wait_leader(WAIT).expect("a leader");
    let commit = cluster
        .status_within(leader, STATUS)
        .expect("status")
        .commit_index;
    wait_until("the restarted node applies what was committed", || {
        cluster.status(second).is_ok_and(|s| s.last_applied >= commit)
    });

    // SIGSTOP: the node answers nothing, then answers again after SIGCONT.
    let follower = (leader + 1) % 3;
    cluster.pause(follower).expect("pause");
    assert!(cluster.is_paused(follower));
    assert!(cluster.status(follower).is_err(), "a paused node answered");
    clerk
        .try_append("k", "d")
        .expect("append while a follower is paused");
    cluster.resume(follower).expect("resume");
    wait_until("the resumed node answers", || cluster.status(follower).is_ok());

    // A delayed link still carries the cluster.
    cluster.set_link(leader, follower, LinkState::Delay(Duration::from_millis(30)));
    clerk.try_append("k", "e").expect("append over a delayed link");
    cluster.heal();
    assert_eq!(clerk.try_get("k").expect("get"), "abcde");

    // SIGTERM: every node stops cleanly (exit 0), and all of them start again with the data.
    for id in 0..3 {
        let stopped = cluster.terminate(id).expect("SIGTERM");
        assert!(stopped.clean(), "n{id}: {stopped:?}: {}", cluster.log_tail(id));
        assert!(!cluster.has_process(id));
    }
    for id in 0..3 {
        cluster.restart(id).expect("restart");
    }
    cluster.wait_leader(WAIT).expect("a leader after the restarts");
    assert_eq!(cluster.clerk(CALL).try_get("k").expect("get"), "abcde");

    // A node that exits without the harness asking (here a SIGTERM from outside it, to the
    // node's own pid): the nemesis's settle reports it, with its status, and restarts it.
    let pid = cluster.pid(1).expect("n1 runs");
    kill(Pid::from_raw(i32::try_from(pid).expect("a pid")), Signal::SIGTERM).expect("kill");
    wait_until("n1 exits", || cluster.exited(1).is_some());
    assert!(cluster.has_process(1) && !cluster.is_up(1));
    let mut nemesis = Nemesis::new(&mut cluster, Recorder::new(), 1, Duration::ZERO, false);
    nemesis.settle();
    let log = nemesis.finish();
    assert!(
        log.problems
            .iter()
            .any(|p| p.starts_with("n1 exited on its own (exit 0; log:")),
        "{:?}",
        log.problems
    );
    assert!(cluster.is_up(1), "n1 was not restarted: {:?}", log.events);
    assert_ne!(cluster.pid(1), Some(pid));
    assert_eq!(cluster.exited(1), None);
}

/// A process the test did not start itself (a node of `raft-cluster`), SIGKILLed by its pid
/// when dropped, should the test fail while it runs; only while it still runs a binary under
/// `dir` (so that a pid reused since is never signalled).
struct KillNode<'a> {
    pid: u32,
    dir: &'a Path,
}

impl Drop for KillNode<'_> {
    fn drop(&mut self) {
        let ours =
            std::fs::read_link(format!("/proc/{}/exe", self.pid)).is_ok_and(|exe| exe.starts_with(self.dir));
        if ours && let Ok(pid) = i32::try_from(self.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The field after the command name in `/proc/PID/stat`: (state, parent pid).
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// True once process `pid` is gone or a zombie (exited, and maybe not reaped by whoever
/// inherited it).
fn has_exited(pid: u32) -> bool {
    proc_state(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// The running children of `parent` whose binary lies under `dir`: raft-cluster's nodes.
fn nodes_of(parent: u32, dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(state, ppid)| ppid == parent && state != 'Z'))
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.starts_with(dir)))
        .collect()
}

/// Starts `raft-cluster demo` with this binary as its raftkv, its run directory under `dir`,
/// its output in `dir/<name>.stderr.log`.
fn start_raft_cluster(dir: &Path, name: &str) -> ChildGuard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_raft-cluster"));
    command
        .arg("demo")
        .arg("--raftkv")
        .arg(std::env::current_exe().expect("the test binary's path"))
        .arg("--dir")
        .arg(dir.join(name))
        .args(["--seed", "1", "--keep"])
        .env(AS_RAFTKV, "1")
        .env_remove("RUST_LOG");
    ChildGuard::spawn(command, dir, name).expect("start raft-cluster")
}

/// Waits (bounded) until every process of `pids` has exited.
fn wait_exited(what: &str, pids: &[u32]) {
    wait_until(what, || pids.iter().all(|&pid| has_exited(pid)));
}

fn no_node_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let startup = Duration::from_secs(120);

    // SIGINT while a node is SIGSTOPped: raft-cluster kills every node, the paused one too,
    // and exits 130.
    let mut harness = start_raft_cluster(dir, "interrupted");
    assert!(
        harness.wait_for_stderr("SIGSTOP n", startup),
        "no pause: {}",
        harness.stderr_text()
    );
    let nodes = nodes_of(harness.pid(), dir);
    let _guards: Vec<KillNode<'_>> = nodes.iter().map(|&pid| KillNode { pid, dir }).collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}: {}", harness.stderr_text());
    assert!(
        nodes
            .iter()
            .any(|&pid| proc_state(pid).is_some_and(|(state, _)| state == 'T')),
        "no node is stopped"
    );
    let pid = Pid::from_raw(i32::try_from(harness.pid()).expect("a pid"));
    kill(pid, Signal::SIGINT).expect("SIGINT");
    let status = harness
        .wait_bounded(WAIT)
        .expect("wait")
        .unwrap_or_else(|| panic!("raft-cluster still runs after SIGINT: {}", harness.stderr_text()));
    assert_eq!(
        status.code(),
        Some(i32::from(EXIT_INTERRUPTED)),
        "{}",
        harness.stderr_text()
    );
    wait_exited("every node ends with raft-cluster", &nodes);

    // SIGKILL: raft-cluster cannot stop its nodes; each stops on its own, as it sees its
    // parent gone (RAFTKV_EXIT_WITH_PARENT, which the cluster sets).
    let mut harness = start_raft_cluster(dir, "killed");
    assert!(
        harness.wait_for_stderr("nodes up", startup),
        "no nodes: {}",
        harness.stderr_text()
    );
    let nodes = nodes_of(harness.pid(), dir);
    let _guards: Vec<KillNode<'_>> = nodes.iter().map(|&pid| KillNode { pid, dir }).collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}: {}", harness.stderr_text());
    harness.kill9().expect("SIGKILL of raft-cluster");
    wait_exited("every node stops once raft-cluster is killed", &nodes);
}
