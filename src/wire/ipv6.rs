//! IPv6 fixed header (RFC 8200) and the extension headers skipped on the way to the upper
//! layer: hop-by-hop options, routing, fragment and destination options, with a bound on
//! their count and length so a hostile chain costs little.

use super::{read_u16, read_u32, write_u16, write_u32, ParseError};
use std::net::Ipv6Addr;

/// Byte ranges of the IPv6 fixed header.
pub mod field {
    use crate::wire::Field;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Field = 0..4;
    /// Payload length (extension headers included).
    pub const LENGTH: Field = 4..6;
    /// Next header (the first extension header or the upper layer).
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Field = 8..24;
    /// Destination address.
    pub const DST_ADDR: Field = 24..40;
    /// First byte after the fixed header.
    pub const PAYLOAD: usize = 40;
}

/// Byte ranges shared by the extension headers skipped here.
pub mod ext_field {
    /// Next header.
    pub const NXT_HDR: usize = 0;
    /// Length in 8-octet units, not counting the first 8 (hop-by-hop, routing, destination
    /// options); reserved and 0 in a fragment header, whose length is always 8.
    pub const LENGTH: usize = 1;
    /// Fragment header: offset (13 bits), reserved (2), M flag (1).
    pub const FRAG_OFF_M: crate::wire::Field = 2..4;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Extension headers skipped at most; a longer chain is not a reply of ours.
pub const MAX_EXT_HEADERS: usize = 8;
/// Bytes of extension headers skipped at most (all together).
pub const MAX_EXT_LEN: usize = 1024;
/// Fragment offset bits of a fragment header's offset word.
pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
/// More-fragments flag of a fragment header's offset word.
pub const FRAG_MORE: u16 = 0x0001;

/// Extension header numbers (next-header values) skipped on the way to the upper layer.
pub mod ext {
    /// Hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// Destination options.
    pub const DEST_OPTS: u8 = 60;
    /// No next header.
    pub const NO_NEXT: u8 = 59;
}

/// A view of an IPv6 packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (accessors panic on a buffer shorter than the fixed header).
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view of a whole packet: version 6, the fixed header and the payload length within
    /// the buffer (bytes past it, such as Ethernet padding, are ignored).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_quoted(buffer)?;
        if p.buffer.as_ref().len() < HEADER_LEN + p.payload_len() {
            return Err(ParseError::Truncated);
        }
        Ok(p)
    }

    /// A view of the start of a packet as an ICMPv6 error quotes it: version 6 and the fixed
    /// header present; the payload length is not checked (a quote may be cut short). Use
    /// `quoted_payload`, not `payload`, on such a view.
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        let first = *b.first().ok_or(ParseError::Truncated)?;
        if first >> 4 != 6 {
            return Err(ParseError::NotIp);
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
        self.buffer.as_ref()[0] >> 4
    }
    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (read_u16(self.buffer.as_ref(), 0..2) >> 4) as u8
    }
    /// Flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }
    /// Payload length field.
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), field::LENGTH))
    }
    /// Next header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }
    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }
    /// The payload (extension headers included), bounded by the payload length (empty on a
    /// view that was not checked whole).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..HEADER_LEN + self.payload_len())
            .unwrap_or_default()
    }
    /// What follows the fixed header up to the end of the buffer (the quoted part of a packet
    /// an ICMPv6 error carries).
    #[inline]
    pub fn quoted_payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }
    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }
    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = value;
    }
    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }
    /// The bytes after the fixed header (within the buffer), writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// An IPv6 fixed header without extension headers, as we send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header (the upper-layer protocol).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Reads the fields of a checked packet (extension headers are the caller's to skip).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            payload_len: packet.payload_len(),
        }
    }
    /// Writes the 40-byte fixed header (traffic class and flow label zero).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_tc_flow(0, 0);
        packet.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

/// The upper layer found behind the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// Its protocol number.
    pub protocol: u8,
    /// Its bytes (to the end of what was given).
    pub payload: &'a [u8],
    /// True when a fragment header said this is a first fragment (offset 0, M set): the
    /// upper-layer header is there, the rest of the packet is not.
    pub first_fragment: bool,
}

/// Skips the extension headers of `payload` (what follows a fixed header whose next header is
/// `next`): hop-by-hop, routing, fragment and destination options, at most
/// `MAX_EXT_HEADERS` of them and `MAX_EXT_LEN` bytes. Errors: `Truncated` when a header runs
/// past the bytes; `BadHeader` past the bounds; `Fragment` for a non-first fragment (no
/// upper-layer header in it). Any other next header (TCP, ICMPv6, no next header, ESP...)
/// ends the walk and is returned as it is.
#[inline]
pub fn skip_extension_headers(mut next: u8, payload: &[u8]) -> Result<UpperLayer<'_>, ParseError> {
    let mut rest = payload;
    let mut skipped = 0usize;
    let mut first_fragment = false;
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match next {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                let n = *rest.get(ext_field::LENGTH).ok_or(ParseError::Truncated)?;
                (usize::from(n) + 1) * 8
            }
            ext::FRAGMENT => {
                let word = rest
                    .get(ext_field::FRAG_OFF_M)
                    .ok_or(ParseError::Truncated)?;
                let word = u16::from_be_bytes([word[0], word[1]]);
                if word & FRAG_OFFSET_MASK != 0 {
                    return Err(ParseError::Fragment);
                }
                first_fragment |= word & FRAG_MORE != 0;
                8
            }
            _ => {
                return Ok(UpperLayer {
                    protocol: next,
                    payload: rest,
                    first_fragment,
                })
            }
        };
        skipped += len;
        if skipped > MAX_EXT_LEN {
            return Err(ParseError::BadHeader);
        }
        if rest.len() < len {
            return Err(ParseError::Truncated);
        }
        next = rest[ext_field::NXT_HDR];
        rest = &rest[len..];
    }
    Err(ParseError::BadHeader)
}

/// Whether `next` is one of the extension headers `skip_extension_headers` walks.
#[inline]
pub fn is_extension_header(next: u8) -> bool {
    matches!(
        next,
        ext::HOP_BY_HOP | ext::ROUTING | ext::FRAGMENT | ext::DEST_OPTS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::protocol;
    use proptest::prelude::*;

    const A: &str = "2001:2:0:18::1";
    const B: &str = "2001:2:0:19::7";

    fn repr(payload_len: usize) -> Repr {
        Repr {
            src: A.parse().unwrap(),
            dst: B.parse().unwrap(),
            next_header: protocol::TCP,
            hop_limit: 64,
            payload_len,
        }
    }

    #[test]
    fn emit_then_parse() {
        let mut buf = vec![0xffu8; 44];
        repr(4).emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[0x60, 0, 0, 0, 0, 4, 6, 64]);
        assert_eq!(buf[8..10], [0x20, 0x01]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr(4));
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0, 0));
        assert_eq!(p.payload().len(), 4);
        let check = |b: &[u8]| Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&buf[..43]), Err(ParseError::Truncated));
        assert_eq!(check(&buf[..39]), Err(ParseError::Truncated));
        assert_eq!(check(&[]), Err(ParseError::Truncated));
        let mut v4 = buf.clone();
        v4[0] = 0x45;
        assert_eq!(check(&v4), Err(ParseError::NotIp));
        // A quote needs only the fixed header.
        assert_eq!(
            Packet::new_quoted(&buf[..41]).map(|p| p.quoted_payload().len()),
            Ok(1)
        );
        let mut tc = Packet::new_unchecked(&mut buf[..]);
        tc.set_version_tc_flow(0xb8, 0x12345);
        assert_eq!(&buf[..4], &[0x6b, 0x81, 0x23, 0x45]);
    }

    /// An extension header of `kind` with `next` and `len` bytes in all.
    fn ext_header(kind: u8, next: u8, len: usize) -> Vec<u8> {
        let mut h = vec![0u8; len];
        h[0] = next;
        if kind != ext::FRAGMENT {
            h[1] = (len / 8 - 1) as u8;
        }
        h
    }

    #[test]
    fn extension_headers_are_skipped() {
        let tcp = [0xaa; 20];
        // Hop-by-hop (8) -> routing (24) -> fragment (8, offset 0, no M) -> dest opts (16).
        let mut p = ext_header(ext::HOP_BY_HOP, ext::ROUTING, 8);
        p.extend(ext_header(ext::ROUTING, ext::FRAGMENT, 24));
        p.extend(ext_header(ext::FRAGMENT, ext::DEST_OPTS, 8));
        p.extend(ext_header(ext::DEST_OPTS, protocol::TCP, 16));
        p.extend_from_slice(&tcp);
        let up = skip_extension_headers(ext::HOP_BY_HOP, &p).unwrap();
        assert_eq!(
            up,
            UpperLayer {
                protocol: protocol::TCP,
                payload: &tcp,
                first_fragment: false
            }
        );
        // Every cut inside the chain is a truncation (cuts after it leave a short TCP).
        for len in 0..56 {
            assert_eq!(
                skip_extension_headers(ext::HOP_BY_HOP, &p[..len]),
                Err(ParseError::Truncated),
                "{len}"
            );
        }
        // No extension header at all.
        assert_eq!(
            skip_extension_headers(protocol::TCP, &tcp).map(|u| u.payload.len()),
            Ok(20)
        );
        // No next header and unknown protocols come back as they are.
        assert_eq!(
            skip_extension_headers(ext::NO_NEXT, &[]).map(|u| u.protocol),
            Ok(ext::NO_NEXT)
        );
    }

    #[test]
    fn fragments() {
        let frag = |word: u16| {
            let mut h = ext_header(ext::FRAGMENT, protocol::TCP, 8);
            h[2..4].copy_from_slice(&word.to_be_bytes());
            h.extend_from_slice(&[0; 20]);
            skip_extension_headers(ext::FRAGMENT, &h).map(|u| u.first_fragment)
        };
        // A first fragment holds the upper-layer header.
        assert_eq!(frag(FRAG_MORE), Ok(true));
        // An atomic fragment (offset 0, no M) is a whole packet.
        assert_eq!(frag(0), Ok(false));
        // Later fragments carry no header.
        assert_eq!(frag(0x0008), Err(ParseError::Fragment));
        assert_eq!(frag(0x0009), Err(ParseError::Fragment));
        assert_eq!(frag(0xfff8), Err(ParseError::Fragment));
        // Reserved bits are ignored.
        assert_eq!(frag(0x0006), Ok(false));
    }

    #[test]
    fn chains_are_bounded() {
        // MAX_EXT_HEADERS destination options headers: fine; one more: refused.
        let chain = |n: usize| {
            let mut p = Vec::new();
            for i in 0..n {
                let next = if i + 1 == n {
                    protocol::TCP
                } else {
                    ext::DEST_OPTS
                };
                p.extend(ext_header(ext::DEST_OPTS, next, 8));
            }
            p.extend_from_slice(&[0; 20]);
            skip_extension_headers(ext::DEST_OPTS, &p).map(|u| u.protocol)
        };
        assert_eq!(chain(MAX_EXT_HEADERS), Ok(protocol::TCP));
        assert_eq!(chain(MAX_EXT_HEADERS + 1), Err(ParseError::BadHeader));
        // One 2048-byte header is past the byte bound even when it is all there.
        let mut big = ext_header(ext::HOP_BY_HOP, protocol::TCP, 2048);
        big.extend_from_slice(&[0; 20]);
        assert_eq!(
            skip_extension_headers(ext::HOP_BY_HOP, &big),
            Err(ParseError::BadHeader)
        );
        // Exactly the byte bound is fine.
        let mut edge = ext_header(ext::HOP_BY_HOP, protocol::TCP, MAX_EXT_LEN);
        edge.extend_from_slice(&[0; 20]);
        assert!(skip_extension_headers(ext::HOP_BY_HOP, &edge).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn any_bytes_never_panic(next: u8, bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = skip_extension_headers(next, &bytes);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.src_addr(), p.dst_addr(), Repr::parse(&p));
            }
            if let Ok(p) = Packet::new_quoted(&bytes[..]) {
                let _ = (p.quoted_payload(), p.payload());
            }
        }
    }
}
