//! The checker against the definition: on many small random histories, its verdict must be the
//! one found by trying every order of the operations that respects real time. This is what
//! keeps the search's prunings (the cache, and placing state-preserving reads at once) honest.

mod common;

use common::{Workload, linearizable_kv_history};
use linearizability::models::kv::KvOutput;
use linearizability::models::kv::{KvModel, KvOperation};
use linearizability::{CheckOptions, CheckResult, Model, check_operations};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Histories tried per shape; each has at most 9 operations, so at most 9! orders.
const HISTORIES: u64 = 1_000;

/// Whether some order of the unplaced operations extends the placed ones legally.
fn extends(history: &[KvOperation], placed: &mut Vec<bool>, state: &<KvModel as Model>::State) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..history.len() {
        if placed[i] {
            continue;
        }
        // Everything that returned before i was called must already be placed.
        let ready =
            (0..history.len()).all(|j| placed[j] || j == i || history[j].return_time >= history[i].call_time);
        if !ready {
            continue;
        }
        if let Some(next) = KvModel.step(state, &history[i].input, &history[i].output) {
            placed[i] = true;
            let found = extends(history, placed, &next);
            placed[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}

fn brute_force(history: &[KvOperation]) -> CheckResult {
    let mut placed = vec![false; history.len()];
    if extends(history, &mut placed, &KvModel.init()) {
        CheckResult::Ok
    } else {
        CheckResult::Illegal
    }
}

#[test]
fn the_checker_agrees_with_trying_every_order_three_clients() {
    agree_with_brute_force(3, 3);
}

#[test]
fn the_checker_agrees_with_trying_every_order_four_clients() {
    agree_with_brute_force(4, 2);
}

fn agree_with_brute_force(clients: usize, operations_per_client: usize) {
    let workload = Workload {
        latency_ticks_max: 6,
        think_ticks_max: 3,
        put_percent: 20,
        get_percent: 45,
        ..Workload::lab3(clients, operations_per_client, 1)
    };
    let mut verdicts = [0usize; 2];
    for seed in 0..HISTORIES {
        let mut history = linearizable_kv_history(seed, &workload);
        // Half the time, make one read return what another read (or nothing) saw.
        let mut rng = SmallRng::seed_from_u64(seed);
        let reads: Vec<usize> = (0..history.len())
            .filter(|&i| matches!(history[i].input, linearizability::models::kv::KvInput::Get { .. }))
            .collect();
        if reads.len() >= 2 && rng.random_bool(0.5) {
            let (a, b) = (
                reads[rng.random_range(0..reads.len())],
                reads[rng.random_range(0..reads.len())],
            );
            history[a].output = if a == b {
                KvOutput::default()
            } else {
                history[b].output.clone()
            };
        }
        let expected = brute_force(&history);
        let report = check_operations(&KvModel, &history, &CheckOptions::default()).expect("well-formed");
        assert_eq!(report.result, expected, "seed {seed}: {history:#?}");
        verdicts[usize::from(expected == CheckResult::Illegal)] += 1;
    }
    // Both answers must be well represented, or the test proves little.
    assert!(
        verdicts[0] > HISTORIES as usize / 5 && verdicts[1] > HISTORIES as usize / 10,
        "{verdicts:?}"
    );
    eprintln!("linearizable {}, not linearizable {}", verdicts[0], verdicts[1]);
}
