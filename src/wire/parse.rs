//! Parser for untrusted captured frames: every length is checked before it is used, nothing
//! allocates, and any input yields a value (never a panic).
//!
//! Hostile input, case by case:
//! - truncation anywhere (including inside a VLAN tag or an ICMP quote): `Truncated`;
//! - IHL < 5, total length < IHL, TCP data offset < 5: `BadHeader`; a data offset or IHL
//!   running past the bytes present: `Truncated`;
//! - IP options (IHL 6-15) are skipped, in replies and in ICMP quotes alike: a real host's
//!   reply with options parses exactly like one without;
//! - fragments (MF set or a non-zero offset) are never read as TCP: `Fragment`. An ICMP quote
//!   of a first fragment (offset 0) still holds our TCP header and is parsed;
//! - 802.1Q / 802.1ad tags: up to two are skipped. Linux normally strips the outer tag into
//!   packet metadata before AF_PACKET sees the frame (and the capture socket, bound to IPv4,
//!   never receives an inner tagged frame), so tags inline are rare; when present the reply
//!   inside is parsed and, like any other, still has to pass the cookie. Three or more tags:
//!   `NotIp`.
//!
//! Nothing here trusts a field it has not bounds-checked; whether a reply answers one of our
//! probes is decided only by the cookie (`probe::ProbeCrafter::validate_*`).

use super::ethernet::{self, ethertype};
use super::ip::{protocol, IpAddress};
use super::tcp::{QuotedHeader, TcpSegment};
use super::{icmp, icmpv6, ipv4, ipv6, tcp};
use super::{IcmpUnreachable, LinkLayer, ParseError, QuotedTcp, Reply};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A TCP segment in a checked IP packet.
#[inline]
fn parse_tcp<A: IpAddress>(
    src: A,
    dst: A,
    ttl: u8,
    segment: &[u8],
) -> Result<Reply<A>, ParseError> {
    let packet = tcp::Packet::new_checked(segment)?;
    Ok(Reply::Tcp(TcpSegment::parse(src, dst, ttl, &packet)))
}

/// What a reply parser reads of a checked, unfragmented IP packet of either version.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpPayload<'a, A> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// TTL (IPv6 hop limit).
    pub ttl: u8,
    /// The upper-layer protocol (behind any IPv6 extension headers).
    pub protocol: u8,
    /// Its bytes, bounded by the packet's length.
    pub payload: &'a [u8],
}

/// The start of a probe as an ICMP error quotes it: its addresses, and the upper-layer
/// protocol with the quoted bytes of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuotedIp<'a, A> {
    /// Quoted source (us).
    pub src: A,
    /// Quoted destination (the target).
    pub dst: A,
    /// The quoted upper-layer protocol.
    pub protocol: u8,
    /// What is quoted of it (a prefix).
    pub upper: &'a [u8],
}

/// The IP packet of a frame and its version (the EtherType, or for raw IP the version
/// nibble, decides).
#[inline]
pub(crate) fn ip_of_frame(frame: &[u8], link: LinkLayer) -> Result<(u8, &[u8]), ParseError> {
    match link {
        LinkLayer::Ethernet => match ethernet::untag(frame)? {
            (ethertype::IPV4, ip) => Ok((Ipv4Addr::VERSION, ip)),
            (ethertype::IPV6, ip) => Ok((Ipv6Addr::VERSION, ip)),
            _ => Err(ParseError::NotIp),
        },
        LinkLayer::RawIp => Ok((*frame.first().ok_or(ParseError::Truncated)? >> 4, frame)),
    }
}

/// A checked IPv4 packet that is not a fragment.
#[inline]
pub(crate) fn ipv4_payload(bytes: &[u8]) -> Result<IpPayload<'_, Ipv4Addr>, ParseError> {
    let ip = ipv4::Packet::new_checked(bytes)?;
    if ip.is_fragment() {
        return Err(ParseError::Fragment);
    }
    Ok(IpPayload {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        ttl: ip.ttl(),
        protocol: ip.protocol(),
        payload: ip
            .into_inner()
            .get(ip.header_len()..ip.total_len())
            .unwrap_or_default(),
    })
}

/// A checked IPv6 packet that is not a fragment, behind any extension headers.
#[inline]
pub(crate) fn ipv6_payload(bytes: &[u8]) -> Result<IpPayload<'_, Ipv6Addr>, ParseError> {
    let ip = ipv6::Packet::new_checked(bytes)?;
    let (src, dst, hop_limit) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
    let next = ip.next_header();
    let payload = ip
        .into_inner()
        .get(ipv6::HEADER_LEN..ipv6::HEADER_LEN + ip.payload_len())
        .unwrap_or_default();
    let upper = ipv6::skip_extension_headers(next, payload)?;
    if upper.first_fragment {
        // Only a reassembled packet would be complete.
        return Err(ParseError::Fragment);
    }
    Ok(IpPayload {
        src,
        dst,
        ttl: hop_limit,
        protocol: upper.protocol,
        payload: upper.payload,
    })
}

/// The IPv4 start of our probe that an ICMP error quotes; a later fragment (no upper-layer
/// header in it) is `Uninteresting`.
#[inline]
pub(crate) fn ipv4_quote(quote: &[u8]) -> Result<QuotedIp<'_, Ipv4Addr>, ParseError> {
    let ip = ipv4::Packet::new_quoted(quote).map_err(|e| match e {
        // Behind an IPv4 ICMP header, another version is a broken quote, not another family.
        ParseError::NotIp => ParseError::BadHeader,
        e => e,
    })?;
    if ip.frag_offset() != 0 {
        return Err(ParseError::Uninteresting);
    }
    Ok(QuotedIp {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        protocol: ip.protocol(),
        upper: ip.into_inner().get(ip.header_len()..).unwrap_or_default(),
    })
}

/// The IPv6 start of our probe that an ICMPv6 error quotes (extension headers skipped); a
/// later fragment is `Uninteresting`.
#[inline]
pub(crate) fn ipv6_quote(quote: &[u8]) -> Result<QuotedIp<'_, Ipv6Addr>, ParseError> {
    let ip = ipv6::Packet::new_quoted(quote).map_err(|e| match e {
        // Behind an ICMPv6 header, another version is a broken quote, not another family.
        ParseError::NotIp => ParseError::BadHeader,
        e => e,
    })?;
    let (src, dst, next) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let rest = ip.into_inner().get(ipv6::HEADER_LEN..).unwrap_or_default();
    let upper = match ipv6::skip_extension_headers(next, rest) {
        Err(ParseError::Fragment) => return Err(ParseError::Uninteresting),
        other => other?,
    };
    Ok(QuotedIp {
        src,
        dst,
        protocol: upper.protocol,
        upper: upper.payload,
    })
}

/// The destination unreachable in an ICMPv4 message: its code and quote.
#[inline]
pub(crate) fn icmp_unreachable(message: &[u8]) -> Result<(u8, &[u8]), ParseError> {
    let icmp = icmp::Packet::new_checked(message)?;
    if icmp.msg_type() != icmp::DEST_UNREACHABLE {
        return Err(ParseError::Uninteresting);
    }
    // The quote is a prefix of our probe, so its total length is not checked against it.
    Ok((icmp.code(), &message[icmp::HEADER_LEN..]))
}

/// The destination unreachable in an ICMPv6 message: its code and quote.
#[inline]
pub(crate) fn icmpv6_unreachable(message: &[u8]) -> Result<(u8, &[u8]), ParseError> {
    let icmp = icmpv6::Packet::new_checked(message)?;
    if icmp.msg_type() != icmpv6::DEST_UNREACHABLE {
        return Err(ParseError::Uninteresting);
    }
    Ok((icmp.code(), &message[icmpv6::HEADER_LEN..]))
}

/// The TCP start of our probe an ICMP error quotes.
#[inline]
fn quoted_tcp<A>(ip: QuotedIp<'_, A>) -> Result<QuotedTcp<A>, ParseError> {
    if ip.protocol != protocol::TCP {
        return Err(ParseError::Uninteresting);
    }
    let tcp = QuotedHeader::parse(ip.upper)?;
    Ok(QuotedTcp {
        src: ip.src,
        dst: ip.dst,
        sport: tcp.sport,
        dport: tcp.dport,
        seq: tcp.seq,
    })
}

/// An IPv4 packet: TCP, or ICMP quoting TCP.
#[inline]
fn parse_ipv4(bytes: &[u8]) -> Result<Reply, ParseError> {
    let ip = ipv4_payload(bytes)?;
    match ip.protocol {
        protocol::TCP => parse_tcp(ip.src, ip.dst, ip.ttl, ip.payload),
        protocol::ICMP => {
            let (code, quote) = icmp_unreachable(ip.payload)?;
            Ok(Reply::Unreachable(IcmpUnreachable {
                from: ip.src,
                code,
                ttl: ip.ttl,
                quoted: quoted_tcp(ipv4_quote(quote)?)?,
            }))
        }
        _ => Err(ParseError::Uninteresting),
    }
}

/// An IPv6 packet: TCP, or ICMPv6 quoting TCP, behind any extension headers.
#[inline]
fn parse_ipv6(bytes: &[u8]) -> Result<Reply<Ipv6Addr>, ParseError> {
    let ip = ipv6_payload(bytes)?;
    match ip.protocol {
        protocol::TCP => parse_tcp(ip.src, ip.dst, ip.ttl, ip.payload),
        protocol::ICMPV6 => {
            let (code, quote) = icmpv6_unreachable(ip.payload)?;
            Ok(Reply::Unreachable(IcmpUnreachable {
                from: ip.src,
                code,
                ttl: ip.ttl,
                quoted: quoted_tcp(ipv6_quote(quote)?)?,
            }))
        }
        _ => Err(ParseError::Uninteresting),
    }
}

/// Parses an untrusted frame carrying IPv4; checks every length first and never panics.
pub fn parse_reply(frame: &[u8], link: LinkLayer) -> Result<Reply, ParseError> {
    match link {
        LinkLayer::Ethernet => match ethernet::untag(frame)? {
            (ethertype::IPV4, ip) => parse_ipv4(ip),
            _ => Err(ParseError::NotIp),
        },
        LinkLayer::RawIp => parse_ipv4(frame),
    }
}

/// A reply of either IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpReply {
    /// Carried by IPv4.
    V4(Reply<Ipv4Addr>),
    /// Carried by IPv6.
    V6(Reply<Ipv6Addr>),
}

impl IpReply {
    /// The reply with its addresses as `IpAddr`.
    pub fn into_ip(self) -> Reply<IpAddr> {
        match self {
            IpReply::V4(r) => r.map_addr(IpAddr::V4),
            IpReply::V6(r) => r.map_addr(IpAddr::V6),
        }
    }
}

/// Parses an untrusted frame carrying IPv4 or IPv6 (the EtherType, or for raw IP the version
/// nibble, decides); checks every length first and never panics.
pub fn parse_ip_reply(frame: &[u8], link: LinkLayer) -> Result<IpReply, ParseError> {
    match ip_of_frame(frame, link)? {
        (4, ip) => parse_ipv4(ip).map(IpReply::V4),
        (6, ip) => parse_ipv6(ip).map(IpReply::V6),
        _ => Err(ParseError::NotIp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::{icmp_unreachable_frame, tcp_frame};
    use crate::wire::tcp_flags::{ACK, RST, SYN};
    use crate::wire::TcpSegment;
    use proptest::prelude::*;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// A SYN/ACK written out by hand (independent of `build`): 198.18.0.2:80 -> 198.18.0.1:61000,
    /// seq 0x01020304, ack 0x0a0b0c0d, TTL 64, MSS option (58 bytes), then 2 bytes of
    /// Ethernet padding to the 60-byte minimum.
    fn hand_syn_ack() -> Vec<u8> {
        let mut f = vec![
            0x02, 0, 0, 0, 0, 0x01, // dst mac
            0x02, 0, 0, 0, 0, 0x02, // src mac
            0x08, 0x00, // IPv4
            0x45, 0x00, 0x00, 44, // v4 ihl5, total 44
            0x00, 0x00, 0x40, 0x00, // id 0, DF
            64, 6, 0x00, 0x00, // ttl, tcp, checksum (not checked)
            198, 18, 0, 2, // src
            198, 18, 0, 1, // dst
            0x00, 80, 0xee, 0x48, // ports 80 -> 61000
            0x01, 0x02, 0x03, 0x04, // seq
            0x0a, 0x0b, 0x0c, 0x0d, // ack
            0x60, 0x12, 0xff, 0xff, // doff 6, SYN|ACK, window
            0x00, 0x00, 0x00, 0x00, // csum, urg
            0x02, 0x04, 0x05, 0xb4, // MSS 1460
        ];
        f.extend_from_slice(&[0, 0]); // Ethernet padding to 60 bytes
        f
    }

    fn hand_syn_ack_reply() -> Reply {
        Reply::Tcp(TcpSegment {
            src: THEM,
            dst: US,
            sport: 80,
            dport: 61000,
            seq: 0x0102_0304,
            ack: 0x0a0b_0c0d,
            flags: SYN | ACK,
            ttl: 64,
            window: 0xffff,
        })
    }

    fn spec(flags: u8) -> TcpSegment {
        TcpSegment {
            src: THEM,
            dst: US,
            sport: 443,
            dport: 61001,
            seq: 0xdead_beef,
            ack: 0x1234_5679,
            flags,
            ttl: 57,
            window: 0,
        }
    }

    /// Our SYN as an IPv4 packet (for ICMP quotes), built by hand.
    fn quoted_syn() -> Vec<u8> {
        vec![
            0x45, 0x00, 0x00, 40, 0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0, // ..checksum
            198, 18, 0, 1, 198, 18, 0, 9, // us -> 198.18.0.9
            0xee, 0x49, 0x00, 22, // 61001 -> 22
            0x11, 0x22, 0x33, 0x44, // seq
            0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
        ]
    }

    fn quoted_reply(code: u8, from: Ipv4Addr) -> Reply {
        Reply::Unreachable(IcmpUnreachable {
            from,
            code,
            ttl: 250,
            quoted: QuotedTcp {
                src: US,
                dst: Ipv4Addr::new(198, 18, 0, 9),
                sport: 61001,
                dport: 22,
                seq: 0x1122_3344,
            },
        })
    }

    fn icmp(link: LinkLayer, quote: &[u8]) -> Vec<u8> {
        let router = Ipv4Addr::new(198, 18, 0, 254);
        icmp_unreachable_frame(
            link,
            [2, 0, 0, 0, 0, 9],
            [2, 0, 0, 0, 0, 1],
            router,
            US,
            13,
            250,
            quote,
        )
    }

    #[test]
    fn hand_written_syn_ack_with_padding() {
        let f = hand_syn_ack();
        assert_eq!(
            parse_reply(&f, LinkLayer::Ethernet),
            Ok(hand_syn_ack_reply())
        );
        assert_eq!(
            parse_reply(&f[14..], LinkLayer::RawIp),
            Ok(hand_syn_ack_reply())
        );
    }

    #[test]
    fn built_rst_ack_both_links() {
        let s = spec(RST | ACK);
        let want = Reply::Tcp(TcpSegment {
            src: THEM,
            dst: US,
            sport: 443,
            dport: 61001,
            seq: 0xdead_beef,
            ack: 0x1234_5679,
            flags: RST | ACK,
            ttl: 57,
            window: 0,
        });
        let eth = tcp_frame(LinkLayer::Ethernet, [2; 6], [4; 6], &s);
        assert_eq!(eth.len(), 54);
        assert_eq!(parse_reply(&eth, LinkLayer::Ethernet), Ok(want));
        let raw = tcp_frame(LinkLayer::RawIp, [2; 6], [4; 6], &s);
        assert_eq!(raw.len(), 40);
        assert_eq!(parse_reply(&raw, LinkLayer::RawIp), Ok(want));
    }

    #[test]
    fn icmp_port_unreachable_quote() {
        let q = quoted_syn();
        let router = Ipv4Addr::new(198, 18, 0, 254);
        // Whole quote and minimal quote (IP header + 8 bytes) both parse.
        for quote in [&q[..], &q[..28]] {
            let f = icmp(LinkLayer::Ethernet, quote);
            assert_eq!(
                parse_reply(&f, LinkLayer::Ethernet),
                Ok(quoted_reply(13, router))
            );
            let r = icmp(LinkLayer::RawIp, quote);
            assert_eq!(
                parse_reply(&r, LinkLayer::RawIp),
                Ok(quoted_reply(13, router))
            );
        }
        // Seven bytes of TCP are not enough for the sequence number.
        let f = icmp(LinkLayer::RawIp, &q[..27]);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn icmp_quote_with_ip_options() {
        // Quoted header with IHL 6 (4 bytes of options: NOP NOP NOP EOL).
        let q = quoted_syn();
        let mut opt = q[..20].to_vec();
        opt[0] = 0x46;
        opt.extend_from_slice(&[1, 1, 1, 0]);
        opt.extend_from_slice(&q[20..28]);
        let f = icmp(LinkLayer::RawIp, &opt);
        let router = Ipv4Addr::new(198, 18, 0, 254);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Ok(quoted_reply(13, router))
        );
        // Quoted IHL 4 is invalid.
        let mut bad = q.clone();
        bad[0] = 0x44;
        let f = icmp(LinkLayer::RawIp, &bad);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::BadHeader)
        );
        // Quoted UDP is not ours.
        let mut udp = q.clone();
        udp[9] = 17;
        let f = icmp(LinkLayer::RawIp, &udp);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
    }

    #[test]
    fn other_icmp_types_are_uninteresting() {
        let mut f = icmp(LinkLayer::RawIp, &quoted_syn());
        f[20] = 11; // time exceeded
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
        f[20] = 0; // echo reply
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Uninteresting)
        );
    }

    #[test]
    fn ip_options_are_skipped() {
        // Insert 8 bytes of IP options (IHL 7) before the TCP header of the hand SYN/ACK.
        let f = hand_syn_ack();
        let mut g = f[..34].to_vec();
        g[14] = 0x47;
        g[17] = 44 + 8;
        g.extend_from_slice(&[0x94, 0x04, 0, 0, 1, 1, 1, 0]); // router alert, NOPs, EOL
        g.extend_from_slice(&f[34..58]);
        assert_eq!(
            parse_reply(&g, LinkLayer::Ethernet),
            Ok(hand_syn_ack_reply())
        );
        // Maximum IHL 15: 40 bytes of options.
        let mut h = f[..34].to_vec();
        h[14] = 0x4f;
        h[17] = 44 + 40;
        h.extend_from_slice(&[1; 40]);
        h.extend_from_slice(&f[34..58]);
        assert_eq!(
            parse_reply(&h, LinkLayer::Ethernet),
            Ok(hand_syn_ack_reply())
        );
    }

    #[test]
    fn vlan_tags_are_skipped() {
        let f = hand_syn_ack();
        let tagged = |tags: &[[u8; 4]]| {
            let mut g = f[..12].to_vec();
            for t in tags {
                g.extend_from_slice(t);
            }
            g.extend_from_slice(&f[12..]);
            g
        };
        let q = [0x81, 0x00, 0x00, 0x64]; // 802.1Q VLAN 100
        let ad = [0x88, 0xa8, 0x00, 0x0a]; // 802.1ad VLAN 10
        for tags in [&[q][..], &[ad][..], &[ad, q][..], &[q, q][..]] {
            let g = tagged(tags);
            assert_eq!(
                parse_reply(&g, LinkLayer::Ethernet),
                Ok(hand_syn_ack_reply())
            );
        }
        // Three tags are more than we skip.
        let g = tagged(&[ad, q, q]);
        assert_eq!(parse_reply(&g, LinkLayer::Ethernet), Err(ParseError::NotIp));
    }

    #[test]
    fn not_ipv4() {
        let mut f = hand_syn_ack();
        f[12] = 0x86;
        f[13] = 0xdd; // IPv6 ethertype
        assert_eq!(parse_reply(&f, LinkLayer::Ethernet), Err(ParseError::NotIp));
        let mut f = hand_syn_ack();
        f[12] = 0x08;
        f[13] = 0x06; // ARP
        assert_eq!(parse_reply(&f, LinkLayer::Ethernet), Err(ParseError::NotIp));
        let mut f = hand_syn_ack();
        f[14] = 0x65; // version 6 behind an IPv4 ethertype
        assert_eq!(parse_reply(&f, LinkLayer::Ethernet), Err(ParseError::NotIp));
    }

    #[test]
    fn bad_headers() {
        let f = hand_syn_ack();
        let with = |at: usize, v: u8| {
            let mut g = f.clone();
            g[at] = v;
            parse_reply(&g, LinkLayer::Ethernet)
        };
        assert_eq!(with(14, 0x44), Err(ParseError::BadHeader)); // IHL 4
        assert_eq!(with(14, 0x40), Err(ParseError::BadHeader)); // IHL 0
        assert_eq!(with(17, 19), Err(ParseError::BadHeader)); // total < IHL*4
        assert_eq!(with(17, 47), Err(ParseError::Truncated)); // total > bytes (46 here)
        assert_eq!(with(14, 0x4f), Err(ParseError::Truncated)); // 60-byte header doesn't fit
        assert_eq!(with(46, 0x40), Err(ParseError::BadHeader)); // TCP data offset 4
        assert_eq!(with(46, 0x70), Err(ParseError::Truncated)); // data offset 7 > 24 bytes
        assert_eq!(with(23, 17), Err(ParseError::Uninteresting)); // UDP
        assert_eq!(with(23, 1), Err(ParseError::Uninteresting)); // ICMP type 0 (echo reply)
    }

    #[test]
    fn fragments() {
        let f = hand_syn_ack();
        let frag = |hi: u8, lo: u8| {
            let mut g = f.clone();
            g[20] = hi;
            g[21] = lo;
            parse_reply(&g, LinkLayer::Ethernet)
        };
        assert_eq!(frag(0x20, 0x00), Err(ParseError::Fragment)); // MF
        assert_eq!(frag(0x00, 0x01), Err(ParseError::Fragment)); // offset 8
        assert_eq!(frag(0x1f, 0xff), Err(ParseError::Fragment)); // max offset
        assert_eq!(frag(0x40, 0x00), Ok(hand_syn_ack_reply())); // DF only
        assert_eq!(frag(0x00, 0x00), Ok(hand_syn_ack_reply()));
        assert_eq!(frag(0x80, 0x00), Ok(hand_syn_ack_reply())); // reserved bit ignored
    }

    #[test]
    fn every_truncation_is_an_error() {
        let frames: Vec<(Vec<u8>, LinkLayer)> = vec![
            (hand_syn_ack()[..58].to_vec(), LinkLayer::Ethernet),
            (
                tcp_frame(LinkLayer::Ethernet, [1; 6], [2; 6], &spec(SYN | ACK)),
                LinkLayer::Ethernet,
            ),
            (
                tcp_frame(LinkLayer::RawIp, [1; 6], [2; 6], &spec(RST)),
                LinkLayer::RawIp,
            ),
            (
                icmp(LinkLayer::Ethernet, &quoted_syn()),
                LinkLayer::Ethernet,
            ),
            (
                icmp(LinkLayer::RawIp, &quoted_syn()[..28]),
                LinkLayer::RawIp,
            ),
        ];
        for (f, link) in frames {
            assert!(parse_reply(&f, link).is_ok());
            for len in 0..f.len() {
                let r = parse_reply(&f[..len], link);
                assert_eq!(r, Err(ParseError::Truncated), "len {len} of {}", f.len());
            }
        }
    }

    #[test]
    fn icmp_outer_fragment_and_short_icmp_header() {
        let f = icmp(LinkLayer::RawIp, &quoted_syn());
        let mut g = f.clone();
        g[6] = 0x20; // MF on the ICMP packet itself
        assert_eq!(parse_reply(&g, LinkLayer::RawIp), Err(ParseError::Fragment));
        let mut g = f.clone();
        g[7] = 0x01; // offset 8
        assert_eq!(parse_reply(&g, LinkLayer::RawIp), Err(ParseError::Fragment));
        // Total length 27: seven bytes of ICMP header.
        let mut g = f[..27].to_vec();
        g[2..4].copy_from_slice(&27u16.to_be_bytes());
        assert_eq!(
            parse_reply(&g, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
        // Exactly the ICMP header, no quote.
        let mut g = f[..28].to_vec();
        g[2..4].copy_from_slice(&28u16.to_be_bytes());
        assert_eq!(
            parse_reply(&g, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn icmp_quoted_fragments() {
        let router = Ipv4Addr::new(198, 18, 0, 254);
        let frag = |hi: u8, lo: u8| {
            let mut q = quoted_syn();
            q[6] = hi;
            q[7] = lo;
            parse_reply(&icmp(LinkLayer::RawIp, &q), LinkLayer::RawIp)
        };
        // A first fragment (MF, offset 0) starts with the TCP header.
        assert_eq!(frag(0x20, 0x00), Ok(quoted_reply(13, router)));
        // A later fragment has no TCP header to quote.
        assert_eq!(frag(0x00, 0x01), Err(ParseError::Uninteresting));
        assert_eq!(frag(0x3f, 0xff), Err(ParseError::Uninteresting));
    }

    #[test]
    fn icmp_quoted_ihl_past_the_quote() {
        // Quoted IHL 15 claims 60 bytes of header; only 28 bytes are quoted.
        let mut q = quoted_syn()[..28].to_vec();
        q[0] = 0x4f;
        let f = icmp(LinkLayer::RawIp, &q);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::Truncated)
        );
        // Quoted version 6.
        let mut q = quoted_syn();
        q[0] = 0x65;
        let f = icmp(LinkLayer::RawIp, &q);
        assert_eq!(
            parse_reply(&f, LinkLayer::RawIp),
            Err(ParseError::BadHeader)
        );
    }

    #[test]
    fn vlan_tag_cut_short() {
        let f = hand_syn_ack();
        let mut g = f[..12].to_vec();
        g.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        g.extend_from_slice(&f[12..]);
        for len in 12..18 {
            assert_eq!(
                parse_reply(&g[..len], LinkLayer::Ethernet),
                Err(ParseError::Truncated),
                "{len}"
            );
        }
        assert_eq!(
            parse_reply(&g, LinkLayer::Ethernet),
            Ok(hand_syn_ack_reply())
        );
    }

    #[test]
    fn data_offset_with_payload_and_options() {
        // Data offset 15 (40 bytes of options) with the segment holding exactly that.
        let f = hand_syn_ack();
        let mut g = f[..58].to_vec();
        g[46] = 0xf0;
        g.extend_from_slice(&[1; 36]);
        g[17] = 44 + 36;
        assert_eq!(
            parse_reply(&g, LinkLayer::Ethernet),
            Ok(hand_syn_ack_reply())
        );
        // One byte short of the options.
        g[17] -= 1;
        assert_eq!(
            parse_reply(&g, LinkLayer::Ethernet),
            Err(ParseError::Truncated)
        );
    }

    fn valid_frames() -> Vec<(Vec<u8>, LinkLayer)> {
        vec![
            (hand_syn_ack(), LinkLayer::Ethernet),
            (
                tcp_frame(LinkLayer::RawIp, [1; 6], [2; 6], &spec(RST | ACK)),
                LinkLayer::RawIp,
            ),
            (
                icmp(LinkLayer::Ethernet, &quoted_syn()),
                LinkLayer::Ethernet,
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_reply(&bytes, LinkLayer::Ethernet);
            let _ = parse_reply(&bytes, LinkLayer::RawIp);
        }

        #[test]
        fn mutated_valid_frames_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let (mut f, link) = valid_frames().swap_remove(which);
            for (at, v) in edits {
                let i = at.index(f.len());
                f[i] = v;
            }
            let len = cut.index(f.len() + 1);
            let _ = parse_reply(&f[..len], link);
            let _ = parse_reply(&f, link);
        }
    }

    mod v6 {
        use super::super::*;
        use crate::wire::build::{icmpv6_unreachable_frame, tcp6_frame_with_options};
        use crate::wire::ipv6::ext;
        use crate::wire::tcp_flags::{ACK, RST, SYN};
        use crate::wire::TcpSegment;
        use proptest::prelude::*;

        fn a(s: &str) -> Ipv6Addr {
            s.parse().unwrap()
        }
        fn us() -> Ipv6Addr {
            a("2001:2:0:18::1")
        }
        fn them() -> Ipv6Addr {
            a("2001:2:0:19::7")
        }
        fn router() -> Ipv6Addr {
            a("2001:2:0:18::fe")
        }
        const MSS: [u8; 4] = [2, 4, 5, 0xb4];

        fn seg(flags: u8) -> TcpSegment<Ipv6Addr> {
            TcpSegment {
                src: them(),
                dst: us(),
                sport: 443,
                dport: 61001,
                seq: 0xdead_beef,
                ack: 0x1234_5679,
                flags,
                ttl: 57,
                window: 64800,
            }
        }

        fn tcp_frame(link: LinkLayer, s: &TcpSegment<Ipv6Addr>) -> Vec<u8> {
            tcp6_frame_with_options(link, [2; 6], [4; 6], s, &MSS)
        }

        /// Our SYN to them():22 from port 61001 with seq 0x11223344 (72 bytes, raw IPv6).
        fn probe() -> Vec<u8> {
            let t = crate::probe::template::Template6::new(
                LinkLayer::RawIp,
                [0; 6],
                [0; 6],
                us(),
                &crate::probe::kind::tcp_syn::TCP_PROBE,
            );
            let mut buf = vec![0u8; t.len()];
            t.write(&mut buf, them(), 61001, 22, 0x1122_3344);
            buf
        }

        fn quoted(code: u8, from: Ipv6Addr) -> IpReply {
            IpReply::V6(Reply::Unreachable(IcmpUnreachable {
                from,
                code,
                ttl: 250,
                quoted: QuotedTcp {
                    src: us(),
                    dst: them(),
                    sport: 61001,
                    dport: 22,
                    seq: 0x1122_3344,
                },
            }))
        }

        fn icmp(link: LinkLayer, code: u8, quote: &[u8]) -> Vec<u8> {
            icmpv6_unreachable_frame(link, [2; 6], [4; 6], router(), us(), code, 250, quote)
        }

        /// Inserts `chain` (extension headers whose next-header bytes are fixed up here) after
        /// the fixed IPv6 header at `ip`.
        fn with_ext(f: &[u8], ip: usize, chain: &[(u8, Vec<u8>)]) -> Vec<u8> {
            let mut g = f[..ip + 40].to_vec();
            let upper = g[ip + 6];
            let mut next_of_prev = ip + 6;
            let mut added = 0;
            for (kind, h) in chain {
                g[next_of_prev] = *kind;
                next_of_prev = g.len();
                g.extend_from_slice(h);
                added += h.len();
            }
            g[next_of_prev] = upper;
            let len = u16::from_be_bytes([g[ip + 4], g[ip + 5]]) + added as u16;
            g[ip + 4..ip + 6].copy_from_slice(&len.to_be_bytes());
            g.extend_from_slice(&f[ip + 40..]);
            g
        }

        fn opts(len: usize) -> Vec<u8> {
            let mut h = vec![1u8; len]; // PadN-free filler: NOP-like bytes, never read
            h[1] = (len / 8 - 1) as u8;
            h
        }

        fn frag(word: u16) -> Vec<u8> {
            let mut h = vec![0u8; 8];
            h[2..4].copy_from_slice(&word.to_be_bytes());
            h
        }

        #[test]
        fn syn_ack_and_rst_both_links() {
            for flags in [SYN | ACK, RST | ACK] {
                let want = Ok(IpReply::V6(Reply::Tcp(seg(flags))));
                let eth = tcp_frame(LinkLayer::Ethernet, &seg(flags));
                assert_eq!(eth.len(), 14 + 40 + 24);
                assert_eq!(parse_ip_reply(&eth, LinkLayer::Ethernet), want);
                let raw = tcp_frame(LinkLayer::RawIp, &seg(flags));
                assert_eq!(parse_ip_reply(&raw, LinkLayer::RawIp), want);
                // With Ethernet padding.
                let mut padded = eth.clone();
                padded.extend_from_slice(&[0xee; 6]);
                assert_eq!(parse_ip_reply(&padded, LinkLayer::Ethernet), want);
                // The IPv4-only parser does not take it.
                assert_eq!(
                    parse_reply(&eth, LinkLayer::Ethernet),
                    Err(ParseError::NotIp)
                );
            }
            let r = parse_ip_reply(
                &tcp_frame(LinkLayer::RawIp, &seg(SYN | ACK)),
                LinkLayer::RawIp,
            );
            match r.map(IpReply::into_ip) {
                Ok(Reply::Tcp(t)) => assert_eq!((t.src, t.sport), (IpAddr::V6(them()), 443)),
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn ipv4_frames_parse_as_before() {
            let f = super::hand_syn_ack();
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::Ethernet),
                Ok(IpReply::V4(super::hand_syn_ack_reply()))
            );
            assert_eq!(
                parse_ip_reply(&f[14..], LinkLayer::RawIp),
                Ok(IpReply::V4(super::hand_syn_ack_reply()))
            );
            // Raw IP of another version, an unknown EtherType, nothing at all.
            let mut g = f[14..].to_vec();
            g[0] = 0x55;
            assert_eq!(parse_ip_reply(&g, LinkLayer::RawIp), Err(ParseError::NotIp));
            assert_eq!(
                parse_ip_reply(&[], LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
            let mut g = f.clone();
            g[12..14].copy_from_slice(&[0x08, 0x06]);
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::Ethernet),
                Err(ParseError::NotIp)
            );
            // An IPv6 EtherType in front of an IPv4 header, and the reverse.
            let mut g = f.clone();
            g[12..14].copy_from_slice(&[0x86, 0xdd]);
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::Ethernet),
                Err(ParseError::NotIp)
            );
            let mut g = tcp_frame(LinkLayer::Ethernet, &seg(SYN | ACK));
            g[12..14].copy_from_slice(&[0x08, 0x00]);
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::Ethernet),
                Err(ParseError::NotIp)
            );
        }

        #[test]
        fn icmpv6_unreachable_quoting_our_probe() {
            let p = probe();
            for code in [0u8, 1, 3, 4, 6] {
                for quote in [&p[..], &p[..48]] {
                    for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
                        let f = icmp(link, code, quote);
                        assert_eq!(parse_ip_reply(&f, link), Ok(quoted(code, router())));
                    }
                }
            }
            // Seven bytes of TCP are not enough for the sequence number.
            let f = icmp(LinkLayer::RawIp, 1, &p[..47]);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
            // Less than the quoted fixed header.
            let f = icmp(LinkLayer::RawIp, 1, &p[..39]);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
            // A quoted IPv4 header is broken, not another family.
            let mut q = p.clone();
            q[0] = 0x45;
            let f = icmp(LinkLayer::RawIp, 1, &q);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::BadHeader)
            );
            // Quoting UDP.
            let mut q = p.clone();
            q[6] = 17;
            let f = icmp(LinkLayer::RawIp, 1, &q);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::Uninteresting)
            );
            // Other ICMPv6 types (packet too big, time exceeded, echo reply).
            for ty in [2u8, 3, 129] {
                let mut f = icmp(LinkLayer::RawIp, 0, &p);
                f[40] = ty;
                assert_eq!(
                    parse_ip_reply(&f, LinkLayer::RawIp),
                    Err(ParseError::Uninteresting),
                    "{ty}"
                );
            }
        }

        #[test]
        fn extension_headers_in_replies_and_quotes() {
            let want = Ok(IpReply::V6(Reply::Tcp(seg(SYN | ACK))));
            let raw = tcp_frame(LinkLayer::RawIp, &seg(SYN | ACK));
            let chain = vec![
                (ext::HOP_BY_HOP, opts(8)),
                (ext::DEST_OPTS, opts(16)),
                (ext::ROUTING, opts(24)),
                (ext::FRAGMENT, frag(0)), // atomic fragment: a whole packet
                (ext::DEST_OPTS, opts(8)),
            ];
            let g = with_ext(&raw, 0, &chain);
            assert_eq!(parse_ip_reply(&g, LinkLayer::RawIp), want);
            let eth = tcp_frame(LinkLayer::Ethernet, &seg(SYN | ACK));
            assert_eq!(
                parse_ip_reply(&with_ext(&eth, 14, &chain), LinkLayer::Ethernet),
                want
            );
            // A first or later fragment of a reply is not read.
            for word in [1u16, 8, 9] {
                let g = with_ext(&raw, 0, &[(ext::FRAGMENT, frag(word))]);
                assert_eq!(
                    parse_ip_reply(&g, LinkLayer::RawIp),
                    Err(ParseError::Fragment)
                );
            }
            // Nine extension headers are more than we walk.
            let long: Vec<_> = (0..9).map(|_| (ext::DEST_OPTS, opts(8))).collect();
            let g = with_ext(&raw, 0, &long);
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::RawIp),
                Err(ParseError::BadHeader)
            );
            // No next header.
            let mut g = raw.clone();
            g[6] = ext::NO_NEXT;
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::RawIp),
                Err(ParseError::Uninteresting)
            );
            // In a quote: skipped; a first fragment still holds our TCP header; a later one
            // does not.
            let p = probe();
            let q = with_ext(&p, 0, &chain);
            let f = icmp(LinkLayer::RawIp, 3, &q);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Ok(quoted(3, router()))
            );
            let q = with_ext(&p, 0, &[(ext::FRAGMENT, frag(1))]);
            let f = icmp(LinkLayer::RawIp, 3, &q[..56]);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Ok(quoted(3, router()))
            );
            let q = with_ext(&p, 0, &[(ext::FRAGMENT, frag(8))]);
            let f = icmp(LinkLayer::RawIp, 3, &q);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::Uninteresting)
            );
            // A quote cut inside its extension headers.
            let q = with_ext(&p, 0, &chain);
            let f = icmp(LinkLayer::RawIp, 3, &q[..60]);
            assert_eq!(
                parse_ip_reply(&f, LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
        }

        #[test]
        fn every_truncation_is_an_error() {
            let chain = vec![(ext::HOP_BY_HOP, opts(8)), (ext::FRAGMENT, frag(0))];
            let frames = vec![
                (
                    tcp_frame(LinkLayer::Ethernet, &seg(SYN | ACK)),
                    LinkLayer::Ethernet,
                ),
                (
                    with_ext(&tcp_frame(LinkLayer::RawIp, &seg(RST)), 0, &chain),
                    LinkLayer::RawIp,
                ),
                (icmp(LinkLayer::Ethernet, 1, &probe()), LinkLayer::Ethernet),
                (icmp(LinkLayer::RawIp, 4, &probe()[..48]), LinkLayer::RawIp),
            ];
            for (f, link) in frames {
                assert!(parse_ip_reply(&f, link).is_ok());
                for len in 0..f.len() {
                    let r = parse_ip_reply(&f[..len], link);
                    assert_eq!(r, Err(ParseError::Truncated), "len {len} of {}", f.len());
                }
            }
        }

        #[test]
        fn bad_tcp_header() {
            let f = tcp_frame(LinkLayer::RawIp, &seg(SYN | ACK));
            let mut g = f.clone();
            g[40 + 12] = 0x40; // data offset 4
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::RawIp),
                Err(ParseError::BadHeader)
            );
            let mut g = f.clone();
            g[40 + 12] = 0x70; // 28 bytes of header in a 24-byte segment
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
            let mut g = f.clone();
            g[5] += 1; // payload length past the frame
            assert_eq!(
                parse_ip_reply(&g, LinkLayer::RawIp),
                Err(ParseError::Truncated)
            );
        }

        fn valid_frames() -> Vec<(Vec<u8>, LinkLayer)> {
            let chain = vec![(ext::HOP_BY_HOP, opts(8)), (ext::DEST_OPTS, opts(16))];
            vec![
                (
                    tcp_frame(LinkLayer::Ethernet, &seg(SYN | ACK)),
                    LinkLayer::Ethernet,
                ),
                (
                    with_ext(&tcp_frame(LinkLayer::RawIp, &seg(RST | ACK)), 0, &chain),
                    LinkLayer::RawIp,
                ),
                (
                    icmp(LinkLayer::Ethernet, 1, &with_ext(&probe(), 0, &chain)),
                    LinkLayer::Ethernet,
                ),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            #[test]
            fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = parse_ip_reply(&bytes, LinkLayer::Ethernet);
                let _ = parse_ip_reply(&bytes, LinkLayer::RawIp);
            }

            /// Random bytes behind a plausible IPv6 start, so the walk gets past the first checks.
            #[test]
            fn random_ipv6_packets_never_panic(
                next in prop::sample::select(vec![0u8, 6, 43, 44, 58, 59, 60, 17]),
                len in any::<u16>(),
                body in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let mut f = vec![0x60, 0, 0, 0];
                f.extend_from_slice(&len.to_be_bytes());
                f.extend_from_slice(&[next, 64]);
                f.extend_from_slice(&them().octets());
                f.extend_from_slice(&us().octets());
                f.extend_from_slice(&body);
                let _ = parse_ip_reply(&f, LinkLayer::RawIp);
            }

            #[test]
            fn mutated_valid_frames_never_panic(
                which in 0usize..3,
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                cut in any::<prop::sample::Index>(),
            ) {
                let (mut f, link) = valid_frames().swap_remove(which);
                prop_assert!(parse_ip_reply(&f, link).is_ok());
                for (at, v) in edits {
                    let i = at.index(f.len());
                    f[i] = v;
                }
                let len = cut.index(f.len() + 1);
                let _ = parse_ip_reply(&f[..len], link);
                let _ = parse_ip_reply(&f, link);
            }
        }
    }
}
