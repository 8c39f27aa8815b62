//! test_test.go's shared Lab 3 machinery: GenericTest, GenericTestSpeed, the partitioner and
//! the client plumbing, written once over [`KvConfig`].

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Tester;
use crate::kv::{Clerk, KvConfig, OpLog, append, check_clnt_appends, get, put};

/// test_test.go's `electionTimeout`: "the tester generously allows solutions to complete
/// elections in one second".
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// The `maxraftstate` of the 3B tests.
pub const MAXRAFTSTATE_3B: usize = 1000;

/// How long GenericTest's clients run in each round.
const ROUND: Duration = Duration::from_secs(5);

/// GenericTest's rounds.
const ROUNDS: usize = 3;

/// GenericTestSpeed: sequential appends timed.
const SPEED_OPS: u32 = 1000;

/// GenericTestSpeed's bound: "heartbeat interval should be ~ 100 ms; require at least 3 ops
/// per" interval, so 33.3 ms per operation.
const TIME_PER_OP: Duration = Duration::from_nanos(100_000_000 / 3);

/// GenericTest's parameters, named as in test_test.go.
#[derive(Clone, Copy, Debug)]
pub struct Generic {
    /// `part`: "3A" or "3B".
    pub part: &'static str,
    /// `nclients`.
    pub nclients: usize,
    /// `nservers`.
    pub nservers: usize,
    /// `unreliable`.
    pub unreliable: bool,
    /// `crash`: every server crashes and restarts at the end of each round.
    pub crash: bool,
    /// `partitions`: a partitioner runs during each round.
    pub partitions: bool,
    /// `maxraftstate` (`None` is Go's -1).
    pub maxraftstate: Option<usize>,
    /// `randomkeys`: clients share keys, and the checker is the only judge.
    pub randomkeys: bool,
}

impl Generic {
    /// A GenericTest of `part` with `nclients` clients on `nservers` servers, no faults.
    #[must_use]
    pub const fn new(part: &'static str, nclients: usize, nservers: usize) -> Generic {
        Generic {
            part,
            nclients,
            nservers,
            unreliable: false,
            crash: false,
            partitions: false,
            maxraftstate: None,
            randomkeys: false,
        }
    }

    /// GenericTest's title.
    fn title(&self) -> String {
        let mut title = "Test: ".to_owned();
        if self.unreliable {
            title.push_str("unreliable net, ");
        }
        if self.crash {
            title.push_str("restarts, ");
        }
        if self.partitions {
            title.push_str("partitions, ");
        }
        if self.maxraftstate.is_some() {
            title.push_str("snapshots, ");
        }
        if self.randomkeys {
            title.push_str("random keys, ");
        }
        title.push_str(if self.nclients > 1 {
            "many clients"
        } else {
            "one client"
        });
        title.push_str(&format!(" ({})", self.part));
        title
    }
}

/// The body of one GenericTest client (test_test.go's closure): Put its key empty (unless
/// keys are random), then Append or Get (or, with random keys, Put) until told to stop;
/// every Get of its own key must read exactly what it appended. Returns `j`, the number of
/// elements it appended or put.
fn generic_client(
    cfg: &KvConfig,
    g: &Generic,
    cli: usize,
    ck: &mut Clerk<'_>,
    log: &OpLog,
    done: &AtomicBool,
) -> usize {
    let mut j = 0;
    let mut last = String::new();
    if !g.randomkeys {
        put(cfg, ck, &cli.to_string(), &last, Some(log), cli);
    }
    while !done.load(Ordering::Acquire) {
        let key = if g.randomkeys {
            (cfg.rand_int() % g.nclients as u64).to_string()
        } else {
            cli.to_string()
        };
        let nv = format!("x {cli} {j} y");
        if cfg.rand_int() % 1000 < 500 {
            append(cfg, ck, &key, &nv, Some(log), cli);
            if !g.randomkeys {
                last.push_str(&nv);
            }
            j += 1;
        } else if g.randomkeys && cfg.rand_int() % 1000 < 100 {
            // Only with random keys: it would break the check of the Gets below.
            put(cfg, ck, &key, &nv, Some(log), cli);
            j += 1;
        } else {
            let v = get(cfg, ck, &key, Some(log), cli);
            assert!(
                g.randomkeys || v == last,
                "get wrong value, key {key}, wanted:\n{last}\n, got\n{v}\n"
            );
        }
    }
    j
}

/// test_test.go `partitioner`: until told to stop, splits the servers in two by a fair coin
/// each, then waits an election timeout and up to 199 ms more.
fn partitioner(cfg: &KvConfig, done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        let sides: Vec<u64> = (0..cfg.n()).map(|_| cfg.rand_int() % 2).collect();
        let side = |s: u64| -> Vec<usize> { (0..cfg.n()).filter(|&j| sides[j] == s).collect() };
        cfg.partition(&side(0), &side(1));
        cfg.sleep(ELECTION_TIMEOUT + Duration::from_millis(cfg.rand_int() % 200));
    }
}

/// test_test.go `GenericTest`: three rounds of clients running for five seconds each, with
/// the faults asked for; at the end of each round every client's appends are read back, and
/// the Raft state (3B) or the snapshot (3A: none at all) is measured; at the end the whole
/// history must be linearizable.
///
/// One difference in order: Go reads client `i`'s count and Gets its key while later clients
/// may still be finishing their last operation; here every client of the round has finished
/// before the first of those Gets (a scope joins its clients).
pub fn generic_test(t: &Tester, g: Generic) {
    let cfg = KvConfig::new(t, g.nservers, g.unreliable, g.maxraftstate);
    cfg.begin(&g.title());
    let log = OpLog::new();
    let mut ck = cfg.make_client(&cfg.all());
    for _round in 0..ROUNDS {
        let done_clients = AtomicBool::new(false);
        let done_partitioner = AtomicBool::new(false);
        let counts: Vec<usize> = cfg.scope(|s| {
            let clients: Vec<_> = (0..g.nclients)
                .map(|cli| {
                    let (cfg, log, done, g) = (&cfg, &log, &done_clients, &g);
                    s.spawn(move || {
                        let mut myck = cfg.make_client(&cfg.all());
                        let j = generic_client(cfg, g, cli, &mut myck, log, done);
                        cfg.delete_client(myck);
                        j
                    })
                })
                .collect();
            let partitioner_task = g.partitions.then(|| {
                cfg.sleep(Duration::from_secs(1));
                let (cfg, done) = (&cfg, &done_partitioner);
                s.spawn(move || partitioner(cfg, done))
            });
            cfg.sleep(ROUND);
            done_clients.store(true, Ordering::Release);
            done_partitioner.store(true, Ordering::Release);
            if let Some(task) = partitioner_task {
                task.join().unwrap_or_else(|p| resume_unwind(p));
                cfg.connect_all();
                // "wait for a while so that we have a new term"
                cfg.sleep(ELECTION_TIMEOUT);
            }
            if g.crash {
                for i in 0..g.nservers {
                    cfg.shutdown_server(i);
                }
                // "wait for a while so that the servers are all down"
                cfg.sleep(ELECTION_TIMEOUT);
                for i in 0..g.nservers {
                    cfg.start_server(i);
                }
                cfg.connect_all();
            }
            clients
                .into_iter()
                .map(|task| task.join().unwrap_or_else(|p| resume_unwind(p)))
                .collect()
        });
        for (i, &j) in counts.iter().enumerate() {
            let v = get(&cfg, &mut ck, &i.to_string(), Some(&log), 0);
            if !g.randomkeys {
                check_clnt_appends(i, &v, j);
            }
        }
        match g.maxraftstate {
            Some(max) => {
                let size = cfg.log_size();
                assert!(size <= 8 * max as u64, "logs were not trimmed ({size} > 8*{max})");
            }
            None => {
                let size = cfg.snapshot_size();
                assert!(
                    size == 0,
                    "snapshot too large ({size}), should not be used when maxraftstate = -1"
                );
            }
        }
    }
    log.check(&cfg);
    cfg.end();
}

/// test_test.go `GenericTestSpeed`: 1000 sequential Appends by one clerk on three servers
/// must take at most 33.3 ms each on average (Raft must replicate promptly after Start, not
/// at the next heartbeat).
pub fn generic_test_speed(t: &Tester, part: &str, maxraftstate: Option<usize>) {
    let cfg = KvConfig::new(t, 3, false, maxraftstate);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin(&format!("Test: ops complete fast enough ({part})"));
    // "wait until first op completes, so we know a leader is elected and KV servers are
    // ready to process client requests"
    ck.get("x");
    let start = cfg.now();
    for i in 0..SPEED_OPS {
        ck.append("x", &format!("x 0 {i} y"));
    }
    let duration = cfg.now() - start;
    let v = ck.get("x");
    check_clnt_appends(0, &v, SPEED_OPS as usize);
    let per_op = duration / SPEED_OPS;
    cfg.record_speed(per_op);
    assert!(
        duration <= TIME_PER_OP * SPEED_OPS,
        "Operations completed too slowly {per_op:?}/op > {TIME_PER_OP:?}/op"
    );
    cfg.end();
}

/// test_test.go `spawn_clients_and_wait`: `nclients` clients, each with a fresh clerk
/// connected to every server, run `f`; waits for all. A client's failure fails the test.
pub fn spawn_clients_and_wait<F>(cfg: &KvConfig, nclients: usize, f: F)
where
    F: Fn(usize, &mut Clerk<'_>) + Sync,
{
    cfg.scope(|s| {
        let clients: Vec<_> = (0..nclients)
            .map(|cli| {
                let f = &f;
                s.spawn(move || {
                    let mut ck = cfg.make_client(&cfg.all());
                    f(cli, &mut ck);
                    cfg.delete_client(ck);
                })
            })
            .collect();
        for task in clients {
            task.join().unwrap_or_else(|p| resume_unwind(p));
        }
    });
}
