//! Internet checksum (RFC 1071), the TCP and UDP pseudo-header checksums, and incremental
//! updates (RFC 1624) so the probe template is patched without a full recompute.

use super::ip::{protocol, IpAddress};

/// Ones'-complement sum of big-endian 16-bit words, not yet folded; an odd last byte is
/// padded with a zero byte on the right (RFC 1071).
#[inline]
pub fn sum_words(data: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds carries back in until the sum fits 16 bits (end-around carry).
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// RFC 1071 checksum of `data` (odd lengths allowed); the checksum field must be zero.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum_words(data))
}

/// Word sum of the pseudo-header of either IP version, not folded. IPv4's (RFC 793) holds the
/// protocol and a 16-bit length, IPv6's (RFC 8200 8.1) a 32-bit length and the next header:
/// in ones'-complement arithmetic both sum to addresses + protocol + length.
#[inline]
pub fn pseudo_header_sum<A: IpAddress>(src: A, dst: A, protocol: u8, len: usize) -> u64 {
    src.word_sum() + dst.word_sum() + u64::from(protocol) + len as u64
}

/// TCP checksum over the pseudo-header of (src, dst) and `segment`; the checksum field must be
/// zero. IPv4 and IPv6 alike.
pub fn tcp_checksum<A: IpAddress>(src: A, dst: A, segment: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src, dst, protocol::TCP, segment.len());
    !fold(pseudo + sum_words(segment))
}

/// UDP checksum over the pseudo-header of (src, dst) and `datagram`, as it is written in the
/// header: the checksum field must be zero, and a computed zero is sent as 0xffff, because a
/// zero field means "no checksum" (RFC 768; over IPv6 the checksum is mandatory, RFC 8200 8.1).
pub fn udp_checksum<A: IpAddress>(src: A, dst: A, datagram: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src, dst, protocol::UDP, datagram.len());
    udp_field(!fold(pseudo + sum_words(datagram)))
}

/// The UDP checksum field for a computed checksum `csum` (zero is sent as 0xffff).
#[inline]
pub fn udp_field(csum: u16) -> u16 {
    if csum == 0 {
        0xffff
    } else {
        csum
    }
}

/// Word sum (see `sum_words`) of `data` lying at byte `offset` of a checksummed run: at an
/// odd offset each byte falls in the other half of its word. Lets a template add the sum of
/// bytes patched anywhere in a payload.
#[inline]
pub fn sum_words_at(offset: usize, data: &[u8]) -> u64 {
    if offset.is_multiple_of(2) {
        return sum_words(data);
    }
    let (first, rest) = match data.split_first() {
        Some(split) => split,
        None => return 0,
    };
    u64::from(*first) + sum_words(rest)
}

/// Checksum after one 16-bit word changed from `old` to `new` (RFC 1624 eqn. 3:
/// HC' = ~(~HC + ~m + m'), which avoids the -0 error of eqn. 2).
#[inline]
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    let sum = u64::from(!csum) + u64::from(!old) + u64::from(new);
    !fold(sum)
}

/// Checksum after a 32-bit field (two words) changed from `old` to `new` (RFC 1624 eqn. 3).
#[inline]
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let sum = u64::from(!csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from(new >> 16)
        + u64::from(new as u16);
    !fold(sum)
}

/// Checksum after fields that were zero when `csum` was computed received values whose
/// word sum (see `sum_words`) is `added`: eqn. 3 with m = 0, folded once. Exact whenever the
/// data never sums to zero, which holds for IPv4 headers and TCP with its pseudo-header.
#[inline]
pub fn add_to_zeroed(csum: u16, added: u64) -> u16 {
    !fold(u64::from(!csum) + added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet::packet::tcp::{ipv4_checksum as pnet_tcp_checksum, TcpPacket};
    use pnet::packet::util::checksum as pnet_checksum;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    /// Word index pnet skips: one past any data we use, so nothing is skipped.
    const NO_SKIP: usize = usize::MAX;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_words(&data)), 0xddf2);
        assert_eq!(internet_checksum(&data), 0x220d);
    }

    #[test]
    fn known_ipv4_header() {
        // Classic example header (Wikipedia "IPv4 header checksum"): checksum b861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&hdr), 0xb861);
        let mut with = hdr;
        with[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(internet_checksum(&with), 0); // a correct header sums to 0xffff
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(internet_checksum(&[0x12]), !0x1200);
        assert_eq!(
            internet_checksum(&[0x12, 0x34, 0x56]),
            !(0x1234u16 + 0x5600)
        );
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn carries_fold() {
        // ones'-complement: ffff + ffff = 1fffe -> fffe + 1 = ffff; + 2 = 10001 -> 0002.
        assert_eq!(
            fold(sum_words(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x02])),
            0x0002
        );
    }

    /// A Windows-style SYN (10.0.0.1:40000 -> 10.0.0.2:80) with the checksum zeroed,
    /// compared with pnet's independent implementation.
    #[test]
    fn tcp_checksum_matches_pnet_fixed() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let seg = [
            0x9c, 0x40, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02,
            0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08,
            0x01, 0x01, 0x04, 0x02,
        ];
        let pkt = TcpPacket::new(&seg).unwrap();
        assert_eq!(
            tcp_checksum(src, dst, &seg),
            pnet_tcp_checksum(&pkt, &src, &dst)
        );
    }

    #[test]
    fn udp_checksum_substitutes_zero() {
        assert_eq!(udp_field(0), 0xffff);
        assert_eq!(udp_field(0x1234), 0x1234);
        // Independent of pnet: a hand-computed example. 198.18.0.1:1 -> 198.18.0.2:2, length
        // 8, no payload: sum c612+0001+c612+0002+0011+0008 + 0001+0002+0008 = 18c4b -> 8c4c.
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let d = [0, 1, 0, 2, 0, 8, 0, 0];
        assert_eq!(udp_checksum(src, dst, &d), !0x8c4c);
    }

    /// Word-by-word reference sum written differently from `sum_words` (u32 with eager fold).
    fn reference_checksum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]);
            let lo = if i + 1 < data.len() {
                u32::from(data[i + 1])
            } else {
                0
            };
            acc += (hi << 8) | lo;
            if acc > 0xffff {
                acc = (acc & 0xffff) + 1;
            }
            i += 2;
        }
        !(acc as u16)
    }

    /// A packet-like buffer: the first word is never zero (as in IP/TCP, where version or the
    /// pseudo-header keep the sum non-zero), which is the domain where eqn. 3 is exact.
    fn packet() -> impl Strategy<Value = Vec<u8>> {
        (
            1u16..=0xffff,
            proptest::collection::vec(any::<u8>(), 4..200),
        )
            .prop_map(|(w, mut v)| {
                v[0..2].copy_from_slice(&w.to_be_bytes());
                if v.len() % 2 == 1 {
                    v.push(0); // whole words: fields are patched at word boundaries
                }
                v
            })
    }

    fn edge_u16() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(0u16),
            Just(0xffffu16),
            Just(1u16),
            Just(0xfffeu16),
            any::<u16>()
        ]
    }

    proptest! {
        #[test]
        fn full_matches_pnet_and_reference(data in proptest::collection::vec(any::<u8>(), 1..300)) {
            let ours = internet_checksum(&data);
            prop_assert_eq!(ours, pnet_checksum(&data, NO_SKIP));
            prop_assert_eq!(ours, reference_checksum(&data));
        }

        #[test]
        fn tcp_matches_pnet(
            src in any::<u32>(), dst in any::<u32>(),
            seg in proptest::collection::vec(any::<u8>(), 20..120),
        ) {
            let mut seg = seg;
            seg[16] = 0;
            seg[17] = 0;
            let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let pkt = TcpPacket::new(&seg).unwrap();
            prop_assert_eq!(tcp_checksum(s, d, &seg), pnet_tcp_checksum(&pkt, &s, &d));
        }

        #[test]
        fn incremental_u16_equals_recompute(data in packet(), idx in any::<prop::sample::Index>(), new in edge_u16()) {
            let mut data = data;
            let words = data.len() / 2;
            let w = 1 + idx.index(words - 1); // never the non-zero first word
            let before = internet_checksum(&data);
            let old = u16::from_be_bytes([data[2 * w], data[2 * w + 1]]);
            data[2 * w..2 * w + 2].copy_from_slice(&new.to_be_bytes());
            let after = pnet_checksum(&data, NO_SKIP);
            prop_assert_eq!(update_u16(before, old, new), after);
        }

        #[test]
        fn incremental_u32_equals_recompute(data in packet(), idx in any::<prop::sample::Index>(), new in any::<u32>()) {
            let mut data = data;
            prop_assume!(data.len() >= 6);
            let words = data.len() / 2;
            let w = 1 + idx.index(words - 2); // words w and w+1, never word 0
            let before = internet_checksum(&data);
            let old = u32::from_be_bytes([data[2 * w], data[2 * w + 1], data[2 * w + 2], data[2 * w + 3]]);
            data[2 * w..2 * w + 4].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update_u32(before, old, new), pnet_checksum(&data, NO_SKIP));
        }

        /// Bytes at any offset sum as they would in place.
        #[test]
        fn sum_at_offset_equals_in_place(offset in 0usize..9, data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut run = vec![0u8; offset];
            run.extend_from_slice(&data);
            prop_assert_eq!(fold(sum_words_at(offset, &data)), fold(sum_words(&run)));
        }

        /// Filling several zeroed words at once, as the probe template does.
        #[test]
        fn add_to_zeroed_equals_recompute(data in packet(), fills in proptest::collection::vec((any::<prop::sample::Index>(), edge_u16()), 1..6)) {
            let mut data = data;
            let words = data.len() / 2;
            let slots: Vec<usize> = fills.iter().map(|(i, _)| 1 + i.index(words - 1)).collect();
            for &w in &slots {
                data[2 * w] = 0;
                data[2 * w + 1] = 0;
            }
            let before = internet_checksum(&data);
            let mut added = 0u64;
            for (&w, (_, v)) in slots.iter().zip(&fills) {
                // Later fills of the same slot overwrite earlier ones: count only the last.
                let old = u16::from_be_bytes([data[2 * w], data[2 * w + 1]]);
                added -= u64::from(old);
                added += u64::from(*v);
                data[2 * w..2 * w + 2].copy_from_slice(&v.to_be_bytes());
            }
            prop_assert_eq!(add_to_zeroed(before, added), pnet_checksum(&data, NO_SKIP));
        }

        /// Forces the new checksum to 0x0000 (sum 0xffff) and the old/new field to 0/0xffff.
        #[test]
        fn incremental_zero_checksum_edge(data in packet(), idx in any::<prop::sample::Index>()) {
            let mut data = data;
            prop_assume!(data.len() >= 4);
            let words = data.len() / 2;
            let w = 1 + idx.index(words - 1);
            // Choose the word value that makes the total ones'-complement sum 0xffff.
            data[2 * w] = 0;
            data[2 * w + 1] = 0;
            let rest = fold(sum_words(&data));
            let target = !rest; // rest + target == 0xffff
            let before = internet_checksum(&data);
            data[2 * w..2 * w + 2].copy_from_slice(&target.to_be_bytes());
            let after = pnet_checksum(&data, NO_SKIP);
            prop_assert_eq!(after, 0x0000);
            prop_assert_eq!(update_u16(before, 0, target), after);
            // And back: from the 0x0000 checksum to a field of 0x0000.
            prop_assert_eq!(update_u16(after, target, 0), before);
        }
    }
}
