//! Frame builders for tests, the lab injector and the in-memory network (allocation is fine
//! here: none of this is on the scan's hot path). Each header is written by its view's
//! representation (`ethernet::Repr`, `ipv4::Repr`, `TcpSegment`, `UdpHeader`,
//! `icmp::UnreachableRepr`).

use super::ethernet::{self, ethertype};
use super::icmp::{self, UnreachableRepr};
use super::ip::protocol;
use super::parse_udp::UdpDatagram;
use super::tcp::{self, TcpSegment};
use super::udp::{self, UdpHeader};
use super::LinkLayer;
use super::{icmpv6, ipv4, ipv6};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest ICMP error Linux sends (RFC 1812 4.3.2.3: at most 576 bytes), which caps the quote.
pub const ICMP_MAX_PACKET: usize = 576;

/// The 14-byte Ethernet header for IPv4 (empty for `RawIp`).
pub fn link_header(link: LinkLayer, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    link_header_for(link, src_mac, dst_mac, ethertype::IPV4)
}

/// The 14-byte Ethernet header with `ethertype` (empty for `RawIp`).
pub fn link_header_for(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ethertype: u16,
) -> Vec<u8> {
    match link {
        LinkLayer::Ethernet => {
            let mut h = vec![0u8; ethernet::HEADER_LEN];
            ethernet::Repr {
                src: src_mac,
                dst: dst_mac,
                ethertype,
            }
            .emit(&mut ethernet::Frame::new_unchecked(&mut h[..]));
            h
        }
        LinkLayer::RawIp => Vec::new(),
    }
}

/// A 20-byte IPv4 header (DF set, no options) with a correct header checksum.
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    id: u16,
    payload_len: usize,
) -> [u8; 20] {
    let mut h = [0u8; ipv4::HEADER_LEN];
    ipv4::Repr {
        src,
        dst,
        protocol,
        ttl,
        ident: id,
        payload_len,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut h[..]));
    h
}

/// A TCP segment (header + `options`, padded with EOL to a 4-byte multiple) with its checksum.
pub fn tcp_segment(seg: &TcpSegment, options: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; TcpSegment::<Ipv4Addr>::header_len(options)];
    seg.emit(&mut tcp::Packet::new_unchecked(&mut t[..]), options);
    t
}

/// A frame carrying `seg` with TCP options (e.g. the MSS a real SYN/ACK has).
pub fn tcp_frame_with_options(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    seg: &TcpSegment,
    options: &[u8],
) -> Vec<u8> {
    let tcp = tcp_segment(seg, options);
    let mut f = link_header(link, src_mac, dst_mac);
    f.extend_from_slice(&ipv4_header(
        seg.src,
        seg.dst,
        protocol::TCP,
        seg.ttl,
        0,
        tcp.len(),
    ));
    f.extend_from_slice(&tcp);
    f
}

/// A frame carrying `seg` without TCP options, IP and TCP checksums correct.
pub fn tcp_frame(link: LinkLayer, src_mac: [u8; 6], dst_mac: [u8; 6], seg: &TcpSegment) -> Vec<u8> {
    tcp_frame_with_options(link, src_mac, dst_mac, seg, &[])
}

/// A UDP datagram (header, then `payload`) from `src` to `dst` with its checksum.
fn udp_datagram<A: super::IpAddress>(src: A, dst: A, d: &UdpDatagram<'_, A>) -> Vec<u8> {
    let len = UdpHeader::buffer_len(d.payload.len()).unwrap_or(udp::HEADER_LEN);
    let payload = &d.payload[..len - udp::HEADER_LEN];
    let mut u = vec![0u8; len];
    UdpHeader {
        sport: d.sport,
        dport: d.dport,
    }
    .emit(
        &mut udp::Packet::new_unchecked(&mut u[..]),
        src,
        dst,
        payload,
    );
    u
}

/// An IPv4 frame carrying the datagram `d` (TTL `d.ttl`), IP and UDP checksums correct.
pub fn udp_frame(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    d: &UdpDatagram<'_, Ipv4Addr>,
) -> Vec<u8> {
    let u = udp_datagram(d.src, d.dst, d);
    let mut f = link_header(link, src_mac, dst_mac);
    f.extend_from_slice(&ipv4_header(d.src, d.dst, protocol::UDP, d.ttl, 0, u.len()));
    f.extend_from_slice(&u);
    f
}

/// An ICMP destination unreachable (type 3, `code`) from `from` to `to` quoting
/// `quoted_ip_packet` (pass at least its IP header + 8 bytes; like Linux, up to 576 bytes in all).
#[allow(clippy::too_many_arguments)]
pub fn icmp_unreachable_frame(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    from: Ipv4Addr,
    to: Ipv4Addr,
    code: u8,
    ttl: u8,
    quoted_ip_packet: &[u8],
) -> Vec<u8> {
    let room = ICMP_MAX_PACKET - ipv4::HEADER_LEN - icmp::HEADER_LEN;
    let quote = &quoted_ip_packet[..quoted_ip_packet.len().min(room)];
    let repr = UnreachableRepr { code, quote };
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmp::Packet::new_unchecked(&mut msg[..]));
    let mut f = link_header(link, src_mac, dst_mac);
    f.extend_from_slice(&ipv4_header(from, to, protocol::ICMP, ttl, 0, msg.len()));
    f.extend_from_slice(&msg);
    f
}

/// A 40-byte IPv6 header (no extension headers, traffic class and flow label zero).
pub fn ipv6_header(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: usize,
) -> [u8; 40] {
    let mut h = [0u8; ipv6::HEADER_LEN];
    ipv6::Repr {
        src,
        dst,
        next_header,
        hop_limit,
        payload_len,
    }
    .emit(&mut ipv6::Packet::new_unchecked(&mut h[..]));
    h
}

/// An IPv6 frame carrying `seg` (hop limit `seg.ttl`) with TCP options, checksum correct.
pub fn tcp6_frame_with_options(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    seg: &TcpSegment<Ipv6Addr>,
    options: &[u8],
) -> Vec<u8> {
    let mut tcp = vec![0u8; TcpSegment::<Ipv6Addr>::header_len(options)];
    seg.emit(&mut tcp::Packet::new_unchecked(&mut tcp[..]), options);
    let mut f = link_header_for(link, src_mac, dst_mac, ethertype::IPV6);
    f.extend_from_slice(&ipv6_header(
        seg.src,
        seg.dst,
        protocol::TCP,
        seg.ttl,
        tcp.len(),
    ));
    f.extend_from_slice(&tcp);
    f
}

/// An IPv6 frame carrying the datagram `d` (hop limit `d.ttl`), UDP checksum correct.
pub fn udp6_frame(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    d: &UdpDatagram<'_, Ipv6Addr>,
) -> Vec<u8> {
    let u = udp_datagram(d.src, d.dst, d);
    let mut f = link_header_for(link, src_mac, dst_mac, ethertype::IPV6);
    f.extend_from_slice(&ipv6_header(d.src, d.dst, protocol::UDP, d.ttl, u.len()));
    f.extend_from_slice(&u);
    f
}

/// An ICMPv6 destination unreachable (type 1, `code`) from `from` to `to` quoting
/// `quoted_ip_packet` (like Linux, up to 1280 bytes in all).
#[allow(clippy::too_many_arguments)]
pub fn icmpv6_unreachable_frame(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    from: Ipv6Addr,
    to: Ipv6Addr,
    code: u8,
    hop_limit: u8,
    quoted_ip_packet: &[u8],
) -> Vec<u8> {
    let room = icmpv6::MAX_ERROR_PACKET - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;
    let quote = &quoted_ip_packet[..quoted_ip_packet.len().min(room)];
    let repr = icmpv6::UnreachableRepr {
        from,
        to,
        code,
        quote,
    };
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmpv6::Packet::new_unchecked(&mut msg[..]));
    let mut f = link_header_for(link, src_mac, dst_mac, ethertype::IPV6);
    f.extend_from_slice(&ipv6_header(
        from,
        to,
        protocol::ICMPV6,
        hop_limit,
        msg.len(),
    ));
    f.extend_from_slice(&msg);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp_flags::{ACK, SYN};
    use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet::packet::icmp::{self, IcmpPacket, IcmpTypes};
    use pnet::packet::ip::IpNextHeaderProtocols;
    use pnet::packet::ipv4::{self, Ipv4Packet};
    use pnet::packet::tcp::{self, TcpPacket};
    use pnet::packet::Packet;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn spec() -> TcpSegment {
        TcpSegment {
            src: A,
            dst: B,
            sport: 80,
            dport: 61000,
            seq: 7,
            ack: 0x1000_0001,
            flags: SYN | ACK,
            ttl: 64,
            window: 29200,
        }
    }

    #[test]
    fn tcp_frame_checked_by_pnet() {
        let f = tcp_frame(
            LinkLayer::Ethernet,
            [1, 2, 3, 4, 5, 6],
            [7, 8, 9, 10, 11, 12],
            &spec(),
        );
        assert_eq!(f.len(), 54);
        let eth = EthernetPacket::new(&f).unwrap();
        assert_eq!(eth.get_destination().octets(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(eth.get_source().octets(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
        let ip = Ipv4Packet::new(eth.payload()).unwrap();
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        assert_eq!(ip.get_total_length(), 40);
        assert_eq!(ip.get_ttl(), 64);
        assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Tcp);
        let t = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(t.get_checksum(), tcp::ipv4_checksum(&t, &A, &B));
        assert_eq!((t.get_source(), t.get_destination()), (80, 61000));
        assert_eq!(
            (t.get_sequence(), t.get_acknowledgement()),
            (7, 0x1000_0001)
        );
        assert_eq!(
            (t.get_flags(), t.get_window(), t.get_data_offset()),
            (0x12, 29200, 5)
        );
    }

    #[test]
    fn options_are_padded_and_checksummed() {
        let f = tcp_frame_with_options(
            LinkLayer::RawIp,
            [0; 6],
            [0; 6],
            &spec(),
            &[2, 4, 5, 0xb4, 1],
        );
        assert_eq!(f.len(), 20 + 28);
        assert_eq!(&f[40..48], &[2, 4, 5, 0xb4, 1, 0, 0, 0]);
        let ip = Ipv4Packet::new(&f).unwrap();
        let t = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(t.get_data_offset(), 7);
        assert_eq!(t.get_checksum(), tcp::ipv4_checksum(&t, &A, &B));
    }

    #[test]
    fn icmp_frame_checked_by_pnet() {
        let quoted = tcp_frame(LinkLayer::RawIp, [0; 6], [0; 6], &spec());
        let router = Ipv4Addr::new(198, 18, 0, 254);
        let f =
            icmp_unreachable_frame(LinkLayer::RawIp, [0; 6], [0; 6], router, A, 3, 250, &quoted);
        assert_eq!(f.len(), 20 + 8 + 40);
        let ip = Ipv4Packet::new(&f).unwrap();
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        assert_eq!(
            (ip.get_source(), ip.get_destination(), ip.get_ttl()),
            (router, A, 250)
        );
        let i = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!(i.get_icmp_type(), IcmpTypes::DestinationUnreachable);
        assert_eq!(i.get_icmp_code().0, 3);
        assert_eq!(i.get_checksum(), icmp::checksum(&i));
        assert_eq!(&ip.payload()[8..], &quoted[..]);
    }

    #[test]
    fn icmp_quote_is_capped_at_576_bytes() {
        let big = vec![0x45u8; 1500];
        let f = icmp_unreachable_frame(LinkLayer::Ethernet, [0; 6], [0; 6], A, B, 1, 64, &big);
        assert_eq!(f.len(), 14 + ICMP_MAX_PACKET);
    }
}
