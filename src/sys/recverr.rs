//! The socket error queue (IP_RECVERR, IPV6_RECVERR): the ICMP errors the kernel matched to
//! one of our UDP sockets, with the ICMP type, code and the address that sent them. This is
//! how an unprivileged scanner tells closed (port unreachable from the target) from filtered
//! (another unreachable, or one sent by a hop) without a raw socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use super::sock::set_int;

/// Who produced a queued error (`ee_origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The local stack (for example a message too long for the path MTU).
    Local,
    /// An ICMP message.
    Icmp,
    /// An ICMPv6 message.
    Icmp6,
    /// Anything else (timestamping, zero-copy notices): not a reply to a probe.
    Other(u8),
}

/// One entry of a socket's error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedError {
    /// The errno the kernel maps the error to (ECONNREFUSED for a port unreachable).
    pub errno: i32,
    /// Who produced it.
    pub origin: ErrorOrigin,
    /// The ICMP or ICMPv6 type (0 for local errors).
    pub icmp_type: u8,
    /// The ICMP or ICMPv6 code.
    pub icmp_code: u8,
    /// The address the ICMP message came from (the target itself or a hop), when known.
    pub offender: Option<IpAddr>,
}

/// Asks the kernel to queue every ICMP error for `fd` with its details (IP_RECVERR, or
/// IPV6_RECVERR for an IPv6 socket), instead of only a bare errno for some of them.
pub fn enable(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)
    }
}

/// Control-message room: one cmsghdr, sock_extended_err (16 bytes) and a sockaddr_in6
/// (28 bytes), aligned; twice that leaves room for a kernel that adds a message.
const CONTROL_LEN: usize = 128;

/// A control buffer aligned as the kernel's cmsghdr walk expects.
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

/// Takes the oldest entry of `fd`'s error queue without blocking; `None` when it is empty
/// or holds nothing this module reads.
pub fn take(fd: BorrowedFd<'_>) -> io::Result<Option<QueuedError>> {
    let mut control = Control([0; CONTROL_LEN]);
    // The queued packet's own bytes are not wanted: a zero-length buffer truncates them.
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 0,
    };
    // SAFETY: msghdr is plain data (pointers and integers); all-zero is a valid value (no
    // address wanted: the offender comes in the control message) and the rest is set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = CONTROL_LEN as _;
    // SAFETY: msg points to live buffers of the lengths it states (one iovec of length 0,
    // the control buffer); the kernel writes only within them.
    let n = unsafe {
        libc::recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            _ => Err(e),
        };
    }
    let len = (msg.msg_controllen as usize).min(CONTROL_LEN);
    Ok(parse_control(&control.0[..len]))
}

/// The first IP_RECVERR or IPV6_RECVERR entry in a control buffer as recvmsg fills it
/// (native-endian cmsghdr records, each padded to the size of a `usize`). Pure and total:
/// hostile or truncated bytes give `None`, never a panic.
pub(crate) fn parse_control(control: &[u8]) -> Option<QueuedError> {
    const WORD: usize = std::mem::size_of::<usize>();
    let header = std::mem::size_of::<libc::cmsghdr>();
    let mut off = 0usize;
    while control.len().checked_sub(off)? >= header {
        let rec = &control[off..];
        let len = usize::from_ne_bytes(rec[..WORD].try_into().ok()?);
        let level = i32::from_ne_bytes(rec[WORD..WORD + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(rec[WORD + 4..WORD + 8].try_into().ok()?);
        if len < header || len > rec.len() {
            return None;
        }
        let data = &rec[header..len];
        let ours = (level == libc::IPPROTO_IP && kind == libc::IP_RECVERR)
            || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR);
        if ours {
            return parse_extended_err(data);
        }
        off = off.checked_add(len.checked_add(WORD - 1)? & !(WORD - 1))?;
    }
    None
}

/// `struct sock_extended_err` (16 bytes) followed by the offender's sockaddr.
fn parse_extended_err(data: &[u8]) -> Option<QueuedError> {
    let ee = data.get(..16)?;
    let errno = u32::from_ne_bytes(ee[0..4].try_into().ok()?);
    let origin = match ee[4] {
        libc::SO_EE_ORIGIN_LOCAL => ErrorOrigin::Local,
        libc::SO_EE_ORIGIN_ICMP => ErrorOrigin::Icmp,
        libc::SO_EE_ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
        other => ErrorOrigin::Other(other),
    };
    Some(QueuedError {
        errno: i32::try_from(errno).unwrap_or(i32::MAX),
        origin,
        icmp_type: ee[5],
        icmp_code: ee[6],
        offender: parse_sockaddr(&data[16..]),
    })
}

/// An AF_INET or AF_INET6 sockaddr's address; `None` for AF_UNSPEC or short bytes.
fn parse_sockaddr(b: &[u8]) -> Option<IpAddr> {
    let family = i32::from(u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?));
    match family {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORD: usize = std::mem::size_of::<usize>();

    /// One cmsghdr record with `data`, padded as the kernel pads it.
    fn record(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let header = std::mem::size_of::<libc::cmsghdr>();
        let len = header + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(header, 0);
        v.extend_from_slice(data);
        v.resize(len.div_ceil(WORD) * WORD, 0);
        v
    }

    fn extended_err(errno: u32, origin: u8, ty: u8, code: u8) -> Vec<u8> {
        let mut v = errno.to_ne_bytes().to_vec();
        v.extend_from_slice(&[origin, ty, code, 0]);
        v.extend_from_slice(&0u32.to_ne_bytes()); // ee_info
        v.extend_from_slice(&0u32.to_ne_bytes()); // ee_data
        v
    }

    fn sockaddr_in(a: [u8; 4]) -> Vec<u8> {
        let mut v = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&a);
        v.resize(16, 0);
        v
    }

    fn sockaddr_in6(a: Ipv6Addr) -> Vec<u8> {
        let mut v = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&[0; 6]);
        v.extend_from_slice(&a.octets());
        v.resize(28, 0);
        v
    }

    #[test]
    fn ipv4_port_unreachable() {
        let mut data = extended_err(libc::ECONNREFUSED as u32, libc::SO_EE_ORIGIN_ICMP, 3, 3);
        data.extend(sockaddr_in([198, 19, 0, 10]));
        let c = record(libc::IPPROTO_IP, libc::IP_RECVERR, &data);
        assert_eq!(
            parse_control(&c),
            Some(QueuedError {
                errno: libc::ECONNREFUSED,
                origin: ErrorOrigin::Icmp,
                icmp_type: 3,
                icmp_code: 3,
                offender: Some("198.19.0.10".parse().unwrap()),
            })
        );
    }

    #[test]
    fn ipv6_entry_after_another_record() {
        let a: Ipv6Addr = "2001:2:0:18::2".parse().unwrap();
        let mut data = extended_err(libc::EACCES as u32, libc::SO_EE_ORIGIN_ICMP6, 1, 1);
        data.extend(sockaddr_in6(a));
        // A record of another kind first (an odd length, so the padding is exercised).
        let mut c = record(libc::SOL_SOCKET, libc::SO_TIMESTAMP, &[7; 13]);
        c.extend(record(libc::IPPROTO_IPV6, libc::IPV6_RECVERR, &data));
        let e = parse_control(&c).unwrap();
        assert_eq!(e.origin, ErrorOrigin::Icmp6);
        assert_eq!((e.icmp_type, e.icmp_code), (1, 1));
        assert_eq!(e.errno, libc::EACCES);
        assert_eq!(e.offender, Some(IpAddr::V6(a)));
    }

    #[test]
    fn local_error_without_offender() {
        let mut data = extended_err(libc::EMSGSIZE as u32, libc::SO_EE_ORIGIN_LOCAL, 0, 0);
        data.extend((libc::AF_UNSPEC as u16).to_ne_bytes());
        data.resize(32, 0);
        let e = parse_control(&record(libc::IPPROTO_IP, libc::IP_RECVERR, &data)).unwrap();
        assert_eq!(e.origin, ErrorOrigin::Local);
        assert_eq!(e.offender, None);
        assert_eq!(e.errno, libc::EMSGSIZE);
    }

    /// Truncations, lying lengths and random bytes give None or an entry, never a panic.
    #[test]
    fn hostile_control_bytes_never_panic() {
        let mut data = extended_err(111, libc::SO_EE_ORIGIN_ICMP, 3, 3);
        data.extend(sockaddr_in([198, 19, 0, 10]));
        let good = record(libc::IPPROTO_IP, libc::IP_RECVERR, &data);
        for cut in 0..good.len() {
            let _ = parse_control(&good[..cut]);
        }
        assert_eq!(parse_control(&[]), None);
        // A length of zero, one past the end, and usize::MAX.
        for len in [0usize, good.len() + 1, usize::MAX] {
            let mut bad = good.clone();
            bad[..WORD].copy_from_slice(&len.to_ne_bytes());
            assert_eq!(parse_control(&bad), None, "len {len}");
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let n = (x % 96) as usize;
            let mut b = Vec::with_capacity(n);
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(x as u8);
            }
            let _ = parse_control(&b);
        }
    }
}
