//! Damage at every byte of every file of a data directory: flipped bits and truncations.
//!
//! The directory holds a hard state, a snapshot, a compacted log of a few dozen entries that
//! went through a truncation, and, after all that was acknowledged, the torn tail of an append
//! that a crash interrupted: half of its records' bytes, the other half never written, and the
//! durable-end slot that append wrote beside them either lost too or on disk (two directories).
//! For every byte of every file, each damage is applied to a copy, which is then opened. The
//! verdict must be one of two:
//!
//! - an error, `Corrupt`, naming the damaged file and an offset no later than the damage (or
//!   within the file, for the sealed files, whose checksum covers them whole), with every
//!   file of the directory byte-identical to what it was before the open; or
//! - a state that holds everything acknowledged: hard state and snapshot exact, and every
//!   acknowledged entry with its bytes, followed by nothing but a prefix of the interrupted
//!   append (the torn-tail rule may cut only what was never acknowledged). The one exception
//!   is the storage's documented limit: damage to the records of the last acknowledged append
//!   while no slot records their end yet (one fsync per append) reads as a crash's leftover
//!   and cuts them from the damaged one on, and nothing else.
//!
//! For the log, the test also checks where the line between the two falls: damage to the
//! header or to any byte below the recorded durable end is an error, damage to one
//! durable-end slot or beyond the recorded durable end is not.

use raft_core::{Entry, LogIndex, PeerId, Term};
use raft_storage::{
    FilePersister, HardState, MemoryPersister, PersistedState, Snapshot, SnapshotMeta, Storage, StorageError,
};
use std::fs;
use std::path::Path;

/// Where the log's records start: after its header (24 bytes) and two slots (20 bytes each).
const LOG_RECORDS_START: u64 = 64;
/// Where the durable-end slots lie in the log.
const LOG_SLOTS: std::ops::Range<u64> = 24..64;
/// The bit patterns each byte is flipped with.
const FLIPS: [u8; 3] = [0x01, 0x80, 0xff];

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: format!("command {index} of term {term}").into_bytes().into(),
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|index| entry(index, term)).collect()
}

/// The populated directory and what the test knows about it.
struct Populated {
    dir: tempfile::TempDir,
    /// Everything acknowledged.
    acknowledged: PersistedState,
    /// The batch whose append a crash interrupted.
    interrupted: Vec<Entry>,
    /// The log's length once the last acknowledged change returned.
    acknowledged_end: u64,
    /// The durable end the newest valid slot records: where the last acknowledged append
    /// starts, or, if the interrupted append's slot reached the disk, `acknowledged_end`.
    recorded_end: u64,
    /// How many entries the last acknowledged append wrote.
    last_append_len: usize,
}

/// Runs the history on a new directory and on the model, then tears one last append, whose
/// durable-end slot reached the disk if `slot_landed`.
fn populate(slot_landed: bool) -> Populated {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = FilePersister::create(dir.path()).expect("create");
    let mut model = MemoryPersister::new();
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            last_included_index: LogIndex(12),
            last_included_term: Term(3),
        },
        data: b"the service's state through entry 12".to_vec(),
    };
    let apply = |storage: &mut dyn DynStorage| {
        storage.save(HardState {
            current_term: Term(3),
            voted_for: Some(PeerId(2)),
        });
        for batch in [1..=1, 2..=4, 5..=9, 10..=16, 17..=30] {
            storage.add(&entries(batch, 3));
        }
        storage.install(&snapshot);
        storage.add(&entries(31..=40, 3));
        storage.truncate(LogIndex(38));
        storage.save(HardState {
            current_term: Term(4),
            voted_for: Some(PeerId(0)),
        });
        storage.add(&entries(LAST_APPEND, 4));
    };
    apply(&mut file);
    apply(&mut model);
    drop(file);
    let log_path = dir.path().join("log");
    let log = fs::read(&log_path).expect("log");
    let acknowledged_end = log.len() as u64;
    // The interrupted append: its records as a completed append writes them (on a scratch
    // copy), of which a crash let only the first half reach the file.
    let interrupted = entries(43..=46, 4);
    let scratch = tempfile::tempdir().expect("temp dir");
    for name in ["hard_state", "log", "snapshot"] {
        fs::copy(dir.path().join(name), scratch.path().join(name)).expect("copy");
    }
    let mut completed = FilePersister::open(scratch.path()).expect("open the scratch copy");
    completed.add(&interrupted);
    let completed = fs::read(scratch.path().join("log")).expect("log");
    let records = &completed[log.len()..];
    assert!(records.len() > 4 * 8, "four records");
    let mut torn = log;
    if slot_landed {
        let slots = LOG_SLOTS.start as usize..LOG_SLOTS.end as usize;
        torn[slots.clone()].copy_from_slice(&completed[slots]);
    }
    torn.extend_from_slice(&records[..records.len() / 2]);
    let recorded_end = newest_slot_end(&torn);
    fs::write(&log_path, torn).expect("write the torn log");
    let acknowledged = model.load().expect("model load");
    assert_eq!(
        acknowledged.entries.len(),
        30,
        "entries 13..=42 after the snapshot"
    );
    Populated {
        dir,
        acknowledged,
        interrupted,
        acknowledged_end,
        recorded_end,
        last_append_len: LAST_APPEND.count(),
    }
}

/// The entries of the history's last append, after a truncation (which records its end).
const LAST_APPEND: std::ops::RangeInclusive<u64> = 38..=42;

/// The durable end the slot with the higher sequence number records (both are valid here).
fn newest_slot_end(log: &[u8]) -> u64 {
    let u64_at = |at: u64| u64::from_le_bytes(log[at as usize..at as usize + 8].try_into().expect("8 bytes"));
    let slots = [LOG_SLOTS.start, LOG_SLOTS.start + 20];
    let newest = slots
        .into_iter()
        .max_by_key(|&slot| u64_at(slot))
        .expect("two slots");
    u64_at(newest + 8)
}

/// The storage calls `populate` makes, on either backend, each expected to succeed.
trait DynStorage {
    fn save(&mut self, hard_state: HardState);
    fn add(&mut self, entries: &[Entry]);
    fn truncate(&mut self, from: LogIndex);
    fn install(&mut self, snapshot: &Snapshot);
}

impl<S: Storage> DynStorage for S {
    fn save(&mut self, hard_state: HardState) {
        self.save_hard_state(&hard_state).expect("save");
    }
    fn add(&mut self, entries: &[Entry]) {
        self.append(entries).expect("append");
    }
    fn truncate(&mut self, from: LogIndex) {
        self.truncate_suffix(from).expect("truncate");
    }
    fn install(&mut self, snapshot: &Snapshot) {
        self.install_snapshot(snapshot).expect("install");
    }
}

/// The files of a directory and their bytes, sorted by name, but for the LOCK file.
type Contents = Vec<(String, Vec<u8>)>;

fn contents(dir: &Path) -> Contents {
    let mut files: Contents = fs::read_dir(dir)
        .expect("read dir")
        .map(|file| {
            let file = file.expect("dir entry");
            let bytes = fs::read(file.path()).expect("read file");
            (file.file_name().to_string_lossy().into_owned(), bytes)
        })
        // The empty LOCK file holds no state: open creates it when it is missing.
        .filter(|(name, _)| name != "LOCK")
        .collect();
    files.sort();
    files
}

/// Makes `dir` hold exactly `files`, with `name` replaced by `damaged`.
fn write_copy(dir: &Path, files: &Contents, name: &str, damaged: &[u8]) {
    for file in fs::read_dir(dir).expect("read dir") {
        fs::remove_file(file.expect("dir entry").path()).expect("clear the copy");
    }
    for (file, bytes) in files {
        let bytes = if file == name { damaged } else { bytes };
        fs::write(dir.join(file), bytes).expect("write the copy");
    }
}

/// One damage: which file, at which byte, and what was done there.
struct Damage<'a> {
    file: &'a str,
    at: u64,
    what: String,
}

/// How an open of a damaged copy ended.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Corrupt,
    Opened,
}

/// Opens the damaged copy in `dir` and checks the verdict against the rules in the module doc.
fn judge(dir: &Path, damage: &Damage, populated: &Populated, file_len: u64) -> Verdict {
    let label = format!("{} {} at byte {}", damage.file, damage.what, damage.at);
    let before = contents(dir);
    match FilePersister::open(dir) {
        Err(StorageError::Corrupt { path, offset, reason }) => {
            assert!(
                path.ends_with(damage.file),
                "{label}: error names {}: {reason}",
                path.display()
            );
            let limit = if damage.file == "log" { damage.at } else { file_len };
            assert!(offset <= limit, "{label}: error at offset {offset}: {reason}");
            assert_eq!(
                contents(dir),
                before,
                "{label}: open modified a corrupt directory"
            );
            Verdict::Corrupt
        }
        Err(other) => panic!("{label}: expected Corrupt or a state, got {other}"),
        Ok(storage) => {
            let state = storage.load().unwrap_or_else(|e| panic!("{label}: load: {e}"));
            let may_cut_last_append = damage.file == "log"
                && (populated.recorded_end..populated.acknowledged_end).contains(&damage.at);
            check_holds_the_acknowledged(&state, populated, may_cut_last_append, &label);
            drop(storage);
            let again = FilePersister::open(dir).unwrap_or_else(|e| panic!("{label}: reopen: {e}"));
            assert_eq!(
                again.load().expect("load"),
                state,
                "{label}: a second open changed the state"
            );
            Verdict::Opened
        }
    }
}

/// Hard state and snapshot exact, every acknowledged entry, then a prefix of the interrupted
/// batch; or, if `may_cut_last_append`, every entry before the last acknowledged append and
/// then a prefix of it.
fn check_holds_the_acknowledged(
    state: &PersistedState,
    populated: &Populated,
    may_cut_last_append: bool,
    label: &str,
) {
    let acknowledged = &populated.acknowledged;
    assert_eq!(state.hard_state, acknowledged.hard_state, "{label}: hard state");
    assert_eq!(state.snapshot, acknowledged.snapshot, "{label}: snapshot");
    let mut kept = &acknowledged.entries[..];
    if may_cut_last_append && state.entries.len() < kept.len() {
        let before_last_append = kept.len() - populated.last_append_len;
        assert!(
            state.entries.len() >= before_last_append,
            "{label}: entries before the last append lost"
        );
        kept = &kept[..state.entries.len()];
        assert_eq!(state.entries, kept, "{label}: not a prefix of the acknowledged");
        return;
    }
    assert!(
        state.entries.starts_with(kept),
        "{label}: acknowledged entries lost: {} of {} kept",
        state.entries.iter().zip(kept).take_while(|(a, b)| a == b).count(),
        kept.len()
    );
    let extra = &state.entries[kept.len()..];
    assert!(
        populated.interrupted.starts_with(extra),
        "{label}: entries beyond the acknowledged ones are not a prefix of the interrupted batch"
    );
}

/// What the rule says the verdict for damage to the log at `at` must be, if it says.
fn expected_log_verdict(at: u64, durable_end: u64, truncated: bool) -> Option<Verdict> {
    if LOG_SLOTS.contains(&at) {
        // One slot damaged: the other stands. A truncation here removes both.
        return Some(if truncated {
            Verdict::Corrupt
        } else {
            Verdict::Opened
        });
    }
    if at < durable_end {
        return Some(Verdict::Corrupt);
    }
    Some(Verdict::Opened)
}

#[test]
fn every_damaged_byte_of_every_file_is_an_error_or_loses_nothing_acknowledged() {
    every_damaged_byte(false);
}

#[test]
fn every_damaged_byte_once_the_interrupted_appends_slot_landed() {
    every_damaged_byte(true);
}

fn every_damaged_byte(slot_landed: bool) {
    let populated = populate(slot_landed);
    let files = contents(populated.dir.path());
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["hard_state", "log", "snapshot"]);
    let log_len = files[1].1.len() as u64;
    assert!(
        log_len > populated.acknowledged_end,
        "the interrupted append left a torn tail beyond the acknowledged records"
    );
    if slot_landed {
        assert_eq!(
            populated.recorded_end, populated.acknowledged_end,
            "the landed slot"
        );
    } else {
        assert!(
            populated.recorded_end < populated.acknowledged_end,
            "the last append's records lie beyond the recorded durable end"
        );
    }
    assert!(
        populated.recorded_end > LOG_RECORDS_START + 25 * 8,
        "25 records below the recorded durable end"
    );
    let copy = tempfile::tempdir().expect("temp dir");
    let mut verdicts = [0_u32; 2];
    for (name, bytes) in &files {
        let file_len = bytes.len() as u64;
        for at in 0..bytes.len() {
            let mut damages: Vec<(String, Vec<u8>)> = FLIPS
                .iter()
                .map(|flip| {
                    let mut damaged = bytes.clone();
                    damaged[at] ^= flip;
                    (format!("xor {flip:#04x}"), damaged)
                })
                .collect();
            damages.push(("truncated".to_string(), bytes[..at].to_vec()));
            for (what, damaged) in damages {
                write_copy(copy.path(), &files, name, &damaged);
                let truncated = what == "truncated";
                let damage = Damage {
                    file: name,
                    at: at as u64,
                    what,
                };
                let verdict = judge(copy.path(), &damage, &populated, file_len);
                if *name == "log" {
                    let expected = expected_log_verdict(damage.at, populated.recorded_end, truncated);
                    assert_eq!(
                        Some(&verdict),
                        expected.as_ref(),
                        "log {} at byte {} (recorded durable end {})",
                        damage.what,
                        damage.at,
                        populated.recorded_end
                    );
                } else {
                    assert_eq!(verdict, Verdict::Corrupt, "{name} {} at byte {at}", damage.what);
                }
                verdicts[usize::from(verdict == Verdict::Opened)] += 1;
            }
        }
    }
    let total: usize = files
        .iter()
        .map(|(_, bytes)| bytes.len() * (FLIPS.len() + 1))
        .sum();
    assert_eq!((verdicts[0] + verdicts[1]) as usize, total);
    println!(
        "{total} damaged copies: {} Corrupt, {} opened whole",
        verdicts[0], verdicts[1]
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let populated = populate(false);
    let files = contents(populated.dir.path());
    let copy = tempfile::tempdir().expect("temp dir");
    for (name, _) in &files {
        write_copy(copy.path(), &files, "", &[]);
        fs::remove_file(copy.path().join(name)).expect("remove");
        let before = contents(copy.path());
        match FilePersister::open(copy.path()) {
            Err(StorageError::Corrupt { path, .. }) => assert!(path.ends_with(name), "{name}"),
            other => panic!("{name} removed: expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            contents(copy.path()),
            before,
            "{name} removed: open modified the directory"
        );
    }
}
