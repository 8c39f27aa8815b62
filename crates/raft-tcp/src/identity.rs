//! Who may talk to whom: the cluster's name and a port's shared secret.

use std::fmt;

/// The fewest bytes a [`Secret`] may have: 128 bits, beyond guessing.
pub const SECRET_MIN: usize = 16;

/// The most bytes a cluster id may have.
pub const CLUSTER_ID_MAX: usize = 64;

/// A port's shared secret: whoever dials the port proves it holds the same bytes with an HMAC
/// over the handshake, so the secret itself never crosses the wire. The peers of a cluster
/// share one for the peer port; the client port should have another, so that a client cannot
/// pose as a peer. `Debug` prints its length only, so it never reaches a log.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

/// Why bytes cannot be a [`Secret`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// Fewer than [`SECRET_MIN`] bytes.
    TooShort {
        /// How many bytes were given.
        len: usize,
    },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { len } => {
                write!(f, "the secret has {len} bytes; it needs at least {SECRET_MIN}")
            }
        }
    }
}

impl std::error::Error for SecretError {}

impl Secret {
    /// A secret of `bytes`.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] for fewer than [`SECRET_MIN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Secret, SecretError> {
        if bytes.len() < SECRET_MIN {
            return Err(SecretError::TooShort { len: bytes.len() });
        }
        Ok(Secret(bytes))
    }

    /// The secret's bytes, for the HMAC key.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.0.len())
    }
}

impl Drop for Secret {
    /// Overwrites the bytes, so a freed secret does not linger in memory (best effort).
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// What a peer or client shows in the handshake: the cluster it belongs to and the secret
/// that proves it. A peer of another cluster (another id) is refused even if it holds the same
/// secret, so two clusters sharing a secret by mistake still never mix.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The cluster's name: 1 to [`CLUSTER_ID_MAX`] bytes.
    pub cluster_id: String,
    /// The secret of the port (the peers' for the peer port, the clients' for the client
    /// port).
    pub secret: Secret,
}

impl Identity {
    /// An identity, checked.
    ///
    /// # Errors
    /// [`IdentityError`] if the cluster id is empty or longer than [`CLUSTER_ID_MAX`] bytes.
    pub fn new(cluster_id: impl Into<String>, secret: Secret) -> Result<Identity, IdentityError> {
        let identity = Identity {
            cluster_id: cluster_id.into(),
            secret,
        };
        identity.check()?;
        Ok(identity)
    }

    /// Checks the cluster id (its fields are public, so anything may have built it).
    ///
    /// # Errors
    /// [`IdentityError`] if the cluster id is empty or too long.
    pub fn check(&self) -> Result<(), IdentityError> {
        let len = self.cluster_id.len();
        if (1..=CLUSTER_ID_MAX).contains(&len) {
            Ok(())
        } else {
            Err(IdentityError::ClusterIdLength { len })
        }
    }
}

/// Why an [`Identity`] cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The cluster id is empty or longer than [`CLUSTER_ID_MAX`] bytes.
    ClusterIdLength {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::ClusterIdLength { len } => write!(
                f,
                "the cluster id has {len} bytes; it needs 1 to {CLUSTER_ID_MAX}"
            ),
        }
    }
}

impl std::error::Error for IdentityError {}

impl From<IdentityError> for std::io::Error {
    fn from(e: IdentityError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_and_bad_cluster_ids_are_refused() {
        assert_eq!(
            Secret::new(vec![1; 15]).unwrap_err(),
            SecretError::TooShort { len: 15 }
        );
        let secret = Secret::new(vec![7; 16]).unwrap();
        assert!(Identity::new("", secret.clone()).is_err());
        assert!(Identity::new("x".repeat(65), secret.clone()).is_err());
        assert!(Identity::new("x".repeat(64), secret).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new(b"super-secret-bytes".to_vec()).unwrap();
        let shown = format!("{:?}", Identity::new("c", secret).unwrap());
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
