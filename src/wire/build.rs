//! Frame builders for tests, the lab injector and the in-memory network (allocation is fine
//! here: none of this is on the scan's hot path).

use super::checksum::{internet_checksum, tcp_checksum};
use super::LinkLayer;
use std::net::Ipv4Addr;

/// Largest ICMP error Linux sends (RFC 1812 4.3.2.3: at most 576 bytes), which caps the quote.
pub const ICMP_MAX_PACKET: usize = 576;

/// The TCP segment one frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSpec {
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// TCP source port.
    pub sport: u16,
    /// TCP destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits (see `tcp_flags`).
    pub flags: u8,
    /// IPv4 TTL.
    pub ttl: u8,
    /// TCP window.
    pub window: u16,
}

/// The 14-byte Ethernet header for IPv4 (empty for `RawIp`).
pub fn link_header(link: LinkLayer, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    match link {
        LinkLayer::Ethernet => {
            let mut h = Vec::with_capacity(14);
            h.extend_from_slice(&dst_mac);
            h.extend_from_slice(&src_mac);
            h.extend_from_slice(&0x0800u16.to_be_bytes());
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
    let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6] = 0x40; // DF
    h[8] = ttl;
    h[9] = protocol;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = internet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// A TCP segment (header + `options`, padded with EOL to a 4-byte multiple) with its checksum.
pub fn tcp_segment(spec: &TcpSpec, options: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let hdr_len = (20 + opt_len).min(60);
    let mut t = vec![0u8; hdr_len];
    t[0..2].copy_from_slice(&spec.sport.to_be_bytes());
    t[2..4].copy_from_slice(&spec.dport.to_be_bytes());
    t[4..8].copy_from_slice(&spec.seq.to_be_bytes());
    t[8..12].copy_from_slice(&spec.ack.to_be_bytes());
    t[12] = ((hdr_len / 4) as u8) << 4;
    t[13] = spec.flags;
    t[14..16].copy_from_slice(&spec.window.to_be_bytes());
    let n = options.len().min(hdr_len - 20);
    t[20..20 + n].copy_from_slice(&options[..n]);
    let c = tcp_checksum(spec.src, spec.dst, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A frame carrying `spec` with TCP options (e.g. the MSS a real SYN/ACK has).
pub fn tcp_frame_with_options(
    link: LinkLayer,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    spec: &TcpSpec,
    options: &[u8],
) -> Vec<u8> {
    let seg = tcp_segment(spec, options);
    let mut f = link_header(link, src_mac, dst_mac);
    f.extend_from_slice(&ipv4_header(spec.src, spec.dst, 6, spec.ttl, 0, seg.len()));
    f.extend_from_slice(&seg);
    f
}

/// A frame carrying `spec` without TCP options, IP and TCP checksums correct.
pub fn tcp_frame(link: LinkLayer, src_mac: [u8; 6], dst_mac: [u8; 6], spec: &TcpSpec) -> Vec<u8> {
    tcp_frame_with_options(link, src_mac, dst_mac, spec, &[])
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
    let quote_len = quoted_ip_packet.len().min(ICMP_MAX_PACKET - 20 - 8);
    let mut icmp = vec![3, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted_ip_packet[..quote_len]);
    let c = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = link_header(link, src_mac, dst_mac);
    f.extend_from_slice(&ipv4_header(from, to, 1, ttl, 0, icmp.len()));
    f.extend_from_slice(&icmp);
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

    fn spec() -> TcpSpec {
        TcpSpec {
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
