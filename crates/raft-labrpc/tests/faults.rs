//! The fault model measured through the network, over many concurrent calls.
//!
//! Each statistical bound is six standard deviations of the estimate (derived beside it) so
//! a correct network passes every run; upper bounds on times also allow for timer lateness
//! on a busy 2-core machine (`LATE_MS_MAX` for single calls, `MEAN_LATE_MS_MAX` for means).
//! The exact distributions are checked from a fixed seed in `fault`'s unit tests.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{JunkServer, Timed, junk_network, ms, timed_calls};
use raft_labrpc::fault::{
    DEAD_END_LONG_DELAY_MS_MAX, DEAD_END_SHORT_DELAY_MS_MAX, REORDER_DELAY_MS_MIN, REQUEST_DELAY_MS_MAX,
};
use raft_labrpc::{CallError, Network, Responder, Server, Service};

/// How late one timer task may run on a loaded machine.
const LATE_MS_MAX: f64 = 100.0;
/// How late timer tasks may run on average on a loaded machine.
const MEAN_LATE_MS_MAX: f64 = 15.0;

fn mean_ms<R>(calls: &[&Timed<R>]) -> f64 {
    calls.iter().map(|t| ms(t.elapsed)).sum::<f64>() / calls.len() as f64
}

fn max_ms<R>(calls: &[&Timed<R>]) -> f64 {
    calls.iter().map(|t| ms(t.elapsed)).fold(0.0, f64::max)
}

fn min_ms<R>(calls: &[&Timed<R>]) -> f64 {
    calls.iter().map(|t| ms(t.elapsed)).fold(f64::INFINITY, f64::min)
}

#[test]
fn unreliable_requests_wait_0_to_26_ms() {
    let (rn, e, _js) = junk_network("e", "s");
    rn.set_reliable(false);
    let n = 2000;
    let calls = timed_calls::<String>(n, "JunkServer.Handler2", |_| e.clone(), |i| i as i64);
    let all: Vec<_> = calls.iter().collect();
    // Wall time only adds to a drawn delay (a busy machine runs timers late), so the checks
    // that delays are at least Uniform(0..=26) ms are exact, whatever the load:
    // P(no delay >= 20 ms among 2000) = (20/27)^2000, nil.
    let max = max_ms(&all);
    assert!(max >= 20.0, "delays do not spread up to 26 ms: max {max} ms");
    // Uniform 0..=26 ms: mean 13, sd 7.79; over 2000 calls the mean's sd is 0.174 ms, 6 sd
    // = 1.05 ms.
    let mean = mean_ms(&all);
    assert!(mean >= 13.0 - 1.05, "mean request delay {mean} ms");
    // A call can end under 13 ms only if it drew 0..=12 ms: p = 13/27 = 0.481, sd of the share
    // over 2000 calls sqrt(p(1-p)/2000) = 0.0112, 6 sd = 0.067.
    let quick = all.iter().filter(|t| ms(t.elapsed) < 13.0).count() as f64 / n as f64;
    assert!(
        quick <= 13.0 / 27.0 + 0.067,
        "{quick} of the calls ended under 13 ms"
    );
    // And delays are not longer than 26 ms: nine calls in ten end within 26 ms plus what a
    // loaded machine adds to a timer (the mean of a late timer queue is not bounded on a
    // shared machine; a decile is, and a delay drawn past 26 ms would show in it).
    let mut elapsed: Vec<f64> = all.iter().map(|t| ms(t.elapsed)).collect();
    elapsed.sort_by(f64::total_cmp);
    let p90 = elapsed[n * 9 / 10];
    assert!(
        p90 <= REQUEST_DELAY_MS_MAX as f64 + LATE_MS_MAX,
        "90th percentile {p90} ms"
    );
    rn.cleanup();
}

#[test]
fn unreliable_drops_a_tenth_of_requests_and_a_tenth_of_replies() {
    let (rn, e, js) = junk_network("e", "s");
    rn.set_reliable(false);
    let n = 3000;
    let calls = timed_calls::<String>(n, "JunkServer.Handler2", |_| e.clone(), |i| i as i64);
    let log = js.log2.lock().unwrap().clone();
    let handled = rn.count("s");
    assert_eq!(handled, log.len() as u64, "count() = handler runs");

    // Handler runs: Bernoulli(0.9) per request; sd of the share sqrt(0.09 / 3000) = 0.00548,
    // 6 sd = 0.0329.
    let handled_share = handled as f64 / n as f64;
    assert!(
        (handled_share - 0.9).abs() < 0.0329,
        "share of requests handled {handled_share}"
    );

    let mut succeeded = 0u64;
    for t in &calls {
        match &t.outcome {
            Ok(reply) => {
                assert_eq!(reply, &format!("handler2-{}", t.index));
                assert!(log.contains(&(t.index as i64)), "a reply without a handler run");
                succeeded += 1;
            }
            Err(err) => assert_eq!(err, &CallError::Failed),
        }
    }
    // Of the handled calls, a reply is dropped with chance 0.1: sd sqrt(0.09 / handled)
    // (0.0058 for 2700), 6 sd of it.
    let reply_drop_share = (handled - succeeded) as f64 / handled as f64;
    let tolerance = 6.0 * (0.09 / handled as f64).sqrt();
    assert!(
        (reply_drop_share - 0.1).abs() < tolerance,
        "share of replies dropped {reply_drop_share}"
    );
    // A dropped reply leaves the handler's effects in place: failed calls whose argument the
    // handler logged are exactly the dropped replies.
    let failed_but_handled = calls
        .iter()
        .filter(|t| t.outcome.is_err() && log.contains(&(t.index as i64)))
        .count() as u64;
    assert_eq!(failed_but_handled, handled - succeeded);
    rn.cleanup();
}

#[test]
fn long_reordering_delays_two_thirds_of_replies_by_200_to_2199_ms() {
    let (rn, e, _js) = junk_network("e", "s");
    rn.set_long_reordering(true);
    let n = 1500;
    let (tx, rx) = flume::unbounded();
    let start = std::time::Instant::now();
    for i in 0..n {
        let tx = tx.clone();
        let t0 = std::time::Instant::now();
        e.call_with(
            "JunkServer.Handler2",
            &(i as i64),
            move |outcome: Result<String, CallError>| {
                let _ = tx.send(Timed {
                    index: i,
                    outcome,
                    elapsed: t0.elapsed(),
                });
            },
        );
    }
    let bytes_after_sending = rn.total_bytes();
    let sending = start.elapsed();
    drop(tx);
    let calls: Vec<_> = (0..n)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();

    let reply_bytes = |i: usize| format!("handler2-{i}").len() as u64 + 1; // 1-byte length
    let arg_bytes = |i: usize| if i < 64 { 1 } else { 2 }; // zigzag(i) = 2i, varint
    let expected_total: u64 = (0..n).map(|i| arg_bytes(i) + reply_bytes(i)).sum();
    assert_eq!(
        rn.total_bytes(),
        expected_total,
        "every request and reply counted once"
    );
    if sending < Duration::from_millis(REORDER_DELAY_MS_MIN) {
        // Reordered replies were still on their way: their bytes were not counted yet.
        assert!(
            bytes_after_sending < expected_total,
            "reply bytes counted before delivery"
        );
    }

    let mut delayed = Vec::new();
    for t in &calls {
        assert_eq!(t.outcome.as_deref(), Ok(format!("handler2-{}", t.index).as_str()));
        // A reply not reordered completes inline, within microseconds.
        if ms(t.elapsed) >= 100.0 {
            delayed.push(t);
        }
    }
    // Bernoulli(2/3): sd sqrt(2/9 / 1500) = 0.0122, 6 sd = 0.073.
    let share = delayed.len() as f64 / n as f64;
    assert!(
        (share - 2.0 / 3.0).abs() < 0.073,
        "share of replies reordered {share}"
    );
    let (min, max) = (min_ms(&delayed), max_ms(&delayed));
    assert!(
        min >= REORDER_DELAY_MS_MIN as f64,
        "a reordered reply after only {min} ms"
    );
    assert!(max <= 2199.0 + LATE_MS_MAX, "a reordered reply after {max} ms");
    // Delay 200 + extra, extra uniform below a bound uniform in 0..=1999: mean 699.75 ms,
    // sd 441 ms (see fault.rs); over ~1000 replies the mean's sd is ~14 ms; 6 sd of it.
    let mean = mean_ms(&delayed);
    let tolerance = 6.0 * 441.0 / (delayed.len() as f64).sqrt();
    assert!(mean >= 699.75 - tolerance, "mean reordered delay {mean} ms");
    assert!(
        mean <= 699.75 + tolerance + MEAN_LATE_MS_MAX,
        "mean reordered delay {mean} ms"
    );
    rn.cleanup();
}

/// Three kinds of dead end: disabled, unconnected, connected to a deleted server.
fn dead_ends(rn: &Network) -> [raft_labrpc::ClientEnd; 3] {
    let js = JunkServer::new();
    rn.add_server("deleted", js.server());
    rn.add_server("alive", js.server());
    let disabled = rn.make_end("disabled").unwrap();
    rn.connect("disabled", "alive");
    let unconnected = rn.make_end("unconnected").unwrap();
    rn.enable("unconnected", true);
    let to_deleted = rn.make_end("to-deleted").unwrap();
    rn.connect("to-deleted", "deleted");
    rn.enable("to-deleted", true);
    rn.delete_server("deleted");
    [disabled, unconnected, to_deleted]
}

fn check_dead_end_delays(long_delays: bool, n: usize, max_delay_ms: u64) {
    let rn = Network::new();
    rn.set_long_delays(long_delays);
    let ends = dead_ends(&rn);
    let calls = timed_calls::<String>(n, "JunkServer.Handler2", |i| ends[i % 3].clone(), |i| i as i64);
    assert!(
        calls.iter().all(|t| t.outcome == Err(CallError::Failed)),
        "every call fails"
    );
    assert_eq!(rn.count("alive"), 0, "no handler runs");
    assert_eq!(rn.total_count(), n as u64, "every call entered the network");

    let all: Vec<_> = calls.iter().collect();
    let (min, max, mean) = (min_ms(&all), max_ms(&all), mean_ms(&all));
    let top = max_delay_ms as f64;
    assert!(max <= top + LATE_MS_MAX, "a dead-end call failed after {max} ms");
    // Spread over the whole range: P(all above 1/7 of it, or all below 6/7) = 2 (6/7)^n, nil.
    assert!(
        min <= top / 7.0 && max >= top * 6.0 / 7.0,
        "delays {min}..{max} ms"
    );
    // Uniform 0..=top: mean top/2, sd (top + 1)/sqrt(12); 6 sd of the mean over n calls.
    let tolerance = 6.0 * (top + 1.0) / 12f64.sqrt() / (n as f64).sqrt();
    assert!(mean >= top / 2.0 - tolerance, "mean dead-end delay {mean} ms");
    assert!(
        mean <= top / 2.0 + tolerance + MEAN_LATE_MS_MAX,
        "mean dead-end delay {mean} ms"
    );
    rn.cleanup();
}

/// With long delays (what the Raft tester uses) a dead end fails after 0..=6999 ms. For
/// 1000 calls the mean's 6-sd tolerance is 6 * 2020.7 / 31.6 = 383 ms.
#[test]
fn dead_end_calls_fail_after_0_to_6999_ms_with_long_delays() {
    check_dead_end_delays(true, 1000, DEAD_END_LONG_DELAY_MS_MAX);
}

/// Without long delays a dead end fails after 0..=99 ms. For 2000 calls the mean's 6-sd
/// tolerance is 6 * 28.9 / 44.7 = 3.9 ms.
#[test]
fn dead_end_calls_fail_after_0_to_99_ms_without_long_delays() {
    check_dead_end_delays(false, 2000, DEAD_END_SHORT_DELAY_MS_MAX);
}

/// A server whose handlers keep every responder in `held`.
fn holding_server(held: &flume::Sender<Responder<u64>>) -> Server {
    let mut svc = Service::new("Hold");
    let held = held.clone();
    svc.method("Hold", move |_x: u64, r: Responder<u64>| {
        let _ = held.send(r);
    });
    let mut server = Server::new();
    server.add_service(svc);
    server
}

/// labrpc's `isServerDead`, for the three ways a server dies under a call: replaced,
/// deleted, or its end disabled. Calls held by the handler fail at once; their late
/// answers reach nobody; the new instance's count starts from zero.
#[test]
fn calls_held_by_a_dead_server_fail_at_once() {
    for how in ["replace", "delete", "disable"] {
        let rn = Network::new();
        let (held_tx, held_rx) = flume::unbounded();
        rn.add_server("s", holding_server(&held_tx));
        let e = rn.make_end("e").unwrap();
        rn.connect("e", "s");
        rn.enable("e", true);
        let n = 200;
        let outcomes: Vec<_> = (0..n).map(|i| e.call_async::<_, u64>("Hold.Hold", &i)).collect();
        assert_eq!(rn.count("s"), n, "{how}: every call reached the handler");
        assert!(
            outcomes.iter().all(|o| o.is_empty()),
            "{how}: held calls are pending"
        );

        match how {
            "replace" => rn.add_server("s", holding_server(&held_tx)),
            "delete" => rn.delete_server("s"),
            _ => rn.enable("e", false),
        }
        for o in &outcomes {
            // Already completed by the kill, on this thread: no waiting needed.
            assert_eq!(
                o.try_recv(),
                Ok(Err(CallError::Failed)),
                "{how}: held call fails at once"
            );
        }
        if how == "disable" {
            rn.enable("e", true); // alive again: stale answers must still go nowhere
        }
        for r in held_rx.try_iter().take(n as usize) {
            r.respond(7);
        }
        assert!(
            outcomes.iter().all(|o| o.try_recv().is_err()),
            "{how}: a late answer arrived"
        );

        // A replacement is a new instance, counted from zero; a deleted server counts nothing.
        let expected_count = if how == "disable" { n } else { 0 };
        assert_eq!(rn.count("s"), expected_count, "{how}: count()");
        if how != "delete" {
            let answer = e.call_async::<_, u64>("Hold.Hold", &1u64);
            let r = held_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            r.respond(42);
            assert_eq!(
                answer.recv_timeout(Duration::from_secs(5)),
                Ok(Ok(42)),
                "{how}: alive"
            );
        }
        rn.cleanup();
    }
}

/// A server replaced while its handlers answer from another thread: every call completes
/// exactly once, and no answer given after the replacement gets through, whatever the timing.
#[test]
fn answers_racing_a_replacement_complete_each_call_once() {
    let rn = Network::new();
    let (held_tx, held_rx) = flume::unbounded();
    rn.add_server("s", holding_server(&held_tx));
    let e = rn.make_end("e").unwrap();
    rn.connect("e", "s");
    rn.enable("e", true);
    let n = 2000u64;
    let completions: Vec<_> = (0..n).map(|_| Arc::new(AtomicU32::new(0))).collect();
    let outcomes: Vec<_> = (0..n).map(|_| Arc::new(Mutex::new(None))).collect();
    for i in 0..n as usize {
        let (times, outcome) = (Arc::clone(&completions[i]), Arc::clone(&outcomes[i]));
        e.call_with("Hold.Hold", &(i as u64), move |o: Result<u64, CallError>| {
            times.fetch_add(1, Ordering::SeqCst);
            *outcome.lock().unwrap() = Some(o);
        });
    }
    // The answerer answers the first half, tells us, and goes on answering while we
    // replace the server: the second half races the replacement.
    let replaced = Arc::new(AtomicBool::new(false));
    let (half_tx, half_rx) = flume::bounded(1);
    let answerer = {
        let replaced = Arc::clone(&replaced);
        thread::spawn(move || {
            let mut answered_after = Vec::new();
            for (k, r) in held_rx.iter().take(n as usize).enumerate() {
                if k == n as usize / 2 {
                    let _ = half_tx.send(());
                }
                let after = replaced.load(Ordering::SeqCst);
                r.respond(1);
                answered_after.push(after);
            }
            answered_after
        })
    };
    half_rx.recv().unwrap();
    rn.add_server("s", holding_server(&held_tx));
    replaced.store(true, Ordering::SeqCst);
    let answered_after = answerer.join().unwrap();
    drop(held_tx);

    // The handler received the calls in order, so answer k belongs to call k.
    for (k, after) in answered_after.iter().enumerate() {
        assert_eq!(
            completions[k].load(Ordering::SeqCst),
            1,
            "call {k} completed exactly once"
        );
        let outcome = outcomes[k].lock().unwrap().clone();
        if k < n as usize / 2 {
            assert_eq!(outcome, Some(Ok(1)), "call {k} answered before the replacement");
        } else if *after {
            assert_eq!(
                outcome,
                Some(Err(CallError::Failed)),
                "call {k} answered after replacement"
            );
        } else {
            assert!(
                matches!(outcome, Some(Ok(1) | Err(CallError::Failed))),
                "call {k}: {outcome:?}"
            );
        }
    }
    rn.cleanup();
}
