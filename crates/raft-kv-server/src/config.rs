//! The small text formats raftkv reads: a config file of `key = value` lines (the keys are the
//! long flag names, so `--client-listen X` is `client-listen = X`), the identity file `init`
//! writes into a data directory, and the shared secret.
//!
//! The format: one `key = value` per line, spaces around either side ignored, empty lines
//! and lines starting with `#` skipped; a key given twice is an error, so that no line is
//! silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use raft_tcp::{Identity, Secret};

/// The environment variable that holds the shared secret when no `--secret-file` is given.
pub const SECRET_ENV: &str = "RAFTKV_SECRET";

/// The fewest bytes a shared secret may have (raft-tcp refuses shorter ones too).
pub const SECRET_MIN_BYTES: usize = 16;

/// The longest cluster id, in bytes (raft-tcp's handshake limit).
pub const CLUSTER_ID_MAX_BYTES: usize = 64;

/// A `key = value` text that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses `key = value` lines into a map.
///
/// # Errors
/// A [`ParseError`] naming the line: no `=`, an empty key, or a key given twice.
pub fn parse_key_values(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut map = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line_no = number + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ParseError {
                line: line_no,
                reason: format!("expected `key = value`, found {line:?}"),
            });
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(ParseError {
                line: line_no,
                reason: "the key before `=` is empty".into(),
            });
        }
        if map.insert(key.to_string(), value.to_string()).is_some() {
            return Err(ParseError {
                line: line_no,
                reason: format!("`{key}` is given twice"),
            });
        }
    }
    Ok(map)
}

/// Checks a cluster id: 1 to [`CLUSTER_ID_MAX_BYTES`] bytes, no control characters, no
/// spaces at either end (so that it survives the identity file's format unchanged).
///
/// # Errors
/// Why the id is not acceptable.
pub fn check_cluster_id(cluster_id: &str) -> Result<(), String> {
    if cluster_id.is_empty() || cluster_id.len() > CLUSTER_ID_MAX_BYTES {
        return Err(format!(
            "a cluster id has 1 to {CLUSTER_ID_MAX_BYTES} bytes, {cluster_id:?} has {}",
            cluster_id.len()
        ));
    }
    if cluster_id.chars().any(char::is_control) || cluster_id.trim() != cluster_id {
        return Err(format!(
            "a cluster id has no control characters and no spaces at either end: {cluster_id:?}"
        ));
    }
    Ok(())
}

/// Why no usable secret was found.
#[derive(Debug)]
pub enum SecretSourceError {
    /// Neither `--secret-file` nor the environment variable was given.
    Missing,
    /// The secret file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret has fewer than [`SECRET_MIN_BYTES`] bytes.
    TooShort {
        /// Where it came from.
        from: String,
        /// How many bytes it has.
        len: usize,
    },
}

impl fmt::Display for SecretSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSourceError::Missing => {
                write!(f, "no shared secret: give --secret-file FILE or set {SECRET_ENV}")
            }
            SecretSourceError::Read { path, source } => {
                write!(f, "cannot read the secret file {}: {source}", path.display())
            }
            SecretSourceError::TooShort { from, len } => write!(
                f,
                "the secret from {from} has {len} bytes; at least {SECRET_MIN_BYTES} are needed"
            ),
        }
    }
}

impl std::error::Error for SecretSourceError {}

/// Loads the shared secret: the file's bytes if `secret_file` is given, else the value of
/// `env_value` (the caller passes `std::env::var_os(SECRET_ENV)`). Trailing ASCII whitespace
/// (the newline an editor adds) is dropped.
///
/// # Errors
/// [`SecretSourceError`]: none given, the file unreadable, or fewer than
/// [`SECRET_MIN_BYTES`] bytes.
pub fn load_secret(
    secret_file: Option<&Path>,
    env_value: Option<std::ffi::OsString>,
) -> Result<Secret, SecretSourceError> {
    let (mut bytes, from) = match (secret_file, env_value) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|source| SecretSourceError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            (bytes, format!("{}", path.display()))
        }
        (None, Some(value)) => (value.into_encoded_bytes(), SECRET_ENV.to_string()),
        (None, None) => return Err(SecretSourceError::Missing),
    };
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    let len = bytes.len();
    if len < SECRET_MIN_BYTES {
        return Err(SecretSourceError::TooShort { from, len });
    }
    Secret::new(bytes).map_err(|_| SecretSourceError::TooShort { from, len })
}

/// The identity a node or a client proves in raft-tcp's handshake.
#[must_use]
pub fn identity(cluster_id: &str, secret: Secret) -> Identity {
    Identity {
        cluster_id: cluster_id.to_string(),
        secret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_parse_with_comments_and_spaces() {
        let map = parse_key_values("# a comment\n\n id = 2 \nlisten=127.0.0.1:1\npeers = a,b = c\n").unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map["id"], "2");
        assert_eq!(map["listen"], "127.0.0.1:1");
        assert_eq!(map["peers"], "a,b = c");
    }

    #[test]
    fn key_values_refuse_bad_lines_and_repeats() {
        assert_eq!(parse_key_values("id = 1\nnonsense\n").unwrap_err().line, 2);
        assert_eq!(parse_key_values(" = 3").unwrap_err().line, 1);
        assert_eq!(parse_key_values("id = 1\nid = 2").unwrap_err().line, 2);
    }

    #[test]
    fn cluster_ids_are_checked() {
        assert!(check_cluster_id("prod-1").is_ok());
        assert!(check_cluster_id("").is_err());
        assert!(check_cluster_id(&"x".repeat(65)).is_err());
        assert!(check_cluster_id(&"x".repeat(64)).is_ok());
        assert!(check_cluster_id(" a").is_err());
        assert!(check_cluster_id("a\nb").is_err());
    }

    #[test]
    fn secrets_come_from_the_file_first_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "0123456789abcdef\n").unwrap();
        assert!(load_secret(Some(&file), Some("short".into())).is_ok());
        std::fs::write(&file, "0123456789abcde\n").unwrap();
        let error = load_secret(Some(&file), None).unwrap_err();
        assert!(
            matches!(error, SecretSourceError::TooShort { len: 15, .. }),
            "{error}"
        );
        assert!(load_secret(None, Some("0123456789abcdef".into())).is_ok());
        assert!(matches!(
            load_secret(None, Some("tiny".into())),
            Err(SecretSourceError::TooShort { len: 4, .. })
        ));
        assert!(matches!(load_secret(None, None), Err(SecretSourceError::Missing)));
        let missing = dir.path().join("nope");
        assert!(matches!(
            load_secret(Some(&missing), None),
            Err(SecretSourceError::Read { .. })
        ));
    }
}
