//! # The MIT 6.824 Lab 3 harness (kvraft's config.go), on two clusters
//!
//! [`KvConfig`] is kvraft's config.go: servers that are a raft-kv [`raft_kv::server::Server`] each
//! (the key/value store over a Raft peer), started, shut down and restarted from copies of
//! their persisters; clerks with their own shuffled ends, connected to all servers or to a
//! few; `partition`, which cuts only server-to-server ends (clerks keep theirs); the Raft
//! state and snapshot sizes; and the four-number `  ... Passed --` line (seconds, servers,
//! RPCs including the clerks', and clerk operations).
//!
//! Like the Lab 2 harness ([`crate::Config`]) it runs every scenario on either cluster:
//! - the real cluster: raft-kv servers on threads over raft-labrpc, on the wall clock;
//! - the simulated cluster: raft-kv's server decisions ([`raft_kv::ServerState`]) hosted by
//!   raft-sim's world, clerks as tasks on virtual time, with labrpc's fault model for the
//!   clerks' calls too ([`crate::sim`]).
//!
//! The clerk is raft-kv's [`raft_kv::Clerk`] on both: only its transport differs. Every
//! recorded operation goes into an [`OpLog`], checked for linearizability with the Lab 3
//! key/value model at the end of a test ([`OpLog::check`]); a history that is not
//! linearizable is drawn as an HTML page whose path the failure names.

mod checks;
mod config;
mod history;
mod host;
mod real;

pub(crate) use host::KvHost;

pub use checks::{check_clnt_appends, check_concurrent_appends};
pub use config::{Clerk, ClerkId, KvConfig, LINEARIZABILITY_CHECK_TIMEOUT};
pub use history::{
    INDEFINITE, KvCheck, NOT_LINEARIZABLE, OpLog, append, check, check_kv_history, get, history_page, put,
};
