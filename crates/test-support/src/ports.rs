//! Loopback ports for the processes a test starts.
//!
//! A port from binding port 0 ([`free_addr`]) comes from the kernel's ephemeral range, the
//! same range outgoing connections take their local ports from. That is fine for a socket
//! that stays bound, but not for the listening port of a process the test stops and starts
//! again: while it is down, a connection to it or elsewhere (a proxy's, a client's) may be
//! given its port as a local port, and the restart then fails with "address in use"; a
//! connection to the dead port may even get that very port and connect to itself.
//! [`ListenPorts`] hands out ports below the ephemeral range instead, which no outgoing
//! connection uses: candidates drawn from a seed, each probed by binding it, none handed out
//! twice in one process; [`free_addr`] is the fallback when the range leaves no room.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A free loopback address: port 0 bound and released. Another process could take the port
/// before it is used; on a test machine that is rare, and the process that then fails to bind
/// it says so in its log. The port is in the ephemeral range: for a process that restarts on
/// the same port, use [`ListenPorts`].
///
/// # Errors
/// If no socket can be bound.
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Where the kernel's ephemeral range is read from.
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The lowest port [`ListenPorts`] hands out (clear of the well-known and common service
/// ports).
pub const LISTEN_PORT_FLOOR: u16 = 10_000;

/// How many candidates [`ListenPorts::next_addr`] probes before it falls back to
/// [`free_addr`].
const CANDIDATES_MAX: usize = 512;

/// Ports handed out by every [`ListenPorts`] of this process: never handed out again, so two
/// clusters of one test process (tests run on threads) never share a port between choosing
/// it and binding it.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The kernel's ephemeral port range, `(low, high)` inclusive; `None` if it cannot be read
/// (not Linux, say).
#[must_use]
pub fn ephemeral_port_range() -> Option<(u16, u16)> {
    parse_port_range(&std::fs::read_to_string(EPHEMERAL_RANGE_FILE).ok()?)
}

/// Parses the text of [`EPHEMERAL_RANGE_FILE`]: two numbers.
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut words = text.split_whitespace().map(str::parse::<u16>);
    let low = words.next()?.ok()?;
    let high = words.next()?.ok()?;
    (low <= high).then_some((low, high))
}

/// Listening ports for processes a test restarts on the same port: below the ephemeral range,
/// drawn from a seed; see the [module](self) documentation.
#[derive(Clone, Debug)]
pub struct ListenPorts {
    state: u64,
    /// The candidates: `[LISTEN_PORT_FLOOR, low end of the ephemeral range)`, if not empty.
    range: Option<(u16, u16)>,
}

impl ListenPorts {
    /// A picker whose candidates follow from `seed` (a run's seed, say), below the ephemeral
    /// range this machine has now.
    #[must_use]
    pub fn new(seed: u64) -> ListenPorts {
        ListenPorts::below(seed, ephemeral_port_range().map(|(low, _)| low))
    }

    /// A picker whose candidates follow from `seed`, below `ephemeral_low` (none: no room,
    /// so every address comes from [`free_addr`]).
    #[must_use]
    pub fn below(seed: u64, ephemeral_low: Option<u16>) -> ListenPorts {
        let range = ephemeral_low
            .filter(|&low| low > LISTEN_PORT_FLOOR)
            .map(|low| (LISTEN_PORT_FLOOR, low));
        ListenPorts { state: seed, range }
    }

    /// A picker seeded from the process id and the clock, for tests with no seed of their
    /// own.
    #[must_use]
    pub fn from_clock() -> ListenPorts {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        ListenPorts::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// The next candidate port (splitmix64 over the seed), if there is room below the range.
    fn candidate(&mut self) -> Option<u16> {
        let (floor, end) = self.range?;
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let span = u64::from(end - floor);
        Some(floor + u16::try_from(z % span).expect("below the span, a u16"))
    }

    /// A loopback address on a port below the ephemeral range that binds now and that no
    /// picker of this process has handed out; [`free_addr`]'s if none is found among the
    /// first candidates (or the range leaves no room).
    ///
    /// # Errors
    /// If even the fallback cannot bind.
    pub fn next_addr(&mut self) -> io::Result<SocketAddr> {
        for _ in 0..CANDIDATES_MAX {
            let Some(port) = self.candidate() else { break };
            let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
            if handed.contains(&port) {
                continue;
            }
            if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                handed.insert(port);
                return listener.local_addr();
            }
        }
        tracing::warn!("no free port below the ephemeral range; using one from port 0");
        free_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addresses_are_on_loopback_and_bindable() {
        let addr = free_addr().expect("free");
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        TcpListener::bind(addr).expect("the free port binds");
    }

    #[test]
    fn the_ephemeral_range_parses() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("1024 65535"), Some((1024, 65535)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("x"), None);
        assert_eq!(parse_port_range(""), None);
    }

    #[test]
    fn listen_ports_are_below_the_ephemeral_range_distinct_and_bindable() {
        let low = ephemeral_port_range().map_or(32768, |(low, _)| low);
        let mut picker = ListenPorts::below(7, Some(low));
        let mut seen = BTreeSet::new();
        for _ in 0..20 {
            let addr = picker.next_addr().expect("an address");
            assert!(addr.ip().is_loopback());
            if low > LISTEN_PORT_FLOOR {
                assert!(
                    (LISTEN_PORT_FLOOR..low).contains(&addr.port()),
                    "{addr} is not below {low}"
                );
            }
            assert!(seen.insert(addr.port()), "{addr} handed out twice");
            TcpListener::bind(addr).expect("the port binds");
        }
        // Another picker with the same seed never hands out the same ports in this process.
        let mut again = ListenPorts::below(7, Some(low));
        for _ in 0..5 {
            let addr = again.next_addr().expect("an address");
            assert!(!seen.contains(&addr.port()), "{addr} handed out twice");
        }
    }

    #[test]
    fn a_seed_fixes_the_candidates_and_no_room_falls_back_to_port_zero() {
        let draw = |seed| {
            let mut picker = ListenPorts::below(seed, Some(32768));
            (0..8).map(|_| picker.candidate()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        assert!(
            draw(42)
                .iter()
                .all(|p| p.is_some_and(|p| (LISTEN_PORT_FLOOR..32768).contains(&p)))
        );
        // A range that starts at the floor or below leaves no room: port 0's addresses.
        let mut none = ListenPorts::below(1, Some(LISTEN_PORT_FLOOR));
        assert_eq!(none.candidate(), None);
        let addr = none.next_addr().expect("the fallback");
        assert!(addr.ip().is_loopback() && addr.port() != 0);
    }
}
