//! What every thread of a transport or a client port shares: the stop flag, the open
//! sockets (so that stopping can close them and wake every thread blocked on one), the
//! threads to join, and the accept loop.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stats::{Counter, TcpStats};

/// How often a listener is polled for new connections (and for the stop flag).
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// The threads, sockets and stop flag of one transport or client port.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    stopping: AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    next_socket: u64,
    sockets: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
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

    /// Stops: sets the flag, shuts every tracked socket down and wakes every sleeper.
    pub(crate) fn stop(&self) {
        let mut state = self.state();
        self.stopping.store(true, Ordering::Release);
        for (_, socket) in state.sockets.drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
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

/// Counts open connections; the guard gives its place back when the connection ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections on `listener` until the runtime stops, each on its own thread running
/// `serve`. Past `open_max` open connections a new one is closed at once, counted in
/// `refused_busy`.
pub(crate) fn accept_loop<F>(
    runtime: &Arc<Runtime>,
    listener: &TcpListener,
    stats: &TcpStats,
    open_max: usize,
    name: &str,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
{
    let serve = Arc::new(serve);
    let open = Arc::new(AtomicUsize::new(0));
    let mut last_error: Option<String> = None;
    while !runtime.stopping() {
        match listener.accept() {
            Ok((stream, addr)) => {
                last_error = None;
                if open.load(Ordering::Acquire) >= open_max {
                    stats.count(Counter::RefusedBusy);
                    tracing::warn!(%addr, open_max, "{name}: too many open connections: refused");
                    continue;
                }
                open.fetch_add(1, Ordering::AcqRel);
                let guard = OpenGuard(Arc::clone(&open));
                let serve = Arc::clone(&serve);
                let spawned = runtime.spawn(format!("{name}-conn"), move || {
                    let _guard = guard;
                    serve(stream, addr);
                });
                if let Err(e) = spawned {
                    tracing::warn!(%addr, %e, "{name}: cannot start a connection thread: refused");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                runtime.sleep(ACCEPT_POLL);
            }
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

/// Makes an accepted or dialed socket ready for frames: blocking, no Nagle delay (a
/// heartbeat should leave at once).
pub(crate) fn prepare(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)
}
