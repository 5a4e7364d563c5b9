//! Netlink sockets: NETLINK_SOCK_DIAG (the kernel's socket tables, as `ss` reads them) and
//! NETLINK_ROUTE (routes and neighbours, as `ip route get` and `ip neigh` read them).
//!
//! Safe code only (socket2 does the system calls); it lives here because it names libc
//! constants, which the rest of the crate leaves to src/sys.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::Read;
use std::time::Duration;

/// The netlink protocol number of rtnetlink (linux/netlink.h).
const NETLINK_ROUTE: i32 = 0;
/// The netlink protocol number of sock_diag (linux/netlink.h).
const NETLINK_SOCK_DIAG: i32 = 4;

/// An open netlink socket talking to the kernel.
pub struct Netlink {
    sock: Socket,
}

/// The sock_diag flavour (kept under its own name for `synscan local`).
pub type SockDiag = Netlink;

impl Netlink {
    fn open_protocol(protocol: i32) -> std::io::Result<Netlink> {
        let sock = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW,
            Some(Protocol::from(protocol)),
        )?;
        // A request answers at once; the timeout only guards against a kernel that never does.
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Netlink { sock })
    }

    /// A sock_diag socket; needs no privilege (the kernel filters what it reports).
    pub fn open() -> std::io::Result<Netlink> {
        Self::open_protocol(NETLINK_SOCK_DIAG)
    }

    /// An rtnetlink socket; reading routes and neighbours needs no privilege.
    pub fn route() -> std::io::Result<Netlink> {
        Self::open_protocol(NETLINK_ROUTE)
    }

    /// Sends one request to the kernel (an unconnected netlink socket sends to port 0).
    pub fn send(&self, request: &[u8]) -> std::io::Result<()> {
        let n = self.sock.send(request)?;
        if n != request.len() {
            return Err(std::io::Error::other("short netlink send"));
        }
        Ok(())
    }

    /// Receives one datagram of replies into `buf`; returns its length.
    pub fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&self.sock).read(buf)
    }
}
