//! # test-support: what the process tests and the benches share
//!
//! The tests that run real processes (raft-kv-server's own tests of the `raftkv` binary, and
//! raft-tests' process cluster) need the same few things, kept here once:
//!
//! - [`ChildGuard`]: a child process whose output goes to log files (or wherever its command
//!   sent it), that the test can kill with SIGKILL, pause, resume and stop with SIGTERM, and
//!   that is killed and reaped by its own pid when the guard is dropped, even if the test
//!   fails;
//! - [`free_addr`]: a loopback address nothing listens on, from binding port 0;
//!   [`ListenPorts`]: listening addresses below the ephemeral range, for processes a test
//!   restarts on the same port (see [`ports`]);
//! - [`write_secret`], [`write_random_secret`]: a secret file readable by its owner only.
//!
//! And the benches and the cluster reports take their percentiles with one rule:
//! [`stats::nearest_rank`].
//!
//! A plain library with no dependency on the crates under test, so any of them can take it
//! as a dev-dependency without a cycle.
#![forbid(unsafe_code)]

pub mod ports;
mod process;
mod secret;
pub mod stats;

pub use ports::{ListenPorts, ephemeral_port_range, free_addr};
pub use process::{ChildGuard, Stopped, describe_status};
pub use secret::{write_random_secret, write_secret};
