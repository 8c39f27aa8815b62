//! Loopback ports for the processes a test starts.

use std::io;
use std::net::{SocketAddr, TcpListener};

/// A free loopback address: port 0 bound and released. Another process could take the port
/// before it is used; on a test machine that is rare, and the process that then fails to bind
/// it says so in its log.
///
/// # Errors
/// If no socket can be bound.
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
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
}
