//! The frame of a kind's raw TCP probe, built once per scan and address family; each probe
//! copies it and patches the destination, ID, ports and cookie, fixing both checksums
//! incrementally from sums precomputed with those fields zero.

use super::kind::TcpProbe;
use crate::wire::checksum::add_to_zeroed;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::ip::protocol;
use crate::wire::tcp::{self, TcpSegment};
use crate::wire::{ipv4, ipv6, IpAddress, LinkLayer};
use std::net::{Ipv4Addr, Ipv6Addr};

/// TCP options in the order Windows sends them: MSS 1460, NOP, WS 8, NOP, NOP, SACK permitted.
pub const SYN_OPTIONS: [u8; 12] = [
    0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02,
];
/// Window of the SYN (Windows 10/11 default).
pub const SYN_WINDOW: u16 = 64240;
/// IPv4 TTL of the SYN.
pub const SYN_TTL: u8 = 64;
/// IPv4 header length (no options).
pub const IP_LEN: usize = ipv4::HEADER_LEN;
/// TCP header length with the SYN's options (data offset 8).
pub const TCP_LEN: usize = tcp::HEADER_LEN + SYN_OPTIONS.len();
/// Longest TCP header a probe has (40 bytes of options).
const MAX_TCP_LEN: usize = tcp::HEADER_LEN + 40;
/// Longest frame: Ethernet + IPv4 + TCP.
pub const MAX_FRAME: usize = ethernet::HEADER_LEN + IP_LEN + MAX_TCP_LEN;

/// Writes the Ethernet header of a template (nothing on a raw-IP link).
pub(crate) fn emit_ethernet(
    link: LinkLayer,
    bytes: &mut [u8],
    src: [u8; 6],
    dst: [u8; 6],
    ethertype: u16,
) {
    if link == LinkLayer::Ethernet {
        ethernet::Repr {
            src,
            dst,
            ethertype,
        }
        .emit(&mut ethernet::Frame::new_unchecked(bytes));
    }
}

/// Length of the TCP header of `probe` (its options cut at 40 bytes).
fn tcp_len(probe: &TcpProbe) -> usize {
    TcpSegment::<Ipv4Addr>::header_len(probe.options).min(MAX_TCP_LEN)
}

/// Writes the probe's segment with ports, sequence and acknowledgement zero into `segment`
/// ([`tcp_len`] bytes) and returns its checksum over the pseudo-header of `src` and `dst`:
/// both families' templates share the header and options.
fn emit_segment<A: IpAddress>(segment: &mut [u8], src: A, dst: A, probe: &TcpProbe) -> u16 {
    let mut packet = tcp::Packet::new_unchecked(segment);
    TcpSegment {
        src,
        dst,
        sport: 0,
        dport: 0,
        seq: 0,
        ack: 0,
        flags: probe.flags,
        ttl: SYN_TTL,
        window: probe.window,
    }
    .emit(&mut packet, probe.options);
    packet.checksum()
}

/// The 16-bit words the cookie adds to a segment's checksum: its sequence number, and its
/// acknowledgement number when `ack_mask` puts it there too.
#[inline(always)]
fn cookie_sum(seq: u32, ack_mask: u32) -> u64 {
    let ack = seq & ack_mask;
    u64::from(seq >> 16) + u64::from(seq & 0xffff) + u64::from(ack >> 16) + u64::from(ack & 0xffff)
}

/// Writes the cookie `seq` into `segment` (and into its acknowledgement number under
/// `ack_mask`).
#[inline(always)]
fn set_cookie<T: AsRef<[u8]> + AsMut<[u8]>>(segment: &mut tcp::Packet<T>, seq: u32, ack_mask: u32) {
    segment.set_seq_number(seq);
    segment.set_ack_number(seq & ack_mask);
}

/// The mask that copies the cookie into the acknowledgement number, or clears it.
fn ack_mask(probe: &TcpProbe) -> u32 {
    if probe.cookie_in_ack {
        u32::MAX
    } else {
        0
    }
}

/// The prebuilt IPv4 probe and its checksums with destination, ID, ports and cookie zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    bytes: [u8; MAX_FRAME],
    len: usize,
    ip: usize,
    ip_csum: u16,
    tcp_csum: u16,
    ack_mask: u32,
}

impl Template {
    /// Builds the frame of `probe` for `link` from `src_mac` to `dst_mac` (MACs unused for
    /// RawIp).
    pub fn new(
        link: LinkLayer,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src_ip: Ipv4Addr,
        probe: &TcpProbe,
    ) -> Self {
        let ip = link.header_len();
        let tcp_len = tcp_len(probe);
        let len = ip + IP_LEN + tcp_len;
        let mut bytes = [0u8; MAX_FRAME];
        emit_ethernet(link, &mut bytes, src_mac, dst_mac, ethertype::IPV4);
        // Destination, ID, ports and sequence zero: each probe adds its own.
        let mut header = ipv4::Packet::new_unchecked(&mut bytes[ip..ip + IP_LEN]);
        ipv4::Repr {
            src: src_ip,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: protocol::TCP,
            ttl: SYN_TTL,
            ident: 0,
            payload_len: tcp_len,
        }
        .emit(&mut header);
        let ip_csum = header.checksum();
        let t = ip + IP_LEN;
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let tcp_csum = emit_segment(&mut bytes[t..t + tcp_len], src_ip, unspecified, probe);
        Template {
            bytes,
            len,
            ip,
            ip_csum,
            tcp_csum,
            ack_mask: ack_mask(probe),
        }
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a template is a whole frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the probe with cookie `seq` into `buf[..len]`; panics only if the caller's
    /// buffer is too short.
    #[inline(always)]
    pub fn write(
        &self,
        buf: &mut [u8],
        dst: Ipv4Addr,
        ip_id: u16,
        sport: u16,
        dport: u16,
        seq: u32,
    ) {
        let frame = &mut buf[..self.len];
        frame.copy_from_slice(&self.bytes[..self.len]);
        let (header, segment) = frame[self.ip..].split_at_mut(IP_LEN);
        let dst_sum = dst.word_sum();
        let mut header = ipv4::Packet::new_unchecked(header);
        header.set_ident(ip_id);
        header.set_dst_addr(dst);
        header.set_checksum(add_to_zeroed(self.ip_csum, u64::from(ip_id) + dst_sum));
        let mut segment = tcp::Packet::new_unchecked(segment);
        segment.set_src_port(sport);
        segment.set_dst_port(dport);
        set_cookie(&mut segment, seq, self.ack_mask);
        let added = dst_sum + u64::from(sport) + u64::from(dport) + cookie_sum(seq, self.ack_mask);
        segment.set_checksum(add_to_zeroed(self.tcp_csum, added));
    }
}

/// IPv6 header length (no extension headers).
pub const IP6_LEN: usize = ipv6::HEADER_LEN;
/// Longest IPv6 frame: Ethernet + IPv6 + TCP.
pub const MAX_FRAME6: usize = ethernet::HEADER_LEN + IP6_LEN + MAX_TCP_LEN;

/// The prebuilt IPv6 probe (same TCP header and options as the IPv4 one; hop limit
/// `SYN_TTL`) and its TCP checksum with destination, ports and cookie zero. IPv6 has no
/// header checksum and no ID: only the TCP checksum is patched, over the IPv6 pseudo-header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template6 {
    bytes: [u8; MAX_FRAME6],
    len: usize,
    ip: usize,
    tcp_csum: u16,
    ack_mask: u32,
}

impl Template6 {
    /// Builds the frame of `probe` for `link` from `src_mac` to `dst_mac` (MACs unused for
    /// RawIp).
    pub fn new(
        link: LinkLayer,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src_ip: Ipv6Addr,
        probe: &TcpProbe,
    ) -> Self {
        let ip = link.header_len();
        let tcp_len = tcp_len(probe);
        let len = ip + IP6_LEN + tcp_len;
        let mut bytes = [0u8; MAX_FRAME6];
        emit_ethernet(link, &mut bytes, src_mac, dst_mac, ethertype::IPV6);
        ipv6::Repr {
            src: src_ip,
            dst: Ipv6Addr::UNSPECIFIED,
            next_header: protocol::TCP,
            hop_limit: SYN_TTL,
            payload_len: tcp_len,
        }
        .emit(&mut ipv6::Packet::new_unchecked(
            &mut bytes[ip..ip + IP6_LEN],
        ));
        let t = ip + IP6_LEN;
        let unspecified = Ipv6Addr::UNSPECIFIED;
        let tcp_csum = emit_segment(&mut bytes[t..t + tcp_len], src_ip, unspecified, probe);
        Template6 {
            bytes,
            len,
            ip,
            tcp_csum,
            ack_mask: ack_mask(probe),
        }
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a template is a whole frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the probe with cookie `seq` into `buf[..len]`; panics only if the caller's
    /// buffer is too short.
    #[inline(always)]
    pub fn write(&self, buf: &mut [u8], dst: Ipv6Addr, sport: u16, dport: u16, seq: u32) {
        let frame = &mut buf[..self.len];
        frame.copy_from_slice(&self.bytes[..self.len]);
        let (header, segment) = frame[self.ip..].split_at_mut(IP6_LEN);
        ipv6::Packet::new_unchecked(header).set_dst_addr(dst);
        let mut segment = tcp::Packet::new_unchecked(segment);
        segment.set_src_port(sport);
        segment.set_dst_port(dport);
        set_cookie(&mut segment, seq, self.ack_mask);
        let added =
            dst.word_sum() + u64::from(sport) + u64::from(dport) + cookie_sum(seq, self.ack_mask);
        segment.set_checksum(add_to_zeroed(self.tcp_csum, added));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::kind::tcp_syn::TCP_PROBE as SYN;
    use crate::wire::checksum::{internet_checksum, tcp_checksum};

    #[test]
    fn exact_bytes_raw_ip() {
        let t = Template::new(
            LinkLayer::RawIp,
            [0; 6],
            [0; 6],
            Ipv4Addr::new(198, 18, 0, 1),
            &SYN,
        );
        assert_eq!(t.len(), 52);
        let mut buf = [0u8; 52];
        t.write(
            &mut buf,
            Ipv4Addr::new(198, 18, 0, 2),
            0xabcd,
            61000,
            443,
            0x0102_0304,
        );
        let ip = internet_checksum(&{
            let mut h = [0u8; 20];
            h.copy_from_slice(&buf[..20]);
            h[10] = 0;
            h[11] = 0;
            h
        });
        let mut seg = buf[20..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        let tcp = tcp_checksum(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            &seg,
        );
        let mut want = vec![
            0x45, 0x00, 0x00, 52, 0xab, 0xcd, 0x40, 0x00, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0,
            2, 0xee, 0x48, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x80, 0x02, 0xfa, 0xf0,
            0, 0, 0, 0, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02,
        ];
        want[10..12].copy_from_slice(&ip.to_be_bytes());
        want[36..38].copy_from_slice(&tcp.to_be_bytes());
        assert_eq!(&buf[..], &want[..]);
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_exact_bytes_raw_ip() {
        let src = v6("2001:2:0:18::1");
        let dst = v6("2001:2:0:19::abcd");
        let t = Template6::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &SYN);
        assert_eq!(t.len(), 72);
        let mut buf = [0u8; 72];
        t.write(&mut buf, dst, 61000, 443, 0x0102_0304);
        let mut want = vec![0x60, 0, 0, 0, 0, 32, 6, 64];
        want.extend_from_slice(&src.octets());
        want.extend_from_slice(&dst.octets());
        want.extend_from_slice(&[
            0xee, 0x48, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x80, 0x02, 0xfa, 0xf0, 0,
            0, 0, 0, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02,
        ]);
        let tcp = tcp_checksum(src, dst, &want[40..]);
        want[56..58].copy_from_slice(&tcp.to_be_bytes());
        assert_eq!(&buf[..], &want[..]);
    }

    #[test]
    fn ipv6_ethernet_frame_checked_by_pnet() {
        use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
        use pnet::packet::ip::IpNextHeaderProtocols;
        use pnet::packet::ipv6::Ipv6Packet;
        use pnet::packet::tcp::{ipv6_checksum, TcpPacket};
        use pnet::packet::Packet;
        let src = v6("2001:2:0:18::1");
        let t = Template6::new(
            LinkLayer::Ethernet,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            src,
            &SYN,
        );
        assert_eq!(t.len(), 86);
        let mut buf = vec![0u8; 86];
        for (i, dst) in ["2001:2:0:19::1", "2001:2:0:19:ffff:ffff:ffff:ffff", "::"]
            .into_iter()
            .enumerate()
        {
            let dst = v6(dst);
            let seq = 0xffff_0000u32.wrapping_mul(i as u32 + 1);
            t.write(&mut buf, dst, 65535 - i as u16, 1 + i as u16, seq);
            let eth = EthernetPacket::new(&buf).unwrap();
            assert_eq!(eth.get_ethertype(), EtherTypes::Ipv6);
            assert_eq!(eth.get_destination().octets(), [2, 0, 0, 0, 0, 2]);
            let ip = Ipv6Packet::new(eth.payload()).unwrap();
            assert_eq!((ip.get_version(), ip.get_payload_length()), (6, 32));
            assert_eq!(ip.get_next_header(), IpNextHeaderProtocols::Tcp);
            assert_eq!(ip.get_hop_limit(), 64);
            assert_eq!((ip.get_source(), ip.get_destination()), (src, dst));
            let tcp = TcpPacket::new(ip.payload()).unwrap();
            assert_eq!(tcp.get_checksum(), ipv6_checksum(&tcp, &src, &dst));
            assert_eq!(
                (tcp.get_source(), tcp.get_destination()),
                (65535 - i as u16, 1 + i as u16)
            );
            assert_eq!(tcp.get_sequence(), seq);
            assert_eq!((tcp.get_flags(), tcp.get_window()), (0x02, 64240));
            assert_eq!(&buf[74..86], &SYN_OPTIONS);
        }
    }

    proptest::proptest! {
        /// The incremental IPv6 checksum equals a full recompute and pnet's.
        #[test]
        fn ipv6_incremental_checksum_is_exact(
            src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, seq: u32,
        ) {
            use pnet::packet::tcp::{ipv6_checksum, TcpPacket};
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let t = Template6::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &SYN);
            let mut buf = [0u8; 72];
            t.write(&mut buf, dst, sport, dport, seq);
            let mut seg = buf[40..].to_vec();
            let got = u16::from_be_bytes([seg[16], seg[17]]);
            seg[16] = 0;
            seg[17] = 0;
            proptest::prop_assert_eq!(got, tcp_checksum(src, dst, &seg));
            let p = TcpPacket::new(&buf[40..]).unwrap();
            proptest::prop_assert_eq!(got, ipv6_checksum(&p, &src, &dst));
        }
    }
}
