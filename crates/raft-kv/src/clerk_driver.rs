//! The clerk that 6.824's tests call (`Get`, `Put`, `Append`), over any transport.
//!
//! [`Clerk`] runs [`ClerkState`]'s decisions: it sends each [`crate::Attempt`] through its
//! [`ClerkTransport`] and feeds the outcome back, until the call is done. It never sleeps or
//! reads a clock itself: between rounds it asks the transport to pause, so the same clerk runs
//! on threads (real sleeps) and in the simulator (virtual time).
//!
//! [`Clerk::call`] retries forever, as 6.824's clerk does. [`Clerk::try_call`] lets the
//! transport end the call after a failed attempt ([`ClerkTransport::give_up`], a deadline
//! say), for a command-line client that must answer in bounded time: the result is then
//! [`GaveUp`], which means the operation may or may not have taken effect.

use std::time::Duration;

use crate::clerk::{ClerkReply, ClerkState, Next, NoServers};
use crate::kv::KvOp;
use crate::rpc::Response;
use crate::rsm::{ClientId, Command};

/// The pause after a full round in which every server failed or said wrong leader. Such a
/// round means no leader is reachable (an election in progress: 300-600 ms of timeouts, or
/// a partition), so retrying at once would only load the cluster; 20 ms keeps a clerk to
/// about 50 rounds a second while adding at most 20 ms to the first call after a leader
/// emerges, small beside the election itself. Within a round the clerk never waits: the next
/// server may well lead.
pub const CLERK_ROUND_PAUSE: Duration = Duration::from_millis(20);

/// A call that got no answer: lost, timed out, or the server is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallFailed;

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the call got no answer")
    }
}

impl std::error::Error for CallFailed {}

/// [`Clerk::try_call`] stopped retrying without an answer: the operation **may or may not
/// have taken effect** (a server may have applied it, or may still apply it, and its answer
/// was lost). A read can simply be retried; a write retried as a new call may apply twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaveUp;

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gave up without an answer: the operation may or may not have taken effect"
        )
    }
}

impl std::error::Error for GaveUp {}

/// How a [`Clerk`] reaches its servers and waits.
pub trait ClerkTransport<Op, O> {
    /// Sends `request` to server `server` (a position in the clerk's own list) and waits for
    /// its answer.
    ///
    /// # Errors
    /// [`CallFailed`] if no answer came (lost, timed out, server down).
    fn call(&mut self, server: usize, request: &Command<Op>) -> Result<Response<O>, CallFailed>;

    /// Waits `pause` before the next round (every server was tried without success).
    fn sleep(&mut self, pause: Duration);

    /// Asked by [`Clerk::try_call`] after each attempt that failed (no answer, or wrong
    /// leader): `true` ends the call with [`GaveUp`] (a deadline passed, say). Never asked by
    /// [`Clerk::call`]. The default never gives up.
    fn give_up(&mut self) -> bool {
        false
    }
}

/// A clerk: its decisions ([`ClerkState`]) and the transport that carries them out.
#[derive(Debug)]
pub struct Clerk<T> {
    state: ClerkState,
    transport: T,
}

impl<T> Clerk<T> {
    /// A clerk named `client_id` (unique across the service and its restarts) over `servers`
    /// servers reached through `transport`.
    ///
    /// # Errors
    /// [`NoServers`] when `servers` is zero.
    pub fn new(client_id: ClientId, servers: usize, transport: T) -> Result<Clerk<T>, NoServers> {
        Ok(Clerk {
            state: ClerkState::new(client_id, servers)?,
            transport,
        })
    }

    /// The clerk's id.
    #[must_use]
    pub fn client_id(&self) -> ClientId {
        self.state.client_id()
    }

    /// The clerk's decisions so far (leader guess, next sequence number).
    #[must_use]
    pub fn state(&self) -> &ClerkState {
        &self.state
    }

    /// The transport.
    #[must_use]
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, to change it (a test's fault injection, say).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}

impl<T> Clerk<T> {
    /// Makes one call of `op` and returns its output. Retries forever, as the handout's
    /// clerk does: on a failed call or "wrong leader" the same request (same client id and
    /// sequence number, so it takes effect once) goes to the next server, and after each
    /// full round of failures the clerk pauses [`CLERK_ROUND_PAUSE`].
    pub fn call<Op, O>(&mut self, op: Op) -> O
    where
        T: ClerkTransport<Op, O>,
    {
        match self.run(op, |_| None::<std::convert::Infallible>) {
            Ok(output) => output,
            Err(never) => match never {},
        }
    }

    /// Makes one call of `op` as [`Clerk::call`] does, but asks the transport after each
    /// failed attempt whether to go on ([`ClerkTransport::give_up`]).
    ///
    /// # Errors
    /// [`GaveUp`] when the transport gave up: the operation may or may not have taken
    /// effect. The clerk's next call carries a new sequence number
    /// ([`ClerkState::abandon`]).
    pub fn try_call<Op, O>(&mut self, op: Op) -> Result<O, GaveUp>
    where
        T: ClerkTransport<Op, O>,
    {
        self.run(op, |transport| transport.give_up().then_some(GaveUp))
    }

    /// The call loop: attempts until an answer, or until `stop` (asked after each failed
    /// attempt) says why not.
    fn run<Op, O, E>(&mut self, op: Op, mut stop: impl FnMut(&mut T) -> Option<E>) -> Result<O, E>
    where
        T: ClerkTransport<Op, O>,
    {
        let mut attempt = self.state.begin();
        let mut request = Command {
            client_id: attempt.client_id,
            seq: attempt.seq,
            op,
        };
        loop {
            let reply = match self.transport.call(attempt.server, &request) {
                Ok(Response::Ok(output)) => ClerkReply::Ok(output),
                Ok(Response::WrongLeader) => ClerkReply::WrongLeader,
                Err(CallFailed) => ClerkReply::CallFailed,
            };
            let next = match self.state.on_reply(attempt, reply) {
                Next::Done(output) => return Ok(output),
                Next::Retry(next) => next,
                // Not reached: `attempt` is always the outstanding one. Continue the call.
                Next::Stale => self.state.begin(),
            };
            if let Some(why) = stop(&mut self.transport) {
                self.state.abandon();
                return Err(why);
            }
            if next.round > attempt.round {
                self.transport.sleep(CLERK_ROUND_PAUSE);
            }
            (request.client_id, request.seq) = (next.client_id, next.seq);
            attempt = next;
        }
    }
}

impl<T: ClerkTransport<KvOp, String>> Clerk<T> {
    /// The value of `key` ("" if missing).
    pub fn get(&mut self, key: &str) -> String {
        self.call(KvOp::Get { key: key.into() })
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) {
        self.call::<_, String>(KvOp::Put {
            key: key.into(),
            value: value.into(),
        });
    }

    /// Appends `value` to the value of `key` (a missing key counts as "").
    pub fn append(&mut self, key: &str, value: &str) {
        self.call::<_, String>(KvOp::Append {
            key: key.into(),
            value: value.into(),
        });
    }
}

impl<T: ClerkTransport<KvOp, String>> Clerk<T> {
    /// The value of `key` ("" if missing), unless the transport gives up.
    ///
    /// # Errors
    /// [`GaveUp`]: no answer in time (see [`Clerk::try_call`]).
    pub fn try_get(&mut self, key: &str) -> Result<String, GaveUp> {
        self.try_call(KvOp::Get { key: key.into() })
    }

    /// Sets `key` to `value`, unless the transport gives up.
    ///
    /// # Errors
    /// [`GaveUp`]: no answer in time; the write may or may not have taken effect.
    pub fn try_put(&mut self, key: &str, value: &str) -> Result<(), GaveUp> {
        self.try_call::<_, String>(KvOp::Put {
            key: key.into(),
            value: value.into(),
        })
        .map(drop)
    }

    /// Appends `value` to the value of `key`, unless the transport gives up.
    ///
    /// # Errors
    /// [`GaveUp`]: no answer in time; the append may or may not have taken effect.
    pub fn try_append(&mut self, key: &str, value: &str) -> Result<(), GaveUp> {
        self.try_call::<_, String>(KvOp::Append {
            key: key.into(),
            value: value.into(),
        })
        .map(drop)
    }
}
