//! The child-process guard the cluster runs each `raftkv` under, and free loopback ports:
//! they live in the `test-support` crate, shared with raft-kv-server's own tests.

pub use test_support::{ChildGuard, Stopped, describe_status, free_addr};
