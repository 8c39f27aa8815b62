//! [`ClientConn`]: a client's authenticated connection to a server's client port.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::frame::{self, ClientFrame, FrameError, FrameReader};
use crate::handshake::{self, HandshakeError, Role};
use crate::identity::{Identity, IdentityError};
use crate::runtime;

/// Why [`ClientConn::connect`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The identity cannot be used (a bad cluster id).
    Identity(IdentityError),
    /// The address could not be resolved.
    Resolve {
        /// The address given.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// No TCP connection could be made.
    Connect {
        /// The address given.
        addr: String,
        /// The last connect error.
        source: io::Error,
    },
    /// The connection or the handshake took longer than the timeout.
    TimedOut {
        /// The address given.
        addr: String,
    },
    /// The server refused us, for the reason it gave (another cluster, another version, ...).
    Refused {
        /// The address given.
        addr: String,
        /// The server's reason.
        reason: String,
    },
    /// A proof did not verify: the server and this client hold different secrets.
    Auth {
        /// The address given.
        addr: String,
        /// What did not verify.
        reason: String,
    },
    /// The server does not speak this protocol, or the connection broke during the handshake.
    Protocol {
        /// The address given.
        addr: String,
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Identity(e) => write!(f, "{e}"),
            ConnectError::Resolve { addr, source } => write!(f, "cannot resolve {addr}: {source}"),
            ConnectError::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            ConnectError::TimedOut { addr } => write!(f, "connecting to {addr} timed out"),
            ConnectError::Refused { addr, reason } => write!(f, "{addr} refused the connection: {reason}"),
            ConnectError::Auth { addr, reason } => write!(
                f,
                "authentication with {addr} failed (is the secret the same on both ends?): {reason}"
            ),
            ConnectError::Protocol { addr, reason } => {
                write!(f, "{addr} did not complete the handshake: {reason}")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

/// Why [`ClientConn::call`] got no answer.
#[derive(Debug)]
pub enum CallError {
    /// No reply within the timeout. The connection stays usable; a late reply to this call
    /// will be ignored. The request may or may not have been carried out.
    TimedOut,
    /// The request could not be written within the timeout (the server takes no bytes), and
    /// part of it had gone out: the stream is cut in the middle of a frame, so this client
    /// closes the connection (connect again). The server never received the whole request,
    /// so it did not carry it out.
    Stalled,
    /// The connection is closed (by the server, or broken earlier): connect again.
    Closed,
    /// The request would make a frame over [`crate::FRAME_MAX`].
    TooLarge {
        /// The frame's length.
        len: usize,
    },
    /// The server sent something that is no reply to this client's calls; the connection is
    /// closed.
    Protocol(String),
    /// A socket error; the connection is closed.
    Io(io::Error),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::TimedOut => write!(f, "no reply in time"),
            CallError::Stalled => write!(
                f,
                "the server took only part of the request in time: the connection is closed"
            ),
            CallError::Closed => write!(f, "the connection is closed"),
            CallError::TooLarge { len } => write!(f, "a request of {len} bytes is over the frame limit"),
            CallError::Protocol(why) => write!(f, "protocol error: {why}"),
            CallError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// A client's connection to a [`crate::ClientServer`]: authenticated at connect, then one call
/// at a time, each reply matched to its call by id.
#[derive(Debug)]
pub struct ClientConn {
    stream: TcpStream,
    reader: FrameReader<TcpStream>,
    peer: SocketAddr,
    next_id: u64,
    broken: bool,
}

impl ClientConn {
    /// Connects to `addr` and authenticates as a client of `identity`'s cluster, all within
    /// `timeout`.
    ///
    /// # Errors
    /// [`ConnectError`] says what failed, with the address.
    pub fn connect(addr: &str, identity: &Identity, timeout: Duration) -> Result<ClientConn, ConnectError> {
        identity.check().map_err(ConnectError::Identity)?;
        let deadline = Instant::now() + timeout;
        let named = || addr.to_string();
        let resolved = addr.to_socket_addrs().map_err(|source| ConnectError::Resolve {
            addr: named(),
            source,
        })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing");
        let mut connected = None;
        for target in resolved {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ConnectError::TimedOut { addr: named() });
            }
            match TcpStream::connect_timeout(&target, left) {
                Ok(stream) => {
                    connected = Some((stream, target));
                    break;
                }
                Err(e) => last = e,
            }
        }
        let (stream, peer) = connected.ok_or_else(|| ConnectError::Connect {
            addr: named(),
            source: last,
        })?;
        let io_error = |e: io::Error| ConnectError::Protocol {
            addr: named(),
            reason: e.to_string(),
        };
        runtime::prepare(&stream).map_err(io_error)?;
        let mut reader = FrameReader::new(stream.try_clone().map_err(io_error)?);
        let left = deadline.saturating_duration_since(Instant::now());
        handshake::dial(&stream, &mut reader, identity, Role::Client, left).map_err(|e| match e {
            HandshakeError::Refused { reason } => ConnectError::Refused {
                addr: named(),
                reason,
            },
            HandshakeError::Auth { reason } => ConnectError::Auth {
                addr: named(),
                reason: reason.to_string(),
            },
            HandshakeError::Frame(FrameError::TimedOut) => ConnectError::TimedOut { addr: named() },
            other => ConnectError::Protocol {
                addr: named(),
                reason: other.to_string(),
            },
        })?;
        Ok(ClientConn {
            stream,
            reader,
            peer,
            next_id: 1,
            broken: false,
        })
    }

    /// The server's address.
    #[must_use]
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sends `payload` and waits at most `timeout` for its reply. Replies to earlier calls
    /// that timed out are skipped.
    ///
    /// # Errors
    /// [`CallError::TimedOut`] (the connection stays usable: no byte of the request went out,
    /// or all of it did and the reply is late); [`CallError::TooLarge`] (nothing was sent;
    /// usable too); the others close it.
    pub fn call(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>, CallError> {
        if self.broken {
            return Err(CallError::Closed);
        }
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let frame = frame::encode(&ClientFrame { id, payload }).map_err(|e| match e {
            FrameError::TooLarge { len, .. } => CallError::TooLarge { len },
            other => CallError::Protocol(other.to_string()),
        })?;
        if let Err((written, e)) = frame::write_all_before(&self.stream, &frame, deadline) {
            if written == 0 && frame::is_timeout(&e) {
                // Nothing went out: the stream is intact, and the request was not sent.
                return Err(CallError::TimedOut);
            }
            // Part of a frame may have gone out: the stream cannot carry another.
            self.close();
            return Err(if frame::is_timeout(&e) {
                CallError::Stalled
            } else {
                CallError::Io(e)
            });
        }
        loop {
            let body = match self.reader.read_frame_before(deadline) {
                Ok(body) => body,
                Err(FrameError::TimedOut) => return Err(CallError::TimedOut),
                Err(e) => {
                    self.close();
                    return Err(match e {
                        FrameError::Closed | FrameError::Truncated => CallError::Closed,
                        FrameError::Io(e) => CallError::Io(e),
                        other => CallError::Protocol(other.to_string()),
                    });
                }
            };
            match frame::decode::<ClientFrame<Vec<u8>>>(&body) {
                Ok(reply) if reply.id == id => return Ok(reply.payload),
                Ok(reply) if reply.id < id => {
                    tracing::debug!(id = reply.id, "a late reply to an earlier call: skipped");
                }
                Ok(reply) => {
                    self.close();
                    return Err(CallError::Protocol(format!(
                        "a reply to call {} which was never made",
                        reply.id
                    )));
                }
                Err(e) => {
                    self.close();
                    return Err(CallError::Protocol(format!("a reply that does not decode: {e}")));
                }
            }
        }
    }

    /// Marks the connection broken and shuts it down, so the server sees it end at once.
    fn close(&mut self) {
        self.broken = true;
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
