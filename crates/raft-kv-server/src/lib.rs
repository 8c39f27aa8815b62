//! # raft-kv-server: the key/value service as real processes
//!
//! The `raftkv` binary and the library behind it: a node serves raft-kv's [`raft_kv::KvStore`]
//! over a raft-tcp transport between peers, with its Raft state in a raft-storage
//! `FilePersister` directory; clients reach it over raft-tcp client connections.
//!
//! - [`protocol`]: what clients and servers say (postcard inside raft-tcp client frames).
//! - [`client`]: a [`raft_kv::Clerk`] over TCP, and one server's status.
//! - [`node`]: `init` (make a data directory on purpose) and `serve` (run a node until told
//!   to stop); [`node`]'s doc describes the data directory's layout.
//! - [`config`]: the config file, identity file and secret formats.
//! - [`cli`]: the command line and its exit codes (0 done, 1 runtime error, 2 usage error,
//!   3 a client gave up without an answer: the operation may or may not have happened).
//!
//! ## Two secrets
//!
//! Each port has its own secret, 16 bytes or more. The **peer secret** (`--peer-secret-file`,
//! else `RAFTKV_PEER_SECRET`) is held by the nodes alone and proven between them on
//! `--listen`. The **client secret** (`--secret-file`, else `RAFTKV_SECRET`) is proven by
//! clients on `--client-listen`, and so held by every client. With one secret for both, any
//! client could dial a peer port as peer k, be taken for it, and forge Raft messages (votes,
//! AppendEntries); so `serve` refuses a peer secret equal to its client secret.
//!
//! A 3-node cluster by hand (each node's `--peers` lists every node's peer address in id
//! order; `--listen` is its own):
//!
//! ```text
//! printf 'a secret for the nodes alone' > peer-secret
//! printf 'a secret the clients share' > secret
//! raftkv init --dir d0 --cluster-id demo --id 0          # likewise d1/1, d2/2
//! raftkv serve --id 0 --listen 127.0.0.1:7100 --peers 127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102 \
//!     --client-listen 127.0.0.1:7200 --dir d0 --cluster-id demo \
//!     --peer-secret-file peer-secret --secret-file secret &
//! # ... nodes 1 and 2 likewise ...
//! S="--servers 127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202 --cluster-id demo --secret-file secret"
//! raftkv put k hello $S; raftkv append k ' world' $S; raftkv get k $S; raftkv status $S
//! ```
//!
//! ## Tied to a parent process
//!
//! With `RAFTKV_EXIT_WITH_PARENT=1` in its environment ([`cli::EXIT_WITH_PARENT_ENV`]),
//! `serve` stops as on SIGTERM once its parent process has exited: a test harness sets it so
//! that its nodes never outlive it, even when it is killed without the chance to stop them.
//!
//! `status` prints one line per server: its address, then `id= role= term= leader= commit=
//! applied=` and the transport's counters (`refused_auth=`, `refused_cluster=`, ...), or
//! `unreachable: <why>`; it exits 0 when at least one server answered, else 1.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod node;
pub mod protocol;
