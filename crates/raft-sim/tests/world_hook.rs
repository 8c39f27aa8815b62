//! `World::run_until_with`: a driver's hook after every event, and an early stop that leaves
//! the world ready to go on as if it had not stopped.

use raft_core::{Config, PeerId};
use raft_sim::durable::NoStore;
use raft_sim::net::Immediate;
use raft_sim::service::NoService;
use raft_sim::world::{Flow, World, WorldConfig};

const N: usize = 3;
const MS: u64 = 1_000;
const UNTIL_US: u64 = 400 * MS;
/// The driver's events: (instant, tag).
const DRIVER: [(u64, u32); 4] = [(5 * MS, 1), (50 * MS, 2), (50 * MS, 3), (120 * MS, 4)];

type TestWorld = World<Immediate, NoService, NoStore, u32>;

/// Three running nodes ticking every 10 ms, with the driver's events queued.
fn world() -> TestWorld {
    let config = WorldConfig::new(N, 21, 10 * MS);
    let mut world = World::new(
        config,
        Immediate::default(),
        NoService::default(),
        vec![NoStore; N],
    );
    let ids: Vec<PeerId> = (0..N as u32).map(PeerId).collect();
    for i in 0..N {
        world
            .start(i, Config::new(ids[i], ids.clone(), 100 + i as u64))
            .expect("a fresh node starts");
    }
    for (at_us, tag) in DRIVER {
        world.schedule(at_us, tag).expect("room in the queue");
    }
    world
}

/// What the hook saw: each event's instant and its driver tag (`None`: the world's own).
type Seen = Vec<(u64, Option<u32>)>;

/// Runs to `until_us`, noting every event, stopping after the one `stop` picks.
fn run(world: &mut TestWorld, until_us: u64, seen: &mut Seen, stop: impl Fn(usize, Option<u32>) -> bool) {
    world.run_until_with(until_us, |w, x| {
        seen.push((w.now_us(), x));
        if stop(seen.len(), x) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
}

#[test]
fn the_hook_sees_every_event_and_the_drivers_in_time_order() {
    let mut w = world();
    let mut seen = Seen::new();
    run(&mut w, UNTIL_US, &mut seen, |_, _| false);
    assert_eq!(w.now_us(), UNTIL_US);
    assert!(w.fault().is_none());
    let driver: Vec<(u64, u32)> = seen
        .iter()
        .filter_map(|&(at, x)| x.map(|tag| (at, tag)))
        .collect();
    assert_eq!(driver, DRIVER.to_vec());
    let own = seen.iter().filter(|(_, x)| x.is_none()).count() as u64;
    assert!(own > 0, "the nodes' ticks and messages ran");
    assert_eq!(seen.len() as u64, w.trace().events(), "one call per event run");
    assert!(seen.windows(2).all(|p| p[0].0 <= p[1].0), "in time order");
}

#[test]
fn an_early_stop_leaves_the_next_event_to_run_next() {
    let mut whole = world();
    let mut reference = Seen::new();
    run(&mut whole, UNTIL_US, &mut reference, |_, _| false);

    // Stop at the driver's event 2, then 40 or so events later at one of the world's own, then
    // go on.
    let mut parts = world();
    let mut seen = Seen::new();
    run(&mut parts, UNTIL_US, &mut seen, |_, x| x == Some(2));
    assert_eq!(parts.now_us(), 50 * MS, "the clock at the event, not moved on");
    assert_eq!(seen.last(), Some(&(50 * MS, Some(2))));
    let (at, _) = parts.peek().expect("event 3 and more wait");
    assert_eq!(at, 50 * MS, "event 3, due at the same instant, has not run");

    let stop_at = seen.len() + 40;
    run(&mut parts, UNTIL_US, &mut seen, |count, x| {
        count >= stop_at && x.is_none()
    });
    assert!(seen.len() >= stop_at && seen.last().is_some_and(|(_, x)| x.is_none()));
    assert_eq!(parts.now_us(), seen[seen.len() - 1].0);
    assert!(parts.now_us() < UNTIL_US);

    run(&mut parts, UNTIL_US, &mut seen, |_, _| false);
    assert_eq!(parts.now_us(), UNTIL_US);
    assert_eq!(
        seen, reference,
        "the same events, in the same order, at the same instants"
    );
    assert_eq!(parts.trace().hash(), whole.trace().hash());
}

#[test]
fn run_until_drops_the_drivers_events() {
    let mut w = world();
    w.run_until(UNTIL_US);
    assert_eq!(w.now_us(), UNTIL_US);
    let mut seen = Seen::new();
    run(&mut w, 2 * UNTIL_US, &mut seen, |_, _| false);
    assert!(
        seen.iter().all(|(_, x)| x.is_none()),
        "no driver's event is left: {seen:?}"
    );
    assert!(!seen.is_empty());
}

#[test]
fn a_panic_in_the_hook_is_the_runs_fault() {
    let mut w = world();
    w.run_until_with(UNTIL_US, |_, x| {
        assert_ne!(x, Some(3), "the driver's check failed");
        Flow::Continue
    });
    let fault = w.fault().expect("the panic is kept as the fault").to_string();
    assert!(fault.contains("the driver's check failed"), "{fault}");
    assert_eq!(w.now_us(), 50 * MS, "the clock stays at the failed event");
    let mut seen = Seen::new();
    run(&mut w, UNTIL_US, &mut seen, |_, _| false);
    assert!(seen.is_empty(), "a failed world runs nothing more");
    assert_eq!(w.now_us(), 50 * MS);
}
