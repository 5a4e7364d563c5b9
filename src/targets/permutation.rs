//! A keyed bijection over [0, range): an unbalanced Feistel network on the smallest power-of-two
//! domain covering the range, with cycle-walking back into the range.
//!
//! Why this shape: a power-of-two domain needs only masks and shifts (no division in the hot
//! path); the domain is < 2x the range, so the expected number of Feistel passes per call is < 2.
//! The two halves may differ in width by one bit; each round XORs a keyed hash of one half into
//! the other, which is invertible whatever the widths, so every pass is a bijection of the
//! domain, and cycle-walking a bijection restricted to [0, range) stays a bijection.

/// Feistel rounds (Luby-Rackoff minimum); each round updates one half, so 2 updates of each.
const ROUNDS: usize = 4;

/// One step of splitmix64: derives independent-looking round keys from the seed.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The keyed round function: a multiply-xorshift mixer of (value ^ key), all 64 bits mixed so
/// that any low-bit mask of the output depends on every input bit.
#[inline(always)]
fn round(key: u64, v: u64) -> u64 {
    let mut x = (v ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 32;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^ (x >> 32)
}

/// A keyed bijection over [0, range): every index maps to exactly one index.
#[derive(Debug, Clone)]
pub struct Permutation {
    /// Size of the permuted range.
    range: u64,
    /// Width in bits of the low half (the high half has `bits - low_bits` bits).
    low_bits: u32,
    /// Mask of the low half.
    low_mask: u64,
    /// Mask of the high half (applied after shifting it down).
    high_mask: u64,
    /// Per-round keys derived from the seed.
    keys: [u64; ROUNDS],
}

impl Permutation {
    /// A permutation of [0, range) keyed by `seed`.
    pub fn new(range: u64, seed: u64) -> Self {
        // Domain 2^bits >= range, at least 2 bits so both halves are non-empty.
        let bits = if range <= 4 {
            2
        } else {
            64 - (range - 1).leading_zeros()
        };
        let low_bits = bits / 2;
        let high_bits = bits - low_bits;
        let mask = |b: u32| if b >= 64 { u64::MAX } else { (1u64 << b) - 1 };
        let mut state = seed;
        let mut keys = [0u64; ROUNDS];
        for k in keys.iter_mut() {
            *k = splitmix64(&mut state);
        }
        Permutation {
            range,
            low_bits,
            low_mask: mask(low_bits),
            high_mask: mask(high_bits),
            keys,
        }
    }

    /// The size of the domain.
    pub fn range(&self) -> u64 {
        self.range
    }

    /// One Feistel pass over the whole power-of-two domain.
    #[inline(always)]
    fn pass(&self, x: u64) -> u64 {
        let mut lo = x & self.low_mask;
        let mut hi = (x >> self.low_bits) & self.high_mask;
        let mut r = 0;
        while r < ROUNDS {
            hi ^= round(self.keys[r], lo) & self.high_mask;
            lo ^= round(self.keys[r + 1], hi) & self.low_mask;
            r += 2;
        }
        (hi << self.low_bits) | lo
    }

    /// One Feistel pass backwards: the rounds undone in reverse order.
    #[inline(always)]
    fn unpass(&self, x: u64) -> u64 {
        let mut lo = x & self.low_mask;
        let mut hi = (x >> self.low_bits) & self.high_mask;
        let mut r = ROUNDS;
        while r > 0 {
            r -= 2;
            lo ^= round(self.keys[r + 1], hi) & self.low_mask;
            hi ^= round(self.keys[r], lo) & self.high_mask;
        }
        (hi << self.low_bits) | lo
    }

    /// The index whose image is `x` (< range): `invert(permute(i)) == i`. Walks the same
    /// cycle backwards, so it costs what `permute` costs and allocates nothing.
    #[inline]
    pub fn invert(&self, x: u64) -> u64 {
        if self.range <= 1 {
            return x;
        }
        let mut i = self.unpass(x);
        while i >= self.range {
            i = self.unpass(i);
        }
        i
    }

    /// The image of `i` (< range).
    #[inline]
    pub fn permute(&self, i: u64) -> u64 {
        if self.range <= 1 {
            return i;
        }
        // Cycle-walk: a point outside the range keeps walking its (finite) cycle in the domain
        // until it lands back inside; the cycle through i holds i itself, so this terminates.
        let mut x = self.pass(i);
        while x >= self.range {
            x = self.pass(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Images of 0..n, sorted, must be exactly 0..n.
    fn assert_bijective(n: u64, seed: u64) {
        let p = Permutation::new(n, seed);
        assert_eq!(p.range(), n);
        let mut img: Vec<u64> = (0..n).map(|i| p.permute(i)).collect();
        assert!(img.iter().all(|&x| x < n), "image out of range for n={n}");
        img.sort_unstable();
        let want: Vec<u64> = (0..n).collect();
        assert!(img == want, "not a bijection for n={n} seed={seed}");
    }

    #[test]
    fn bijective_on_awkward_sizes() {
        let sizes = [
            1u64, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 65535, 65536,
            65537, 1009, 7919, 65521, 99991, 104_729,
        ];
        for &n in &sizes {
            for seed in [0u64, 1, 0xDEAD_BEEF, u64::MAX] {
                assert_bijective(n, seed);
            }
        }
    }

    #[test]
    fn seeds_give_different_orders() {
        let a = Permutation::new(1000, 1);
        let b = Permutation::new(1000, 2);
        let va: Vec<u64> = (0..1000).map(|i| a.permute(i)).collect();
        let vb: Vec<u64> = (0..1000).map(|i| b.permute(i)).collect();
        assert_ne!(va, vb);
        // Not just different but mostly different: few positions agree.
        let same = va.iter().zip(&vb).filter(|(x, y)| x == y).count();
        assert!(same < 20, "{same} positions agree");
        // Not the identity either.
        let fixed = va
            .iter()
            .enumerate()
            .filter(|(i, &x)| *i as u64 == x)
            .count();
        assert!(fixed < 20, "{fixed} fixed points");
        // Same seed, same order.
        let c = Permutation::new(1000, 1);
        assert!((0..1000).all(|i| c.permute(i) == a.permute(i)));
    }

    #[test]
    fn huge_ranges_stay_in_range() {
        // A /0 x 65535 ports and the full u64 domain: spot-check images are in range and
        // distinct for distinct inputs (a full bijection check is impossible at this size).
        for &n in &[(1u64 << 32) * 65535, u64::MAX, 1u64 << 63, (1u64 << 63) + 1] {
            let p = Permutation::new(n, 42);
            let mut img: Vec<u64> = (0..2000).map(|i| p.permute(i)).collect();
            assert!(img.iter().all(|&x| x < n));
            img.sort_unstable();
            img.dedup();
            assert_eq!(img.len(), 2000);
        }
    }

    #[test]
    fn range_zero_constructs() {
        let p = Permutation::new(0, 7);
        assert_eq!(p.range(), 0);
    }

    #[test]
    fn invert_undoes_permute_on_awkward_sizes() {
        for &n in &[
            1u64, 2, 3, 4, 5, 7, 8, 9, 17, 31, 33, 255, 257, 1000, 4099, 65537,
        ] {
            for seed in [0u64, 1, 7, 0xDEAD_BEEF, u64::MAX] {
                let p = Permutation::new(n, seed);
                for i in 0..n {
                    assert_eq!(p.invert(p.permute(i)), i, "n={n} seed={seed} i={i}");
                    assert_eq!(p.permute(p.invert(i)), i, "n={n} seed={seed} x={i}");
                }
            }
        }
    }

    #[test]
    fn invert_on_huge_ranges() {
        for &n in &[(1u64 << 32) * 65535, u64::MAX, 1u64 << 63, (1u64 << 63) + 1] {
            let p = Permutation::new(n, 42);
            for i in (0..2000u64).chain((n - 2000)..n) {
                assert_eq!(p.invert(p.permute(i)), i, "n={n} i={i}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn prop_invert(n in 1u64..u64::MAX, seed in any::<u64>(), i in any::<u64>()) {
            let p = Permutation::new(n, seed);
            let i = i % n;
            let x = p.permute(i);
            prop_assert!(x < n);
            prop_assert_eq!(p.invert(x), i);
        }

        #[test]
        fn prop_invert_small(n in 1u64..300, seed in any::<u64>()) {
            let p = Permutation::new(n, seed);
            for i in 0..n {
                prop_assert_eq!(p.invert(p.permute(i)), i);
            }
        }

        #[test]
        fn prop_bijective(n in 1u64..5000, seed in any::<u64>()) {
            let p = Permutation::new(n, seed);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let x = p.permute(i);
                prop_assert!(x < n);
                prop_assert!(!seen[x as usize]);
                seen[x as usize] = true;
            }
        }
    }
}
