//! Interval sets: the shared sorted/merged interval core and the IPv4 and IPv6 address sets
//! built on it.
//!
//! A set is a sorted list of disjoint, non-adjacent inclusive intervals plus, for each interval,
//! the count of members before it, so `nth` is one binary search and memory is per interval,
//! never per member (a /8 costs what a /24 costs, a /64 what a /120 costs).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An unsigned integer an interval set can hold: `u32` (IPv4, ports) or `u128` (IPv6).
pub trait Point: Copy + Ord + Default + fmt::Debug {
    /// The value widened to u128, where the set does its arithmetic.
    fn to_u128(self) -> u128;
    /// The value back from u128; callers pass only values that came from this type.
    fn from_u128(v: u128) -> Self;
}

impl Point for u32 {
    #[inline(always)]
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    #[inline(always)]
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}

impl Point for u128 {
    #[inline(always)]
    fn to_u128(self) -> u128 {
        self
    }
    #[inline(always)]
    fn from_u128(v: u128) -> Self {
        v
    }
}

/// Sorted, disjoint, non-adjacent inclusive intervals with prefix counts.
///
/// Counts are u128 and saturate: only the full IPv6 space (2^128 members) does not fit, and
/// no scan gets near it (the target checks refuse far smaller sets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intervals<T: Point> {
    /// Inclusive intervals, ascending; never overlapping nor touching.
    ranges: Vec<(T, T)>,
    /// `starts[k]` = number of members in `ranges[..k]`; same length as `ranges`.
    starts: Vec<u128>,
}

/// Members of the inclusive interval `(a, b)` (saturating for the full u128 space).
fn width<T: Point>(r: (T, T)) -> u128 {
    (r.1.to_u128() - r.0.to_u128()).saturating_add(1)
}

/// True when `end + 1 < x`: an interval ending at `end` neither reaches nor touches `x`.
#[inline]
fn ends_before<T: Point>(end: T, x: T) -> bool {
    end.to_u128()
        .checked_add(1)
        .is_some_and(|next| next < x.to_u128())
}

impl<T: Point> Intervals<T> {
    /// Builds the set from intervals in any order (overlapping or touching is fine).
    pub(crate) fn from_unsorted(mut raw: Vec<(T, T)>) -> Self {
        // Reversed pairs are normalised rather than dropped: callers validate order themselves.
        for r in raw.iter_mut() {
            if r.0 > r.1 {
                *r = (r.1, r.0);
            }
        }
        raw.sort_unstable();
        let mut ranges: Vec<(T, T)> = Vec::with_capacity(raw.len());
        for (a, b) in raw {
            match ranges.last_mut() {
                // Merge when overlapping or adjacent.
                Some(last) if !ends_before(last.1, a) => {
                    if b > last.1 {
                        last.1 = b;
                    }
                }
                _ => ranges.push((a, b)),
            }
        }
        let mut set = Intervals {
            ranges,
            starts: Vec::new(),
        };
        set.rebuild_starts(0);
        set
    }

    /// Recomputes the prefix counts from interval `from` on.
    fn rebuild_starts(&mut self, from: usize) {
        self.starts.truncate(from);
        let mut acc = match from {
            0 => 0,
            k => self.starts[k - 1].saturating_add(width(self.ranges[k - 1])),
        };
        for &r in &self.ranges[from..] {
            self.starts.push(acc);
            acc = acc.saturating_add(width(r));
        }
    }

    /// Adds `[first, last]` (swapped if reversed), merging with every touching interval.
    pub(crate) fn insert(&mut self, first: T, last: T) {
        let (first, last) = if first <= last {
            (first, last)
        } else {
            (last, first)
        };
        // Intervals lo..hi overlap or touch [first, last].
        let lo = self.ranges.partition_point(|r| ends_before(r.1, first));
        let hi = self
            .ranges
            .partition_point(|r| r.0.to_u128() <= last.to_u128().saturating_add(1));
        let mut merged = (first, last);
        if lo < hi {
            merged.0 = merged.0.min(self.ranges[lo].0);
            merged.1 = merged.1.max(self.ranges[hi - 1].1);
        }
        self.ranges.splice(lo..hi, std::iter::once(merged));
        self.rebuild_starts(lo);
    }

    /// Adds every interval of `other`.
    pub(crate) fn union(&mut self, other: &Intervals<T>) {
        let mut all = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        all.extend_from_slice(&self.ranges);
        all.extend_from_slice(&other.ranges);
        *self = Intervals::from_unsorted(all);
    }

    /// Removes every member of `other` in one merge sweep.
    pub(crate) fn subtract(&mut self, other: &Intervals<T>) {
        if other.ranges.is_empty() || self.ranges.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &(a, b) in &self.ranges {
            // Work in u128 with checked "one past", so the top of either space never wraps.
            let mut cur = a.to_u128();
            let end = b.to_u128();
            while j < other.ranges.len() && other.ranges[j].1.to_u128() < cur {
                j += 1;
            }
            let mut k = j;
            loop {
                match other.ranges.get(k) {
                    Some(&(oa, ob)) if oa.to_u128() <= end => {
                        let (oa, ob) = (oa.to_u128(), ob.to_u128());
                        if oa > cur {
                            out.push((T::from_u128(cur), T::from_u128(oa - 1)));
                        }
                        k += 1;
                        match ob.checked_add(1) {
                            Some(next) if next <= end => cur = cur.max(next),
                            // The exclusion covers the rest of this interval.
                            _ => break,
                        }
                    }
                    _ => {
                        out.push((T::from_u128(cur), b));
                        break;
                    }
                }
            }
            // An `other` interval may also cover the start of the next own interval.
            j = k.saturating_sub(1).max(j);
        }
        self.ranges = out;
        self.rebuild_starts(0);
    }

    /// Number of members (saturating at u128::MAX).
    pub(crate) fn len(&self) -> u128 {
        match (self.starts.last(), self.ranges.last()) {
            (Some(&s), Some(&r)) => s.saturating_add(width(r)),
            _ => 0,
        }
    }

    /// True when there is no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The index of the interval holding member number `i` (which must be < len).
    #[inline]
    pub(crate) fn interval_of(&self, i: u128) -> usize {
        self.starts.partition_point(|&s| s <= i).saturating_sub(1)
    }

    /// The i-th member, ascending.
    #[inline]
    pub(crate) fn nth(&self, i: u128) -> Option<T> {
        if i >= self.len() {
            return None;
        }
        let k = self.interval_of(i);
        Some(T::from_u128(
            self.ranges[k].0.to_u128() + (i - self.starts[k]),
        ))
    }

    /// The index of member `x` (ascending), the inverse of [`Intervals::nth`]; None when
    /// `x` is not a member.
    #[inline]
    pub(crate) fn rank(&self, x: T) -> Option<u128> {
        let k = self.ranges.partition_point(|r| r.1 < x);
        let r = self.ranges.get(k)?;
        if r.0 > x {
            return None;
        }
        Some(self.starts[k] + (x.to_u128() - r.0.to_u128()))
    }

    /// True when `x` is a member.
    pub(crate) fn contains(&self, x: T) -> bool {
        let k = self.ranges.partition_point(|r| r.1 < x);
        self.ranges.get(k).is_some_and(|r| r.0 <= x)
    }

    /// The intervals, ascending.
    pub(crate) fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    /// The first (lowest) overlap between the two sets, if any.
    pub(crate) fn first_overlap(&self, other: &Intervals<T>) -> Option<(T, T)> {
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = self.ranges[i];
            let (c, d) = other.ranges[j];
            let lo = a.max(c);
            let hi = b.min(d);
            if lo <= hi {
                return Some((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        None
    }
}

/// An address family an [`IpSet`] holds: IPv4 (as u32) or IPv6 (as u128).
pub trait SetAddr: Copy + Ord + fmt::Debug {
    /// The integer form the intervals store.
    type Point: Point;
    /// The address as its integer.
    fn to_point(self) -> Self::Point;
    /// The address of an integer.
    fn from_point(p: Self::Point) -> Self;
}

impl SetAddr for Ipv4Addr {
    type Point = u32;
    #[inline(always)]
    fn to_point(self) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn from_point(p: u32) -> Self {
        Ipv4Addr::from(p)
    }
}

impl SetAddr for Ipv6Addr {
    type Point = u128;
    #[inline(always)]
    fn to_point(self) -> u128 {
        u128::from(self)
    }
    #[inline(always)]
    fn from_point(p: u128) -> Self {
        Ipv6Addr::from(p)
    }
}

/// Sorted, disjoint, merged set of addresses of one family stored as intervals; no
/// per-address memory. Counts and indices are u64 for [`Ipv4Set`], u128 for [`Ipv6Set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet<A: SetAddr> {
    pub(crate) inner: Intervals<A::Point>,
}

/// A set of IPv4 addresses.
pub type Ipv4Set = IpSet<Ipv4Addr>;
/// A set of IPv6 addresses.
pub type Ipv6Set = IpSet<Ipv6Addr>;

impl<A: SetAddr> Default for IpSet<A> {
    fn default() -> Self {
        IpSet {
            inner: Intervals::default(),
        }
    }
}

impl<A: SetAddr> IpSet<A> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from address intervals in any order (overlapping, touching or reversed is fine).
    pub fn from_ranges<I: IntoIterator<Item = (A, A)>>(ranges: I) -> Self {
        let raw = ranges
            .into_iter()
            .map(|(a, b)| (a.to_point(), b.to_point()))
            .collect();
        IpSet {
            inner: Intervals::from_unsorted(raw),
        }
    }

    /// Adds every address from `first` to `last` inclusive.
    pub fn insert_range(&mut self, first: A, last: A) {
        self.inner.insert(first.to_point(), last.to_point());
    }

    /// Adds every address `other` holds (one sort, so cheaper than many `insert_range`s).
    pub fn union_with(&mut self, other: &IpSet<A>) {
        self.inner.union(&other.inner);
    }

    /// Removes every address that `other` holds.
    pub fn subtract(&mut self, other: &IpSet<A>) {
        self.inner.subtract(&other.inner);
    }

    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// True when `ip` is in the set.
    pub fn contains(&self, ip: A) -> bool {
        self.inner.contains(ip.to_point())
    }

    /// The intervals, ascending, inclusive.
    pub fn ranges(&self) -> Vec<(A, A)> {
        self.inner
            .ranges()
            .iter()
            .map(|&(a, b)| (A::from_point(a), A::from_point(b)))
            .collect()
    }

    /// Number of intervals (memory and lookup cost scale with this, not with `len`).
    pub fn range_count(&self) -> usize {
        self.inner.ranges().len()
    }

    /// The lowest run of addresses held by both sets, if they meet.
    pub fn first_overlap(&self, other: &IpSet<A>) -> Option<(A, A)> {
        self.inner
            .first_overlap(&other.inner)
            .map(|(a, b)| (A::from_point(a), A::from_point(b)))
    }
}

impl Ipv4Set {
    /// Number of addresses.
    pub fn len(&self) -> u64 {
        // At most 2^32.
        self.inner.len() as u64
    }

    /// The i-th address in ascending order, in O(log intervals).
    pub fn nth(&self, i: u64) -> Option<Ipv4Addr> {
        self.inner.nth(u128::from(i)).map(Ipv4Addr::from)
    }

    /// The index of `ip` in ascending order (the inverse of [`Ipv4Set::nth`]), in
    /// O(log intervals); None when `ip` is not in the set.
    pub fn rank(&self, ip: Ipv4Addr) -> Option<u64> {
        self.inner.rank(u32::from(ip)).map(|r| r as u64)
    }
}

impl Ipv6Set {
    /// Number of addresses (saturating: the whole space counts u128::MAX).
    pub fn len(&self) -> u128 {
        self.inner.len()
    }

    /// The i-th address in ascending order, in O(log intervals).
    pub fn nth(&self, i: u128) -> Option<Ipv6Addr> {
        self.inner.nth(i).map(Ipv6Addr::from)
    }

    /// The index of `ip` in ascending order (the inverse of [`Ipv6Set::nth`]); None when
    /// `ip` is not in the set.
    pub fn rank(&self, ip: Ipv6Addr) -> Option<u128> {
        self.inner.rank(u128::from(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn set(r: &[(&str, &str)]) -> Ipv4Set {
        let mut s = Ipv4Set::new();
        for &(a, b) in r {
            s.insert_range(ip(a), ip(b));
        }
        s
    }

    fn rs(r: &[(&str, &str)]) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        r.iter().map(|&(a, b)| (ip(a), ip(b))).collect()
    }

    /// Naive model: a sorted, deduplicated list of members.
    fn members(s: &Ipv4Set) -> Vec<u32> {
        s.ranges()
            .iter()
            .flat_map(|&(a, b)| u32::from(a)..=u32::from(b))
            .collect()
    }

    #[test]
    fn default_is_empty() {
        let s = Ipv4Set::default();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(s.nth(0), None);
        assert!(!s.contains(ip("0.0.0.0")));
        assert_eq!(s.ranges(), vec![]);
        assert_eq!(s, Ipv4Set::new());
    }

    #[test]
    fn adjacent_merges_both_orders() {
        let s = set(&[("10.0.0.0", "10.0.0.9"), ("10.0.0.10", "10.0.0.20")]);
        assert_eq!(s.ranges(), rs(&[("10.0.0.0", "10.0.0.20")]));
        let s = set(&[("10.0.0.10", "10.0.0.20"), ("10.0.0.0", "10.0.0.9")]);
        assert_eq!(s.ranges(), rs(&[("10.0.0.0", "10.0.0.20")]));
        assert_eq!(s.len(), 21);
        // Gap of one address stays two intervals.
        let s = set(&[("10.0.0.0", "10.0.0.8"), ("10.0.0.10", "10.0.0.20")]);
        assert_eq!(s.range_count(), 2);
        assert_eq!(s.len(), 20);
    }

    #[test]
    fn insert_bridging_many() {
        let s = set(&[
            ("1.0.0.5", "1.0.0.5"),
            ("1.0.0.1", "1.0.0.1"),
            ("1.0.0.9", "1.0.0.12"),
            ("1.0.0.20", "1.0.0.30"),
            ("1.0.0.2", "1.0.0.10"),
        ]);
        assert_eq!(
            s.ranges(),
            rs(&[("1.0.0.1", "1.0.0.12"), ("1.0.0.20", "1.0.0.30")])
        );
        assert_eq!(s.len(), 12 + 11);
        assert_eq!(s.nth(11), Some(ip("1.0.0.12")));
        assert_eq!(s.nth(12), Some(ip("1.0.0.20")));
        assert_eq!(s.nth(22), Some(ip("1.0.0.30")));
        assert_eq!(s.nth(23), None);
        // Contained insert changes nothing.
        let mut t = s.clone();
        t.insert_range(ip("1.0.0.3"), ip("1.0.0.4"));
        assert_eq!(t, s);
        // Reversed bounds are accepted.
        let mut t = Ipv4Set::new();
        t.insert_range(ip("1.0.0.9"), ip("1.0.0.1"));
        assert_eq!(t.ranges(), rs(&[("1.0.0.1", "1.0.0.9")]));
    }

    #[test]
    fn address_space_ends() {
        let s = set(&[
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.nth(0), Some(ip("0.0.0.0")));
        assert_eq!(s.nth(1), Some(ip("255.255.255.255")));
        assert!(s.contains(ip("0.0.0.0")));
        assert!(s.contains(ip("255.255.255.255")));
        assert!(!s.contains(ip("0.0.0.1")));
        assert!(!s.contains(ip("255.255.255.254")));

        let all = set(&[("0.0.0.0", "255.255.255.255")]);
        assert_eq!(all.len(), 1u64 << 32);
        assert_eq!(all.nth((1u64 << 32) - 1), Some(ip("255.255.255.255")));
        assert_eq!(all.nth(1u64 << 32), None);
        assert_eq!(all.nth(0x0a00_0001), Some(ip("10.0.0.1")));

        // Touching at the top merges without overflow.
        let s = set(&[
            ("255.255.255.0", "255.255.255.254"),
            ("255.255.255.255", "255.255.255.255"),
        ]);
        assert_eq!(s.ranges(), rs(&[("255.255.255.0", "255.255.255.255")]));
        let s = Ipv4Set::from_ranges(rs(&[
            ("255.255.255.255", "255.255.255.255"),
            ("0.0.0.0", "255.255.255.254"),
        ]));
        assert_eq!(s.ranges(), rs(&[("0.0.0.0", "255.255.255.255")]));
    }

    #[test]
    fn subtract_cases() {
        let all = set(&[("0.0.0.0", "255.255.255.255")]);
        let mut s = all.clone();
        s.subtract(&set(&[
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
        ]));
        assert_eq!(s.ranges(), rs(&[("0.0.0.1", "255.255.255.254")]));
        assert_eq!(s.len(), (1u64 << 32) - 2);

        let mut s = all.clone();
        s.subtract(&all);
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);

        // One exclusion spanning two own intervals and the gap between them.
        let mut s = set(&[("10.0.0.0", "10.0.0.10"), ("10.0.0.20", "10.0.0.30")]);
        s.subtract(&set(&[("10.0.0.5", "10.0.0.25")]));
        assert_eq!(
            s.ranges(),
            rs(&[("10.0.0.0", "10.0.0.4"), ("10.0.0.26", "10.0.0.30")])
        );
        assert_eq!(s.nth(5), Some(ip("10.0.0.26")));

        // Several holes inside one interval.
        let mut s = set(&[("10.0.0.0", "10.0.0.255")]);
        s.subtract(&set(&[
            ("9.0.0.0", "10.0.0.0"),
            ("10.0.0.3", "10.0.0.3"),
            ("10.0.0.5", "10.0.0.6"),
            ("10.0.0.255", "11.0.0.0"),
        ]));
        assert_eq!(
            s.ranges(),
            rs(&[
                ("10.0.0.1", "10.0.0.2"),
                ("10.0.0.4", "10.0.0.4"),
                ("10.0.0.7", "10.0.0.254"),
            ])
        );
        assert_eq!(s.len(), 2 + 1 + 248);
        assert_eq!(s.nth(2), Some(ip("10.0.0.4")));
        assert_eq!(s.nth(3), Some(ip("10.0.0.7")));

        // Disjoint subtraction is a no-op; empty either side is fine.
        let mut s = set(&[("10.0.0.0", "10.0.0.9")]);
        s.subtract(&set(&[("11.0.0.0", "11.0.0.9")]));
        assert_eq!(s.ranges(), rs(&[("10.0.0.0", "10.0.0.9")]));
        s.subtract(&Ipv4Set::new());
        assert_eq!(s.len(), 10);
        let mut e = Ipv4Set::new();
        e.subtract(&s);
        assert!(e.is_empty());
    }

    #[test]
    fn subtract_matches_naive_model() {
        // Deterministic pseudo-random small sets checked against a bitmap of 0..300.
        let mut x: u32 = 12345;
        let mut next = |m: u32| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 8) % m
        };
        for _ in 0..200 {
            let mut a = Ipv4Set::new();
            let mut b = Ipv4Set::new();
            let mut bits = [false; 300];
            let mut minus = [false; 300];
            for _ in 0..next(6) {
                let s = next(290);
                let e = s + next(10);
                a.insert_range(Ipv4Addr::from(s), Ipv4Addr::from(e));
                bits[s as usize..=e as usize]
                    .iter_mut()
                    .for_each(|v| *v = true);
            }
            for _ in 0..next(6) {
                let s = next(290);
                let e = s + next(10);
                b.insert_range(Ipv4Addr::from(s), Ipv4Addr::from(e));
                minus[s as usize..=e as usize]
                    .iter_mut()
                    .for_each(|v| *v = true);
            }
            let ov = a.first_overlap(&b);
            let want_ov = (0..300).find(|&k| bits[k] && minus[k]);
            assert_eq!(ov.map(|(lo, _)| u32::from(lo) as usize), want_ov);
            a.subtract(&b);
            let want: Vec<u32> = (0..300u32)
                .filter(|&k| bits[k as usize] && !minus[k as usize])
                .collect();
            assert_eq!(members(&a), want);
            assert_eq!(a.len(), want.len() as u64);
            for (i, &m) in want.iter().enumerate() {
                assert_eq!(a.nth(i as u64), Some(Ipv4Addr::from(m)));
            }
            for k in 0..300u32 {
                assert_eq!(a.contains(Ipv4Addr::from(k)), want.contains(&k));
            }
        }
    }

    #[test]
    fn union_and_overlap() {
        let mut a = set(&[("10.0.0.0", "10.0.0.9")]);
        a.union_with(&set(&[("10.0.0.10", "10.0.0.19"), ("1.1.1.1", "1.1.1.1")]));
        assert_eq!(
            a.ranges(),
            rs(&[("1.1.1.1", "1.1.1.1"), ("10.0.0.0", "10.0.0.19")])
        );
        let b = set(&[("10.0.0.15", "10.0.0.30"), ("10.0.0.5", "10.0.0.6")]);
        assert_eq!(a.first_overlap(&b), Some((ip("10.0.0.5"), ip("10.0.0.6"))));
        assert_eq!(a.first_overlap(&Ipv4Set::new()), None);
    }

    #[test]
    fn rank_inverts_nth() {
        let s = set(&[
            ("0.0.0.0", "0.0.0.2"),
            ("10.0.0.5", "10.0.0.5"),
            ("10.0.1.0", "10.0.1.255"),
            ("255.255.255.250", "255.255.255.255"),
        ]);
        for i in 0..s.len() {
            let ip = s.nth(i).expect("member");
            assert_eq!(s.rank(ip), Some(i), "{ip}");
        }
        for ip in [
            "0.0.0.3",
            "10.0.0.4",
            "10.0.0.6",
            "10.0.0.255",
            "10.0.2.0",
            "255.255.255.249",
        ] {
            assert_eq!(s.rank(self::ip(ip)), None, "{ip}");
        }
        assert_eq!(Ipv4Set::new().rank(ip("1.2.3.4")), None);
        let all = set(&[("0.0.0.0", "255.255.255.255")]);
        assert_eq!(all.rank(Ipv4Addr::BROADCAST), Some(u64::from(u32::MAX)));
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn set6(r: &[(&str, &str)]) -> Ipv6Set {
        Ipv6Set::from_ranges(r.iter().map(|&(a, b)| (v6(a), v6(b))))
    }

    const TOP: &str = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

    #[test]
    fn ipv6_sets_merge_count_and_index() {
        let s = set6(&[
            ("2001:2:0:19::10", "2001:2:0:19::1f"),
            ("2001:2:0:19::", "2001:2:0:19::f"),
            ("2001:2:0:19::100", "2001:2:0:19::100"),
        ]);
        assert_eq!(s.range_count(), 2);
        assert_eq!(s.len(), 33);
        assert_eq!(s.nth(31), Some(v6("2001:2:0:19::1f")));
        assert_eq!(s.nth(32), Some(v6("2001:2:0:19::100")));
        assert_eq!(s.nth(33), None);
        for i in 0..33u128 {
            let ip = s.nth(i).expect("member");
            assert_eq!(s.rank(ip), Some(i), "{ip}");
            assert!(s.contains(ip));
        }
        assert_eq!(s.rank(v6("2001:2:0:19::20")), None);
        assert!(!s.contains(v6("2001:2:0:19::ff")));
        // A /64 counts 2^64 addresses: more than u64 holds.
        let slash64 = set6(&[("2001:2:0:19::", "2001:2:0:19:ffff:ffff:ffff:ffff")]);
        assert_eq!(slash64.len(), 1u128 << 64);
        assert_eq!(
            slash64.nth((1u128 << 64) - 1),
            Some(v6("2001:2:0:19:ffff:ffff:ffff:ffff"))
        );
    }

    #[test]
    fn ipv6_space_ends_never_wrap() {
        let all = set6(&[("::", TOP)]);
        assert_eq!(all.len(), u128::MAX, "2^128 saturates");
        assert_eq!(all.nth(0), Some(Ipv6Addr::UNSPECIFIED));
        assert_eq!(all.rank(v6(TOP)), Some(u128::MAX));
        // Touching at the top merges; inserting the top into the full space changes nothing.
        let mut s = set6(&[("ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")]);
        s.insert_range(v6(TOP), v6(TOP));
        assert_eq!(s.ranges(), vec![(v6("ffff::"), v6(TOP))]);
        let mut a = all.clone();
        a.insert_range(v6(TOP), v6("::1"));
        assert_eq!(a, all);
        // Removing the ends of the whole space.
        let mut s = all.clone();
        s.subtract(&set6(&[("::", "::"), (TOP, TOP)]));
        assert_eq!(
            s.ranges(),
            vec![(v6("::1"), v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"))]
        );
        assert_eq!(s.len(), u128::MAX - 1);
        // An exclusion reaching the top removes every later interval too.
        let mut s = set6(&[
            ("2001:2::", "2001:2::ff"),
            ("fe80::", "fe80::1"),
            (TOP, TOP),
        ]);
        s.subtract(&set6(&[("2001:2::80", TOP)]));
        assert_eq!(s.ranges(), vec![(v6("2001:2::"), v6("2001:2::7f"))]);
        let mut s = all;
        s.subtract(&set6(&[("::", TOP)]));
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn ipv6_subtract_and_overlap_match_a_model() {
        // The same pseudo-random sets as the IPv4 model test, placed at the top of the
        // IPv6 space so that "one past" would wrap if it were computed unchecked.
        let base = u128::MAX - 299;
        let mut x: u32 = 777;
        let mut next = |m: u32| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 8) % m
        };
        let at = |k: u32| Ipv6Addr::from(base + u128::from(k));
        for _ in 0..200 {
            let mut a = Ipv6Set::new();
            let mut b = Ipv6Set::new();
            let mut bits = [false; 300];
            let mut minus = [false; 300];
            for (set, mask) in [(&mut a, &mut bits), (&mut b, &mut minus)] {
                for _ in 0..next(6) {
                    let s = next(290);
                    let e = (s + next(12)).min(299);
                    set.insert_range(at(s), at(e));
                    mask[s as usize..=e as usize]
                        .iter_mut()
                        .for_each(|v| *v = true);
                }
            }
            let want_ov = (0..300u32).find(|&k| bits[k as usize] && minus[k as usize]);
            assert_eq!(a.first_overlap(&b).map(|(lo, _)| lo), want_ov.map(at));
            a.subtract(&b);
            let want: Vec<u32> = (0..300u32)
                .filter(|&k| bits[k as usize] && !minus[k as usize])
                .collect();
            assert_eq!(a.len(), want.len() as u128);
            for (i, &m) in want.iter().enumerate() {
                assert_eq!(a.nth(i as u128), Some(at(m)));
            }
            for k in 0..300u32 {
                assert_eq!(a.contains(at(k)), want.contains(&k));
            }
        }
    }
}
