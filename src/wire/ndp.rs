//! Neighbour discovery (RFC 4861): the solicitation that resolves an IPv6 next hop and the
//! advertisement that answers it, as ICMPv6 messages (see `icmpv6`).

use super::icmpv6;
use std::net::Ipv6Addr;

/// Byte ranges of a solicitation or advertisement after the ICMPv6 type and code.
pub mod field {
    use crate::wire::Field;
    /// Reserved (a solicitation) or the router/solicited/override flags (an advertisement).
    pub const FLAGS: Field = 4..8;
    /// The address being resolved.
    pub const TARGET: Field = 8..24;
    /// First option.
    pub const OPTIONS: usize = 24;
}

/// Message type: neighbour solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Message type: neighbour advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Option type: the sender's link-layer address.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// Option type: the target's link-layer address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// Length of an Ethernet link-layer address option.
pub const LLADDR_OPTION_LEN: usize = 8;
/// Hop limit of every neighbour discovery message: receivers drop any that crossed a router.
pub const HOP_LIMIT: u8 = 255;

/// A solicitation or advertisement as it is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// [`NEIGHBOR_SOLICIT`] or [`NEIGHBOR_ADVERT`].
    pub msg_type: u8,
    /// The address being resolved.
    pub target: Ipv6Addr,
    /// The link-layer address option: the sender's in a solicitation, the target's in an
    /// advertisement.
    pub lladdr: Option<[u8; 6]>,
}

impl Repr {
    /// Reads a solicitation or advertisement (code 0, whole); None for any other message.
    /// The checksum is the caller's to verify (it needs the IPv6 addresses).
    pub fn parse<T: AsRef<[u8]>>(packet: &icmpv6::Packet<T>) -> Option<Repr> {
        let message = packet.as_bytes();
        let msg_type = packet.msg_type();
        if !matches!(msg_type, NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT) || packet.code() != 0 {
            return None;
        }
        let target = <[u8; 16]>::try_from(message.get(field::TARGET)?).ok()?;
        let wanted = match msg_type {
            NEIGHBOR_SOLICIT => OPT_SOURCE_LLADDR,
            _ => OPT_TARGET_LLADDR,
        };
        let mut lladdr = None;
        let mut opts = &message[field::OPTIONS..];
        while opts.len() >= LLADDR_OPTION_LEN {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                break;
            }
            if opts[0] == wanted && len == LLADDR_OPTION_LEN {
                lladdr = <[u8; 6]>::try_from(&opts[2..8]).ok();
                break;
            }
            opts = &opts[len..];
        }
        Some(Repr {
            msg_type,
            target: Ipv6Addr::from(target),
            lladdr,
        })
    }
    /// Message length.
    pub fn buffer_len(&self) -> usize {
        field::OPTIONS + self.lladdr.map_or(0, |_| LLADDR_OPTION_LEN)
    }
    /// Writes the message, checksum over (src, dst) included, into a buffer of exactly
    /// `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut icmpv6::Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        packet.set_msg_type(self.msg_type);
        packet.set_code(0);
        let b = packet.as_bytes_mut();
        b[field::FLAGS].fill(0);
        b[field::TARGET].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.lladdr {
            let opt = &mut b[field::OPTIONS..field::OPTIONS + LLADDR_OPTION_LEN];
            opt[0] = match self.msg_type {
                NEIGHBOR_SOLICIT => OPT_SOURCE_LLADDR,
                _ => OPT_TARGET_LLADDR,
            };
            opt[1] = 1;
            opt[2..].copy_from_slice(&mac);
        }
        packet.fill_checksum(src, dst);
    }
}

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX) and its MAC
/// (33:33 and the address's last four bytes).
pub fn solicited_node(target: Ipv6Addr) -> (Ipv6Addr, [u8; 6]) {
    let t = target.octets();
    let mut group = [0u8; 16];
    group[..2].copy_from_slice(&[0xff, 0x02]);
    group[11..13].copy_from_slice(&[0x01, 0xff]);
    group[13..].copy_from_slice(&t[13..]);
    let mac = [0x33, 0x33, group[12], group[13], group[14], group[15]];
    (Ipv6Addr::from(group), mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_parse_both_messages() {
        let (src, dst) = (
            "2001:2:0:18::2".parse().expect("ip"),
            "2001:2:0:18::1".parse().expect("ip"),
        );
        for (msg_type, lladdr) in [
            (NEIGHBOR_SOLICIT, Some([2, 0, 0, 0, 0, 1])),
            (NEIGHBOR_ADVERT, Some([2, 0, 0, 0, 0, 2])),
            (NEIGHBOR_ADVERT, None),
        ] {
            let r = Repr {
                msg_type,
                target: src,
                lladdr,
            };
            let mut buf = vec![0xffu8; r.buffer_len()];
            r.emit(&mut icmpv6::Packet::new_unchecked(&mut buf[..]), src, dst);
            let p = icmpv6::Packet::new_checked(&buf[..]).expect("checked");
            assert!(p.verify_checksum(src, dst));
            assert_eq!(Repr::parse(&p), Some(r));
            // Cut inside the target: not a message.
            let cut = icmpv6::Packet::new_checked(&buf[..20]).expect("header");
            assert_eq!(Repr::parse(&cut), None);
        }
    }
}
