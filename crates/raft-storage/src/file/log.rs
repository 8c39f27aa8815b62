//! [`LogFile`]: the append-only `log` file, its durable end and its index -> offset table.
//!
//! The file is a fixed prefix (header and two durable-end slots) followed by one record per
//! entry (see [`super::format`]). The table maps each entry to its record's offset, so an append
//! writes at the end, a truncation cuts the file at a record's offset, and a snapshot copies the
//! kept suffix without decoding it. [`scan_log`] is the one reader, used by open (which then
//! repairs) and by load (which does not write).
//!
//! ## The torn-tail rule
//!
//! A slot of the header records the log's *durable end*, a length up to which every byte was
//! fsynced before the slot naming it was written:
//!
//! - append: write the records at the end and, in a slot, the end they start at (the previous
//!   append's end, fsynced when that append returned; unless the slot already holds it), then
//!   fsync once;
//! - truncation: write the slot (the shorter length), fsync, cut the file, fsync;
//! - snapshot: the log is rewritten whole, both slots set, and renamed into place.
//!
//! So one fsync acknowledges an append, and its records lie beyond the recorded durable end
//! until the next change to the log, or an open, records their end or cuts them (a save of
//! term and vote does not touch the log). Beyond the durable end lie at most the
//! last acknowledged append's records, whole, and what one unfinished change left: records
//! that were being appended (whole, cut short, or garbage where the file grew before its bytes
//! arrived) or records a truncation had not yet cut. Hence, on open:
//!
//! - below the durable end every byte must be a whole, valid record, in index order; any flaw
//!   there, or a file shorter than the durable end, is [`StorageError::Corrupt`] naming the log
//!   and the offset, and nothing is written;
//! - beyond it, the whole records that continue the log are kept, and everything from the first
//!   that does not is cut (and the cut logged); the slot is then set to the new end.
//!
//! The price of one fsync per append: damage to the last append's records before a later
//! change to the log, or an open, records their end reads as a crash's leftover and cuts them, from the damaged record
//! on, instead of being an error. No crash can do that (those records were fsynced before the
//! append returned), only the medium; and no order of writes within one fsync could tell the
//! two apart, since a crash during it may leave any of its blocks unwritten. etcd's WAL makes
//! the same trade.
//!
//! The slots are written alternately, so a crash while writing one leaves the other, with the
//! previous durable end, readable. A slot that fails its checksum is read the same way, as a
//! crash's leftover: the other slot's older durable end then stands. This loses nothing: the
//! records up to the damaged slot's durable end were fsynced before it was written, so they
//! lie whole beyond the older durable end and are kept. (If that change was a truncation that
//! cut below the older durable end, the file is shorter than it, which is an error.) Only damage to both slots,
//! or to a slot and the records after the older durable end, can go further, and both slots
//! damaged is an error.
//!
//! A known limit: a file system that may show a crashed append's unwritten blocks with stale
//! contents (ext4 with `data=writeback`) could show records an acknowledged truncation removed,
//! whole and in order, beyond the durable end, and they would be kept. Raft never acknowledges
//! a truncation alone (an append follows it before any reply), so the peer restarts as it was
//! before the truncation, a state it already held; stamping each record with the sequence
//! number of the slot its change writes would close this.

use super::disk::Disk;
use super::format::{
    Flaw, LOG_FILE, LOG_RECORDS_START, LogPrefix, RECORD_HEADER_LEN, encode_record, encode_slot, log_prefix,
    read_log_prefix, read_record, slot_offset,
};
use crate::{LOG_INDEX_MAX, StorageError};
use raft_core::{Entry, LogIndex};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What a log file holds once read, before any repair.
#[derive(Debug)]
pub(crate) struct LogScan {
    /// The header and the newest valid slot.
    pub(crate) prefix: LogPrefix,
    /// The entries after the snapshot, in order.
    pub(crate) entries: Vec<Entry>,
    /// The offset of each of `entries`' records.
    pub(crate) offsets: Vec<u64>,
    /// The end of the last record kept: beyond the durable end if whole records lie there.
    pub(crate) valid_end: u64,
    /// The file's length as read.
    pub(crate) file_len: u64,
}

impl LogScan {
    /// Whether open must write: to cut a torn tail or to record a new durable end.
    fn needs_repair(&self) -> bool {
        self.valid_end != self.file_len || self.valid_end != self.prefix.durable_end
    }
}

/// Reads the log `bytes` from `path`, given the snapshot's last included index (zero without).
///
/// The records must hold the indices after the header's base, in order; those at or below
/// `last_included_index` (left by a crash during a snapshot's install) are skipped. Below the
/// durable end every flaw is `Corrupt`; beyond it, the scan stops at the first record that is
/// not whole or does not continue the log (the module doc gives the rule).
pub(crate) fn scan_log(
    bytes: &[u8],
    last_included_index: LogIndex,
    path: &Path,
) -> Result<LogScan, StorageError> {
    let prefix = read_log_prefix(bytes, path)?;
    let file_len = bytes.len() as u64;
    if file_len < prefix.durable_end {
        let reason = format!(
            "the log ends at byte {file_len}, before its durable end {}: acknowledged records are \
             missing",
            prefix.durable_end
        );
        return Err(StorageError::corrupt(path, file_len, reason));
    }
    let mut scan = LogScan {
        prefix,
        entries: Vec::new(),
        offsets: Vec::new(),
        valid_end: LOG_RECORDS_START,
        file_len,
    };
    let mut expected = prefix.base.next();
    let acknowledged = &bytes[..prefix.durable_end as usize];
    while let Some(entry) = next_entry(acknowledged, scan.valid_end, expected)
        .map_err(|flaw| StorageError::corrupt(path, flaw.offset, flaw.reason))?
    {
        expected = scan.push(entry, last_included_index);
    }
    while let Ok(Some(entry)) = next_entry(bytes, scan.valid_end, expected) {
        expected = scan.push(entry, last_included_index);
    }
    let durable_end = prefix.durable_end;
    if scan.valid_end > durable_end {
        tracing::info!(
            file = %path.display(),
            durable_end,
            kept_end = scan.valid_end,
            "whole records beyond the log's durable end are kept"
        );
    }
    Ok(scan)
}

/// A record read in order: its entry, where it starts and where the next one does.
#[derive(Debug)]
struct Record {
    entry: Entry,
    offset: u64,
    next_offset: u64,
}

/// The record at `offset` of `bytes` if it holds entry `expected`; `None` at the end.
fn next_entry(bytes: &[u8], offset: u64, expected: LogIndex) -> Result<Option<Record>, Flaw> {
    let Some((entry, next_offset)) = read_record(bytes, offset)? else {
        return Ok(None);
    };
    let reason = if entry.index != expected {
        format!("holds entry {}, where entry {expected} belongs", entry.index)
    } else if entry.index > LOG_INDEX_MAX {
        format!("entry index {} is above the largest index", entry.index)
    } else {
        return Ok(Some(Record {
            entry,
            offset,
            next_offset,
        }));
    };
    Err(Flaw { offset, reason })
}

impl LogScan {
    /// Records `record`, skipped if the snapshot covers it; returns the index the next record
    /// must hold.
    fn push(&mut self, record: Record, last_included_index: LogIndex) -> LogIndex {
        let next = record.entry.index.next();
        if record.entry.index > last_included_index {
            self.entries.push(record.entry);
            self.offsets.push(record.offset);
        }
        self.valid_end = record.next_offset;
        next
    }
}

/// The open `log` file and where each of its records starts.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    /// The index before the first entry in the table: the snapshot's last included index.
    base: LogIndex,
    /// The offset of each entry's record, from `base + 1` on.
    offsets: Vec<u64>,
    /// The end of the last record: where the next append writes.
    end: u64,
    /// The durable end the newest slot records: `end`, or, after an append, where that
    /// append's records start (the next change to the log, or an open, records their end).
    recorded_end: u64,
    /// The sequence number of the slot last written.
    seq: u64,
}

impl LogFile {
    /// The bytes of an empty log whose first entry will be `base + 1`.
    pub(crate) fn empty_bytes(base: LogIndex) -> Vec<u8> {
        log_prefix(base, LOG_RECORDS_START)
    }

    /// Opens the log file that `scan` read, and repairs what a crash left: the unfinished tail
    /// of the last change is cut (and logged) and the new durable end recorded, and a log a
    /// newer snapshot was installed over (a crash during `install_snapshot`) is rewritten
    /// without the entries the snapshot covers.
    pub(crate) fn open(
        disk: &mut Disk,
        scan: LogScan,
        last_included_index: LogIndex,
    ) -> Result<LogFile, StorageError> {
        let path = disk.path(LOG_FILE);
        let bytes_cut = scan.file_len - scan.valid_end;
        if bytes_cut > 0 {
            tracing::warn!(
                file = %path.display(),
                offset = scan.valid_end,
                bytes_cut,
                "cutting the unfinished tail of the log's last change"
            );
        }
        if scan.prefix.other_slot_damaged {
            tracing::warn!(
                file = %path.display(),
                durable_end = scan.prefix.durable_end,
                "one durable-end slot fails its checks (a crash while writing it, or damage); \
                 the other stands"
            );
        }
        let needs_repair = scan.needs_repair();
        let mut log = LogFile {
            file: open_read_write(&path)?,
            path,
            base: scan.prefix.base,
            offsets: scan.offsets,
            end: scan.valid_end,
            recorded_end: scan.prefix.durable_end,
            seq: scan.prefix.seq,
        };
        if log.base < last_included_index {
            // Covered records were skipped by the scan: the table starts after the snapshot.
            log.base = last_included_index;
            log.rewrite(last_included_index, disk)?;
        } else if needs_repair {
            if bytes_cut > 0 {
                disk.set_len(&log.file, log.end, &log.path)?;
            }
            disk.sync_data(&log.file, &log.path)?;
            log.record_durable_end(log.end, disk)?;
        }
        Ok(log)
    }

    /// The index of the last entry, or the snapshot's last included index if there is none.
    pub(crate) fn last_index(&self) -> LogIndex {
        LogIndex(self.base.0 + self.offsets.len() as u64)
    }

    /// The postcard-encoded size of all entries: the records without their headers.
    pub(crate) fn entries_size(&self) -> u64 {
        self.end - LOG_RECORDS_START - RECORD_HEADER_LEN * self.offsets.len() as u64
    }

    /// Writes `entries` (already checked to continue the log) at the end and, if the newest
    /// slot lags, the current end (the previous append's, fsynced when it returned) into a
    /// slot, then fsyncs once: one fsync per append, its records beyond the recorded durable
    /// end until the next change to the log, or an open, records it (see the module doc).
    pub(crate) fn append(&mut self, entries: &[Entry], disk: &mut Disk) -> Result<(), StorageError> {
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            offsets.push(self.end + buf.len() as u64);
            encode_record(entry, &mut buf)?;
        }
        let end = self.end + buf.len() as u64;
        disk.write_at(&mut self.file, self.end, &buf, &self.path)?;
        if self.recorded_end != self.end {
            self.write_slot(self.end, disk)?;
        }
        disk.sync_data(&self.file, &self.path)?;
        disk.check_still_linked(&self.file, &self.path)?;
        self.offsets.extend(offsets);
        self.end = end;
        Ok(())
    }

    /// Removes every entry with index `>= from` (which is past the snapshot): the shorter
    /// durable end is recorded first, then the file is cut at that entry's record. Past the end
    /// is a no-op.
    pub(crate) fn truncate_suffix(&mut self, from: LogIndex, disk: &mut Disk) -> Result<(), StorageError> {
        assert!(
            from > self.base,
            "truncate_suffix({from}) reaches into the snapshot"
        );
        let position = usize::try_from(from.0 - self.base.0 - 1).unwrap_or(usize::MAX);
        let Some(&offset) = self.offsets.get(position) else {
            return Ok(());
        };
        self.record_durable_end(offset, disk)?;
        disk.set_len(&self.file, offset, &self.path)?;
        disk.sync_data(&self.file, &self.path)?;
        disk.check_still_linked(&self.file, &self.path)?;
        self.offsets.truncate(position);
        self.end = offset;
        Ok(())
    }

    /// Drops every entry with index `<= last_included_index`: the log is rewritten with only
    /// the later records, copied as they are.
    pub(crate) fn discard_through(
        &mut self,
        last_included_index: LogIndex,
        disk: &mut Disk,
    ) -> Result<(), StorageError> {
        self.rewrite(last_included_index, disk)
    }

    /// Replaces the log atomically by one based at `base` (at or after the current base) that
    /// holds the records after it, both slots set to its length.
    fn rewrite(&mut self, base: LogIndex, disk: &mut Disk) -> Result<(), StorageError> {
        let covered = usize::try_from(base.0.saturating_sub(self.base.0))
            .unwrap_or(usize::MAX)
            .min(self.offsets.len());
        let kept_start = self.offsets.get(covered).copied().unwrap_or(self.end);
        let kept_len = self.end - kept_start;
        let mut bytes = log_prefix(base, LOG_RECORDS_START + kept_len);
        self.read_range(kept_start, self.end, &mut bytes)?;
        disk.replace_atomically(LOG_FILE, &bytes)?;
        self.file = open_read_write(&self.path)?;
        let shift = kept_start - LOG_RECORDS_START;
        self.offsets.drain(..covered);
        self.offsets.iter_mut().for_each(|offset| *offset -= shift);
        self.end -= shift;
        self.base = base;
        self.recorded_end = self.end;
        self.seq = 1; // log_prefix wrote seq 0 and 1
        Ok(())
    }

    /// Writes `end` into a slot, fsyncs, and checks that the file is still the one the
    /// directory names. The change is durable when this returns.
    fn record_durable_end(&mut self, end: u64, disk: &mut Disk) -> Result<(), StorageError> {
        self.write_slot(end, disk)?;
        disk.sync_data(&self.file, &self.path)?;
        disk.check_still_linked(&self.file, &self.path)
    }

    /// Writes `end` into the slot not holding the newest durable end, without an fsync.
    fn write_slot(&mut self, end: u64, disk: &mut Disk) -> Result<(), StorageError> {
        let Some(seq) = self.seq.checked_add(1) else {
            let error = io::Error::other("the durable-end sequence number is exhausted");
            return Err(StorageError::io(&self.path, error));
        };
        disk.write_at(
            &mut self.file,
            slot_offset(seq),
            &encode_slot(seq, end),
            &self.path,
        )?;
        self.seq = seq;
        self.recorded_end = end;
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
