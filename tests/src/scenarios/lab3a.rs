//! Part 3A of 6.824 Lab 3: the key/value service without snapshots (maxraftstate -1), the
//! 14 tests of test_test.go in its order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::lab3::{ELECTION_TIMEOUT, Generic, generic_test, generic_test_speed, spawn_clients_and_wait};
use crate::Tester;
use crate::kv::{KvConfig, append, check, check_concurrent_appends, get, put};

/// TestBasic3A: one client.
pub fn basic_3a(t: &Tester) {
    generic_test(t, Generic::new("3A", 1, 5));
}

/// TestSpeed3A: 1000 sequential appends at no more than 33.3 ms each.
pub fn speed_3a(t: &Tester) {
    generic_test_speed(t, "3A", None);
}

/// TestConcurrent3A: many clients.
pub fn concurrent_3a(t: &Tester) {
    generic_test(t, Generic::new("3A", 5, 5));
}

/// TestUnreliable3A: unreliable net, many clients.
pub fn unreliable_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestUnreliableOneKey3A: five clients append ten elements each to one key over an
/// unreliable network; each element must be there once, in its client's order.
pub fn unreliable_one_key_3a(t: &Tester) {
    const NCLIENT: usize = 5;
    const UPTO: usize = 10;
    let cfg = KvConfig::new(t, 3, true, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: concurrent append to same key, unreliable (3A)");
    put(&cfg, &mut ck, "k", "", None, 0);
    spawn_clients_and_wait(&cfg, NCLIENT, |me, myck| {
        for n in 0..UPTO {
            append(&cfg, myck, "k", &format!("x {me} {n} y"), None, 0);
        }
    });
    let vx = get(&cfg, &mut ck, "k", None, 0);
    check_concurrent_appends(&vx, &[UPTO; NCLIENT]);
    cfg.end();
}

/// How often TestOnePartition3A looks whether a minority's call has completed, and how many
/// times (30 x 100 ms: "Put did not complete" after 3 s).
const HEAL_POLL: Duration = Duration::from_millis(100);
const HEAL_POLLS: u32 = 30;

/// Waits up to 3 s (30 x 100 ms) for both of `done`; says which completed.
fn complete_within_heal_bound(cfg: &KvConfig, done: [&AtomicBool; 2]) -> [bool; 2] {
    let both = || done.map(|d| d.load(Ordering::Acquire));
    for _ in 0..HEAL_POLLS {
        if both() == [true, true] {
            break;
        }
        cfg.sleep(HEAL_POLL);
    }
    both()
}

/// TestOnePartition3A: with the leader in a minority of two, the majority makes progress,
/// the minority does not (neither a Put nor a Get completes within a second), and once the
/// partition heals the minority's Put completes within 3 s, applied once and after the
/// majority's Put.
///
/// One deliberate difference from Go: Go looks at the minority's Get without waiting (a
/// `select` with a `default` branch), so "Get did not complete" can never fire; here the Put
/// and the Get must both complete within the same 3 s.
pub fn one_partition_3a(t: &Tester) {
    let cfg = KvConfig::new(t, 5, false, None);
    let mut ck = cfg.make_client(&cfg.all());
    put(&cfg, &mut ck, "1", "13", None, 0);

    cfg.begin("Test: progress in majority (3A)");
    let (p1, p2) = cfg.make_partition();
    cfg.partition(&p1, &p2);
    let mut ckp1 = cfg.make_client(&p1);
    let mut ckp2a = cfg.make_client(&p2);
    let mut ckp2b = cfg.make_client(&p2);
    put(&cfg, &mut ckp1, "1", "14", None, 0);
    check(&cfg, &mut ckp1, "1", "14");
    cfg.end();

    let (id2a, id2b) = (ckp2a.id(), ckp2b.id());
    let done0 = AtomicBool::new(false);
    let done1 = AtomicBool::new(false);
    cfg.begin("Test: no progress in minority (3A)");
    cfg.scope(|s| {
        let (cfg, done0, done1) = (&cfg, &done0, &done1);
        let (ckp2a, ckp2b) = (&mut ckp2a, &mut ckp2b);
        s.spawn(move || {
            put(cfg, ckp2a, "1", "15", None, 0);
            done0.store(true, Ordering::Release);
        });
        s.spawn(move || {
            get(cfg, ckp2b, "1", None, 0); // a different clerk in p2
            done1.store(true, Ordering::Release);
        });
        cfg.sleep(Duration::from_secs(1));
        assert!(!done0.load(Ordering::Acquire), "Put in minority completed");
        assert!(!done1.load(Ordering::Acquire), "Get in minority completed");
        check(cfg, &mut ckp1, "1", "14");
        put(cfg, &mut ckp1, "1", "16", None, 0);
        check(cfg, &mut ckp1, "1", "16");
        cfg.end();

        cfg.begin("Test: completion after heal (3A)");
        cfg.connect_all();
        let all = cfg.all();
        cfg.connect_client(id2a, &all);
        cfg.connect_client(id2b, &all);
        cfg.sleep(ELECTION_TIMEOUT);
        let [put, get] = complete_within_heal_bound(cfg, [done0, done1]);
        assert!(put, "Put did not complete");
        assert!(get, "Get did not complete");
    });
    check(&cfg, &mut ck, "1", "15");
    cfg.end();
}

/// TestManyPartitionsOneClient3A: partitions, one client.
pub fn many_partitions_one_client_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            partitions: true,
            ..Generic::new("3A", 1, 5)
        },
    );
}

/// TestManyPartitionsManyClients3A: partitions, many clients.
pub fn many_partitions_many_clients_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            partitions: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestPersistOneClient3A: restarts, one client.
pub fn persist_one_client_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            crash: true,
            ..Generic::new("3A", 1, 5)
        },
    );
}

/// TestPersistConcurrent3A: restarts, many clients.
pub fn persist_concurrent_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            crash: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestPersistConcurrentUnreliable3A: unreliable net, restarts, many clients.
pub fn persist_concurrent_unreliable_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestPersistPartition3A: restarts, partitions, many clients.
pub fn persist_partition_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            crash: true,
            partitions: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestPersistPartitionUnreliable3A: unreliable net, restarts, partitions, many clients.
pub fn persist_partition_unreliable_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            partitions: true,
            ..Generic::new("3A", 5, 5)
        },
    );
}

/// TestPersistPartitionUnreliableLinearizable3A: unreliable net, restarts, partitions, random
/// keys, 15 clients on 7 servers; the linearizability checker is the only judge.
pub fn persist_partition_unreliable_linearizable_3a(t: &Tester) {
    generic_test(
        t,
        Generic {
            unreliable: true,
            crash: true,
            partitions: true,
            randomkeys: true,
            ..Generic::new("3A", 15, 7)
        },
    );
}
