//! [`LogFile`]: the append-only `log` file and its index -> offset table.
//!
//! The file is [`LOG_HEADER`] followed by one record per entry (see [`super::format`]). The
//! table maps each entry after the snapshot to its record's offset, so an append writes at the
//! end, a truncation cuts the file at a record's offset, and a snapshot copies the kept suffix
//! without decoding it. [`scan_log`] is the one reader, used by open (which then repairs) and
//! by load (which does not write).

use super::disk::Disk;
use super::format::{
    LOG_FILE, LOG_HEADER, LOG_HEADER_LEN, RECORD_HEADER_LEN, RecordRead, check_log_header, encode_record,
    read_record,
};
use crate::StorageError;
use raft_core::{Entry, LogIndex};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What a log file holds once read, before any repair.
#[derive(Debug)]
pub(crate) struct LogScan {
    /// The entries after the snapshot, in order.
    pub(crate) entries: Vec<Entry>,
    /// The offset of each of `entries`' records.
    pub(crate) offsets: Vec<u64>,
    /// Whether records at or below the snapshot precede them (a crash during
    /// `install_snapshot`, between the new snapshot and the rewritten log).
    pub(crate) has_covered_records: bool,
    /// The end of the last whole record: less than the file's length iff its tail is torn.
    pub(crate) valid_end: u64,
}

/// Reads the log `bytes` from `path`, given the snapshot's last included index (zero without).
///
/// The records must be contiguous; the first may be at or below `last_included_index + 1`
/// (records the snapshot covers are skipped), or exactly 1 without a snapshot. A torn final
/// record ends the scan; every other flaw is `Corrupt`.
pub(crate) fn scan_log(
    bytes: &[u8],
    last_included_index: LogIndex,
    path: &Path,
) -> Result<LogScan, StorageError> {
    check_log_header(bytes, path)?;
    let mut scan = LogScan {
        entries: Vec::new(),
        offsets: Vec::new(),
        has_covered_records: false,
        valid_end: LOG_HEADER_LEN,
    };
    let mut previous: Option<LogIndex> = None;
    loop {
        let offset = scan.valid_end;
        let (entry, next_offset) = match read_record(bytes, offset, path)? {
            RecordRead::End | RecordRead::Torn => return Ok(scan),
            RecordRead::Entry { entry, next_offset } => (entry, next_offset),
        };
        check_record_index(previous, entry.index, last_included_index, offset, path)?;
        previous = Some(entry.index);
        if entry.index <= last_included_index {
            scan.has_covered_records = true;
        } else {
            scan.entries.push(entry);
            scan.offsets.push(offset);
        }
        scan.valid_end = next_offset;
    }
}

/// Checks that a record's `index` follows `previous` (or may start the file).
fn check_record_index(
    previous: Option<LogIndex>,
    index: LogIndex,
    last_included_index: LogIndex,
    offset: u64,
    path: &Path,
) -> Result<(), StorageError> {
    let reason = match previous {
        Some(previous) if index != previous.next() => {
            format!("entry {index} follows entry {previous}: indices are not contiguous")
        }
        Some(_) => return Ok(()),
        None if index == LogIndex::ZERO => "entry with index 0".to_string(),
        None if last_included_index == LogIndex::ZERO && index != LogIndex(1) => {
            format!("the log starts at entry {index}, not 1, and there is no snapshot")
        }
        None if index > last_included_index.next() => format!(
            "the log starts at entry {index}, leaving a gap after the snapshot's last included \
             index {last_included_index}"
        ),
        None => return Ok(()),
    };
    Err(StorageError::corrupt(path, offset, reason))
}

/// The open `log` file and where each of its records starts.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    /// The index of the first entry in the table: the snapshot's last included index plus one.
    first_index: LogIndex,
    /// The offset of each entry's record, from `first_index` on.
    offsets: Vec<u64>,
    /// The end of the last record: where the next append writes.
    end: u64,
}

impl LogFile {
    /// Creates an empty log file in a fresh directory, atomically.
    pub(crate) fn create(disk: &mut Disk) -> Result<(), StorageError> {
        disk.replace_atomically(LOG_FILE, &LOG_HEADER)
    }

    /// Opens the log file and repairs what a crash left: a torn final record is cut off, and
    /// records a newer snapshot covers are dropped by rewriting the log. Returns the file and
    /// its entries.
    pub(crate) fn open(
        disk: &mut Disk,
        last_included_index: LogIndex,
    ) -> Result<(LogFile, Vec<Entry>), StorageError> {
        let path = disk.path(LOG_FILE);
        let bytes = std::fs::read(&path).map_err(|error| StorageError::io(&path, error))?;
        let scan = scan_log(&bytes, last_included_index, &path)?;
        let mut log = LogFile {
            file: open_read_write(&path)?,
            path,
            first_index: last_included_index.next(),
            offsets: scan.offsets,
            end: scan.valid_end,
        };
        if scan.has_covered_records {
            log.discard_through(last_included_index, disk)?;
        } else if scan.valid_end < bytes.len() as u64 {
            disk.set_len(&log.file, log.end, &log.path)?;
            disk.sync_data(&log.file, &log.path)?;
        }
        Ok((log, scan.entries))
    }

    /// The index of the last entry, or the snapshot's last included index if there is none.
    pub(crate) fn last_index(&self) -> LogIndex {
        LogIndex(self.first_index.0 + self.offsets.len() as u64 - 1)
    }

    /// The postcard-encoded size of all entries: the records without their headers.
    pub(crate) fn entries_size(&self) -> u64 {
        self.end - LOG_HEADER_LEN - RECORD_HEADER_LEN * self.offsets.len() as u64
    }

    /// Writes `entries` (already checked to continue the log) at the end; one fsync.
    pub(crate) fn append(&mut self, entries: &[Entry], disk: &mut Disk) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            offsets.push(self.end + buf.len() as u64);
            encode_record(entry, &mut buf)?;
        }
        disk.write_at(&mut self.file, self.end, &buf, &self.path)?;
        disk.sync_data(&self.file, &self.path)?;
        self.offsets.extend(offsets);
        self.end += buf.len() as u64;
        Ok(())
    }

    /// Removes every entry with index `>= from` (which is past the snapshot): the file is cut
    /// at that entry's record, then fsynced. Past the end is a no-op.
    pub(crate) fn truncate_suffix(&mut self, from: LogIndex, disk: &mut Disk) -> Result<(), StorageError> {
        assert!(
            from >= self.first_index,
            "truncate_suffix({from}) reaches into the snapshot"
        );
        let position = usize::try_from(from.0 - self.first_index.0).unwrap_or(usize::MAX);
        let Some(&offset) = self.offsets.get(position) else {
            return Ok(());
        };
        disk.set_len(&self.file, offset, &self.path)?;
        disk.sync_data(&self.file, &self.path)?;
        self.offsets.truncate(position);
        self.end = offset;
        Ok(())
    }

    /// Drops every entry with index `<= last_included_index` by rewriting the log atomically
    /// with only the later records, copied as they are.
    pub(crate) fn discard_through(
        &mut self,
        last_included_index: LogIndex,
        disk: &mut Disk,
    ) -> Result<(), StorageError> {
        let covered = last_included_index
            .0
            .saturating_add(1)
            .saturating_sub(self.first_index.0);
        let covered = usize::try_from(covered)
            .unwrap_or(usize::MAX)
            .min(self.offsets.len());
        let kept_start = self.offsets.get(covered).copied().unwrap_or(self.end);
        let mut bytes = LOG_HEADER.to_vec();
        self.read_range(kept_start, self.end, &mut bytes)?;
        disk.replace_atomically(LOG_FILE, &bytes)?;
        self.file = open_read_write(&self.path)?;
        let shift = kept_start - LOG_HEADER_LEN;
        self.offsets.drain(..covered);
        self.offsets.iter_mut().for_each(|offset| *offset -= shift);
        self.end -= shift;
        self.first_index = last_included_index.next();
        Ok(())
    }

    /// Appends the bytes `[start, end)` of the file to `out`.
    fn read_range(&mut self, start: u64, end: u64, out: &mut Vec<u8>) -> Result<(), StorageError> {
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        let at = out.len();
        out.resize(at + len, 0);
        self.file
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.file.read_exact(&mut out[at..]))
            .map_err(|error| StorageError::io(&self.path, error))
    }
}

/// Opens `path` for reading and writing, without creating it.
fn open_read_write(path: &Path) -> Result<File, StorageError> {
    File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| StorageError::io(path, error))
}
