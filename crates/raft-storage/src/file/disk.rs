//! [`Disk`]: every write step the file backend takes, in one place, so that each can be made
//! to fail as a crash would.
//!
//! A write step is one `write`, `fsync`, `set_len` or `rename`, or the fsync of the directory.
//! With fault injection (tests, or the `fault-injection` feature) a [`Disk`] can be told to
//! crash at a given step: a crashed write is left half done, any other step is not taken, and
//! every later step fails too, as if the process had died there. Reads are not steps.

use super::format::TEMP_PREFIX;
use crate::StorageError;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The directory of a file persister and the write steps taken in it.
#[derive(Debug)]
pub(crate) struct Disk {
    dir: PathBuf,
    #[cfg(any(test, feature = "fault-injection"))]
    faults: Faults,
}

/// Where a simulated crash happens.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Default)]
struct Faults {
    /// Write steps taken since open.
    steps_taken: u64,
    /// The step count at which the crash happens, if one is planned.
    crash_at_step: Option<u64>,
}

/// Whether a write step may be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Take,
    /// Fault injection: the process "dies" at this step.
    Crash,
}

impl Disk {
    /// The disk of the persister in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Disk {
            dir,
            #[cfg(any(test, feature = "fault-injection"))]
            faults: Faults::default(),
        }
    }

    /// The persister's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` in the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Plans a crash after `steps` more write steps.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fn crash_after_write_steps(&mut self, steps: u64) {
        self.faults.crash_at_step = Some(self.faults.steps_taken.saturating_add(steps));
    }

    /// Write steps taken since open.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fn write_steps_taken(&self) -> u64 {
        self.faults.steps_taken
    }

    /// Whether a planned crash has happened: every later step fails.
    fn has_crashed(&self) -> bool {
        #[cfg(any(test, feature = "fault-injection"))]
        {
            self.faults
                .crash_at_step
                .is_some_and(|at| self.faults.steps_taken >= at)
        }
        #[cfg(not(any(test, feature = "fault-injection")))]
        {
            false
        }
    }

    /// Accounts for one write step and says whether to take it.
    fn step(&mut self) -> Step {
        if self.has_crashed() {
            return Step::Crash;
        }
        #[cfg(any(test, feature = "fault-injection"))]
        {
            self.faults.steps_taken += 1;
        }
        Step::Take
    }

    /// The error a simulated crash returns.
    fn crashed(path: &Path) -> StorageError {
        StorageError::io(path, io::Error::other("simulated crash (fault injection)"))
    }

    /// Writes all of `bytes` at `offset` of `file`: one step.
    pub(crate) fn write_at(
        &mut self,
        file: &mut File,
        offset: u64,
        bytes: &[u8],
        path: &Path,
    ) -> Result<(), StorageError> {
        let (bytes, step) = match self.step() {
            Step::Take => (bytes, Step::Take),
            Step::Crash => (&bytes[..bytes.len() / 2], Step::Crash),
        };
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(bytes))
            .map_err(|error| StorageError::io(path, error))?;
        match step {
            Step::Take => Ok(()),
            Step::Crash => Err(Self::crashed(path)),
        }
    }

    /// Flushes `file`'s data and size to the device: one step.
    pub(crate) fn sync_data(&mut self, file: &File, path: &Path) -> Result<(), StorageError> {
        self.take(path, || file.sync_data())
    }

    /// Cuts `file` to `len` bytes: one step.
    pub(crate) fn set_len(&mut self, file: &File, len: u64, path: &Path) -> Result<(), StorageError> {
        self.take(path, || file.set_len(len))
    }

    /// Makes the directory's entries (renames, new files) durable: one step.
    pub(crate) fn sync_dir(&mut self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        self.take(&dir, || sync_dir(&dir))
    }

    /// Takes one non-write step, `op`, unless a crash is planned there.
    fn take(&mut self, path: &Path, op: impl FnOnce() -> io::Result<()>) -> Result<(), StorageError> {
        match self.step() {
            Step::Take => op().map_err(|error| StorageError::io(path, error)),
            Step::Crash => Err(Self::crashed(path)),
        }
    }

    /// Replaces the file `name` with `bytes` atomically: write a temporary file in the same
    /// directory, fsync it, rename it over `name`, fsync the directory. Four steps; a reader
    /// sees the old file or the new one.
    pub(crate) fn replace_atomically(&mut self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let target = self.path(name);
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|error| StorageError::io(&self.dir, error))?;
        let temp_path = temp.path().to_path_buf();
        let written = self
            .write_at(temp.as_file_mut(), 0, bytes, &temp_path)
            .and_then(|()| self.sync_data(temp.as_file(), &temp_path));
        if let Err(error) = written {
            if self.has_crashed() {
                // A dead process removes nothing: leave the temporary file for open to clean.
                let _kept = temp.keep();
            }
            return Err(error);
        }
        match self.step() {
            Step::Take => {
                temp.persist(&target)
                    .map_err(|error| StorageError::io(&target, error.error))?;
            }
            Step::Crash => {
                let _kept = temp.keep();
                return Err(Self::crashed(&target));
            }
        }
        self.sync_dir()
    }

    /// Checks that `file` is still the file the directory names `path`: not removed (with its
    /// directory, say) nor replaced. Writes to a removed file succeed and fsync, yet nothing
    /// will find them again, so a change must not be acknowledged then. Not a write step.
    pub(crate) fn check_still_linked(&self, file: &File, path: &Path) -> Result<(), StorageError> {
        let gone = |what: &str| {
            let error = io::Error::new(io::ErrorKind::NotFound, format!("the open file {what}"));
            Err(StorageError::io(path, error))
        };
        let named = match fs::metadata(path) {
            Ok(named) => named,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return gone("was removed from its directory");
            }
            Err(error) => return Err(StorageError::io(path, error)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let open = file.metadata().map_err(|error| StorageError::io(path, error))?;
            if open.nlink() == 0 || (open.dev(), open.ino()) != (named.dev(), named.ino()) {
                return gone("is no longer the one its directory names");
            }
        }
        #[cfg(not(unix))]
        let _ = (file, named);
        Ok(())
    }

    /// Removes temporary files a crash left behind. Not a step: open runs before any crash
    /// is planned, and a leftover is harmless.
    pub(crate) fn remove_leftover_temps(&self) -> Result<(), StorageError> {
        let entries = fs::read_dir(&self.dir).map_err(|error| StorageError::io(&self.dir, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| StorageError::io(&self.dir, error))?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let path = entry.path();
                fs::remove_file(&path).map_err(|error| StorageError::io(&path, error))?;
            }
        }
        Ok(())
    }
}

/// Fsyncs a directory, so that renames and new files in it survive a crash.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for fsync here; renames are made durable by the OS.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
