//! The scan's addresses over both families: one IPv4 set and one IPv6 set, indexed IPv4
//! first, then IPv6, so one index space (and one permutation) covers a mixed target list.

use std::net::IpAddr;

use super::ipset::{Ipv4Set, Ipv6Set};

/// Every target address of a scan: IPv4 addresses (indices 0..v4.len()) then IPv6 ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSet {
    /// The IPv4 targets.
    pub v4: Ipv4Set,
    /// The IPv6 targets.
    pub v6: Ipv6Set,
}

impl TargetSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The union of an IPv4 and an IPv6 set.
    pub fn from_sets(v4: Ipv4Set, v6: Ipv6Set) -> Self {
        TargetSet { v4, v6 }
    }

    /// Number of addresses of both families (saturating at u128::MAX).
    pub fn len(&self) -> u128 {
        u128::from(self.v4.len()).saturating_add(self.v6.len())
    }

    /// True when there is no address of either family.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The i-th address: IPv4 ascending, then IPv6 ascending.
    pub fn nth(&self, i: u128) -> Option<IpAddr> {
        let n4 = u128::from(self.v4.len());
        if i < n4 {
            self.v4.nth(i as u64).map(IpAddr::V4)
        } else {
            self.v6.nth(i - n4).map(IpAddr::V6)
        }
    }

    /// The index of `ip` (the inverse of [`TargetSet::nth`]); None when it is not a target.
    pub fn rank(&self, ip: IpAddr) -> Option<u128> {
        match ip {
            IpAddr::V4(a) => self.v4.rank(a).map(u128::from),
            IpAddr::V6(a) => {
                let r = self.v6.rank(a)?;
                u128::from(self.v4.len()).checked_add(r)
            }
        }
    }

    /// True when `ip` is a target.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(a),
            IpAddr::V6(a) => self.v6.contains(a),
        }
    }
}

impl From<Ipv4Set> for TargetSet {
    fn from(v4: Ipv4Set) -> Self {
        TargetSet {
            v4,
            v6: Ipv6Set::new(),
        }
    }
}

impl From<Ipv6Set> for TargetSet {
    fn from(v6: Ipv6Set) -> Self {
        TargetSet {
            v4: Ipv4Set::new(),
            v6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_first_then_ipv6() {
        let t = TargetSet::from_sets(
            Ipv4Set::from_ranges([(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))]),
            Ipv6Set::from_ranges([
                (v6("2001:2::1"), v6("2001:2::3")),
                (v6("2001:2::10"), v6("2001:2::10")),
            ]),
        );
        assert_eq!(t.len(), 6);
        assert!(!t.is_empty());
        let all: Vec<IpAddr> = (0..7).filter_map(|i| t.nth(i)).collect();
        let want: Vec<IpAddr> = [
            "10.0.0.1",
            "10.0.0.2",
            "2001:2::1",
            "2001:2::2",
            "2001:2::3",
            "2001:2::10",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(all, want);
        for (i, ip) in want.iter().enumerate() {
            assert_eq!(t.rank(*ip), Some(i as u128), "{ip}");
            assert!(t.contains(*ip));
        }
        for out in ["10.0.0.3", "2001:2::4", "::ffff:10.0.0.1"] {
            let ip: IpAddr = out.parse().unwrap();
            assert_eq!(t.rank(ip), None, "{out}");
            assert!(!t.contains(ip), "{out}");
        }
        assert!(TargetSet::new().is_empty());
        assert_eq!(TargetSet::new().nth(0), None);
    }

    #[test]
    fn huge_ipv6_counts_saturate() {
        let all6 = Ipv6Set::from_ranges([(
            Ipv6Addr::UNSPECIFIED,
            v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        )]);
        let t = TargetSet::from_sets(
            Ipv4Set::from_ranges([(Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(1, 1, 1, 1))]),
            all6,
        );
        assert_eq!(t.len(), u128::MAX);
        assert_eq!(t.nth(0), Some(IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1))));
        assert_eq!(t.nth(1), Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(t.rank(IpAddr::V6(v6("::5"))), Some(6));
    }
}
