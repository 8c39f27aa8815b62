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

use raft_core::message::{AppendEntriesArgs, Reply, Request};
use raft_core::{Entry, PeerId};
use raft_node::Inbox;

use crate::frame::{self, FrameError, FrameReader, ReplyFrame, RequestFrame};
use crate::handshake::{self, HANDSHAKE_TIMEOUT, HandshakeError, Lane, Role};
use crate::identity::Identity;
use crate::queue::{DropOldest, Queued};
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
/// A connection on which two requests, one after the other, have each waited this long with
/// no reply at all coming back is taken for dead and dialed again.
///
/// Why two: a request may go unanswered on a healthy connection (the receiver's gate refuses
/// it without a reply, or the receiver dropped the reply from a full queue), so one
/// unanswered request proves nothing. But a healthy peer answers *something*, and Raft keeps
/// sending (every heartbeat interval, while there is a leader). So the connection is taken
/// for dead only when a request, and a later one too, have each waited this long with not
/// one reply frame heard since the first went out. Only a frame that decodes as a reply
/// counts as heard: garbage is no sign of a live peer.
pub const SILENCE_MAX: Duration = Duration::from_secs(3);
/// The most requests of one connection awaiting their replies; past it the oldest is
/// forgotten (its reply, if it ever comes, counts as unknown).
pub const OUTSTANDING_MAX: usize = 4096;

/// The largest reply frame a lane reads. Replies are a few dozen bytes (a term, a flag, an
/// index or two), so a peer has no reason to announce more, and a lane that accepted up to
/// [`crate::FRAME_MAX`] would let a broken peer make it buffer megabytes per reply.
pub const REPLY_FRAME_MAX: usize = 1024;

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

/// The requests of one connection awaiting replies, and how long it has been silent (the
/// silence rule is [`SILENCE_MAX`]'s).
struct Calls {
    outstanding: BTreeMap<u64, &'static str>,
    /// When the first and the second request written since the last reply heard went out.
    unanswered: [Option<Instant>; 2],
}

impl Calls {
    /// A request was written (and its reply has not come yet).
    fn written(&mut self, at: Instant) {
        if let Some(slot) = self.unanswered.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(at);
        }
    }

    /// A reply was heard: the connection is alive.
    fn heard(&mut self) {
        self.unanswered = [None, None];
    }

    /// Whether the silence rule ([`SILENCE_MAX`]) takes the connection for dead.
    fn silent_too_long(&self) -> bool {
        self.unanswered[1].is_some_and(|second| second.elapsed() > SILENCE_MAX)
    }
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
            unanswered: [None, None],
        }),
        dead: AtomicBool::new(false),
    };
    reader.set_limit(REPLY_FRAME_MAX);
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
            calls.written(Instant::now());
        }
    }
}

/// Reads replies and hands each, paired with its request, to the inbox.
fn read_replies(ctx: &LaneCtx, reader: &mut FrameReader<TcpStream>, conn: &Conn) {
    while !ctx.runtime.stopping() && !conn.dead.load(Ordering::Acquire) {
        match reader.read_frame() {
            Ok(body) => deliver(ctx, conn, &body),
            Err(FrameError::TimedOut) => {
                if conn.calls().silent_too_long() {
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
        match &decoded {
            Ok(frame) => {
                calls.heard();
                calls.outstanding.remove(&frame.id)
            }
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

/// What [`encoded_size_max`] counts for a request besides its entries or its snapshot: the
/// frame's length, the request's number, its kind, its terms, indexes and ids, and the
/// lengths, each at its longest.
const REQUEST_FIXED_MAX: usize = 96;

/// What [`encoded_size_max`] counts for an entry besides its command: its index, its term
/// and its command's length, each at its longest.
const ENTRY_FIXED_MAX: usize = 30;

/// An AppendEntries whose entries take at most this many bytes in its frame (counting for
/// each entry its command and 30 bytes for its index, term and length) travels on the
/// Control lane, so that the common small append to a follower a little behind is not
/// queued behind a snapshot (4 KiB).
pub const CONTROL_ENTRIES_MAX: usize = 4 << 10;

/// An upper bound of the bytes of a request's frame, counted without encoding it: what it
/// costs in a queue.
pub(crate) fn encoded_size_max(request: &Request) -> usize {
    REQUEST_FIXED_MAX.saturating_add(match request {
        Request::RequestVote(_) | Request::PreVote(_) | Request::TimeoutNow(_) => 0,
        Request::AppendEntries(args) => entries_size_max(&args.entries),
        Request::InstallSnapshot(args) => args.data.len(),
    })
}

/// An upper bound of the bytes that `entries` take in a frame.
fn entries_size_max(entries: &[Entry]) -> usize {
    entries.iter().fold(0, |sum: usize, entry| {
        sum.saturating_add(ENTRY_FIXED_MAX)
            .saturating_add(entry.command.len())
    })
}

/// The last log index an AppendEntries covers: its `prev_log_index` if it has no entries.
fn last_index(args: &AppendEntriesArgs) -> u64 {
    let count = u64::try_from(args.entries.len()).unwrap_or(u64::MAX);
    args.prev_log_index.0.saturating_add(count)
}

impl Queued for Request {
    fn cost(&self) -> usize {
        encoded_size_max(self)
    }

    /// A queued request has not been written, so it has no number yet and no reply is
    /// awaited for it: dropping it leaves the pairing of replies intact. Raft retries what is
    /// lost; here only what the newer request carries anyway is dropped:
    ///
    /// - an older InstallSnapshot, for a newer one (the leader's latest snapshot is at least
    ///   as far along);
    /// - an older AppendEntries of the same term, for one that starts no later and ends no
    ///   earlier. In one term the leader's log only grows, so the newer one holds the older
    ///   one's entries (and a commit index at least as high). Pipelined requests that each
    ///   carry different entries are kept.
    fn supersedes(&self, older: &Request) -> bool {
        match (self, older) {
            (Request::InstallSnapshot(new), Request::InstallSnapshot(old)) => {
                new.term >= old.term && new.leader_id == old.leader_id
            }
            (Request::AppendEntries(new), Request::AppendEntries(old)) => {
                new.term == old.term
                    && new.leader_id == old.leader_id
                    && new.prev_log_index <= old.prev_log_index
                    && last_index(new) >= last_index(old)
            }
            _ => false,
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
        Request::TimeoutNow(_) => "TimeoutNowReply",
    }
}

/// The lane a request travels on: what is small and urgent on Control, what may be large on
/// Bulk, so that a heartbeat never waits behind a snapshot. An AppendEntries goes on Control
/// while its entries take at most [`CONTROL_ENTRIES_MAX`] bytes.
///
/// So two AppendEntries to one follower may arrive in another order than they were sent (a
/// large one on Bulk, then a small one on Control). Raft allows it: the follower checks each
/// against its log on its own (`prev_log_index` and `prev_log_term`), an older one never
/// truncates entries a newer one appended unless they conflict, and the leader never lowers
/// its `match_index` for a late reply.
pub(crate) fn lane_of(request: &Request) -> Lane {
    match request {
        Request::RequestVote(_) | Request::PreVote(_) | Request::TimeoutNow(_) => Lane::Control,
        Request::AppendEntries(args) if entries_size_max(&args.entries) <= CONTROL_ENTRIES_MAX => {
            Lane::Control
        }
        Request::AppendEntries(_) | Request::InstallSnapshot(_) => Lane::Bulk,
    }
}

#[cfg(test)]
mod tests {
    use raft_core::message::{InstallSnapshotArgs, RequestVoteArgs};
    use raft_core::{LogIndex, Term};

    use super::*;

    fn append(term: u64, prev: u64, count: u64, len: usize) -> Request {
        Request::AppendEntries(AppendEntriesArgs {
            term: Term(term),
            leader_id: PeerId(1),
            prev_log_index: LogIndex(prev),
            prev_log_term: Term(term),
            entries: (1..=count)
                .map(|i| Entry {
                    index: LogIndex(prev + i),
                    term: Term(term),
                    command: vec![0; len].into(),
                })
                .collect(),
            leader_commit: LogIndex(prev),
            round: 0,
        })
    }

    fn snapshot(term: u64, index: u64) -> Request {
        Request::InstallSnapshot(InstallSnapshotArgs {
            term: Term(term),
            leader_id: PeerId(1),
            last_included_index: LogIndex(index),
            last_included_term: Term(term),
            data: vec![1; 100],
        })
    }

    #[test]
    fn a_request_supersedes_only_what_it_carries_all_of() {
        // The same start, more entries (raft-core's pipelined appends from one next_index).
        assert!(append(3, 10, 5, 1).supersedes(&append(3, 10, 2, 1)));
        assert!(append(3, 8, 5, 1).supersedes(&append(3, 10, 2, 1)));
        // A heartbeat is covered by an append from the same place or earlier.
        assert!(append(3, 10, 1, 1).supersedes(&append(3, 10, 0, 0)));
        assert!(append(3, 10, 0, 0).supersedes(&append(3, 10, 0, 0)));
        // Not: fewer entries, later entries, another term, another kind.
        assert!(!append(3, 10, 1, 1).supersedes(&append(3, 10, 2, 1)));
        assert!(!append(3, 11, 5, 1).supersedes(&append(3, 10, 2, 1)));
        assert!(!append(4, 10, 5, 1).supersedes(&append(3, 10, 2, 1)));
        assert!(!append(3, 10, 0, 0).supersedes(&append(3, 10, 1, 1)));
        assert!(!append(3, 10, 5, 1).supersedes(&snapshot(3, 10)));
        // A newer snapshot replaces an older one, never the reverse across terms.
        assert!(snapshot(3, 20).supersedes(&snapshot(3, 10)));
        assert!(snapshot(4, 20).supersedes(&snapshot(3, 30)));
        assert!(!snapshot(3, 20).supersedes(&snapshot(4, 10)));
        assert!(!snapshot(3, 20).supersedes(&append(3, 10, 1, 1)));
    }

    #[test]
    fn small_appends_go_on_control_and_large_ones_on_bulk() {
        let args = RequestVoteArgs {
            term: Term(1),
            candidate_id: PeerId(1),
            last_log_index: LogIndex(0),
            last_log_term: Term(0),
            transfer: false,
        };
        assert_eq!(lane_of(&Request::RequestVote(args.clone())), Lane::Control);
        assert_eq!(lane_of(&Request::PreVote(args)), Lane::Control);
        let timeout_now = raft_core::message::TimeoutNowArgs {
            term: Term(1),
            leader_id: PeerId(1),
        };
        assert_eq!(lane_of(&Request::TimeoutNow(timeout_now)), Lane::Control);
        assert_eq!(lane_of(&append(3, 10, 0, 0)), Lane::Control);
        assert_eq!(lane_of(&append(3, 10, 3, 100)), Lane::Control);
        assert_eq!(lane_of(&append(3, 10, 1, CONTROL_ENTRIES_MAX)), Lane::Bulk);
        assert_eq!(lane_of(&append(3, 10, 200, 30)), Lane::Bulk);
        assert_eq!(lane_of(&snapshot(3, 10)), Lane::Bulk);
    }

    #[test]
    fn the_size_bound_is_never_below_the_frame() {
        for request in [
            append(u64::MAX >> 1, u64::MAX >> 2, 3, 1000),
            append(1, 0, 0, 0),
            snapshot(u64::MAX >> 1, u64::MAX >> 1),
        ] {
            let frame = frame::encode(&RequestFrame {
                id: u64::MAX,
                request: &request,
            })
            .expect("encodes");
            assert!(
                frame.len() <= encoded_size_max(&request),
                "{} > {}",
                frame.len(),
                encoded_size_max(&request)
            );
        }
    }
}
