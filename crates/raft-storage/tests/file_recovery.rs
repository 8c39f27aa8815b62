//! Recovery of `FilePersister` from what crashes and damage leave in its directory: reopening
//! after every operation, torn log tails at every byte boundary, a crash between the two steps
//! of a snapshot, and damaged files, which must be `Corrupt` errors naming file and offset,
//! never a panic and never a silent reset.
//!
//! The log format these tests write by hand: an 8-byte header (`RSLG`, version 1, three zero
//! bytes), then records `[len: u32 LE][crc32c(len bytes ++ payload): u32 LE][postcard Entry]`.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{FilePersister, HardState, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError};
use std::fs;
use std::path::Path;

const LOG_HEADER: [u8; 8] = [b'R', b'S', b'L', b'G', 1, 0, 0, 0];

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: format!("cmd{index}").into_bytes(),
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|index| entry(index, term)).collect()
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    let meta = SnapshotMeta {
        last_included_index: LogIndex(index),
        last_included_term: Term(term),
    };
    Snapshot {
        meta,
        data: vec![index as u8; 32],
    }
}

/// One log record, encoded as the file backend writes it.
fn record(entry: &Entry) -> Vec<u8> {
    let payload = postcard::to_allocvec(entry).expect("encodes");
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &payload);
    let mut bytes = len.to_vec();
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}

fn open(dir: &Path) -> FilePersister {
    FilePersister::open(dir).unwrap_or_else(|error| panic!("open {}: {error}", dir.display()))
}

fn load(storage: &FilePersister) -> PersistedState {
    storage.load().expect("load")
}

/// A directory holding a hard state and entries 1..=6, appended in three batches.
fn populated_dir() -> (tempfile::TempDir, Vec<Entry>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = open(dir.path());
    storage
        .save_hard_state(&HardState {
            current_term: Term(2),
            voted_for: Some(PeerId(1)),
        })
        .expect("save");
    let all = entries(1..=6, 2);
    for batch in [&all[..1], &all[1..4], &all[4..]] {
        storage.append(batch).expect("append");
    }
    (dir, all)
}

/// Copies every file of `from` into a new directory, the log replaced by `log`.
fn copy_with_log(from: &Path, log: &[u8]) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("temp dir");
    for file in fs::read_dir(from).expect("read dir") {
        let file = file.expect("dir entry");
        fs::copy(file.path(), to.path().join(file.file_name())).expect("copy");
    }
    fs::write(to.path().join("log"), log).expect("write log");
    to
}

/// Offsets of the records in `log`, computed from the entries it holds.
fn record_offsets(all: &[Entry]) -> Vec<u64> {
    let mut offset = LOG_HEADER.len() as u64;
    all.iter()
        .map(|e| {
            let at = offset;
            offset += record(e).len() as u64;
            at
        })
        .collect()
}

fn expect_corrupt(result: Result<FilePersister, StorageError>, file: &str) -> (u64, String) {
    match result {
        Err(StorageError::Corrupt { path, offset, reason }) => {
            assert!(
                path.ends_with(file),
                "corrupt path {} should name {file}",
                path.display()
            );
            let message = StorageError::Corrupt {
                path: path.clone(),
                offset,
                reason,
            }
            .to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(&format!("offset {offset}")), "{message}");
            (offset, message)
        }
        Err(other) => panic!("expected Corrupt for {file}, got {other}"),
        Ok(_) => panic!("expected Corrupt for {file}, but it opened"),
    }
}

/// One operation on a persister.
type Op = fn(&mut FilePersister) -> Result<(), StorageError>;

#[test]
fn reopen_after_each_operation_gives_the_same_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ops: Vec<Op> = vec![
        |s| {
            s.save_hard_state(&HardState {
                current_term: Term(1),
                voted_for: None,
            })
        },
        |s| s.append(&entries(1..=4, 1)),
        |s| s.truncate_suffix(LogIndex(3)),
        |s| s.append(&entries(3..=9, 2)),
        |s| s.install_snapshot(&snapshot(5, 2)),
        |s| {
            s.save_hard_state(&HardState {
                current_term: Term(3),
                voted_for: Some(PeerId(0)),
            })
        },
        |s| s.install_snapshot(&snapshot(20, 3)),
        |s| s.append(&entries(21..=21, 3)),
    ];
    let mut storage = open(dir.path());
    for (i, op) in ops.iter().enumerate() {
        op(&mut storage).unwrap_or_else(|error| panic!("op {i}: {error}"));
        let state = load(&storage);
        let sizes = (storage.raft_state_size(), storage.snapshot_size());
        let log_len = fs::metadata(dir.path().join("log")).expect("log").len();
        drop(storage);
        storage = open(dir.path());
        assert_eq!(load(&storage), state, "op {i}: reopen changed the state");
        assert_eq!(
            (storage.raft_state_size(), storage.snapshot_size()),
            sizes,
            "op {i}"
        );
        let reopened_len = fs::metadata(dir.path().join("log")).expect("log").len();
        assert_eq!(reopened_len, log_len, "op {i}: reopening a clean log rewrote it");
    }
}

#[test]
fn fresh_directory_is_created_with_an_empty_log() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("a/b/peer-0");
    let storage = open(&dir);
    assert_eq!(load(&storage), PersistedState::default());
    assert_eq!(fs::read(dir.join("log")).expect("log created"), LOG_HEADER);
    assert!(
        !dir.join("hard_state").exists(),
        "no hard_state until the first save"
    );
    assert!(
        !dir.join("snapshot").exists(),
        "no snapshot until the first install"
    );
}

#[test]
fn missing_log_beside_other_files_is_corrupt() {
    let (dir, _) = populated_dir();
    fs::remove_file(dir.path().join("log")).expect("remove log");
    expect_corrupt(FilePersister::open(dir.path()), "log");
}

#[test]
fn missing_snapshot_under_a_compacted_log_is_corrupt() {
    let (dir, _) = populated_dir();
    let mut storage = open(dir.path());
    storage.install_snapshot(&snapshot(3, 2)).expect("snapshot");
    drop(storage);
    fs::remove_file(dir.path().join("snapshot")).expect("remove snapshot");
    let (offset, _) = expect_corrupt(FilePersister::open(dir.path()), "log");
    assert_eq!(
        offset,
        LOG_HEADER.len() as u64,
        "the first record is the one out of place"
    );
}

#[test]
fn torn_last_record_is_cut_at_every_byte_boundary() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let last_start = *record_offsets(&all).last().expect("records") as usize;
    for cut in last_start..log.len() {
        let torn = copy_with_log(dir.path(), &log[..cut]);
        let mut storage = open(torn.path());
        assert_eq!(load(&storage).entries, all[..5], "cut at {cut}");
        let len = fs::metadata(torn.path().join("log")).expect("log").len();
        assert_eq!(
            len, last_start as u64,
            "cut at {cut}: the torn record stays on disk"
        );
        storage.append(&all[5..]).expect("re-append the lost entry");
        drop(storage);
        assert_eq!(load(&open(torn.path())).entries, all, "cut at {cut}");
    }
}

#[test]
fn a_log_cut_anywhere_recovers_a_prefix() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let offsets = record_offsets(&all);
    for cut in LOG_HEADER.len()..=log.len() {
        let torn = copy_with_log(dir.path(), &log[..cut]);
        let whole = offsets
            .iter()
            .zip(&all)
            .filter(|(at, e)| **at as usize + record(e).len() <= cut);
        let state = load(&open(torn.path()));
        assert_eq!(state.entries, all[..whole.count()], "cut at {cut}");
        assert_eq!(state.hard_state.current_term, Term(2), "cut at {cut}");
    }
}

#[test]
fn a_full_length_final_record_with_garbage_is_cut() {
    let (dir, all) = populated_dir();
    let mut log = fs::read(dir.path().join("log")).expect("read log");
    let last_start = *record_offsets(&all).last().expect("records") as usize;
    for byte in &mut log[last_start + 8..] {
        *byte = 0; // the file grew, but the data never reached the disk
    }
    let torn = copy_with_log(dir.path(), &log);
    assert_eq!(load(&open(torn.path())).entries, all[..5]);
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_file_and_offset() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let third = record_offsets(&all)[2];
    let mut damaged = log.clone();
    damaged[third as usize + 10] ^= 0x40;
    let copy = copy_with_log(dir.path(), &damaged);
    let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
    assert_eq!(offset, third, "{message}");
    assert!(message.contains("checksum"), "{message}");
    assert_eq!(
        fs::read(copy.path().join("log")).expect("log"),
        damaged,
        "nothing was cut"
    );
}

#[test]
fn every_damaged_byte_before_the_last_record_is_detected() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let offsets = record_offsets(&all);
    let last_start = *offsets.last().expect("records") as usize;
    for at in 0..last_start {
        let mut damaged = log.clone();
        damaged[at] ^= 0x01;
        let copy = copy_with_log(dir.path(), &damaged);
        let in_length_field = offsets
            .iter()
            .any(|&o| (o as usize..o as usize + 4).contains(&at));
        match FilePersister::open(copy.path()) {
            Err(StorageError::Corrupt { path, .. }) => assert!(path.ends_with("log"), "byte {at}"),
            Err(other) => panic!("byte {at}: expected Corrupt, got {other}"),
            // A length stretched past the end of the file looks like a torn write.
            Ok(storage) => {
                assert!(in_length_field, "byte {at}: damage accepted silently");
                let recovered = load(&storage).entries;
                assert!(all.starts_with(&recovered), "byte {at}: recovered a non-prefix");
            }
        }
    }
}

#[test]
fn non_contiguous_records_are_corrupt() {
    let (dir, _) = populated_dir();
    let mut log = LOG_HEADER.to_vec();
    for index in [1, 2, 4] {
        log.extend(record(&entry(index, 1)));
    }
    let copy = copy_with_log(dir.path(), &log);
    let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
    assert_eq!(
        offset,
        (LOG_HEADER.len() + record(&entry(1, 1)).len() * 2) as u64,
        "{message}"
    );

    let mut late_start = LOG_HEADER.to_vec();
    late_start.extend(record(&entry(2, 1)));
    let copy = copy_with_log(dir.path(), &late_start);
    expect_corrupt(FilePersister::open(copy.path()), "log");
}

#[test]
fn bad_log_header_is_corrupt() {
    let (dir, _) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    for (damaged, expected_offset) in [
        ([b"XXXX".as_slice(), &log[4..]].concat(), 0),
        ([&log[..4], &[9], &log[5..]].concat(), 4),
        (log[..5].to_vec(), 5),
        (Vec::new(), 0),
    ] {
        let copy = copy_with_log(dir.path(), &damaged);
        let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
        assert_eq!(offset, expected_offset, "{message}");
    }
}

#[test]
fn garbage_hard_state_or_snapshot_is_corrupt() {
    let (dir, _) = populated_dir();
    let mut storage = open(dir.path());
    storage.install_snapshot(&snapshot(2, 2)).expect("snapshot");
    drop(storage);
    for file in ["hard_state", "snapshot"] {
        let good = fs::read(dir.path().join(file)).expect("read");
        let mut flipped = good.clone();
        flipped[6] ^= 0x10;
        let garbage: &[&[u8]] = &[b"", b"junk", &good[..good.len() - 1], &flipped, &[0; 64]];
        for bytes in garbage {
            let copy = copy_with_log(dir.path(), &fs::read(dir.path().join("log")).expect("log"));
            fs::write(copy.path().join(file), bytes).expect("write garbage");
            let (_, message) = expect_corrupt(FilePersister::open(copy.path()), file);
            assert!(message.contains(file), "{message}");
        }
    }
}

#[test]
fn random_garbage_never_panics_or_breaks_the_invariant() {
    let (dir, _) = populated_dir();
    let mut state = 0x1234_5678_9ABC_DEF0_u64;
    let mut next_byte = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    for round in 0..200 {
        let len = usize::from(next_byte()) + usize::from(next_byte());
        let mut bytes: Vec<u8> = (0..len).map(|_| next_byte()).collect();
        let file = ["log", "hard_state", "snapshot"][round % 3];
        if file == "log" && round % 2 == 0 {
            bytes.splice(0..0, LOG_HEADER); // get past the header now and then
        }
        let copy = copy_with_log(dir.path(), &fs::read(dir.path().join("log")).expect("log"));
        fs::write(copy.path().join(file), &bytes).expect("write garbage");
        match FilePersister::open(copy.path()) {
            Err(StorageError::Corrupt { path, .. }) => assert!(path.ends_with(file), "round {round}"),
            Err(other) => panic!("round {round}: expected Corrupt, got {other}"),
            Ok(storage) => {
                let loaded = load(&storage);
                let first = loaded
                    .snapshot
                    .as_ref()
                    .map_or(0, |s| s.meta.last_included_index.0)
                    + 1;
                for (i, e) in loaded.entries.iter().enumerate() {
                    assert_eq!(e.index.0, first + i as u64, "round {round}: not contiguous");
                }
            }
        }
    }
}

#[test]
fn crash_between_snapshot_and_log_rewrite_is_recovered() {
    let (dir, all) = populated_dir();
    let old_log = fs::read(dir.path().join("log")).expect("read log");
    for (index, kept) in [(4, &all[4..]), (6, &all[6..]), (9, &all[6..])] {
        let copy = copy_with_log(dir.path(), &old_log);
        let mut storage = open(copy.path());
        storage.install_snapshot(&snapshot(index, 2)).expect("snapshot");
        drop(storage);
        // The new snapshot reached the disk, the rewritten log did not.
        fs::write(copy.path().join("log"), &old_log).expect("restore the old log");
        let storage = open(copy.path());
        let state = load(&storage);
        assert_eq!(state.snapshot, Some(snapshot(index, 2)), "snapshot {index}");
        assert_eq!(state.entries, kept, "snapshot {index}");
        let log_len = fs::metadata(copy.path().join("log")).expect("log").len() as usize;
        let kept_len: usize = kept.iter().map(|e| record(e).len()).sum();
        assert_eq!(
            log_len,
            LOG_HEADER.len() + kept_len,
            "open rewrote the log without them"
        );
    }
}

#[test]
fn leftover_temporary_files_are_removed() {
    let (dir, all) = populated_dir();
    let leftover = dir.path().join(".raft-tmp-crashed");
    fs::write(&leftover, b"half a hard state").expect("write leftover");
    let storage = open(dir.path());
    assert!(!leftover.exists(), "open removes temporary files");
    assert_eq!(load(&storage).entries, all);
}
