//! sock_diag requests and replies (linux/inet_diag.h): building and parsing, no I/O
//! except `dump`, which runs them over `sys::netlink`.

use super::socket::{LocalSocket, Proto};
use crate::error::ScanError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
/// inet_diag_req_v2: family, protocol, ext, pad, states, then a 48-byte inet_diag_sockid.
const REQ_LEN: usize = 56;
/// inet_diag_msg: 4 bytes, a 48-byte sockid, then expires, rqueue, wqueue, uid, inode.
const MSG_LEN: usize = 72;
/// The attribute carrying IPV6_V6ONLY of an AF_INET6 socket.
const INET_DIAG_SKV6ONLY: u16 = 11;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// The errno a kernel without a family's diag handler answers (libc stays in src/sys).
const ENOENT: i32 = 2;

/// Every state: the kernel's bitmask of TCP states to dump.
pub const ALL_STATES: u32 = 0xfff;

/// A dump request for one family and protocol, in host byte order as netlink wants it.
pub fn request(v6: bool, proto: Proto, states: u32, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(NLMSG_HDR + REQ_LEN);
    b.extend_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.push(if v6 { AF_INET6 } else { AF_INET });
    b.push(match proto {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
    });
    b.push(0);
    b.push(0);
    b.extend_from_slice(&states.to_ne_bytes());
    b.resize(NLMSG_HDR + REQ_LEN, 0);
    b
}

/// What one datagram of replies held.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// Sockets; more datagrams follow.
    More(Vec<LocalSocket>),
    /// Sockets, and the dump is complete.
    Done(Vec<LocalSocket>),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one datagram of replies; an error is the kernel's negative errno or a
/// malformed message. Never panics on any bytes.
pub fn parse(buf: &[u8], proto: Proto) -> Result<Batch, ScanError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDR <= buf.len() {
        let len = u32_at(buf, at).unwrap_or(0) as usize;
        let kind = u16_at(buf, at + 4).unwrap_or(0);
        if len < NLMSG_HDR || at + len > buf.len() {
            return Err(ScanError::runtime(format!(
                "malformed netlink message (length {len})"
            )));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => return Ok(Batch::Done(out)),
            NLMSG_ERROR => {
                let errno = u32_at(body, 0).map(|e| -(e as i32)).unwrap_or(0);
                if errno == 0 {
                    return Ok(Batch::Done(out));
                }
                return Err(ScanError::runtime(
                    std::io::Error::from_raw_os_error(errno).to_string(),
                ));
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(s) = socket(body, proto) {
                    out.push(s);
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Ok(Batch::More(out))
}

/// One inet_diag_msg (with its attributes) as a socket; None when too short or of an
/// unknown family.
fn socket(body: &[u8], proto: Proto) -> Option<LocalSocket> {
    if body.len() < MSG_LEN {
        return None;
    }
    let family = body[0];
    let state = body[1];
    let port = u16::from_be_bytes([body[4], body[5]]);
    let src: [u8; 16] = body[8..24].try_into().ok()?;
    let addr = match family {
        AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(src)),
        _ => return None,
    };
    let uid = u32_at(body, 64)?;
    let inode = u64::from(u32_at(body, 68)?);
    let mut v6only = None;
    let mut at = MSG_LEN;
    while at + 4 <= body.len() {
        let alen = usize::from(u16_at(body, at)?);
        let atype = u16_at(body, at + 2)? & 0x3fff;
        if alen < 4 || at + alen > body.len() {
            break;
        }
        if atype == INET_DIAG_SKV6ONLY && alen >= 5 {
            v6only = Some(body[at + 4] != 0);
        }
        at += (alen + 3) & !3;
    }
    if family == AF_INET {
        v6only = None;
    }
    Some(LocalSocket {
        proto,
        addr,
        port,
        state,
        v6only,
        uid,
        inode,
    })
}

/// Every socket of the given protocols and states, both families, from the kernel.
pub fn dump(protos: &[Proto], states: u32) -> Result<Vec<LocalSocket>, ScanError> {
    let mut diag = crate::sys::netlink::SockDiag::open()
        .map_err(|e| ScanError::runtime(format!("cannot open a sock_diag netlink socket: {e}")))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut seq = 1;
    for &proto in protos {
        for v6 in [false, true] {
            diag.send(&request(v6, proto, states, seq))
                .map_err(|e| ScanError::runtime(format!("sock_diag request failed: {e}")))?;
            seq += 1;
            loop {
                let n = diag
                    .recv(&mut buf)
                    .map_err(|e| ScanError::runtime(format!("sock_diag reply failed: {e}")))?;
                if n == 0 {
                    return Err(ScanError::runtime(
                        "sock_diag: the kernel closed the dump early",
                    ));
                }
                match parse(&buf[..n], proto) {
                    Ok(Batch::More(v)) => out.extend(v),
                    Ok(Batch::Done(v)) => {
                        out.extend(v);
                        break;
                    }
                    // A kernel without IPv6 has no table to dump: nothing listens there.
                    Err(_) if v6 && n > 0 && is_no_family(&buf[..n]) => break,
                    Err(e) => return Err(e.context("sock_diag: ")),
                }
            }
        }
    }
    Ok(out)
}

/// Whether a reply is the error a kernel without the family's diag module sends.
fn is_no_family(buf: &[u8]) -> bool {
    u16_at(buf, 4) == Some(NLMSG_ERROR)
        && u32_at(buf, NLMSG_HDR).map(|e| -(e as i32)) == Some(ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::socket::tcp_state;

    /// A reply message as the kernel builds it.
    fn msg(
        family: u8,
        state: u8,
        port: u16,
        src: [u8; 16],
        uid: u32,
        inode: u32,
        v6only: Option<u8>,
    ) -> Vec<u8> {
        let mut body = vec![family, state, 0, 0];
        body.extend_from_slice(&port.to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&src);
        body.extend_from_slice(&[0u8; 16]);
        body.extend_from_slice(&[0u8; 12]);
        body.extend_from_slice(&[0u8; 12]);
        body.extend_from_slice(&uid.to_ne_bytes());
        body.extend_from_slice(&inode.to_ne_bytes());
        if let Some(v) = v6only {
            body.extend_from_slice(&5u16.to_ne_bytes());
            body.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
            body.extend_from_slice(&[v, 0, 0, 0]);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&body);
        m
    }

    fn done() -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&20u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&[0u8; 14]);
        m
    }

    #[test]
    fn request_layout() {
        let r = request(true, Proto::Udp, 1 << 7, 9);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(20));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(9));
        assert_eq!(&r[16..20], &[10, 17, 0, 0]);
        assert_eq!(u32_at(&r, 20), Some(128));
        assert!(r[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn parses_sockets_and_done() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut buf = msg(AF_INET, tcp_state::LISTEN, 8080, v4, 1000, 4242, None);
        buf.extend(msg(
            AF_INET6,
            tcp_state::LISTEN,
            443,
            [0u8; 16],
            0,
            7,
            Some(0),
        ));
        let more = parse(&buf, Proto::Tcp).unwrap();
        let Batch::More(socks) = more else {
            panic!("expected more")
        };
        assert_eq!(socks.len(), 2);
        assert_eq!(socks[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (socks[0].port, socks[0].uid, socks[0].inode),
            (8080, 1000, 4242)
        );
        assert_eq!(socks[0].v6only, None);
        assert_eq!(socks[1].addr, "::".parse::<IpAddr>().unwrap());
        assert_eq!(socks[1].v6only, Some(false));
        buf.extend(done());
        assert!(matches!(parse(&buf, Proto::Tcp), Ok(Batch::Done(v)) if v.len() == 2));
    }

    #[test]
    fn kernel_error_is_reported() {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&(-2i32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 16]);
        assert!(parse(&m, Proto::Tcp).is_err());
        assert!(is_no_family(&m));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes, Proto::Tcp);
        }
    }
}
