//! The [`Network`]: ends, servers, the registry of calls in flight, and the call path.
//!
//! One mutex guards the network's tables, its flags, its random source and the registry of
//! calls in flight. It is held only to decide: no handler and no completion ever runs under
//! it, since both may call back into the network. The life of a call:
//!
//! 1. [`Inner::start_call`] counts the call, and under the lock either picks a dead-end
//!    delay (end disabled or unconnected, server missing) or registers the call in flight
//!    with the flags of this moment and draws the request's [`fault::RequestFate`].
//! 2. With no delay, the handler runs right there, on the caller's thread; otherwise a timer
//!    task runs it (or drops the request) when the delay is over.
//! 3. The handler answers through its responder, now or later from any thread:
//!    [`Inner::finish_call`] takes the call out of the registry (first taker wins), checks
//!    that the server is still alive, draws the reply's [`fault::ReplyFate`], and completes
//!    the call on the answering thread or, when reordered, from a timer task.
//!
//! Disabling an end, deleting or replacing a server, and [`Network::cleanup`] take the
//! affected calls out of the registry and fail them at once, which is when labrpc's 100 ms
//! `isServerDead` poll would have noticed. So the completion of every call runs exactly once.

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::client::{ClientEnd, Completion, Reply};
use crate::error::{CallError, NetworkError};
use crate::fault::{self, ReplyFate};
use crate::server::{RawResponder, Server};
use crate::timer::Timer;

/// Name of the network's timer thread (at most 15 bytes, the Linux limit).
pub const TIMER_THREAD_NAME: &str = "labrpc-timer";

/// A simulated network of client ends and servers, with labrpc's faults.
///
/// A cheap handle: clones share one network. When the last handle is dropped the network is
/// [cleaned up](Network::cleanup). [`ClientEnd`]s do not keep it alive: their calls fail
/// once it is gone. A handler should hold `ClientEnd`s rather than a `Network`, or the
/// network keeps itself alive until `cleanup` is called.
#[derive(Clone)]
pub struct Network {
    owner: Arc<Owner>,
}

/// Shared by every `Network` clone; cleans the network up when the last one goes.
struct Owner {
    inner: Arc<Inner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.inner.cleanup();
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner().lock();
        f.debug_struct("Network")
            .field("reliable", &state.reliable)
            .field("long_reordering", &state.long_reordering)
            .field("long_delays", &state.long_delays)
            .field("ends", &state.ends.len())
            .field("servers", &state.servers.len())
            .field("calls_in_flight", &state.in_flight.len())
            .field("cleaned_up", &state.cleaned_up)
            .finish()
    }
}

impl Network {
    /// Makes a reliable network whose faults are seeded from the clock.
    pub fn new() -> Network {
        static NETWORKS_MADE: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        let made = NETWORKS_MADE.fetch_add(1, Ordering::Relaxed);
        Network::with_seed(nanos ^ made.rotate_left(32))
    }

    /// Makes a reliable network whose every fault decision comes from one `SmallRng` seeded
    /// with `seed`. (Thread scheduling still orders the draws, so a run with real threads is
    /// not replayed bit for bit; the fault functions in [`fault`] are what a simulator reuses.)
    pub fn with_seed(seed: u64) -> Network {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                cleaned_up: false,
                reliable: true,
                long_reordering: false,
                long_delays: false,
                rng: SmallRng::seed_from_u64(seed),
                end_ids: HashMap::new(),
                ends: Vec::new(),
                servers: HashMap::new(),
                next_server_id: 0,
                in_flight: HashMap::new(),
                next_call_id: 0,
            }),
            timer: Timer::new(),
            total_count: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
        });
        let timer_inner = Arc::clone(&inner);
        // The thread holds the network until cleanup shuts the timer down; it is never joined,
        // so cleanup cannot deadlock on a task that waits for the cleaning thread.
        let spawned = thread::Builder::new()
            .name(TIMER_THREAD_NAME.to_owned())
            .spawn(move || run_timer_thread(timer_inner));
        if let Err(why) = spawned {
            panic!("labrpc: cannot start the timer thread: {why}");
        }
        Network {
            owner: Arc::new(Owner { inner }),
        }
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.owner.inner
    }

    /// Turns request/reply drops and short request delays off (`true`, the default) or on.
    pub fn set_reliable(&self, reliable: bool) {
        self.inner().lock().reliable = reliable;
    }

    /// Turns long reordering of replies (2/3 of them delayed 200..=2199 ms) on or off.
    pub fn set_long_reordering(&self, on: bool) {
        self.inner().lock().long_reordering = on;
    }

    /// Makes calls through dead ends fail after 0..=6999 ms (`true`) or 0..=99 ms (`false`).
    pub fn set_long_delays(&self, on: bool) {
        self.inner().lock().long_delays = on;
    }

    /// Makes a client end named `name`, disabled and unconnected.
    ///
    /// # Errors
    /// [`NetworkError::DuplicateEnd`] if an end of that name exists.
    pub fn make_end(&self, name: impl Into<String>) -> Result<ClientEnd, NetworkError> {
        let name = name.into();
        let mut state = self.inner().lock();
        if state.end_ids.contains_key(&name) {
            return Err(NetworkError::DuplicateEnd(name));
        }
        let end_id = state.ends.len();
        state.ends.push(EndState {
            enabled: false,
            server_name: None,
        });
        state.end_ids.insert(name.clone(), end_id);
        drop(state);
        Ok(ClientEnd::new(Arc::clone(self.inner()), end_id, name.into()))
    }

    /// Adds `server` as `name`. A server already of that name is replaced by this new
    /// instance: calls in flight to the old one fail, and [`Network::count`] starts at 0.
    pub fn add_server(&self, name: impl Into<String>, server: Server) {
        let name = name.into();
        let mut state = self.inner().lock();
        if state.cleaned_up {
            drop(state);
            return; // `server` is dropped here, outside the lock.
        }
        let id = state.next_server_id;
        state.next_server_id += 1;
        let instance = ServerInstance {
            name: name.clone(),
            id,
            server,
            count: AtomicU64::new(0),
        };
        let old = state.servers.insert(name, Arc::new(instance));
        let killed = match &old {
            Some(old) => state.take_calls(|call| call.server.id == old.id),
            None => Vec::new(),
        };
        drop(state);
        fail_all(killed);
        drop(old);
    }

    /// Deletes server `name`: calls in flight to it fail, later calls fail as through a
    /// dead end.
    pub fn delete_server(&self, name: &str) {
        let mut state = self.inner().lock();
        let old = state.servers.remove(name);
        let killed = match &old {
            Some(old) => state.take_calls(|call| call.server.id == old.id),
            None => Vec::new(),
        };
        drop(state);
        fail_all(killed);
        drop(old);
    }

    /// Connects end `end_name` to server `server_name` (which need not exist yet). An
    /// unknown end name is ignored.
    pub fn connect(&self, end_name: &str, server_name: &str) {
        let mut state = self.inner().lock();
        if let Some(&end_id) = state.end_ids.get(end_name) {
            state.ends[end_id].server_name = Some(server_name.to_owned());
        }
    }

    /// Enables or disables end `end_name`. Disabling fails the calls in flight through it.
    /// An unknown end name is ignored.
    pub fn enable(&self, end_name: &str, enabled: bool) {
        let mut state = self.inner().lock();
        let Some(&end_id) = state.end_ids.get(end_name) else {
            return;
        };
        state.ends[end_id].enabled = enabled;
        let killed = if enabled {
            Vec::new()
        } else {
            state.take_calls(|c| c.end_id == end_id)
        };
        drop(state);
        fail_all(killed);
    }

    /// The number of calls that reached a handler of server `server_name` since it was
    /// added (0 if there is no such server).
    pub fn count(&self, server_name: &str) -> u64 {
        let state = self.inner().lock();
        state
            .servers
            .get(server_name)
            .map_or(0, |s| s.count.load(Ordering::Relaxed))
    }

    /// The number of calls that entered the network, delivered or not.
    pub fn total_count(&self) -> u64 {
        self.inner().total_count.load(Ordering::Relaxed)
    }

    /// Request bytes of every call that entered the network, plus reply bytes of every
    /// reply delivered.
    pub fn total_bytes(&self) -> u64 {
        self.inner().total_bytes.load(Ordering::Relaxed)
    }

    /// Shuts the network down: the timer thread exits, every pending call fails, later
    /// calls fail at once, and the servers are dropped. Idempotent.
    pub fn cleanup(&self) {
        self.inner().cleanup();
    }
}

/// The timer thread: runs each task when due, until the network is cleaned up. A panicking
/// handler or callback (a bug in it) is reported by the panic hook and does not stop the
/// timer, which other calls still need.
fn run_timer_thread(inner: Arc<Inner>) {
    while let Some(task) = inner.timer.next_due() {
        let _ = catch_unwind(AssertUnwindSafe(|| inner.run_task(task)));
    }
}

/// Fails the given calls; called after the network's lock has been released.
fn fail_all(calls: impl IntoIterator<Item = CallInFlight>) {
    for call in calls {
        call.done.complete(Err(CallError::Failed));
    }
}

/// The shared body of a network, reached from `Network`, `ClientEnd`s, responders and the
/// timer thread.
pub(crate) struct Inner {
    state: Mutex<State>,
    timer: Timer<Task>,
    total_count: AtomicU64,
    total_bytes: AtomicU64,
}

/// Everything the lock guards.
struct State {
    cleaned_up: bool,
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    rng: SmallRng,
    end_ids: HashMap<String, usize>,
    /// Indexed by end id; ends are never removed.
    ends: Vec<EndState>,
    servers: HashMap<String, Arc<ServerInstance>>,
    next_server_id: u64,
    /// Calls whose handler has not answered yet (including requests still delayed).
    in_flight: HashMap<u64, CallInFlight>,
    next_call_id: u64,
}

struct EndState {
    enabled: bool,
    server_name: Option<String>,
}

/// One `add_server`: a server and the count of calls that reached it.
pub(crate) struct ServerInstance {
    name: String,
    id: u64,
    server: Server,
    count: AtomicU64,
}

struct CallInFlight {
    end_id: usize,
    server: Arc<ServerInstance>,
    /// Flags sampled when the call started.
    reliable: bool,
    long_reordering: bool,
    done: Completion,
}

/// A delayed step of the network.
enum Task {
    /// Complete a call: a reply after its reordering delay, or a dead end's failure.
    Complete { done: Completion, reply: Reply },
    /// A request's delay is over: drop it, or run its handler.
    Deliver {
        call_id: u64,
        server: Arc<ServerInstance>,
        svc_meth: String,
        args: Vec<u8>,
        dropped: bool,
    },
}

impl State {
    /// The server a call through `end_id` reaches now, if the end is enabled and connected
    /// and the server exists.
    fn live_target(&self, end_id: usize) -> Option<&Arc<ServerInstance>> {
        let end = self.ends.get(end_id)?;
        if !end.enabled {
            return None;
        }
        self.servers.get(end.server_name.as_deref()?)
    }

    /// labrpc's `isServerDead`: the end was disabled, or the server's name no longer maps
    /// to the instance the call was sent to.
    fn is_dead(&self, call: &CallInFlight) -> bool {
        let end_enabled = self.ends.get(call.end_id).is_some_and(|end| end.enabled);
        let same_server = self
            .servers
            .get(&call.server.name)
            .is_some_and(|s| s.id == call.server.id);
        !end_enabled || !same_server
    }

    /// Removes the calls in flight that match `kill` and returns them whole, so that the
    /// caller fails them, and drops what they hold, after releasing the lock.
    fn take_calls(&mut self, kill: impl Fn(&CallInFlight) -> bool) -> Vec<CallInFlight> {
        let ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, c)| kill(c))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.in_flight.remove(&id))
            .collect()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only this module's short decisions run under the lock, never user code, so a
        // poisoned lock still holds consistent tables.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends one call through end `end_id`; `done` runs exactly once with the reply bytes
    /// or the failure.
    pub(crate) fn start_call(
        self: &Arc<Self>,
        end_id: usize,
        svc_meth: &str,
        args: Vec<u8>,
        done: Completion,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.cleaned_up {
            drop(guard);
            return done.complete(Err(CallError::Failed));
        }
        self.total_count.fetch_add(1, Ordering::Relaxed);
        self.total_bytes.fetch_add(args.len() as u64, Ordering::Relaxed);
        let Some(server) = state.live_target(end_id).cloned() else {
            let delay_ms = fault::dead_end_delay_ms(&mut state.rng, state.long_delays);
            drop(guard);
            return self.complete_later(delay_ms, done, Err(CallError::Failed));
        };
        let fate = fault::request_fate(&mut state.rng, state.reliable);
        let call_id = state.next_call_id;
        state.next_call_id += 1;
        let call = CallInFlight {
            end_id,
            server: Arc::clone(&server),
            reliable: state.reliable,
            long_reordering: state.long_reordering,
            done,
        };
        state.in_flight.insert(call_id, call);
        drop(guard);
        if fate.delay_ms > 0 {
            let svc_meth = svc_meth.to_owned();
            let task = Task::Deliver {
                call_id,
                server,
                svc_meth,
                args,
                dropped: fate.dropped,
            };
            if self.timer.schedule(fate.delay_ms, task).is_err() {
                self.abandon_call(call_id); // cleaned up meanwhile
            }
        } else if fate.dropped {
            self.abandon_call(call_id);
        } else {
            self.dispatch(&server, svc_meth, &args, call_id);
        }
    }

    /// Runs the handler of a delivered request. Like labrpc, this runs even if the call was
    /// failed meanwhile (end disabled, server killed during the request delay): the
    /// handler's effects happen, its answer is discarded.
    fn dispatch(self: &Arc<Self>, server: &ServerInstance, svc_meth: &str, args: &[u8], call_id: u64) {
        server.count.fetch_add(1, Ordering::Relaxed);
        server
            .server
            .dispatch(svc_meth, args, RawResponder::new(Arc::clone(self), call_id));
    }

    /// The handler of call `call_id` answered: unless the call is already over, decide the
    /// reply's fate and complete the call now or later.
    pub(crate) fn finish_call(&self, call_id: u64, reply: Reply) {
        let mut state = self.lock();
        let Some(call) = state.in_flight.remove(&call_id) else {
            return;
        };
        let fate = if state.is_dead(&call) {
            ReplyFate::Dropped
        } else {
            fault::reply_fate(&mut state.rng, call.reliable, call.long_reordering)
        };
        drop(state);
        match fate {
            ReplyFate::Dropped => call.done.complete(Err(CallError::Failed)),
            ReplyFate::Delivered { delay_ms } => self.complete_later(delay_ms, call.done, reply),
        }
    }

    /// Fails call `call_id` at once, if it is still in flight: its request was dropped, or
    /// its responder was dropped unanswered.
    pub(crate) fn abandon_call(&self, call_id: u64) {
        let call = self.lock().in_flight.remove(&call_id);
        if let Some(call) = call {
            call.done.complete(Err(CallError::Failed));
        }
    }

    /// Completes a call with `reply` after `delay_ms` (at once if 0), counting delivered
    /// reply bytes at delivery.
    fn complete_later(&self, delay_ms: u64, done: Completion, reply: Reply) {
        if delay_ms == 0 {
            return self.deliver(done, reply);
        }
        if let Err(Task::Complete { done, .. }) =
            self.timer.schedule(delay_ms, Task::Complete { done, reply })
        {
            done.complete(Err(CallError::Failed)); // cleaned up meanwhile
        }
    }

    fn deliver(&self, done: Completion, reply: Reply) {
        if let Ok(bytes) = &reply {
            self.total_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        done.complete(reply);
    }

    fn run_task(self: &Arc<Self>, task: Task) {
        match task {
            Task::Complete { done, reply } => self.deliver(done, reply),
            Task::Deliver {
                call_id,
                dropped: true,
                ..
            } => self.abandon_call(call_id),
            Task::Deliver {
                call_id,
                server,
                svc_meth,
                args,
                dropped: false,
            } => {
                self.dispatch(&server, &svc_meth, &args, call_id);
            }
        }
    }

    /// See [`Network::cleanup`].
    fn cleanup(&self) {
        let mut state = self.lock();
        state.cleaned_up = true;
        let calls = std::mem::take(&mut state.in_flight);
        let servers = std::mem::take(&mut state.servers);
        drop(state);
        let tasks = self.timer.shut_down();
        fail_all(calls.into_values());
        for task in tasks {
            if let Task::Complete { done, .. } = task {
                done.complete(Err(CallError::Failed));
            }
        }
        drop(servers);
    }
}
