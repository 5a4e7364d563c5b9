//! UDP header (RFC 768): the view, `UdpHeader` (the one representation of a datagram's header,
//! parsed or written), the checksum over either IP version's pseudo-header, and the header an
//! ICMP error quotes of a probe.

use super::checksum::{fold, pseudo_header_sum, sum_words, udp_checksum};
use super::ip::{protocol, IpAddress};
use super::{read_u16, write_u16, ParseError};

/// Byte ranges of the UDP header.
pub mod field {
    use crate::wire::Field;
    /// Source port.
    pub const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub const DST_PORT: Field = 2..4;
    /// Length of header and payload.
    pub const LENGTH: Field = 4..6;
    /// Checksum (zero: none, IPv4 only).
    pub const CHECKSUM: Field = 6..8;
    /// First payload byte.
    pub const PAYLOAD: usize = 8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Bytes of UDP an ICMP error must quote: the whole header (RFC 792 "64 bits").
pub const QUOTE_LEN: usize = HEADER_LEN;
/// Largest payload one datagram can carry (the 16-bit length minus the header).
pub const MAX_PAYLOAD: usize = u16::MAX as usize - HEADER_LEN;

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (accessors panic on a buffer shorter than the header).
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// A view of a whole datagram: the header within the buffer, and its length field at
    /// least the header and within the buffer (bytes past it are ignored, as the IP layer's
    /// length already bounds the buffer).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let len = usize::from(read_u16(b, field::LENGTH));
        if len < HEADER_LEN {
            return Err(ParseError::BadHeader);
        }
        if len > b.len() {
            return Err(ParseError::Truncated);
        }
        Ok(Packet { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }
    /// Length field (header and payload).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), field::LENGTH))
    }
    /// True when the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// The payload, bounded by the length field (empty when it is shorter than the header or
    /// runs past the buffer, which a checked view rules out).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.len())
            .unwrap_or_default()
    }
    /// True when the checksum over the pseudo-header of (src, dst) verifies. A zero field
    /// means "not computed": accepted over IPv4, refused over IPv6 (RFC 8200 8.1).
    pub fn verify_checksum<A: IpAddress>(&self, src: A, dst: A) -> bool {
        if self.checksum() == 0 {
            return A::VERSION == 4;
        }
        let datagram = self.buffer.as_ref().get(..self.len()).unwrap_or_default();
        let pseudo = pseudo_header_sum(src, dst, protocol::UDP, datagram.len());
        fold(pseudo + sum_words(datagram)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }
    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }
    /// The bytes after the header (to the end of the buffer), writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    /// Computes and writes the checksum over the pseudo-header of (src, dst) and the whole
    /// buffer (a computed zero is written as 0xffff).
    pub fn fill_checksum<A: IpAddress>(&mut self, src: A, dst: A) {
        self.set_checksum(0);
        let c = udp_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A UDP header: what a reply's header parses into and what a builder writes in front of a
/// payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl UdpHeader {
    /// Reads a checked datagram's ports.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Self {
        UdpHeader {
            sport: packet.src_port(),
            dport: packet.dst_port(),
        }
    }

    /// Bytes a datagram with `payload_len` bytes of payload takes; None past the 16-bit
    /// length field.
    pub fn buffer_len(payload_len: usize) -> Option<usize> {
        (payload_len <= MAX_PAYLOAD).then_some(HEADER_LEN + payload_len)
    }

    /// Writes the header and `payload` into a buffer of exactly `HEADER_LEN + payload.len()`
    /// bytes (at most 65535), then the checksum over the pseudo-header of (src, dst).
    pub fn emit<A: IpAddress, T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: A,
        dst: A,
        payload: &[u8],
    ) {
        packet.set_src_port(self.sport);
        packet.set_dst_port(self.dport);
        packet.set_len(u16::try_from(HEADER_LEN + payload.len()).unwrap_or(u16::MAX));
        packet.payload_mut()[..payload.len()].copy_from_slice(payload);
        packet.fill_checksum(src, dst);
    }
}

/// The UDP header an ICMP error quotes of a probe: all of it, so the length and checksum
/// (which cover the probe's payload) can be checked along with the ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Length field.
    pub len: u16,
    /// Checksum field.
    pub checksum: u16,
}

impl QuotedHeader {
    /// Reads the first `QUOTE_LEN` bytes of a quoted datagram (nothing else is checked: a
    /// quote is cut short by design).
    #[inline]
    pub fn parse(quote: &[u8]) -> Result<Self, ParseError> {
        if quote.len() < QUOTE_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(QuotedHeader {
            sport: read_u16(quote, field::SRC_PORT),
            dport: read_u16(quote, field::DST_PORT),
            len: read_u16(quote, field::LENGTH),
            checksum: read_u16(quote, field::CHECKSUM),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet::packet::udp::{ipv4_checksum, ipv6_checksum, UdpPacket};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const S4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const D4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 7);

    fn s6() -> Ipv6Addr {
        "2001:2:0:18::1".parse().unwrap()
    }
    fn d6() -> Ipv6Addr {
        "2001:2:0:19::7".parse().unwrap()
    }

    fn built<A: IpAddress>(src: A, dst: A, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0xeeu8; UdpHeader::buffer_len(payload.len()).unwrap()];
        UdpHeader {
            sport: 61000,
            dport: 53,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]), src, dst, payload);
        b
    }

    #[test]
    fn emit_then_parse_both_versions() {
        let payload = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        let b4 = built(S4, D4, &payload);
        assert_eq!(&b4[..6], &[0xee, 0x48, 0, 53, 0, 21]);
        let p = Packet::new_checked(&b4[..]).unwrap();
        assert_eq!(
            UdpHeader::parse(&p),
            UdpHeader {
                sport: 61000,
                dport: 53
            }
        );
        assert_eq!(
            (p.len(), p.payload(), p.is_empty()),
            (21, &payload[..], false)
        );
        assert!(p.verify_checksum(S4, D4));
        assert!(!p.verify_checksum(S4, Ipv4Addr::new(198, 19, 0, 8)));
        let pn = UdpPacket::new(&b4).unwrap();
        assert_eq!(p.checksum(), ipv4_checksum(&pn, &S4, &D4));
        let b6 = built(s6(), d6(), &payload);
        let p = Packet::new_checked(&b6[..]).unwrap();
        assert!(p.verify_checksum(s6(), d6()));
        let pn = UdpPacket::new(&b6).unwrap();
        assert_eq!(p.checksum(), ipv6_checksum(&pn, &s6(), &d6()));
        // Header bytes are the same; only the checksum differs.
        assert_eq!(b4[..6], b6[..6]);
        assert_ne!(b4[6..8], b6[6..8]);
        // An empty datagram.
        let e = built(S4, D4, &[]);
        let p = Packet::new_checked(&e[..]).unwrap();
        assert!(p.is_empty() && p.payload().is_empty() && p.verify_checksum(S4, D4));
    }

    #[test]
    fn zero_checksum_means_none_over_ipv4_only() {
        let mut b = built(S4, D4, b"abc");
        b[6..8].fill(0);
        assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum(S4, D4));
        let mut b = built(s6(), d6(), b"abc");
        b[6..8].fill(0);
        assert!(!Packet::new_checked(&b[..])
            .unwrap()
            .verify_checksum(s6(), d6()));
    }

    /// A datagram whose checksum computes to zero carries 0xffff, and still verifies.
    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        let mut payload = [0u8; 2];
        let zero_csum = built(S4, D4, &payload);
        let c = read_u16(&zero_csum, field::CHECKSUM);
        // The checksum is the complement of the sum: as a payload word it brings the sum to
        // 0xffff, whose complement, the new checksum, is zero.
        payload.copy_from_slice(&c.to_be_bytes());
        let b = built(S4, D4, &payload);
        assert_eq!(read_u16(&b, field::CHECKSUM), 0xffff);
        assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum(S4, D4));
        // pnet computes the raw checksum (zero here) without RFC 768's substitution.
        assert_eq!(ipv4_checksum(&UdpPacket::new(&b).unwrap(), &S4, &D4), 0);
    }

    #[test]
    fn checks() {
        let b = built(S4, D4, b"hello");
        let check = |b: &[u8]| Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&b), Ok(()));
        assert_eq!(check(&b[..7]), Err(ParseError::Truncated));
        assert_eq!(check(&b[..12]), Err(ParseError::Truncated));
        let mut padded = b.clone();
        padded.extend_from_slice(&[0; 4]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum(S4, D4));
        let mut short = b.clone();
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(check(&short), Err(ParseError::BadHeader));
        assert_eq!(UdpHeader::buffer_len(MAX_PAYLOAD), Some(65535));
        assert_eq!(UdpHeader::buffer_len(MAX_PAYLOAD + 1), None);
    }

    #[test]
    fn quote() {
        let b = built(S4, D4, b"payload");
        let q = QuotedHeader::parse(&b[..8]).unwrap();
        assert_eq!((q.sport, q.dport, q.len), (61000, 53, 15));
        let mut zeroed = b.clone();
        zeroed[6..8].fill(0);
        assert_eq!(
            q.checksum,
            crate::wire::checksum::udp_checksum(S4, D4, &zeroed)
        );
        assert_eq!(QuotedHeader::parse(&b[..7]), Err(ParseError::Truncated));
    }

    proptest! {
        #[test]
        fn checksum_matches_pnet(
            src in any::<u32>(), dst in any::<u32>(), s6 in any::<u128>(), d6 in any::<u128>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let b = built(s, d, &payload);
            let pn = UdpPacket::new(&b).unwrap();
            prop_assert_eq!(read_u16(&b, field::CHECKSUM), ipv4_checksum(&pn, &s, &d));
            prop_assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum(s, d));
            let (s, d) = (Ipv6Addr::from(s6), Ipv6Addr::from(d6));
            let b = built(s, d, &payload);
            let pn = UdpPacket::new(&b).unwrap();
            prop_assert_eq!(read_u16(&b, field::CHECKSUM), ipv6_checksum(&pn, &s, &d));
            prop_assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum(s, d));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                prop_assert!(p.payload().len() + HEADER_LEN == p.len());
                let _ = p.verify_checksum(S4, D4);
                let _ = p.verify_checksum(s6(), d6());
            }
            let _ = QuotedHeader::parse(&bytes);
        }
    }
}
