//! The keyed cookie: source port and sequence number are SipHash-1-3 of the flow under a
//! per-scan key, so replies are validated statelessly. Try k of a probe leaves from the
//! first try's port plus k, so the try is read back from the reply's port.
//!
//! SipHash-1-3 is computed inline for fixed messages of whole words (two for IPv4, 16 bytes;
//! five for IPv6, 40 bytes) instead of through `siphasher`'s streaming `Hasher`: same function
//! (tests compare with the crate), but no buffering, so both hashes of a probe cost a few
//! nanoseconds. The IPv6 message holds both full addresses: folding them first would let
//! anyone who sees one probe pick another address with the same fold.

use super::SourcePorts;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Domain tag of the source-port hash (top byte of the second word).
const TAG_PORT: u64 = 0x01 << 56;
/// Domain tag of the sequence-number hash.
const TAG_SEQ: u64 = 0x02 << 56;

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-1-3 of the 16-byte message `m0.to_le_bytes() ++ m1.to_le_bytes()`.
#[inline(always)]
pub fn siphash13_2words(k0: u64, k1: u64, m0: u64, m1: u64) -> u64 {
    siphash13_words(k0, k1, [m0, m1])
}

/// SipHash-1-3 of the message of `N` little-endian words (8 x N bytes, N < 32).
#[inline(always)]
pub fn siphash13_words<const N: usize>(k0: u64, k1: u64, words: [u64; N]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // The final block is the message length in its top byte (no tail bytes: whole words).
    let last = ((8 * N) as u64) << 56;
    for m in words.into_iter().chain(std::iter::once(last)) {
        v[3] ^= m;
        sip_round(&mut v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    sip_round(&mut v);
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The per-scan keyed hash over flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    k0: u64,
    k1: u64,
}

#[inline(always)]
fn pair(src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    (u64::from(u32::from(src)) << 32) | u64::from(u32::from(dst))
}

/// An address family the cookie hashes flows of: its two addresses plus one word of tag
/// and ports make the keyed message.
pub trait FlowAddress: Copy {
    /// SipHash-1-3 under (k0, k1) of the flow from `src` to `dst` with `last` (tag and
    /// ports) as the final word.
    fn flow_siphash(k0: u64, k1: u64, src: Self, dst: Self, last: u64) -> u64;
}

impl FlowAddress for Ipv4Addr {
    /// Two words: both addresses in one, then `last` (the message since the first release).
    #[inline(always)]
    fn flow_siphash(k0: u64, k1: u64, src: Self, dst: Self, last: u64) -> u64 {
        siphash13_2words(k0, k1, pair(src, dst), last)
    }
}

impl FlowAddress for Ipv6Addr {
    /// Five words: each address as two, then `last`.
    #[inline(always)]
    fn flow_siphash(k0: u64, k1: u64, src: Self, dst: Self, last: u64) -> u64 {
        let (s, d) = (u128::from(src), u128::from(dst));
        siphash13_words(
            k0,
            k1,
            [(s >> 64) as u64, s as u64, (d >> 64) as u64, d as u64, last],
        )
    }
}

impl Cookie {
    /// A cookie under `key`.
    pub fn new(key: [u64; 2]) -> Self {
        Cookie {
            k0: key[0],
            k1: key[1],
        }
    }

    /// Another cookie keyed from this one and `tag`: the same flows hash to unrelated
    /// ports and sequence numbers (pilot probes answer to it, never to the scan's).
    pub fn derive(&self, tag: u64) -> Cookie {
        Cookie {
            k0: siphash13_2words(self.k0, self.k1, tag, 0),
            k1: siphash13_2words(self.k0, self.k1, tag, 1),
        }
    }

    /// Source port for the flow to (dst, dport): `first + h * count / 2^32` (a multiply
    /// instead of `%`, same uniformity for a 32-bit h, no division on the hot path).
    #[inline(always)]
    pub fn source_port<A: FlowAddress>(
        &self,
        ports: SourcePorts,
        src: A,
        dst: A,
        dport: u16,
    ) -> u16 {
        let h = A::flow_siphash(self.k0, self.k1, src, dst, TAG_PORT | u64::from(dport));
        let offset = ((h >> 32) * u64::from(ports.count)) >> 32;
        ports.first.wrapping_add(offset as u16)
    }

    /// Source port of try `try_index` (0: the first send) of the flow to (dst, dport): the
    /// first try's port moved up `try_index` places, wrapping within the range. Each retry
    /// is then a new connection request to the target, not a repeat of a pending one
    /// (Linux answers a repeated SYN at most once per net.ipv4.tcp_invalid_ratelimit, 500
    /// ms); nmap numbers its tries in the source port the same way.
    #[inline(always)]
    pub fn source_port_of_try<A: FlowAddress>(
        &self,
        ports: SourcePorts,
        src: A,
        dst: A,
        dport: u16,
        try_index: u8,
    ) -> u16 {
        let first = self.source_port(ports, src, dst, dport);
        let offset =
            (u32::from(first - ports.first) + u32::from(try_index)) % u32::from(ports.count.max(1));
        ports.first.wrapping_add(offset as u16)
    }

    /// Which try of the flow to (dst, dport) left from `sport`: Some(k) when `sport` is try
    /// k's port for some k below `tries` (a port of the range, `ports.count >= 1`).
    #[inline(always)]
    pub fn try_of_port<A: FlowAddress>(
        &self,
        ports: SourcePorts,
        src: A,
        dst: A,
        dport: u16,
        sport: u16,
        tries: u16,
    ) -> Option<u8> {
        let first = u32::from(self.source_port(ports, src, dst, dport) - ports.first);
        let at = u32::from(sport.wrapping_sub(ports.first));
        let count = u32::from(ports.count);
        // Places from the first try's port up to `sport`, wrapping: no division.
        let k = if at >= first {
            at - first
        } else {
            at + count - first
        };
        u8::try_from(k).ok().filter(|_| k < u32::from(tries))
    }

    /// 64 bits keyed over the full 4-tuple: the low 32 are the sequence number, the next 16
    /// the IPv4 ID (so retries are identical and IDs don't count up).
    #[inline(always)]
    pub fn flow_hash<A: FlowAddress>(&self, src: A, dst: A, sport: u16, dport: u16) -> u64 {
        let last = TAG_SEQ | (u64::from(sport) << 16) | u64::from(dport);
        A::flow_siphash(self.k0, self.k1, src, dst, last)
    }

    /// Sequence number of the SYN for the 4-tuple.
    #[inline(always)]
    pub fn sequence<A: FlowAddress>(&self, src: A, dst: A, sport: u16, dport: u16) -> u32 {
        self.flow_hash(src, dst, sport, dport) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use siphasher::sip::SipHasher13;

    fn reference(k0: u64, k1: u64, m0: u64, m1: u64) -> u64 {
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&m0.to_le_bytes());
        msg[8..].copy_from_slice(&m1.to_le_bytes());
        SipHasher13::new_with_keys(k0, k1).hash(&msg)
    }

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    #[test]
    fn matches_siphasher_fixed() {
        assert_eq!(siphash13_2words(0, 0, 0, 0), reference(0, 0, 0, 0));
        let (k0, k1) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        assert_eq!(siphash13_2words(k0, k1, 1, 2), reference(k0, k1, 1, 2));
    }

    #[test]
    fn port_is_in_range_and_spread() {
        let c = Cookie::new([1, 2]);
        let ports = SourcePorts {
            first: 61000,
            count: 10,
        };
        let mut buckets = [0u32; 10];
        for dport in 0..=u16::MAX {
            let p = c.source_port(ports, US, Ipv4Addr::new(198, 18, 1, 1), dport);
            assert!((61000..61010).contains(&p));
            buckets[usize::from(p - 61000)] += 1;
        }
        // 6553.6 expected per bucket; 5 sigma is about 400.
        for b in buckets {
            assert!((6150..6950).contains(&b), "{buckets:?}");
        }
        let one = SourcePorts {
            first: 40000,
            count: 1,
        };
        assert_eq!(c.source_port(one, US, US, 80), 40000);
        let all = SourcePorts {
            first: 1,
            count: u16::MAX,
        };
        assert!(c.source_port(all, US, US, 80) >= 1);
    }

    #[test]
    fn fields_are_domain_separated() {
        let c = Cookie::new([3, 4]);
        let d = Ipv4Addr::new(198, 18, 0, 7);
        // The two hashes differ even when their inputs line up.
        let port_h = siphash13_2words(3, 4, pair(US, d), TAG_PORT | 80);
        assert_ne!(port_h, c.flow_hash(US, d, 0, 80));
        assert_ne!(c.sequence(US, d, 61000, 80), c.sequence(d, US, 61000, 80));
        assert_ne!(c.sequence(US, d, 61000, 80), c.sequence(US, d, 80, 61000));
    }

    /// SipHash-1-3 by the crate over `words` as little-endian bytes.
    fn reference_words(k0: u64, k1: u64, words: &[u64]) -> u64 {
        let msg: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        SipHasher13::new_with_keys(k0, k1).hash(&msg)
    }

    /// The IPv4 values are those of the releases before IPv6: the port and sequence of a
    /// fixed flow, pinned (computed by an independent SipHash-1-3 outside this crate).
    #[test]
    fn ipv4_values_are_unchanged() {
        let c = Cookie::new([0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908]);
        let d = Ipv4Addr::new(198, 19, 4, 10);
        // The IPv4 message is still pair(src, dst) then tag and ports: 16 bytes.
        assert_eq!(
            c.flow_hash(US, d, 61234, 443),
            reference(c.k0, c.k1, pair(US, d), TAG_SEQ | (61234 << 16) | 443)
        );
        assert_eq!(
            c.source_port(SourcePorts::DEFAULT, US, d, 443),
            61000
                + (((reference(c.k0, c.k1, pair(US, d), TAG_PORT | 443) >> 32) * 4536) >> 32)
                    as u16
        );
        assert_eq!(c.sequence(US, d, 61234, 443), 3_118_363_139);
        assert_eq!(c.source_port(SourcePorts::DEFAULT, US, d, 443), 64816);
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_hashes_the_whole_four_tuple() {
        let c = Cookie::new([7, 8]);
        let us = v6("2001:2:0:18::1");
        let t = v6("2001:2:0:19::a");
        let (s, d) = (u128::from(us), u128::from(t));
        let words = |last: u64| [(s >> 64) as u64, s as u64, (d >> 64) as u64, d as u64, last];
        assert_eq!(
            c.flow_hash(us, t, 61000, 80),
            reference_words(7, 8, &words(TAG_SEQ | (61000 << 16) | 80))
        );
        let port_h = reference_words(7, 8, &words(TAG_PORT | 80));
        let ports = SourcePorts::DEFAULT;
        assert_eq!(
            c.source_port(ports, us, t, 80),
            61000 + (((port_h >> 32) * 4536) >> 32) as u16
        );
        // Every bit of either address matters, high half and low half alike.
        let seq = c.sequence(us, t, 61000, 80);
        for bit in [0u32, 1, 63, 64, 100, 127] {
            let flip = |a: Ipv6Addr| Ipv6Addr::from(u128::from(a) ^ (1u128 << bit));
            assert_ne!(seq, c.sequence(flip(us), t, 61000, 80), "src bit {bit}");
            assert_ne!(seq, c.sequence(us, flip(t), 61000, 80), "dst bit {bit}");
        }
        // Swapped addresses or ports differ; the IPv4-mapped form is another flow.
        assert_ne!(seq, c.sequence(t, us, 61000, 80));
        assert_ne!(seq, c.sequence(us, t, 80, 61000));
        let mapped = v6("::ffff:198.19.4.10");
        assert_ne!(
            c.sequence(v6("::ffff:198.18.0.1"), mapped, 61000, 80),
            c.sequence(US, Ipv4Addr::new(198, 19, 4, 10), 61000, 80)
        );
    }

    #[test]
    fn each_try_has_its_own_port_and_the_port_names_the_try() {
        let c = Cookie::new([9, 10]);
        let d = Ipv4Addr::new(198, 19, 4, 10);
        let ports = SourcePorts::DEFAULT;
        let first = c.source_port(ports, US, d, 443);
        assert_eq!(c.source_port_of_try(ports, US, d, 443, 0), first);
        for k in 0..21u8 {
            let p = c.source_port_of_try(ports, US, d, 443, k);
            assert!((61000..=65535).contains(&p), "try {k}: {p}");
            assert_eq!(c.try_of_port(ports, US, d, 443, p, 21), Some(k), "try {k}");
            assert_eq!(c.try_of_port(ports, US, d, 443, p, u16::from(k)), None);
        }
        // A port below the first try's (a wrap of 4536 - 1 tries) is no try of ours.
        let below = 61000 + (first - 61000 + 4535) % 4536;
        assert_eq!(c.try_of_port(ports, US, d, 443, below, 21), None);
        // Tries wrap within a small range: 10 ports, the first try's at some offset.
        let small = SourcePorts {
            first: 50000,
            count: 10,
        };
        let f = c.source_port(small, US, d, 80) - 50000;
        let got: Vec<u16> = (0..12)
            .map(|k| c.source_port_of_try(small, US, d, 80, k) - 50000)
            .collect();
        let want: Vec<u16> = (0..12).map(|k| (f + k) % 10).collect();
        assert_eq!(got, want);
        for (k, &off) in got.iter().take(10).enumerate() {
            assert_eq!(
                c.try_of_port(small, US, d, 80, 50000 + off, 10),
                Some(k as u8)
            );
        }
        // One source port: every try leaves from it.
        let one = SourcePorts {
            first: 40000,
            count: 1,
        };
        assert_eq!(c.source_port_of_try(one, US, d, 80, 5), 40000);
        assert_eq!(c.try_of_port(one, US, d, 80, 40000, 1), Some(0));
    }

    proptest! {
        #[test]
        fn matches_siphasher(k0: u64, k1: u64, m0: u64, m1: u64) {
            prop_assert_eq!(siphash13_2words(k0, k1, m0, m1), reference(k0, k1, m0, m1));
        }

        #[test]
        fn five_words_match_siphasher(k0: u64, k1: u64, w: [u64; 5]) {
            prop_assert_eq!(siphash13_words(k0, k1, w), reference_words(k0, k1, &w));
        }
    }
}
