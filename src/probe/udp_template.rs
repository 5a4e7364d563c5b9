//! The UDP probe frame for one payload, built once per scan and address family; each probe
//! copies it and patches the destination, ports, IPv4 ID and the cookie's protocol field,
//! fixing the checksums incrementally from sums precomputed with those fields zero.

use super::template::{emit_ethernet, SYN_TTL};
use crate::payload::field::CookieField;
use crate::wire::checksum::{add_to_zeroed, udp_field};
use crate::wire::ethernet::ethertype;
use crate::wire::ip::protocol;
use crate::wire::udp::{self, UdpHeader};
use crate::wire::{ipv4, ipv6, IpAddress, LinkLayer};
use std::net::{Ipv4Addr, Ipv6Addr};

/// TTL (hop limit) of UDP probes: the SYN's, so both kinds look alike on the wire.
pub const UDP_TTL: u8 = SYN_TTL;

/// The UDP part of a template: its checksum with destination, ports and field zero, and
/// the field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Datagram {
    csum: u16,
    field: Option<CookieField>,
}

impl Datagram {
    /// Writes header and `payload` (its field zeroed) into `udp_bytes` and keeps the checksum
    /// over the pseudo-header of `src` and the unspecified destination.
    fn emit<A: IpAddress>(
        udp_bytes: &mut [u8],
        src: A,
        unspecified: A,
        payload: &[u8],
        field: Option<CookieField>,
    ) -> Datagram {
        let mut packet = udp::Packet::new_unchecked(udp_bytes);
        UdpHeader { sport: 0, dport: 0 }.emit(&mut packet, src, unspecified, payload);
        let bytes = packet.into_inner();
        if let Some(f) = field {
            for r in f.ranges() {
                if let Some(b) = bytes.get_mut(udp::HEADER_LEN + r.start..udp::HEADER_LEN + r.end) {
                    b.fill(0);
                }
            }
        }
        // The checksum over the bytes as they are now (field zero).
        let mut packet = udp::Packet::new_unchecked(bytes);
        packet.fill_checksum(src, unspecified);
        let csum = packet.checksum();
        // A zero sum was written as 0xffff; undo that for the arithmetic.
        Datagram {
            csum: if csum == 0xffff { 0 } else { csum },
            field,
        }
    }

    /// The checksum field of the probe to the destination whose pseudo-header share is
    /// `dst_sum`, from `sport` to `dport` with `cookie`.
    #[inline(always)]
    fn checksum(&self, dst_sum: u64, sport: u16, dport: u16, cookie: u64) -> u16 {
        // The UDP header is 8 bytes, so a payload offset has its datagram parity.
        let field = self.field.map_or(0, |f| f.checksum_share(cookie));
        let added = dst_sum + u64::from(sport) + u64::from(dport) + field;
        udp_field(add_to_zeroed(self.csum, added))
    }

    /// Patches ports and field into the copied datagram and writes its checksum.
    #[inline(always)]
    fn finish(&self, udp_bytes: &mut [u8], dst_sum: u64, sport: u16, dport: u16, cookie: u64) {
        let (header, payload) = udp_bytes.split_at_mut(udp::HEADER_LEN);
        if let Some(f) = self.field {
            f.patch(payload, cookie);
        }
        let mut packet = udp::Packet::new_unchecked(header);
        packet.set_src_port(sport);
        packet.set_dst_port(dport);
        packet.set_checksum(self.checksum(dst_sum, sport, dport, cookie));
    }
}

/// The prebuilt IPv4 UDP probe for one payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpTemplate {
    bytes: Vec<u8>,
    ip: usize,
    ip_csum: u16,
    datagram: Datagram,
}

impl UdpTemplate {
    /// Builds the frame for `link` from `src_mac` to `dst_mac` (MACs unused for RawIp)
    /// carrying `payload` with its cookie `field`; None when the payload is larger than a
    /// datagram holds.
    pub fn new(
        link: LinkLayer,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src_ip: Ipv4Addr,
        payload: &[u8],
        field: Option<CookieField>,
    ) -> Option<UdpTemplate> {
        let udp_len = UdpHeader::buffer_len(payload.len())?;
        let ip = link.header_len();
        let mut bytes = vec![0u8; ip + ipv4::HEADER_LEN + udp_len];
        emit_ethernet(link, &mut bytes, src_mac, dst_mac, ethertype::IPV4);
        let (header, datagram) = bytes[ip..].split_at_mut(ipv4::HEADER_LEN);
        let mut header = ipv4::Packet::new_unchecked(header);
        ipv4::Repr {
            src: src_ip,
            dst: Ipv4Addr::UNSPECIFIED,
            protocol: protocol::UDP,
            ttl: UDP_TTL,
            ident: 0,
            payload_len: udp_len,
        }
        .emit(&mut header);
        let ip_csum = header.checksum();
        let datagram = Datagram::emit(datagram, src_ip, Ipv4Addr::UNSPECIFIED, payload, field);
        Some(UdpTemplate {
            bytes,
            ip,
            ip_csum,
            datagram,
        })
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a template is a whole frame.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the probe into `buf[..len]`; panics only if the caller's buffer is too short.
    #[inline(always)]
    pub fn write(
        &self,
        buf: &mut [u8],
        dst: Ipv4Addr,
        ip_id: u16,
        sport: u16,
        dport: u16,
        cookie: u64,
    ) {
        let frame = &mut buf[..self.bytes.len()];
        frame.copy_from_slice(&self.bytes);
        let (header, datagram) = frame[self.ip..].split_at_mut(ipv4::HEADER_LEN);
        let dst_sum = dst.word_sum();
        let mut header = ipv4::Packet::new_unchecked(header);
        header.set_ident(ip_id);
        header.set_dst_addr(dst);
        header.set_checksum(add_to_zeroed(self.ip_csum, u64::from(ip_id) + dst_sum));
        self.datagram
            .finish(datagram, dst_sum, sport, dport, cookie);
    }

    /// The UDP length field of every probe of this template.
    pub fn udp_len(&self) -> u16 {
        (self.bytes.len() - self.ip - ipv4::HEADER_LEN) as u16
    }

    /// The UDP checksum field of the probe `write` makes with these values: an ICMP error
    /// quoting our probe must hold it (with `udp_len`) besides the ports.
    #[inline]
    pub fn quoted_checksum(&self, dst: Ipv4Addr, sport: u16, dport: u16, cookie: u64) -> u16 {
        self.datagram.checksum(dst.word_sum(), sport, dport, cookie)
    }
}

/// The prebuilt IPv6 UDP probe for one payload (no header checksum, no ID: only the UDP
/// checksum is patched, over the IPv6 pseudo-header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpTemplate6 {
    bytes: Vec<u8>,
    ip: usize,
    datagram: Datagram,
}

impl UdpTemplate6 {
    /// As [`UdpTemplate::new`], for IPv6.
    pub fn new(
        link: LinkLayer,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src_ip: Ipv6Addr,
        payload: &[u8],
        field: Option<CookieField>,
    ) -> Option<UdpTemplate6> {
        let udp_len = UdpHeader::buffer_len(payload.len())?;
        let ip = link.header_len();
        let mut bytes = vec![0u8; ip + ipv6::HEADER_LEN + udp_len];
        emit_ethernet(link, &mut bytes, src_mac, dst_mac, ethertype::IPV6);
        let (header, datagram) = bytes[ip..].split_at_mut(ipv6::HEADER_LEN);
        ipv6::Repr {
            src: src_ip,
            dst: Ipv6Addr::UNSPECIFIED,
            next_header: protocol::UDP,
            hop_limit: UDP_TTL,
            payload_len: udp_len,
        }
        .emit(&mut ipv6::Packet::new_unchecked(header));
        let datagram = Datagram::emit(datagram, src_ip, Ipv6Addr::UNSPECIFIED, payload, field);
        Some(UdpTemplate6 {
            bytes,
            ip,
            datagram,
        })
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a template is a whole frame.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the probe into `buf[..len]`; panics only if the caller's buffer is too short.
    #[inline(always)]
    pub fn write(&self, buf: &mut [u8], dst: Ipv6Addr, sport: u16, dport: u16, cookie: u64) {
        let frame = &mut buf[..self.bytes.len()];
        frame.copy_from_slice(&self.bytes);
        let (header, datagram) = frame[self.ip..].split_at_mut(ipv6::HEADER_LEN);
        ipv6::Packet::new_unchecked(header).set_dst_addr(dst);
        self.datagram
            .finish(datagram, dst.word_sum(), sport, dport, cookie);
    }

    /// The UDP length field of every probe of this template.
    pub fn udp_len(&self) -> u16 {
        (self.bytes.len() - self.ip - ipv6::HEADER_LEN) as u16
    }

    /// As [`UdpTemplate::quoted_checksum`], for IPv6.
    #[inline]
    pub fn quoted_checksum(&self, dst: Ipv6Addr, sport: u16, dport: u16, cookie: u64) -> u16 {
        self.datagram.checksum(dst.word_sum(), sport, dport, cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::builtin;
    use crate::wire::checksum::internet_checksum;
    use pnet::packet::udp::{ipv4_checksum, ipv6_checksum, UdpPacket};
    use proptest::prelude::*;

    /// The same probe built whole: header, payload patched by its field, full checksum.
    fn whole<A: IpAddress>(
        src: A,
        dst: A,
        sport: u16,
        dport: u16,
        payload: &[u8],
        field: Option<CookieField>,
        cookie: u64,
    ) -> Vec<u8> {
        let mut p = payload.to_vec();
        if let Some(f) = field {
            f.patch(&mut p, cookie);
        }
        let mut b = vec![0u8; udp::HEADER_LEN + p.len()];
        UdpHeader { sport, dport }.emit(&mut udp::Packet::new_unchecked(&mut b[..]), src, dst, &p);
        b
    }

    #[test]
    fn ipv4_exact_bytes_raw_ip() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 19, 0, 7);
        let dns = builtin::payloads().into_iter().next().unwrap();
        let t =
            UdpTemplate::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &dns.data, dns.field).unwrap();
        assert_eq!(t.len(), 20 + 8 + 30);
        let mut buf = vec![0u8; t.len()];
        t.write(&mut buf, dst, 0xabcd, 61000, 53, 0x1122_3344_5566_7788);
        let mut ip = vec![0x45, 0, 0, 58, 0xab, 0xcd, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let c = internet_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(&buf[..20], &ip[..]);
        let want = whole(
            src,
            dst,
            61000,
            53,
            &dns.data,
            dns.field,
            0x1122_3344_5566_7788,
        );
        assert_eq!(&buf[20..], &want[..]);
        assert_eq!(&buf[28..30], &[0x11, 0x22], "the DNS ID is the cookie's");
    }

    #[test]
    fn ethernet_frames_of_every_builtin_payload() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let src6: Ipv6Addr = "2001:2:0:18::1".parse().unwrap();
        for p in builtin::payloads() {
            let t = UdpTemplate::new(LinkLayer::Ethernet, [2; 6], [4; 6], src, &p.data, p.field)
                .unwrap();
            let t6 = UdpTemplate6::new(LinkLayer::Ethernet, [2; 6], [4; 6], src6, &p.data, p.field)
                .unwrap();
            let mut buf = vec![0u8; t.len()];
            let mut buf6 = vec![0u8; t6.len()];
            for (i, cookie) in [0u64, u64::MAX, 0x8000_0000_0000_0001]
                .into_iter()
                .enumerate()
            {
                let dst = Ipv4Addr::new(198, 19, i as u8, 200);
                let dst6 = Ipv6Addr::from(0x2001_0002_0000_0019_0000_0000_0000_00c8 + i as u128);
                t.write(&mut buf, dst, i as u16, 61000 + i as u16, 1, cookie);
                assert_eq!(&buf[..6], &[4; 6]);
                assert_eq!(&buf[12..14], &[0x08, 0x00]);
                let want = whole(src, dst, 61000 + i as u16, 1, &p.data, p.field, cookie);
                assert_eq!(&buf[34..], &want[..], "{}", p.name);
                let u = UdpPacket::new(&buf[34..]).unwrap();
                assert_eq!(
                    u.get_checksum(),
                    ipv4_checksum(&u, &src, &dst),
                    "{}",
                    p.name
                );
                t6.write(&mut buf6, dst6, 61000, 2, cookie);
                let want = whole(src6, dst6, 61000, 2, &p.data, p.field, cookie);
                assert_eq!(&buf6[54..], &want[..], "{}", p.name);
                assert_eq!(&buf6[12..14], &[0x86, 0xdd]);
            }
        }
    }

    /// An ICMP error quoting a written probe parses to the template's length and checksum;
    /// another cookie's checksum differs (0x0000 and 0xffff are one value to a checksum, so
    /// the cookies differ otherwise).
    #[test]
    fn quotes_hold_the_probe_checksum() {
        use crate::wire::build::{icmp_unreachable_frame, icmpv6_unreachable_frame};
        use crate::wire::{parse_udp_reply, IpUdpReply, UdpReply};
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 19, 0, 9);
        let src6: Ipv6Addr = "2001:2:0:18::1".parse().unwrap();
        let dst6: Ipv6Addr = "2001:2:0:19::9".parse().unwrap();
        for p in builtin::payloads() {
            let t =
                UdpTemplate::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &p.data, p.field).unwrap();
            let mut probe = vec![0u8; t.len()];
            t.write(&mut probe, dst, 7, 61001, 161, 0x1111_1111_1111_1111);
            let f = icmp_unreachable_frame(
                LinkLayer::RawIp,
                [0; 6],
                [0; 6],
                dst,
                src,
                3,
                64,
                &probe[..28],
            );
            let Ok(IpUdpReply::V4(UdpReply::Unreachable(u))) =
                parse_udp_reply(&f, LinkLayer::RawIp)
            else {
                panic!("{}", p.name);
            };
            assert_eq!(u.quoted.len, t.udp_len(), "{}", p.name);
            assert_eq!(
                u.quoted.checksum,
                t.quoted_checksum(dst, 61001, 161, 0x1111_1111_1111_1111),
                "{}",
                p.name
            );
            if p.field.is_some() {
                assert_ne!(
                    u.quoted.checksum,
                    t.quoted_checksum(dst, 61001, 161, 0x2222_2222_2222_2222),
                    "{}",
                    p.name
                );
            }
            let t6 = UdpTemplate6::new(LinkLayer::RawIp, [0; 6], [0; 6], src6, &p.data, p.field)
                .unwrap();
            let mut probe = vec![0u8; t6.len()];
            t6.write(&mut probe, dst6, 61001, 161, 42);
            let f = icmpv6_unreachable_frame(
                LinkLayer::RawIp,
                [0; 6],
                [0; 6],
                dst6,
                src6,
                4,
                64,
                &probe,
            );
            let Ok(IpUdpReply::V6(UdpReply::Unreachable(u))) =
                parse_udp_reply(&f, LinkLayer::RawIp)
            else {
                panic!("{}", p.name);
            };
            assert_eq!(u.quoted.len, t6.udp_len(), "{}", p.name);
            assert_eq!(
                u.quoted.checksum,
                t6.quoted_checksum(dst6, 61001, 161, 42),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn empty_and_oversized_payloads() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let t = UdpTemplate::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &[], None).unwrap();
        assert_eq!(t.len(), 28);
        let big = vec![0u8; udp::MAX_PAYLOAD + 1];
        assert_eq!(
            UdpTemplate::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &big, None),
            None
        );
    }

    fn any_field() -> impl Strategy<Value = (Vec<u8>, Option<CookieField>)> {
        let all: Vec<(Vec<u8>, Option<CookieField>)> = builtin::payloads()
            .into_iter()
            .map(|p| (p.data.to_vec(), p.field))
            .collect();
        prop::sample::select(all)
    }

    proptest! {
        /// The incremental checksums equal a full recompute and pnet's, whatever the
        /// addresses, ports, payload and cookie (odd payload lengths and the 0xffff rule).
        #[test]
        fn incremental_checksums_are_exact(
            src in any::<u32>(), dst in any::<u32>(), s6 in any::<u128>(), d6 in any::<u128>(),
            sport in any::<u16>(), dport in any::<u16>(), id in any::<u16>(), cookie in any::<u64>(),
            (payload, field) in any_field(), extra in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            // Bytes after the protocol's end keep it parsing as itself for no protocol, but the
            // template must stay exact with any length.
            let mut payload = payload;
            payload.extend_from_slice(&extra);
            let t = UdpTemplate::new(LinkLayer::RawIp, [0; 6], [0; 6], src, &payload, field).unwrap();
            let mut buf = vec![0u8; t.len()];
            t.write(&mut buf, dst, id, sport, dport, cookie);
            prop_assert_eq!(internet_checksum(&buf[..20]), 0);
            prop_assert_eq!(&buf[20..], &whole(src, dst, sport, dport, &payload, field, cookie)[..]);
            let u = UdpPacket::new(&buf[20..]).unwrap();
            let c = u.get_checksum();
            prop_assert!(c == ipv4_checksum(&u, &src, &dst) || (c == 0xffff && ipv4_checksum(&u, &src, &dst) == 0));
            let (s6, d6) = (Ipv6Addr::from(s6), Ipv6Addr::from(d6));
            let t = UdpTemplate6::new(LinkLayer::RawIp, [0; 6], [0; 6], s6, &payload, field).unwrap();
            let mut buf = vec![0u8; t.len()];
            t.write(&mut buf, d6, sport, dport, cookie);
            prop_assert_eq!(&buf[40..], &whole(s6, d6, sport, dport, &payload, field, cookie)[..]);
            let u = UdpPacket::new(&buf[40..]).unwrap();
            let c = u.get_checksum();
            prop_assert!(c == ipv6_checksum(&u, &s6, &d6) || (c == 0xffff && ipv6_checksum(&u, &s6, &d6) == 0));
        }
    }
}
