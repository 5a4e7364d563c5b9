//! Ethernet II header, and the 802.1Q / 802.1ad tags a frame may carry before its payload.

use super::{read_u16, write_u16, ParseError};

/// Byte ranges of the Ethernet header.
pub mod field {
    use crate::wire::Field;
    /// Destination MAC.
    pub const DESTINATION: Field = 0..6;
    /// Source MAC.
    pub const SOURCE: Field = 6..12;
    /// EtherType (or the TPID of a VLAN tag).
    pub const ETHERTYPE: Field = 12..14;
    /// First byte after the header.
    pub const PAYLOAD: usize = 14;
}

/// Byte ranges of one VLAN tag, from its TCI (the TPID is the ethertype before it).
pub mod tag_field {
    use crate::wire::Field;
    /// Priority, DEI and VLAN id.
    pub const TCI: Field = 0..2;
    /// The EtherType (or TPID) after the tag.
    pub const ETHERTYPE: Field = 2..4;
    /// First byte after the tag.
    pub const PAYLOAD: usize = 4;
}

/// Length of the untagged header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// VLAN tags skipped at most (802.1ad outer + 802.1Q inner).
pub const MAX_VLAN_TAGS: usize = 2;

/// EtherType values.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad (QinQ) service tag.
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

/// A view of an Ethernet frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// A view without checks (accessors panic on a buffer shorter than the header).
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }
    /// A view of a buffer that holds at least the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Frame { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        m
    }
    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        m
    }
    /// EtherType (of the payload, or a VLAN tag's TPID).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }
    /// Bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&mac);
    }
    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&mac);
    }
    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, value);
    }
    /// Bytes after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// An untagged Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Source MAC.
    pub src: [u8; 6],
    /// Destination MAC.
    pub dst: [u8; 6],
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        Repr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            ethertype: frame.ethertype(),
        }
    }
    /// Writes the header into the first `HEADER_LEN` bytes of `frame`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst);
        frame.set_src_addr(self.src);
        frame.set_ethertype(self.ethertype);
    }
}

/// Skips the Ethernet header and up to `MAX_VLAN_TAGS` VLAN tags of an untrusted frame;
/// returns the innermost EtherType and the bytes after it. A third tag is returned as the
/// EtherType (the caller then finds no IP in it).
#[inline]
pub fn untag(frame: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    let eth = Frame::new_checked(frame)?;
    let mut ethertype = eth.ethertype();
    let mut rest = &frame[field::PAYLOAD..];
    let mut tags = 0;
    while (ethertype == ethertype::VLAN || ethertype == ethertype::QINQ) && tags < MAX_VLAN_TAGS {
        if rest.len() < tag_field::PAYLOAD {
            return Err(ParseError::Truncated);
        }
        ethertype = read_u16(rest, tag_field::ETHERTYPE);
        rest = &rest[tag_field::PAYLOAD..];
        tags += 1;
    }
    Ok((ethertype, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_repr_round_trip() {
        let mut buf = [0u8; 20];
        let repr = Repr {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
            ethertype: ethertype::IPV4,
        };
        repr.emit(&mut Frame::new_unchecked(&mut buf[..]));
        assert_eq!(
            &buf[..14],
            &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]
        );
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f), repr);
        assert_eq!(f.payload().len(), 6);
        assert_eq!(
            Frame::new_checked(&buf[..13]).map(|_| ()),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn untag_skips_two_tags_at_most() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 100, 0x08, 0x00, 0x45]);
        assert_eq!(untag(&f), Ok((ethertype::IPV4, &[0x45u8][..])));
        // A cut inside the second tag.
        assert_eq!(untag(&f[..21]), Err(ParseError::Truncated));
        // A third tag comes back as the EtherType.
        let mut g = f[..20].to_vec();
        g.extend_from_slice(&[0x81, 0x00, 0, 1, 0x08, 0x00]);
        assert_eq!(untag(&g).map(|(t, _)| t), Ok(ethertype::VLAN));
    }
}
