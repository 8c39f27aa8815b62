//! A [`ClerkTransport`] over raft-labrpc: the clerk of 6.824's Lab 3 tests.

use std::time::Duration;

use raft_labrpc::ClientEnd;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SUBMIT;
use crate::clerk_driver::{CallFailed, ClerkTransport};
use crate::rpc::Response;
use crate::rsm::Command;

/// A clerk's labrpc ends: `ends[i]` reaches the clerk's server `i`.
#[derive(Clone, Debug)]
pub struct LabrpcClerkTransport {
    ends: Vec<ClientEnd>,
}

impl LabrpcClerkTransport {
    /// The transport over `ends`, in the clerk's order.
    #[must_use]
    pub fn new(ends: Vec<ClientEnd>) -> Self {
        LabrpcClerkTransport { ends }
    }

    /// The ends, in the clerk's order.
    #[must_use]
    pub fn ends(&self) -> &[ClientEnd] {
        &self.ends
    }
}

impl<Op, O> ClerkTransport<Op, O> for LabrpcClerkTransport
where
    Op: Serialize,
    O: DeserializeOwned + Send + 'static,
{
    /// Calls [`SUBMIT`] on `ends[server]` and waits (labrpc always answers in the end). Any
    /// [`raft_labrpc::CallError`], and a server outside the list, is [`CallFailed`].
    fn call(&mut self, server: usize, request: &Command<Op>) -> Result<Response<O>, CallFailed> {
        let end = self.ends.get(server).ok_or(CallFailed)?;
        end.call(SUBMIT, request).map_err(|_| CallFailed)
    }

    fn sleep(&mut self, pause: Duration) {
        std::thread::sleep(pause);
    }
}
