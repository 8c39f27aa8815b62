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

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod node;
pub mod protocol;
