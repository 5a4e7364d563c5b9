//! Ground truth: which (host, port) pairs are open, filtered or unreachable, chosen from a seed,
//! and the typed description of a raised lab that `serve` prints and the tests read back.

use ipnet::{Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The block every lab target prefix must lie in.
pub const TARGET_BLOCK: &str = "198.19.0.0/16";

/// The block every IPv6 lab target prefix must lie in (the target's local route covers it).
pub const TARGET_BLOCK6: &str = "2001:2:0:19::/64";

/// Most pairs the truth may name in total (keeps nft sets and memory sane).
pub const MAX_PAIRS: usize = 1 << 22;

/// A (host, port) pair.
pub type Pair = (Ipv4Addr, u16);

/// An IPv6 (host, port) pair.
pub type Pair6 = (Ipv6Addr, u16);

/// What to choose.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The target prefix (inside 198.19.0.0/16).
    pub prefix: Ipv4Net,
    /// The scanned ports, sorted and distinct.
    pub ports: Vec<u16>,
    /// Hosts with open ports.
    pub open_hosts: usize,
    /// Open ports per open host.
    pub open_per_host: usize,
    /// Filtered (dropped) pairs.
    pub filtered: usize,
    /// ICMP-unreachable pairs.
    pub unreachable: usize,
}

/// A raised lab as `synscan-lab serve` describes it on its first stdout line (one JSON
/// object): names, addresses, the scanned ports and the ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The lab's name (prefix of every namespace and interface name).
    pub name: String,
    /// The seed the truth was chosen from.
    pub seed: u64,
    /// The namespace a scanner runs in.
    pub scanner_ns: String,
    /// The namespace answering for the targets.
    pub target_ns: String,
    /// The scanner namespace's veth.
    pub scanner_if: String,
    /// The target namespace's veth.
    pub target_if: String,
    /// The scanner veth's address.
    pub scanner_ip: Ipv4Addr,
    /// The target veth's address (the scanner's next hop).
    pub target_ip: Ipv4Addr,
    /// The target prefix as a scanner argument, e.g. "198.19.0.0/24".
    pub prefix: String,
    /// The ports the truth covers, sorted.
    pub ports: Vec<u16>,
    /// Pairs with a listener behind them.
    pub open: BTreeSet<Pair>,
    /// Pairs whose SYNs are dropped.
    pub filtered: BTreeSet<Pair>,
    /// Pairs answered with ICMP destination unreachable.
    pub unreachable: BTreeSet<Pair>,
    /// The ICMP code of the unreachable pairs: "host-unreachable" or "admin-prohibited".
    pub unreach_kind: String,
    /// Percentage of SYNs the target drops at random.
    pub loss: u8,
    /// Whether the target drops everything (send-only benchmark mode).
    pub drop_all: bool,
    /// The emulated wire between scanner and target, when the lab has one.
    pub wire: Option<WireInfo>,
    /// The IPv6 side, when the lab has one (`serve --family 6` or `mixed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Truth6>,
    /// How the target rations its answers (`serve --lose-syn-acks`, `--alive`,
    /// `--rst-limit`); absent when it does not.
    #[serde(default, skip_serializing_if = "crate::answers::Answers::is_plain")]
    pub answers: crate::answers::Answers,
    /// Which probe kinds each address answers (`serve --discovery`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::discovery::DiscoveryTruth>,
    /// The UDP truth (`serve --udp`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<crate::udp::UdpTruth>,
}

/// The IPv6 side of a lab: addresses on 2001:2:0:18::/64, targets in 2001:2:0:19::/64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth6 {
    /// The scanner veth's IPv6 address.
    pub scanner_ip: Ipv6Addr,
    /// The target veth's IPv6 address (the scanner's next hop).
    pub target_ip: Ipv6Addr,
    /// The IPv6 target prefix the truth is drawn from, e.g. "2001:2:0:19::/120".
    pub prefix: String,
    /// IPv6 pairs with a listener behind them.
    pub open: BTreeSet<Pair6>,
    /// IPv6 pairs whose SYNs are dropped.
    pub filtered: BTreeSet<Pair6>,
    /// IPv6 pairs answered with ICMPv6 destination unreachable.
    pub unreachable: BTreeSet<Pair6>,
    /// The ICMPv6 code of the unreachable pairs, as nft names it: "no-route",
    /// "admin-prohibited", "addr-unreachable", "port-unreachable" or "reject-route".
    pub unreach_kind: String,
}

/// The emulated wire of a lab (a middle namespace relaying frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireInfo {
    /// The middle namespace the relay runs in.
    pub middle_ns: String,
    /// One-way delay of every frame, milliseconds.
    pub delay_ms: u64,
    /// Uniform jitter around the delay, milliseconds.
    pub jitter_ms: u64,
    /// Percentage of frames dropped, each direction.
    pub loss: f64,
    /// Percentage of frames sent twice.
    pub duplicate: f64,
    /// Percentage of frames sent at once, overtaking the others.
    pub reorder: f64,
    /// Capacity each way in frames per second (0: unlimited).
    #[serde(default)]
    pub pps: u64,
    /// Frames queued for the capacity-limited link before it drops (tail drop).
    #[serde(default)]
    pub queue: u64,
    /// Where the relay publishes its counters (JSON, rewritten every 100 ms).
    pub stats_file: PathBuf,
}

impl Truth {
    /// Reads the line `serve` printed.
    pub fn parse(line: &str) -> Result<Truth, String> {
        serde_json::from_str(line.trim()).map_err(|e| format!("bad lab description {line:?}: {e}"))
    }

    /// The one-line JSON form `serve` prints.
    pub fn to_line(&self) -> String {
        // A struct of strings, numbers and sequences always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Every namespace of the lab (scanner, target, and middle when wired).
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.scanner_ns.clone(), self.target_ns.clone()];
        v.extend(self.middle_ns().map(str::to_string));
        v
    }

    /// The middle namespace, when the lab has a wire.
    pub fn middle_ns(&self) -> Option<&str> {
        self.wire.as_ref().map(|w| w.middle_ns.as_str())
    }

    /// The wire's counters file, when the lab has a wire.
    pub fn wire_stats(&self) -> Option<&Path> {
        self.wire.as_ref().map(|w| w.stats_file.as_path())
    }

    /// The covered ports as a scanner argument, "22,80,...".
    pub fn ports_arg(&self) -> String {
        self.ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The chosen truth of one address family; every list sorted, the three lists pairwise
/// disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen<A = Ipv4Addr> {
    /// Pairs with a listener behind them.
    pub open: Vec<(A, u16)>,
    /// Pairs whose SYNs are dropped.
    pub filtered: Vec<(A, u16)>,
    /// Pairs answered with ICMP destination unreachable.
    pub unreachable: Vec<(A, u16)>,
}

impl<A> Chosen<A> {
    /// The distinct open ports (what the listener must bind).
    pub fn open_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.open.iter().map(|p| p.1).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Parse a target prefix and check it lies inside 198.19.0.0/16 with its host bits zero.
pub fn parse_prefix(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .trim()
        .parse()
        .map_err(|_| format!("bad prefix {s:?}: write it like 198.19.0.0/24"))?;
    let block: Ipv4Net = TARGET_BLOCK
        .parse()
        .map_err(|_| "internal: bad block".to_string())?;
    if !block.contains(&net) {
        return Err(format!(
            "prefix {net} is outside {TARGET_BLOCK}: the lab only uses that block"
        ));
    }
    if net.trunc() != net {
        return Err(format!(
            "prefix {net} has host bits set: use {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Parse an IPv6 target prefix: inside 2001:2:0:19::/64 (what the target's local route
/// answers for), host bits zero, and at most 2^32 addresses (the truth is drawn from them).
pub fn parse_prefix6(s: &str) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = s
        .trim()
        .parse()
        .map_err(|_| format!("bad IPv6 prefix {s:?}: write it like 2001:2:0:19::/120"))?;
    let block: Ipv6Net = TARGET_BLOCK6
        .parse()
        .map_err(|_| "internal: bad block".to_string())?;
    if !block.contains(&net) {
        return Err(format!(
            "IPv6 prefix {net} is outside {TARGET_BLOCK6}: the lab only uses that block"
        ));
    }
    if net.trunc() != net {
        return Err(format!(
            "IPv6 prefix {net} has host bits set: use {}",
            net.trunc()
        ));
    }
    if net.prefix_len() < 96 {
        return Err(format!(
            "IPv6 prefix {net} is wider than /96: the truth is drawn from at most 2^32 addresses"
        ));
    }
    Ok(net)
}

/// The IPv6 hosts truth is chosen among: (first address, count). Every address of the
/// prefix but the block's subnet-router anycast address (2001:2:0:19::, host part zero).
pub fn candidate_hosts6(prefix: Ipv6Net) -> (u128, u64) {
    let first = u128::from(prefix.network());
    let size: u64 = 1u64 << (128 - u32::from(prefix.prefix_len()));
    let anycast = TARGET_BLOCK6
        .parse::<Ipv6Net>()
        .map(|b| u128::from(b.network()))
        .unwrap_or(0);
    if first == anycast {
        (first + 1, size - 1)
    } else {
        (first, size)
    }
}

/// The hosts truth is chosen among: (first address, count); network and broadcast
/// addresses are left out for prefixes up to /30 so scanners that skip them still agree.
pub fn candidate_hosts(prefix: Ipv4Net) -> (u32, u32) {
    let first = u32::from(prefix.network());
    let size: u64 = 1u64 << (32 - prefix.prefix_len());
    if prefix.prefix_len() <= 30 {
        (first + 1, (size - 2) as u32)
    } else {
        (first, size as u32)
    }
}

/// Choose the truth from `seed`; errors when the counts do not fit the block.
pub fn choose(spec: &Spec, seed: u64) -> Result<Chosen, String> {
    let (first, hosts) = candidate_hosts(spec.prefix);
    choose_among(
        spec,
        &spec.prefix.to_string(),
        "--prefix",
        hosts as u64,
        seed,
        |i| Ipv4Addr::from(first + i as u32),
    )
}

/// Choose the IPv6 truth among the hosts of `prefix` with the counts of `spec`, from a seed
/// of its own (so a mixed lab's IPv4 truth equals an IPv4 lab's with the same seed).
pub fn choose6(spec: &Spec, prefix: Ipv6Net, seed: u64) -> Result<Chosen<Ipv6Addr>, String> {
    let (first, hosts) = candidate_hosts6(prefix);
    let seed6 = seed.rotate_left(29) ^ 0x6a09_e667_f3bc_c908;
    choose_among(spec, &prefix.to_string(), "--prefix6", hosts, seed6, |i| {
        Ipv6Addr::from(first + u128::from(i))
    })
}

/// The counts of `spec` over `hosts` hosts (host `i` is `host(i)`) x `spec.ports`.
fn choose_among<A: Ord + Copy>(
    spec: &Spec,
    prefix: &str,
    prefix_flag: &str,
    hosts: u64,
    seed: u64,
    host: impl Fn(u64) -> A,
) -> Result<Chosen<A>, String> {
    let nports = spec.ports.len() as u64;
    let space = hosts.saturating_mul(nports);
    if spec.open_hosts as u64 > hosts {
        return Err(format!(
            "--open-hosts {} exceeds the {hosts} usable hosts of {prefix}: lower it or widen {prefix_flag}",
            spec.open_hosts
        ));
    }
    if spec.open_per_host > spec.ports.len() {
        return Err(format!(
            "--open-per-host {} exceeds the {} scanned ports: lower it or add --ports",
            spec.open_per_host,
            spec.ports.len()
        ));
    }
    let want_open = spec.open_hosts.saturating_mul(spec.open_per_host);
    let total = want_open
        .saturating_add(spec.filtered)
        .saturating_add(spec.unreachable);
    if total > MAX_PAIRS || total as u64 > space {
        return Err(format!(
            "asked for {total} open+filtered+unreachable pairs but {prefix} x {} ports has {space} (limit {MAX_PAIRS}): lower the counts",
            spec.ports.len()
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used: HashSet<u64> = HashSet::new();
    let mut open_idx = Vec::with_capacity(want_open);
    for h in sample_distinct(&mut rng, hosts, spec.open_hosts, &used) {
        for p in sample_distinct(&mut rng, nports, spec.open_per_host, &used) {
            open_idx.push(h * nports + p);
        }
    }
    used.extend(open_idx.iter().copied());
    let filtered_idx = sample_distinct(&mut rng, space, spec.filtered, &used);
    used.extend(filtered_idx.iter().copied());
    let unreach_idx = sample_distinct(&mut rng, space, spec.unreachable, &used);
    let to_pairs = |idx: Vec<u64>| -> Vec<(A, u16)> {
        let mut v: Vec<(A, u16)> = idx
            .into_iter()
            .map(|i| (host(i / nports), spec.ports[(i % nports) as usize]))
            .collect();
        v.sort_unstable();
        v
    };
    Ok(Chosen {
        open: to_pairs(open_idx),
        filtered: to_pairs(filtered_idx),
        unreachable: to_pairs(unreach_idx),
    })
}

/// `k` distinct values from `0..n` not in `exclude` (caller guarantees enough exist).
pub(crate) fn sample_distinct(
    rng: &mut StdRng,
    n: u64,
    k: usize,
    exclude: &HashSet<u64>,
) -> Vec<u64> {
    if k == 0 || n == 0 {
        return Vec::new();
    }
    // Sparse: rejection sampling is fast when at most half the space is taken.
    if (k as u64 + exclude.len() as u64) * 2 <= n {
        let mut chosen = HashSet::with_capacity(k);
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let x = rng.random_range(0..n);
            if !exclude.contains(&x) && chosen.insert(x) {
                out.push(x);
            }
        }
        return out;
    }
    // Dense: n is then at most 2 * (k + excluded), small enough to enumerate.
    let mut all: Vec<u64> = (0..n).filter(|x| !exclude.contains(x)).collect();
    let k = k.min(all.len());
    for i in 0..k {
        let j = rng.random_range(i..all.len());
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn spec(prefix: &str, open_hosts: usize, per: usize, filtered: usize, unreach: usize) -> Spec {
        Spec {
            prefix: parse_prefix(prefix).unwrap(),
            ports: vec![22, 80, 443, 8080],
            open_hosts,
            open_per_host: per,
            filtered,
            unreachable: unreach,
        }
    }

    fn check(s: &Spec, t: &Chosen) {
        let open: BTreeSet<Pair> = t.open.iter().copied().collect();
        let filt: BTreeSet<Pair> = t.filtered.iter().copied().collect();
        let unr: BTreeSet<Pair> = t.unreachable.iter().copied().collect();
        assert_eq!(open.len(), s.open_hosts * s.open_per_host);
        assert_eq!(filt.len(), s.filtered);
        assert_eq!(unr.len(), s.unreachable);
        assert!(open.is_disjoint(&filt));
        assert!(open.is_disjoint(&unr));
        assert!(filt.is_disjoint(&unr));
        let mut per_host: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
        for (h, _) in &t.open {
            *per_host.entry(*h).or_default() += 1;
        }
        assert_eq!(per_host.len(), s.open_hosts);
        assert!(per_host.values().all(|&c| c == s.open_per_host));
        let (first, count) = candidate_hosts(s.prefix);
        for (h, p) in open.iter().chain(&filt).chain(&unr) {
            let x = u32::from(*h);
            assert!(x >= first && x < first + count, "{h} outside");
            assert!(s.ports.contains(p));
        }
    }

    #[test]
    fn sparse_counts_and_disjointness() {
        let s = spec("198.19.0.0/16", 64, 3, 20, 7);
        let t = choose(&s, 42).unwrap();
        check(&s, &t);
        assert_eq!(t, choose(&s, 42).unwrap(), "same seed, same truth");
        assert_ne!(t, choose(&s, 43).unwrap());
    }

    #[test]
    fn dense_fills_the_whole_space() {
        // /29 -> 6 usable hosts x 4 ports = 24 pairs, all of them taken.
        let s = spec("198.19.1.8/29", 6, 2, 8, 4);
        let t = choose(&s, 7).unwrap();
        check(&s, &t);
        assert_eq!(t.open.len() + t.filtered.len() + t.unreachable.len(), 24);
    }

    #[test]
    fn too_many_is_an_error() {
        assert!(choose(&spec("198.19.1.8/29", 7, 1, 0, 0), 1).is_err());
        assert!(choose(&spec("198.19.1.8/29", 1, 5, 0, 0), 1).is_err());
        assert!(choose(&spec("198.19.1.8/29", 6, 2, 9, 4), 1).is_err());
    }

    #[test]
    fn prefixes_checked() {
        assert!(parse_prefix("198.19.0.0/24").is_ok());
        assert!(parse_prefix("198.19.0.0/16").is_ok());
        assert!(parse_prefix("198.18.0.0/15").is_err());
        assert!(parse_prefix("198.18.0.0/24").is_err());
        assert!(parse_prefix("10.0.0.0/24").is_err());
        assert!(parse_prefix("198.19.0.1/24").is_err());
        assert_eq!(
            candidate_hosts(parse_prefix("198.19.0.0/24").unwrap()),
            (0xC613_0001, 254)
        );
        assert_eq!(
            candidate_hosts(parse_prefix("198.19.0.4/31").unwrap()),
            (0xC613_0004, 2)
        );
        assert_eq!(
            candidate_hosts(parse_prefix("198.19.0.4/32").unwrap()),
            (0xC613_0004, 1)
        );
    }

    #[test]
    fn ipv6_prefixes_checked() {
        assert!(parse_prefix6("2001:2:0:19::/120").is_ok());
        assert!(parse_prefix6("2001:2:0:19::100/120").is_ok());
        assert!(parse_prefix6("2001:2:0:19::/96").is_ok());
        assert!(parse_prefix6("2001:2:0:19::/95").is_err(), "wider than /96");
        assert!(
            parse_prefix6("2001:2:0:18::/120").is_err(),
            "the veth subnet"
        );
        assert!(parse_prefix6("2001:db8::/120").is_err());
        assert!(parse_prefix6("2001:2:0:19::1/120").is_err(), "host bits");
        assert!(parse_prefix6("198.19.0.0/24").is_err());
        let p = |s: &str| parse_prefix6(s).unwrap();
        // The subnet-router anycast address is left out; nothing else is.
        assert_eq!(
            candidate_hosts6(p("2001:2:0:19::/120")),
            (0x2001_0002_0000_0019_0000_0000_0000_0001, 255)
        );
        assert_eq!(
            candidate_hosts6(p("2001:2:0:19::100/120")),
            (0x2001_0002_0000_0019_0000_0000_0000_0100, 256)
        );
        assert_eq!(candidate_hosts6(p("2001:2:0:19::/96")).1, (1 << 32) - 1);
    }

    #[test]
    fn ipv6_truth_inside_the_prefix_and_apart_from_ipv4() {
        let s = spec("198.19.0.0/24", 5, 2, 6, 4);
        let p6 = parse_prefix6("2001:2:0:19::/120").unwrap();
        let t6 = choose6(&s, p6, 42).unwrap();
        assert_eq!(t6.open.len(), 10);
        assert_eq!(t6.filtered.len(), 6);
        assert_eq!(t6.unreachable.len(), 4);
        let all: BTreeSet<Pair6> = t6
            .open
            .iter()
            .chain(&t6.filtered)
            .chain(&t6.unreachable)
            .copied()
            .collect();
        assert_eq!(all.len(), 20, "pairwise disjoint");
        let anycast: Ipv6Addr = "2001:2:0:19::".parse().unwrap();
        for (a, port) in &all {
            assert!(p6.contains(a), "{a} outside {p6}");
            assert_ne!(*a, anycast);
            assert!(s.ports.contains(port));
        }
        assert_eq!(t6, choose6(&s, p6, 42).unwrap(), "same seed, same truth");
        // The IPv4 truth of the same seed is what an IPv4-only lab gets.
        assert_eq!(choose(&s, 42).unwrap(), choose(&s, 42).unwrap());
        let too_many = spec("198.19.0.0/24", 256, 1, 0, 0);
        let err = choose6(&too_many, p6, 1).unwrap_err();
        assert!(err.contains("--prefix6"), "{err}");
    }

    #[test]
    fn open_ports_distinct_sorted() {
        let t: Chosen = Chosen {
            open: vec![
                ("198.19.0.1".parse().unwrap(), 80),
                ("198.19.0.2".parse().unwrap(), 22),
                ("198.19.0.3".parse().unwrap(), 80),
            ],
            filtered: vec![],
            unreachable: vec![],
        };
        assert_eq!(t.open_ports(), vec![22, 80]);
    }
}
