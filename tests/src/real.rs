//! The real cluster: raft-node peers over a raft-labrpc network, on the wall clock. Each peer
//! runs its own threads; concurrent clients are OS threads.
//!
//! A hung test cannot hang the run: each cluster has a [`Watchdog`] that, if the test has not
//! ended some time after config.go's 120 s limit, says which test hung, its seed and for how
//! long, and ends the process with [`HUNG_TEST_EXIT_CODE`], as `go test`'s own timeout ends a
//! hung Go test.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft_core::{LogIndex, Term};
use raft_labrpc::{ClientEnd, Network, Server};
use raft_node::{ApplyMsg, RaftNode, make};
use raft_storage::MemoryPersister;

use crate::applier::Applier;
use crate::config::TEST_TIME_MAX;

/// The peers and their outgoing end names, under one lock as in config.go.
struct Peers {
    rafts: Vec<Option<Arc<RaftNode>>>,
    endnames: Vec<Vec<String>>,
    /// Makes end names unique across restarts (config.go draws random strings).
    next_end: u64,
}

/// raft-node peers on a labrpc network.
pub(crate) struct RealCluster {
    net: Network,
    n: usize,
    peers: Mutex<Peers>,
    applier: Arc<Applier>,
    start: Instant,
    /// Dropped last, once the peers are stopped: a hang while stopping them is caught too.
    _watchdog: Watchdog,
}

impl RealCluster {
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>, watchdog: Watchdog) -> RealCluster {
        RealCluster {
            net: Network::with_seed(seed),
            n,
            peers: Mutex::new(Peers {
                rafts: vec![None; n],
                endnames: vec![Vec::new(); n],
                next_end: 0,
            }),
            applier,
            start: Instant::now(),
            _watchdog: watchdog,
        }
    }

    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn raft(&self, i: usize) -> Option<Arc<RaftNode>> {
        self.peers().rafts[i].clone()
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.peers().rafts[i].is_some()
    }

    pub(crate) fn start(&self, i: usize, command: &[u8]) -> Option<(u64, Term)> {
        let raft = self.raft(i)?;
        raft.start(command.to_vec())
            .ok()
            .map(|(index, term)| (index.0, term))
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.raft(i).map(|r| r.get_state())
    }

    /// Deletes peer `i`'s server and kills it.
    pub(crate) fn kill(&self, i: usize) {
        self.net.delete_server(&i.to_string());
        let raft = self.peers().rafts[i].take();
        if let Some(raft) = raft {
            raft.kill();
        }
    }

    /// Makes peer `i` from `persister`, with fresh outgoing ends (disabled until enabled),
    /// and adds its server to the network.
    pub(crate) fn make_peer(&self, i: usize, seed: u64, persister: MemoryPersister) {
        let names: Vec<String> = {
            let mut peers = self.peers();
            let first = peers.next_end;
            peers.next_end += self.n as u64;
            (0..self.n as u64)
                .map(|j| format!("end-{i}-{}", first + j))
                .collect()
        };
        let ends = connected_ends(&self.net, &names);
        let (apply_tx, apply_rx) = flume::bounded(0);
        let options = crate::switches::node_options(seed);
        let raft = Arc::new(make(ends, i, persister, apply_tx, options).expect("make succeeds"));
        self.spawn_applier(i, apply_rx, Arc::downgrade(&raft));
        let mut server = Server::new();
        server.add_service(raft.service());
        self.net.add_server(i.to_string(), server);
        let mut peers = self.peers();
        peers.endnames[i] = names;
        peers.rafts[i] = Some(raft);
    }

    /// The applier goroutine: the shared checks, then the snapshot the service asks for.
    fn spawn_applier(&self, i: usize, apply_rx: flume::Receiver<ApplyMsg>, raft: Weak<RaftNode>) {
        let applier = Arc::clone(&self.applier);
        std::thread::spawn(move || {
            for msg in apply_rx.iter() {
                if let (Some((index, data)), Some(raft)) =
                    (applier.apply(i, msg).ok().flatten(), raft.upgrade())
                {
                    raft.snapshot(LogIndex(index), data);
                }
            }
        });
    }

    /// Enables or disables the end from peer `from` to peer `to`.
    pub(crate) fn enable(&self, from: usize, to: usize, enabled: bool) {
        let name = self.peers().endnames[from].get(to).cloned();
        if let Some(name) = name {
            self.net.enable(&name, enabled);
        }
    }

    pub(crate) fn rpc_count(&self, i: usize) -> u64 {
        self.net.count(&i.to_string())
    }

    pub(crate) fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    pub(crate) fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    pub(crate) fn set_reliable(&self, reliable: bool) {
        self.net.set_reliable(reliable);
    }

    pub(crate) fn set_long_reordering(&self, on: bool) {
        self.net.set_long_reordering(on);
    }

    pub(crate) fn set_long_delays(&self, on: bool) {
        self.net.set_long_delays(on);
    }

    /// Kills every peer and stops the network.
    pub(crate) fn cleanup(&self) {
        let rafts: Vec<Arc<RaftNode>> = self.peers().rafts.iter_mut().filter_map(Option::take).collect();
        for raft in rafts {
            raft.kill();
        }
        self.net.cleanup();
    }
}

/// Fresh ends of `net` with the given names, end `j` connected to server `j` (named `"j"`);
/// disabled until the harness enables them. Both harnesses' servers and clerks get theirs here.
pub(crate) fn connected_ends(net: &Network, names: &[String]) -> Vec<ClientEnd> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let end = net.make_end(name.clone()).expect("end names are fresh");
            net.connect(name, &j.to_string());
            end
        })
        .collect()
}

/// How long past config.go's 120 s limit a real-time test may still run before the watchdog
/// ends it: time for a slow test to fail with its own message at its next check (the longest
/// single wait of the harness, `wait`'s backoff, is about 30 seconds).
const WATCHDOG_MARGIN: Duration = Duration::from_secs(30);

/// When a real-time test is hung: its limit plus the margin.
pub(crate) const HUNG_AFTER: Duration = TEST_TIME_MAX.saturating_add(WATCHDOG_MARGIN);

/// The exit status of a process whose test hung (that of `timeout(1)`).
pub(crate) const HUNG_TEST_EXIT_CODE: i32 = 124;

/// Ends the process if a real-time test has not ended in time. One thread per test, asleep on
/// a condition variable until the test ends (dropping the watchdog) or the time is up.
pub(crate) struct Watchdog {
    /// Set, and notified, when the test has ended.
    ended: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Watches the test the calling thread runs (libtest names the thread after the test),
    /// from `seed`; it is hung if it has not ended after `hung_after`. Its message also
    /// gives the error of `applier`, if one failed and the test never reached the harness
    /// again to fail with it.
    pub(crate) fn start(seed: u64, hung_after: Duration, applier: Option<Arc<Applier>>) -> Watchdog {
        let watched = Watched {
            test: std::thread::current()
                .name()
                .map_or_else(|| "(unnamed)".to_owned(), str::to_owned),
            seed,
            hung_after,
            applier,
        };
        let ended = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&ended);
        let thread = std::thread::Builder::new()
            .name(format!("watchdog of {}", watched.test))
            .spawn(move || watch(&signal, &watched))
            .expect("the watchdog's thread starts");
        Watchdog {
            ended,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, ended) = &*self.ended;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        ended.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a watchdog watches.
struct Watched {
    test: String,
    seed: u64,
    hung_after: Duration,
    /// Lab 2's appliers (Lab 3 has none).
    applier: Option<Arc<Applier>>,
}

/// The watchdog's thread: returns when the test ends, or ends the process once `hung_after`
/// has passed.
fn watch(ended: &(Mutex<bool>, Condvar), watched: &Watched) {
    let started = Instant::now();
    let (lock, cvar) = ended;
    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let (guard, _) = cvar
        .wait_timeout_while(guard, watched.hung_after, |ended| !*ended)
        .unwrap_or_else(|e| e.into_inner());
    if *guard {
        return;
    }
    let Watched { test, seed, .. } = watched;
    let apply_err = watched
        .applier
        .as_ref()
        .and_then(|a| a.error())
        .map_or_else(String::new, |err| format!(" Its applier had failed: {err}."));
    // Straight to the stderr handle: libtest's capture of print macros would lose the message
    // with the process.
    let _ = writeln!(
        std::io::stderr().lock(),
        "test {test} hung: still running after {:.1} s (allowed: {:.1} s, config.go's 120 s \
         limit and a margin); ended by the watchdog.{apply_err} Seed {seed}: replay its random \
         choices with RAFT_TEST_SEED={seed}",
        started.elapsed().as_secs_f64(),
        watched.hung_after.as_secs_f64()
    );
    std::process::exit(HUNG_TEST_EXIT_CODE);
}

#[cfg(test)]
mod tests {
    //! On the wall clock: an apply error ends the scenario at once, and a hung test is ended
    //! by the watchdog.

    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::process::Command;
    use std::sync::{Arc, Weak};
    use std::time::{Duration, Instant};

    use raft_core::{LogIndex, Term};
    use raft_node::ApplyMsg;

    use super::{HUNG_TEST_EXIT_CODE, Watchdog};
    use crate::applier::Applier;
    use crate::{Config, Tester, cmd, panic_message};

    /// Index 2 before index 1.
    fn out_of_order() -> ApplyMsg {
        ApplyMsg::Command {
            index: LogIndex(2),
            term: Term(1),
            command: cmd(102).into(),
        }
    }

    /// Runs `f`, returning its panic's message.
    fn failure_of(f: impl FnOnce()) -> Option<String> {
        catch_unwind(AssertUnwindSafe(f))
            .err()
            .map(|p| panic_message(p.as_ref()))
    }

    #[test]
    fn an_apply_error_on_an_applier_thread_ends_every_sleep_of_the_scenario_at_once() {
        let cfg = Config::new(&Tester::real().quiet(), 3, false);
        let cluster = cfg.real_cluster().expect("a real cluster");
        // One more applier thread for peer 0, fed by the test.
        let (apply_tx, apply_rx) = flume::bounded(0);
        cluster.spawn_applier(0, apply_rx, Weak::new());
        let started = Instant::now();
        let failure = failure_of(|| {
            cfg.scope(|s| {
                s.spawn(|| cfg.sleep(Duration::from_secs(30)));
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(200));
                    apply_tx.send(out_of_order()).expect("the applier thread reads");
                });
                cfg.sleep(Duration::from_secs(30));
            });
        });
        let elapsed = started.elapsed();
        let expected = "server 0 apply out of order 2";
        assert_eq!(failure.as_deref(), Some(expected));
        assert!(
            elapsed < Duration::from_secs(2),
            "the scenario and its client slept {elapsed:?} of their 30 s"
        );
        // Every later harness call fails with it, and so does the end of the test.
        let get_state = failure_of(|| {
            let _ = cfg.get_state(1);
        });
        assert_eq!(get_state.as_deref(), Some(expected));
        assert_eq!(failure_of(|| drop(cfg)).as_deref(), Some(expected));
    }

    /// Set in the child process that plays the hung test.
    const HUNG_CHILD: &str = "RAFT_TESTS_HUNG_CHILD";

    #[test]
    fn a_hung_test_is_ended_by_the_watchdog_with_its_name_and_seed() {
        const NAME: &str = "a_hung_test_is_ended_by_the_watchdog_with_its_name_and_seed";
        if std::env::var_os(HUNG_CHILD).is_some() {
            // The child: a scenario, with a watchdog of 300 ms, whose applier fails while it
            // hangs outside the harness, so that it never fails with the applier's message.
            let t = Tester::real().quiet().hung_after(Duration::from_millis(300));
            let cfg = Config::new(&t, 3, false);
            let _ = cfg.applier().apply(0, out_of_order());
            let (_tx, rx) = std::sync::mpsc::channel::<()>();
            // Bounded, so that a watchdog that fails to fire fails the parent, not hangs it.
            let _ = rx.recv_timeout(Duration::from_secs(20));
            return;
        }
        let test = format!(
            "{}::{NAME}",
            module_path!().split_once("::").map_or("", |(_, m)| m)
        );
        let started = Instant::now();
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", &test, "--nocapture", "--test-threads=1"])
            .env(HUNG_CHILD, "1")
            .env("RAFT_TEST_SEED", "6824")
            .output()
            .expect("the test binary runs");
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&child.stderr);
        assert_eq!(child.status.code(), Some(HUNG_TEST_EXIT_CODE), "{stderr}");
        assert!(
            stderr.contains(&format!("test {test} hung: still running after")),
            "{stderr}"
        );
        assert!(stderr.contains("RAFT_TEST_SEED=6824"), "{stderr}");
        assert!(
            stderr.contains("Its applier had failed: server 0 apply out of order 2."),
            "{stderr}"
        );
        assert!(elapsed < Duration::from_secs(10), "the watchdog took {elapsed:?}");
    }

    #[test]
    fn a_test_that_ends_stops_its_watchdog_at_once() {
        let applier = Arc::new(Applier::new(3, false));
        let watchdog = Watchdog::start(1, Duration::from_secs(60), Some(applier));
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        // Drop joins the watchdog's thread: past this, it can no longer end the process.
        drop(watchdog);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
