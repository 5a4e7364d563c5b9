//! What the IP versions share: the address trait the TCP and UDP checksums' pseudo-header is
//! built from, and the protocol (next header) numbers.

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol / IPv6 next-header numbers.
pub mod protocol {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// An IP address of either version, as the checksums and representations use it.
pub trait IpAddress: Copy + Eq + Debug {
    /// The IP version (4 or 6).
    const VERSION: u8;
    /// Sum of the address's big-endian 16-bit words, not folded: its share of a
    /// pseudo-header checksum (RFC 793 for IPv4, RFC 8200 section 8.1 for IPv6).
    fn word_sum(&self) -> u64;
}

impl IpAddress for Ipv4Addr {
    const VERSION: u8 = 4;
    #[inline]
    fn word_sum(&self) -> u64 {
        let v = u32::from(*self);
        u64::from(v >> 16) + u64::from(v & 0xffff)
    }
}

impl IpAddress for Ipv6Addr {
    const VERSION: u8 = 6;
    #[inline]
    fn word_sum(&self) -> u64 {
        self.segments().iter().map(|&w| u64::from(w)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::sum_words;

    #[test]
    fn word_sums_match_the_bytes() {
        let a = Ipv4Addr::new(198, 18, 0xff, 0xfe);
        assert_eq!(a.word_sum(), sum_words(&a.octets()));
        assert_eq!(a.word_sum(), 0xc612 + 0xfffe);
        let b: Ipv6Addr = "2001:2:0:18::ffff:1".parse().unwrap();
        assert_eq!(b.word_sum(), sum_words(&b.octets()));
        assert_eq!(b.word_sum(), 0x2001 + 2 + 0x18 + 0xffff + 1);
    }
}
