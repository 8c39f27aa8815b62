//! The process cluster's own controls against real `raftkv` processes: leader, writes and
//! reads through clerks, isolating the leader, SIGKILL and restart on the same directory,
//! SIGSTOP and SIGCONT, SIGTERM (exit 0).
//!
//! The `raftkv` processes are this very test binary: run with [`AS_RAFTKV`] set, it is
//! `raftkv` (`raft_kv_server::cli::main`). So the test needs no binary built beforehand and
//! always runs the server of this build. It has no libtest harness (`harness = false`) for
//! that reason, and answers the runners' `--list` itself (one test, [`TEST`]).

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use raft_tests::cluster::{ClusterOptions, LinkState, ProcessCluster};

/// Set in the environment of the processes the test starts: they act as `raftkv`.
const AS_RAFTKV: &str = "RAFT_TESTS_AS_RAFTKV";

/// The one test of this binary.
const TEST: &str = "process_cluster_controls_on_real_raftkv_processes";

/// How long a wait for a leader, or for a node to see it is no longer one, may take.
const WAIT: Duration = Duration::from_secs(20);

/// How long a clerk call may take before it is given up (fails the test).
const CALL: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    if std::env::var_os(AS_RAFTKV).is_some() {
        return raft_kv_server::cli::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST}: test");
        }
        return ExitCode::SUCCESS;
    }
    if !selected(&args) {
        println!(
            "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out"
        );
        return ExitCode::SUCCESS;
    }
    println!("running 1 test");
    let started = Instant::now();
    let result = std::panic::catch_unwind(controls);
    let ok = result.is_ok();
    println!("test {TEST} ... {}", if ok { "ok" } else { "FAILED" });
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s",
        if ok { "ok" } else { "FAILED" },
        u8::from(ok),
        u8::from(!ok),
        started.elapsed().as_secs_f64()
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Whether the runner's filters (libtest's: names, `--exact`, `--skip NAME`) select [`TEST`].
fn selected(args: &[String]) -> bool {
    let exact = args.iter().any(|a| a == "--exact");
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--skip" => {
                if it.next().is_some_and(|skip| TEST.contains(skip.as_str())) {
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
            .any(|f| if exact { *f == TEST } else { TEST.contains(f) })
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
        env: vec![(AS_RAFTKV.to_owned(), "1".to_owned())],
        peer_proxies: true,
    })
    .expect("three nodes start");
    for id in 0..3 {
        assert!(cluster.is_up(id));
        assert_eq!(cluster.status(id).expect("status").id, id);
    }
    let first = cluster.wait_leader(WAIT).expect("a leader");
    let first_term = cluster.status(first).expect("status").term;

    let mut clerk = cluster.clerk(CALL);
    clerk.try_put("k", "a").expect("put");
    assert_eq!(clerk.try_get("k").expect("get"), "a");

    // The leader cut off from both others: they elect another in a later term, which takes
    // writes; the old one's peers could no longer reach it through its proxies.
    cluster.isolate(first);
    wait_until("a new leader while the old one is isolated", || {
        cluster.leader().is_some_and(|l| l != first)
    });
    let second = cluster.leader().expect("a leader");
    assert!(cluster.status(second).expect("status").term > first_term);
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
    let commit = cluster.status(leader).expect("status").commit_index;
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
}
