//! labrpc's call API for calls that are not Raft messages (a clerk's): dead ends, ends
//! disabled mid-call, callers' ends across a node's restart, counts, and the draws shared
//! with the Raft messages' [`Network`] path.

use raft_core::message::{Reply, Request, RequestVoteArgs, RequestVoteReply};
use raft_core::{LogIndex, PeerId, Term};
use raft_sim::net::{Call, CallFate, Labrpc, Network};
use raft_sim::trace::Fate;

const N: usize = 3;
const MS: u64 = 1_000;

/// A network of `N` nodes with one clerk, whose end to every node is enabled.
fn with_clerk(seed: u64) -> (Labrpc, usize) {
    let mut net = Labrpc::new(N, seed);
    let clerk = net.add_caller();
    for to in 0..N {
        net.enable(clerk, to, true);
    }
    (net, clerk)
}

/// The next `k` fates of calls from `from` to node 0 (running): what the network draws next.
fn next_fates(net: &mut Labrpc, from: usize, k: usize) -> Vec<CallFate> {
    (0..k).map(|_| net.start_call(from, 0, true, 1).0).collect()
}

/// A call from `clerk` to node 0 that reached its handler (unreliable networks drop some).
fn arrived_call(net: &mut Labrpc, clerk: usize) -> Call {
    loop {
        if let (CallFate::Arrives { .. }, call) = net.start_call(clerk, 0, true, 1) {
            return call;
        }
    }
}

fn vote_request() -> Request {
    Request::RequestVote(RequestVoteArgs {
        term: Term(3),
        candidate_id: PeerId(1),
        last_log_index: LogIndex(7),
        last_log_term: Term(2),
        transfer: false,
    })
}

fn vote_reply() -> Reply {
    Reply::RequestVote(RequestVoteReply {
        term: Term(3),
        vote_granted: true,
    })
}

#[test]
fn callers_are_numbered_after_the_nodes() {
    let mut net = Labrpc::new(N, 1);
    assert_eq!(net.add_caller(), N);
    assert_eq!(net.add_caller(), N + 1);
}

#[test]
fn a_dead_end_fails_after_labrpcs_delay_and_is_counted() {
    let mut net = Labrpc::new(N, 7);
    let clerk = net.add_caller();
    let calls = 300;
    let mut short = Vec::new();
    for _ in 0..calls {
        match net.start_call(clerk, 0, true, 10).0 {
            CallFate::FailsAfter { after_us } => short.push(after_us),
            fate => panic!("a disabled end let a call through: {fate:?}"),
        }
    }
    assert!(short.iter().all(|&us| us <= 99 * MS && us % MS == 0), "{short:?}");
    assert!(
        short.iter().any(|&us| us != short[0]),
        "a delay is drawn per call"
    );
    assert_eq!(net.rpc_total(), calls);
    assert_eq!(net.bytes_total(), 10 * calls);
    assert_eq!(net.rpc_count(0), 0, "no handler ran");

    // An enabled end to a server with no running instance is a dead end too.
    net.enable(clerk, 0, true);
    let (fate, _) = net.start_call(clerk, 0, false, 10);
    assert!(matches!(fate, CallFate::FailsAfter { .. }), "{fate:?}");

    // With long delays, up to 7 s.
    net.set_long_delays(true);
    net.enable(clerk, 0, false);
    let long: Vec<u64> = (0..calls)
        .map(|_| match net.start_call(clerk, 0, true, 10).0 {
            CallFate::FailsAfter { after_us } => after_us,
            fate => panic!("a disabled end let a call through: {fate:?}"),
        })
        .collect();
    assert!(long.iter().all(|&us| us <= 6_999 * MS), "{long:?}");
    assert!(
        long.iter().any(|&us| us > 99 * MS),
        "long delays reach past 99 ms"
    );
}

#[test]
fn a_call_draws_what_a_raft_message_draws() {
    // Two twins: one sends Raft messages, the other starts calls; the same draws in the
    // same order give the same fates, through enabled and disabled ends, running servers
    // and missing ones, reliable and not.
    let (mut raft, _) = with_clerk(11);
    let mut calls = raft.clone();
    let request = vote_request();
    for node in 0..N {
        for to in 0..N {
            raft.enable(node, to, (node + to) % 2 == 0);
            calls.enable(node, to, (node + to) % 2 == 0);
        }
    }
    let mut seen = (0, 0, 0);
    for round in 0..600 {
        if round == 200 {
            raft.set_reliable(false);
            calls.set_reliable(false);
        }
        if round == 400 {
            raft.set_long_delays(true);
            calls.set_long_delays(true);
        }
        let (from, to, running) = (round % N, (round / N) % N, round % 7 != 0);
        let (fate, _) = raft.send(from, to, running, &request);
        let (call_fate, _) = calls.start_call(from, to, running, 1);
        match (fate, call_fate) {
            (Fate::Delayed(us), CallFate::Arrives { after_us }) => {
                assert_eq!(us, after_us);
                seen.0 += 1;
            }
            (Fate::Dropped, CallFate::FailsAfter { .. }) => seen.1 += 1,
            (Fate::DeadEnd, CallFate::FailsAfter { .. }) => seen.2 += 1,
            other => panic!("round {round}: the two paths disagree: {other:?}"),
        }
    }
    assert!(
        seen.0 > 0 && seen.1 > 0 && seen.2 > 0,
        "every kind of fate met: {seen:?}"
    );
    assert_eq!(raft.rpc_total(), calls.rpc_total());
}

#[test]
fn an_end_disabled_mid_call_fails_it_without_a_draw() {
    let (mut net, clerk) = with_clerk(3);
    net.set_reliable(false);
    let call = arrived_call(&mut net, clerk);
    net.handle_call(0, call);
    assert!(net.call_alive(clerk, 0, call));

    net.enable(clerk, 0, false);
    assert!(!net.call_alive(clerk, 0, call), "disabled now");
    net.enable(clerk, 0, true);
    assert!(!net.call_alive(clerk, 0, call), "disabled since the call started");

    let mut twin = net.clone();
    assert_eq!(
        net.finish_call(0, clerk, call),
        CallFate::FailsAfter { after_us: 0 }
    );
    // Nothing was drawn: the next calls meet the same fates as the twin's.
    assert_eq!(next_fates(&mut net, clerk, 40), next_fates(&mut twin, clerk, 40));
    // A call started after the end came back is alive.
    let later = arrived_call(&mut net, clerk);
    assert!(net.call_alive(clerk, 0, later));
}

#[test]
fn a_reply_is_dropped_or_delivered_with_the_flags_of_the_calls_start() {
    // Unreliable: about one reply in ten is lost, failing the call at once.
    let (mut net, clerk) = with_clerk(5);
    net.set_reliable(false);
    let (mut lost, mut delivered) = (0, 0);
    for _ in 0..500 {
        let call = arrived_call(&mut net, clerk);
        match net.finish_call(0, clerk, call) {
            CallFate::FailsAfter { after_us: 0 } => lost += 1,
            CallFate::Arrives { after_us: 0 } => delivered += 1,
            fate => panic!("no reordering asked for: {fate:?}"),
        }
    }
    assert!(lost > 0 && delivered > lost, "{lost} lost, {delivered} delivered");

    // A call that left before long reordering was turned on is not reordered, and its
    // reply draws nothing (the flags are the call's).
    let (mut net, clerk) = with_clerk(5);
    let call = arrived_call(&mut net, clerk);
    net.set_long_reordering(true);
    let mut twin = net.clone();
    assert_eq!(net.finish_call(0, clerk, call), CallFate::Arrives { after_us: 0 });
    assert_eq!(next_fates(&mut net, clerk, 40), next_fates(&mut twin, clerk, 40));

    // Calls that left with it on: two thirds of the replies wait 200..=2199 ms.
    let delays: Vec<u64> = (0..300)
        .map(|_| {
            let call = arrived_call(&mut net, clerk);
            match net.finish_call(0, clerk, call) {
                CallFate::Arrives { after_us } => after_us,
                fate => panic!("a reliable network lost a reply: {fate:?}"),
            }
        })
        .collect();
    assert!(
        delays
            .iter()
            .all(|&us| us == 0 || (200 * MS..=2_199 * MS).contains(&us)),
        "{delays:?}"
    );
    let reordered = delays.iter().filter(|&&us| us > 0).count();
    assert!(
        reordered > delays.len() / 2,
        "{reordered} of {} reordered",
        delays.len()
    );
}

#[test]
fn a_clerks_ends_survive_a_nodes_restart() {
    let (mut net, clerk) = with_clerk(9);
    for (from, to) in [(0, 1), (1, 0)] {
        net.enable(from, to, true);
    }
    let (_, in_flight) = net.start_call(clerk, 0, true, 1);
    net.handle_call(0, in_flight);
    assert_eq!(net.rpc_count(0), 1);

    net.stopped(0);
    net.started(0);

    assert!(
        net.call_alive(clerk, 0, in_flight),
        "the clerk's end was not touched"
    );
    assert!(matches!(
        net.start_call(clerk, 0, true, 1).0,
        CallFate::Arrives { .. }
    ));
    assert_eq!(net.rpc_count(0), 0, "a fresh server's count");
    // The restarted node's own ends are fresh and disabled; others' ends to it are not.
    assert!(matches!(
        net.start_call(0, 1, true, 1).0,
        CallFate::FailsAfter { .. }
    ));
    assert!(matches!(
        net.start_call(1, 0, true, 1).0,
        CallFate::Arrives { .. }
    ));
}

#[test]
fn counts_calls_handlers_and_bytes() {
    let (mut net, clerk) = with_clerk(13);
    let (_, to_0) = net.start_call(clerk, 0, true, 100);
    let (_, to_1) = net.start_call(clerk, 1, true, 20);
    let _dead = net.start_call(clerk, 2, false, 3);
    assert_eq!(net.rpc_total(), 3);
    assert_eq!(net.bytes_total(), 123, "request bytes count at the start");

    net.handle_call(0, to_0);
    net.handle_call(1, to_1);
    net.handle_call(1, to_1);
    assert_eq!((net.rpc_count(0), net.rpc_count(1), net.rpc_count(2)), (1, 2, 0));

    assert_eq!(net.finish_call(0, clerk, to_0), CallFate::Arrives { after_us: 0 });
    assert_eq!(net.bytes_total(), 123, "reply bytes count on arrival, not before");
    net.reply_arrived(40);
    assert_eq!(net.bytes_total(), 163);
    assert_eq!(net.rpc_total(), 3, "a reply is not a call");

    net.stopped(1);
    assert_eq!(net.rpc_count(1), 0, "a deleted server's count is 0");

    // The Raft messages' path counts the same way: the request at send, the handler at
    // arrival, the reply's bytes when it reaches the caller.
    net.enable(0, 1, true);
    let (_, call) = net.send(0, 1, true, &vote_request());
    assert_eq!(net.rpc_total(), 4);
    assert!(net.bytes_total() > 163);
    assert!(net.arrive_request(0, 1, call));
    assert_eq!(net.rpc_count(1), 1);
    let before_reply = net.bytes_total();
    assert_eq!(net.reply(1, 0, call, &vote_reply()), Fate::Delayed(0));
    assert_eq!(net.bytes_total(), before_reply);
    assert!(net.arrive_reply(1, 0, call, &vote_reply()));
    assert!(net.bytes_total() > before_reply);
}
