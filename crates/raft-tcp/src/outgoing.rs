//! One outgoing lane: the connection this peer dials to another for one [`Lane`], the
//! requests queued for it, and the replies that come back on it.
//!
//! One thread per lane connects (with bounded backoff), authenticates, then writes queued
//! requests, each numbered; a second thread, alive as long as the connection, reads replies
//! and pairs each with its request by number before handing it to the peer's inbox.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use raft_core::PeerId;
use raft_core::message::{Reply, Request};
use raft_node::Inbox;

use crate::frame::{self, FrameError, FrameReader, ReplyFrame, RequestFrame};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, HandshakeError, Lane, Role};
use crate::identity::Identity;
use crate::queue::DropOldest;
use crate::runtime::{self, Runtime, Tracked};
use crate::stats::{Counter, TcpStats};

/// The first pause after a failed connection; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest pause between two connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The longest a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A write that makes no progress for this long closes the connection (a peer that stopped
/// reading, or a link that went dark).
pub const WRITE_STALL_MAX: Duration = Duration::from_secs(5);
/// A connection on which requests went out but nothing came back for this long is taken for
/// dead and dialed again.
pub const SILENCE_MAX: Duration = Duration::from_secs(3);
/// The most requests of one connection awaiting their replies; past it the oldest is
/// forgotten (its reply, if it ever comes, counts as unknown).
pub const OUTSTANDING_MAX: usize = 4096;

/// How often a waiting thread looks at the stop flag and the connection's health.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Everything one lane's threads need.
pub(crate) struct LaneCtx {
    pub(crate) me: PeerId,
    pub(crate) to: PeerId,
    pub(crate) lane: Lane,
    pub(crate) addr: String,
    pub(crate) identity: Identity,
    pub(crate) inbox: Inbox,
    pub(crate) stats: Arc<TcpStats>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) queue: Arc<DropOldest<Request>>,
}

/// The requests of one connection awaiting replies, and how long it has been silent.
struct Calls {
    outstanding: BTreeMap<u64, &'static str>,
    /// When the oldest request written since the last frame heard was written.
    waiting_since: Option<Instant>,
}

/// One live connection's shared state.
struct Conn {
    calls: Mutex<Calls>,
    dead: AtomicBool,
}

impl Conn {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a connection attempt failed.
enum DialError {
    Io(std::io::Error),
    Handshake(HandshakeError),
    Stopping,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Io(e) => write!(f, "{e}"),
            DialError::Handshake(e) => write!(f, "handshake failed: {e}"),
            DialError::Stopping => write!(f, "stopping"),
        }
    }
}

/// Runs the lane until the runtime stops: connect, serve, and after a failure wait (50 ms
/// doubling to 1 s) and connect again. Requests queued while the peer cannot be reached are
/// dropped after each failed attempt: Raft resends what matters, and a peer coming back wants
/// the current state, not a backlog.
pub(crate) fn run(ctx: &LaneCtx) {
    let mut backoff = BACKOFF_MIN;
    let mut last_failure: Option<String> = None;
    while !ctx.runtime.stopping() {
        match dial(ctx) {
            Ok((stream, reader, tracked)) => {
                ctx.stats.count(Counter::Connects);
                if last_failure.take().is_some() {
                    tracing::info!(me = %ctx.me, to = %ctx.to, lane = ctx.lane.name(), addr = %ctx.addr, "connected to the peer again");
                }
                let started = Instant::now();
                serve(ctx, &stream, reader, &tracked);
                if started.elapsed() > BACKOFF_MAX {
                    backoff = BACKOFF_MIN;
                }
            }
            Err(DialError::Stopping) => return,
            Err(e) => {
                ctx.stats.count(Counter::ConnectFailures);
                if let DialError::Handshake(
                    refusal @ (HandshakeError::Auth { .. }
                    | HandshakeError::Frame(FrameError::TooLarge { .. })),
                ) = &e
                {
                    ctx.stats.count(refusal.counter());
                }
                let text = e.to_string();
                if last_failure.as_deref() == Some(text.as_str()) {
                    tracing::debug!(me = %ctx.me, to = %ctx.to, lane = ctx.lane.name(), addr = %ctx.addr, error = %text, "cannot connect to the peer");
                } else {
                    tracing::warn!(me = %ctx.me, to = %ctx.to, lane = ctx.lane.name(), addr = %ctx.addr, error = %text, "cannot connect to the peer (retrying with backoff)");
                }
                last_failure = Some(text);
                let dropped = ctx.queue.clear();
                ctx.stats.add(Counter::DroppedUnreachable, dropped as u64);
            }
        }
        if !ctx.runtime.sleep(backoff) {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects to the peer's address and runs the dialer's handshake.
fn dial(ctx: &LaneCtx) -> Result<(TcpStream, FrameReader<TcpStream>, Tracked), DialError> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the address resolved to nothing");
    let mut connected = None;
    for addr in ctx.addr.to_socket_addrs().map_err(DialError::Io)? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = connected.ok_or(DialError::Io(last))?;
    runtime::prepare(&stream).map_err(DialError::Io)?;
    let tracked = ctx.runtime.track(&stream).ok_or(DialError::Stopping)?;
    let mut reader = FrameReader::new(stream.try_clone().map_err(DialError::Io)?);
    let role = Role::Peer {
        from: ctx.me.0,
        to: ctx.to.0,
        lane: ctx.lane,
    };
    handshake::dial(&stream, &mut reader, &ctx.identity, role, HANDSHAKE_TIMEOUT)
        .map_err(DialError::Handshake)?;
    Ok((stream, reader, tracked))
}

/// Serves one authenticated connection until it fails or the runtime stops.
fn serve(ctx: &LaneCtx, stream: &TcpStream, mut reader: FrameReader<TcpStream>, tracked: &Tracked) {
    let conn = Conn {
        calls: Mutex::new(Calls {
            outstanding: BTreeMap::new(),
            waiting_since: None,
        }),
        dead: AtomicBool::new(false),
    };
    if let Err(e) = stream
        .set_write_timeout(Some(WRITE_STALL_MAX))
        .and_then(|()| reader.get_ref().set_read_timeout(Some(POLL)))
    {
        tracing::warn!(to = %ctx.to, %e, "cannot set socket timeouts: reconnecting");
        return;
    }
    std::thread::scope(|scope| {
        let name = format!("raft-tcp-{}>{}-{}-r", ctx.me, ctx.to, ctx.lane.name());
        let replies = std::thread::Builder::new()
            .name(name)
            .spawn_scoped(scope, || read_replies(ctx, &mut reader, &conn));
        if let Err(e) = replies {
            tracing::error!(%e, "cannot start a reply reader: reconnecting");
            conn.dead.store(true, Ordering::Release);
        }
        write_requests(ctx, stream, &conn);
        conn.dead.store(true, Ordering::Release);
        tracked.close();
    });
}

/// Writes queued requests until the connection dies or the runtime stops.
fn write_requests(ctx: &LaneCtx, mut stream: &TcpStream, conn: &Conn) {
    let mut next_id: u64 = 1;
    while !ctx.runtime.stopping() && !conn.dead.load(Ordering::Acquire) {
        let Some(request) = ctx.queue.pop(POLL) else {
            continue;
        };
        let id = next_id;
        next_id += 1;
        let frame = match frame::encode(&RequestFrame {
            id,
            request: &request,
        }) {
            Ok(frame) => frame,
            Err(e) => {
                ctx.stats.count(Counter::DroppedTooLarge);
                tracing::error!(to = %ctx.to, request = request.name(), %e, "a request cannot be sent: dropped");
                continue;
            }
        };
        {
            let mut calls = conn.calls();
            if calls.outstanding.len() >= OUTSTANDING_MAX {
                calls.outstanding.pop_first();
            }
            calls.outstanding.insert(id, reply_name(&request));
        }
        if let Err(e) = stream.write_all(&frame) {
            tracing::debug!(to = %ctx.to, lane = ctx.lane.name(), %e, "writing to the peer failed: reconnecting");
            return;
        }
        // The silence clock starts once the request is out (a large one may take a while on
        // a slow link), unless its reply already came back.
        let mut calls = conn.calls();
        if calls.outstanding.contains_key(&id) {
            calls.waiting_since.get_or_insert_with(Instant::now);
        }
    }
}

/// Reads replies and hands each, paired with its request, to the inbox.
fn read_replies(ctx: &LaneCtx, reader: &mut FrameReader<TcpStream>, conn: &Conn) {
    while !ctx.runtime.stopping() && !conn.dead.load(Ordering::Acquire) {
        match reader.read_frame() {
            Ok(body) => deliver(ctx, conn, &body),
            Err(FrameError::TimedOut) => {
                let since = conn.calls().waiting_since;
                if since.is_some_and(|t| t.elapsed() > SILENCE_MAX) {
                    tracing::warn!(to = %ctx.to, lane = ctx.lane.name(), "no reply from the peer for too long: reconnecting");
                    break;
                }
            }
            Err(e @ FrameError::TooLarge { .. }) => {
                ctx.stats.count(Counter::RefusedFrame);
                tracing::warn!(to = %ctx.to, lane = ctx.lane.name(), %e, "the peer sent a frame over the limit: closing");
                break;
            }
            Err(e) => {
                tracing::debug!(to = %ctx.to, lane = ctx.lane.name(), %e, "the connection to the peer ended");
                break;
            }
        }
    }
    conn.dead.store(true, Ordering::Release);
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    ctx.queue.wake();
}

/// Pairs one reply frame with its request and hands it over; anything else is counted.
fn deliver(ctx: &LaneCtx, conn: &Conn, body: &[u8]) {
    let decoded = frame::decode::<ReplyFrame<Reply>>(body);
    let expected = {
        let mut calls = conn.calls();
        calls.waiting_since = None;
        match &decoded {
            Ok(frame) => calls.outstanding.remove(&frame.id),
            Err(_) => None,
        }
    };
    match (decoded, expected) {
        (Err(e), _) => {
            ctx.stats.count(Counter::DecodeFailures);
            ctx.inbox.decode_failed(ctx.to, &e);
        }
        (Ok(_), None) => {
            ctx.stats.count(Counter::UnknownReplies);
            ctx.inbox.unknown_reply(ctx.to);
        }
        (Ok(frame), Some(name)) if frame.reply.name() == name => ctx.inbox.reply(ctx.to, frame.reply),
        (Ok(frame), Some(name)) => {
            ctx.stats.count(Counter::DecodeFailures);
            let why = format!(
                "a {} answered a request that expects a {name}",
                frame.reply.name()
            );
            ctx.inbox.decode_failed(ctx.to, &why);
        }
    }
}

/// The name of the reply a request expects ([`Reply::name`]).
fn reply_name(request: &Request) -> &'static str {
    match request {
        Request::RequestVote(_) => "RequestVoteReply",
        Request::AppendEntries(_) => "AppendEntriesReply",
        Request::InstallSnapshot(_) => "InstallSnapshotReply",
        Request::PreVote(_) => "PreVoteReply",
    }
}

/// The lane a request travels on: what is small and urgent on Control, what may be large on
/// Bulk, so that a heartbeat never waits behind a snapshot.
pub(crate) fn lane_of(request: &Request) -> Lane {
    match request {
        Request::RequestVote(_) | Request::PreVote(_) => Lane::Control,
        Request::AppendEntries(args) if args.entries.is_empty() => Lane::Control,
        Request::AppendEntries(_) | Request::InstallSnapshot(_) => Lane::Bulk,
    }
}
