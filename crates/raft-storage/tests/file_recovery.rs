//! Recovery of `FilePersister` from what crashes and damage leave in its directory: reopening
//! after every operation, an unfinished append torn at every byte boundary, a crash between the
//! two steps of a snapshot, and damaged files, which must be `Corrupt` errors naming file and
//! offset, never a panic and never a silent reset. (`corruption.rs` damages every byte.)
//!
//! The log format these tests write by hand, integers LE: a 24-byte header (`RSLG`, version 2,
//! three zero bytes, the base index as u64, four zero bytes, crc32c of the 20 bytes before it),
//! two 20-byte durable-end slots (`seq: u64`, `durable_end: u64`, crc32c of those 16 bytes;
//! slot `seq % 2`), then records `[len: u32][crc32c(len bytes ++ payload): u32][postcard
//! Entry]` from byte 64.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{FilePersister, HardState, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError};
use std::fs;
use std::path::Path;

/// Where records start: after the header and both slots.
const RECORDS_START: usize = 64;

/// The log's header and both slots, for records after `base` that end at `durable_end`.
fn log_prefix(base: u64, durable_end: u64) -> Vec<u8> {
    let mut bytes = b"RSLG".to_vec();
    bytes.extend_from_slice(&[2, 0, 0, 0]);
    bytes.extend_from_slice(&base.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    for seq in 0..2_u64 {
        let mut slot = seq.to_le_bytes().to_vec();
        slot.extend_from_slice(&durable_end.to_le_bytes());
        let crc = crc32c::crc32c(&slot);
        slot.extend_from_slice(&crc.to_le_bytes());
        bytes.extend(slot);
    }
    bytes
}

/// A whole log file: the prefix, then the records of `entries` after `base`, all acknowledged.
fn log_file(base: u64, entries: &[Entry]) -> Vec<u8> {
    let records: Vec<u8> = entries.iter().flat_map(record).collect();
    let mut bytes = log_prefix(base, (RECORDS_START + records.len()) as u64);
    bytes.extend(records);
    bytes
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: format!("cmd{index}").into_bytes().into(),
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
    let mut storage = FilePersister::create(dir.path()).expect("create");
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
    let mut offset = RECORDS_START as u64;
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
    drop(FilePersister::create(dir.path()).expect("create"));
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
fn a_created_directory_holds_an_empty_log_and_the_default_hard_state() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("a/b/peer-0");
    let storage = FilePersister::create(&dir).expect("create");
    assert_eq!(load(&storage), PersistedState::default());
    assert_eq!(
        fs::read(dir.join("log")).expect("log created"),
        log_prefix(0, RECORDS_START as u64)
    );
    assert!(
        dir.join("hard_state").exists(),
        "hard_state is written at creation"
    );
    assert!(
        !dir.join("snapshot").exists(),
        "no snapshot until the first install"
    );
    let leftovers = fs::read_dir(dir.parent().expect("parent"))
        .expect("read parent")
        .count();
    assert_eq!(
        leftovers, 1,
        "only peer-0 is left in its parent, no staging directory"
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
    let (_, message) = expect_corrupt(FilePersister::open(dir.path()), "snapshot");
    assert!(message.contains("compacted through index 3"), "{message}");
}

/// `log` as a crash during the append of `next` leaves it: the record's first `written`
/// bytes, then `zeros` zero bytes where the file grew before its data arrived.
fn torn_append(log: &[u8], next: &Entry, written: usize, zeros: usize) -> Vec<u8> {
    let mut bytes = log.to_vec();
    bytes.extend_from_slice(&record(next)[..written]);
    bytes.extend(std::iter::repeat_n(0, zeros));
    bytes
}

#[test]
fn an_unfinished_append_is_cut_at_every_byte_boundary() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let next = entry(7, 2);
    let whole = record(&next).len();
    for written in 1..whole {
        for zeros in [0, whole - written] {
            let torn = copy_with_log(dir.path(), &torn_append(&log, &next, written, zeros));
            let mut storage = open(torn.path());
            let label = format!("{written} bytes written, {zeros} zeros");
            assert_eq!(load(&storage).entries, all, "{label}");
            let len = fs::metadata(torn.path().join("log")).expect("log").len();
            assert_eq!(len, log.len() as u64, "{label}: the torn record stays on disk");
            storage.append(std::slice::from_ref(&next)).expect("append again");
            drop(storage);
            let reopened = load(&open(torn.path())).entries;
            assert_eq!(reopened.last(), Some(&next), "{label}");
        }
    }
    // Written whole, but the durable end not yet recorded: kept.
    let whole_record = copy_with_log(dir.path(), &torn_append(&log, &next, whole, 0));
    let state = load(&open(whole_record.path()));
    assert_eq!(
        state.entries.last(),
        Some(&next),
        "a whole record beyond the durable end is kept"
    );
}

/// The durable end the populated log's slots record: the end of the append before the last
/// (the last append's fsync carried the slot naming where its own records start).
fn recorded_durable_end(all: &[Entry]) -> usize {
    record_offsets(all)[4] as usize
}

#[test]
fn a_log_cut_below_its_recorded_durable_end_is_corrupt_and_left_as_it_is() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    for cut in RECORDS_START..recorded_durable_end(&all) {
        let copy = copy_with_log(dir.path(), &log[..cut]);
        let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
        assert_eq!(offset, cut as u64, "{message}");
        assert!(message.contains("durable end"), "{message}");
        let after = fs::read(copy.path().join("log")).expect("log");
        assert_eq!(after, log[..cut], "cut at {cut}: open changed a corrupt log");
    }
}

#[test]
fn a_damaged_acknowledged_record_below_the_recorded_end_is_corrupt_not_cut() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    // Entry 4 ends the append before the last: the last append's slot covers it.
    let start = record_offsets(&all)[3] as usize;
    let end = recorded_durable_end(&all);
    let mut zeroed = log.clone();
    zeroed[start + 8..end].iter_mut().for_each(|byte| *byte = 0);
    let mut long_length = log.clone();
    long_length[start + 2] ^= 0x01; // the length now runs past the recorded end
    for damaged in [zeroed, long_length] {
        let copy = copy_with_log(dir.path(), &damaged);
        let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
        assert_eq!(offset as usize, start, "{message}");
    }
}

/// The known limit of one fsync per append: until the next change to the log (or an open)
/// records its end, the last append's records lie beyond the recorded durable end, where
/// damage reads as a crash's leftover. What it costs is bounded: the records from the damaged one on, of that append
/// only.
#[test]
fn damage_to_the_last_append_before_the_next_change_cuts_only_its_records() {
    let (dir, all) = populated_dir();
    let log = fs::read(dir.path().join("log")).expect("read log");
    let offsets = record_offsets(&all);
    for (damaged_entry, &start) in offsets.iter().enumerate().skip(4) {
        let mut damaged = log.clone();
        damaged[start as usize + 8] ^= 0x40;
        let copy = copy_with_log(dir.path(), &damaged);
        let state = load(&open(copy.path()));
        assert_eq!(
            state.entries,
            all[..damaged_entry],
            "entry {} damaged",
            damaged_entry + 1
        );
    }
    // Once a later change records the append's end, the same damage is an error.
    let mut storage = open(dir.path());
    storage.append(&[entry(7, 2)]).expect("append");
    drop(storage);
    let log = fs::read(dir.path().join("log")).expect("read log");
    let mut damaged = log.clone();
    damaged[offsets[5] as usize + 8] ^= 0x40;
    let copy = copy_with_log(dir.path(), &damaged);
    let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
    assert_eq!(offset, offsets[5], "{message}");
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
fn non_contiguous_records_are_corrupt() {
    let (dir, _) = populated_dir();
    let gap = log_file(0, &[entry(1, 1), entry(2, 1), entry(4, 1)]);
    let copy = copy_with_log(dir.path(), &gap);
    let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
    assert_eq!(
        offset,
        (RECORDS_START + record(&entry(1, 1)).len() * 2) as u64,
        "{message}"
    );

    for (base, first) in [(0, 2), (3, 3), (3, 5)] {
        let copy = copy_with_log(dir.path(), &log_file(base, &[entry(first, 1)]));
        let (offset, message) = expect_corrupt(FilePersister::open(copy.path()), "log");
        assert_eq!(
            offset, RECORDS_START as u64,
            "base {base}, first {first}: {message}"
        );
    }
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
            // Get past the prefix now and then: the garbage is then an unfinished append.
            bytes.splice(0..0, log_prefix(0, RECORDS_START as u64));
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
            RECORDS_START + kept_len,
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
