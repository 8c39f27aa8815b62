//! One `raftkv` node: [`init`] makes its data directory on purpose, [`serve`] runs it.
//!
//! ## The data directory
//!
//! `init` makes it with raft-storage's `FilePersister::create_with`, which builds it beside
//! and renames it into place, so it appears whole or not at all, with one more file in it
//! from the start, [`IDENTITY_FILE`] (`node.id`), naming the cluster and the node:
//!
//! ```text
//! # written by `raftkv init`; serve refuses a directory of another node or cluster
//! cluster-id = prod
//! id = 2
//! ```
//!
//! The persister's own files (`hard_state`, `log`, `snapshot`, its `LOCK`) sit beside it;
//! opening the persister reads only its own files, so its checks are untouched. `serve`
//! refuses a directory without `node.id` (never initialised, or the file lost since) and one
//! naming another node or cluster. It then opens the persister, which locks the
//! directory for the life of the process: a second process on it is refused.
//!
//! ## Serving
//!
//! [`serve`] binds the peer listener and the client listener, starts the key/value server
//! over a raft-tcp transport (its peers authenticated with the peer secret) and a raft-tcp
//! client server (its clients authenticated with the client secret) whose handler decodes each
//! [`ClientRequest`] and hands it to the server without blocking, logs one line containing
//! "serving", and then waits until `stop` is set (the binary sets it on SIGTERM or SIGINT) or
//! the server fails on its own (a storage error, a snapshot that does not decode).

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use raft_core::{PeerId, RoleKind};
use raft_kv::KvStore;
use raft_kv::server::KvServer;
use raft_node::{NodeError, NodeOptions};
use raft_storage::{FilePersister, StorageError};
use tracing::{error, info, warn};

use crate::config::{NodeSecrets, check_cluster_id, identity, parse_key_values};
use crate::protocol::{self, ClientReply, ClientRequest, StatusReport};
use raft_tcp::{ClientReplier, ClientServer, PeerConfig, TcpStats, TcpTransport};

/// The file in a data directory that names its cluster and node.
pub const IDENTITY_FILE: &str = "node.id";

/// How often [`serve`] looks at its stop flag and at the server's health.
pub const STOP_POLL: Duration = Duration::from_millis(50);

/// Why `init` or `serve` could not do its work. Each displays as one line for the operator.
#[derive(Debug)]
pub enum ServeError {
    /// The command line or config was not usable (an id outside the peer list, say).
    Config(String),
    /// The directory was never made by `init`, or lost its identity file.
    NotInitialised {
        /// The data directory.
        dir: PathBuf,
        /// What was found.
        reason: String,
    },
    /// `init` was given a directory that already holds files.
    AlreadyInitialised {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory belongs to another node or cluster.
    WrongNode {
        /// The data directory.
        dir: PathBuf,
        /// The cluster id in its identity file.
        found_cluster: String,
        /// The node id in its identity file.
        found_id: usize,
        /// The cluster id this process was given.
        cluster: String,
        /// The node id this process was given.
        id: usize,
    },
    /// The identity file is not as `init` wrote it.
    BadIdentityFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The persister's files could not be made or opened (locked, damaged, missing, I/O).
    Storage(StorageError),
    /// A file or directory operation failed.
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A listener could not be bound.
    Bind {
        /// "peer" or "client".
        what: &'static str,
        /// The address asked for.
        addr: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The Raft node or its transport could not be started.
    Node(NodeError),
    /// The client server could not be started.
    ClientServer(io::Error),
    /// The running server stopped on its own: why.
    Failed(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Config(reason) => write!(f, "{reason}"),
            ServeError::NotInitialised { dir, reason } => write!(
                f,
                "{} is not an initialised data directory ({reason}); make one with \
                 `raftkv init --dir {} --cluster-id C --id N`",
                dir.display(),
                dir.display()
            ),
            ServeError::AlreadyInitialised { dir } => write!(
                f,
                "{} already exists and is not empty; init only makes a new data directory",
                dir.display()
            ),
            ServeError::WrongNode {
                dir,
                found_cluster,
                found_id,
                cluster,
                id,
            } => write!(
                f,
                "{} belongs to node {found_id} of cluster {found_cluster:?}, not to node {id} of \
                 cluster {cluster:?}",
                dir.display()
            ),
            ServeError::BadIdentityFile { path, reason } => {
                write!(f, "{} is not a valid identity file: {reason}", path.display())
            }
            ServeError::Storage(error) => write!(f, "data directory: {error}"),
            ServeError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ServeError::Bind { what, addr, source } => {
                write!(f, "cannot listen for {what} connections on {addr}: {source}")
            }
            ServeError::Node(error) => write!(f, "cannot start the node: {error}"),
            ServeError::ClientServer(error) => {
                write!(f, "cannot start the client server: {error}")
            }
            ServeError::Failed(reason) => write!(f, "the server stopped: {reason}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// Makes the data directory of node `id` of cluster `cluster_id` at `dir`: an empty Raft
/// state (term 0, no vote, no log) and the identity file. `dir` must not exist or be empty.
///
/// # Errors
/// [`ServeError::Config`] for a bad cluster id, [`ServeError::AlreadyInitialised`] if `dir`
/// holds anything, [`ServeError::Storage`] or [`ServeError::Io`] if the files cannot be
/// written.
pub fn init(dir: &Path, cluster_id: &str, id: usize) -> Result<(), ServeError> {
    check_cluster_id(cluster_id).map_err(ServeError::Config)?;
    // The identity file is made with the Raft state, before the directory takes its name: an
    // interrupted init leaves no directory without it.
    let identity = identity_text(cluster_id, id);
    let persister = FilePersister::create_with(dir, &[(IDENTITY_FILE, identity.as_bytes())]).map_err(
        |error| match error {
            StorageError::DirNotEmpty { dir } => ServeError::AlreadyInitialised { dir },
            other => ServeError::Storage(other),
        },
    )?;
    drop(persister);
    Ok(())
}

/// The text of an identity file.
fn identity_text(cluster_id: &str, id: usize) -> String {
    format!(
        "# written by `raftkv init`; serve refuses a directory of another node or cluster\n\
         cluster-id = {cluster_id}\nid = {id}\n"
    )
}

/// Reads the identity file of `dir`: its cluster id and node id.
///
/// # Errors
/// [`ServeError::NotInitialised`] if the directory or the file is missing,
/// [`ServeError::BadIdentityFile`] if the file is not as `init` wrote it.
pub fn read_identity(dir: &Path) -> Result<(String, usize), ServeError> {
    let path = dir.join(IDENTITY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let reason = if dir.is_dir() {
                format!("it has no {IDENTITY_FILE}: never initialised, or the file was lost")
            } else {
                "it does not exist".to_string()
            };
            return Err(ServeError::NotInitialised {
                dir: dir.to_path_buf(),
                reason,
            });
        }
        Err(source) => return Err(ServeError::Io { path, source }),
    };
    let bad = |reason: String| ServeError::BadIdentityFile {
        path: path.clone(),
        reason,
    };
    let map = parse_key_values(&text).map_err(|error| bad(error.to_string()))?;
    let cluster = map
        .get("cluster-id")
        .ok_or_else(|| bad("no `cluster-id` line".into()))?;
    check_cluster_id(cluster).map_err(bad)?;
    let id = map
        .get("id")
        .ok_or_else(|| bad("no `id` line".into()))?
        .parse::<usize>()
        .map_err(|error| bad(format!("`id` is not a node number: {error}")))?;
    if let Some(extra) = map.keys().find(|key| *key != "cluster-id" && *key != "id") {
        return Err(bad(format!("unknown key `{extra}`")));
    }
    Ok((cluster.clone(), id))
}

/// What [`serve`] needs to run one node.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// This node's id: its position in `peers`.
    pub id: usize,
    /// Where this node accepts connections from its peers.
    pub listen: String,
    /// The address this node dials to reach peer `i` (the entry at `id` is not used); its
    /// length is the cluster's size.
    pub peers: Vec<String>,
    /// Where this node accepts clients.
    pub client_listen: String,
    /// The data directory `init` made.
    pub dir: PathBuf,
    /// The cluster id peers and clients must present.
    pub cluster_id: String,
    /// The peer secret (proven on `listen`) and the client secret (proven on
    /// `client_listen`). They differ, so that a client, which must hold the client secret,
    /// cannot authenticate on the peer port as a peer and forge Raft messages.
    pub secrets: NodeSecrets,
    /// Snapshot when Raft's persisted state reaches this many bytes (`None`: never).
    pub maxraftstate: Option<usize>,
    /// raft-node's [`NodeOptions::send_before_write`].
    pub send_before_write: bool,
}

/// Runs node `config.id` until `stop` is set (then stops cleanly and returns `Ok`) or the
/// server fails on its own.
///
/// # Errors
/// [`ServeError`] naming what was refused or failed: a directory never initialised or of
/// another node or cluster, a locked directory (another process serves it), an address in
/// use, a node that could not start, or the server's own failure while running.
pub fn serve(config: ServeConfig, stop: Arc<AtomicBool>) -> Result<(), ServeError> {
    let ServeConfig {
        id,
        listen,
        peers,
        client_listen,
        dir,
        cluster_id,
        secrets,
        maxraftstate,
        send_before_write,
    } = config;
    check_cluster_id(&cluster_id).map_err(ServeError::Config)?;
    if id >= peers.len() {
        return Err(ServeError::Config(format!(
            "--id {id} is not a position in --peers, which names {} nodes",
            peers.len()
        )));
    }
    let (found_cluster, found_id) = read_identity(&dir)?;
    if found_cluster != cluster_id || found_id != id {
        return Err(ServeError::WrongNode {
            dir,
            found_cluster,
            found_id,
            cluster: cluster_id,
            id,
        });
    }
    let peer_identity = identity(&cluster_id, secrets.peer().clone());
    let client_identity = identity(&cluster_id, secrets.client().clone());
    drop(secrets);
    // Locks the directory for as long as the node runs.
    let persister = FilePersister::open(&dir).map_err(ServeError::Storage)?;
    let peer_listener = bind("peer", &listen)?;
    let client_listener = bind("client", &client_listen)?;
    let stats = Arc::new(TcpStats::default());
    let peer_count = peers.len();
    let transport_stats = Arc::clone(&stats);
    let server = KvServer::with_transport(
        id,
        peer_count,
        persister,
        maxraftstate,
        KvStore::new(),
        NodeOptions {
            send_before_write,
            ..NodeOptions::default()
        },
        move |inbox| {
            let config = PeerConfig {
                me: peer_id(id),
                peers,
                identity: peer_identity,
            };
            TcpTransport::start(config, peer_listener, inbox, transport_stats)
        },
    )
    .map_err(ServeError::Node)?;
    let undecodable = Arc::new(AtomicU64::new(0));
    let handler = Handler {
        id,
        server: Arc::clone(&server),
        stats: Arc::clone(&stats),
        undecodable,
    };
    let clients = ClientServer::start(
        client_listener,
        client_identity,
        Arc::clone(&stats),
        move |bytes, replier| {
            handler.handle(&bytes, replier);
        },
    );
    let clients = match clients {
        Ok(clients) => clients,
        Err(error) => {
            server.kill();
            return Err(ServeError::ClientServer(error));
        }
    };
    info!(
        id,
        cluster = %cluster_id,
        peers = %listen,
        clients = %client_listen,
        dir = %dir.display(),
        "node {id} of {peer_count} serving: peers on {listen}, clients on {client_listen}"
    );
    let outcome = loop {
        if stop.load(Ordering::Acquire) {
            info!(id, "stop requested: stopping");
            break Ok(());
        }
        if let Some(reason) = server.failure() {
            error!(id, %reason, "the server stopped on its own");
            break Err(ServeError::Failed(reason));
        }
        std::thread::sleep(STOP_POLL);
    };
    // Clients first, so that no handler runs against a stopped server; then the node, whose
    // kill joins its threads (and so the transport's, and releases the directory's lock).
    drop(clients);
    server.kill();
    drop(server);
    info!(id, "stopped");
    outcome
}

/// Binds a listener, naming what it is for in the error.
fn bind(what: &'static str, addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).map_err(|source| ServeError::Bind {
        what,
        addr: addr.to_string(),
        source,
    })
}

/// The peer id of position `i`.
fn peer_id(i: usize) -> PeerId {
    PeerId(u32::try_from(i).unwrap_or(u32::MAX))
}

/// Answers clients: decodes each request and hands it to the server without blocking.
struct Handler {
    id: usize,
    server: Arc<KvServer>,
    stats: Arc<TcpStats>,
    undecodable: Arc<AtomicU64>,
}

impl Handler {
    fn handle(&self, bytes: &[u8], replier: ClientReplier) {
        match protocol::decode::<ClientRequest>(bytes) {
            Ok(ClientRequest::Submit(command)) => {
                self.server.submit(command, move |response| {
                    send(replier, &ClientReply::Submit(response));
                });
            }
            Ok(ClientRequest::Status) => send(replier, &ClientReply::Status(self.status())),
            Err(reason) => {
                let count = self.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                warn!(
                    id = self.id,
                    %reason,
                    count,
                    "a client request did not decode; answered as undecodable"
                );
                send(replier, &ClientReply::Undecodable(reason));
            }
        }
    }

    fn status(&self) -> StatusReport {
        let status = self.server.status();
        let role = if self.server.stopped() {
            "stopped"
        } else {
            match status.node.role {
                RoleKind::Leader => "leader",
                RoleKind::Candidate => "candidate",
                RoleKind::PreCandidate => "pre-candidate",
                RoleKind::Follower => "follower",
            }
        };
        StatusReport {
            id: self.id,
            role: role.to_string(),
            term: status.node.term.0,
            leader: status.node.leader.map(PeerId::as_usize),
            commit_index: status.node.commit_index.0,
            last_applied: status.last_applied.0,
            tcp: self.stats.snapshot(),
            undecodable_requests: self.undecodable.load(Ordering::Relaxed),
        }
    }
}

/// Encodes and sends a reply; an encoding failure (a bug, never input) is logged.
fn send(replier: ClientReplier, reply: &ClientReply) {
    match protocol::encode(reply) {
        Ok(bytes) => replier.reply(bytes),
        Err(error) => error!(%error, "cannot encode a client reply"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_an_identity_that_reads_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("n1");
        init(&dir, "c-1", 1).unwrap();
        assert_eq!(read_identity(&dir).unwrap(), ("c-1".to_string(), 1));
        // The persister still opens the directory with the identity file in it.
        drop(FilePersister::open(&dir).unwrap());
        // Nothing beside the directory: the staging directory was renamed into place.
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn init_refuses_a_used_directory_and_a_bad_cluster_id() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("n0");
        init(&dir, "c", 0).unwrap();
        assert!(matches!(
            init(&dir, "c", 0),
            Err(ServeError::AlreadyInitialised { .. })
        ));
        assert!(matches!(
            init(&root.path().join("other"), "", 0),
            Err(ServeError::Config(_))
        ));
    }

    #[test]
    fn identity_is_missing_or_damaged_with_a_reason() {
        let root = tempfile::tempdir().unwrap();
        let missing = root.path().join("never");
        let error = read_identity(&missing).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
        let error = read_identity(root.path()).unwrap_err();
        assert!(error.to_string().contains("never initialised"), "{error}");
        for text in [
            "id = 1\n",
            "cluster-id = c\nid = x\n",
            "cluster-id = c\nid = 1\nmore = 2\n",
            "junk",
        ] {
            fs::write(root.path().join(IDENTITY_FILE), text).unwrap();
            assert!(
                matches!(
                    read_identity(root.path()),
                    Err(ServeError::BadIdentityFile { .. })
                ),
                "{text:?}"
            );
        }
    }
}
