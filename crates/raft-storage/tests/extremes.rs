//! Indices and terms at the top of their range, in seeded random sequences of calls, valid or
//! not, run on `FilePersister` and on `MemoryPersister` (the model) side by side. No call may
//! panic; both backends must give the same answer to each; and the directory must reopen after
//! every call, to the model's state and sizes.
//!
//! Replay a failure with the seed it prints: `SEED=<n> cargo test -p raft-storage --test
//! extremes`.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{
    FilePersister, HardState, LOG_INDEX_MAX, MemoryPersister, Snapshot, SnapshotMeta, Storage, StorageError,
};

/// Seeds run by default.
const SEEDS: u64 = 24;
/// Calls per seed, each followed by a reopen.
const CALLS_PER_SEED: usize = 40;
/// Entries per random append, at most.
const BATCH_LEN_MAX: u64 = 4;

/// A small deterministic generator (xorshift64*), so a failure names a replayable seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// One of `choices`.
    fn pick(&mut self, choices: &[u64]) -> u64 {
        choices[self.below(choices.len() as u64) as usize]
    }
}

/// Where a seed's indices live: from the bottom to the very top of the range.
fn region(seed: u64) -> u64 {
    [0, 1_000, u64::MAX / 2, LOG_INDEX_MAX.0 - 30][(seed % 4) as usize]
}

/// A term: ordinary, or at the top of its range.
fn term(rng: &mut Rng) -> Term {
    let any = rng.next();
    Term(rng.pick(&[0, 1, 7, u64::MAX - 1, u64::MAX, any]))
}

/// One call, drawn from the state the model is in.
#[derive(Clone, Debug)]
enum Call {
    Save(HardState),
    Append(Vec<Entry>),
    Truncate(LogIndex),
    Install(Snapshot),
}

fn draw(rng: &mut Rng, model: &MemoryPersister, region: u64) -> Call {
    let state = model.load().expect("model load");
    let last = state.last_index().0;
    let first = state
        .snapshot
        .as_ref()
        .map_or(0, |s| s.meta.last_included_index.0);
    let near = |rng: &mut Rng, at: u64| at.saturating_add(rng.below(3)).saturating_sub(1);
    match rng.below(8) {
        0 => Call::Save(HardState {
            current_term: term(rng),
            voted_for: [None, Some(PeerId(0)), Some(PeerId(u32::MAX))][rng.below(3) as usize],
        }),
        1..=3 => {
            let start = match rng.below(6) {
                0 => rng.pick(&[0, u64::MAX, LOG_INDEX_MAX.0, region]),
                _ => near(rng, last.saturating_add(1)),
            };
            let len = rng.below(BATCH_LEN_MAX + 1);
            let term = term(rng);
            let batch = (0..len)
                .map_while(|i| start.checked_add(i))
                .map(|index| Entry {
                    index: LogIndex(index),
                    term,
                    command: vec![index as u8; rng.below(12) as usize].into(),
                })
                .collect();
            Call::Append(batch)
        }
        4 | 5 => {
            let from = match rng.below(3) {
                0 => rng.pick(&[0, u64::MAX, LOG_INDEX_MAX.0, first, first.saturating_add(1)]),
                _ => {
                    let back = rng.below(4);
                    near(rng, last.saturating_sub(back))
                }
            };
            Call::Truncate(LogIndex(from))
        }
        _ => {
            let index = match rng.below(3) {
                0 => rng.pick(&[u64::MAX, LOG_INDEX_MAX.0, LOG_INDEX_MAX.0 - 1, region, first]),
                _ => {
                    let ahead = rng.below(4);
                    near(rng, last.saturating_add(ahead)).max(region)
                }
            };
            Call::Install(Snapshot {
                meta: SnapshotMeta {
                    last_included_index: LogIndex(index),
                    last_included_term: term(rng),
                },
                data: vec![0xA5; rng.below(40) as usize],
            })
        }
    }
}

fn call(storage: &mut impl Storage, call: &Call) -> Result<(), StorageError> {
    match call {
        Call::Save(hard_state) => storage.save_hard_state(hard_state),
        Call::Append(entries) => storage.append(entries),
        Call::Truncate(from) => storage.truncate_suffix(*from),
        Call::Install(snapshot) => storage.install_snapshot(snapshot),
    }
}

/// Runs one seed; returns how many calls succeeded and how many were `IndexOutOfRange`.
fn run_seed(seed: u64) -> (u32, u32) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let region = region(seed);
    let mut model = MemoryPersister::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = FilePersister::create(dir.path()).expect("create");
    let (mut succeeded, mut out_of_range) = (0, 0);
    for step in 0..CALLS_PER_SEED {
        let drawn = draw(&mut rng, &model, region);
        let label = format!("seed {seed}, call {step}: {drawn:?}");
        let expected = call(&mut model, &drawn);
        let got = call(&mut file, &drawn);
        assert_eq!(
            format!("{got:?}"),
            format!("{expected:?}"),
            "{label}: backends disagree"
        );
        succeeded += u32::from(got.is_ok());
        out_of_range += u32::from(matches!(got, Err(StorageError::IndexOutOfRange { .. })));
        drop(file);
        file = FilePersister::open(dir.path()).unwrap_or_else(|e| panic!("{label}: reopen: {e}"));
        let state = model.load().expect("model load");
        assert_eq!(file.load().expect("load"), state, "{label}: reopened state");
        assert_eq!(
            file.raft_state_size(),
            model.raft_state_size(),
            "{label}: raft_state_size"
        );
        assert_eq!(
            file.snapshot_size(),
            model.snapshot_size(),
            "{label}: snapshot_size"
        );
    }
    (succeeded, out_of_range)
}

#[test]
fn extreme_indices_and_terms_agree_with_the_model_and_always_reopen() {
    let seeds: Vec<u64> = match std::env::var("SEED") {
        Ok(seed) => vec![seed.parse().expect("SEED is a number")],
        Err(_) => (1..=SEEDS).collect(),
    };
    let (mut succeeded, mut out_of_range) = (0, 0);
    for &seed in &seeds {
        let (ok, range) = run_seed(seed);
        succeeded += ok;
        out_of_range += range;
    }
    println!("{succeeded} calls succeeded, {out_of_range} were IndexOutOfRange");
    if seeds.len() as u64 == SEEDS {
        let calls = SEEDS as u32 * CALLS_PER_SEED as u32;
        assert!(
            succeeded * 4 >= calls,
            "only {succeeded} of {calls} calls succeeded"
        );
        assert!(
            out_of_range >= 10,
            "only {out_of_range} calls reached past the top of the range"
        );
    }
}

#[test]
fn the_top_of_the_range_is_usable_and_not_one_past_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = FilePersister::create(dir.path()).expect("create");
    let mut model = MemoryPersister::new();
    let top = LOG_INDEX_MAX.0;
    let snapshot = |index: u64| {
        Call::Install(Snapshot {
            meta: SnapshotMeta {
                last_included_index: LogIndex(index),
                last_included_term: Term(u64::MAX),
            },
            data: b"top".to_vec(),
        })
    };
    let entry = |index: u64| Entry {
        index: LogIndex(index),
        term: Term(u64::MAX),
        command: b"last".to_vec().into(),
    };
    let steps: [(Call, Option<u64>); 6] = [
        (snapshot(u64::MAX), Some(u64::MAX)),
        (snapshot(top - 2), None),
        (Call::Append(vec![entry(top - 1), entry(top)]), None),
        (Call::Append(vec![entry(u64::MAX)]), Some(u64::MAX)),
        (Call::Truncate(LogIndex(u64::MAX)), None),
        (snapshot(top), None),
    ];
    for (step, out_of_range) in &steps {
        let (expected, got) = (call(&mut model, step), call(&mut file, step));
        assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{step:?}");
        match (out_of_range, got) {
            (None, got) => got.unwrap_or_else(|e| panic!("{step:?}: {e}")),
            (Some(index), Err(StorageError::IndexOutOfRange { index: got, max })) => {
                assert_eq!((got.0, max), (*index, LOG_INDEX_MAX), "{step:?}");
            }
            (Some(_), other) => panic!("{step:?}: expected IndexOutOfRange, got {other:?}"),
        }
        drop(file);
        file = FilePersister::open(dir.path()).expect("reopen");
        assert_eq!(
            file.load().expect("load"),
            model.load().expect("model"),
            "{step:?}"
        );
    }
    let state = file.load().expect("load");
    assert_eq!(state.last_index(), LOG_INDEX_MAX);
    assert!(
        state.entries.is_empty(),
        "the snapshot at the top covers every entry"
    );
}
