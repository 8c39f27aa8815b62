//! The bytes of the file backend: sealed files (`hard_state`, `snapshot`), the log's header and
//! durable-end slots, and log records.
//!
//! A sealed file is `magic (4) | version (1) | postcard value | crc32c (4, LE)`, the checksum
//! covering everything before it.
//!
//! The log file starts with a fixed prefix of [`LOG_RECORDS_START`] bytes, all integers LE:
//!
//! | offset | bytes | what |
//! |--------|-------|------|
//! | 0      | 4     | magic `RSLG` |
//! | 4      | 1     | format version (2) |
//! | 5      | 3     | zero |
//! | 8      | 8     | base: the snapshot's last included index when the file was written; the first record holds base + 1 |
//! | 16     | 4     | zero |
//! | 20     | 4     | crc32c of bytes 0..20 |
//! | 24     | 20    | durable-end slot 0 |
//! | 44     | 20    | durable-end slot 1 |
//!
//! A slot is `seq (u64) | durable_end (u64) | crc32c of those 16 bytes (u32)`; slot `seq % 2`
//! holds `seq`. The valid slot with the higher `seq` gives the log's durable end: a length up to
//! which every byte was fsynced before the slot was written (after an append, where that
//! append's records start; see the torn-tail rule in `log`). A change overwrites only the other
//! slot, so a crash while writing a slot leaves the previous durable end readable.
//!
//! A log record is `len (u32) | crc32c (u32) | postcard Entry (len bytes)`, the checksum
//! covering the four length bytes and the payload, so a damaged length is caught too.
//!
//! Decoding never panics: a sealed file or log prefix with any flaw is a
//! [`StorageError::Corrupt`] naming file and offset; a record with a flaw is a [`Flaw`], which
//! the log's reader (`super::log`) turns into an error or a torn tail by where it lies.

use crate::{LOG_INDEX_MAX, StorageError};
use raft_core::{Entry, LogIndex};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The file holding term and vote.
pub(crate) const HARD_STATE_FILE: &str = "hard_state";
/// The file holding the latest snapshot.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
/// The file holding the log.
pub(crate) const LOG_FILE: &str = "log";
/// The prefix of temporary files; leftovers of a crash are removed on open.
pub(crate) const TEMP_PREFIX: &str = ".raft-tmp-";

/// Magic of the `hard_state` file.
pub(crate) const HARD_STATE_MAGIC: [u8; 4] = *b"RSHS";
/// Magic of the `snapshot` file.
pub(crate) const SNAPSHOT_MAGIC: [u8; 4] = *b"RSSN";
/// Magic of the `log` file.
const LOG_MAGIC: [u8; 4] = *b"RSLG";
/// The format version of the sealed files.
const SEALED_VERSION: u8 = 1;
/// The format version of the log (2: base index and durable-end slots).
const LOG_VERSION: u8 = 2;

/// Length of the log header, before the slots.
const LOG_HEADER_LEN: usize = 24;
/// Length of one durable-end slot.
const SLOT_LEN: usize = 20;
/// Where the log's records start: after the header and both slots.
pub(crate) const LOG_RECORDS_START: u64 = (LOG_HEADER_LEN + 2 * SLOT_LEN) as u64;
/// Length of a record's header: length and checksum.
pub(crate) const RECORD_HEADER_LEN: u64 = 8;
/// The largest record payload written or accepted; a larger length field is a flaw.
pub(crate) const RECORD_PAYLOAD_LEN_MAX: u32 = 64 * 1024 * 1024;

const SEAL_HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;

/// What the log's fixed prefix says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogPrefix {
    /// The index before the first record.
    pub(crate) base: LogIndex,
    /// The sequence number of the newest valid slot.
    pub(crate) seq: u64,
    /// The length up to which every byte was fsynced when the slot was written: the log's
    /// length as of the last change, or, after an append, where its records start.
    pub(crate) durable_end: u64,
    /// Whether the other slot failed its checks (a crash while writing it, or damage).
    pub(crate) other_slot_damaged: bool,
}

/// A flaw in a log record: where, and what.
#[derive(Debug)]
pub(crate) struct Flaw {
    /// The byte offset of the flaw in the log.
    pub(crate) offset: u64,
    /// What is wrong there.
    pub(crate) reason: String,
}

/// Encodes `value` as a sealed file with `magic`.
pub(crate) fn seal<T: Serialize>(magic: [u8; 4], value: &T) -> Result<Vec<u8>, StorageError> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&magic);
    bytes.push(SEALED_VERSION);
    let mut bytes =
        postcard::to_extend(value, bytes).map_err(|error| StorageError::Encode(error.to_string()))?;
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    Ok(bytes)
}

/// Decodes a sealed file read from `path`; any flaw is `Corrupt`.
pub(crate) fn unseal<T: DeserializeOwned>(
    magic: [u8; 4],
    bytes: &[u8],
    path: &Path,
) -> Result<T, StorageError> {
    let len = bytes.len();
    if len < SEAL_HEADER_LEN + CRC_LEN {
        let reason = format!("file of {len} bytes is shorter than header and checksum");
        return Err(StorageError::corrupt(path, len as u64, reason));
    }
    if bytes[..4] != magic {
        return Err(StorageError::corrupt(
            path,
            0,
            format!("bad magic {:02x?}", &bytes[..4]),
        ));
    }
    if bytes[4] != SEALED_VERSION {
        return Err(StorageError::corrupt(
            path,
            4,
            format!("unknown format version {}", bytes[4]),
        ));
    }
    let (sealed, crc_bytes) = bytes.split_at(len - CRC_LEN);
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = crc32c::crc32c(sealed);
    if stored != computed {
        let reason = format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}");
        return Err(StorageError::corrupt(path, (len - CRC_LEN) as u64, reason));
    }
    let payload = &sealed[SEAL_HEADER_LEN..];
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|error| {
        StorageError::corrupt(path, SEAL_HEADER_LEN as u64, format!("cannot decode: {error}"))
    })?;
    if !rest.is_empty() {
        let offset = (len - CRC_LEN - rest.len()) as u64;
        return Err(StorageError::corrupt(
            path,
            offset,
            "trailing bytes after the value",
        ));
    }
    Ok(value)
}

/// Appends `entry` to `buf` as one record; returns the payload's length.
pub(crate) fn encode_record(entry: &Entry, buf: &mut Vec<u8>) -> Result<u64, StorageError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; RECORD_HEADER_LEN as usize]);
    *buf = postcard::to_extend(entry, std::mem::take(buf))
        .map_err(|error| StorageError::Encode(error.to_string()))?;
    let payload_start = start + RECORD_HEADER_LEN as usize;
    let payload_len = buf.len() - payload_start;
    let len = match u32::try_from(payload_len) {
        Ok(len) if len <= RECORD_PAYLOAD_LEN_MAX => len,
        _ => {
            buf.truncate(start);
            let reason = format!(
                "entry {} encodes to {payload_len} bytes, over the record limit of \
                 {RECORD_PAYLOAD_LEN_MAX}",
                entry.index
            );
            return Err(StorageError::Encode(reason));
        }
    };
    let len_bytes = len.to_le_bytes();
    let crc = record_crc(len_bytes, &buf[payload_start..]);
    buf[start..start + 4].copy_from_slice(&len_bytes);
    buf[start + 4..payload_start].copy_from_slice(&crc.to_le_bytes());
    Ok(u64::from(len))
}

/// The checksum of a record: over its length field, then its payload.
fn record_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload)
}

/// The fixed prefix of a new log file whose records follow `base` and end at `durable_end`:
/// header and both slots (seq 0 and 1), each slot valid.
pub(crate) fn log_prefix(base: LogIndex, durable_end: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(LOG_RECORDS_START as usize);
    bytes.extend_from_slice(&LOG_MAGIC);
    bytes.extend_from_slice(&[LOG_VERSION, 0, 0, 0]);
    bytes.extend_from_slice(&base.0.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    for seq in 0..2 {
        bytes.extend_from_slice(&encode_slot(seq, durable_end));
    }
    bytes
}

/// The bytes of the slot recording `durable_end` under `seq`.
pub(crate) fn encode_slot(seq: u64, durable_end: u64) -> [u8; SLOT_LEN] {
    let mut slot = [0; SLOT_LEN];
    slot[..8].copy_from_slice(&seq.to_le_bytes());
    slot[8..16].copy_from_slice(&durable_end.to_le_bytes());
    let crc = crc32c::crc32c(&slot[..16]);
    slot[16..].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// Where the slot holding `seq` lies in the log file.
pub(crate) fn slot_offset(seq: u64) -> u64 {
    (LOG_HEADER_LEN + SLOT_LEN * (seq % 2) as usize) as u64
}

/// Reads the log's fixed prefix from `bytes`, read from `path`. Any flaw in the header, or
/// both slots failing their checks, is `Corrupt`.
pub(crate) fn read_log_prefix(bytes: &[u8], path: &Path) -> Result<LogPrefix, StorageError> {
    if bytes.len() < LOG_RECORDS_START as usize {
        // The log is created whole by an atomic rename, so a short prefix is never torn.
        let reason = format!(
            "file of {} bytes is shorter than the log header and its slots ({LOG_RECORDS_START})",
            bytes.len()
        );
        return Err(StorageError::corrupt(path, bytes.len() as u64, reason));
    }
    let corrupt = |offset: u64, reason: String| Err(StorageError::corrupt(path, offset, reason));
    if bytes[..4] != LOG_MAGIC {
        return corrupt(0, format!("bad magic {:02x?}", &bytes[..4]));
    }
    if bytes[4] != LOG_VERSION {
        return corrupt(4, format!("unknown log format version {}", bytes[4]));
    }
    let stored = le_u32(&bytes[20..24]);
    let computed = crc32c::crc32c(&bytes[..20]);
    if stored != computed {
        let reason =
            format!("log header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}");
        return corrupt(0, reason);
    }
    if bytes[5..8] != [0; 3] || bytes[16..20] != [0; 4] {
        return corrupt(5, "nonzero reserved bytes in the log header".to_string());
    }
    let base = LogIndex(le_u64(&bytes[8..16]));
    if base > LOG_INDEX_MAX {
        return corrupt(8, format!("base index {base} is above the largest index"));
    }
    let slots = [0, 1].map(|i| read_slot(bytes, i));
    let newest = match slots {
        [Some(a), Some(b)] => Some(if a.0 > b.0 { a } else { b }),
        [a, b] => a.or(b),
    };
    let Some((seq, durable_end)) = newest else {
        let reason = "both durable-end slots fail their checks".to_string();
        return corrupt(LOG_HEADER_LEN as u64, reason);
    };
    Ok(LogPrefix {
        base,
        seq,
        durable_end,
        other_slot_damaged: slots.iter().any(Option::is_none),
    })
}

/// Slot `i` as `(seq, durable_end)`, if its checksum, position and durable end are valid.
fn read_slot(bytes: &[u8], i: u64) -> Option<(u64, u64)> {
    let at = slot_offset(i) as usize;
    let slot = &bytes[at..at + SLOT_LEN];
    let (seq, durable_end) = (le_u64(&slot[..8]), le_u64(&slot[8..16]));
    let valid = le_u32(&slot[16..]) == crc32c::crc32c(&slot[..16])
        && seq % 2 == i
        && durable_end >= LOG_RECORDS_START;
    valid.then_some((seq, durable_end))
}

/// Reads the record at `offset` of the log `bytes`: `None` exactly at the end of `bytes`, the
/// entry and where the next record starts, or the record's flaw. Index order is the caller's.
pub(crate) fn read_record(bytes: &[u8], offset: u64) -> Result<Option<(Entry, u64)>, Flaw> {
    let flaw = |at: u64, reason: String| Err(Flaw { offset: at, reason });
    let file_len = bytes.len() as u64;
    let rest = file_len.saturating_sub(offset);
    if rest == 0 {
        return Ok(None);
    }
    if rest < RECORD_HEADER_LEN {
        return flaw(offset, format!("a record header cut short: {rest} bytes"));
    }
    let at = offset as usize;
    let len_bytes = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    let len = u32::from_le_bytes(len_bytes);
    if len > RECORD_PAYLOAD_LEN_MAX {
        return flaw(
            offset,
            format!("record length {len} exceeds the limit of {RECORD_PAYLOAD_LEN_MAX}"),
        );
    }
    let end = offset + RECORD_HEADER_LEN + u64::from(len);
    if end > file_len {
        let reason = format!(
            "a record of {len} payload bytes runs {} bytes past the end",
            end - file_len
        );
        return flaw(offset, reason);
    }
    let payload = &bytes[at + RECORD_HEADER_LEN as usize..end as usize];
    let stored = le_u32(&bytes[at + 4..at + 8]);
    let computed = record_crc(len_bytes, payload);
    if stored != computed {
        return flaw(
            offset,
            format!("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        );
    }
    let payload_offset = offset + RECORD_HEADER_LEN;
    let (entry, trailing) = match postcard::take_from_bytes::<Entry>(payload) {
        Ok(decoded) => decoded,
        Err(error) => return flaw(payload_offset, format!("cannot decode entry: {error}")),
    };
    if !trailing.is_empty() {
        return flaw(
            end - trailing.len() as u64,
            "trailing bytes in record".to_string(),
        );
    }
    Ok(Some((entry, end)))
}

/// A little-endian u32 from exactly four bytes.
fn le_u32(bytes: &[u8]) -> u32 {
    let mut array = [0; 4];
    array.copy_from_slice(bytes);
    u32::from_le_bytes(array)
}

/// A little-endian u64 from exactly eight bytes.
fn le_u64(bytes: &[u8]) -> u64 {
    let mut array = [0; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HardState;
    use raft_core::{LogIndex, PeerId, Term};
    use std::path::PathBuf;

    fn path() -> PathBuf {
        PathBuf::from("test-file")
    }

    #[test]
    fn sealed_round_trip() {
        let value = HardState {
            current_term: Term(7),
            voted_for: Some(PeerId(2)),
        };
        let bytes = seal(HARD_STATE_MAGIC, &value).expect("encodes");
        let back: HardState = unseal(HARD_STATE_MAGIC, &bytes, &path()).expect("decodes");
        assert_eq!(back, value);
    }

    #[test]
    fn sealed_rejects_every_flipped_bit() {
        let value = HardState {
            current_term: Term(300),
            voted_for: None,
        };
        let bytes = seal(HARD_STATE_MAGIC, &value).expect("encodes");
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let result = unseal::<HardState>(HARD_STATE_MAGIC, &damaged, &path());
            assert!(
                matches!(result, Err(StorageError::Corrupt { .. })),
                "bit {bit}: {result:?}"
            );
        }
    }

    #[test]
    fn record_round_trip_and_every_cut_is_a_flaw() {
        let entry = Entry {
            index: LogIndex(3),
            term: Term(2),
            command: vec![9; 20].into(),
        };
        let mut buf = log_prefix(LogIndex(2), LOG_RECORDS_START);
        let payload_len = encode_record(&entry, &mut buf).expect("encodes");
        assert_eq!(
            buf.len() as u64,
            LOG_RECORDS_START + RECORD_HEADER_LEN + payload_len
        );
        let read = read_record(&buf, LOG_RECORDS_START).expect("reads");
        assert_eq!(read, Some((entry, buf.len() as u64)));
        assert_eq!(read_record(&buf, buf.len() as u64).expect("the end"), None);
        for cut in LOG_RECORDS_START as usize + 1..buf.len() {
            let flaw = read_record(&buf[..cut], LOG_RECORDS_START).expect_err("cut short");
            assert_eq!(flaw.offset, LOG_RECORDS_START, "cut at {cut}: {}", flaw.reason);
        }
    }

    #[test]
    fn log_prefix_round_trips_and_the_newest_slot_wins() {
        let mut bytes = log_prefix(LogIndex(7), 100);
        let prefix = read_log_prefix(&bytes, &path()).expect("reads");
        let expected = LogPrefix {
            base: LogIndex(7),
            seq: 1,
            durable_end: 100,
            other_slot_damaged: false,
        };
        assert_eq!(prefix, expected);
        let at = slot_offset(2) as usize;
        bytes[at..at + SLOT_LEN].copy_from_slice(&encode_slot(2, 180));
        let prefix = read_log_prefix(&bytes, &path()).expect("reads");
        assert_eq!((prefix.seq, prefix.durable_end), (2, 180));
        bytes[at + 9] ^= 0x01; // the newest slot damaged: the older one stands
        let prefix = read_log_prefix(&bytes, &path()).expect("reads");
        assert_eq!(
            (prefix.seq, prefix.durable_end, prefix.other_slot_damaged),
            (1, 100, true)
        );
        let other = slot_offset(1) as usize;
        bytes[other] ^= 0x01;
        let error = read_log_prefix(&bytes, &path()).expect_err("both slots damaged");
        assert!(error.to_string().contains("both durable-end slots"), "{error}");
    }

    #[test]
    fn every_flipped_bit_of_the_log_header_is_corrupt() {
        let bytes = log_prefix(LogIndex(7), 100);
        for bit in 0..LOG_HEADER_LEN * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            match read_log_prefix(&damaged, &path()) {
                Err(StorageError::Corrupt { offset, .. }) => {
                    assert!(offset <= (bit / 8) as u64, "bit {bit}: reported at {offset}");
                }
                other => panic!("bit {bit}: {other:?}"),
            }
        }
    }
}
