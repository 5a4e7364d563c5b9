//! IPv4 header (RFC 791): options skipped by the header length, fragments recognised.

use super::checksum::internet_checksum;
use super::{read_u16, read_u32, write_u16, write_u32, ParseError};
use std::net::Ipv4Addr;

/// Byte ranges of the IPv4 header.
pub mod field {
    use crate::wire::Field;
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP and ECN.
    pub const DSCP_ECN: usize = 1;
    /// Total length.
    pub const LENGTH: Field = 2..4;
    /// Identification.
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF) and fragment offset.
    pub const FLG_OFF: Field = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol of the payload.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Field = 10..12;
    /// Source address.
    pub const SRC_ADDR: Field = 12..16;
    /// Destination address.
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Don't fragment (in the flags-and-offset word).
pub const FLAG_DF: u16 = 0x4000;
/// More fragments.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset bits.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
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

    /// A view of a whole packet: version 4, header length at least 20 and within the
    /// buffer, total length at least the header and within the buffer (bytes past it, such
    /// as Ethernet padding, are ignored).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let first = *b.first().ok_or(ParseError::Truncated)?;
        if first >> 4 != 4 {
            return Err(ParseError::NotIp);
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return Err(ParseError::BadHeader);
        }
        if b.len() < ihl {
            return Err(ParseError::Truncated);
        }
        let total = usize::from(read_u16(b, field::LENGTH));
        if total < ihl {
            return Err(ParseError::BadHeader);
        }
        if b.len() < total {
            return Err(ParseError::Truncated);
        }
        Ok(Packet { buffer })
    }

    /// A view of the start of a packet as an ICMP error quotes it: version 4 and the fixed
    /// header present; options, payload and the total length are not checked (a quote is cut
    /// short by design). Use `quoted_payload`, not `payload`, on such a view.
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let first = *b.first().ok_or(ParseError::Truncated)?;
        if first >> 4 != 4 {
            return Err(ParseError::NotIp);
        }
        if usize::from(first & 0x0f) * 4 < HEADER_LEN {
            return Err(ParseError::BadHeader);
        }
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Packet { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (options included).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// Total length field.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), field::LENGTH))
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }
    /// The flags-and-offset word.
    #[inline]
    pub fn flags_and_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF)
    }
    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_and_offset() & OFFSET_MASK
    }
    /// MF set or a non-zero offset: only a reassembled packet would be complete.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_and_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::SRC_ADDR))
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::DST_ADDR))
    }
    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        b.get(..self.header_len())
            .is_some_and(|h| internet_checksum(h) == 0)
    }
    /// The payload, bounded by the total length (empty on a view that was not checked whole).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..self.total_len())
            .unwrap_or_default()
    }
    /// What follows the header up to the end of the buffer (the quoted part of a packet an
    /// ICMP error carries; empty when the options run past it).
    #[inline]
    pub fn quoted_payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..)
            .unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    /// Sets DSCP and ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }
    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }
    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident);
    }
    /// Sets the flags-and-offset word.
    #[inline]
    pub fn set_flags_and_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF, value);
    }
    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }
    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }
    /// Sets the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::SRC_ADDR, u32::from(addr));
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::DST_ADDR, u32::from(addr));
    }
    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let len = self.header_len();
        let c = internet_checksum(&self.buffer.as_ref()[..len]);
        self.set_checksum(c);
    }
    /// The bytes after the header (within the buffer), writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// An IPv4 header without options, as we send it and as a parsed reply's IP part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Reads the fields of a checked packet (options, flags and fragmentation are the
    /// caller's to judge).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            payload_len: packet.total_len().saturating_sub(packet.header_len()),
        }
    }
    /// Header plus payload length, capped at the largest total length.
    pub fn total_len(&self) -> u16 {
        u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX)
    }
    /// Writes the 20-byte header (DF set, like every modern stack) with its checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(0);
        packet.set_total_len(self.total_len());
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(FLAG_DF);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Repr {
        Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: 6,
            ttl: 64,
            ident: 0x1234,
            payload_len: 4,
        }
    }

    #[test]
    fn emit_then_parse() {
        let mut buf = [0u8; 24];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let mut want = [
            0x45, 0, 0, 24, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        let c = internet_checksum(&want);
        want[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(&buf[..20], &want);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(!p.is_fragment());
        assert_eq!(Repr::parse(&p), repr());
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn checks_in_order() {
        let mut buf = [0u8; 24];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let check = |b: &[u8]| Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&[]), Err(ParseError::Truncated));
        assert_eq!(check(&buf[..19]), Err(ParseError::Truncated));
        assert_eq!(check(&buf[..23]), Err(ParseError::Truncated)); // total 24
        let mut b = buf;
        b[0] = 0x65;
        assert_eq!(check(&b), Err(ParseError::NotIp));
        b[0] = 0x44;
        assert_eq!(check(&b), Err(ParseError::BadHeader));
        b[0] = 0x45;
        b[3] = 19;
        assert_eq!(check(&b), Err(ParseError::BadHeader));
        // A quote needs only the fixed header.
        let q = |b: &[u8]| Packet::new_quoted(b).map(|p| p.quoted_payload().len());
        assert_eq!(q(&buf[..20]), Ok(0));
        assert_eq!(q(&buf[..22]), Ok(2));
        assert_eq!(q(&buf[..19]), Err(ParseError::Truncated));
        let mut b = buf;
        b[0] = 0x4f; // options past the quote
        assert_eq!(q(&b), Ok(0));
    }
}
