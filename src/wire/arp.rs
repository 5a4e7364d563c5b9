//! ARP for IPv4 over Ethernet (RFC 826): the request that resolves the next hop and the
//! reply that answers it.

use super::{read_u16, write_u16, ParseError};
use std::net::Ipv4Addr;

/// Byte ranges of the ARP packet (Ethernet hardware, IPv4 protocol addresses).
pub mod field {
    use crate::wire::Field;
    /// Hardware type (1: Ethernet).
    pub const HTYPE: Field = 0..2;
    /// Protocol type (the IPv4 ethertype).
    pub const PTYPE: Field = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation (1 request, 2 reply).
    pub const OPER: Field = 6..8;
    /// Sender hardware address.
    pub const SHA: Field = 8..14;
    /// Sender protocol address.
    pub const SPA: Field = 14..18;
    /// Target hardware address.
    pub const THA: Field = 18..24;
    /// Target protocol address.
    pub const TPA: Field = 24..28;
}

/// Length of an ARP packet for IPv4 over Ethernet.
pub const PACKET_LEN: usize = field::TPA.end;
/// Hardware type: Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Operation: request.
pub const REQUEST: u16 = 1;
/// Operation: reply.
pub const REPLY: u16 = 2;

/// A view of an ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (accessors panic on a buffer shorter than the packet).
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// A view of an Ethernet/IPv4 ARP packet: long enough, with those types and lengths.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(ParseError::Truncated);
        }
        if read_u16(b, field::HTYPE) != HTYPE_ETHERNET
            || read_u16(b, field::PTYPE) != super::ethernet::ethertype::IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(ParseError::BadHeader);
        }
        Ok(Packet { buffer })
    }
    /// Operation.
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER)
    }
    /// Sender hardware address.
    #[inline]
    pub fn sender_mac(&self) -> [u8; 6] {
        mac_at(self.buffer.as_ref(), field::SHA.start)
    }
    /// Sender protocol address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA.start)
    }
    /// Target hardware address.
    #[inline]
    pub fn target_mac(&self) -> [u8; 6] {
        mac_at(self.buffer.as_ref(), field::THA.start)
    }
    /// Target protocol address.
    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA.start)
    }
}

fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// An ARP packet as it is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// [`REQUEST`] or [`REPLY`] (others are read as they are).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        }
    }
    /// Writes the packet into a buffer of at least [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = packet.buffer.as_mut();
        write_u16(b, field::HTYPE, HTYPE_ETHERNET);
        write_u16(b, field::PTYPE, super::ethernet::ethertype::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        write_u16(b, field::OPER, self.operation);
        b[field::SHA].copy_from_slice(&self.sender_mac);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_mac);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_parse_and_malformed_packets() {
        let r = Repr {
            operation: REPLY,
            sender_mac: [2, 0, 0, 0, 0, 7],
            sender_ip: Ipv4Addr::new(198, 18, 0, 2),
            target_mac: [2, 0, 0, 0, 0, 1],
            target_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let mut buf = [0xffu8; PACKET_LEN];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[0, 1, 8, 0, 6, 4, 0, 2]);
        let p = Packet::new_checked(&buf[..]).expect("checked");
        assert_eq!(Repr::parse(&p), r);
        assert_eq!(
            Packet::new_checked(&buf[..PACKET_LEN - 1]).err(),
            Some(ParseError::Truncated)
        );
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut bad = buf;
            bad[at] = v;
            assert_eq!(
                Packet::new_checked(&bad[..]).err(),
                Some(ParseError::BadHeader),
                "byte {at}"
            );
        }
    }
}
