//! The probe space (every address x service pair), shards, and the keyed send order.
//!
//! Index i of the space is host `i % hosts`, service `i / hosts` (services in
//! [`ServiceSet`]'s order: TCP ports, then UDP ports), so consecutive indices spread over
//! hosts first. With TCP ports only, this is the space of (address, port) pairs it always was. The send order maps positions through the keyed [`Permutation`] of the
//! whole space; shard s of n takes every n-th global position starting at s-1, so the shards of
//! one seed partition the space exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::permutation::Permutation;
use super::services::ServiceSet;
use super::target_set::TargetSet;
use super::TargetError;
use crate::model::Service;

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

/// The host intervals of both families in index order (IPv4 first), with u64 prefix counts:
/// the hot path's view of the target set. A guide table over it names, for bucket `i >> shift`,
/// the first interval that can hold host index i, so a lookup scans a handful of intervals
/// instead of binary-searching all.
#[derive(Debug, Clone, Default)]
struct HostTable {
    /// First address of each interval (an IPv4 one widened to u128).
    firsts: Vec<u128>,
    /// Hosts before each interval.
    starts: Vec<u64>,
    /// Intervals `..v4_intervals` are IPv4, the rest IPv6.
    v4_intervals: usize,
    shift: u32,
    /// Interval index holding host index `b << shift`, per bucket.
    guide: Vec<u32>,
}

impl HostTable {
    /// The table of `set`, with about two guide buckets per interval. Counts saturate at
    /// u64::MAX (config refuses target sets whose probes do not fit in u64).
    fn new(set: &TargetSet) -> Self {
        let v4 = set.v4.inner.ranges().iter().map(|r| u128::from(r.0));
        let v6 = set.v6.inner.ranges().iter().map(|r| r.0);
        let firsts: Vec<u128> = v4.chain(v6).collect();
        let widths4 = set
            .v4
            .inner
            .ranges()
            .iter()
            .map(|r| u128::from(r.1 - r.0) + 1);
        let widths6 = set
            .v6
            .inner
            .ranges()
            .iter()
            .map(|r| (r.1 - r.0).saturating_add(1));
        let mut starts = Vec::with_capacity(firsts.len());
        let mut acc = 0u64;
        for w in widths4.chain(widths6) {
            starts.push(acc);
            acc = acc.saturating_add(u64::try_from(w).unwrap_or(u64::MAX));
        }
        let mut table = HostTable {
            firsts,
            starts,
            v4_intervals: set.v4.range_count(),
            ..HostTable::default()
        };
        let hosts = acc;
        let intervals = table.firsts.len() as u64;
        if hosts == 0 || intervals > u64::from(u32::MAX) {
            return table;
        }
        let target = (intervals * 2).max(1);
        let mut shift = 0;
        while ((hosts - 1) >> shift) + 1 > target {
            shift += 1;
        }
        let buckets = ((hosts - 1) >> shift) + 1;
        let mut guide = Vec::with_capacity(buckets as usize);
        let mut k = 0usize;
        for b in 0..buckets {
            let first = b << shift;
            while k + 1 < table.starts.len() && table.starts[k + 1] <= first {
                k += 1;
            }
            guide.push(k as u32);
        }
        table.shift = shift;
        table.guide = guide;
        table
    }

    /// The host address with index `h` (< hosts).
    #[inline]
    fn host(&self, h: u64) -> Option<IpAddr> {
        let starts = &self.starts;
        let g = &self.guide;
        let k = match g.get((h >> self.shift) as usize) {
            Some(&lo) => {
                // Intervals lo..=hi can hold h: hi is where the next bucket starts.
                let lo = lo as usize;
                let hi = g
                    .get((h >> self.shift) as usize + 1)
                    .map_or(starts.len() - 1, |&x| x as usize);
                lo + starts.get(lo + 1..=hi)?.partition_point(|&s| s <= h)
            }
            None => starts.partition_point(|&s| s <= h).checked_sub(1)?,
        };
        let off = h.checked_sub(*starts.get(k)?)?;
        let addr = self.firsts.get(k)?.wrapping_add(u128::from(off));
        Some(if k < self.v4_intervals {
            IpAddr::V4(Ipv4Addr::from(addr as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(addr))
        })
    }
}

/// Every (address, service) pair of a scan, indexed in [0, hosts x services); hosts are
/// the IPv4 targets, then the IPv6 ones.
#[derive(Debug, Clone)]
pub struct ProbeSpace {
    targets: TargetSet,
    services: ServiceSet,
    hosts: u64,
    len: u64,
    host_div: FastDiv,
    host_table: HostTable,
    /// Every service, in index order (ascending): at most 2 x 65536 entries, so service
    /// lookup is one load.
    service_table: Vec<Service>,
}

impl ProbeSpace {
    /// The space of `targets` x `services`. The caller checks that it fits in u64 (see
    /// [`ProbeSpace::count`]); a larger one is cut at u64::MAX probes, never wrapped.
    pub fn new(targets: TargetSet, services: impl Into<ServiceSet>) -> Self {
        let services = services.into();
        let hosts = u64::try_from(targets.len()).unwrap_or(u64::MAX);
        let len = hosts.saturating_mul(services.len());
        ProbeSpace {
            host_div: FastDiv::new(hosts),
            host_table: HostTable::new(&targets),
            service_table: services.iter().collect(),
            hosts,
            len,
            targets,
            services,
        }
    }

    /// hosts x services of `targets` and `services`, or None when it does not fit in u64.
    pub fn count(targets: &TargetSet, services: &ServiceSet) -> Option<u64> {
        u64::try_from(targets.len())
            .ok()?
            .checked_mul(services.len())
    }

    /// hosts x services.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there is nothing to probe.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pair at index `i`.
    #[inline]
    pub fn get(&self, i: u64) -> Option<(IpAddr, Service)> {
        if i >= self.len {
            return None;
        }
        let (s, h) = self.host_div.div_rem(i);
        let service = *self.service_table.get(s as usize)?;
        Some((self.host_table.host(h)?, service))
    }

    /// The index of the pair (`ip`, `service`), the inverse of [`ProbeSpace::get`]; None
    /// for a pair outside the space. O(log intervals + log services), no allocation.
    #[inline]
    pub fn index_of(&self, ip: IpAddr, service: Service) -> Option<u64> {
        let h = u64::try_from(self.targets.rank(ip)?).ok()?;
        if h >= self.hosts {
            return None;
        }
        let s = self.service_table.binary_search(&service).ok()? as u64;
        // s < services and h < hosts, so s x hosts + h < len fits in u64.
        let i = s * self.hosts + h;
        (i < self.len).then_some(i)
    }

    /// The target set.
    pub fn targets(&self) -> &TargetSet {
        &self.targets
    }

    /// The services.
    pub fn services(&self) -> &ServiceSet {
        &self.services
    }

    /// Number of target addresses.
    pub fn hosts(&self) -> u64 {
        self.hosts
    }
}

/// What [`ProbeOrder::get`] gives for a position past the end.
const SENTINEL: (IpAddr, Service) = (IpAddr::V4(Ipv4Addr::UNSPECIFIED), Service::tcp(0));

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

    /// The probe at `position` (< len); out of range gives the sentinel (0.0.0.0, 0/tcp).
    #[inline]
    pub fn get(&self, position: u64) -> (IpAddr, Service) {
        if position >= self.len {
            return SENTINEL;
        }
        // position < len guarantees the global position is < space.len(), so no overflow.
        let global = (self.shard.index - 1) + position * self.shard.count;
        self.space
            .get(self.perm.permute(global))
            .unwrap_or(SENTINEL)
    }

    /// The position of the pair (`ip`, `service`) in this shard's order, the inverse of
    /// [`ProbeOrder::get`]: None for a pair outside the scan or sent by another shard.
    /// O(log) with no allocation, so a reply maps back to its probe's position.
    #[inline]
    pub fn position_of(&self, ip: IpAddr, service: Service) -> Option<u64> {
        let global = self.perm.invert(self.space.index_of(ip, service)?);
        let offset = global.checked_sub(self.shard.index - 1)?;
        if offset % self.shard.count != 0 {
            return None;
        }
        let position = offset / self.shard.count;
        (position < self.len).then_some(position)
    }

    /// The probes from `start` (a position) to the end of this shard, in send order.
    pub fn iter_from(&self, start: u64) -> impl Iterator<Item = (IpAddr, Service)> + '_ {
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
    use crate::targets::{Ipv4Set, Ipv6Set, PortSet};
    use std::collections::HashSet;

    fn set(r: &[(u32, u32)]) -> TargetSet {
        Ipv4Set::from_ranges(
            r.iter()
                .map(|&(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b))),
        )
        .into()
    }

    /// IPv4 intervals and IPv6 ones (as u128) in one set.
    fn mixed(r4: &[(u32, u32)], r6: &[(u128, u128)]) -> TargetSet {
        let v6 = Ipv6Set::from_ranges(
            r6.iter()
                .map(|&(a, b)| (Ipv6Addr::from(a), Ipv6Addr::from(b))),
        );
        TargetSet::from_sets(set(r4).v4, v6)
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// 2001:2:0:19:: plus `low`.
    fn lab6(low: u128) -> u128 {
        0x2001_0002_0000_0019_0000_0000_0000_0000 + low
    }

    /// Independent enumeration of every pair, by walking ranges and ports directly.
    fn all_pairs(t: &TargetSet, p: &PortSet) -> Vec<(IpAddr, Service)> {
        let mut v = Vec::new();
        for port in p.iter() {
            for (a, b) in t.v4.ranges() {
                for x in u32::from(a)..=u32::from(b) {
                    v.push((IpAddr::V4(Ipv4Addr::from(x)), Service::tcp(port)));
                }
            }
            for (a, b) in t.v6.ranges() {
                for x in u128::from(a)..=u128::from(b) {
                    v.push((IpAddr::V6(Ipv6Addr::from(x)), Service::tcp(port)));
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
        assert_eq!(s.get(0), Some((v4(10, 0, 0, 1), Service::tcp(22))));
        assert_eq!(s.get(3), Some((v4(10, 0, 0, 16), Service::tcp(22))));
        assert_eq!(s.get(4), Some((v4(10, 0, 0, 1), Service::tcp(80))));
        assert_eq!(s.get(11), Some((v4(10, 0, 0, 16), Service::tcp(81))));
        assert_eq!(s.get(12), None);
        assert_eq!(s.targets(), &t);
        assert_eq!(s.services(), &ServiceSet::tcp(p.clone()));
        let e = ProbeSpace::new(TargetSet::new(), p);
        assert!(e.is_empty());
        assert_eq!(e.get(0), None);
        // The full space fits in u64.
        let all = ProbeSpace::new(set(&[(0, u32::MAX)]), PortSet::from_ranges([(1, 65535)]));
        assert_eq!(all.len(), (1u64 << 32) * 65535);
        assert_eq!(
            all.get(all.len() - 1),
            Some((v4(255, 255, 255, 255), Service::tcp(65535)))
        );
        assert_eq!(all.get(1u64 << 32), Some((v4(0, 0, 0, 0), Service::tcp(2))));
        // IPv6 hosts follow the IPv4 ones, port by port.
        let m = ProbeSpace::new(
            mixed(
                &[(0x0a00_0001, 0x0a00_0002)],
                &[(lab6(1), lab6(1)), (lab6(9), lab6(9))],
            ),
            PortSet::from_ranges([(22, 22), (80, 80)]),
        );
        let lab = |low| IpAddr::V6(Ipv6Addr::from(lab6(low)));
        let got: Vec<_> = (0..9).map(|i| m.get(i)).collect();
        assert_eq!(
            got,
            vec![
                Some((v4(10, 0, 0, 1), Service::tcp(22))),
                Some((v4(10, 0, 0, 2), Service::tcp(22))),
                Some((lab(1), Service::tcp(22))),
                Some((lab(9), Service::tcp(22))),
                Some((v4(10, 0, 0, 1), Service::tcp(80))),
                Some((v4(10, 0, 0, 2), Service::tcp(80))),
                Some((lab(1), Service::tcp(80))),
                Some((lab(9), Service::tcp(80))),
                None,
            ]
        );
        // A /64 of IPv6 hosts x every port fits in u64 (2^64 - 2^48 probes).
        let wide = mixed(&[], &[(lab6(0), lab6(u128::from(u64::MAX)))]);
        let ports = PortSet::from_ranges([(1, 65535)]);
        assert_eq!(ProbeSpace::count(&wide, &ports.clone().into()), None);
        let half = mixed(&[], &[(lab6(0), lab6(u128::from(u64::MAX >> 16)))]);
        assert_eq!(
            ProbeSpace::count(&half, &ports.clone().into()),
            Some((1u64 << 48) * 65535)
        );
        let big = ProbeSpace::new(half, ports);
        assert_eq!(
            big.get(big.len() - 1),
            Some((
                IpAddr::V6(Ipv6Addr::from(lab6(u128::from(u64::MAX >> 16)))),
                Service::tcp(65535)
            ))
        );
    }

    #[test]
    fn host_index_matches_nth() {
        // Many intervals of varied widths, IPv4 then IPv6: the guided lookup must equal
        // TargetSet::nth.
        let mut raw = Vec::new();
        let mut x: u32 = 100;
        for k in 0..500u32 {
            let w = (k * 7919) % 37 + if k % 50 == 0 { 3000 } else { 0 };
            raw.push((x, x + w));
            x += w + 2 + (k % 5);
        }
        let raw6: Vec<(u128, u128)> = raw
            .iter()
            .map(|&(a, b)| (lab6(u128::from(a)), lab6(u128::from(b))))
            .collect();
        let t = mixed(&raw, &raw6);
        let s = ProbeSpace::new(t.clone(), PortSet::from_ranges([(1, 1)]));
        assert_eq!(u128::from(s.hosts()), t.len());
        for i in 0..s.hosts() {
            assert_eq!(s.get(i).map(|p| p.0), t.nth(u128::from(i)), "host {i}");
        }
    }

    fn check_shards(t: &TargetSet, p: &PortSet, n: u64, seed: u64) {
        let space = ProbeSpace::new(t.clone(), p.clone());
        let want: Vec<(IpAddr, Service)> = all_pairs(t, p);
        let mut got: Vec<(IpAddr, Service)> = Vec::new();
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
        assert_eq!(s.index_of(v4(10, 0, 0, 4), Service::tcp(22)), None);
        assert_eq!(s.index_of(v4(10, 0, 0, 1), Service::tcp(23)), None);
        // The same address as IPv4-mapped IPv6 is another host.
        assert_eq!(
            s.index_of("::ffff:10.0.0.1".parse().unwrap(), Service::tcp(22)),
            None
        );
        let all = ProbeSpace::new(set(&[(0, u32::MAX)]), PortSet::from_ranges([(1, 65535)]));
        assert_eq!(
            all.index_of(v4(255, 255, 255, 255), Service::tcp(65535)),
            Some(all.len() - 1)
        );
    }

    /// Every position of every shard maps back to itself; pairs of other shards and pairs
    /// outside the scan map to None.
    fn check_positions(t: &TargetSet, p: &PortSet, n: u64, seed: u64) {
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
            let port = p.nth(0).unwrap_or(1);
            let last = t.v4.ranges().last().map_or(0, |r| u32::from(r.1));
            if last < u32::MAX {
                let outside = IpAddr::V4(Ipv4Addr::from(last + 1));
                assert_eq!(o.position_of(outside, Service::tcp(port)), None);
            }
            let last6 = t.v6.ranges().last().map_or(0, |r| u128::from(r.1));
            let outside6 = IpAddr::V6(Ipv6Addr::from(last6.wrapping_add(1)));
            assert_eq!(o.position_of(outside6, Service::tcp(port)), None);
        }
    }

    #[test]
    fn positions_invert_the_order_in_every_shard() {
        let cases: Vec<(TargetSet, PortSet)> = vec![
            (
                mixed(&[(5, 6)], &[(lab6(0), lab6(3)), (lab6(100), lab6(100))]),
                PortSet::from_ranges([(22, 22), (443, 443)]),
            ),
            (
                mixed(&[], &[(u128::MAX - 9, u128::MAX)]),
                PortSet::from_ranges([(80, 81)]),
            ),
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
            ProbeSpace::new(TargetSet::new(), PortSet::new()),
            1,
            Shard::WHOLE,
        );
        assert_eq!(empty.position_of(v4(1, 2, 3, 4), Service::tcp(80)), None);
    }

    #[test]
    fn shards_partition_the_space() {
        let spaces: Vec<(TargetSet, PortSet)> = vec![
            (
                mixed(&[(0, 2)], &[(lab6(7), lab6(9)), (u128::MAX, u128::MAX)]),
                PortSet::from_ranges([(1, 5)]),
            ),
            (mixed(&[], &[(0, 0)]), PortSet::from_ranges([(80, 80)])),
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
        assert_eq!(o.get(0), (v4(0, 0, 0, 0), Service::tcp(0)));
        assert_eq!(o.iter_from(0).count(), 0);
        let o = ProbeOrder::new(space, 3, Shard::WHOLE);
        assert_eq!(o.iter_from(1).count(), 1);
        assert_eq!(o.iter_from(7).count(), 0);
        assert_eq!(o.shard(), Shard::WHOLE);
        assert_eq!(o.space().len(), 2);
        let e = ProbeOrder::new(
            ProbeSpace::new(TargetSet::new(), PortSet::new()),
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
        let v: Vec<u32> = o
            .iter_from(0)
            .map(|(a, _)| u32::from(crate::targets::ipv4_only(a)))
            .collect();
        let ascending = v.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(ascending < 20, "{ascending} consecutive steps");
    }

    /// The order of an IPv4-only scan is the one earlier versions drew for the same seed:
    /// pairs recorded from the IPv4-only implementation (before IPv6 joined the space).
    #[test]
    fn ipv4_order_is_unchanged() {
        let t: TargetSet = Ipv4Set::from_ranges([
            (Ipv4Addr::new(198, 18, 0, 0), Ipv4Addr::new(198, 18, 0, 3)),
            (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 5)),
        ])
        .into();
        let p = PortSet::from_ranges([(22, 22), (80, 80), (443, 443)]);
        let text = |o: &ProbeOrder| -> Vec<String> {
            o.iter_from(0)
                .map(|(a, b)| format!("{a} {}", b.port))
                .collect()
        };
        let o = ProbeOrder::new(ProbeSpace::new(t.clone(), p.clone()), 42, Shard::WHOLE);
        assert_eq!(
            text(&o),
            [
                "198.18.0.1 80",
                "198.18.0.2 80",
                "198.18.0.0 443",
                "198.18.0.0 22",
                "198.18.0.3 22",
                "10.0.0.5 80",
                "10.0.0.5 443",
                "198.18.0.1 22",
                "10.0.0.5 22",
                "198.18.0.1 443",
                "198.18.0.2 443",
                "198.18.0.3 443",
                "198.18.0.0 80",
                "198.18.0.3 80",
                "198.18.0.2 22",
            ]
        );
        let o = ProbeOrder::new(ProbeSpace::new(t, p), 7, Shard { index: 2, count: 3 });
        assert_eq!(
            text(&o),
            [
                "198.18.0.1 80",
                "198.18.0.3 80",
                "198.18.0.2 22",
                "198.18.0.2 443",
                "198.18.0.0 80",
            ]
        );
        // A /20 x 1000 ports (4,096,000 probes): FNV-1a over every pair in send order.
        let big: TargetSet = Ipv4Set::from_ranges([(
            Ipv4Addr::new(198, 19, 0, 0),
            Ipv4Addr::new(198, 19, 15, 255),
        )])
        .into();
        let o = ProbeOrder::new(
            ProbeSpace::new(big, PortSet::from_ranges([(1, 1000)])),
            0x5eed,
            Shard::WHOLE,
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (a, b) in o.iter_from(0) {
            let IpAddr::V4(a) = a else {
                panic!("an IPv6 address in an IPv4 scan: {a}");
            };
            for byte in a.octets().into_iter().chain(b.port.to_be_bytes()) {
                h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!((h, o.len()), (0x90e1_8144_da9b_a641, 4_096_000));
    }

    /// The order is the keyed permutation of the space's index order (ports outer, hosts
    /// inner, IPv4 hosts before IPv6 ones), whatever the families.
    #[test]
    fn order_is_the_permuted_index_order() {
        let t = mixed(
            &[(0x0a00_0000, 0x0a00_0004)],
            &[(lab6(1), lab6(6)), (lab6(0x100), lab6(0x102))],
        );
        let p = PortSet::from_ranges([(22, 23), (8080, 8080)]);
        let pairs = all_pairs(&t, &p);
        for seed in [0u64, 1, 0x5eed] {
            let o = ProbeOrder::new(ProbeSpace::new(t.clone(), p.clone()), seed, Shard::WHOLE);
            let perm = Permutation::new(pairs.len() as u64, seed);
            let want: Vec<(IpAddr, Service)> = (0..pairs.len() as u64)
                .map(|j| pairs[perm.permute(j) as usize])
                .collect();
            assert_eq!(o.iter_from(0).collect::<Vec<_>>(), want, "seed {seed}");
        }
    }
}
