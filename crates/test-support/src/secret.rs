//! Secret files, as `raftkv --secret-file` and `--peer-secret-file` read them.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `secret` to a new file at `path`, readable and writable by its owner only.
///
/// # Errors
/// If the file exists already or cannot be written.
pub fn write_secret(path: &Path, secret: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}

/// Writes a fresh random secret (32 bytes from the OS, as 64 hex characters and a newline)
/// to a new file at `path`, as [`write_secret`] does.
///
/// # Errors
/// If the OS has no random bytes to give, or the file exists or cannot be written.
pub fn write_random_secret(path: &Path) -> io::Result<()> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no random source: {e}")))?;
    let mut hex = String::with_capacity(65);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    hex.push('\n');
    write_secret(path, &hex)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secrets_are_new_files_for_their_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        write_secret(&path, "a secret of some length").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "a secret of some length"
        );
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            write_secret(&path, "another").is_err(),
            "an existing file was overwritten"
        );

        let random = dir.path().join("random");
        write_random_secret(&random).expect("write");
        let text = std::fs::read_to_string(&random).expect("read");
        assert_eq!(text.len(), 65);
        assert!(text.trim_end().chars().all(|c| c.is_ascii_hexdigit()), "{text}");
        let other = dir.path().join("other");
        write_random_secret(&other).expect("write");
        assert_ne!(std::fs::read_to_string(&other).expect("read"), text);
    }
}
