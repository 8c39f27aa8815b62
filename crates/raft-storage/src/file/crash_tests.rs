//! Crash tests: stop a [`FilePersister`] at every write step of every operation, reopen the
//! directory, and check that what was acknowledged survived and that the interrupted
//! operation happened entirely or not at all (an append: a prefix of its batch).
//!
//! The expected states come from [`MemoryPersister`], which the conformance suite checks
//! against the file backend when nothing crashes.

use super::FilePersister;
use crate::{HardState, MemoryPersister, PersistedState, Snapshot, SnapshotMeta, Storage};
use raft_core::{Entry, LogIndex, PeerId, Term};

/// One storage operation, replayable on any backend.
#[derive(Clone, Debug)]
enum Op {
    SaveHardState(HardState),
    Append(Vec<Entry>),
    TruncateSuffix(LogIndex),
    InstallSnapshot(Snapshot),
}

impl Op {
    fn apply(&self, storage: &mut impl Storage) -> Result<(), crate::StorageError> {
        match self {
            Op::SaveHardState(hard_state) => storage.save_hard_state(hard_state),
            Op::Append(entries) => storage.append(entries),
            Op::TruncateSuffix(from) => storage.truncate_suffix(*from),
            Op::InstallSnapshot(snapshot) => storage.install_snapshot(snapshot),
        }
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: format!("cmd-{index}").into_bytes().into(),
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|index| entry(index, term)).collect()
}

fn hard_state(term: u64, vote: Option<u32>) -> HardState {
    HardState {
        current_term: Term(term),
        voted_for: vote.map(PeerId),
    }
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    let meta = SnapshotMeta {
        last_included_index: LogIndex(index),
        last_included_term: Term(term),
    };
    Snapshot {
        meta,
        data: format!("state-through-{index}").into_bytes(),
    }
}

/// A history touching every operation and every snapshot case: keeping a suffix, covering
/// the whole log, reaching past its end, replacing an older snapshot.
fn history() -> Vec<Op> {
    vec![
        Op::SaveHardState(hard_state(1, Some(0))),
        Op::Append(entries(1..=1, 1)),
        Op::Append(entries(2..=4, 1)),
        Op::SaveHardState(hard_state(2, None)),
        Op::TruncateSuffix(LogIndex(3)),
        Op::Append(entries(3..=6, 2)),
        Op::InstallSnapshot(snapshot(4, 2)),
        Op::Append(entries(7..=8, 2)),
        Op::TruncateSuffix(LogIndex(8)),
        Op::InstallSnapshot(snapshot(7, 2)),
        Op::Append(entries(8..=9, 3)),
        Op::InstallSnapshot(snapshot(12, 3)),
        Op::SaveHardState(hard_state(3, Some(2))),
        Op::Append(entries(13..=14, 3)),
    ]
}

/// The states a crash during `op`, applied after `acknowledged`, may leave.
fn acceptable_states(acknowledged: &MemoryPersister, op: &Op) -> Vec<PersistedState> {
    let before = acknowledged.load().expect("memory load");
    let mut states = vec![before.clone()];
    if let Op::Append(batch) = op {
        for len in 1..=batch.len() {
            let mut partial = before.clone();
            partial.entries.extend_from_slice(&batch[..len]);
            states.push(partial);
        }
    } else {
        let mut after = acknowledged.copy();
        op.apply(&mut after).expect("the op succeeds on the model");
        states.push(after.load().expect("memory load"));
    }
    states
}

/// Runs `history` on a fresh directory with a crash planned after `crash_after` steps;
/// returns whether the crash happened (false: the whole history fit in the budget).
fn run_with_crash(history: &[Op], crash_after: u64) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.crash_after_write_steps(crash_after);
    let model = MemoryPersister::new();
    let mut interrupted = None;
    for op in history {
        match op.apply(&mut storage) {
            Ok(()) => op
                .apply(&mut model.clone())
                .expect("model accepts what file accepted"),
            Err(error) => {
                interrupted = Some((op, error));
                break;
            }
        }
    }
    let Some((op, error)) = interrupted else {
        return false;
    };
    assert!(
        matches!(error, crate::StorageError::Io { .. }),
        "step {crash_after}: a crash is an I/O error, got {error}"
    );
    let refused = storage.save_hard_state(&hard_state(99, None));
    assert!(
        refused.is_err(),
        "step {crash_after}: a crashed persister must refuse changes"
    );
    drop(storage);
    check_recovery(dir.path(), &model, op, crash_after);
    true
}

/// Reopens `dir` after a crash during `op` and checks the state it finds.
fn check_recovery(dir: &std::path::Path, model: &MemoryPersister, op: &Op, step: u64) {
    let mut reopened = FilePersister::open(dir).unwrap_or_else(|e| panic!("step {step}: {e}"));
    let state = reopened.load().expect("load after reopen");
    let acceptable = acceptable_states(model, op);
    assert!(
        acceptable.contains(&state),
        "step {step}, interrupted {op:?}:\nrecovered {state:#?}\nacceptable {acceptable:#?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(super::format::TEMP_PREFIX)
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "step {step}: temporary files left after open: {leftovers:?}"
    );
    // The recovered persister works: an append continues the recovered log.
    let next = entry(state.last_index().0 + 1, 9);
    reopened
        .append(std::slice::from_ref(&next))
        .expect("append after recovery");
    drop(reopened);
    let again = FilePersister::open(dir)
        .expect("second reopen")
        .load()
        .expect("load");
    assert_eq!(
        again.entries.last(),
        Some(&next),
        "step {step}: append after recovery lost"
    );
    assert_eq!(
        again.hard_state, state.hard_state,
        "step {step}: hard state changed on reopen"
    );
}

#[test]
fn crash_at_every_write_step_of_every_operation() {
    let history = history();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    let steps_at_open = storage.write_steps_taken();
    for op in &history {
        op.apply(&mut storage).expect("the history runs without a crash");
    }
    let total_steps = storage.write_steps_taken() - steps_at_open;
    // Every op takes at least two steps (write and fsync), most four or more.
    assert!(
        total_steps >= 2 * history.len() as u64,
        "only {total_steps} steps"
    );
    for crash_after in 0..total_steps {
        assert!(
            run_with_crash(&history, crash_after),
            "no crash at step {crash_after}"
        );
    }
    assert!(
        !run_with_crash(&history, total_steps),
        "a budget of every step must not crash"
    );
}

#[test]
fn write_steps_are_counted_per_operation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    fn steps(op: Op, storage: &mut FilePersister) -> u64 {
        let before = storage.write_steps_taken();
        op.apply(storage).expect("op succeeds");
        storage.write_steps_taken() - before
    }
    // Per append the records, the slot recording the previous append's end (unless the slot
    // already holds it) and one fsync; the slot, its fsync, the cut and its fsync per
    // truncation; temp write, fsync, rename, dir fsync per atomic replace.
    assert_eq!(
        steps(Op::Append(entries(1..=3, 1)), &mut storage),
        2,
        "slot up to date"
    );
    assert_eq!(steps(Op::Append(entries(4..=4, 1)), &mut storage), 3);
    assert_eq!(steps(Op::SaveHardState(hard_state(1, None)), &mut storage), 4);
    assert_eq!(steps(Op::TruncateSuffix(LogIndex(2)), &mut storage), 4);
    assert_eq!(steps(Op::InstallSnapshot(snapshot(1, 1)), &mut storage), 8);
    assert_eq!(
        steps(Op::SaveHardState(hard_state(1, None)), &mut storage),
        0,
        "unchanged"
    );
}

#[test]
fn crash_after_acknowledged_ops_keeps_them() {
    // Crash at the very first step of an op that follows the whole history: everything
    // acknowledged so far must come back.
    let history = history();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    let model = MemoryPersister::new();
    for op in &history {
        op.apply(&mut storage).expect("file op");
        op.apply(&mut model.clone()).expect("model op");
    }
    storage.crash_after_write_steps(0);
    let result = storage.append(&[entry(15, 4)]);
    assert!(result.is_err(), "the planned crash must fail the append");
    drop(storage);
    let recovered = FilePersister::open(dir.path())
        .expect("reopen")
        .load()
        .expect("load");
    assert_eq!(recovered, model.load().expect("model load"));
}

/// A power loss during an append's one fsync may keep any of the blocks it wrote (records and
/// the slot alike, in any order, a block torn anywhere) and the file's old length or its new
/// one. The step crashes above stop writes in order; this mixes them: for each append of the
/// history, images of the log that take each 8-byte block from before or after the append at
/// random, every one of which must open to the state before it or a prefix of its batch.
#[test]
fn a_power_loss_during_an_append_may_keep_any_of_its_blocks() {
    const IMAGES_PER_APPEND: u64 = 300;
    let history = history();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    let model = MemoryPersister::new();
    let log_path = dir.path().join(super::format::LOG_FILE);
    let copy = tempfile::tempdir().expect("temp dir");
    let mut appends = 0;
    for op in &history {
        let before = std::fs::read(&log_path).expect("read log");
        let acceptable = acceptable_states(&model, op);
        op.apply(&mut storage).expect("the history runs without a crash");
        op.apply(&mut model.clone()).expect("model op");
        let Op::Append(_) = op else { continue };
        appends += 1;
        let after = std::fs::read(&log_path).expect("read log");
        for seed in 0..IMAGES_PER_APPEND {
            for file in ["hard_state", "snapshot"] {
                let from = dir.path().join(file);
                if from.exists() {
                    std::fs::copy(&from, copy.path().join(file)).expect("copy");
                }
            }
            let image = mixed_image(&before, &after, seed);
            std::fs::write(copy.path().join(super::format::LOG_FILE), &image).expect("write");
            let state = FilePersister::open(copy.path())
                .and_then(|reopened| reopened.load())
                .unwrap_or_else(|e| panic!("{op:?}, image {seed}: {e}"));
            assert!(
                acceptable.contains(&state),
                "{op:?}, image {seed}: recovered {state:#?}"
            );
        }
    }
    assert!(appends >= 6, "the history has {appends} appends");
}

/// A log as a power loss during an append may leave it: every 8-byte block of `after` (the
/// log once the append returned) kept or not at random, over `before` (the log as its last
/// fsync left it), and the length of either; blocks past the old end that were not kept read
/// as zeros. Seeds 0 and 1 keep nothing and everything.
fn mixed_image(before: &[u8], after: &[u8], seed: u64) -> Vec<u8> {
    const BLOCK: usize = 8;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut coin = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state & 1 == 1
    };
    let len = if seed == 1 || coin() {
        after.len()
    } else {
        before.len()
    };
    let mut image = before.to_vec();
    image.resize(len, 0);
    for start in (0..len).step_by(BLOCK) {
        let end = (start + BLOCK).min(len);
        if seed == 1 || (seed != 0 && coin()) {
            image[start..end].copy_from_slice(&after[start..end]);
        }
    }
    image
}
