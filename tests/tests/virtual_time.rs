//! The scenarios on the simulated cluster (Lab 2's and Lab 3's): they pass, a seed fixes the
//! run, and a failing client fails its scenario with its own message and stops the rest.

use std::time::Duration;

use raft_tests::runner::run_simulated;
use raft_tests::scenarios::{self, SUITE, Scenario};
use raft_tests::{Config, Tester, cmd};

fn scenario(name: &str) -> Scenario {
    scenarios::find(name).unwrap_or_else(|| panic!("no scenario {name}"))
}

#[test]
fn the_whole_suite_passes_on_virtual_time() {
    let lab2 = scenarios::part("lab2");
    let lab3 = scenarios::part("lab3");
    assert_eq!(lab2.len(), 28, "Lab 2: the 2022 suite and its two 2023 additions");
    assert_eq!(
        lab3.len(),
        23,
        "Lab 3: the 2022/2023 suite, 14 tests in 3A and 9 in 3B"
    );
    assert_eq!(SUITE.len(), lab2.len() + lab3.len());
    let runs = [1, 2]
        .into_iter()
        .flat_map(|seed| lab2.iter().map(move |s| (seed, s)))
        .chain(lab3.iter().map(|s| (1, s)));
    for (seed, s) in runs {
        let outcome = run_simulated(*s, seed, true);
        assert!(outcome.failure.is_none(), "{}", outcome.failure_report());
        let figures = outcome
            .report
            .figures
            .expect("a passing scenario prints its pass line");
        assert!(
            figures.seconds > 0.0 && figures.rpcs > 0,
            "{}: {figures:?}",
            s.name
        );
    }
}

#[test]
fn a_seed_replays_bit_for_bit_even_with_concurrent_clients() {
    for name in [
        "TestConcurrentStarts2B",
        "TestUnreliableAgree2C",
        "TestFigure8Unreliable2C",
        "TestUnreliableChurn2C",
        "TestSnapshotInstallUnCrash2D",
    ] {
        let first = run_simulated(scenario(name), 7, true);
        let again = run_simulated(scenario(name), 7, true);
        let other = run_simulated(scenario(name), 8, true);
        assert!(first.failure.is_none(), "{}", first.failure_report());
        assert_eq!(
            first.report.trace_hash, again.report.trace_hash,
            "{name}: same seed, same run"
        );
        assert_eq!(first.report.events, again.report.events, "{name}");
        assert_eq!(first.report.figures, again.report.figures, "{name}");
        assert_ne!(
            first.report.trace_hash, other.report.trace_hash,
            "{name}: another seed, another run"
        );
    }
}

/// Two clients: one polls forever, the other fails after a second of virtual time.
fn a_client_fails(t: &Tester) {
    let cfg = Config::new(t, 3, false);
    cfg.begin("a client fails");
    cfg.scope(|s| {
        s.spawn(|| {
            loop {
                cfg.one(&cmd(cfg.rand_int()), 3, true);
                cfg.sleep(Duration::from_millis(100));
            }
        });
        s.spawn(|| {
            cfg.sleep(Duration::from_secs(1));
            panic!("the second client gives up");
        });
        loop {
            cfg.sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn a_failing_client_fails_its_scenario_and_stops_the_others() {
    let outcome = run_simulated(
        Scenario {
            name: "AClientFails",
            part: "test",
            run: a_client_fails,
        },
        3,
        true,
    );
    assert_eq!(outcome.failure.as_deref(), Some("the second client gives up"));
    assert!(
        !outcome.report.trace_tail.is_empty(),
        "the report shows the last events"
    );
    assert!(
        outcome.report.figures.is_none(),
        "a failed scenario has no pass line"
    );
}

/// A client fails while the scenario waits to join it.
fn a_joined_client_fails(t: &Tester) {
    let cfg = Config::new(t, 3, false);
    cfg.scope(|s| {
        let client = s.spawn(|| {
            cfg.sleep(Duration::from_millis(300));
            panic!("the joined client gives up");
        });
        client.join().expect("the client failed");
    });
}

#[test]
fn a_joined_client_s_failure_is_reported_as_its_own() {
    let outcome = run_simulated(
        Scenario {
            name: "AJoinedClientFails",
            part: "test",
            run: a_joined_client_fails,
        },
        4,
        true,
    );
    assert_eq!(outcome.failure.as_deref(), Some("the joined client gives up"));
}
