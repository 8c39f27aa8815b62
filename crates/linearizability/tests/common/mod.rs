//! Random key/value histories for the tests and the bench: concurrent clients against a store
//! that is linearizable by construction, and ways to break such a history.
//!
//! Each client issues its operations back to back. An operation takes effect at one instant
//! inside its interval (its linearization point), drawn at random; the store applies the
//! operations in the order of those instants, which fixes every Get's answer. Since each point
//! lies inside its operation's interval, that order respects real time, so the history is
//! linearizable, with the points as a witness.
#![allow(dead_code)] // each test binary uses part of this module

use linearizability::models::kv::{KvInput, KvModel, KvOperation, KvOutput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// The shape of a random history.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Concurrent clients.
    pub clients: usize,
    /// Operations each client issues.
    pub operations_per_client: usize,
    /// Keys, named "0".."keys-1", chosen uniformly.
    pub keys: usize,
    /// Percent of operations that are Puts.
    pub put_percent: u32,
    /// Percent that are Gets; the rest are Appends.
    pub get_percent: u32,
    /// An operation's call-to-point and point-to-return times are each drawn from 0..=this.
    pub latency_ticks_max: u64,
    /// The pause between a client's return and its next call is drawn from 0..=this.
    pub think_ticks_max: u64,
}

impl Workload {
    /// Lab 3's random-keys mix (50 % Append, 5 % Put, 45 % Get) over a few keys.
    pub fn lab3(clients: usize, operations_per_client: usize, keys: usize) -> Self {
        Self {
            clients,
            operations_per_client,
            keys,
            put_percent: 5,
            get_percent: 45,
            latency_ticks_max: 100,
            think_ticks_max: 20,
        }
    }
}

/// A linearizable history of `workload`, fixed by `seed`, sorted by call time.
pub fn linearizable_kv_history(seed: u64, workload: &Workload) -> Vec<KvOperation> {
    linearizable_kv_history_with_reads(seed, workload).0
}

/// As [`linearizable_kv_history`], with the text each Get read (`None` for other
/// operations), in the history's order: the history keeps long values only as fingerprints.
pub fn linearizable_kv_history_with_reads(
    seed: u64,
    workload: &Workload,
) -> (Vec<KvOperation>, Vec<Option<String>>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    // (linearization point, client, j) for each operation, in the same order as `ops`.
    let mut points: Vec<(u64, usize, usize)> = Vec::new();
    let mut ops: Vec<KvOperation> = Vec::new();
    for client in 0..workload.clients {
        let mut now = rng.random_range(0..=workload.think_ticks_max);
        for j in 0..workload.operations_per_client {
            let call = now;
            let point = call + rng.random_range(0..=workload.latency_ticks_max);
            let ret = point + rng.random_range(0..=workload.latency_ticks_max);
            let key = rng.random_range(0..workload.keys).to_string();
            let token = format!("x {client} {j} y");
            let roll = rng.random_range(0..100);
            let op = if roll < workload.put_percent {
                KvModel::put(client, &key, &token, call, ret)
            } else if roll < workload.put_percent + workload.get_percent {
                KvModel::get(client, &key, "", call, ret)
            } else {
                KvModel::append(client, &key, &token, call, ret)
            };
            points.push((point, client, j));
            ops.push(op);
            now = ret + rng.random_range(0..=workload.think_ticks_max);
        }
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| points[i]);
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    let mut reads: Vec<Option<String>> = vec![None; ops.len()];
    for i in order {
        match &ops[i].input {
            KvInput::Get { key } => {
                let value = store.get(key).cloned().unwrap_or_default();
                ops[i].output = KvOutput::new(&value);
                reads[i] = Some(value);
            }
            KvInput::Put { key, value } => {
                store.insert(key.clone(), value.clone());
            }
            KvInput::Append { key, value } => store.entry(key.clone()).or_default().push_str(value),
        }
    }
    let mut paired: Vec<(KvOperation, Option<String>)> = ops.into_iter().zip(reads).collect();
    paired.sort_by_key(|(op, _)| (op.call_time, op.client_id));
    paired.into_iter().unzip()
}

/// Makes Get number `nth` (counting Gets from the start, wrapping) return a value no key ever
/// holds. Returns the index of the changed operation.
pub fn perturb_with_unwritten_value(history: &mut [KvOperation], nth: usize) -> usize {
    let gets: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].input, KvInput::Get { .. }))
        .collect();
    let target = gets[nth % gets.len()];
    history[target].output = KvOutput::new("never written");
    target
}

/// Makes a Get stale: it returns the value its key had just before an Append that completed
/// before the Get was called, so it misses that Append (and what followed). Needs a history
/// without Puts, where a key's value is its appended tokens in order: then no order can show
/// the Get a value without the completed Append's token, and the history is not linearizable.
/// Picks the first Get at or after position `from` that has such an Append; returns its index.
pub fn perturb_with_stale_read(
    history: &mut [KvOperation],
    reads: &[Option<String>],
    from: usize,
) -> Option<usize> {
    assert!(
        !history.iter().any(|op| matches!(op.input, KvInput::Put { .. })),
        "a stale read is only certain to be illegal without Puts"
    );
    for g in (from..history.len()).chain(0..from) {
        let KvInput::Get { key } = &history[g].input else {
            continue;
        };
        let Some(read) = &reads[g] else {
            continue;
        };
        // The latest place in the value read where an append completed before the Get began.
        let cut = history
            .iter()
            .filter(|a| a.return_time < history[g].call_time)
            .filter_map(|a| match &a.input {
                KvInput::Append { key: k, value } if k == key => read.find(value.as_str()),
                _ => None,
            })
            .max();
        if let Some(cut) = cut {
            let stale = read[..cut].to_owned();
            history[g].output = KvOutput::new(&stale);
            return Some(g);
        }
    }
    None
}
