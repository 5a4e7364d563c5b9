//! ICMPv6 (RFC 4443): the destination unreachable and the packet it quotes.

use super::checksum::{fold, pseudo_header_sum, sum_words};
use super::ip::protocol;
use super::{read_u16, write_u16, ParseError};
use std::net::Ipv6Addr;

/// Byte ranges of the ICMPv6 header.
pub mod field {
    use crate::wire::Field;
    /// Message type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum over the pseudo-header and the message.
    pub const CHECKSUM: Field = 2..4;
    /// Unused in a destination unreachable.
    pub const REST: Field = 4..8;
    /// First byte of the quoted packet.
    pub const PAYLOAD: usize = 8;
}

/// Length of the header before the quote.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Message type: destination unreachable.
pub const DEST_UNREACHABLE: u8 = 1;
/// Largest ICMPv6 error (the IPv6 minimum MTU, RFC 4443 2.4 (c)), which caps the quote.
pub const MAX_ERROR_PACKET: usize = 1280;

/// Destination unreachable codes (RFC 4443 3.1, RFC 4443 / 6550 for 5 and 6).
pub mod unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
    /// Source address failed ingress/egress policy.
    pub const SOURCE_POLICY: u8 = 5;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// The reason nmap gives a TCP port it marks filtered on this destination-unreachable code
/// (nmap's ICMPv6 mapping: address unreachable is "host-unreach", a failed source policy
/// "admin-prohibited"); None for codes that say nothing about the port.
pub fn unreachable_reason(code: u8) -> Option<&'static str> {
    Some(match code {
        unreachable::NO_ROUTE => "no-route",
        unreachable::ADMIN_PROHIBITED | unreachable::SOURCE_POLICY => "admin-prohibited",
        unreachable::BEYOND_SCOPE => "beyond-scope",
        unreachable::ADDRESS => "host-unreach",
        unreachable::PORT => "port-unreach",
        unreachable::REJECT_ROUTE => "reject-route",
        _ => return None,
    })
}

/// A view of an ICMPv6 message.
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
    /// A view of a message whose 8-byte header is within the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Packet { buffer })
    }
    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// True when the checksum over the pseudo-header of (src, dst) and the message verifies.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        message_checksum(src, dst, self.buffer.as_ref()) == 0
    }
    /// The whole message.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// The bytes after the header (for an error, the quoted packet).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }
    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }
    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }
    /// The whole message, writable.
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// The bytes after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
    /// Computes and writes the checksum (pseudo-header of (src, dst), then the message).
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = message_checksum(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// ICMPv6 checksum: unlike ICMPv4's, it covers the IPv6 pseudo-header (RFC 4443 2.3).
fn message_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    !fold(pseudo_header_sum(src, dst, protocol::ICMPV6, message.len()) + sum_words(message))
}

/// A destination unreachable as it is written: addresses (for the checksum), code and quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnreachableRepr<'a> {
    /// Who sends the error.
    pub from: Ipv6Addr,
    /// To whom.
    pub to: Ipv6Addr,
    /// Code (see `unreachable`).
    pub code: u8,
    /// The quoted start of the offending packet.
    pub quote: &'a [u8],
}

impl UnreachableRepr<'_> {
    /// Message length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.quote.len()
    }
    /// Writes the message into a buffer of exactly `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_msg_type(DEST_UNREACHABLE);
        packet.set_code(self.code);
        packet.buffer.as_mut()[field::REST].fill(0);
        packet.payload_mut().copy_from_slice(self.quote);
        packet.fill_checksum(self.from, self.to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet::packet::icmpv6::{checksum as pnet_checksum, Icmpv6Packet};

    #[test]
    fn emit_checksum_matches_pnet() {
        let from: Ipv6Addr = "2001:2:0:18::fe".parse().unwrap();
        let to: Ipv6Addr = "2001:2:0:18::1".parse().unwrap();
        let quote = [0x60, 0, 0, 0, 0, 32, 6, 64, 1, 2, 3];
        let r = UnreachableRepr {
            from,
            to,
            code: unreachable::ADMIN_PROHIBITED,
            quote: &quote,
        };
        let mut buf = vec![0xffu8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.payload()), (1, 1, &quote[..]));
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        assert!(p.verify_checksum(from, to));
        assert!(!p.verify_checksum(to, to));
        let pn = Icmpv6Packet::new(&buf).unwrap();
        assert_eq!(p.checksum(), pnet_checksum(&pn, &from, &to));
        assert_eq!(
            Packet::new_checked(&buf[..7]).map(|_| ()),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn nmap_reasons() {
        let names: Vec<_> = (0..=7).map(unreachable_reason).collect();
        assert_eq!(
            names,
            [
                Some("no-route"),
                Some("admin-prohibited"),
                Some("beyond-scope"),
                Some("host-unreach"),
                Some("port-unreach"),
                Some("admin-prohibited"),
                Some("reject-route"),
                None
            ]
        );
    }
}
