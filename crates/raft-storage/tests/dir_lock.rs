//! One persister per data directory: a `FilePersister` holds `<dir>/LOCK` for its whole life,
//! and a second open or create of the directory, from this process or another, is refused
//! with `StorageError::Locked` until the first is dropped.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{FilePersister, HardState, Storage, StorageError};
use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The environment variable that hands the child test its directory.
const CHILD_DIR_ENV: &str = "RAFT_STORAGE_LOCK_CHILD_DIR";
/// The environment variable that tells the child test what to expect: `locked` or `opens`.
const CHILD_EXPECT_ENV: &str = "RAFT_STORAGE_LOCK_CHILD_EXPECT";
/// How long the child process may take.
const CHILD_WAIT_MAX: Duration = Duration::from_secs(30);

/// Runs this file's tests one at a time. A child process forked by one test holds, until it
/// execs, a copy of every file the test process has open, and with it the lock of any
/// persister another test holds at that instant (`flock` goes with the open file): that
/// test's open after its drop would find the directory still locked.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
        voted_for: Some(PeerId(2)),
    }
}

/// Asserts that `result` is `Locked` naming `dir`, with a message that says so.
fn expect_locked(result: Result<FilePersister, StorageError>, dir: &Path) {
    match result {
        Err(error @ StorageError::Locked { .. }) => {
            let StorageError::Locked { dir: named } = &error else {
                unreachable!()
            };
            assert_eq!(named, dir);
            let message = error.to_string();
            assert!(message.contains("in use by another process"), "{message}");
            assert!(message.contains(&dir.display().to_string()), "{message}");
        }
        other => panic!("expected Locked for {}, got {other:?}", dir.display()),
    }
}

#[test]
fn a_second_open_or_create_is_refused_while_the_first_lives() {
    let _serial = serial();
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("peer-0");
    let mut first = FilePersister::create(&dir).expect("create");
    first.save_hard_state(&hard_state(3)).expect("save");
    first.append(&[entry(1), entry(2)]).expect("append");
    let before: Vec<(std::ffi::OsString, Vec<u8>)> = snapshot_of(&dir);

    expect_locked(FilePersister::open(&dir), &dir);
    expect_locked(FilePersister::create(&dir), &dir);
    assert_eq!(snapshot_of(&dir), before, "the refused calls changed nothing");

    // The first persister goes on working while it holds the lock.
    first.append(&[entry(3)]).expect("append after the refusals");
    drop(first);

    let mut second = FilePersister::open(&dir).expect("opens once the first is dropped");
    let state = second.load().expect("load");
    assert_eq!(state.hard_state, hard_state(3));
    assert_eq!(state.entries, [entry(1), entry(2), entry(3)]);
    // The reopened persister holds the lock in turn.
    expect_locked(FilePersister::open(&dir), &dir);
    second.append(&[entry(4)]).expect("append");
    drop(second);
    let state = FilePersister::open(&dir).expect("opens").load().expect("load");
    assert_eq!(state.entries.len(), 4);
}

#[test]
fn create_in_an_empty_existing_directory_is_locked_too() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let created = FilePersister::create(dir.path()).expect("create");
    expect_locked(FilePersister::open(dir.path()), dir.path());
    drop(created);
    FilePersister::open(dir.path()).expect("opens once dropped");
}

#[test]
fn a_directory_made_before_locks_existed_opens_and_gets_a_lock() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = FilePersister::create(dir.path()).expect("create");
    storage.append(&[entry(1)]).expect("append");
    drop(storage);
    fs::remove_file(dir.path().join("LOCK")).expect("remove the lock file");
    let reopened = FilePersister::open(dir.path()).expect("opens without a LOCK file");
    assert!(dir.path().join("LOCK").exists(), "open made the lock file");
    assert_eq!(reopened.load().expect("load").entries, [entry(1)]);
    expect_locked(FilePersister::open(dir.path()), dir.path());
}

#[test]
fn a_refused_open_of_a_non_data_directory_leaves_no_lock_file() {
    let _serial = serial();
    let empty = tempfile::tempdir().expect("temp dir");
    let result = FilePersister::open(empty.path());
    assert!(
        matches!(result, Err(StorageError::NotADataDir { .. })),
        "{result:?}"
    );
    assert!(!empty.path().join("LOCK").exists());
    // So the directory can still be created.
    FilePersister::create(empty.path()).expect("create after a refused open");
}

#[test]
fn another_process_is_refused_while_the_lock_is_held() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let held = FilePersister::create(dir.path()).expect("create");
    let status = run_child(dir.path(), "locked");
    assert!(status.success(), "the child process was not refused: {status}");
    drop(held);
    let status = run_child(dir.path(), "opens");
    assert!(
        status.success(),
        "the child process could not open a free directory: {status}"
    );
}

/// Run as a child process by `another_process_is_refused_while_the_lock_is_held` (this test
/// binary, filtered to this test): opens the directory it is given and checks the outcome.
#[test]
#[ignore = "the child half of another_process_is_refused_while_the_lock_is_held"]
fn child_opens_the_directory_it_is_given() {
    let dir = std::env::var_os(CHILD_DIR_ENV).expect("run by the parent test, which names the directory");
    let dir = Path::new(&dir);
    let expect = std::env::var(CHILD_EXPECT_ENV).expect("run by the parent test, which says what to expect");
    match expect.as_str() {
        "locked" => expect_locked(FilePersister::open(dir), dir),
        "opens" => {
            FilePersister::open(dir).expect("a free directory opens");
        }
        other => panic!("unknown expectation {other}"),
    }
}

/// Runs [`child_opens_the_directory_it_is_given`] in a new process of this test binary, and
/// waits (bounded) for it; the child is killed if the wait fails.
fn run_child(dir: &Path, expect: &str) -> ExitStatus {
    let exe = std::env::current_exe().expect("the test binary's path");
    let child = Command::new(exe)
        .args(["child_opens_the_directory_it_is_given", "--exact", "--ignored"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_EXPECT_ENV, expect)
        .spawn()
        .expect("spawn the child test");
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + CHILD_WAIT_MAX;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait for the child") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the child took over {CHILD_WAIT_MAX:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills and reaps the child (by its own handle) if the test ends before it does.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Every file of `dir` with its bytes, sorted by name.
fn snapshot_of(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            (entry.file_name(), fs::read(entry.path()).expect("read"))
        })
        .collect();
    files.sort();
    files
}
