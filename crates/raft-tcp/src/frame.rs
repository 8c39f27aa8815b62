//! Frames: how messages are cut out of a TCP byte stream.
//!
//! TCP delivers bytes, not messages. Each message travels as one frame: a 4-byte
//! little-endian length, then that many bytes of postcard. The length is checked against
//! [`FRAME_MAX`] before a single body byte is read, and the body buffer grows only as bytes
//! actually arrive, so a peer that announces a large frame and sends nothing costs almost no
//! memory, and one that announces more than [`FRAME_MAX`] costs none.
//!
//! [`FrameReader`] keeps a partly read frame across a read timeout, so a caller can wake up
//! on a timeout (to check a stop flag or a deadline) and resume reading without losing its
//! place in the stream.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::FRAME_MAX;

/// Bytes of the length prefix.
const HEADER_LEN: usize = 4;

/// The most a body buffer grows by per read: the buffer follows the bytes that arrived.
const READ_CHUNK: usize = 64 << 10;

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended cleanly between two frames.
    Closed,
    /// The stream ended in the middle of a frame.
    Truncated,
    /// A frame's length is over the limit (at most [`FRAME_MAX`]): refused before anything
    /// was allocated for it.
    TooLarge {
        /// The length the frame announced (or, when sending, the length it would have had).
        len: usize,
        /// The limit it is over.
        limit: usize,
    },
    /// The socket's read timeout passed; what was read so far is kept for the next call.
    TimedOut,
    /// The body could not be encoded (sending) or decoded (receiving).
    Codec(postcard::Error),
    /// A body decoded but left bytes over: not the message it claimed to be.
    TrailingBytes {
        /// How many bytes were left.
        left: usize,
    },
    /// Any other socket error.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => write!(f, "the connection was closed"),
            FrameError::Truncated => write!(f, "the connection was closed in the middle of a frame"),
            FrameError::TooLarge { len, limit } => {
                write!(f, "a frame of {len} bytes is over the limit of {limit} bytes")
            }
            FrameError::TimedOut => write!(f, "timed out waiting for a frame"),
            FrameError::Codec(e) => write!(f, "a frame did not encode or decode: {e}"),
            FrameError::TrailingBytes { left } => {
                write!(f, "a frame decoded with {left} bytes left over")
            }
            FrameError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// True for the errors a socket read or write timeout produces (`WouldBlock` on Unix,
/// `TimedOut` elsewhere).
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Reads frames from a byte stream, one at a time, resuming after timeouts.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    header: [u8; HEADER_LEN],
    header_read: usize,
    body: Vec<u8>,
    limit: usize,
    deadline: Option<Instant>,
}

impl<R: Read> FrameReader<R> {
    /// A reader of the frames on `inner`.
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            header: [0; HEADER_LEN],
            header_read: 0,
            body: Vec::new(),
            limit: FRAME_MAX,
            deadline: None,
        }
    }

    /// Refuses frames longer than `limit` bytes (at most [`FRAME_MAX`]; the handshake reads
    /// with a much smaller one).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(FRAME_MAX);
    }

    /// After `deadline`, [`FrameReader::read_frame`] answers [`FrameError::TimedOut`] even
    /// while bytes keep trickling in (the socket's read timeout bounds one read only).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The stream frames are read from.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The capacity of the buffer holding a partly read body (what a frame in progress
    /// costs in memory); never more than [`FRAME_MAX`].
    pub fn buffered_capacity(&self) -> usize {
        self.body.capacity()
    }

    /// Reads the next frame's body.
    ///
    /// # Errors
    /// [`FrameError::TimedOut`] when the stream's read timeout or the deadline passes (call
    /// again to resume);
    /// [`FrameError::TooLarge`] for a length over the limit (the stream can no longer be
    /// read: close it); [`FrameError::Closed`], [`FrameError::Truncated`] or
    /// [`FrameError::Io`] when the stream ends or fails.
    pub fn read_frame(&mut self) -> Result<Vec<u8>, FrameError> {
        while self.header_read < HEADER_LEN {
            self.check_deadline()?;
            match self.inner.read(&mut self.header[self.header_read..]) {
                Ok(0) if self.header_read == 0 => return Err(FrameError::Closed),
                Ok(0) => return Err(FrameError::Truncated),
                Ok(n) => self.header_read += n,
                Err(e) => read_error(e)?,
            }
        }
        let len = usize::try_from(u32::from_le_bytes(self.header)).unwrap_or(usize::MAX);
        if len > self.limit {
            return Err(FrameError::TooLarge {
                len,
                limit: self.limit,
            });
        }
        while self.body.len() < len {
            self.check_deadline()?;
            let start = self.body.len();
            if start == self.body.capacity() {
                self.grow(len);
            }
            self.body.resize(self.body.capacity().min(len), 0);
            let read = self.inner.read(&mut self.body[start..]);
            match read {
                Ok(0) => {
                    self.body.truncate(start);
                    return Err(FrameError::Truncated);
                }
                Ok(n) => self.body.truncate(start + n),
                Err(e) => {
                    self.body.truncate(start);
                    read_error(e)?;
                }
            }
        }
        self.header_read = 0;
        Ok(std::mem::take(&mut self.body))
    }

    fn check_deadline(&self) -> Result<(), FrameError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(FrameError::TimedOut),
            _ => Ok(()),
        }
    }

    /// Grows a full body buffer: to [`READ_CHUNK`] at first, then doubling, never past
    /// `len`, the frame's announced length (at most the limit). So the buffer is never more
    /// than twice the bytes that arrived (or one chunk).
    fn grow(&mut self, len: usize) {
        let target = self.body.capacity().saturating_mul(2).max(READ_CHUNK).min(len);
        self.body.reserve_exact(target - self.body.len());
    }
}

/// The longest one blocking socket read or write waits when a deadline bounds the whole: the
/// deadline is checked between reads, so it is overshot by at most this much, however the
/// other end trickles its bytes.
pub(crate) const DEADLINE_POLL: Duration = Duration::from_millis(50);

impl FrameReader<TcpStream> {
    /// Reads the next frame's body before `deadline`, or [`FrameError::TimedOut`] at most
    /// [`DEADLINE_POLL`] after it. The socket's read timeout is set before each read to what
    /// is left (at most [`DEADLINE_POLL`]): set once for the whole frame, a byte arriving just
    /// before the deadline would let the next read wait a whole timeout more.
    ///
    /// # Errors
    /// As [`FrameReader::read_frame`]; a partly read frame is kept for the next call.
    pub(crate) fn read_frame_before(&mut self, deadline: Instant) -> Result<Vec<u8>, FrameError> {
        self.set_deadline(Some(deadline));
        let read = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(FrameError::TimedOut);
            }
            if let Err(e) = self.inner.set_read_timeout(Some(left.min(DEADLINE_POLL))) {
                break Err(FrameError::Io(e));
            }
            match self.read_frame() {
                Err(FrameError::TimedOut) => {}
                other => break other,
            }
        };
        self.set_deadline(None);
        read
    }
}

/// Writes all of `bytes` to `stream` before `deadline` (overshooting it by at most
/// [`DEADLINE_POLL`], as [`FrameReader::read_frame_before`] does).
///
/// # Errors
/// How many bytes went out before the failure, and the failure: `TimedOut` when the
/// deadline passed. With any bytes out, the stream is in the middle of a frame and can carry
/// no other.
pub(crate) fn write_all_before(
    mut stream: &TcpStream,
    bytes: &[u8],
    deadline: Instant,
) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while written < bytes.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((written, io::Error::from(io::ErrorKind::TimedOut)));
        }
        stream
            .set_write_timeout(Some(left.min(DEADLINE_POLL)))
            .map_err(|e| (written, e))?;
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err((written, io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

/// Turns a read error into the frame error it means; `Ok` for an interrupted read, to retry.
fn read_error(error: io::Error) -> Result<(), FrameError> {
    if error.kind() == io::ErrorKind::Interrupted {
        Ok(())
    } else if is_timeout(&error) {
        Err(FrameError::TimedOut)
    } else {
        Err(FrameError::Io(error))
    }
}

/// Encodes `message` as one frame: the length prefix, then the postcard body.
///
/// # Errors
/// [`FrameError::TooLarge`] if the body would be over [`FRAME_MAX`];
/// [`FrameError::Codec`] if it does not encode.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let frame = postcard::to_extend(message, vec![0u8; HEADER_LEN]).map_err(FrameError::Codec)?;
    let len = frame.len() - HEADER_LEN;
    let header = u32::try_from(len)
        .ok()
        .filter(|_| len <= FRAME_MAX)
        .ok_or(FrameError::TooLarge {
            len,
            limit: FRAME_MAX,
        })?;
    let mut frame = frame;
    frame[..HEADER_LEN].copy_from_slice(&header.to_le_bytes());
    Ok(frame)
}

/// Decodes a frame's body as a `T`, all of it.
///
/// # Errors
/// [`FrameError::Codec`] if it does not decode; [`FrameError::TrailingBytes`] if bytes are
/// left over.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(FrameError::Codec)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(FrameError::TrailingBytes { left: rest.len() })
    }
}

/// A request on a peer lane, dialer to acceptor, numbered so its reply can be paired with it.
/// (`R` is `&Request` when sending, `Request` when receiving: no copy of the entries.)
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RequestFrame<R> {
    pub(crate) id: u64,
    pub(crate) request: R,
}

/// The reply to the request of the same id on the same connection, acceptor to dialer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReplyFrame<R> {
    pub(crate) id: u64,
    pub(crate) reply: R,
}

/// A client's request or the server's reply to it: opaque bytes, paired by id.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientFrame<P> {
    pub(crate) id: u64,
    pub(crate) payload: P,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out its bytes a few at a time and then times out, as a slow
    /// socket with a read timeout does.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.bytes.len() {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let n = buf.len().min(self.step).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn frames_survive_short_reads() {
        let mut bytes = encode(&("hello", 7u64)).unwrap();
        bytes.extend(encode(&vec![9u8; 200_000]).unwrap());
        let mut reader = FrameReader::new(Trickle {
            bytes,
            at: 0,
            step: 3,
        });
        let first: (String, u64) = decode(&reader.read_frame().unwrap()).unwrap();
        assert_eq!(first, ("hello".to_string(), 7));
        // The second frame arrives 3 bytes per read: short reads are joined into one body.
        let second: Vec<u8> = decode(&reader.read_frame().unwrap()).unwrap();
        assert_eq!(second, vec![9u8; 200_000]);
        assert!(matches!(reader.read_frame(), Err(FrameError::TimedOut)));
    }

    #[test]
    fn a_timeout_in_the_middle_of_a_frame_keeps_what_was_read() {
        let frame = encode(&vec![1u8; 1000]).unwrap();
        let (head, tail) = frame.split_at(500);
        let mut reader = FrameReader::new(Trickle {
            bytes: head.to_vec(),
            at: 0,
            step: 64,
        });
        assert!(matches!(reader.read_frame(), Err(FrameError::TimedOut)));
        assert!(reader.buffered_capacity() <= frame.len());
        // The rest arrives.
        reader.inner.bytes.extend_from_slice(tail);
        let body = reader.read_frame().unwrap();
        assert_eq!(decode::<Vec<u8>>(&body).unwrap(), vec![1u8; 1000]);
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_reading_the_body() {
        let mut bytes = u32::try_from(FRAME_MAX + 1).unwrap().to_le_bytes().to_vec();
        bytes.extend([0u8; 16]);
        let mut reader = FrameReader::new(Trickle {
            bytes,
            at: 0,
            step: 64,
        });
        assert!(matches!(
            reader.read_frame(),
            Err(FrameError::TooLarge { len, .. }) if len == FRAME_MAX + 1
        ));
        assert_eq!(reader.buffered_capacity(), 0);
        assert_eq!(reader.inner.at, HEADER_LEN, "no body byte was read");
    }

    #[test]
    fn a_large_announcement_costs_only_what_arrives() {
        let mut bytes = u32::try_from(FRAME_MAX).unwrap().to_le_bytes().to_vec();
        bytes.extend([0u8; 1000]);
        let mut reader = FrameReader::new(Trickle {
            bytes,
            at: 0,
            step: 4096,
        });
        assert!(matches!(reader.read_frame(), Err(FrameError::TimedOut)));
        assert!(reader.buffered_capacity() <= READ_CHUNK);
    }

    #[test]
    fn encoding_over_the_limit_is_refused() {
        let big = vec![0u8; FRAME_MAX + 1];
        assert!(matches!(encode(&big), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn trailing_bytes_and_truncation_are_errors() {
        let mut body = postcard::to_stdvec(&5u64).unwrap();
        body.push(0);
        assert!(matches!(
            decode::<u64>(&body),
            Err(FrameError::TrailingBytes { left: 1 })
        ));
        let frame = encode(&"abc").unwrap();
        let mut reader = FrameReader::new(&frame[..frame.len() - 1]);
        assert!(matches!(reader.read_frame(), Err(FrameError::Truncated)));
        let mut empty = FrameReader::new(&[][..]);
        assert!(matches!(empty.read_frame(), Err(FrameError::Closed)));
    }
}
