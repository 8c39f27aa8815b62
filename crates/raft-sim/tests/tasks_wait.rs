//! `Tasks::wait_for`: a task blocked until the world signals its token or a timeout passes,
//! on a tiny fake world whose only events are signals at set instants.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

use raft_sim::tasks::{Clocked, Tasks};

const MS: u64 = 1_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A world whose events each signal one token at a set instant, and which stops right
/// after each, as a world with clerks does.
struct Signals {
    now_us: u64,
    /// (instant, token), earliest first.
    pending: Vec<(u64, u64)>,
    signalled: Vec<u64>,
    /// How many times `run_until` stopped early.
    early_stops: u64,
}

impl Signals {
    fn new(mut pending: Vec<(u64, u64)>) -> Signals {
        pending.sort_by_key(|&(at, _)| at);
        Signals {
            now_us: 0,
            pending,
            signalled: Vec::new(),
            early_stops: 0,
        }
    }
}

impl Clocked for Signals {
    fn now_us(&self) -> u64 {
        self.now_us
    }

    fn run_until(&mut self, until_us: u64) {
        if let Some(&(at, token)) = self.pending.first()
            && at <= until_us
        {
            self.pending.remove(0);
            self.now_us = self.now_us.max(at);
            self.signalled.push(token);
            self.early_stops += 1;
            return;
        }
        self.now_us = self.now_us.max(until_us);
    }

    fn failure(&self) -> Option<String> {
        None
    }

    fn take_signalled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.signalled)
    }
}

fn now_ms(tasks: &Tasks<Signals>) -> u64 {
    tasks.now().as_micros() as u64 / MS
}

#[test]
fn a_signal_before_the_timeout_wakes_the_waiter_at_its_instant() {
    let tasks = Tasks::new(Signals::new(vec![(30 * MS, 1)]), 7);
    assert!(tasks.wait_for(1, ms(100)));
    assert_eq!(now_ms(&tasks), 30);
    assert_eq!(tasks.with(|w| w.early_stops), 1);
}

#[test]
fn a_timeout_returns_false_at_the_timeout_instant() {
    let tasks = Tasks::new(Signals::new(vec![(200 * MS, 1)]), 7);
    assert!(!tasks.wait_for(1, ms(100)));
    assert_eq!(now_ms(&tasks), 100);
    assert!(!tasks.wait_for(1, ms(50)));
    assert_eq!(now_ms(&tasks), 150);
    // Signalled exactly at the timeout instant: in time.
    assert!(tasks.wait_for(1, ms(50)));
    assert_eq!(now_ms(&tasks), 200);
}

#[test]
fn a_token_signalled_before_the_wait_is_claimed_at_once_and_once() {
    let tasks = Tasks::new(Signals::new(vec![(20 * MS, 1)]), 7);
    tasks.sleep(ms(50));
    assert_eq!(
        now_ms(&tasks),
        50,
        "the signal nobody waited for did not cut the sleep short"
    );
    assert!(tasks.wait_for(1, ms(100)));
    assert_eq!(now_ms(&tasks), 50, "no time passed");
    assert!(!tasks.wait_for(1, ms(10)), "a signal is claimed once");
    assert_eq!(now_ms(&tasks), 60);
}

#[test]
fn a_signal_wakes_only_its_waiter() {
    // Task A waits for token 1 (signalled at 30 ms); B waits for token 2 (never) with a
    // 100 ms timeout; the scenario sleeps 60 ms.
    let tasks = Tasks::new(Signals::new(vec![(30 * MS, 1)]), 3);
    let log = Mutex::new(Vec::new());
    let note = |who: &'static str, ok: bool| log.lock().unwrap().push((who, now_ms(&tasks), ok));
    std::thread::scope(|s| {
        let (a, _) = tasks.spawn_task(s, || note("a", tasks.wait_for(1, ms(1_000))));
        let (b, _) = tasks.spawn_task(s, || note("b", tasks.wait_for(2, ms(100))));
        tasks.sleep(ms(60));
        note("scenario", true);
        tasks.join_task(a);
        tasks.join_task(b);
        tasks.end_scope(None);
    });
    assert_eq!(
        log.into_inner().unwrap(),
        vec![("a", 30, true), ("scenario", 60, true), ("b", 100, false)]
    );
}

#[test]
fn a_timeout_waits_for_every_event_of_its_instant() {
    // Two signals at 30 ms: token 1 wakes A; token 2, B, whose timeout is 30 ms. Whichever
    // of A and B the seed picks first at 30 ms, B's token, signalled at its timeout instant,
    // is in time: the world finishes the instant before a timeout is taken.
    let mut firsts = std::collections::BTreeSet::new();
    for seed in 0..8 {
        let tasks = Tasks::new(Signals::new(vec![(30 * MS, 1), (30 * MS, 2)]), seed);
        let log = Mutex::new(Vec::new());
        let note = |who: &'static str, ok: bool| log.lock().unwrap().push((who, now_ms(&tasks), ok));
        std::thread::scope(|s| {
            tasks.spawn_task(s, || note("a", tasks.wait_for(1, ms(1_000))));
            tasks.spawn_task(s, || note("b", tasks.wait_for(2, ms(30))));
            tasks.end_scope(None);
        });
        let log = log.into_inner().unwrap();
        let mut sorted = log.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![("a", 30, true), ("b", 30, true)], "seed {seed}");
        firsts.insert(log[0].0);
    }
    assert_eq!(firsts.len(), 2, "both orders met: {firsts:?}");
}

/// Four clients each wait for their tokens in turn (some signalled at the same instants as
/// others', some too late), beside a sleeper; the log of who resumed when, and with what.
fn interleaving(seed: u64) -> Vec<(u64, u64, bool)> {
    let signals = vec![
        (10 * MS, 10),
        (10 * MS, 20),
        (10 * MS, 30),
        (25 * MS, 11),
        (25 * MS, 40),
        (40 * MS, 21),
        (90 * MS, 31),
        (90 * MS, 41),
        (300 * MS, 12),
    ];
    let tasks = Tasks::new(Signals::new(signals), seed);
    let log = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for client in 1..=4u64 {
            let (tasks, log) = (&tasks, &log);
            tasks.spawn_task(s, move || {
                for k in 0..3 {
                    let ok = tasks.wait_for(client * 10 + k, ms(50));
                    log.lock().unwrap().push((client, now_ms(tasks), ok));
                }
            });
        }
        tasks.spawn_task(s, || {
            for _ in 0..4 {
                tasks.sleep(ms(25));
                log.lock().unwrap().push((0, now_ms(&tasks), true));
            }
        });
        tasks.end_scope(None);
    });
    log.into_inner().unwrap()
}

#[test]
fn one_seed_gives_one_interleaving() {
    let mut orders = std::collections::BTreeSet::new();
    for seed in [1, 2, 99] {
        let first = interleaving(seed);
        orders.insert(first.clone());
        assert_eq!(first, interleaving(seed), "seed {seed}: two runs differ");
        // Whatever the order of ties, each client resumes when its signals say.
        let of = |client| -> Vec<(u64, bool)> {
            first
                .iter()
                .filter(|e| e.0 == client)
                .map(|e| (e.1, e.2))
                .collect()
        };
        // Client 1: 10 at 10 ms, 11 at 25 ms, 12 too late (timeout 25 + 50 ms).
        assert_eq!(of(1), vec![(10, true), (25, true), (75, false)]);
        // Client 2: 20 at 10 ms, 21 at 40 ms, 22 never (timeout 40 + 50 ms).
        assert_eq!(of(2), vec![(10, true), (40, true), (90, false)]);
        // Client 3: 30 at 10 ms, 31 too late (timeout 10 + 50 ms), 32 never (60 + 50 ms).
        assert_eq!(of(3), vec![(10, true), (60, false), (110, false)]);
        // Client 4: 40 at 25 ms, 41 too late (timeout 25 + 50 ms), 42 never (75 + 50 ms).
        assert_eq!(of(4), vec![(25, true), (75, false), (125, false)]);
        assert_eq!(of(0), vec![(25, true), (50, true), (75, true), (100, true)]);
        // The sleeper and the clients woken at 25 ms share the instant: order by seeded key.
        assert_eq!(first.len(), 16);
    }
    assert!(
        orders.len() > 1,
        "ties are broken by the seed's keys, not by task number"
    );
}

#[test]
fn a_failed_task_stops_a_waiter_at_once() {
    let tasks = Tasks::new(Signals::new(Vec::new()), 5);
    let waiter_saw = Mutex::new(None);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        std::thread::scope(|s| {
            tasks.spawn_task(s, || {
                let waited = catch_unwind(AssertUnwindSafe(|| tasks.wait_for(1, ms(10_000))));
                *waiter_saw.lock().unwrap() = Some((now_ms(&tasks), waited.is_err()));
                if let Err(payload) = waited {
                    std::panic::resume_unwind(payload);
                }
            });
            tasks.spawn_task(s, || {
                tasks.sleep(ms(5));
                panic!("client failed");
            });
            tasks.end_scope(None);
        });
    }));
    assert!(outcome.is_err(), "the scope reports the failure");
    assert_eq!(tasks.failure().as_deref(), Some("client failed"));
    assert_eq!(
        waiter_saw.into_inner().unwrap(),
        Some((5, true)),
        "the waiter unwound at 5 ms, not at its 10 s timeout"
    );
}
