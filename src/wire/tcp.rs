//! TCP header (RFC 9293) with options, and `TcpSegment`: the one representation of a segment,
//! whether parsed from a reply or written into a frame.

use super::checksum::tcp_checksum;
use super::ip::IpAddress;
use super::{read_u16, read_u32, write_u16, write_u32, ParseError};
use std::net::Ipv4Addr;

/// Byte ranges of the TCP header.
pub mod field {
    use crate::wire::Field;
    /// Source port.
    pub const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub const DST_PORT: Field = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Field = 4..8;
    /// Acknowledgement number.
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in 32-bit words (high nibble).
    pub const DATA_OFFSET: usize = 12;
    /// Flag bits (see `flags`).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WIN_SIZE: Field = 14..16;
    /// Checksum.
    pub const CHECKSUM: Field = 16..18;
    /// Urgent pointer.
    pub const URGENT: Field = 18..20;
    /// First option byte.
    pub const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Bytes of TCP an ICMP error must quote: ports and sequence number (RFC 792 "64 bits").
pub const QUOTE_LEN: usize = 8;

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// A view of a TCP segment.
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
    /// A view of a segment whose header, options included, is within the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let data_offset = usize::from(b[field::DATA_OFFSET] >> 4) * 4;
        if data_offset < HEADER_LEN {
            return Err(ParseError::BadHeader);
        }
        if data_offset > b.len() {
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
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }
    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }
    /// Header length in bytes (options included).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }
    /// Flag bits.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }
    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// The option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::OPTIONS..self.header_len())
            .unwrap_or_default()
    }
    /// True when the checksum over the pseudo-header of (src, dst) verifies.
    pub fn verify_checksum<A: IpAddress>(&self, src: A, dst: A) -> bool {
        tcp_checksum(src, dst, self.buffer.as_ref()) == 0
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
    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, seq);
    }
    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, ack);
    }
    /// Sets the header length in bytes (a multiple of 4, at most 60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8 & 0x0f) << 4;
    }
    /// Sets the flag bits.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }
    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE, window);
    }
    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }
    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value);
    }
    /// The option bytes (as long as the header length says), writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }
    /// Computes and writes the checksum over the pseudo-header of (src, dst) and the buffer.
    pub fn fill_checksum<A: IpAddress>(&mut self, src: A, dst: A) {
        self.set_checksum(0);
        let c = tcp_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A TCP segment with the IP fields a scanner needs: what a reply parses into and what a
/// builder writes (addresses of either IP version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<A = Ipv4Addr> {
    /// IP source.
    pub src: A,
    /// IP destination.
    pub dst: A,
    /// TCP source port.
    pub sport: u16,
    /// TCP destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits (see `flags`).
    pub flags: u8,
    /// IP TTL (IPv6 hop limit).
    pub ttl: u8,
    /// TCP window.
    pub window: u16,
}

impl<A: IpAddress> TcpSegment<A> {
    /// Reads a checked segment carried from `src` to `dst` with `ttl`.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(src: A, dst: A, ttl: u8, packet: &Packet<T>) -> Self {
        TcpSegment {
            src,
            dst,
            sport: packet.src_port(),
            dport: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            ttl,
            window: packet.window_len(),
        }
    }

    /// Header length with `options` padded to a 4-byte multiple (at most 60).
    pub fn header_len(options: &[u8]) -> usize {
        (HEADER_LEN + options.len().div_ceil(4) * 4).min(MAX_HEADER_LEN)
    }

    /// Writes the header with `options` (EOL-padded, cut at 40 bytes) into a buffer of
    /// exactly `header_len(options)` bytes, then the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, options: &[u8]) {
        let len = Self::header_len(options);
        packet.set_src_port(self.sport);
        packet.set_dst_port(self.dport);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(len);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_urgent(0);
        let opts = packet.options_mut();
        let n = options.len().min(opts.len());
        opts[..n].copy_from_slice(&options[..n]);
        opts[n..].fill(0);
        packet.fill_checksum(self.src, self.dst);
    }
}

/// The ports and sequence number an ICMP error quotes of a segment (its first 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
}

impl QuotedHeader {
    /// Reads the first `QUOTE_LEN` bytes of a quoted segment.
    #[inline]
    pub fn parse(quote: &[u8]) -> Result<Self, ParseError> {
        if quote.len() < QUOTE_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(QuotedHeader {
            sport: read_u16(quote, field::SRC_PORT),
            dport: read_u16(quote, field::DST_PORT),
            seq: read_u32(quote, field::SEQ_NUM),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn seg<A: IpAddress>(src: A, dst: A) -> TcpSegment<A> {
        TcpSegment {
            src,
            dst,
            sport: 80,
            dport: 61000,
            seq: 7,
            ack: 0x1000_0001,
            flags: flags::SYN | flags::ACK,
            ttl: 64,
            window: 29200,
        }
    }

    #[test]
    fn emit_then_parse_both_versions() {
        let opts = [2, 4, 5, 0xb4, 1];
        let v4 = seg(Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));
        let v6 = seg::<Ipv6Addr>("2001:2::2".parse().unwrap(), "2001:2::1".parse().unwrap());
        let len = TcpSegment::<Ipv4Addr>::header_len(&opts);
        assert_eq!(len, 28);
        let mut b4 = vec![0xeeu8; len];
        v4.emit(&mut Packet::new_unchecked(&mut b4[..]), &opts);
        assert_eq!(&b4[20..], &[2, 4, 5, 0xb4, 1, 0, 0, 0]);
        let p = Packet::new_checked(&b4[..]).unwrap();
        assert!(p.verify_checksum(v4.src, v4.dst));
        assert_eq!(TcpSegment::parse(v4.src, v4.dst, 64, &p), v4);
        assert_eq!(p.options(), &b4[20..]);
        let mut b6 = vec![0u8; len];
        v6.emit(&mut Packet::new_unchecked(&mut b6[..]), &opts);
        let p = Packet::new_checked(&b6[..]).unwrap();
        assert!(p.verify_checksum(v6.src, v6.dst));
        assert_eq!(TcpSegment::parse(v6.src, v6.dst, 64, &p), v6);
        // The header bytes are the same; only the checksum differs.
        assert_eq!(b4[..16], b6[..16]);
        assert_ne!(b4[16..18], b6[16..18]);
    }

    #[test]
    fn checks() {
        let mut b = [0u8; 24];
        b[12] = 0x60;
        assert!(Packet::new_checked(&b[..]).is_ok());
        let check = |b: &[u8]| Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&b[..19]), Err(ParseError::Truncated));
        assert_eq!(check(&b[..23]), Err(ParseError::Truncated));
        b[12] = 0x40;
        assert_eq!(check(&b), Err(ParseError::BadHeader));
        assert_eq!(
            QuotedHeader::parse(&[0, 80, 0xee, 0x48, 1, 2, 3, 4]),
            Ok(QuotedHeader {
                sport: 80,
                dport: 61000,
                seq: 0x0102_0304
            })
        );
        assert_eq!(
            QuotedHeader::parse(&[0, 80, 0xee, 0x48, 1, 2, 3]),
            Err(ParseError::Truncated)
        );
    }
}
