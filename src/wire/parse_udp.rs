//! Parser for untrusted frames that may answer a UDP probe: a UDP datagram, or an ICMP or
//! ICMPv6 destination unreachable quoting a UDP header. Same rules as `parse` (every length
//! checked first, no allocation, never a panic) and the same IP walk: options and extension
//! headers skipped, fragments never read, up to two VLAN tags.
//!
//! Whether a reply answers one of our probes is decided by the caller: the cookie in the
//! source port and in the protocol field (`payload::fields`), and for an ICMP error the
//! quoted header (ports, and the length and checksum that cover the probe's payload).

use super::ip::{protocol, IpAddress};
use super::parse::{
    icmp_unreachable, icmpv6_unreachable, ip_of_frame, ipv4_payload, ipv4_quote, ipv6_payload,
    ipv6_quote, IpPayload, QuotedIp,
};
use super::udp::{self, QuotedHeader, UdpHeader};
use super::{LinkLayer, ParseError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A UDP datagram, its payload borrowed from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a, A = Ipv4Addr> {
    /// IP source (the target).
    pub src: A,
    /// IP destination (us).
    pub dst: A,
    /// Source port (the scanned port).
    pub sport: u16,
    /// Destination port (ours).
    pub dport: u16,
    /// IP TTL (IPv6 hop limit).
    pub ttl: u8,
    /// The payload, bounded by the UDP length.
    pub payload: &'a [u8],
}

/// The UDP header an ICMP error quotes of our probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedUdp<A = Ipv4Addr> {
    /// Quoted IP source (us).
    pub src: A,
    /// Quoted IP destination (the target).
    pub dst: A,
    /// Quoted source port (ours: the cookie).
    pub sport: u16,
    /// Quoted destination port (the scanned port).
    pub dport: u16,
    /// Quoted length (our payload's length + 8).
    pub len: u16,
    /// Quoted checksum (covers our payload, protocol-field cookie included).
    pub checksum: u16,
}

/// An ICMP (or ICMPv6) destination unreachable quoting a UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpUnreachable<A = Ipv4Addr> {
    /// Who sent the error (the target itself, or a hop).
    pub from: A,
    /// ICMP (ICMPv6) code.
    pub code: u8,
    /// TTL (hop limit) of the error.
    pub ttl: u8,
    /// The quoted probe.
    pub quoted: QuotedUdp<A>,
}

/// A parsed frame that may answer a UDP probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpReply<'a, A = Ipv4Addr> {
    /// A datagram.
    Datagram(UdpDatagram<'a, A>),
    /// A destination unreachable quoting UDP.
    Unreachable(UdpUnreachable<A>),
}

impl<'a, A: Copy> UdpReply<'a, A> {
    /// The same reply with its addresses converted by `f` (e.g. to `IpAddr`).
    pub fn map_addr<B>(self, f: impl Fn(A) -> B) -> UdpReply<'a, B> {
        match self {
            UdpReply::Datagram(d) => UdpReply::Datagram(UdpDatagram {
                src: f(d.src),
                dst: f(d.dst),
                sport: d.sport,
                dport: d.dport,
                ttl: d.ttl,
                payload: d.payload,
            }),
            UdpReply::Unreachable(u) => UdpReply::Unreachable(UdpUnreachable {
                from: f(u.from),
                code: u.code,
                ttl: u.ttl,
                quoted: QuotedUdp {
                    src: f(u.quoted.src),
                    dst: f(u.quoted.dst),
                    sport: u.quoted.sport,
                    dport: u.quoted.dport,
                    len: u.quoted.len,
                    checksum: u.quoted.checksum,
                },
            }),
        }
    }
}

/// The UDP start of our probe an ICMP error quotes.
#[inline]
fn quoted_udp<A>(ip: QuotedIp<'_, A>) -> Result<QuotedUdp<A>, ParseError> {
    if ip.protocol != protocol::UDP {
        return Err(ParseError::Uninteresting);
    }
    let h = QuotedHeader::parse(ip.upper)?;
    Ok(QuotedUdp {
        src: ip.src,
        dst: ip.dst,
        sport: h.sport,
        dport: h.dport,
        len: h.len,
        checksum: h.checksum,
    })
}

/// A datagram in a checked IP packet.
#[inline]
fn datagram<A: IpAddress>(ip: IpPayload<'_, A>) -> Result<UdpReply<'_, A>, ParseError> {
    let packet = udp::Packet::new_checked(ip.payload)?;
    let header = UdpHeader::parse(&packet);
    let len = packet.len();
    Ok(UdpReply::Datagram(UdpDatagram {
        src: ip.src,
        dst: ip.dst,
        sport: header.sport,
        dport: header.dport,
        ttl: ip.ttl,
        payload: ip.payload.get(udp::HEADER_LEN..len).unwrap_or_default(),
    }))
}

/// An IPv4 packet: UDP, or ICMP quoting UDP.
#[inline]
fn parse_ipv4(bytes: &[u8]) -> Result<UdpReply<'_, Ipv4Addr>, ParseError> {
    let ip = ipv4_payload(bytes)?;
    match ip.protocol {
        protocol::UDP => datagram(ip),
        protocol::ICMP => {
            let (code, quote) = icmp_unreachable(ip.payload)?;
            Ok(UdpReply::Unreachable(UdpUnreachable {
                from: ip.src,
                code,
                ttl: ip.ttl,
                quoted: quoted_udp(ipv4_quote(quote)?)?,
            }))
        }
        _ => Err(ParseError::Uninteresting),
    }
}

/// An IPv6 packet: UDP, or ICMPv6 quoting UDP, behind any extension headers.
#[inline]
fn parse_ipv6(bytes: &[u8]) -> Result<UdpReply<'_, Ipv6Addr>, ParseError> {
    let ip = ipv6_payload(bytes)?;
    match ip.protocol {
        protocol::UDP => datagram(ip),
        protocol::ICMPV6 => {
            let (code, quote) = icmpv6_unreachable(ip.payload)?;
            Ok(UdpReply::Unreachable(UdpUnreachable {
                from: ip.src,
                code,
                ttl: ip.ttl,
                quoted: quoted_udp(ipv6_quote(quote)?)?,
            }))
        }
        _ => Err(ParseError::Uninteresting),
    }
}

/// A UDP reply of either IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpUdpReply<'a> {
    /// Carried by IPv4.
    V4(UdpReply<'a, Ipv4Addr>),
    /// Carried by IPv6.
    V6(UdpReply<'a, Ipv6Addr>),
}

impl<'a> IpUdpReply<'a> {
    /// The reply with its addresses as `IpAddr`.
    pub fn into_ip(self) -> UdpReply<'a, IpAddr> {
        match self {
            IpUdpReply::V4(r) => r.map_addr(IpAddr::V4),
            IpUdpReply::V6(r) => r.map_addr(IpAddr::V6),
        }
    }
}

/// Parses an untrusted frame carrying IPv4 or IPv6 that may answer a UDP probe; checks every
/// length first and never panics.
pub fn parse_udp_reply(frame: &[u8], link: LinkLayer) -> Result<IpUdpReply<'_>, ParseError> {
    match ip_of_frame(frame, link)? {
        (4, ip) => parse_ipv4(ip).map(IpUdpReply::V4),
        (6, ip) => parse_ipv6(ip).map(IpUdpReply::V6),
        _ => Err(ParseError::NotIp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::{
        icmp_unreachable_frame, icmpv6_unreachable_frame, udp6_frame, udp_frame,
    };
    use crate::wire::ipv6::ext;
    use proptest::prelude::*;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 7);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

    fn dg<A>(src: A, dst: A, sport: u16, dport: u16, payload: &[u8]) -> UdpDatagram<'_, A> {
        UdpDatagram {
            src,
            dst,
            sport,
            dport,
            ttl: 64,
            payload,
        }
    }

    fn a6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn us6() -> Ipv6Addr {
        a6("2001:2:0:18::1")
    }
    fn them6() -> Ipv6Addr {
        a6("2001:2:0:19::7")
    }

    /// A DNS answer from 198.19.0.7:53 to us:61001 written out by hand (independent of
    /// `build`), then 4 bytes of Ethernet padding.
    fn hand_dns_answer() -> Vec<u8> {
        let mut f = vec![
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, // Ethernet
            0x45, 0x00, 0x00, 40, 0, 0, 0x40, 0x00, 63, 17, 0, 0, // IPv4, total 40, TTL 63
            198, 19, 0, 7, 198, 18, 0, 1, // 198.19.0.7 -> us
            0x00, 53, 0xee, 0x49, 0x00, 20, 0x00, 0x00, // 53 -> 61001, length 20, no checksum
            0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, // DNS header
        ];
        f.extend_from_slice(&[0; 4]);
        f
    }

    fn dns_answer_reply(payload: &[u8]) -> IpUdpReply<'_> {
        IpUdpReply::V4(UdpReply::Datagram(UdpDatagram {
            src: THEM,
            dst: US,
            sport: 53,
            dport: 61001,
            ttl: 63,
            payload,
        }))
    }

    /// Our probe as an IPv4 packet: us:61001 -> THEM:161 with 5 bytes of payload.
    fn probe4() -> Vec<u8> {
        udp_frame(
            LinkLayer::RawIp,
            [0; 6],
            [0; 6],
            &dg(US, THEM, 61001, 161, b"probe"),
        )
    }

    fn probe6() -> Vec<u8> {
        udp6_frame(
            LinkLayer::RawIp,
            [0; 6],
            [0; 6],
            &dg(us6(), them6(), 61001, 161, b"probe"),
        )
    }

    fn quoted<A: Copy>(src: A, dst: A, checksum: u16) -> QuotedUdp<A> {
        QuotedUdp {
            src,
            dst,
            sport: 61001,
            dport: 161,
            len: 13,
            checksum,
        }
    }

    fn icmp4(link: LinkLayer, code: u8, quote: &[u8]) -> Vec<u8> {
        icmp_unreachable_frame(link, [2; 6], [4; 6], ROUTER, US, code, 250, quote)
    }

    fn icmp6(link: LinkLayer, code: u8, quote: &[u8]) -> Vec<u8> {
        icmpv6_unreachable_frame(link, [2; 6], [4; 6], them6(), us6(), code, 250, quote)
    }

    #[test]
    fn hand_written_datagram_with_padding() {
        let f = hand_dns_answer();
        let want = dns_answer_reply(&f[42..54]);
        assert_eq!(parse_udp_reply(&f, LinkLayer::Ethernet), Ok(want));
        assert_eq!(parse_udp_reply(&f[14..], LinkLayer::RawIp), Ok(want));
        // The UDP length bounds the payload even when IP carries more.
        let mut g = f.clone();
        g[17] = 44;
        g[39] = 16;
        assert_eq!(
            parse_udp_reply(&g, LinkLayer::Ethernet),
            Ok(dns_answer_reply(&f[42..50]))
        );
        // A UDP length past the IP payload.
        let mut g = f.clone();
        g[39] = 21;
        assert_eq!(
            parse_udp_reply(&g, LinkLayer::Ethernet),
            Err(ParseError::Truncated)
        );
        // A UDP length under the header.
        let mut g = f.clone();
        g[39] = 7;
        assert_eq!(
            parse_udp_reply(&g, LinkLayer::Ethernet),
            Err(ParseError::BadHeader)
        );
    }

    #[test]
    fn built_datagrams_both_versions() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let f = udp_frame(link, [1; 6], [2; 6], &dg(THEM, US, 53, 61001, b"answer"));
            let ip = link.header_len();
            let udp = crate::wire::udp::Packet::new_checked(&f[ip + 20..]).unwrap();
            assert!(udp.verify_checksum(THEM, US));
            match parse_udp_reply(&f, link) {
                Ok(IpUdpReply::V4(UdpReply::Datagram(d))) => {
                    assert_eq!(
                        (d.src, d.dst, d.sport, d.dport, d.ttl),
                        (THEM, US, 53, 61001, 64)
                    );
                    assert_eq!(d.payload, b"answer");
                }
                other => panic!("{other:?}"),
            }
            let f = udp6_frame(
                link,
                [1; 6],
                [2; 6],
                &dg(them6(), us6(), 53, 61001, b"answer"),
            );
            match parse_udp_reply(&f, link).map(IpUdpReply::into_ip) {
                Ok(UdpReply::Datagram(d)) => {
                    assert_eq!(d.src, IpAddr::V6(them6()));
                    assert_eq!((d.sport, d.dport, d.payload), (53, 61001, &b"answer"[..]));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn icmp_unreachable_quoting_udp() {
        let p = probe4();
        let sum = u16::from_be_bytes([p[26], p[27]]);
        let want = |code| {
            Ok(IpUdpReply::V4(UdpReply::Unreachable(UdpUnreachable {
                from: ROUTER,
                code,
                ttl: 250,
                quoted: quoted(US, THEM, sum),
            })))
        };
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            for quote in [&p[..], &p[..28]] {
                for code in [3u8, 13, 1, 10] {
                    assert_eq!(parse_udp_reply(&icmp4(link, code, quote), link), want(code));
                }
            }
        }
        // Seven bytes of UDP are not enough.
        let f = icmp4(LinkLayer::RawIp, 3, &p[..27]);
        assert_eq!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
        // Quoted TCP is not ours here.
        let mut q = p.clone();
        q[9] = 6;
        let f = icmp4(LinkLayer::RawIp, 3, &q);
        assert_eq!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
        // A later fragment quoted; a first one still holds the header.
        let mut q = p.clone();
        q[7] = 1;
        let f = icmp4(LinkLayer::RawIp, 3, &q);
        assert_eq!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
        let mut q = p.clone();
        q[6] = 0x20;
        let f = icmp4(LinkLayer::RawIp, 3, &q);
        assert_eq!(parse_udp_reply(&f, LinkLayer::RawIp), want(3));
        // Other ICMP types.
        let mut f = icmp4(LinkLayer::RawIp, 3, &p);
        f[20] = 11;
        assert_eq!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
        // The TCP parser leaves a UDP quote alone, and this one leaves TCP.
        assert_eq!(
            crate::wire::parse_ip_reply(&icmp4(LinkLayer::RawIp, 3, &p), LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
    }

    #[test]
    fn icmpv6_unreachable_quoting_udp() {
        let p = probe6();
        let sum = u16::from_be_bytes([p[46], p[47]]);
        for code in [0u8, 1, 3, 4, 5, 6] {
            for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
                for quote in [&p[..], &p[..48]] {
                    assert_eq!(
                        parse_udp_reply(&icmp6(link, code, quote), link),
                        Ok(IpUdpReply::V6(UdpReply::Unreachable(UdpUnreachable {
                            from: them6(),
                            code,
                            ttl: 250,
                            quoted: quoted(us6(), them6(), sum),
                        })))
                    );
                }
            }
        }
        let f = icmp6(LinkLayer::RawIp, 4, &p[..47]);
        assert_eq!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
        // Behind a destination-options header in the quote.
        let mut q = p[..40].to_vec();
        q[6] = ext::DEST_OPTS;
        q.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        q.extend_from_slice(&p[40..]);
        let f = icmp6(LinkLayer::RawIp, 4, &q);
        assert!(matches!(
            parse_udp_reply(&f, LinkLayer::RawIp),
            Ok(IpUdpReply::V6(UdpReply::Unreachable(u))) if u.quoted == quoted(us6(), them6(), sum)
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let frames = vec![
            (hand_dns_answer()[..54].to_vec(), LinkLayer::Ethernet),
            (
                udp6_frame(
                    LinkLayer::Ethernet,
                    [1; 6],
                    [2; 6],
                    &dg(them6(), us6(), 53, 9, b"x"),
                ),
                LinkLayer::Ethernet,
            ),
            (
                icmp4(LinkLayer::RawIp, 3, &probe4()[..28]),
                LinkLayer::RawIp,
            ),
            (
                icmp6(LinkLayer::Ethernet, 4, &probe6()),
                LinkLayer::Ethernet,
            ),
        ];
        for (f, link) in frames {
            assert!(parse_udp_reply(&f, link).is_ok());
            for len in 0..f.len() {
                assert_eq!(
                    parse_udp_reply(&f[..len], link),
                    Err(ParseError::Truncated),
                    "len {len} of {}",
                    f.len()
                );
            }
        }
    }

    fn valid_frames() -> Vec<(Vec<u8>, LinkLayer)> {
        vec![
            (hand_dns_answer(), LinkLayer::Ethernet),
            (
                icmp4(LinkLayer::Ethernet, 3, &probe4()),
                LinkLayer::Ethernet,
            ),
            (icmp6(LinkLayer::RawIp, 4, &probe6()), LinkLayer::RawIp),
            (
                udp6_frame(
                    LinkLayer::RawIp,
                    [1; 6],
                    [2; 6],
                    &dg(them6(), us6(), 53, 9, b"xyz"),
                ),
                LinkLayer::RawIp,
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_udp_reply(&bytes, LinkLayer::Ethernet);
            let _ = parse_udp_reply(&bytes, LinkLayer::RawIp);
        }

        #[test]
        fn mutated_valid_frames_never_panic(
            which in 0usize..4,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let (mut f, link) = valid_frames().swap_remove(which);
            prop_assert!(parse_udp_reply(&f, link).is_ok());
            for (at, v) in edits {
                let i = at.index(f.len());
                f[i] = v;
            }
            let len = cut.index(f.len() + 1);
            if let Ok(IpUdpReply::V4(UdpReply::Datagram(d))) = parse_udp_reply(&f[..len], link) {
                prop_assert!(d.payload.len() <= len);
            }
            let _ = parse_udp_reply(&f, link);
        }
    }
}
