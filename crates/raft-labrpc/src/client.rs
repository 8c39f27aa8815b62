//! [`ClientEnd`]: one sender's end of a connection, and the three ways to call through it.
//!
//! Arguments are encoded here, at the caller, so the server decodes a fresh value; replies
//! are decoded here too, into a fresh value, on whichever thread completes the call.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::CallError;
use crate::network::Inner;

/// A call's outcome on the wire: the reply bytes, or why there are none.
pub(crate) type Reply = Result<Vec<u8>, CallError>;

/// What to do when a call ends. Runs exactly once: [`Completion::complete`] runs it, and a
/// completion dropped without that (a task discarded, say) runs it with
/// [`CallError::Failed`], so no caller ever waits forever. Never dropped under a lock.
pub(crate) struct Completion {
    on_done: Option<Box<dyn FnOnce(Reply) + Send>>,
}

impl Completion {
    fn new(on_done: impl FnOnce(Reply) + Send + 'static) -> Self {
        Completion {
            on_done: Some(Box::new(on_done)),
        }
    }

    pub(crate) fn complete(mut self, reply: Reply) {
        if let Some(on_done) = self.on_done.take() {
            on_done(reply);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(on_done) = self.on_done.take() {
            on_done(Err(CallError::Failed));
        }
    }
}

/// A client's end of a connection to one server (labrpc's `ClientEnd`), made by
/// [`Network::make_end`](crate::Network::make_end). Cheap to clone; clones are the same end.
/// Calls on one end may run concurrently and complete in any order.
#[derive(Clone)]
pub struct ClientEnd {
    inner: Arc<Inner>,
    end_id: usize,
    name: Arc<str>,
}

impl fmt::Debug for ClientEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientEnd").field("name", &self.name).finish()
    }
}

impl ClientEnd {
    pub(crate) fn new(inner: Arc<Inner>, end_id: usize, name: Arc<str>) -> Self {
        ClientEnd { inner, end_id, name }
    }

    /// The name this end was made with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls `svc_meth` (`"Service.Method"`) with `args` and blocks until the reply or the
    /// failure labrpc reports as `false`. Like labrpc, there is no caller-side timeout: the
    /// network always answers (perhaps after up to 7 s of long delay), unless the handler
    /// keeps its responder forever on a live server.
    ///
    /// # Errors
    /// [`CallError::Failed`] for a lost call; the other variants for encode, decode and
    /// name errors.
    pub fn call<A, R>(&self, svc_meth: &str, args: &A) -> Result<R, CallError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.call_async(svc_meth, args)
            .recv()
            .unwrap_or(Err(CallError::Failed))
    }

    /// Starts a call without blocking; `on_done` runs exactly once with the outcome, on
    /// whichever thread completes the call: this one (inline, before `call_with` returns),
    /// the server's answering thread, or the network's timer thread. `on_done` must not
    /// block.
    pub fn call_with<A, R>(
        &self,
        svc_meth: &str,
        args: &A,
        on_done: impl FnOnce(Result<R, CallError>) + Send + 'static,
    ) where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let args = match codec::encode(args) {
            Ok(bytes) => bytes,
            Err(why) => return on_done(Err(CallError::Encode(why))),
        };
        let done = Completion::new(move |reply: Reply| {
            on_done(reply.and_then(|bytes| codec::decode::<R>(&bytes).map_err(CallError::Decode)));
        });
        self.inner.start_call(self.end_id, svc_meth, args, done);
    }

    /// Starts a call without blocking; the outcome arrives on the returned channel.
    pub fn call_async<A, R>(&self, svc_meth: &str, args: &A) -> flume::Receiver<Result<R, CallError>>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let (sender, receiver) = flume::bounded(1);
        self.call_with(svc_meth, args, move |outcome| {
            // The caller may have dropped the receiver; nobody is left to tell.
            let _ = sender.send(outcome);
        });
        receiver
    }
}
