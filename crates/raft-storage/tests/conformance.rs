//! One conformance suite for every [`Storage`] backend: each case is a generic function, and
//! `conformance!` runs it against `MemoryPersister` and `FilePersister` (which it also reopens
//! at the end, expecting the same `load()`). A differential test then runs seeded random
//! operations on both backends side by side.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{
    FilePersister, HardState, MemoryPersister, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError,
};

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: format!("c{index}").into_bytes().into(),
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|index| entry(index, term)).collect()
}

fn snapshot(index: u64, term: u64, data: &[u8]) -> Snapshot {
    let meta = SnapshotMeta {
        last_included_index: LogIndex(index),
        last_included_term: Term(term),
    };
    Snapshot {
        meta,
        data: data.to_vec(),
    }
}

fn indices(state: &PersistedState) -> Vec<u64> {
    state.entries.iter().map(|e| e.index.0).collect()
}

fn load(storage: &impl Storage) -> PersistedState {
    storage.load().expect("load")
}

fn postcard_size<T: serde::Serialize>(value: &T) -> u64 {
    postcard::to_allocvec(value).expect("encodes").len() as u64
}

/// The size `raft_state_size` must report for `state`.
fn expected_raft_state_size(state: &PersistedState) -> u64 {
    postcard_size(&state.hard_state) + state.entries.iter().map(postcard_size).sum::<u64>()
}

mod cases {
    use super::*;

    pub fn fresh_storage_is_empty<S: Storage>(s: &mut S) {
        assert_eq!(load(s), PersistedState::default());
        assert_eq!(s.raft_state_size(), postcard_size(&HardState::default()));
        assert_eq!(s.snapshot_size(), 0);
    }

    pub fn hard_state_round_trips<S: Storage>(s: &mut S) {
        let first = HardState {
            current_term: Term(3),
            voted_for: Some(PeerId(1)),
        };
        s.save_hard_state(&first).expect("save");
        assert_eq!(load(s).hard_state, first);
        let second = HardState {
            current_term: Term(4),
            voted_for: None,
        };
        s.save_hard_state(&second).expect("save again");
        assert_eq!(load(s).hard_state, second);
        s.save_hard_state(&second).expect("saving the same state is fine");
        assert_eq!(load(s).hard_state, second);
    }

    pub fn append_round_trips<S: Storage>(s: &mut S) {
        s.append(&entries(1..=1, 1)).expect("append one");
        s.append(&entries(2..=5, 2)).expect("append a batch");
        s.append(&[]).expect("an empty append is a no-op");
        let mut expected = entries(1..=1, 1);
        expected.extend(entries(2..=5, 2));
        assert_eq!(load(s).entries, expected);
    }

    pub fn append_rejects_what_does_not_continue_the_log<S: Storage>(s: &mut S) {
        let gap = s.append(&entries(2..=2, 1));
        assert!(
            matches!(
                gap,
                Err(StorageError::NonContiguous {
                    expected: LogIndex(1),
                    got: LogIndex(2)
                })
            ),
            "{gap:?}"
        );
        s.append(&entries(1..=3, 1)).expect("append");
        let overlap = s.append(&entries(3..=4, 1));
        assert!(
            matches!(
                overlap,
                Err(StorageError::NonContiguous {
                    expected: LogIndex(4),
                    got: LogIndex(3)
                })
            ),
            "{overlap:?}"
        );
        let holey = vec![entry(4, 1), entry(6, 1)];
        let inner = s.append(&holey);
        assert!(
            matches!(
                inner,
                Err(StorageError::NonContiguous {
                    expected: LogIndex(5),
                    got: LogIndex(6)
                })
            ),
            "{inner:?}"
        );
        assert_eq!(
            indices(&load(s)),
            vec![1, 2, 3],
            "a rejected append changes nothing"
        );
    }

    pub fn truncate_suffix_rules<S: Storage>(s: &mut S) {
        s.append(&entries(1..=5, 1)).expect("append");
        s.truncate_suffix(LogIndex(9)).expect("past the end is a no-op");
        assert_eq!(indices(&load(s)), vec![1, 2, 3, 4, 5]);
        s.truncate_suffix(LogIndex(6))
            .expect("right after the end is a no-op");
        assert_eq!(indices(&load(s)), vec![1, 2, 3, 4, 5]);
        s.truncate_suffix(LogIndex(4)).expect("truncate");
        assert_eq!(indices(&load(s)), vec![1, 2, 3]);
        let zero = s.truncate_suffix(LogIndex(0));
        assert!(
            matches!(zero, Err(StorageError::BeforeSnapshot { .. })),
            "{zero:?}"
        );
        s.append(&entries(4..=4, 2))
            .expect("append after truncate continues the log");
        assert_eq!(load(s).entries.last(), Some(&entry(4, 2)));
        s.truncate_suffix(LogIndex(1)).expect("truncate everything");
        assert!(load(s).entries.is_empty());
        s.append(&entries(1..=1, 3)).expect("the log restarts at 1");
        assert_eq!(load(s).entries, entries(1..=1, 3));
    }

    pub fn snapshot_keeps_the_suffix_after_it<S: Storage>(s: &mut S) {
        s.append(&entries(1..=10, 1)).expect("append");
        s.install_snapshot(&snapshot(6, 1, b"six")).expect("snapshot");
        let state = load(s);
        assert_eq!(state.snapshot, Some(snapshot(6, 1, b"six")));
        assert_eq!(state.entries, entries(7..=10, 1));
        assert_eq!(state.last_index(), LogIndex(10));
        let before = s.truncate_suffix(LogIndex(6));
        assert!(
            matches!(
                before,
                Err(StorageError::BeforeSnapshot {
                    from: LogIndex(6),
                    last_included_index: LogIndex(6)
                })
            ),
            "{before:?}"
        );
        s.append(&entries(11..=11, 2)).expect("append after snapshot");
        s.truncate_suffix(LogIndex(7))
            .expect("truncate right after the snapshot");
        assert!(load(s).entries.is_empty());
        s.append(&entries(7..=7, 3))
            .expect("append right after the snapshot");
        assert_eq!(load(s).entries, entries(7..=7, 3));
    }

    pub fn snapshot_past_the_end_empties_the_log<S: Storage>(s: &mut S) {
        s.append(&entries(1..=3, 1)).expect("append");
        s.install_snapshot(&snapshot(10, 2, b"ten")).expect("snapshot");
        let state = load(s);
        assert!(state.entries.is_empty());
        assert_eq!(state.last_index(), LogIndex(10));
        let old = s.append(&entries(4..=4, 1));
        assert!(
            matches!(
                old,
                Err(StorageError::NonContiguous {
                    expected: LogIndex(11),
                    ..
                })
            ),
            "{old:?}"
        );
        s.append(&entries(11..=12, 2)).expect("append after the snapshot");
        assert_eq!(indices(&load(s)), vec![11, 12]);
    }

    pub fn snapshot_at_the_end_of_the_log<S: Storage>(s: &mut S) {
        s.append(&entries(1..=4, 1)).expect("append");
        s.install_snapshot(&snapshot(4, 1, b"four")).expect("snapshot");
        assert!(load(s).entries.is_empty());
        s.append(&entries(5..=5, 1)).expect("append");
        assert_eq!(indices(&load(s)), vec![5]);
    }

    pub fn stale_snapshot_is_rejected<S: Storage>(s: &mut S) {
        s.append(&entries(1..=8, 1)).expect("append");
        s.install_snapshot(&snapshot(5, 1, b"five")).expect("snapshot");
        for index in [5, 3] {
            let stale = s.install_snapshot(&snapshot(index, 1, b"old"));
            assert!(
                matches!(
                    stale,
                    Err(StorageError::StaleSnapshot {
                        current: LogIndex(5),
                        ..
                    })
                ),
                "{stale:?}"
            );
        }
        let state = load(s);
        assert_eq!(
            state.snapshot,
            Some(snapshot(5, 1, b"five")),
            "a stale snapshot changes nothing"
        );
        assert_eq!(indices(&state), vec![6, 7, 8]);
        s.install_snapshot(&snapshot(7, 1, b"seven"))
            .expect("a newer snapshot replaces it");
        let state = load(s);
        assert_eq!(state.snapshot, Some(snapshot(7, 1, b"seven")));
        assert_eq!(indices(&state), vec![8]);
        let zero = s.install_snapshot(&snapshot(0, 0, b""));
        assert!(
            matches!(zero, Err(StorageError::StaleSnapshot { .. })),
            "{zero:?}"
        );
    }

    pub fn sizes_follow_every_operation<S: Storage>(s: &mut S) {
        let check = |s: &S, what: &str| {
            let state = load(s);
            assert_eq!(
                s.raft_state_size(),
                expected_raft_state_size(&state),
                "after {what}"
            );
            let data_len = state.snapshot.as_ref().map_or(0, |snap| snap.data.len() as u64);
            assert_eq!(s.snapshot_size(), data_len, "after {what}");
        };
        s.save_hard_state(&HardState {
            current_term: Term(300),
            voted_for: Some(PeerId(2)),
        })
        .expect("save");
        check(s, "save_hard_state");
        s.append(&entries(1..=20, 1)).expect("append");
        check(s, "append");
        s.truncate_suffix(LogIndex(15)).expect("truncate");
        check(s, "truncate_suffix");
        s.install_snapshot(&snapshot(10, 1, &[7; 1000]))
            .expect("snapshot");
        check(s, "install_snapshot");
        assert_eq!(s.snapshot_size(), 1000);
        s.install_snapshot(&snapshot(30, 1, &[1; 10]))
            .expect("snapshot past the end");
        check(s, "install_snapshot past the end");
        assert!(
            s.raft_state_size() < 2000,
            "6.824 bounds the state after a snapshot"
        );
    }
}

/// Generates one `#[test]` per case for a backend; `$make` runs a case on a fresh instance.
macro_rules! conformance {
    ($backend:ident, $storage:ty, $make:expr) => {
        mod $backend {
            use super::*;
            conformance!(@cases $storage, $make;
                fresh_storage_is_empty, hard_state_round_trips, append_round_trips,
                append_rejects_what_does_not_continue_the_log, truncate_suffix_rules,
                snapshot_keeps_the_suffix_after_it, snapshot_past_the_end_empties_the_log,
                snapshot_at_the_end_of_the_log, stale_snapshot_is_rejected,
                sizes_follow_every_operation);
        }
    };
    (@cases $storage:ty, $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let run: fn(fn(&mut $storage)) = $make;
                run(cases::$case::<$storage>);
            }
        )*
    };
}

fn with_memory(case: fn(&mut MemoryPersister)) {
    case(&mut MemoryPersister::new());
}

/// Runs `case` on a fresh directory, then checks that reopening gives the same state.
fn with_file(case: fn(&mut FilePersister)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    case(&mut storage);
    let (state, size) = (load(&storage), storage.raft_state_size());
    let (snapshot_size, dir_path) = (storage.snapshot_size(), storage.dir().to_path_buf());
    drop(storage);
    let reopened = FilePersister::open(&dir_path).expect("reopen");
    assert_eq!(load(&reopened), state, "reopening changed the state");
    assert_eq!(
        reopened.raft_state_size(),
        size,
        "reopening changed raft_state_size"
    );
    assert_eq!(
        reopened.snapshot_size(),
        snapshot_size,
        "reopening changed snapshot_size"
    );
}

conformance!(memory, MemoryPersister, with_memory);
conformance!(file, FilePersister, with_file);

/// A small deterministic generator (xorshift64*), so a failure names a replayable seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// Applies one random operation, valid or not, to both backends; both must agree. Returns
/// whether it succeeded.
fn random_step(rng: &mut Rng, memory: &mut MemoryPersister, file: &mut FilePersister, seed: u64) -> bool {
    let last = load(memory).last_index().0;
    let (a, b) = match rng.below(5) {
        0 => {
            let hs = HardState {
                current_term: Term(rng.below(50)),
                voted_for: None,
            };
            (memory.save_hard_state(&hs), file.save_hard_state(&hs))
        }
        1 | 2 => {
            let start = (last + 1).saturating_sub(rng.below(3)).max(1);
            let batch = entries(start..=start + rng.below(4), rng.below(5));
            (memory.append(&batch), file.append(&batch))
        }
        3 => {
            let from = LogIndex(last.saturating_sub(rng.below(6)) + rng.below(2));
            (memory.truncate_suffix(from), file.truncate_suffix(from))
        }
        _ => {
            let snap = snapshot(last.saturating_sub(rng.below(8)) + rng.below(4), 1, &[3; 40]);
            (memory.install_snapshot(&snap), file.install_snapshot(&snap))
        }
    };
    assert_eq!(
        format!("{a:?}"),
        format!("{b:?}"),
        "seed {seed}: backends disagree"
    );
    assert_eq!(load(memory), load(file), "seed {seed}: states differ");
    assert_eq!(
        memory.raft_state_size(),
        file.raft_state_size(),
        "seed {seed}: sizes differ"
    );
    assert_eq!(memory.snapshot_size(), file.snapshot_size(), "seed {seed}");
    a.is_ok()
}

#[test]
fn backends_agree_on_random_operations() {
    for seed in 1..=8_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut memory = MemoryPersister::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut file = FilePersister::create(dir.path()).expect("create");
        let mut succeeded = 0;
        for step in 0..60 {
            succeeded += u32::from(random_step(&mut rng, &mut memory, &mut file, seed));
            if step % 20 == 19 {
                drop(file);
                file = FilePersister::open(dir.path()).expect("reopen");
                assert_eq!(
                    load(&memory),
                    load(&file),
                    "seed {seed}: reopen changed the state"
                );
            }
        }
        assert!(
            succeeded >= 20,
            "seed {seed}: only {succeeded} of 60 operations succeeded"
        );
    }
}

#[test]
fn memory_copy_is_independent() {
    let mut original = MemoryPersister::new();
    original.append(&entries(1..=2, 1)).expect("append");
    let mut copy = original.copy();
    original
        .append(&entries(3..=3, 1))
        .expect("append to the original");
    copy.save_hard_state(&HardState {
        current_term: Term(5),
        voted_for: None,
    })
    .expect("save");
    assert_eq!(indices(&load(&original)), vec![1, 2, 3]);
    assert_eq!(indices(&load(&copy)), vec![1, 2]);
    assert_eq!(load(&original).hard_state, HardState::default());
    assert_eq!(load(&copy).hard_state.current_term, Term(5));
    assert_ne!(original.raft_state_size(), copy.raft_state_size());
}

#[test]
fn memory_clones_share_state() {
    let mut handle = MemoryPersister::new();
    let observer = handle.clone();
    handle.append(&entries(1..=2, 1)).expect("append");
    handle
        .install_snapshot(&snapshot(1, 1, b"one"))
        .expect("snapshot");
    assert_eq!(load(&observer), load(&handle));
    assert_eq!(observer.snapshot_size(), 3);
    assert_eq!(observer.raft_state_size(), handle.raft_state_size());
}

#[test]
fn errors_name_what_went_wrong() {
    let error = StorageError::NonContiguous {
        expected: LogIndex(4),
        got: LogIndex(7),
    };
    assert_eq!(
        error.to_string(),
        "entries do not continue the log: expected index 4, got 7"
    );
    let error = StorageError::BeforeSnapshot {
        from: LogIndex(3),
        last_included_index: LogIndex(5),
    };
    assert!(error.to_string().contains("index 3") && error.to_string().contains("index 5"));
    let error = StorageError::StaleSnapshot {
        current: LogIndex(5),
        got: LogIndex(2),
    };
    assert!(error.to_string().contains("index 2") && error.to_string().contains("index 5"));
}
