//! The bytes of the file backend: sealed files (`hard_state`, `snapshot`) and log records.
//!
//! A sealed file is `magic (4) | version (1) | postcard value | crc32c (4, LE)`, the checksum
//! covering everything before it. A log record is `len (u32 LE) | crc32c (u32 LE) | postcard
//! Entry (len bytes)`, the checksum covering the four length bytes and the payload, so a
//! damaged length is caught too. Decoding never panics: every flaw is a
//! [`StorageError::Corrupt`] naming file and offset, except the one a crash can leave, a torn
//! final log record, which [`read_record`] reports as [`RecordRead::Torn`].

use crate::StorageError;
use raft_core::Entry;
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
/// The format version of all three files.
const FORMAT_VERSION: u8 = 1;

/// The log file's header: magic, version, three reserved zero bytes.
pub(crate) const LOG_HEADER: [u8; 8] = {
    let mut header = [0; 8];
    let mut i = 0;
    while i < 4 {
        header[i] = LOG_MAGIC[i];
        i += 1;
    }
    header[4] = FORMAT_VERSION;
    header
};
/// Length of [`LOG_HEADER`].
pub(crate) const LOG_HEADER_LEN: u64 = LOG_HEADER.len() as u64;
/// Length of a record's header: length and checksum.
pub(crate) const RECORD_HEADER_LEN: u64 = 8;
/// The largest record payload written or accepted; a larger length field is corruption, not a
/// torn write.
pub(crate) const RECORD_PAYLOAD_LEN_MAX: u32 = 64 * 1024 * 1024;

const SEAL_HEADER_LEN: usize = 5;
const CRC_LEN: usize = 4;

/// Encodes `value` as a sealed file with `magic`.
pub(crate) fn seal<T: Serialize>(magic: [u8; 4], value: &T) -> Result<Vec<u8>, StorageError> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&magic);
    bytes.push(FORMAT_VERSION);
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
    if bytes[4] != FORMAT_VERSION {
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

/// Checks the log header at the start of `bytes`.
pub(crate) fn check_log_header(bytes: &[u8], path: &Path) -> Result<(), StorageError> {
    if bytes.len() < LOG_HEADER.len() {
        // The log is created whole by an atomic rename, so a short header is never torn.
        let reason = format!("file of {} bytes is shorter than the log header", bytes.len());
        return Err(StorageError::corrupt(path, bytes.len() as u64, reason));
    }
    if bytes[..4] != LOG_MAGIC {
        return Err(StorageError::corrupt(
            path,
            0,
            format!("bad magic {:02x?}", &bytes[..4]),
        ));
    }
    if bytes[4] != FORMAT_VERSION || bytes[5..8] != [0, 0, 0] {
        let reason = format!("unknown format version {:02x?}", &bytes[4..8]);
        return Err(StorageError::corrupt(path, 4, reason));
    }
    Ok(())
}

/// What [`read_record`] found at an offset.
#[derive(Debug)]
pub(crate) enum RecordRead {
    /// The end of the file, exactly at a record boundary.
    End,
    /// A torn final record, as a crash during an append leaves: a short header, a short
    /// payload, or a bad checksum on the last record of the file.
    Torn,
    /// A whole record; the next one starts at `next_offset`.
    Entry {
        /// The decoded entry.
        entry: Entry,
        /// Where the next record starts.
        next_offset: u64,
    },
}

/// Reads the record at `offset` of the log `bytes` read from `path`.
pub(crate) fn read_record(bytes: &[u8], offset: u64, path: &Path) -> Result<RecordRead, StorageError> {
    let file_len = bytes.len() as u64;
    let rest = file_len.saturating_sub(offset);
    if rest == 0 {
        return Ok(RecordRead::End);
    }
    if rest < RECORD_HEADER_LEN {
        return Ok(RecordRead::Torn);
    }
    let at = offset as usize;
    let len_bytes = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    let stored = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
    let len = u32::from_le_bytes(len_bytes);
    if len > RECORD_PAYLOAD_LEN_MAX {
        let reason = format!("record length {len} exceeds the limit of {RECORD_PAYLOAD_LEN_MAX}");
        return Err(StorageError::corrupt(path, offset, reason));
    }
    let end = offset + RECORD_HEADER_LEN + u64::from(len);
    if end > file_len {
        return Ok(RecordRead::Torn);
    }
    let payload = &bytes[at + RECORD_HEADER_LEN as usize..end as usize];
    let computed = record_crc(len_bytes, payload);
    if stored != computed {
        if end == file_len {
            return Ok(RecordRead::Torn);
        }
        let reason = format!(
            "checksum mismatch in a record before the last: stored {stored:#010x}, computed \
             {computed:#010x}"
        );
        return Err(StorageError::corrupt(path, offset, reason));
    }
    let payload_offset = offset + RECORD_HEADER_LEN;
    let (entry, rest) = postcard::take_from_bytes::<Entry>(payload).map_err(|error| {
        StorageError::corrupt(path, payload_offset, format!("cannot decode entry: {error}"))
    })?;
    if !rest.is_empty() {
        let trailing_offset = end - rest.len() as u64;
        return Err(StorageError::corrupt(
            path,
            trailing_offset,
            "trailing bytes in record",
        ));
    }
    Ok(RecordRead::Entry {
        entry,
        next_offset: end,
    })
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
    fn record_round_trip_and_torn_detection() {
        let entry = Entry {
            index: LogIndex(3),
            term: Term(2),
            command: vec![9; 20],
        };
        let mut buf = LOG_HEADER.to_vec();
        let payload_len = encode_record(&entry, &mut buf).expect("encodes");
        assert_eq!(buf.len() as u64, LOG_HEADER_LEN + RECORD_HEADER_LEN + payload_len);
        match read_record(&buf, LOG_HEADER_LEN, &path()).expect("reads") {
            RecordRead::Entry {
                entry: back,
                next_offset,
            } => {
                assert_eq!(back, entry);
                assert_eq!(next_offset, buf.len() as u64);
            }
            other => panic!("expected an entry, got {other:?}"),
        }
        for cut in LOG_HEADER.len() + 1..buf.len() {
            let read = read_record(&buf[..cut], LOG_HEADER_LEN, &path()).expect("torn is no error");
            assert!(matches!(read, RecordRead::Torn), "cut at {cut}: {read:?}");
        }
    }
}
