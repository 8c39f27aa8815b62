//! A data directory's life: made on purpose by `FilePersister::create`, reopened by
//! `FilePersister::open`, which never starts afresh, and refusing to acknowledge a change once
//! its directory is gone.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{FilePersister, HardState, Snapshot, SnapshotMeta, Storage, StorageError};
use std::fs;
use std::path::Path;

fn entry(index: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(1),
        command: vec![index as u8; 8].into(),
    }
}

fn hard_state(term: u64) -> HardState {
    HardState {
        current_term: Term(term),
        voted_for: Some(PeerId(1)),
    }
}

fn expect_not_a_data_dir(result: Result<FilePersister, StorageError>, dir: &Path) -> String {
    match result {
        Err(error @ StorageError::NotADataDir { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&dir.display().to_string()), "{message}");
            assert!(message.contains("FilePersister::create"), "{message}");
            message
        }
        other => panic!("expected NotADataDir for {}, got {other:?}", dir.display()),
    }
}

#[test]
fn open_never_starts_afresh() {
    let parent = tempfile::tempdir().expect("temp dir");
    let missing = parent.path().join("peer-0");
    let message = expect_not_a_data_dir(FilePersister::open(&missing), &missing);
    assert!(message.contains("does not exist"), "{message}");
    assert!(!missing.exists(), "open created nothing");

    let empty = tempfile::tempdir().expect("temp dir");
    let message = expect_not_a_data_dir(FilePersister::open(empty.path()), empty.path());
    assert!(message.contains("holds no hard_state"), "{message}");
    assert_eq!(
        fs::read_dir(empty.path()).expect("read dir").count(),
        0,
        "open wrote nothing"
    );

    let file = parent.path().join("a-file");
    fs::write(&file, b"not a directory").expect("write");
    expect_not_a_data_dir(FilePersister::open(&file), &file);
}

#[test]
fn create_makes_a_directory_that_open_reopens() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("nested/peer-0");
    let mut storage = FilePersister::create(&dir).expect("create a missing directory");
    storage.save_hard_state(&hard_state(4)).expect("save");
    storage.append(&[entry(1), entry(2)]).expect("append");
    drop(storage);
    let state = FilePersister::open(&dir).expect("open").load().expect("load");
    assert_eq!(state.hard_state, hard_state(4));
    assert_eq!(state.entries, [entry(1), entry(2)]);

    let empty = tempfile::tempdir().expect("temp dir");
    FilePersister::create(empty.path()).expect("create in an existing empty directory");
    assert!(empty.path().join("hard_state").exists() && empty.path().join("log").exists());
}

#[test]
fn create_with_writes_extra_files_that_appear_with_the_directory() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("peer-0");
    let storage =
        FilePersister::create_with(&dir, &[("node.id", b"id = 0\n"), ("notes", b"")]).expect("create_with");
    assert_eq!(fs::read(dir.join("node.id")).expect("read"), b"id = 0\n");
    assert_eq!(fs::read(dir.join("notes")).expect("read"), b"");
    drop(storage);
    let state = FilePersister::open(&dir)
        .expect("open ignores extra files")
        .load()
        .expect("load");
    assert_eq!(state.hard_state, HardState::default());
    assert_eq!(fs::read(dir.join("node.id")).expect("read"), b"id = 0\n");
    // Nothing but the new directory was made in the parent (no staging directory left).
    assert_eq!(fs::read_dir(parent.path()).expect("read dir").count(), 1);
}

#[test]
fn create_with_refuses_names_that_are_not_plain_or_are_the_persisters() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("peer-0");
    for name in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "log",
        "hard_state",
        "snapshot",
        "LOCK",
        ".raft-tmp-x",
    ] {
        let result = FilePersister::create_with(&dir, &[(name, b"x")]);
        assert!(
            matches!(&result, Err(StorageError::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidInput),
            "{name:?}: {result:?}"
        );
        assert!(!dir.exists(), "{name:?}: the directory was made");
    }
    assert_eq!(fs::read_dir(parent.path()).expect("read dir").count(), 0);
}

#[test]
fn create_refuses_a_directory_that_holds_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.save_hard_state(&hard_state(7)).expect("save");
    drop(storage);
    let before = fs::read(dir.path().join("hard_state")).expect("read");
    match FilePersister::create(dir.path()) {
        Err(error @ StorageError::DirNotEmpty { .. }) => {
            assert!(error.to_string().contains("not empty"), "{error}");
        }
        other => panic!("expected DirNotEmpty, got {other:?}"),
    }
    assert_eq!(fs::read(dir.path().join("hard_state")).expect("read"), before);

    let stranger = tempfile::tempdir().expect("temp dir");
    fs::write(stranger.path().join("notes.txt"), b"someone's file").expect("write");
    let result = FilePersister::create(stranger.path());
    assert!(
        matches!(result, Err(StorageError::DirNotEmpty { .. })),
        "{result:?}"
    );
    let names: Vec<_> = fs::read_dir(stranger.path()).expect("read dir").collect();
    assert_eq!(names.len(), 1, "create wrote nothing beside the stranger's file");
}

#[test]
fn a_lost_hard_state_is_an_error_not_term_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.save_hard_state(&hard_state(9)).expect("save");
    drop(storage);
    fs::remove_file(dir.path().join("hard_state")).expect("remove");
    match FilePersister::open(dir.path()) {
        Err(StorageError::Corrupt { path, reason, .. }) => {
            assert!(path.ends_with("hard_state"), "{}", path.display());
            assert!(reason.contains("vote"), "{reason}");
        }
        other => panic!("expected Corrupt naming hard_state, got {other:?}"),
    }
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["LOCK", "log"],
        "only the log (and the lock file) is left, untouched"
    );
}

/// Removes `dir` from under an open persister; every later change must fail.
fn check_changes_fail_after_removal(change: fn(&mut FilePersister) -> Result<(), StorageError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.append(&[entry(1), entry(2), entry(3)]).expect("append");
    fs::remove_dir_all(dir.path()).expect("remove the directory");
    match change(&mut storage) {
        Err(StorageError::Io { path, source }) => {
            assert!(path.starts_with(dir.path()), "{}: {source}", path.display());
        }
        other => panic!("a change after the directory was removed: expected Io, got {other:?}"),
    }
    let again = storage.append(&[entry(4)]);
    assert!(
        again.is_err(),
        "the failed persister refuses further changes: {again:?}"
    );
}

#[test]
fn a_removed_directory_fails_every_change() {
    check_changes_fail_after_removal(|s| s.append(&[entry(4)]));
    check_changes_fail_after_removal(|s| s.truncate_suffix(LogIndex(2)));
    check_changes_fail_after_removal(|s| s.save_hard_state(&hard_state(2)));
    check_changes_fail_after_removal(|s| {
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_included_index: LogIndex(2),
                last_included_term: Term(1),
            },
            data: b"state".to_vec(),
        };
        s.install_snapshot(&snapshot)
    });
}

#[test]
fn a_replaced_log_fails_the_next_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.append(&[entry(1)]).expect("append");
    let log = dir.path().join("log");
    let bytes = fs::read(&log).expect("read");
    fs::remove_file(&log).expect("remove");
    fs::write(&log, bytes).expect("a new file under the old name");
    let result = storage.append(&[entry(2)]);
    assert!(
        matches!(result, Err(StorageError::Io { .. })),
        "an append to a log the directory no longer names: {result:?}"
    );
}
