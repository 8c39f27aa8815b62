//! # A real cluster of `raftkv` processes, under a test's control
//!
//! Three `raftkv serve` processes on loopback, each link between two of them through a
//! [`LinkProxy`] the test can cut or slow, each process under a guard that can kill, pause
//! and stop it, and clients whose every operation is recorded for the linearizability check.

pub mod process;
pub mod proxy;
pub mod verify;
pub mod workload;

pub use process::{ChildGuard, Stopped, describe_status, free_addr};
pub use proxy::{LinkProxy, LinkState, ProxyStats};
pub use verify::{ReadBack, verify_read_back, write_value};
pub use workload::{Clients, KvClient, OpCounts, Outcome, Recorder, WorkloadConfig, key_name};
