//! ICMP for IPv4 (RFC 792): the destination unreachable and the packet it quotes.

use super::checksum::internet_checksum;
use super::{read_u16, write_u16, ParseError};

/// Byte ranges of the ICMP header.
pub mod field {
    use crate::wire::Field;
    /// Message type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum over the whole message.
    pub const CHECKSUM: Field = 2..4;
    /// Unused in a destination unreachable (next-hop MTU for code 4).
    pub const REST: Field = 4..8;
    /// First byte of the quoted packet.
    pub const PAYLOAD: usize = 8;
}

/// Length of the header before the quote.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Message type: destination unreachable.
pub const DEST_UNREACHABLE: u8 = 3;

/// A view of an ICMP message.
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
    /// True when the checksum over the message verifies.
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.buffer.as_ref()) == 0
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
    /// The bytes after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = internet_checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A destination unreachable as it is written: code and quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnreachableRepr<'a> {
    /// Code (0 net, 1 host, 3 port, 13 administratively prohibited, ...).
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
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_view() {
        let quote = [0x45, 0, 0, 40, 1, 2, 3, 4];
        let r = UnreachableRepr {
            code: 13,
            quote: &quote,
        };
        let mut buf = vec![0xffu8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.msg_type(), p.code()), (3, 13));
        assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &quote);
        assert_eq!(
            Packet::new_checked(&buf[..7]).map(|_| ()),
            Err(ParseError::Truncated)
        );
    }
}
