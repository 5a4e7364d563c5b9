//! The probe space (every address x port pair), shards, and the keyed send order.
//!
//! Index i of the space is host `i % hosts`, port `i / hosts`, so consecutive indices spread
//! over hosts first. The send order maps positions through the keyed [`Permutation`] of the
//! whole space; shard s of n takes every n-th global position starting at s-1, so the shards of
//! one seed partition the space exactly.

use std::net::Ipv4Addr;

use super::ipset::Ipv4Set;
use super::permutation::Permutation;
use super::ports::PortSet;
use super::TargetError;

/// One part of `count` of a scan; `index` is 1-based as in masscan's --shard 1/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Shard {
    /// The whole scan.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Parses "i/n" with 1 <= i <= n.
    pub fn parse(s: &str) -> Result<Shard, TargetError> {
        let bad = || TargetError(format!("bad --shard \"{s}\": use i/n with 1 <= i <= n"));
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let num = |t: &str| {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u64>().map_err(|_| bad())
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Division by a fixed divisor without a hardware divide: multiply by floor(2^64 / d), then one
/// correction step (the estimate is exact or one short for every u64 numerator).
#[derive(Debug, Clone, Copy)]
struct FastDiv {
    d: u64,
    m: u64,
}

impl FastDiv {
    /// A divider for `d` (d = 0 is treated as 1; callers never divide by an empty set).
    fn new(d: u64) -> Self {
        let d = d.max(1);
        let m = ((1u128 << 64) / u128::from(d)).min(u128::from(u64::MAX)) as u64;
        FastDiv { d, m }
    }

    /// (x / d, x % d).
    #[inline(always)]
    fn div_rem(&self, x: u64) -> (u64, u64) {
        let mut q = ((u128::from(x) * u128::from(self.m)) >> 64) as u64;
        let mut r = x - q * self.d;
        if r >= self.d {
            q += 1;
            r -= self.d;
        }
        (q, r)
    }
}

/// A guide table over the host intervals: bucket `i >> shift` names the first interval that can
/// hold host index i, so a lookup scans a handful of intervals instead of binary-searching all.
#[derive(Debug, Clone, Default)]
struct HostIndex {
    shift: u32,
    /// Interval index holding host index `b << shift`, per bucket.
    guide: Vec<u32>,
}

impl HostIndex {
    /// Builds the guide with about two buckets per interval.
    fn new(set: &Ipv4Set) -> Self {
        let hosts = set.len();
        let intervals = set.range_count() as u64;
        if hosts == 0 || intervals > u64::from(u32::MAX) {
            return HostIndex::default();
        }
        let target = (intervals * 2).max(1);
        let mut shift = 0;
        while ((hosts - 1) >> shift) + 1 > target {
            shift += 1;
        }
        let buckets = ((hosts - 1) >> shift) + 1;
        let starts = set.inner.starts();
        let mut guide = Vec::with_capacity(buckets as usize);
        let mut k = 0usize;
        for b in 0..buckets {
            let first = b << shift;
            while k + 1 < starts.len() && starts[k + 1] <= first {
                k += 1;
            }
            guide.push(k as u32);
        }
        HostIndex { shift, guide }
    }
}

/// Every (address, port) pair of a scan, indexed in [0, hosts x ports).
#[derive(Debug, Clone)]
pub struct ProbeSpace {
    targets: Ipv4Set,
    ports: PortSet,
    hosts: u64,
    len: u64,
    host_div: FastDiv,
    host_index: HostIndex,
    /// Every port, ascending: at most 65535 entries, so port lookup is one load.
    port_table: Vec<u16>,
}

impl ProbeSpace {
    /// The space of `targets` x `ports`.
    pub fn new(targets: Ipv4Set, ports: PortSet) -> Self {
        let hosts = targets.len();
        let len = hosts.saturating_mul(ports.len());
        ProbeSpace {
            host_div: FastDiv::new(hosts),
            host_index: HostIndex::new(&targets),
            port_table: ports.iter().collect(),
            hosts,
            len,
            targets,
            ports,
        }
    }

    /// hosts x ports.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there is nothing to probe.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The host address with index `h` (< hosts).
    #[inline]
    fn host(&self, h: u64) -> Option<Ipv4Addr> {
        let inner = &self.targets.inner;
        let starts = inner.starts();
        let ranges = inner.ranges();
        let g = &self.host_index.guide;
        let k = match g.get((h >> self.host_index.shift) as usize) {
            Some(&lo) => {
                // Intervals lo..=hi can hold h: hi is where the next bucket starts.
                let lo = lo as usize;
                let hi = g
                    .get((h >> self.host_index.shift) as usize + 1)
                    .map_or(starts.len() - 1, |&x| x as usize);
                lo + starts.get(lo + 1..=hi)?.partition_point(|&s| s <= h)
            }
            None => inner.interval_of(h),
        };
        let off = h.checked_sub(*starts.get(k)?)?;
        Some(Ipv4Addr::from(ranges.get(k)?.0.wrapping_add(off as u32)))
    }

    /// The pair at index `i`.
    #[inline]
    pub fn get(&self, i: u64) -> Option<(Ipv4Addr, u16)> {
        if i >= self.len {
            return None;
        }
        let (p, h) = self.host_div.div_rem(i);
        let port = *self.port_table.get(p as usize)?;
        Some((self.host(h)?, port))
    }

    /// The index of the pair (`ip`, `port`), the inverse of [`ProbeSpace::get`]; None for a
    /// pair outside the space. O(log intervals + log ports), no allocation.
    #[inline]
    pub fn index_of(&self, ip: Ipv4Addr, port: u16) -> Option<u64> {
        let h = self.targets.rank(ip)?;
        let p = self.port_table.binary_search(&port).ok()? as u64;
        // p < ports and h < hosts, so p x hosts + h < len fits in u64.
        Some(p * self.hosts + h)
    }

    /// The target set.
    pub fn targets(&self) -> &Ipv4Set {
        &self.targets
    }

    /// The port set.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    /// Number of target addresses.
    pub fn hosts(&self) -> u64 {
        self.hosts
    }
}

/// The send order of one shard: positions 0..len map through the permutation to probes.
#[derive(Debug, Clone)]
pub struct ProbeOrder {
    space: ProbeSpace,
    perm: Permutation,
    shard: Shard,
    len: u64,
}

impl ProbeOrder {
    /// The order for `shard` of `space` under `seed`.
    pub fn new(space: ProbeSpace, seed: u64, shard: Shard) -> Self {
        let total = space.len();
        let count = shard.count.max(1);
        let first = shard.index.clamp(1, count) - 1;
        // Positions first, first + count, ... below total.
        let len = if total > first {
            (total - first - 1) / count + 1
        } else {
            0
        };
        ProbeOrder {
            perm: Permutation::new(total, seed),
            space,
            shard: Shard {
                index: first + 1,
                count,
            },
            len,
        }
    }

    /// Number of probes in this shard.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when this shard has nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The probe at `position` (< len); out of range gives the sentinel (0.0.0.0, 0).
    #[inline]
    pub fn get(&self, position: u64) -> (Ipv4Addr, u16) {
        if position >= self.len {
            return (Ipv4Addr::UNSPECIFIED, 0);
        }
        // position < len guarantees the global position is < space.len(), so no overflow.
        let global = (self.shard.index - 1) + position * self.shard.count;
        self.space
            .get(self.perm.permute(global))
            .unwrap_or((Ipv4Addr::UNSPECIFIED, 0))
    }

    /// The position of the pair (`ip`, `port`) in this shard's order, the inverse of
    /// [`ProbeOrder::get`]: None for a pair outside the scan or sent by another shard.
    /// O(log) with no allocation, so a reply maps back to its probe's position.
    #[inline]
    pub fn position_of(&self, ip: Ipv4Addr, port: u16) -> Option<u64> {
        let global = self.perm.invert(self.space.index_of(ip, port)?);
        let offset = global.checked_sub(self.shard.index - 1)?;
        if offset % self.shard.count != 0 {
            return None;
        }
        let position = offset / self.shard.count;
        (position < self.len).then_some(position)
    }

    /// The probes from `start` (a position) to the end of this shard, in send order.
    pub fn iter_from(&self, start: u64) -> impl Iterator<Item = (Ipv4Addr, u16)> + '_ {
        (start.min(self.len)..self.len).map(move |j| self.get(j))
    }

    /// The space this order walks.
    pub fn space(&self) -> &ProbeSpace {
        &self.space
    }

    /// The shard this order sends.
    pub fn shard(&self) -> Shard {
        self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn set(r: &[(u32, u32)]) -> Ipv4Set {
        Ipv4Set::from_ranges(
            r.iter()
                .map(|&(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b))),
        )
    }

    /// Independent enumeration of every pair, by walking ranges and ports directly.
    fn all_pairs(t: &Ipv4Set, p: &PortSet) -> Vec<(Ipv4Addr, u16)> {
        let mut v = Vec::new();
        for port in p.iter() {
            for (a, b) in t.ranges() {
                for x in u32::from(a)..=u32::from(b) {
                    v.push((Ipv4Addr::from(x), port));
                }
            }
        }
        v
    }

    #[test]
    fn shard_parse() {
        assert_eq!(Shard::parse("1/1"), Ok(Shard::WHOLE));
        assert_eq!(Shard::parse(" 2/3 "), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("3/3"), Ok(Shard { index: 3, count: 3 }));
        assert_eq!(
            Shard::parse("3/2").unwrap_err().to_string(),
            "bad --shard \"3/2\": use i/n with 1 <= i <= n"
        );
        for bad in [
            "0/2", "1/0", "0/0", "1", "a/b", "1/2/3", "", "-1/2", "+1/2", "1/",
        ] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fast_div_matches_hardware() {
        let ds = [
            1u64,
            2,
            3,
            7,
            10,
            255,
            256,
            257,
            65535,
            1 << 32,
            (1 << 32) - 1,
            1_000_003,
        ];
        let xs = [
            0u64,
            1,
            2,
            254,
            255,
            256,
            65535,
            1 << 40,
            (1 << 48) - 1,
            u64::MAX,
            u64::MAX - 1,
        ];
        for &d in &ds {
            let f = FastDiv::new(d);
            for &x in &xs {
                assert_eq!(f.div_rem(x), (x / d, x % d), "{x} / {d}");
            }
            for x in 0..3000u64 {
                assert_eq!(f.div_rem(x), (x / d, x % d), "{x} / {d}");
            }
        }
    }

    #[test]
    fn space_indexing() {
        let t = set(&[(0x0a00_0001, 0x0a00_0003), (0x0a00_0010, 0x0a00_0010)]);
        let p = PortSet::from_ranges([(22, 22), (80, 81)]);
        let s = ProbeSpace::new(t.clone(), p.clone());
        assert_eq!(s.len(), 12);
        assert_eq!(s.hosts(), 4);
        assert_eq!(s.get(0), Some((Ipv4Addr::new(10, 0, 0, 1), 22)));
        assert_eq!(s.get(3), Some((Ipv4Addr::new(10, 0, 0, 16), 22)));
        assert_eq!(s.get(4), Some((Ipv4Addr::new(10, 0, 0, 1), 80)));
        assert_eq!(s.get(11), Some((Ipv4Addr::new(10, 0, 0, 16), 81)));
        assert_eq!(s.get(12), None);
        assert_eq!(s.targets(), &t);
        assert_eq!(s.ports(), &p);
        let e = ProbeSpace::new(Ipv4Set::new(), p);
        assert!(e.is_empty());
        assert_eq!(e.get(0), None);
        // The full space fits in u64.
        let all = ProbeSpace::new(set(&[(0, u32::MAX)]), PortSet::from_ranges([(1, 65535)]));
        assert_eq!(all.len(), (1u64 << 32) * 65535);
        assert_eq!(all.get(all.len() - 1), Some((Ipv4Addr::BROADCAST, 65535)));
        assert_eq!(all.get(1u64 << 32), Some((Ipv4Addr::UNSPECIFIED, 2)));
    }

    #[test]
    fn host_index_matches_nth() {
        // Many intervals of varied widths: the guided lookup must equal Ipv4Set::nth.
        let mut raw = Vec::new();
        let mut x: u32 = 100;
        for k in 0..500u32 {
            let w = (k * 7919) % 37 + if k % 50 == 0 { 3000 } else { 0 };
            raw.push((x, x + w));
            x += w + 2 + (k % 5);
        }
        let t = set(&raw);
        let s = ProbeSpace::new(t.clone(), PortSet::from_ranges([(1, 1)]));
        for i in 0..t.len() {
            assert_eq!(s.get(i).map(|p| p.0), t.nth(i), "host {i}");
        }
    }

    fn check_shards(t: &Ipv4Set, p: &PortSet, n: u64, seed: u64) {
        let space = ProbeSpace::new(t.clone(), p.clone());
        let want: Vec<(Ipv4Addr, u16)> = all_pairs(t, p);
        let mut got: Vec<(Ipv4Addr, u16)> = Vec::new();
        let mut total = 0;
        for s in 1..=n {
            let o = ProbeOrder::new(space.clone(), seed, Shard { index: s, count: n });
            total += o.len();
            let v: Vec<_> = (0..o.len()).map(|j| o.get(j)).collect();
            let w: Vec<_> = o.iter_from(0).collect();
            assert_eq!(v, w);
            got.extend(v);
        }
        assert_eq!(total, want.len() as u64);
        let uniq: HashSet<_> = got.iter().copied().collect();
        assert_eq!(uniq.len(), got.len(), "duplicates for n={n}");
        got.sort_unstable();
        let mut want = want;
        want.sort_unstable();
        assert_eq!(got, want, "shards {n} do not cover the space");
    }

    #[test]
    fn index_of_inverts_get() {
        let t = set(&[(0x0a00_0001, 0x0a00_0003), (0x0a00_0010, 0x0a00_0010)]);
        let p = PortSet::from_ranges([(22, 22), (80, 81)]);
        let s = ProbeSpace::new(t, p);
        for i in 0..s.len() {
            let (ip, port) = s.get(i).expect("in range");
            assert_eq!(s.index_of(ip, port), Some(i));
        }
        assert_eq!(s.index_of(Ipv4Addr::new(10, 0, 0, 4), 22), None);
        assert_eq!(s.index_of(Ipv4Addr::new(10, 0, 0, 1), 23), None);
        let all = ProbeSpace::new(set(&[(0, u32::MAX)]), PortSet::from_ranges([(1, 65535)]));
        assert_eq!(
            all.index_of(Ipv4Addr::BROADCAST, 65535),
            Some(all.len() - 1)
        );
    }

    /// Every position of every shard maps back to itself; pairs of other shards and pairs
    /// outside the scan map to None.
    fn check_positions(t: &Ipv4Set, p: &PortSet, n: u64, seed: u64) {
        let space = ProbeSpace::new(t.clone(), p.clone());
        let orders: Vec<ProbeOrder> = (1..=n)
            .map(|s| ProbeOrder::new(space.clone(), seed, Shard { index: s, count: n }))
            .collect();
        for (k, o) in orders.iter().enumerate() {
            for j in 0..o.len() {
                let (ip, port) = o.get(j);
                assert_eq!(o.position_of(ip, port), Some(j), "shard {k} of {n}");
                for (other_k, other) in orders.iter().enumerate() {
                    if other_k != k {
                        assert_eq!(other.position_of(ip, port), None);
                    }
                }
            }
            let last = t.ranges().last().map_or(0, |r| u32::from(r.1));
            if last < u32::MAX {
                let outside = Ipv4Addr::from(last + 1);
                assert_eq!(o.position_of(outside, p.nth(0).unwrap_or(1)), None);
            }
        }
    }

    #[test]
    fn positions_invert_the_order_in_every_shard() {
        let cases: Vec<(Ipv4Set, PortSet)> = vec![
            (set(&[(5, 5)]), PortSet::from_ranges([(80, 80)])),
            (set(&[(5, 6)]), PortSet::from_ranges([(80, 80)])),
            (set(&[(0, 6)]), PortSet::from_ranges([(1, 1), (3, 4)])),
            (
                set(&[(0x0a00_0000, 0x0a00_00ff), (0x0b00_0000, 0x0b00_0000)]),
                PortSet::from_ranges([(22, 22), (80, 80), (443, 443)]),
            ),
            (
                set(&[(u32::MAX - 12, u32::MAX)]),
                PortSet::from_ranges([(65530, 65535)]),
            ),
        ];
        for (t, p) in &cases {
            for n in [1u64, 2, 3, 7] {
                for seed in [0u64, 99, u64::MAX] {
                    check_positions(t, p, n, seed);
                }
            }
        }
        let empty = ProbeOrder::new(
            ProbeSpace::new(Ipv4Set::new(), PortSet::new()),
            1,
            Shard::WHOLE,
        );
        assert_eq!(empty.position_of(Ipv4Addr::new(1, 2, 3, 4), 80), None);
    }

    #[test]
    fn shards_partition_the_space() {
        let spaces: Vec<(Ipv4Set, PortSet)> = vec![
            (set(&[(5, 5)]), PortSet::from_ranges([(80, 80)])),
            (set(&[(5, 6)]), PortSet::from_ranges([(80, 80)])),
            (set(&[(0, 6)]), PortSet::from_ranges([(1, 1), (3, 4)])),
            (
                set(&[(0x0a00_0000, 0x0a00_00ff), (0x0b00_0000, 0x0b00_0000)]),
                PortSet::from_ranges([(22, 22), (80, 80), (443, 443)]),
            ),
            (
                set(&[(u32::MAX - 12, u32::MAX)]),
                PortSet::from_ranges([(65530, 65535)]),
            ),
            (
                set(&[(0, 0), (2, 2), (4, 4)]),
                PortSet::from_ranges([(1, 37)]),
            ),
        ];
        for (t, p) in &spaces {
            for n in [1u64, 2, 3, 7] {
                for seed in [0u64, 99] {
                    check_shards(t, p, n, seed);
                }
            }
        }
    }

    #[test]
    fn short_space_many_shards() {
        // More shards than probes: the tail shards are empty, never out of range.
        let space = ProbeSpace::new(set(&[(1, 2)]), PortSet::from_ranges([(80, 80)]));
        let lens: Vec<u64> = (1..=5)
            .map(|s| ProbeOrder::new(space.clone(), 3, Shard { index: s, count: 5 }).len())
            .collect();
        assert_eq!(lens, vec![1, 1, 0, 0, 0]);
        let o = ProbeOrder::new(space.clone(), 3, Shard { index: 4, count: 5 });
        assert!(o.is_empty());
        assert_eq!(o.get(0), (Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(o.iter_from(0).count(), 0);
        let o = ProbeOrder::new(space, 3, Shard::WHOLE);
        assert_eq!(o.iter_from(1).count(), 1);
        assert_eq!(o.iter_from(7).count(), 0);
        assert_eq!(o.shard(), Shard::WHOLE);
        assert_eq!(o.space().len(), 2);
        let e = ProbeOrder::new(
            ProbeSpace::new(Ipv4Set::new(), PortSet::new()),
            1,
            Shard::WHOLE,
        );
        assert_eq!(e.len(), 0);
    }

    #[test]
    fn order_is_shuffled() {
        let space = ProbeSpace::new(
            set(&[(0x0a00_0000, 0x0a00_03ff)]),
            PortSet::from_ranges([(80, 80)]),
        );
        let o = ProbeOrder::new(space, 12345, Shard::WHOLE);
        let v: Vec<u32> = o.iter_from(0).map(|(a, _)| u32::from(a)).collect();
        let ascending = v.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(ascending < 20, "{ascending} consecutive steps");
    }
}
