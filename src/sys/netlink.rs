//! A NETLINK_SOCK_DIAG socket: the kernel's socket tables as `ss` reads them.
//!
//! Safe code only (socket2 does the system calls); it lives here because it names libc
//! constants, which the rest of the crate leaves to src/sys.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::Read;
use std::time::Duration;

/// The netlink protocol number of sock_diag (linux/netlink.h).
const NETLINK_SOCK_DIAG: i32 = 4;

/// An open sock_diag socket talking to the kernel.
pub struct SockDiag {
    sock: Socket,
}

impl SockDiag {
    /// Opens the socket; needs no privilege (the kernel filters what it reports).
    pub fn open() -> std::io::Result<SockDiag> {
        let sock = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW,
            Some(Protocol::from(NETLINK_SOCK_DIAG)),
        )?;
        // A dump answers at once; the timeout only guards against a kernel that never does.
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(SockDiag { sock })
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
