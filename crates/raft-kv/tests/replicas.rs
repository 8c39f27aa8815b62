//! Two replicas fed the same log reach the same state, whatever that log holds: several
//! clients' requests, committed in a random order, some twice (a retry through another
//! leader), some long after (a duplicate of an older request), with garbage between, and a
//! snapshot handed from one replica to a fresh third mid-way. Seeded; the seed is printed.

use raft_core::{LogIndex, Term};
use raft_kv::{ClientId, Decision, KvOp, KvStore, Rsm, Seq};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Seeds run by the test.
const SEEDS: u64 = 200;
/// Clients per run.
const CLIENTS: u64 = 4;
/// Calls per client per run.
const CALLS_PER_CLIENT: u64 = 25;

fn random_op(rng: &mut SmallRng, client: u64, seq: u64) -> KvOp {
    let key = format!("k{}", rng.random_range(0..3));
    match rng.random_range(0..3) {
        0 => KvOp::Get { key },
        1 => KvOp::Put {
            key,
            value: format!("{client}.{seq}"),
        },
        _ => KvOp::Append {
            key,
            value: format!("[{client}.{seq}]"),
        },
    }
}

/// A log as Raft could commit it: each client's calls in order (one call at a time), the
/// clients interleaved at random, some commands repeated later, and garbage entries.
fn random_log(rng: &mut SmallRng) -> (Vec<Vec<u8>>, u64) {
    let mut garbage = 0;
    let mut next_seq = vec![1u64; CLIENTS as usize];
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut log = Vec::new();
    while next_seq.iter().any(|&s| s <= CALLS_PER_CLIENT) {
        let roll = rng.random_range(0..10);
        if roll == 0 && !sent.is_empty() {
            let old = rng.random_range(0..sent.len());
            log.push(sent[old].clone()); // a retry committed again, possibly much later
        } else if roll == 1 {
            // Never a command: a varint cut short (postcard's u64 takes up to 10 bytes).
            log.push(vec![0xff; rng.random_range(0..10)]);
            garbage += 1;
        } else {
            let client = rng.random_range(0..CLIENTS);
            let seq = next_seq[client as usize];
            if seq > CALLS_PER_CLIENT {
                continue;
            }
            let op = random_op(rng, client, seq);
            let command = Rsm::<KvStore>::propose(ClientId(client), Seq(seq), op).unwrap();
            sent.push(command.clone());
            log.push(command);
            next_seq[client as usize] += 1;
        }
    }
    (log, garbage)
}

#[test]
fn replicas_fed_the_same_log_agree_and_apply_each_call_once() {
    for seed in 0..SEEDS {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (log, garbage) = random_log(&mut rng);
        let mut a = Rsm::new(KvStore::new());
        let mut b = Rsm::new(KvStore::new());
        let mut late = Rsm::new(KvStore::new());
        let handoff = rng.random_range(1..=log.len());
        let mut executed = 0u64;
        for (i, command) in (1u64..).zip(&log) {
            let term = Term(1 + i / 10);
            let da = a.apply(LogIndex(i), term, command).unwrap().decision;
            let db = b.apply(LogIndex(i), term, command).unwrap().decision;
            assert_eq!(da, db, "seed {seed}: replicas decided apart at index {i}");
            executed += u64::from(matches!(da, Decision::Executed(_)));
            if i as usize == handoff {
                late.restore(&a.snapshot().unwrap()).unwrap();
            } else if i as usize > handoff {
                let dl = late.apply(LogIndex(i), term, command).unwrap().decision;
                assert_eq!(da, dl, "seed {seed}: the restored replica decided apart at {i}");
            }
        }
        assert_eq!(
            executed,
            CLIENTS * CALLS_PER_CLIENT,
            "seed {seed}: each call once"
        );
        assert_eq!(a.state(), b.state(), "seed {seed}");
        assert_eq!(a.state(), late.state(), "seed {seed}");
        assert_eq!(a.snapshot().unwrap(), b.snapshot().unwrap(), "seed {seed}");
        assert_eq!(a.snapshot().unwrap(), late.snapshot().unwrap(), "seed {seed}");
        assert_eq!(a.undecodable_commands(), garbage, "seed {seed}");
        assert_eq!(b.undecodable_commands(), garbage, "seed {seed}");
    }
}
