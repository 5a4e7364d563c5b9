//! Raw IPv4 sockets (IPPROTO_RAW implies IP_HDRINCL).

use std::io;
use std::os::fd::OwnedFd;

/// Opens socket(AF_INET, SOCK_RAW, IPPROTO_RAW): we write whole IPv4 headers.
pub fn open() -> io::Result<OwnedFd> {
    super::sock::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)
}
