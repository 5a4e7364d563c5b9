//! Ground truth: which (host, port) pairs are open, filtered or unreachable, chosen from a seed,
//! and the typed description of a raised lab that `serve` prints and the tests read back.

use ipnet::Ipv4Net;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The block every lab target prefix must lie in.
pub const TARGET_BLOCK: &str = "198.19.0.0/16";

/// Most pairs the truth may name in total (keeps nft sets and memory sane).
pub const MAX_PAIRS: usize = 1 << 22;

/// A (host, port) pair.
pub type Pair = (Ipv4Addr, u16);

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

/// The chosen truth; every list sorted, the three lists pairwise disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Pairs with a listener behind them.
    pub open: Vec<Pair>,
    /// Pairs whose SYNs are dropped.
    pub filtered: Vec<Pair>,
    /// Pairs answered with ICMP destination unreachable.
    pub unreachable: Vec<Pair>,
}

impl Chosen {
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
    let nports = spec.ports.len() as u64;
    let space = hosts as u64 * nports;
    if spec.open_hosts > hosts as usize {
        return Err(format!(
            "--open-hosts {} exceeds the {hosts} usable hosts of {}: lower it or widen --prefix",
            spec.open_hosts, spec.prefix
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
            "asked for {total} open+filtered+unreachable pairs but {} x {} ports has {space} (limit {MAX_PAIRS}): lower the counts",
            spec.prefix,
            spec.ports.len()
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used: HashSet<u64> = HashSet::new();
    let mut open_idx = Vec::with_capacity(want_open);
    for h in sample_distinct(&mut rng, hosts as u64, spec.open_hosts, &used) {
        for p in sample_distinct(&mut rng, nports, spec.open_per_host, &used) {
            open_idx.push(h * nports + p);
        }
    }
    used.extend(open_idx.iter().copied());
    let filtered_idx = sample_distinct(&mut rng, space, spec.filtered, &used);
    used.extend(filtered_idx.iter().copied());
    let unreach_idx = sample_distinct(&mut rng, space, spec.unreachable, &used);
    let to_pairs = |idx: Vec<u64>| -> Vec<Pair> {
        let mut v: Vec<Pair> = idx
            .into_iter()
            .map(|i| {
                let host = Ipv4Addr::from(first + (i / nports) as u32);
                (host, spec.ports[(i % nports) as usize])
            })
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
fn sample_distinct(rng: &mut StdRng, n: u64, k: usize, exclude: &HashSet<u64>) -> Vec<u64> {
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
    fn open_ports_distinct_sorted() {
        let t = Chosen {
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
