//! What every thread of a transport or a client port shares: the stop flag, the open
//! sockets (so that stopping can close them and wake every thread blocked on one), the
//! threads to join, the accept loop with its connection budgets, and the rate limit of
//! warning lines.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::stats::{Counter, TcpStats};

/// How long an accept loop pauses after a failed accept (out of file descriptors, say), and
/// how often it looks at its listener if it has no way to be woken (see
/// [`Runtime::stop_wakes`]).
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// The threads, sockets and stop flag of one transport or client port.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    stopping: AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
    /// The rate limit of its warning lines about strangers.
    pub(crate) warnings: WarnLimit,
}

#[derive(Debug, Default)]
struct State {
    next_socket: u64,
    sockets: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
    /// The write ends of [`Runtime::stop_wakes`]'s socket pairs, closed by stopping.
    wakers: Vec<UnixStream>,
}

/// A socket the runtime knows of: stopping the runtime shuts it down, which wakes any thread
/// blocked reading or writing it. Dropping the handle forgets it.
#[derive(Debug)]
pub(crate) struct Tracked {
    runtime: Arc<Runtime>,
    id: u64,
}

impl Runtime {
    pub(crate) fn new() -> Arc<Runtime> {
        Arc::new(Runtime::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True once [`Runtime::stop`] was called.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sleeps for `pause`, or less if the runtime stops. Returns false if it is stopping.
    pub(crate) fn sleep(&self, pause: Duration) -> bool {
        let state = self.state();
        if self.stopping() {
            return false;
        }
        let _unused = self.wake.wait_timeout(state, pause);
        !self.stopping()
    }

    /// Remembers `stream` so that stopping shuts it down; `None` (and the stream shut down)
    /// if the runtime is already stopping.
    pub(crate) fn track(self: &Arc<Self>, stream: &TcpStream) -> Option<Tracked> {
        let clone = stream.try_clone();
        let mut state = self.state();
        let clone = match clone {
            Ok(clone) if !self.stopping() => clone,
            _ => {
                let _ = stream.shutdown(Shutdown::Both);
                return None;
            }
        };
        let id = state.next_socket;
        state.next_socket += 1;
        state.sockets.insert(id, clone);
        Some(Tracked {
            runtime: Arc::clone(self),
            id,
        })
    }

    /// A socket that turns readable (end of stream) when the runtime stops, for a thread that
    /// waits in poll(2) on it beside what it serves: the read end of a socket pair whose
    /// write end stopping closes. Already readable if the runtime is stopping.
    ///
    /// # Errors
    /// The pair could not be made (out of file descriptors).
    pub(crate) fn stop_wakes(&self) -> io::Result<UnixStream> {
        let (read, write) = UnixStream::pair()?;
        let mut state = self.state();
        if self.stopping() {
            drop(write);
        } else {
            state.wakers.push(write);
        }
        Ok(read)
    }

    /// Starts a thread that stopping will join; refused once the runtime is stopping.
    pub(crate) fn spawn(&self, name: String, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut state = self.state();
        if self.stopping() {
            return Err(io::Error::other("stopping"));
        }
        // Join the threads that have finished, so the list stays as short as what runs.
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut state.threads)
            .into_iter()
            .partition(JoinHandle::is_finished);
        state.threads = running;
        for thread in done {
            let _ = thread.join();
        }
        let thread = std::thread::Builder::new().name(name).spawn(body)?;
        state.threads.push(thread);
        Ok(())
    }

    /// Shuts down the tracked socket with `id`, if it is still open.
    pub(crate) fn close_socket(&self, id: u64) {
        if let Some(socket) = self.state().sockets.get(&id) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Stops: sets the flag, shuts every tracked socket down and wakes every sleeper and
    /// every accept loop.
    pub(crate) fn stop(&self) {
        let mut state = self.state();
        self.stopping.store(true, Ordering::Release);
        for (_, socket) in state.sockets.drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        state.wakers.clear();
        drop(state);
        self.wake.notify_all();
    }

    /// Stops and joins every thread (threads started by threads included).
    pub(crate) fn stop_and_join(&self) {
        self.stop();
        loop {
            let threads = std::mem::take(&mut self.state().threads);
            if threads.is_empty() {
                return;
            }
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

impl Tracked {
    /// Shuts the socket down: the threads reading and writing it see it closed.
    pub(crate) fn close(&self) {
        self.runtime.close_socket(self.id);
    }

    /// The id under which the runtime tracks the socket.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.runtime.state().sockets.remove(&self.id);
    }
}

/// How many connections one listener serves at once. A connection is first *handshaking*
/// (it has proved nothing yet), then *authenticated*; each kind has its own budget, so that
/// strangers, who never get past the handshake, cannot take the places of the peers or
/// clients who do.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budgets {
    /// The most connections in their handshake at once. When a new connection finds them
    /// all taken, the oldest is closed to make room (counted in `evicted_handshakes`): a
    /// stranger holding every place cannot keep out a peer, whose handshake takes a round
    /// trip or two, unless it opens this many connections within that time.
    pub(crate) handshaking: usize,
    /// The most authenticated connections at once; past it a newly authenticated one is
    /// closed (counted in `refused_busy`).
    pub(crate) authenticated: usize,
}

/// The places of one listener's connections.
#[derive(Debug, Default)]
struct Places {
    next: u64,
    /// The connections in their handshake, oldest first: place number to tracked socket id.
    handshaking: BTreeMap<u64, u64>,
    /// Connections closed to make room whose thread has not ended yet.
    evicted: usize,
    authenticated: usize,
}

fn lock(places: &Mutex<Places>) -> MutexGuard<'_, Places> {
    places.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a connection stands in its listener's budgets; gives its place back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    places: Arc<Mutex<Places>>,
    number: u64,
    stage: Stage,
    max_authenticated: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Counted in `handshaking`, or in `evicted` once it is no longer there.
    Handshaking,
    /// Counted in `authenticated`.
    Authenticated,
    /// Counted nowhere.
    Released,
}

impl Place {
    /// The handshake succeeded: moves the connection to the authenticated budget. False if
    /// that is full, or if the connection was evicted meanwhile: then close it.
    pub(crate) fn authenticated(&mut self) -> bool {
        if self.stage != Stage::Handshaking {
            return self.stage == Stage::Authenticated;
        }
        let mut places = lock(&self.places);
        if places.handshaking.remove(&self.number).is_none() {
            return false; // evicted: `evicted` still counts it, until the drop
        }
        if places.authenticated >= self.max_authenticated {
            self.stage = Stage::Released;
            return false;
        }
        places.authenticated += 1;
        self.stage = Stage::Authenticated;
        true
    }

    /// Whether the connection was closed to make room for a newer one (its failed handshake
    /// is then no refusal of its own: the eviction was counted).
    pub(crate) fn evicted(&self) -> bool {
        self.stage == Stage::Handshaking && !lock(&self.places).handshaking.contains_key(&self.number)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut places = lock(&self.places);
        match self.stage {
            Stage::Handshaking => {
                if places.handshaking.remove(&self.number).is_none() {
                    places.evicted = places.evicted.saturating_sub(1);
                }
            }
            Stage::Authenticated => places.authenticated = places.authenticated.saturating_sub(1),
            Stage::Released => {}
        }
    }
}

/// A connection the accept loop took, for its serving thread.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) addr: SocketAddr,
    /// The socket, tracked (stopping the runtime, or an eviction, shuts it down).
    pub(crate) tracked: Tracked,
    /// Its place in the budgets.
    pub(crate) place: Place,
}

/// The least time between two warning lines for the same reason.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Rate-limits warning lines about what strangers do (refused handshakes, a full listener):
/// at most one line per reason per [`WARN_INTERVAL`], each saying how many were left out
/// since the last. A flood of connections must not become a flood of log lines.
#[derive(Debug, Default)]
pub(crate) struct WarnLimit {
    reasons: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl WarnLimit {
    /// Whether a line for `reason` may be written now: `Some(lines left out since the last
    /// one)`, or `None` (this one is left out, and counted).
    pub(crate) fn allow(&self, reason: &'static str) -> Option<u64> {
        self.allow_at(reason, Instant::now())
    }

    fn allow_at(&self, reason: &'static str, now: Instant) -> Option<u64> {
        let mut reasons = self.reasons.lock().unwrap_or_else(|e| e.into_inner());
        match reasons.get_mut(reason) {
            Some((last, left_out)) if now.saturating_duration_since(*last) < WARN_INTERVAL => {
                *left_out = left_out.saturating_add(1);
                None
            }
            Some((last, left_out)) => {
                *last = now;
                Some(std::mem::take(left_out))
            }
            None => {
                reasons.insert(reason, (now, 0));
                Some(0)
            }
        }
    }
}

/// Accepts connections on `listener` (non-blocking) until the runtime stops, each on its own
/// thread running `serve`, within `budgets` (see [`Budgets`]): a connection that finds every
/// handshake place taken evicts the oldest handshaking one, unless as many evicted ones are
/// still winding down, in which case it is closed at once (counted in `refused_busy`).
/// Between connections it waits in poll(2) with no timer: a connection or the stop wakes it.
pub(crate) fn accept_loop<F>(
    runtime: &Arc<Runtime>,
    listener: &TcpListener,
    stats: &TcpStats,
    budgets: Budgets,
    name: &str,
    serve: F,
) where
    F: Fn(Accepted) + Send + Sync + 'static,
{
    let serve = Arc::new(serve);
    let places = Arc::new(Mutex::new(Places::default()));
    let handshaking_max = budgets.handshaking.max(1);
    let mut last_error: Option<String> = None;
    let stop_wakes = match runtime.stop_wakes() {
        Ok(wakes) => Some(wakes),
        Err(e) => {
            tracing::warn!(%e, "{name}: no socket pair to wake the accept loop: it polls every {ACCEPT_POLL:?} instead");
            None
        }
    };
    while !runtime.stopping() {
        if wait_for_connection(listener, stop_wakes.as_ref()).is_err() {
            runtime.sleep(ACCEPT_POLL);
        }
        match listener.accept() {
            Ok((stream, addr)) => {
                last_error = None;
                // Not tracked (the runtime is stopping, or the socket cannot be cloned): it was
                // shut down.
                let Some(tracked) = runtime.track(&stream) else {
                    continue;
                };
                let mut evict = None;
                let number = {
                    let mut places = lock(&places);
                    if places.handshaking.len() >= handshaking_max {
                        if places.evicted >= handshaking_max {
                            drop(places);
                            stats.count(Counter::RefusedBusy);
                            if let Some(left_out) = runtime.warnings.allow("busy") {
                                tracing::warn!(%addr, handshaking = handshaking_max, left_out, "{name}: too many connections in their handshake: refused");
                            }
                            continue;
                        }
                        evict = places.handshaking.pop_first().map(|(_, socket)| socket);
                        places.evicted += 1;
                    }
                    let number = places.next;
                    places.next += 1;
                    places.handshaking.insert(number, tracked.id());
                    number
                };
                if let Some(socket) = evict {
                    runtime.close_socket(socket);
                    stats.count(Counter::EvictedHandshakes);
                    if let Some(left_out) = runtime.warnings.allow("evicted") {
                        tracing::warn!(%addr, handshaking = handshaking_max, left_out, "{name}: every handshake place is taken: the oldest handshake is closed to make room");
                    }
                }
                let accepted = Accepted {
                    stream,
                    addr,
                    tracked,
                    place: Place {
                        places: Arc::clone(&places),
                        number,
                        stage: Stage::Handshaking,
                        max_authenticated: budgets.authenticated,
                    },
                };
                let serve = Arc::clone(&serve);
                let spawned = runtime.spawn(format!("{name}-conn"), move || serve(accepted));
                if let Err(e) = spawned {
                    tracing::warn!(%addr, %e, "{name}: cannot start a connection thread: refused");
                }
            }
            // Woken by the stop, or the connection went away before it was taken.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors, say: say so once, and keep trying.
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::error!(error = %text, "{name}: accept failed");
                    last_error = Some(text);
                }
                runtime.sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Waits in poll(2) until `listener` (non-blocking) has a connection to accept or
/// `stop_wakes` turns readable (the runtime stops); without `stop_wakes`, at most
/// [`ACCEPT_POLL`]. Interrupted by a signal, it returns too: the caller's accept then finds
/// nothing and it waits again.
///
/// # Errors
/// poll(2) failed otherwise (out of memory, say): the caller pauses before it goes on.
fn wait_for_connection(listener: &TcpListener, stop_wakes: Option<&UnixStream>) -> nix::Result<()> {
    let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let timeout = match stop_wakes {
        Some(wakes) => {
            fds.push(PollFd::new(wakes.as_fd(), PollFlags::POLLIN));
            PollTimeout::NONE
        }
        None => PollTimeout::try_from(ACCEPT_POLL).unwrap_or(PollTimeout::MAX),
    };
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes an accepted or dialed socket ready for frames: blocking, no Nagle delay (a
/// heartbeat should leave at once).
pub(crate) fn prepare(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_limited_to_one_line_per_reason_per_interval() {
        let limit = WarnLimit::default();
        let start = Instant::now();
        assert_eq!(limit.allow_at("busy", start), Some(0));
        for i in 1..100 {
            assert_eq!(limit.allow_at("busy", start + Duration::from_millis(i)), None);
        }
        // Another reason has its own line.
        assert_eq!(limit.allow_at("auth", start), Some(0));
        // A second later, one line, saying how many were left out.
        assert_eq!(limit.allow_at("busy", start + WARN_INTERVAL), Some(99));
        assert_eq!(limit.allow_at("busy", start + WARN_INTERVAL), None);
        assert_eq!(limit.allow_at("busy", start + WARN_INTERVAL * 3), Some(1));
    }

    #[test]
    fn an_accept_loop_serves_a_connection_and_ends_when_the_runtime_stops() {
        const WAIT_MAX: Duration = Duration::from_secs(10);
        let runtime = Runtime::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("its address");
        let (served_tx, served) = std::sync::mpsc::channel();
        let (ended_tx, ended) = std::sync::mpsc::channel();
        let loop_runtime = Arc::clone(&runtime);
        runtime
            .spawn("test-accept".into(), move || {
                let stats = TcpStats::new();
                let budgets = Budgets {
                    handshaking: 4,
                    authenticated: 4,
                };
                accept_loop(
                    &loop_runtime,
                    &listener,
                    &stats,
                    budgets,
                    "test",
                    move |accepted| {
                        let _ = served_tx.send(accepted.addr);
                    },
                );
                let _ = ended_tx.send(());
            })
            .expect("the accept thread starts");
        // Woken by a connection.
        let client = TcpStream::connect(addr).expect("connects");
        let served = served.recv_timeout(WAIT_MAX).expect("the connection is served");
        assert_eq!(served, client.local_addr().expect("the client's address"));
        // Woken by the stop (that its wait has no timer is the next test's).
        std::thread::sleep(Duration::from_millis(50));
        assert!(ended.try_recv().is_err(), "the loop waits while nothing happens");
        runtime.stop();
        ended
            .recv_timeout(WAIT_MAX)
            .expect("stopping ends the accept loop");
        runtime.stop_and_join();
    }

    #[test]
    fn with_a_stop_wake_the_wait_has_no_timer() {
        let runtime = Runtime::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let wakes = runtime.stop_wakes().expect("a socket pair");
        let (ended_tx, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = ended_tx.send(wait_for_connection(&listener, Some(&wakes)));
        });
        // Ten times the pause of a loop without a wake: a timer would have ended the wait.
        std::thread::sleep(ACCEPT_POLL * 10);
        assert!(
            ended.try_recv().is_err(),
            "the wait ended with nothing to accept and no stop"
        );
        runtime.stop();
        let waited = ended
            .recv_timeout(Duration::from_secs(10))
            .expect("stopping ends the wait");
        assert!(waited.is_ok(), "poll failed: {waited:?}");
    }

    #[test]
    fn the_stop_wake_of_a_stopped_runtime_is_readable_at_once() {
        let runtime = Runtime::new();
        let before = runtime.stop_wakes().expect("a socket pair");
        runtime.stop();
        let after = runtime.stop_wakes().expect("a socket pair");
        for wakes in [before, after] {
            let mut fds = [PollFd::new(wakes.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut fds, PollTimeout::ZERO).expect("poll");
            assert_eq!(ready, 1, "the wake socket is readable once the runtime stopped");
        }
    }

    fn place(places: &Arc<Mutex<Places>>, number: u64, max_authenticated: usize) -> Place {
        lock(places).handshaking.insert(number, number);
        Place {
            places: Arc::clone(places),
            number,
            stage: Stage::Handshaking,
            max_authenticated,
        }
    }

    #[test]
    fn places_move_between_budgets_and_are_given_back() {
        let places = Arc::new(Mutex::new(Places::default()));
        let mut first = place(&places, 1, 1);
        let mut second = place(&places, 2, 1);
        assert!(first.authenticated());
        assert!(first.authenticated(), "asking again changes nothing");
        assert!(!second.authenticated(), "the authenticated budget is full");
        {
            let places = lock(&places);
            assert_eq!((places.handshaking.len(), places.authenticated), (0, 1));
        }
        drop(second);
        drop(first);
        assert_eq!(lock(&places).authenticated, 0);
        // An evicted place is counted as winding down until its connection ends.
        let mut third = place(&places, 3, 1);
        {
            let mut places = lock(&places);
            places.handshaking.remove(&3);
            places.evicted += 1;
        }
        assert!(third.evicted());
        assert!(!third.authenticated(), "an evicted connection is closed");
        drop(third);
        let places = lock(&places);
        assert_eq!(
            (places.handshaking.len(), places.evicted, places.authenticated),
            (0, 0, 0)
        );
    }
}
