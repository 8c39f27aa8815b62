//! TEMPORARY stand-ins for APIs that other branches add (raft-tcp; raft-kv's
//! `Server::with_transport`, `submit`, `status`, `failure`), written to the shared contract so
//! that this crate compiles before they land. Every stand-in fails at run time; this module is
//! deleted when those branches are merged.
#![allow(dead_code, missing_docs, clippy::needless_pass_by_value)]

/// Stand-in for the raft-tcp crate (section A of the contract).
pub mod raft_tcp {
    use serde::{Deserialize, Serialize};
    use std::io;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::time::Duration;

    use raft_core::PeerId;
    use raft_core::message::Request;

    fn missing() -> io::Error {
        io::Error::other("raft-tcp is not merged into this build yet")
    }

    #[derive(Clone)]
    pub struct Secret(Vec<u8>);

    impl std::fmt::Debug for Secret {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Secret(..)")
        }
    }

    #[derive(Debug)]
    pub struct SecretError;

    impl std::fmt::Display for SecretError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a secret needs at least 16 bytes")
        }
    }

    impl Secret {
        pub fn new(bytes: Vec<u8>) -> Result<Secret, SecretError> {
            if bytes.len() < 16 {
                return Err(SecretError);
            }
            Ok(Secret(bytes))
        }
    }

    #[derive(Clone, Debug)]
    pub struct Identity {
        pub cluster_id: String,
        pub secret: Secret,
    }

    #[derive(Debug, Default)]
    pub struct TcpStats {
        _counters: [u64; 1],
    }

    impl TcpStats {
        pub fn snapshot(&self) -> TcpStatsSnapshot {
            TcpStatsSnapshot::default()
        }
    }

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TcpStatsSnapshot {
        pub accepted: u64,
        pub refused_version: u64,
        pub refused_cluster: u64,
        pub refused_peer: u64,
        pub refused_auth: u64,
        pub refused_frame: u64,
        pub decode_failures: u64,
        pub dropped_queue_full: u64,
        pub connects: u64,
    }

    pub struct PeerConfig {
        pub me: PeerId,
        pub peers: Vec<String>,
        pub identity: Identity,
    }

    pub struct TcpTransport;

    impl TcpTransport {
        pub fn start(
            _config: PeerConfig,
            _listener: TcpListener,
            _inbox: raft_node::Inbox,
            _stats: Arc<TcpStats>,
        ) -> io::Result<TcpTransport> {
            Err(missing())
        }
    }

    impl raft_node::Transport for TcpTransport {
        fn send(&mut self, _to: PeerId, _request: Request) {}
    }

    pub struct ClientServer;

    impl Drop for ClientServer {
        fn drop(&mut self) {}
    }

    impl ClientServer {
        pub fn start(
            _listener: TcpListener,
            _identity: Identity,
            _stats: Arc<TcpStats>,
            _handler: impl Fn(Vec<u8>, ClientReplier) + Send + Sync + 'static,
        ) -> io::Result<ClientServer> {
            Err(missing())
        }
    }

    pub struct ClientReplier;

    impl ClientReplier {
        pub fn reply(self, _payload: Vec<u8>) {}
    }

    #[derive(Debug)]
    pub enum ConnectError {
        Io(io::Error),
        Refused(String),
    }

    impl std::fmt::Display for ConnectError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ConnectError::Io(e) => write!(f, "{e}"),
                ConnectError::Refused(reason) => write!(f, "refused: {reason}"),
            }
        }
    }

    #[derive(Debug)]
    pub struct CallError(pub io::Error);

    impl std::fmt::Display for CallError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0)
        }
    }

    pub struct ClientConn;

    impl ClientConn {
        pub fn connect(
            _addr: &str,
            _identity: &Identity,
            _timeout: Duration,
        ) -> Result<ClientConn, ConnectError> {
            Err(ConnectError::Io(missing()))
        }

        pub fn call(&mut self, _payload: &[u8], _timeout: Duration) -> Result<Vec<u8>, CallError> {
            Err(CallError(missing()))
        }
    }
}

/// Stand-ins for raft-kv's and raft-node's additions (section B of the contract).
pub mod kv {
    use std::io;
    use std::sync::Arc;

    use raft_core::{LogIndex, PeerId, RoleKind, Term};
    use raft_kv::server::Server;
    use raft_kv::{Command, Response, StateMachine};
    use raft_node::{Inbox, NodeError, NodeOptions, Transport};
    use raft_storage::Storage;

    #[derive(Clone, Copy, Debug)]
    pub struct NodeStatus {
        pub term: Term,
        pub role: RoleKind,
        pub leader: Option<PeerId>,
        pub commit_index: LogIndex,
        pub raft_state_size: u64,
    }

    #[derive(Clone, Copy, Debug)]
    pub struct ServerStatus {
        pub node: NodeStatus,
        pub last_applied: LogIndex,
    }

    #[allow(clippy::too_many_arguments)]
    pub fn with_transport<S: StateMachine, St: Storage, T: Transport>(
        _me: usize,
        _peer_count: usize,
        _storage: St,
        _maxraftstate: Option<usize>,
        _state: S,
        _options: NodeOptions,
        _connect: impl FnOnce(Inbox) -> io::Result<T>,
    ) -> Result<Arc<Server<S>>, NodeError> {
        Err(NodeError::Spawn(io::Error::other(
            "Server::with_transport is not merged into this build yet",
        )))
    }

    pub trait ServerExt<S: StateMachine> {
        fn submit(&self, command: Command<S::Op>, reply: impl FnOnce(Response<S::Output>) + Send + 'static);
        fn status(&self) -> ServerStatus;
        fn failure(&self) -> Option<String>;
    }

    impl<S: StateMachine> ServerExt<S> for Server<S> {
        fn submit(&self, _command: Command<S::Op>, reply: impl FnOnce(Response<S::Output>) + Send + 'static) {
            reply(Response::WrongLeader);
        }

        fn status(&self) -> ServerStatus {
            let (term, leader) = self.get_state();
            ServerStatus {
                node: NodeStatus {
                    term,
                    role: if leader {
                        RoleKind::Leader
                    } else {
                        RoleKind::Follower
                    },
                    leader: None,
                    commit_index: LogIndex::ZERO,
                    raft_state_size: 0,
                },
                last_applied: LogIndex::ZERO,
            }
        }

        fn failure(&self) -> Option<String> {
            None
        }
    }
}

/// Stand-in for raft-kv's `Clerk::try_call`: one call, retried over the servers until the
/// transport gives up. `None` when it gave up.
pub fn try_call(
    clerk: &mut raft_kv::Clerk<crate::client::TcpClerkTransport>,
    op: raft_kv::KvOp,
) -> Option<String> {
    use raft_kv::ClerkTransport as _;
    let servers = clerk.transport().servers_len();
    let command = raft_kv::Command {
        client_id: clerk.client_id(),
        seq: clerk.state().next_seq(),
        op,
    };
    loop {
        for server in 0..servers {
            let transport = clerk.transport_mut();
            if let Ok(raft_kv::Response::Ok(output)) = transport.call(server, &command) {
                return Some(output);
            }
            if transport.give_up() {
                return None;
            }
        }
        clerk.transport_mut().sleep(raft_kv::CLERK_ROUND_PAUSE);
    }
}
