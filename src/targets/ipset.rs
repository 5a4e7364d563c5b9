//! Interval sets: the shared sorted/merged interval core and the IPv4 address set built on it.
//!
//! A set is a sorted list of disjoint, non-adjacent inclusive intervals plus, for each interval,
//! the count of members before it, so `nth` is one binary search and memory is per interval,
//! never per member (a /8 costs what a /24 costs).

use std::net::Ipv4Addr;

/// Sorted, disjoint, non-adjacent inclusive `u32` intervals with prefix counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intervals {
    /// Inclusive intervals, ascending; never overlapping nor touching.
    ranges: Vec<(u32, u32)>,
    /// `starts[k]` = number of members in `ranges[..k]`; same length as `ranges`.
    starts: Vec<u64>,
}

/// Members of the inclusive interval `(a, b)`.
fn width(r: (u32, u32)) -> u64 {
    u64::from(r.1) - u64::from(r.0) + 1
}

impl Intervals {
    /// Builds the set from intervals in any order (overlapping or touching is fine).
    pub(crate) fn from_unsorted(mut raw: Vec<(u32, u32)>) -> Self {
        // Reversed pairs are normalised rather than dropped: callers validate order themselves.
        for r in raw.iter_mut() {
            if r.0 > r.1 {
                *r = (r.1, r.0);
            }
        }
        raw.sort_unstable();
        let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(raw.len());
        for (a, b) in raw {
            match ranges.last_mut() {
                // Merge when overlapping or adjacent (prev end + 1 >= a), computed in u64.
                Some(last) if u64::from(last.1) + 1 >= u64::from(a) => {
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
            k => self.starts[k - 1] + width(self.ranges[k - 1]),
        };
        for &r in &self.ranges[from..] {
            self.starts.push(acc);
            acc += width(r);
        }
    }

    /// Adds `[first, last]` (swapped if reversed), merging with every touching interval.
    pub(crate) fn insert(&mut self, first: u32, last: u32) {
        let (first, last) = if first <= last {
            (first, last)
        } else {
            (last, first)
        };
        let (f, l) = (u64::from(first), u64::from(last));
        // Intervals lo..hi overlap or touch [first, last].
        let lo = self.ranges.partition_point(|r| u64::from(r.1) + 1 < f);
        let hi = self.ranges.partition_point(|r| u64::from(r.0) <= l + 1);
        let mut merged = (first, last);
        if lo < hi {
            merged.0 = merged.0.min(self.ranges[lo].0);
            merged.1 = merged.1.max(self.ranges[hi - 1].1);
        }
        self.ranges.splice(lo..hi, std::iter::once(merged));
        self.rebuild_starts(lo);
    }

    /// Adds every interval of `other`.
    pub(crate) fn union(&mut self, other: &Intervals) {
        let mut all = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        all.extend_from_slice(&self.ranges);
        all.extend_from_slice(&other.ranges);
        *self = Intervals::from_unsorted(all);
    }

    /// Removes every member of `other` in one merge sweep.
    pub(crate) fn subtract(&mut self, other: &Intervals) {
        if other.ranges.is_empty() || self.ranges.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &(a, b) in &self.ranges {
            // Work in u64 so "one past" never overflows at 255.255.255.255.
            let mut cur = u64::from(a);
            let end = u64::from(b);
            while j < other.ranges.len() && u64::from(other.ranges[j].1) < cur {
                j += 1;
            }
            let mut k = j;
            while cur <= end {
                match other.ranges.get(k) {
                    Some(&(oa, ob)) if u64::from(oa) <= end => {
                        let (oa, ob) = (u64::from(oa), u64::from(ob));
                        if oa > cur {
                            out.push((cur as u32, (oa - 1) as u32));
                        }
                        cur = cur.max(ob + 1);
                        k += 1;
                    }
                    _ => {
                        out.push((cur as u32, end as u32));
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

    /// Number of members.
    pub(crate) fn len(&self) -> u64 {
        match (self.starts.last(), self.ranges.last()) {
            (Some(&s), Some(&r)) => s + width(r),
            _ => 0,
        }
    }

    /// True when there is no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The index of the interval holding member number `i` (which must be < len).
    #[inline]
    pub(crate) fn interval_of(&self, i: u64) -> usize {
        self.starts.partition_point(|&s| s <= i).saturating_sub(1)
    }

    /// The i-th member, ascending.
    #[inline]
    pub(crate) fn nth(&self, i: u64) -> Option<u32> {
        if i >= self.len() {
            return None;
        }
        let k = self.interval_of(i);
        Some(self.ranges[k].0 + (i - self.starts[k]) as u32)
    }

    /// The index of member `x` (ascending), the inverse of [`Intervals::nth`]; None when
    /// `x` is not a member.
    #[inline]
    pub(crate) fn rank(&self, x: u32) -> Option<u64> {
        let k = self.ranges.partition_point(|r| r.1 < x);
        let r = self.ranges.get(k)?;
        if r.0 > x {
            return None;
        }
        Some(self.starts[k] + u64::from(x - r.0))
    }

    /// True when `x` is a member.
    pub(crate) fn contains(&self, x: u32) -> bool {
        let k = self.ranges.partition_point(|r| r.1 < x);
        self.ranges.get(k).is_some_and(|r| r.0 <= x)
    }

    /// The intervals, ascending.
    pub(crate) fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// The prefix counts (members before each interval).
    pub(crate) fn starts(&self) -> &[u64] {
        &self.starts
    }

    /// The first (lowest) overlap between the two sets, if any.
    pub(crate) fn first_overlap(&self, other: &Intervals) -> Option<(u32, u32)> {
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

/// Sorted, disjoint, merged set of IPv4 addresses stored as intervals; no per-address memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv4Set {
    pub(crate) inner: Intervals,
}

impl Ipv4Set {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from address intervals in any order (overlapping, touching or reversed is fine).
    pub fn from_ranges<I: IntoIterator<Item = (Ipv4Addr, Ipv4Addr)>>(ranges: I) -> Self {
        let raw = ranges
            .into_iter()
            .map(|(a, b)| (u32::from(a), u32::from(b)))
            .collect();
        Ipv4Set {
            inner: Intervals::from_unsorted(raw),
        }
    }

    /// Adds every address from `first` to `last` inclusive.
    pub fn insert_range(&mut self, first: Ipv4Addr, last: Ipv4Addr) {
        self.inner.insert(u32::from(first), u32::from(last));
    }

    /// Adds every address `other` holds (one sort, so cheaper than many `insert_range`s).
    pub fn union_with(&mut self, other: &Ipv4Set) {
        self.inner.union(&other.inner);
    }

    /// Removes every address that `other` holds.
    pub fn subtract(&mut self, other: &Ipv4Set) {
        self.inner.subtract(&other.inner);
    }

    /// Number of addresses.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The i-th address in ascending order, in O(log intervals).
    pub fn nth(&self, i: u64) -> Option<Ipv4Addr> {
        self.inner.nth(i).map(Ipv4Addr::from)
    }

    /// The index of `ip` in ascending order (the inverse of [`Ipv4Set::nth`]), in
    /// O(log intervals); None when `ip` is not in the set.
    pub fn rank(&self, ip: Ipv4Addr) -> Option<u64> {
        self.inner.rank(u32::from(ip))
    }

    /// True when `ip` is in the set.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.inner.contains(u32::from(ip))
    }

    /// The intervals, ascending, inclusive.
    pub fn ranges(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        self.inner
            .ranges()
            .iter()
            .map(|&(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)))
            .collect()
    }

    /// Number of intervals (memory and lookup cost scale with this, not with `len`).
    pub fn range_count(&self) -> usize {
        self.inner.ranges().len()
    }

    /// The lowest run of addresses held by both sets, if they meet.
    pub fn first_overlap(&self, other: &Ipv4Set) -> Option<(Ipv4Addr, Ipv4Addr)> {
        self.inner
            .first_overlap(&other.inner)
            .map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)))
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
}
