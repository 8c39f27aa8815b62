//! The small text formats raftkv reads: a config file of `key = value` lines (the keys are the
//! long flag names, so `--client-listen X` is `client-listen = X`), the identity file `init`
//! writes into a data directory, and the two secrets: the peer secret, which only the nodes
//! hold, and the client secret, which clients hold too (see [`NodeSecrets`] for why they must
//! differ).
//!
//! The format: one `key = value` per line, spaces around either side ignored, empty lines
//! and lines starting with `#` skipped; a key given twice is an error, so that no line is
//! silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use raft_tcp::{Identity, Secret};

/// The environment variable that holds the client secret when no `--secret-file` is given.
pub const SECRET_ENV: &str = "RAFTKV_SECRET";

/// The environment variable that holds the peer secret when no `--peer-secret-file` is given.
pub const PEER_SECRET_ENV: &str = "RAFTKV_PEER_SECRET";

/// The fewest bytes a secret may have (raft-tcp refuses shorter ones too).
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

/// Which of a node's two secrets: each port has its own, so that holding the one clients
/// need does not let anyone pose as a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The client secret: proven by clients on a node's `--client-listen`, held by every
    /// client (`--secret-file`, else [`SECRET_ENV`]).
    Client,
    /// The peer secret: proven by peers to each other on `--listen`, held by the nodes alone
    /// (`--peer-secret-file`, else [`PEER_SECRET_ENV`]).
    Peer,
}

impl SecretKind {
    /// The flag that names its file.
    #[must_use]
    pub fn flag(self) -> &'static str {
        match self {
            SecretKind::Client => "--secret-file",
            SecretKind::Peer => "--peer-secret-file",
        }
    }

    /// The environment variable read when the flag is not given.
    #[must_use]
    pub fn env(self) -> &'static str {
        match self {
            SecretKind::Client => SECRET_ENV,
            SecretKind::Peer => PEER_SECRET_ENV,
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretKind::Client => "client secret",
            SecretKind::Peer => "peer secret",
        })
    }
}

/// Why no usable secret was found.
#[derive(Debug)]
pub enum SecretSourceError {
    /// Neither the secret's flag nor its environment variable was given.
    Missing {
        /// Which secret.
        kind: SecretKind,
    },
    /// The secret file could not be read.
    Read {
        /// Which secret.
        kind: SecretKind,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secret has fewer than [`SECRET_MIN_BYTES`] bytes.
    TooShort {
        /// Which secret.
        kind: SecretKind,
        /// Where it came from.
        from: String,
        /// How many bytes it has.
        len: usize,
    },
    /// A node's peer secret and client secret are the same bytes: any client could then
    /// authenticate on the peer port as a peer and forge Raft messages.
    Same,
}

impl fmt::Display for SecretSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSourceError::Missing { kind } => {
                write!(f, "no {kind}: give {} FILE or set {}", kind.flag(), kind.env())
            }
            SecretSourceError::Read { kind, path, source } => {
                write!(f, "cannot read the {kind} file {}: {source}", path.display())
            }
            SecretSourceError::TooShort { kind, from, len } => write!(
                f,
                "the {kind} from {from} has {len} bytes; at least {SECRET_MIN_BYTES} are needed"
            ),
            SecretSourceError::Same => write!(
                f,
                "the peer secret ({} or {}) and the client secret ({} or {}) are the same: any \
                 client could pose as a peer; give the peers a secret of their own",
                SecretKind::Peer.flag(),
                SecretKind::Peer.env(),
                SecretKind::Client.flag(),
                SecretKind::Client.env()
            ),
        }
    }
}

impl std::error::Error for SecretSourceError {}

/// Overwrites secret bytes that are about to be dropped without becoming a [`Secret`] (which
/// wipes its own), so that they do not linger in memory (best effort).
fn wipe(mut bytes: Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

/// Reads one secret's bytes: the file's if `file` is given, else `env_value`'s; trailing
/// ASCII whitespace (the newline an editor adds) dropped; at least [`SECRET_MIN_BYTES`].
fn read_secret(
    kind: SecretKind,
    file: Option<&Path>,
    env_value: Option<std::ffi::OsString>,
) -> Result<Vec<u8>, SecretSourceError> {
    let (mut bytes, from) = match (file, env_value) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|source| SecretSourceError::Read {
                kind,
                path: path.to_path_buf(),
                source,
            })?;
            (bytes, format!("{}", path.display()))
        }
        (None, Some(value)) => (value.into_encoded_bytes(), kind.env().to_string()),
        (None, None) => return Err(SecretSourceError::Missing { kind }),
    };
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    let len = bytes.len();
    if len < SECRET_MIN_BYTES {
        wipe(bytes);
        return Err(SecretSourceError::TooShort { kind, from, len });
    }
    Ok(bytes)
}

/// Loads the client secret (what clients prove to a node's client port): the file's bytes if
/// `secret_file` is given, else the value of `env_value` (the caller passes
/// `std::env::var_os(SECRET_ENV)`). Trailing ASCII whitespace (the newline an editor adds) is
/// dropped.
///
/// # Errors
/// [`SecretSourceError`]: none given, the file unreadable, or fewer than
/// [`SECRET_MIN_BYTES`] bytes.
pub fn load_secret(
    secret_file: Option<&Path>,
    env_value: Option<std::ffi::OsString>,
) -> Result<Secret, SecretSourceError> {
    let bytes = read_secret(SecretKind::Client, secret_file, env_value)?;
    checked_secret(SecretKind::Client, bytes)
}

/// `bytes` as a [`Secret`], or why they cannot be one.
fn checked_secret(kind: SecretKind, bytes: Vec<u8>) -> Result<Secret, SecretSourceError> {
    let len = bytes.len();
    Secret::new(bytes).map_err(|_| SecretSourceError::TooShort {
        kind,
        from: format!("the {kind}"),
        len,
    })
}

/// A node's two secrets, known to differ: the peer secret authenticates its peers to each
/// other, the client secret its clients. Were they equal, a client could dial the peer port
/// as peer k and be taken for it; this type can only be built from two different secrets.
#[derive(Debug, Clone)]
pub struct NodeSecrets {
    peer: Secret,
    client: Secret,
}

impl NodeSecrets {
    /// The two secrets, checked.
    ///
    /// # Errors
    /// [`SecretSourceError::TooShort`] if either has fewer than [`SECRET_MIN_BYTES`] bytes,
    /// [`SecretSourceError::Same`] if they are equal.
    pub fn new(peer: Vec<u8>, client: Vec<u8>) -> Result<NodeSecrets, SecretSourceError> {
        if peer == client {
            wipe(peer);
            wipe(client);
            return Err(SecretSourceError::Same);
        }
        // Both are made before either error is returned, so each is wiped when dropped.
        let peer = checked_secret(SecretKind::Peer, peer);
        let client = checked_secret(SecretKind::Client, client);
        Ok(NodeSecrets {
            peer: peer?,
            client: client?,
        })
    }

    /// The secret peers prove to each other.
    #[must_use]
    pub fn peer(&self) -> &Secret {
        &self.peer
    }

    /// The secret clients prove.
    #[must_use]
    pub fn client(&self) -> &Secret {
        &self.client
    }
}

/// Loads a node's two secrets, each from its file if given, else from its environment
/// variable's value (the caller passes `std::env::var_os` of [`PEER_SECRET_ENV`] and
/// [`SECRET_ENV`]), as [`load_secret`] does.
///
/// # Errors
/// [`SecretSourceError`]: either missing, unreadable or too short, or both the same.
pub fn load_node_secrets(
    peer_file: Option<&Path>,
    peer_env: Option<std::ffi::OsString>,
    client_file: Option<&Path>,
    client_env: Option<std::ffi::OsString>,
) -> Result<NodeSecrets, SecretSourceError> {
    let peer = read_secret(SecretKind::Peer, peer_file, peer_env)?;
    let client = match read_secret(SecretKind::Client, client_file, client_env) {
        Ok(client) => client,
        Err(error) => {
            wipe(peer);
            return Err(error);
        }
    };
    NodeSecrets::new(peer, client)
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
        assert!(matches!(
            load_secret(None, None),
            Err(SecretSourceError::Missing {
                kind: SecretKind::Client
            })
        ));
        let missing = dir.path().join("nope");
        assert!(matches!(
            load_secret(Some(&missing), None),
            Err(SecretSourceError::Read { .. })
        ));
    }

    #[test]
    fn a_node_refuses_one_secret_for_peers_and_clients() {
        let dir = tempfile::tempdir().unwrap();
        let peer = dir.path().join("peer");
        let client = dir.path().join("client");
        std::fs::write(&peer, "the peers' own secret\n").unwrap();
        std::fs::write(&client, "the clients' secret").unwrap();
        assert!(load_node_secrets(Some(&peer), None, Some(&client), None).is_ok());
        assert!(
            load_node_secrets(
                None,
                Some("the peers' own secret".into()),
                None,
                Some("the clients' secret".into())
            )
            .is_ok()
        );
        // The same bytes (once the editor's newline is dropped), however they are given.
        std::fs::write(&client, "the peers' own secret").unwrap();
        let error = load_node_secrets(Some(&peer), None, Some(&client), None).unwrap_err();
        assert!(matches!(error, SecretSourceError::Same), "{error}");
        assert!(error.to_string().contains("pose as a peer"), "{error}");
        let error =
            load_node_secrets(Some(&peer), None, None, Some("the peers' own secret".into())).unwrap_err();
        assert!(matches!(error, SecretSourceError::Same), "{error}");
        assert!(matches!(
            NodeSecrets::new(b"0123456789abcdef".to_vec(), b"0123456789abcdef".to_vec()),
            Err(SecretSourceError::Same)
        ));
        // Each is required and checked on its own, and the error names which one.
        let error = load_node_secrets(None, None, Some(&client), None).unwrap_err();
        assert!(
            matches!(
                error,
                SecretSourceError::Missing {
                    kind: SecretKind::Peer
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains(PEER_SECRET_ENV), "{error}");
        let error = load_node_secrets(Some(&peer), None, None, Some("short".into())).unwrap_err();
        assert!(
            matches!(
                error,
                SecretSourceError::TooShort {
                    kind: SecretKind::Client,
                    len: 5,
                    ..
                }
            ),
            "{error}"
        );
        assert!(matches!(
            NodeSecrets::new(b"short".to_vec(), b"0123456789abcdef".to_vec()),
            Err(SecretSourceError::TooShort {
                kind: SecretKind::Peer,
                len: 5,
                ..
            })
        ));
    }
}
