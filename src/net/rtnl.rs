//! rtnetlink messages for IPv6 next hops: the route request (`ip -6 route get`), the
//! neighbour table dump (`ip -6 neigh`), and the parsing of the kernel's replies. Pure:
//! lengths are checked before every read, so no bytes make it panic. The socket itself is
//! `sys::netlink`.

use std::io;
use std::net::Ipv6Addr;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const AF_INET6: u8 = 10;
/// struct rtmsg and struct ndmsg are both 12 bytes.
const FAMILY_MSG: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// Attribute types carry two flag bits above the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Neighbour states whose link-layer address may be used: reachable, stale, delay,
/// probe, noarp, permanent (not incomplete or failed).
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// The kernel's answer to a route request for one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteAnswer {
    /// Index of the interface the kernel sends through.
    pub oif: u32,
    /// The router, when the destination is not on-link.
    pub gateway: Option<Ipv6Addr>,
    /// The source address the kernel would pick.
    pub source: Option<Ipv6Addr>,
}

/// One entry of the kernel's IPv6 neighbour table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub ifindex: u32,
    /// The neighbour's address.
    pub ip: Ipv6Addr,
    /// Its link-layer address (None while unresolved).
    pub mac: Option<[u8; 6]>,
    /// NUD_* state bits.
    pub state: u16,
}

impl Neighbour {
    /// The MAC, when the entry is resolved and usable.
    pub fn usable_mac(&self) -> Option<[u8; 6]> {
        self.mac
            .filter(|m| *m != [0; 6] && self.state & NUD_USABLE != 0)
    }
}

fn header(len: usize, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m
}

fn attr(m: &mut Vec<u8>, kind: u16, data: &[u8]) {
    m.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(data);
    m.resize(m.len().next_multiple_of(4), 0);
}

/// RTM_GETROUTE for `dst` (through interface `oif` when given): the route the kernel
/// would use, as `ip -6 route get DST [oif DEV]` asks.
pub fn route_request(seq: u32, dst: Ipv6Addr, oif: Option<u32>) -> Vec<u8> {
    let len = NLMSG_HDR + FAMILY_MSG + 20 + if oif.is_some() { 8 } else { 0 };
    let mut m = header(len, RTM_GETROUTE, NLM_F_REQUEST, seq);
    // rtmsg: family, dst_len (a host route), src_len, tos, table, protocol, scope, type, flags.
    m.extend_from_slice(&[AF_INET6, 128, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut m, RTA_DST, &dst.octets());
    if let Some(i) = oif {
        attr(&mut m, RTA_OIF, &i.to_ne_bytes());
    }
    m
}

/// RTM_GETNEIGH dump of the IPv6 neighbour table.
pub fn neighbour_dump_request(seq: u32) -> Vec<u8> {
    let mut m = header(
        NLMSG_HDR + FAMILY_MSG,
        RTM_GETNEIGH,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    );
    // ndmsg: family, 3 pad bytes, ifindex (all), state, flags, type.
    m.extend_from_slice(&[AF_INET6, 0, 0, 0]);
    m.extend_from_slice(&[0; 8]);
    m
}

/// What one datagram from the kernel holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Routes answered.
    pub routes: Vec<RouteAnswer>,
    /// Neighbour entries dumped.
    pub neighbours: Vec<Neighbour>,
    /// The dump ended (NLMSG_DONE) or the request was acknowledged.
    pub done: bool,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed netlink reply ({what})"),
    )
}

/// Parses one datagram of replies; a negative errno from the kernel is that error.
pub fn parse(buf: &[u8]) -> io::Result<Batch> {
    let mut batch = Batch::default();
    let mut at = 0;
    while at + NLMSG_HDR <= buf.len() {
        let len = u32_at(buf, at).unwrap_or(0) as usize;
        let kind = u16_at(buf, at + 4).unwrap_or(0);
        if len < NLMSG_HDR || len > buf.len() - at {
            return Err(malformed(&format!("message length {len}")));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => {
                batch.done = true;
                return Ok(batch);
            }
            NLMSG_ERROR => {
                let code = u32_at(body, 0).ok_or_else(|| malformed("short error"))? as i32;
                if code != 0 {
                    return Err(io::Error::from_raw_os_error(code.saturating_neg()));
                }
                batch.done = true;
                return Ok(batch);
            }
            RTM_NEWROUTE => batch.routes.extend(route(body)),
            RTM_NEWNEIGH => batch.neighbours.extend(neighbour(body)),
            _ => {}
        }
        at += len.next_multiple_of(4);
    }
    Ok(batch)
}

/// The attributes after a 12-byte family message: (type, payload).
fn attributes(body: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = FAMILY_MSG;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(body, at)?);
        let kind = u16_at(body, at + 2)? & NLA_TYPE_MASK;
        let data = body.get(at + 4..at.checked_add(len)?)?;
        at += len.max(4).next_multiple_of(4);
        Some((kind, data))
    })
}

fn v6(data: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(data).ok().map(Ipv6Addr::from)
}

fn route(body: &[u8]) -> Option<RouteAnswer> {
    if *body.first()? != AF_INET6 || body.len() < FAMILY_MSG {
        return None;
    }
    let mut r = RouteAnswer {
        oif: 0,
        gateway: None,
        source: None,
    };
    for (kind, data) in attributes(body) {
        match kind {
            RTA_OIF => r.oif = u32::from_ne_bytes(data.try_into().ok()?),
            RTA_GATEWAY => r.gateway = v6(data),
            RTA_PREFSRC => r.source = v6(data),
            _ => {}
        }
    }
    Some(r)
}

fn neighbour(body: &[u8]) -> Option<Neighbour> {
    if *body.first()? != AF_INET6 || body.len() < FAMILY_MSG {
        return None;
    }
    let mut n = Neighbour {
        ifindex: u32_at(body, 4)?,
        ip: Ipv6Addr::UNSPECIFIED,
        mac: None,
        state: u16_at(body, 8)?,
    };
    let mut has_ip = false;
    for (kind, data) in attributes(body) {
        match kind {
            NDA_DST => {
                n.ip = v6(data)?;
                has_ip = true;
            }
            NDA_LLADDR => n.mac = <[u8; 6]>::try_from(data).ok(),
            _ => {}
        }
    }
    has_ip.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// A message as the kernel writes it: header, family message, attributes.
    fn message(kind: u16, family_msg: [u8; 12], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = header(0, kind, 0, 7);
        m.extend_from_slice(&family_msg);
        for (k, d) in attrs {
            attr(&mut m, *k, d);
        }
        let len = (m.len() as u32).to_ne_bytes();
        m[..4].copy_from_slice(&len);
        m
    }

    fn ndmsg(ifindex: u32, state: u16) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0] = AF_INET6;
        b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        b[8..10].copy_from_slice(&state.to_ne_bytes());
        b
    }

    #[test]
    fn route_request_bytes() {
        let m = route_request(9, ip("2001:2:0:19::5"), Some(3));
        assert_eq!(m.len(), 56);
        assert_eq!(u32_at(&m, 0), Some(56));
        assert_eq!(u16_at(&m, 4), Some(RTM_GETROUTE));
        assert_eq!(u16_at(&m, 6), Some(NLM_F_REQUEST));
        assert_eq!(u32_at(&m, 8), Some(9));
        assert_eq!(m[16..20], [AF_INET6, 128, 0, 0]);
        assert_eq!((u16_at(&m, 28), u16_at(&m, 30)), (Some(20), Some(RTA_DST)));
        assert_eq!(m[32..48], ip("2001:2:0:19::5").octets());
        assert_eq!((u16_at(&m, 48), u16_at(&m, 50)), (Some(8), Some(RTA_OIF)));
        assert_eq!(u32_at(&m, 52), Some(3));
        assert_eq!(route_request(1, ip("::1"), None).len(), 48);
        let d = neighbour_dump_request(2);
        assert_eq!(d.len(), 28);
        assert_eq!(u16_at(&d, 4), Some(RTM_GETNEIGH));
        assert_eq!(u16_at(&d, 6), Some(NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(d[16], AF_INET6);
    }

    #[test]
    fn parses_a_route_through_a_router() {
        let mut rtmsg = [0u8; 12];
        rtmsg[0] = AF_INET6;
        rtmsg[1] = 128;
        let m = message(
            RTM_NEWROUTE,
            rtmsg,
            &[
                (RTA_DST, &ip("2001:2:0:19::5").octets()),
                (RTA_OIF, &4u32.to_ne_bytes()),
                (RTA_GATEWAY, &ip("2001:2:0:18::2").octets()),
                (RTA_PREFSRC, &ip("2001:2:0:18::1").octets()),
                (15, &254u32.to_ne_bytes()),
            ],
        );
        assert_eq!(
            parse(&m).unwrap(),
            Batch {
                routes: vec![RouteAnswer {
                    oif: 4,
                    gateway: Some(ip("2001:2:0:18::2")),
                    source: Some(ip("2001:2:0:18::1")),
                }],
                neighbours: vec![],
                done: false,
            }
        );
    }

    #[test]
    fn parses_neighbours_until_done() {
        let mac = [2, 0, 0, 0, 0, 0x22];
        let mut d = message(
            RTM_NEWNEIGH,
            ndmsg(4, 0x02),
            &[
                (NDA_DST, &ip("2001:2:0:18::2").octets()),
                (NDA_LLADDR, &mac),
            ],
        );
        d.extend(message(
            RTM_NEWNEIGH,
            ndmsg(4, 0x20),
            &[(NDA_DST, &ip("2001:2:0:18::9").octets())],
        ));
        d.extend(message(NLMSG_DONE, [0; 12], &[]));
        let b = parse(&d).unwrap();
        assert!(b.done);
        assert_eq!(b.neighbours.len(), 2);
        assert_eq!(
            b.neighbours[0],
            Neighbour {
                ifindex: 4,
                ip: ip("2001:2:0:18::2"),
                mac: Some(mac),
                state: 0x02,
            }
        );
        assert_eq!(b.neighbours[0].usable_mac(), Some(mac));
        // A failed entry has no usable address.
        assert_eq!(b.neighbours[1].usable_mac(), None);
    }

    #[test]
    fn kernel_errors_and_malformed_replies() {
        let mut err = message(NLMSG_ERROR, [0; 12], &[]);
        err[16..20].copy_from_slice(&(-101i32).to_ne_bytes());
        let e = parse(&err).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(101), "{e}");
        // An acknowledgement (errno 0) ends the reply.
        let mut ack = message(NLMSG_ERROR, [0; 12], &[]);
        ack[16..20].copy_from_slice(&0i32.to_ne_bytes());
        assert!(parse(&ack).unwrap().done);
        let mut bad = message(
            RTM_NEWROUTE,
            [AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[],
        );
        bad[..4].copy_from_slice(&999u32.to_ne_bytes());
        assert!(parse(&bad).is_err());
        // Every cut of a valid reply and every attribute length parse without a panic.
        let m = message(
            RTM_NEWROUTE,
            [AF_INET6, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[
                (RTA_GATEWAY, &ip("fe80::1").octets()),
                (RTA_OIF, &2u32.to_ne_bytes()),
            ],
        );
        for cut in 0..m.len() {
            let _ = parse(&m[..cut]);
        }
        for alen in 0..=u16::from(u8::MAX) {
            let mut x = m.clone();
            x[28..30].copy_from_slice(&alen.to_ne_bytes());
            let _ = parse(&x);
        }
    }
}
