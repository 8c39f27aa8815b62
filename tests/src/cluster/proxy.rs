//! A TCP proxy for one directed link between two processes, which a test controls.
//!
//! Node `i` dials node `j` through the proxy of the link `i -> j`: the proxy listens on a free
//! loopback port, and forwards every connection it accepts to `j`'s listening address, bytes
//! both ways, one thread per direction. The test sets the link's [`LinkState`]:
//! - [`LinkState::Pass`]: bytes go through as they come;
//! - [`LinkState::Cut`]: every open connection is closed at once, and a new one is closed as
//!   soon as it is accepted (what a dialer sees of a partition: resets and refusals, then a
//!   reconnect once the link heals);
//! - [`LinkState::Delay`]: every chunk read from now on is written that much later (latency,
//!   not a throughput limit: chunks queue meanwhile, bounded).
//!
//! Everything is bounded: at most [`PROXY_CONNECTIONS_MAX`] connections at a time, at most
//! [`PROXY_QUEUE_BYTES_MAX`] delayed bytes per direction (reading stops meanwhile, which is
//! TCP's own back-pressure). Dropping the proxy closes its listener and every connection and
//! joins every thread it started.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The most connections one proxy carries at once; more are closed at accept.
pub const PROXY_CONNECTIONS_MAX: usize = 64;

/// The most bytes one direction of a connection holds back under [`LinkState::Delay`].
pub const PROXY_QUEUE_BYTES_MAX: usize = 4 << 20;

/// How long the proxy waits for the target to accept a forwarded connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the acceptor looks for a stop while no connection arrives.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// Bytes read at a time.
const CHUNK_BYTES: usize = 64 << 10;

/// What a link does to the bytes that cross it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Bytes go through as they come.
    Pass,
    /// No connection survives: open ones are closed, new ones closed at accept.
    Cut,
    /// Bytes go through this much later.
    Delay(Duration),
}

/// What a proxy has done so far, for tests and summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections forwarded to the target.
    pub forwarded: u64,
    /// Connections closed at accept: link cut, target unreachable, or too many connections.
    pub refused: u64,
    /// Open connections closed by a cut.
    pub severed: u64,
    /// Bytes written on, both directions together.
    pub bytes: u64,
}

/// One forwarded connection: both sockets (to close them on a cut or a drop) and its two
/// direction threads.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    threads: Vec<JoinHandle<()>>,
}

impl Conn {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    fn finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    fn join(self) {
        self.close();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// What the acceptor, the direction threads and the handle share.
struct Shared {
    target: SocketAddr,
    state: Mutex<LinkState>,
    conns: Mutex<Vec<Conn>>,
    stop: AtomicBool,
    forwarded: AtomicU64,
    refused: AtomicU64,
    severed: AtomicU64,
    bytes: AtomicU64,
}

impl Shared {
    fn state(&self) -> LinkState {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conns(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A proxy for one directed link; see the [module](self) documentation.
pub struct LinkProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl LinkProxy {
    /// Starts a proxy on a free loopback port that forwards to `target`, in state
    /// [`LinkState::Pass`].
    ///
    /// # Errors
    /// If the listening socket cannot be made or the acceptor thread cannot be started.
    pub fn start(target: SocketAddr) -> io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            state: Mutex::new(LinkState::Pass),
            conns: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            severed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("proxy-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(LinkProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where the proxy listens: what the dialer is given instead of the target's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    #[must_use]
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// The link's state now.
    #[must_use]
    pub fn state(&self) -> LinkState {
        self.shared.state()
    }

    /// Sets the link's state. Cutting closes every open connection before returning.
    pub fn set(&self, state: LinkState) {
        *self.shared.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        if state == LinkState::Cut {
            for conn in self.shared.conns().iter() {
                if !conn.finished() {
                    self.shared.severed.fetch_add(1, Ordering::Relaxed);
                }
                conn.close();
            }
        }
    }

    /// Cuts the link ([`LinkState::Cut`]).
    pub fn cut(&self) {
        self.set(LinkState::Cut);
    }

    /// Heals the link ([`LinkState::Pass`]).
    pub fn heal(&self) {
        self.set(LinkState::Pass);
    }

    /// What the proxy has done so far.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            forwarded: self.shared.forwarded.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
            severed: self.shared.severed.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
        }
    }

    /// Connections open now (both direction threads not yet done).
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.conns().iter().filter(|c| !c.finished()).count()
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let conns: Vec<Conn> = self.shared.conns().drain(..).collect();
        for conn in &conns {
            conn.close();
        }
        for conn in conns {
            conn.join();
        }
    }
}

impl std::fmt::Debug for LinkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkProxy")
            .field("addr", &self.addr)
            .field("target", &self.shared.target)
            .field("state", &self.state())
            .finish()
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if let Err(err) = forward(client, shared) {
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(target = %shared.target, "proxy closed a connection at accept: {err}");
                }
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => {
                // Out of descriptors, say: wait and go on rather than spin.
                tracing::warn!(target = %shared.target, "proxy accept failed: {err}");
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Connects an accepted client to the target and starts its two direction threads, or says
/// why the client is closed instead (the client socket is dropped on return).
fn forward(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    if shared.state() == LinkState::Cut {
        return Err(io::Error::other("link cut"));
    }
    {
        let mut conns = shared.conns();
        // Joining a finished connection's threads returns at once.
        let (done, open): (Vec<Conn>, Vec<Conn>) = conns.drain(..).partition(Conn::finished);
        *conns = open;
        for conn in done {
            conn.join();
        }
        if conns.len() >= PROXY_CONNECTIONS_MAX {
            return Err(io::Error::other("too many connections"));
        }
    }
    client.set_nonblocking(false)?;
    client.set_nodelay(true)?;
    let upstream = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT)?;
    upstream.set_nodelay(true)?;
    // The state is checked again and the connection registered under the lock a cut takes
    // after setting the state: either the cut sees this connection, or this sees the cut.
    let mut conns = shared.conns();
    if shared.state() == LinkState::Cut {
        return Err(io::Error::other("link cut"));
    }
    let mut threads = Vec::with_capacity(2);
    for (from, to, name) in [
        (client.try_clone()?, upstream.try_clone()?, "out"),
        (upstream.try_clone()?, client.try_clone()?, "back"),
    ] {
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("proxy-{name}"))
            .spawn(move || pump(from, to, &shared));
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                let conn = Conn {
                    client,
                    upstream,
                    threads,
                };
                conn.join();
                return Err(err);
            }
        }
    }
    conns.push(Conn {
        client,
        upstream,
        threads,
    });
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// One direction of a connection: reads chunks from `from`, holds each until it is due (now,
/// or later under [`LinkState::Delay`]), writes it to `to`. Ends when either side closes or
/// fails, or the link is cut; then closes both sockets so that the other direction ends too.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut queued_bytes = 0usize;
    let mut eof = false;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let result: io::Result<()> = loop {
        if shared.stop.load(Ordering::SeqCst) || shared.state() == LinkState::Cut {
            break Ok(());
        }
        let now = Instant::now();
        let mut failed = None;
        while let Some((due, _)) = queue.front()
            && *due <= now
        {
            let (_, chunk) = queue.pop_front().expect("front was just seen");
            queued_bytes -= chunk.len();
            if let Err(err) = to.write_all(&chunk) {
                failed = Some(err);
                break;
            }
            shared.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        if let Some(err) = failed {
            break Err(err);
        }
        let wait = queue.front().map(|(due, _)| due.saturating_duration_since(now));
        if eof {
            match wait {
                None => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                Some(wait) => {
                    thread::sleep(wait);
                    continue;
                }
            }
        }
        if queued_bytes >= PROXY_QUEUE_BYTES_MAX {
            thread::sleep(wait.unwrap_or(ACCEPT_POLL));
            continue;
        }
        // Block in the read while nothing waits to be written (a cut or a drop wakes it by
        // shutting the socket); otherwise read only until the next chunk is due.
        let timeout = wait.map(|w| w.max(Duration::from_millis(1)));
        if let Err(err) = from.set_read_timeout(timeout) {
            break Err(err);
        }
        match from.read(&mut buf) {
            Ok(0) => eof = true,
            Ok(n) => {
                let delay = match shared.state() {
                    LinkState::Delay(delay) => delay,
                    LinkState::Pass | LinkState::Cut => Duration::ZERO,
                };
                queue.push_back((Instant::now() + delay, buf[..n].to_vec()));
                queued_bytes += n;
            }
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(err) => break Err(err),
        }
    };
    if let Err(err) = result {
        tracing::trace!(target = %shared.target, "proxy direction ended: {err}");
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain TCP echo server on a free loopback port; dropping it stops and joins it.
    struct Echo {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Echo {
        fn start() -> Echo {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("nonblocking");
            let addr = listener.local_addr().expect("addr");
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut conns: Vec<JoinHandle<()>> = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        match listener.accept() {
                            Ok((mut s, _)) => {
                                let stop = Arc::clone(&stop);
                                conns.push(thread::spawn(move || {
                                    s.set_nonblocking(false).expect("blocking");
                                    s.set_read_timeout(Some(Duration::from_millis(20)))
                                        .expect("timeout");
                                    let mut buf = [0u8; 4096];
                                    while !stop.load(Ordering::SeqCst) {
                                        match s.read(&mut buf) {
                                            Ok(0) => return,
                                            Ok(n) => {
                                                if s.write_all(&buf[..n]).is_err() {
                                                    return;
                                                }
                                            }
                                            Err(e)
                                                if matches!(
                                                    e.kind(),
                                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                                ) => {}
                                            Err(_) => return,
                                        }
                                    }
                                }));
                            }
                            Err(_) => thread::sleep(Duration::from_millis(2)),
                        }
                    }
                    for c in conns {
                        c.join().expect("echo connection thread");
                    }
                })
            };
            Echo {
                addr,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        s
    }

    /// Writes `msg` and reads the echo back; an error if the connection is closed or fails.
    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    /// True if the peer closed `s`: a read ends with EOF or an error within 2 s.
    fn closed(s: &mut TcpStream) -> bool {
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }

    #[test]
    fn bytes_pass_both_ways_through_the_proxy() {
        let echo = Echo::start();
        let proxy = LinkProxy::start(echo.addr).expect("proxy");
        assert_ne!(proxy.addr(), echo.addr);
        let mut s = connect(proxy.addr());
        for i in 0..20u8 {
            let msg = vec![i; 1000 + usize::from(i)];
            assert_eq!(round_trip(&mut s, &msg).expect("echo"), msg);
        }
        // A payload larger than one chunk and the socket buffers, in one write.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(&mut s, &big).expect("big echo"), big);
        // The pump adds to the count after its write returns, so the echo can reach the client
        // a moment before the count does: give it a bounded while.
        let deadline = Instant::now() + Duration::from_secs(2);
        while proxy.stats().bytes < 2 * 300_000 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let stats = proxy.stats();
        assert_eq!(stats.forwarded, 1);
        assert!(stats.bytes >= 2 * 300_000, "{stats:?}");
    }

    #[test]
    fn a_cut_closes_open_connections_and_refuses_new_ones_until_healed() {
        let echo = Echo::start();
        let proxy = LinkProxy::start(echo.addr).expect("proxy");
        let mut before = connect(proxy.addr());
        assert_eq!(round_trip(&mut before, b"hello").expect("echo"), b"hello");

        proxy.cut();
        assert_eq!(proxy.state(), LinkState::Cut);
        assert!(closed(&mut before), "an open connection survived the cut");
        assert_eq!(proxy.stats().severed, 1);
        for _ in 0..3 {
            // The connect itself succeeds (the kernel accepts), then the proxy closes it.
            let mut during = connect(proxy.addr());
            assert!(closed(&mut during), "a new connection got through a cut link");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while proxy.stats().refused < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.stats().refused, 3);

        proxy.heal();
        let mut after = connect(proxy.addr());
        assert_eq!(
            round_trip(&mut after, b"again").expect("echo after heal"),
            b"again"
        );
        assert_eq!(proxy.stats().forwarded, 2);
    }

    #[test]
    fn a_delay_holds_every_chunk_back_without_losing_or_reordering_bytes() {
        let echo = Echo::start();
        let proxy = LinkProxy::start(echo.addr).expect("proxy");
        let mut s = connect(proxy.addr());
        assert_eq!(round_trip(&mut s, b"warm").expect("echo"), b"warm");
        let delay = Duration::from_millis(80);
        proxy.set(LinkState::Delay(delay));
        let started = Instant::now();
        let msg: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(round_trip(&mut s, &msg).expect("delayed echo"), msg);
        // The request and the echo each cross the delayed link once.
        assert!(
            started.elapsed() >= delay,
            "round trip took {:?}",
            started.elapsed()
        );
        proxy.set(LinkState::Pass);
        let started = Instant::now();
        assert_eq!(round_trip(&mut s, b"fast").expect("echo"), b"fast");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn an_unreachable_target_closes_the_accepted_connection() {
        // A port that was free a moment ago: nothing listens there.
        let target = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let proxy = LinkProxy::start(target).expect("proxy");
        let mut s = connect(proxy.addr());
        assert!(closed(&mut s));
        let deadline = Instant::now() + Duration::from_secs(2);
        while proxy.stats().refused < 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.stats().refused, 1);
        assert_eq!(proxy.stats().forwarded, 0);
    }

    #[test]
    fn dropping_the_proxy_closes_its_connections_and_its_port() {
        let echo = Echo::start();
        let proxy = LinkProxy::start(echo.addr).expect("proxy");
        let addr = proxy.addr();
        let mut s = connect(addr);
        assert_eq!(round_trip(&mut s, b"x").expect("echo"), b"x");
        assert_eq!(proxy.open_connections(), 1);
        let started = Instant::now();
        drop(proxy);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "drop took {:?}",
            started.elapsed()
        );
        assert!(closed(&mut s));
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }
}
