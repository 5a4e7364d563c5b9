//! Raw IP sockets (IPPROTO_RAW implies IP_HDRINCL, and for IPv6 header inclusion too).

use std::io;
use std::os::fd::OwnedFd;

/// Opens socket(AF_INET, SOCK_RAW, IPPROTO_RAW): we write whole IPv4 headers.
pub fn open() -> io::Result<OwnedFd> {
    super::sock::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)
}

/// Opens socket(AF_INET6, SOCK_RAW, IPPROTO_RAW): we write whole IPv6 headers.
pub fn open6() -> io::Result<OwnedFd> {
    super::sock::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW)
}
